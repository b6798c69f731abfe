package crdt_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// writersOf returns the writers named in replica id's set version.
func (c *cluster) writersOf(id crdt.ReplicaID) []crdt.ReplicaID {
	var out []crdt.ReplicaID
	c.nodes[id].set.Read(func(s *gset) {
		for w := range s.ctx.Version().All() {
			out = append(out, w)
		}
	})
	slices.Sort(out)
	return out
}

// settleRetired runs rounds until no replica's version names a finished
// writer: at most a live one and the retired one per name.
func (c *cluster) settleRetired(limit int) int {
	c.t.Helper()
	return c.settleRetiredBut(limit, nil, nil)
}

// settleRetiredBut is settleRetired, but for the finished writers kept
// says may stay named, and those late says may (given the replica whose
// version names them).
func (c *cluster) settleRetiredBut(limit int, kept map[crdt.ReplicaID]bool, late func(id, w crdt.ReplicaID) bool) int {
	c.t.Helper()
	for i := range limit {
		done := true
		for _, id := range c.ids {
			for _, w := range c.writersOf(id) {
				if !w.IsRetired() && w != c.nodes[w.Name()].r.Writer() && !kept[w] && (late == nil || !late(id, w)) {
					done = false
				}
			}
		}
		if done {
			for _, id := range c.ids {
				if st := c.nodes[id].r.Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
					c.t.Fatalf("%s: %d objects refused a retirement, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
				}
			}
			return i
		}
		c.round()
	}
	for _, id := range c.ids {
		c.t.Logf("%s: writers %v stats %+v", id, c.writersOf(id), c.nodes[id].r.Stats())
	}
	c.t.Fatalf("finished writers still named after %d rounds", limit)
	return limit
}

// Restarts leave one writer per run in every version; once every replica
// holds all of a finished run's writes, the runs' writers are retired and
// the versions name at most the live writer and the retired one per name.
func TestRestartsRetireFinishedWriters(t *testing.T) {
	c := newCluster(t, 7, 3, nil)
	var want []string
	for run := range 12 {
		for _, id := range c.ids {
			e := fmt.Sprintf("%s-%02d", id, run)
			c.add(id, e)
			want = append(want, e)
		}
		c.settle(sorted(want), 300)
		id := c.ids[run%len(c.ids)]
		c.crash(id)
		c.restart(id)
	}
	c.settle(sorted(want), 300)
	c.settleRetired(2000)
	c.settle(sorted(want), 300)
	for _, id := range c.ids {
		ws := c.writersOf(id)
		if len(ws) > 2*len(c.ids) {
			t.Fatalf("%s's version names %d writers: %v", id, len(ws), ws)
		}
		st := c.nodes[id].r.Stats()
		if st.RetiredWriters < 9 {
			t.Fatalf("%s retired %d writers, want at least 9 (12 restarts of 3 replicas, the last of each live)", id, st.RetiredWriters)
		}
		if st.LedgerConflicts != 0 {
			t.Fatalf("%s counted %d ledger conflicts", id, st.LedgerConflicts)
		}
	}
	if d := divergences(c); d != 0 {
		t.Fatalf("%d divergences", d)
	}
}

// A replica restored from a backup taken before writers were retired
// holds their dots under their old names: it takes the ledger's entries
// from its peers before any data, renames its own state, and converges,
// with nothing lost that a peer held.
func TestRestoreBackupFromBeforeRetirement(t *testing.T) {
	c := newCluster(t, 11, 3, nil)
	var want []string
	add := func(id crdt.ReplicaID, e string) {
		c.add(id, e)
		want = append(want, e)
	}
	add("r0", "a")
	c.settle(sorted(want), 300)
	backup := c.nodes["r0"].snap // r0's disk before anything was retired
	for run := range 4 {
		add("r0", fmt.Sprintf("r0-%d", run))
		add("r1", fmt.Sprintf("r1-%d", run))
		c.settle(sorted(want), 300)
		c.crash("r0")
		c.restart("r0")
	}
	c.settleRetired(2000)
	if n := c.nodes["r1"].r.Stats().RetiredWriters; n < 4 {
		t.Fatalf("r1 retired %d writers, want at least 4", n)
	}
	c.crash("r0")
	c.start("r0", backup, nil) // an older backup
	add("r0", "after-restore")
	c.settle(sorted(want), 500)
	c.settleRetired(2000)
	c.settle(sorted(want), 300)
	for _, id := range c.ids {
		if st := c.nodes[id].r.Stats(); st.LedgerConflicts != 0 {
			t.Fatalf("%s counted %d ledger conflicts", id, st.LedgerConflicts)
		}
	}
	if d := divergences(c); d != 0 {
		t.Fatalf("%d divergences", d)
	}
}

// Two processes under one name (an operator's accident): each proposes
// retirements for the name, and agreement keeps them to one list; the
// replicas converge with every write of both.
func TestTwoProcessesUnderOneNameAgreeOnRetirements(t *testing.T) {
	c := newCluster(t, 13, 3, nil)
	var want []string
	for run := range 3 {
		e := fmt.Sprintf("r0-%d", run)
		c.add("r0", e)
		want = append(want, e)
		c.settle(sorted(want), 300)
		c.crash("r0")
		c.restart("r0")
	}
	// A second process starts under r0 from the same disk, and both
	// write; the network delivers both (memnet attaches the newer).
	first := c.nodes["r0"]
	c.restart("r0")
	second := c.nodes["r0"]
	first.up = true
	for i := range 3 {
		for j, n := range []*node{first, second} {
			e := fmt.Sprintf("dup%d-%d", j, i)
			c.nodes["r0"] = n
			c.add("r0", e) // saved: its ops may leave
			want = append(want, e)
		}
		c.nodes["r0"] = first
		c.net.Attach("r0", first.r)
		c.round()
		c.nodes["r0"] = second
		c.net.Attach("r0", second.r)
		c.round()
	}
	// Both go on a while; then the duplicate stops, the real one goes on.
	for range 200 {
		c.nodes["r0"] = first
		c.net.Attach("r0", first.r)
		c.round()
		c.nodes["r0"] = second
		c.net.Attach("r0", second.r)
		c.round()
	}
	c.nodes["r0"] = second
	c.net.Attach("r0", second.r)
	c.persist("r0")
	c.settle(sorted(want), 800)
	c.settleRetired(3000)
	c.settle(sorted(want), 300)
	for _, id := range c.ids {
		if st := c.nodes[id].r.Stats(); st.LedgerConflicts != 0 {
			t.Fatalf("%s counted %d ledger conflicts", id, st.LedgerConflicts)
		}
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

var _ = vclock.Retired

// A replica that leaves the group for good (RemovePeer on every other)
// has its writers retired by the others: the group's first replica by
// name proposes, and its writes stay.
func TestRemovedReplicaRetired(t *testing.T) {
	c := newCluster(t, 17, 3, nil)
	var want []string
	for run := range 3 {
		e := fmt.Sprintf("r2-%d", run)
		c.add("r2", e)
		want = append(want, e)
		c.settle(sorted(want), 300)
		c.crash("r2")
		c.restart("r2")
	}
	c.add("r1", "r1-0")
	c.add("r2", "r2-last") // under the writer of its last run
	want = append(want, "r1-0", "r2-last")
	c.settle(sorted(want), 300)
	c.crash("r2") // for good
	c.ids = []crdt.ReplicaID{"r0", "r1"}
	for _, id := range c.ids {
		c.nodes[id].r.RemovePeer("r2")
	}
	for range 2000 {
		named := false
		for _, id := range c.ids {
			for _, w := range c.writersOf(id) {
				named = named || (w.Name() == "r2" && !w.IsRetired())
			}
		}
		if !named {
			break
		}
		c.round()
	}
	c.settle(sorted(want), 300)
	for _, id := range c.ids {
		for _, w := range c.writersOf(id) {
			if w.Name() == "r2" && !w.IsRetired() {
				t.Fatalf("%s still names %s: %v", id, w, c.writersOf(id))
			}
		}
		if st := c.nodes[id].r.Stats(); st.RetiredWriters < 4 {
			t.Fatalf("%s retired %d writers, want r2's 4", id, st.RetiredWriters)
		}
	}
}

// The ledger is part of the snapshot: a replica restarted after
// retirements holds them at once. A journal record cannot carry a
// retirement, so SaveOps asks for a snapshot after one.
func TestLedgerSurvivesRestartAndJournalAsksForSnapshot(t *testing.T) {
	c := newCluster(t, 19, 2, nil)
	c.journal = true
	for run := range 3 {
		c.add("r0", fmt.Sprintf("a%d", run))
		c.settle(sorted([]string{"a0", "a1", "a2"}[:run+1]), 300)
		c.crash("r0")
		c.restart("r0")
	}
	// Retirements happen in rounds; catch one in the act: right after
	// the round that applied it, no journal record may be saved.
	n := c.nodes["r1"]
	asked := false
	for range 2000 {
		before := n.r.Stats().RetiredWriters
		c.round()
		if n.r.Stats().RetiredWriters > before {
			e := fmt.Sprintf("b%d", before)
			if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
				t.Fatal(err)
			}
			err := n.r.SaveOps(func([]byte) error { return nil })
			if !errors.Is(err, crdt.ErrSnapshotNeeded) {
				t.Fatalf("SaveOps right after a retirement: %v, want ErrSnapshotNeeded", err)
			}
			asked = true
			c.persist("r1")
		}
		if len(c.writersOf("r1")) <= 2 && asked {
			break
		}
	}
	if !asked {
		t.Fatal("no retirement seen")
	}
	c.persist("r1")
	want := append(c.elems("r1"), "after")
	retired := n.r.Stats().RetiredWriters
	c.crash("r1")
	c.restart("r1")
	if got := c.nodes["r1"].r.Stats().RetiredWriters; got != retired {
		t.Fatalf("restored replica holds %d retirements, saved %d", got, retired)
	}
	c.add("r1", "after")
	c.settle(sorted(want), 300)
	if w := c.nodes["r0"].r.Stats().Peers[0].LedgerWaits; w > 20 {
		t.Fatalf("r0 set aside %d messages of r1 for differing ledgers", w)
	}
}

// Every data type of the module but the engine's own test types takes
// part in retirement: it is a Retirer, and the engine can read how many
// events of each writer it holds.
func TestDataTypesRetire(t *testing.T) {
	for name, obj := range map[string]crdt.Object{
		"orset":   orset.New[string]("a"),
		"lwwmap":  lwwmap.New[string, int]("a", clock.New()),
		"ormap":   ormap.New[string, *ormap.Counter]("a"),
		"mv":      register.NewMV[string]("a"),
		"lww":     register.NewLWW[string]("a", clock.New()),
		"g":       counter.NewG("a"),
		"pn":      counter.NewPN("a"),
		"bounded": counter.NewBounded("a", 0),
	} {
		if _, ok := obj.(crdt.Retirer); !ok {
			t.Errorf("%s is no Retirer", name)
		}
		_, d := obj.(crdt.DeltaObject)
		_, w := obj.(crdt.WriterCounter)
		if !d && !w {
			t.Errorf("%s tells the engine no writer counts", name)
		}
	}
}
