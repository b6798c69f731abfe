package crdt_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
)

// Accidents of the journal across runs: what a snapshot holds of records
// of received changes, of later runs and of earlier ones.

// retiredWithStaleJournal runs a two-region cluster (with counters if
// maps) in which r1 makes no write of its own and journals what r0 sends,
// while r0 restarts once per write until a finished writer of r0 is
// retired; then r1, asked for a snapshot by SaveOps, saves one and is
// killed before it empties its journal. It returns the elements r0 wrote,
// the increments of r0's counter, and r1's snapshot and journal, whose
// records are all older than the snapshot.
func retiredWithStaleJournal(t *testing.T, c *cluster) (want []string, adds int64, snap []byte, journal [][]byte) {
	t.Helper()
	n1 := c.nodes["r1"]
	for run := 0; run < 40; run++ {
		e := fmt.Sprintf("a%02d", run)
		want = append(want, e)
		if c.maps {
			if err := c.nodes["r0"].cnt.Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
				op := m.At("k").Add(1)
				return op, op.Err()
			}); err != nil {
				t.Fatal(err)
			}
			adds++
		}
		c.add("r0", e)
		for range 300 {
			c.round()
			err := n1.r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil })
			if errors.Is(err, crdt.ErrSnapshotNeeded) {
				if err := n1.r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
					t.Fatal(err)
				}
				if n1.r.Stats().Seq != 0 {
					t.Fatal("r1 wrote")
				}
				return want, adds, snap, journal
			} else if err != nil {
				t.Fatal(err)
			}
		}
		c.crash("r0")
		c.restart("r0")
	}
	t.Fatal("no retirement seen")
	return
}

// Accident: a region that mostly receives journals its peers' changes in
// records of their own; a finished writer of a peer is retired, SaveOps
// asks for a snapshot, and the host saves one and is killed before it
// empties the journal (or its save wrote the file and then failed, or it
// empties the journal lazily). Every record is replayed after the
// restart, as the docs allow. Those records hold changes alone, after the
// snapshot's last op of its own: Replay took them for newer than the
// snapshot and applied them again, naming the retired writer under its
// old name beside its new one, so that r0's counter counted its retired
// run's increments twice, at every region, with every figure at zero.
// Now a record numbers its received changes, a snapshot says how many it
// holds, and a received change that names a retired writer is not
// replayed.
func TestAccidentStaleJournalAfterRetirement(t *testing.T) {
	t.Run("numbered", func(t *testing.T) { staleJournalAfterRetirement(t, false) })
	// Records of an earlier release, whose received changes have no
	// numbers: the retired writer's name keeps them out.
	t.Run("unnumbered", func(t *testing.T) { staleJournalAfterRetirement(t, true) })
}

func staleJournalAfterRetirement(t *testing.T, unnumbered bool) {
	c := newCluster(t, 19, 2, nil)
	c.maps = true
	for _, id := range c.ids {
		c.crash(id)
		c.start(id, nil, nil)
	}
	want, adds, snap, journal := retiredWithStaleJournal(t, c)
	if unnumbered {
		for i, rec := range journal {
			journal[i] = crdt.UnnumberedRecord(rec)
		}
	}
	c.settle(sorted(want), 300)
	before := c.writersOf("r1")

	c.crash("r1")
	c.start("r1", snap, journal)
	if after := c.writersOf("r1"); !slices.Equal(after, before) {
		t.Errorf("r1 names writers %v after restoring its snapshot and replaying its older journal, %v before", after, before)
	}
	c.add("r0", "z")
	c.settle(sorted(append(want, "z")), 500)
	for range 300 {
		c.round()
	}
	for _, id := range c.ids {
		var v int64
		c.nodes[id].cnt.Read(func(m *ormap.Map[string, *ormap.Counter]) {
			if x, ok := m.Get("k"); ok {
				v = x.Value()
			}
		})
		if v != adds {
			t.Errorf("%s's counter reads %d after %d increments of 1", id, v, adds)
		}
		for _, w := range c.writersOf(id) {
			if !w.IsRetired() && w.Name() == "r0" && w != c.nodes["r0"].r.Writer() && !slices.Contains(before, w) {
				t.Errorf("%s names %s, a writer retired", id, w)
			}
		}
	}
}

// Accident: records of received changes alone, the first of two lost (a
// storage that dropped a write). Replay took the second as continuing
// the snapshot: it counts its local ops only, and these records hold
// none. Now the gap in the numbers of received changes is refused with
// ErrJournalGap, as a gap in local ops is; the record appended twice is
// skipped.
func TestAccidentLostRecordOfReceivedChanges(t *testing.T) {
	c := newCluster(t, 23, 2, nil)
	n1 := c.nodes["r1"]
	var snap []byte
	if err := n1.r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	var journal [][]byte
	for _, e := range []string{"a", "b"} {
		c.add("r0", e)
		for range 20 {
			c.round()
		}
		if err := n1.r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if len(journal) != 2 || n1.r.Stats().Seq != 0 {
		t.Fatalf("%d records, %d ops of r1's own; want 2 records of received changes alone", len(journal), n1.r.Stats().Seq)
	}
	if err := c.open("r1", snap, nil).r.Replay(journal[1]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of the second record of received changes without the first = %v, want ErrJournalGap", err)
	}
	n := c.open("r1", snap, nil)
	for _, rec := range [][]byte{journal[0], journal[0], journal[1], journal[0], journal[1]} {
		if err := n.r.Replay(rec); err != nil {
			t.Fatalf("Replay of records in order, some twice: %v", err)
		}
	}
	if got := elemsOf(n.set); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("replayed %v, want [a b]", got)
	}
}

// replayRun is a run of r0 with a set, on no network.
func replayRun(t *testing.T) (*crdt.Replica, *crdt.Handle[*gset]) {
	t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := crdt.Register(r, "s", newGSet("r0"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("r1"); err != nil {
		t.Fatal(err)
	}
	return r, h
}

func addAndSave(t *testing.T, r *crdt.Replica, h *crdt.Handle[*gset], e string, d *store) {
	t.Helper()
	if err := h.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
		t.Fatal(err)
	}
	if err := r.SaveOps(d.appendRecord); err != nil {
		t.Fatal(err)
	}
}

// Accident: the data directory's snapshot restored from an older backup,
// with the journal of a later run, which continued a newer snapshot. The
// same accident within one run is refused (TestAccidentSnapshotOlderThanJournal);
// across runs, Replay took the first record of the later run without a
// check, and x, which the newer snapshot held, was gone without a word.
// Now the first record of a later run must start where the replay stands,
// as that run started there.
func TestAccidentJournalOfLaterRunOnOlderSnapshot(t *testing.T) {
	a, ha := replayRun(t)
	backup, disk := &store{}, &store{}
	if err := a.SaveSnapshot(backup.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	addAndSave(t, a, ha, "x", backup) // backup's journal; the snapshot below holds x
	if err := a.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	b, hb := replayRun(t)
	if err := b.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	addAndSave(t, b, hb, "y", disk)

	c, hc := replayRun(t)
	if err := c.Restore(backup.snap); err != nil {
		t.Fatal(err)
	}
	if err := c.Replay(disk.journal[0]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of a later run's record on a snapshot older than the one it continued = %v, want ErrJournalGap; state %v", err, elemsOf(hc))
	}
	if got := elemsOf(hc); len(got) != 0 {
		t.Fatalf("the refused record changed the state: %v", got)
	}
	// With x's record first, the later run's record continues the replay.
	for _, rec := range append(slices.Clone(backup.journal), disk.journal...) {
		if err := c.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(hc); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("replayed %v, want [x y]", got)
	}
}

// Accident: the first record of a run lost (deleted, or refused for a
// flipped bit and skipped by the host). Within a run such a gap is
// refused; at the start of a run it was taken as if nothing were missing.
func TestAccidentFirstRecordOfRunMissing(t *testing.T) {
	a, _ := replayRun(t)
	disk := &store{}
	if err := a.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	b, hb := replayRun(t)
	if err := b.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	addAndSave(t, b, hb, "x", disk)
	addAndSave(t, b, hb, "y", disk)

	c, hc := replayRun(t)
	if err := c.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	if err := c.Replay(disk.journal[1]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of a run's second record without its first = %v, want ErrJournalGap; state %v", err, elemsOf(hc))
	}
	for _, rec := range disk.journal {
		if err := c.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	if got := elemsOf(hc); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("replayed %v, want [x y]", got)
	}
}

// Accident: run A journals x and is killed before x leaves the region.
// Run B is started from the snapshot alone (the journal's volume was not
// mounted) and saves a snapshot of its own, as hosts do at start. The
// operator mounts the journal again and restarts from B's snapshot. The
// record of x is of an earlier run than the snapshot, and Replay skipped
// it, taking the snapshot for one made after it was replayed: x, intact
// on disk, was gone without a word. Now a snapshot says how far its run
// replayed the runs before it, and a record past that is refused with
// ErrJournalGap.
func TestAccidentJournalOfEarlierRunNeverReplayed(t *testing.T) {
	a, ha := replayRun(t)
	disk := &store{}
	if err := a.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	addAndSave(t, a, ha, "x", disk)

	b, _ := replayRun(t)
	if err := b.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	var snapB []byte
	if err := b.SaveSnapshot(func(s []byte) error { snapB = s; return nil }); err != nil {
		t.Fatal(err)
	}
	c, hc := replayRun(t)
	if err := c.Restore(snapB); err != nil {
		t.Fatal(err)
	}
	if err := c.Replay(disk.journal[0]); !errors.Is(err, crdt.ErrJournalGap) {
		t.Fatalf("Replay of an earlier run's record that the snapshot's run never replayed = %v, want ErrJournalGap; state %v", err, elemsOf(hc))
	}

	// Had B replayed it, the snapshot would hold it, and it is skipped.
	b2, hb2 := replayRun(t)
	if err := b2.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	if err := b2.Replay(disk.journal[0]); err != nil {
		t.Fatal(err)
	}
	if err := b2.SaveSnapshot(func(s []byte) error { snapB = s; return nil }); err != nil {
		t.Fatal(err)
	}
	c2, hc2 := replayRun(t)
	if err := c2.Restore(snapB); err != nil {
		t.Fatal(err)
	}
	seq := c2.Stats().Seq
	if err := c2.Replay(disk.journal[0]); err != nil {
		t.Fatalf("Replay of a record the snapshot's run replayed = %v", err)
	}
	if got := elemsOf(hc2); !slices.Equal(got, []string{"x"}) || c2.Stats().Seq != seq || !slices.Equal(elemsOf(hb2), got) {
		t.Fatalf("after the record the snapshot holds: %v, %d ops logged", got, c2.Stats().Seq-seq)
	}
}

// Accident: MaxMessageBytes lowered across a restart (a bus that carries
// smaller messages). Restore takes a saved state larger than a message,
// but Replay held the journal's own ops to the new limit: a write made,
// saved and acknowledged under the old setting was refused, and with it
// every record after. Now a record is held to its own size while it is
// replayed, as a saved state is.
func TestAccidentReplayAfterMaxMessageBytesLowered(t *testing.T) {
	open := func(limit int) (*crdt.Replica, *crdt.Handle[*orset.Set[string]]) {
		r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock(), MaxMessageBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		h, err := crdt.Register(r, "o", orset.New[string]("r0"))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddPeer("r1"); err != nil {
			t.Fatal(err)
		}
		return r, h
	}
	a, ha := open(1 << 20)
	disk := &store{}
	if err := a.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("b", 100<<10)
	for _, e := range []string{big, "small"} {
		if err := ha.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		if err := a.SaveOps(disk.appendRecord); err != nil {
			t.Fatal(err)
		}
	}
	b, hb := open(32 << 10)
	if err := b.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	for i, rec := range disk.journal {
		if err := b.Replay(rec); err != nil {
			t.Fatalf("record %d of a journal written under a larger MaxMessageBytes: %v", i, err)
		}
	}
	hb.Read(func(s *orset.Set[string]) {
		if !s.Contains(big) || !s.Contains("small") {
			t.Fatalf("replayed %d elements, want both", s.Len())
		}
	})
}
