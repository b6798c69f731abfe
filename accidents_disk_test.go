package crdt_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// journaled is region r0 of a two-region cluster that saved a snapshot
// (old) holding nothing, then x and another snapshot (snap), then y and z
// in the journal records that continue it; r1 holds x, y and z.
type journaled struct {
	c         *cluster
	old, snap []byte
	journal   [][]byte // records of y and z, continuing snap
	xRecord   []byte   // the record of x, which snap holds
}

func newJournaled(t *testing.T) *journaled {
	t.Helper()
	c := newCluster(t, 31, 2, nil)
	n := c.nodes["r0"]
	j := &journaled{c: c}
	save := func(dst *[]byte) {
		if err := n.r.SaveSnapshot(func(b []byte) error { *dst = b; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	add := func(e string) []byte {
		if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		var rec []byte
		if err := n.r.SaveOps(func(b []byte) error { rec = b; return nil }); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	save(&j.old)
	j.xRecord = add("x")
	save(&j.snap)
	j.journal = [][]byte{add("y"), add("z")}
	c.settle([]string{"x", "y", "z"}, 50)
	return j
}

// fresh makes a new run of r0, not attached to the network.
func (j *journaled) fresh(t *testing.T) (*crdt.Replica, *crdt.Handle[*gset]) {
	t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(r, "s", newGSet("r0"))
	_ = r.AddPeer("r1")
	return r, h
}

// Accident: a journal record in the middle is lost (a storage that lost
// a write, an operator who deleted a file). Replay took the record after
// the gap as if nothing were missing: the ops of the lost record were gone
// without a word, and the replica went on as if whole. Now the record
// after the gap is refused with ErrJournalGap and changes nothing; the
// host runs with what replayed, and the peer brings back what it holds.
func TestAccidentJournalRecordMissing(t *testing.T) {
	j := newJournaled(t)
	r, h := j.fresh(t)
	if err := r.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(j.journal[1]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of the record after a missing one = %v, want ErrJournalGap", err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("the refused record changed the state: %v, want the snapshot's [x]", got)
	}
	// The host stops at the gap and runs: the peer holds y and z.
	j.c.crash("r0")
	j.c.start("r0", j.snap, nil)
	j.c.settle([]string{"x", "y", "z"}, 100)
}

// Accident: a host retries an append that had reached the disk after all
// (a timeout, an fsync error), so a record is in the journal twice.
// Replay applied it twice and logged its ops twice, to be shipped twice.
// Now what was replayed already is skipped.
func TestAccidentJournalRecordAppendedTwice(t *testing.T) {
	j := newJournaled(t)
	r, h := j.fresh(t)
	if err := r.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	seq := r.Stats().Seq
	for _, rec := range [][]byte{j.journal[0], j.journal[0], j.journal[1], j.journal[1], j.journal[0]} {
		if err := r.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("replayed %v, want [x y z]", got)
	}
	if got := r.Stats().Seq - seq; got != 2 {
		t.Fatalf("%d ops logged by replaying two ops with repeats, want 2", got)
	}
}

// Accident: an operator restores the data directory's snapshot from an
// older backup but keeps the current journal, which continues a newer
// snapshot. The journal's first record does not continue the backup: it
// is refused with ErrJournalGap, and nothing changes.
func TestAccidentSnapshotOlderThanJournal(t *testing.T) {
	j := newJournaled(t)
	r, h := j.fresh(t)
	if err := r.Restore(j.old); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(j.journal[0]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of a journal that continues a newer snapshot = %v, want ErrJournalGap", err)
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("the refused record changed the state: %v", got)
	}
	// With the record the backup lacks, the journal continues it.
	for _, rec := range append([][]byte{j.xRecord}, j.journal...) {
		if err := r.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("replayed %v, want [x y z]", got)
	}
}

// Accident: a snapshot newer than the journal (the host saved a snapshot
// and crashed before it emptied the journal). Every record the snapshot
// holds is skipped: nothing is applied or logged twice.
func TestAccidentSnapshotNewerThanJournal(t *testing.T) {
	j := newJournaled(t)
	r, h := j.fresh(t)
	if err := r.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	seq := r.Stats().Seq
	if err := r.Replay(j.xRecord); err != nil {
		t.Fatalf("Replay of a record the snapshot holds = %v", err)
	}
	if got := r.Stats().Seq; got != seq {
		t.Fatalf("a record the snapshot holds logged %d ops", got-seq)
	}
	for _, rec := range j.journal {
		if err := r.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("replayed %v, want [x y z]", got)
	}
}

// Accident: a snapshot cut short at any byte (a torn write, a copy that
// stopped, a full disk) is refused whole with a *codec.DecodeError; the
// replica holds none of it and can still restore a good snapshot.
func TestAccidentSnapshotTruncatedAtEveryByte(t *testing.T) {
	j := newJournaled(t)
	r, h := j.fresh(t)
	var de *codec.DecodeError
	for n := range len(j.snap) {
		if err := r.Restore(j.snap[:n]); !errors.As(err, &de) {
			t.Fatalf("Restore of %d of %d bytes = %v, want a *codec.DecodeError", n, len(j.snap), err)
		}
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("refused snapshots changed the state: %v", got)
	}
	if err := r.Restore(j.snap); err != nil {
		t.Fatalf("Restore of the whole snapshot after refused ones = %v", err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("restored %v, want [x]", got)
	}
}

// Accident: an operator copies another region's snapshot into this
// region's data directory. It is refused with ErrConfig, and the replica
// can still restore its own. (Another region's journal record:
// TestReplayRefusals.)
func TestAccidentSnapshotOfAnotherRegion(t *testing.T) {
	j := newJournaled(t)
	theirs := j.c.nodes["r1"].snap
	r, h := j.fresh(t)
	if err := r.Restore(theirs); !errors.Is(err, crdt.ErrConfig) {
		t.Fatalf("Restore of r1's snapshot into r0 = %v, want ErrConfig", err)
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("the refused snapshot changed the state: %v", got)
	}
	if err := r.Restore(j.snap); err != nil {
		t.Fatalf("Restore of r0's own snapshot after r1's was refused = %v", err)
	}
}

// Accident: the program is deployed without one of its objects (renamed,
// or dropped), and restarts from a snapshot or journal that names it.
// Restore and Replay refuse with ErrUnknownObject and change nothing.
func TestAccidentStoreNamesAnObjectNoLongerRegistered(t *testing.T) {
	j := newJournaled(t)
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(r, "renamed", newGSet("r0"))
	if err := r.Restore(j.snap); !errors.Is(err, crdt.ErrUnknownObject) {
		t.Fatalf("Restore naming an object not registered = %v, want ErrUnknownObject", err)
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("the refused snapshot changed the state: %v", got)
	}
	// A record of a later run of r0 that had an object "t" as well.
	later, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{},
		Clock: clock.New(clock.WithSource(func() int64 { return j.c.now.Load() + int64(time.Hour) }))})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = crdt.Register(later, "s", newGSet("r0"))
	ht, _ := crdt.Register(later, "t", newGSet("r0"))
	_ = later.AddPeer("r1")
	if err := later.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	if err := ht.Update(func(s *gset) (crdt.Op, error) { return s.Add("in t"), nil }); err != nil {
		t.Fatal(err)
	}
	var rec []byte
	if err := later.SaveOps(func(b []byte) error { rec = b; return nil }); err != nil {
		t.Fatal(err)
	}
	r, h = j.fresh(t)
	if err := r.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(rec); !errors.Is(err, crdt.ErrUnknownObject) {
		t.Fatalf("Replay of a record naming an object not registered = %v, want ErrUnknownObject", err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("the refused record changed the state: %v, want the snapshot's [x]", got)
	}
}

// Accident: the disk fills up. Saves fail while the region keeps
// serving: it still takes its peer's writes, and its own write, which its
// host could not make durable (and so did not acknowledge), stays at home,
// shown as pending, instead of reaching a peer that would keep it after a
// crash took it from here. A crash now loses it everywhere alike; once
// saves succeed again, it leaves.
func TestAccidentDiskFullDuringSave(t *testing.T) {
	c := newCluster(t, 37, 2, nil)
	c.add("r0", "x")
	c.settle([]string{"x"}, 50)
	n := c.nodes["r0"]
	full := errors.New("no space left on device")
	if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("unsaved"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := n.r.SaveSnapshot(func([]byte) error { return full }); !errors.Is(err, full) {
		t.Fatalf("SaveSnapshot on a full disk = %v, want its error", err)
	}
	if err := n.r.SaveOps(func([]byte) error { return full }); !errors.Is(err, full) {
		t.Fatalf("SaveOps on a full disk = %v, want its error", err)
	}
	c.add("r1", "theirs")
	for range 30 {
		c.round()
	}
	if got := c.elems("r0"); !slices.Equal(got, []string{"theirs", "unsaved", "x"}) {
		t.Fatalf("r0 holds %v while its disk is full, want its peer's write too", got)
	}
	if got := c.elems("r1"); slices.Contains(got, "unsaved") {
		t.Fatalf("a write r0 could not save reached r1: %v", got)
	}
	var pending uint64
	for _, p := range n.r.Stats().Peers {
		pending += p.PendingOps
	}
	if pending == 0 {
		t.Fatal("no figure shows the write held back by the failed saves")
	}

	// A crash while the disk is full: the unsaved write is gone from both,
	// and what r0 writes next does not take its place.
	c.crash("r0")
	c.restart("r0")
	c.add("r0", "after")
	c.settle([]string{"after", "theirs", "x"}, 100)

	// Saves that fail and then succeed: the held write leaves.
	n = c.nodes["r0"]
	if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("late"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := n.r.SaveSnapshot(func([]byte) error { return full }); !errors.Is(err, full) {
		t.Fatal(err)
	}
	c.persist("r0")
	c.settle([]string{"after", "late", "theirs", "x"}, 100)
}

// Accident: a deploy is rolled back after the newer release saved its
// snapshot and journal in a format this release does not know. Restore
// and Replay refuse them with codec.ErrVersion (not a damaged disk, not a
// panic), and nothing changes.
func TestAccidentDowngradeAfterANewerReleaseSaved(t *testing.T) {
	j := newJournaled(t)
	future := func(b []byte) []byte {
		out := slices.Clone(b)
		out[0] = codec.Version + 1
		return resealed(out)
	}
	r, h := j.fresh(t)
	if err := r.Restore(future(j.snap)); !errors.Is(err, codec.ErrVersion) {
		t.Fatalf("Restore of a snapshot of a future format = %v, want codec.ErrVersion", err)
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("the refused snapshot changed the state: %v", got)
	}
	if err := r.Restore(j.snap); err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(future(j.journal[0])); !errors.Is(err, codec.ErrVersion) {
		t.Fatalf("Replay of a record of a future format = %v, want codec.ErrVersion", err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("the refused record changed the state: %v, want the snapshot's [x]", got)
	}
}
