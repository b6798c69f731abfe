package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
)

// store is what a host keeps on disk: the last snapshot and the journal
// records appended since.
type store struct {
	snap    []byte
	journal [][]byte
}

func (s *store) saveSnapshot(b []byte) error { s.snap, s.journal = b, nil; return nil }
func (s *store) appendRecord(b []byte) error { s.journal = append(s.journal, b); return nil }

// The journal persists each update at the cost of the update: a replica
// restored from its last snapshot and its journal has every update it
// saved, ships the ones its peers lack, and goes on without reusing a dot.
func TestJournalRestoresEverySavedUpdate(t *testing.T) {
	c := newCluster(t, 9, 2, nil)
	c.settle([]string{}, 20)
	n := c.nodes["r0"]
	disk := &store{}
	if err := n.r.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		e := fmt.Sprintf("j%d", i)
		if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		if err := n.r.SaveOps(disk.appendRecord); err != nil {
			t.Fatal(err)
		}
		want = append(want, e)
	}
	if len(disk.journal) != 5 {
		t.Fatalf("%d journal records, want 5", len(disk.journal))
	}
	// None of them reaches r1 before the crash.
	c.net.Partition("r0", "r1")
	c.round()
	c.crash("r0")
	c.net.HealAll()

	c.start("r0", disk.snap, disk.journal)
	if got := c.elems("r0"); !slices.Equal(got, want) {
		t.Fatalf("restored %v, want %v", got, want)
	}
	// A new update after the restart takes a new dot: r1 gets it too.
	c.add("r0", "after")
	want = append([]string{"after"}, want...) // sorted
	c.settle(want, 50)
}

func TestSaveOps(t *testing.T) {
	c := newCluster(t, 2, 2, func(cfg *crdt.Config) { cfg.MaxLogOps = 4 })
	c.settle([]string{}, 20)
	r, h := c.nodes["r0"].r, c.nodes["r0"].set
	calls := 0
	count := func([]byte) error { calls++; return nil }

	// Nothing new since the snapshot taken at start: save is not called.
	if err := r.SaveOps(count); err != nil || calls != 0 {
		t.Fatalf("SaveOps with nothing new = %v, %d calls; want nil, 0", err, calls)
	}
	// A failed save leaves the ops unsaved: they do not leave.
	_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add("a"), nil })
	if err := r.SaveOps(func([]byte) error { return errors.New("disk full") }); err == nil {
		t.Fatal("SaveOps hid the save's error")
	}
	for range 5 {
		c.round()
	}
	if got := c.elems("r1"); len(got) != 0 {
		t.Fatalf("an unsaved op left: r1 holds %v", got)
	}
	if err := r.SaveOps(count); err != nil || calls != 1 {
		t.Fatalf("SaveOps = %v after %d calls; want nil after 1", err, calls)
	}
	c.settle([]string{"a"}, 20)

	// More unsaved ops than the log's bound: only a snapshot will do.
	for i := range 6 {
		_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add(fmt.Sprint(i)), nil })
	}
	if err := r.SaveOps(count); !errors.Is(err, crdt.ErrSnapshotNeeded) {
		t.Fatalf("SaveOps = %v, want ErrSnapshotNeeded", err)
	}
	c.persist("r0") // a snapshot
	if err := r.SaveOps(count); err != nil || calls != 1 {
		t.Fatalf("SaveOps after the snapshot = %v, %d calls; want nil and no new call", err, calls)
	}

	// A replica that never saved a snapshot has no journal to continue.
	fresh, _ := receiver(t, nil)
	if err := fresh.SaveOps(count); !errors.Is(err, crdt.ErrNoSnapshot) {
		t.Fatalf("SaveOps without a snapshot = %v, want ErrNoSnapshot", err)
	}
}

func TestReplayRefusals(t *testing.T) {
	c := newCluster(t, 4, 2, nil)
	n := c.nodes["r0"]
	disk := &store{}
	_ = n.r.SaveSnapshot(disk.saveSnapshot)
	_ = n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("x"), nil })
	if err := n.r.SaveOps(disk.appendRecord); err != nil {
		t.Fatal(err)
	}
	rec := disk.journal[0]

	// Only right after Restore.
	if err := n.r.Replay(rec); !errors.Is(err, crdt.ErrNotReplayable) {
		t.Fatalf("Replay into a running replica = %v, want ErrNotReplayable", err)
	}
	// Not another replica's journal.
	c.crash("r1")
	c.start("r1", c.nodes["r1"].snap, nil)
	other := c.nodes["r1"].r
	if err := other.Replay(rec); !errors.Is(err, crdt.ErrConfig) {
		t.Fatalf("Replay of r0's record into r1 = %v, want ErrConfig", err)
	}

	// Bad bytes are refused whole.
	c.crash("r0")
	restored, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(restored, "s", newGSet("r0"))
	_ = restored.AddPeer("r1")
	if err := restored.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	for cut := range len(rec) {
		var de *codec.DecodeError
		if err := restored.Replay(rec[:cut]); !errors.As(err, &de) {
			t.Fatalf("Replay of %d of %d bytes = %v, want a *codec.DecodeError", cut, len(rec), err)
		}
	}
	if got := elemsOf(h); len(got) != 0 {
		t.Fatalf("refused records changed the state: %v", got)
	}
	// The whole record replays; a second time, or a record the snapshot
	// holds, changes nothing.
	for range 2 {
		if err := restored.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("replayed %v, want [x]", got)
	}
	if seq := restored.Stats().Seq; seq != 1 {
		t.Fatalf("seq %d after replaying one op twice, want 1: the second replay logs nothing", seq)
	}
	_ = restored.Tick(context.Background())
	if err := restored.Replay(rec); !errors.Is(err, crdt.ErrNotReplayable) {
		t.Fatalf("Replay after a tick = %v, want ErrNotReplayable", err)
	}
}

// FuzzRestoreAndReplay feeds arbitrary bytes to Restore, and to Replay
// after a good Restore: neither may panic, and what they refuse leaves the
// replica working.
func FuzzRestoreAndReplay(f *testing.F) {
	c := newCluster(f, 1, 2, nil)
	n := c.nodes["r0"]
	disk := &store{}
	_ = n.r.SaveSnapshot(disk.saveSnapshot)
	for _, e := range []string{"x", "y"} {
		_ = n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
		_ = n.r.SaveOps(disk.appendRecord)
	}
	// A record holding a change received from r1 as well.
	c.add("r1", "theirs")
	for range 10 {
		c.round()
	}
	_ = n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("z0"), nil })
	_ = n.r.SaveOps(disk.appendRecord)
	f.Add(disk.snap, disk.journal[0])
	f.Add(disk.journal[1], disk.snap)
	f.Add(disk.snap, disk.journal[len(disk.journal)-1])
	f.Add([]byte{}, []byte{1, 0x62})
	// A snapshot that keeps the versions of a peer removed (see
	// RemovePeer).
	n.r.RemovePeer("r1")
	removed := &store{}
	_ = n.r.SaveSnapshot(removed.saveSnapshot)
	f.Add(removed.snap, disk.journal[0])
	fresh := func() (*crdt.Replica, *crdt.Handle[*gset]) {
		r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
		if err != nil {
			f.Fatal(err)
		}
		h, _ := crdt.Register(r, "s", newGSet("r0"))
		_ = r.AddPeer("r1")
		return r, h
	}
	f.Fuzz(func(t *testing.T, snap, rec []byte) {
		// Most inputs go behind the checksum, so that mutations reach the
		// decoders; the rest test the checksum itself.
		if len(snap) > 0 && snap[len(snap)-1]&1 == 0 {
			snap = resealed(snap)
		}
		if len(rec) > 0 && rec[len(rec)-1]&1 == 0 {
			rec = resealed(rec)
		}
		checkCost(t, len(snap)+len(rec), func() {
			r, _ := fresh()
			if err := r.Restore(snap); err == nil {
				_ = r.Replay(rec)
			}
		})
		var (
			r         *crdt.Replica
			h         *crdt.Handle[*gset]
			replayErr error
		)
		checkCost(t, len(rec), func() {
			r, h = fresh()
			if err := r.Restore(disk.snap); err != nil {
				t.Fatal(err)
			}
			replayErr = r.Replay(rec)
		})
		// Whatever was accepted leaves a replica that still works; a
		// record that failed after some of its changes applied leaves
		// one that refuses to go on (see Replay), and says so.
		err := h.Update(func(s *gset) (crdt.Op, error) { return s.Add("z"), nil })
		if errors.Is(err, crdt.ErrRestoreFailed) {
			if replayErr == nil {
				t.Fatalf("a replay that succeeded left a replica refusing to go on: %v", err)
			}
			if _, err := r.Snapshot(); !errors.Is(err, crdt.ErrRestoreFailed) {
				t.Fatalf("a replica refusing updates after a failed replay takes a snapshot: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Snapshot(); err != nil {
			t.Fatal(err)
		}
		_ = r.Tick(context.Background())
	})
}

// One flipped bit anywhere in a snapshot or a journal record, as a failing
// disk or a torn write leaves it, is refused before anything is decoded:
// Restore and Replay return a *codec.DecodeError and the replica holds none
// of it.
func TestSnapshotAndJournalRefuseEveryBitFlip(t *testing.T) {
	c := newCluster(t, 4, 2, nil)
	n := c.nodes["r0"]
	disk := &store{}
	_ = n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("in-snapshot"), nil })
	if err := n.r.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	_ = n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("in-journal"), nil })
	if err := n.r.SaveOps(disk.appendRecord); err != nil {
		t.Fatal(err)
	}
	fresh := func() (*crdt.Replica, *crdt.Handle[*gset]) {
		r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := crdt.Register(r, "s", newGSet("r0"))
		_ = r.AddPeer("r1")
		return r, h
	}
	var de *codec.DecodeError
	for i := range len(disk.snap) * 8 {
		bad := slices.Clone(disk.snap)
		bad[i/8] ^= 1 << (i % 8)
		r, h := fresh()
		if err := r.Restore(bad); !errors.As(err, &de) {
			t.Fatalf("snapshot with bit %d flipped: Restore = %v, want a *codec.DecodeError", i, err)
		}
		if got := elemsOf(h); len(got) != 0 {
			t.Fatalf("snapshot with bit %d flipped: state %v, want none", i, got)
		}
	}
	rec := disk.journal[0]
	for i := range len(rec) * 8 {
		bad := slices.Clone(rec)
		bad[i/8] ^= 1 << (i % 8)
		r, h := fresh()
		if err := r.Restore(disk.snap); err != nil {
			t.Fatal(err)
		}
		if err := r.Replay(bad); !errors.As(err, &de) {
			t.Fatalf("record with bit %d flipped: Replay = %v, want a *codec.DecodeError", i, err)
		}
		if got := elemsOf(h); !slices.Equal(got, []string{"in-snapshot"}) {
			t.Fatalf("record with bit %d flipped: state %v, want the snapshot's alone", i, got)
		}
	}
}
