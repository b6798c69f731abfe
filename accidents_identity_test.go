package crdt_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// Accident: a region is removed for good (RemovePeer everywhere) and its
// writers retired; months later an operator starts a new region under the
// same ID, with an empty disk, and adds it back. Its writes are made under
// a writer of its own, so none takes the identity of a retired write: the
// old region's writes and the new region's all survive everywhere.
func TestAccidentIDReusedAfterRetirement(t *testing.T) {
	c := newCluster(t, 43, 3, nil)
	c.add("r2", "old-0")
	c.crash("r2")
	c.restart("r2")
	c.add("r2", "old-1")
	c.add("r0", "r0-0")
	want := []string{"old-0", "old-1", "r0-0"}
	c.settle(want, 300)
	c.crash("r2") // for good
	all := c.ids
	c.ids = []crdt.ReplicaID{"r0", "r1"}
	for _, id := range c.ids {
		c.nodes[id].r.RemovePeer("r2")
	}
	retired := func() bool {
		for _, id := range c.ids {
			for _, w := range c.writersOf(id) {
				if w.Name() == "r2" && !w.IsRetired() {
					return false
				}
			}
		}
		return true
	}
	for i := 0; !retired(); i++ {
		if i == 2000 {
			t.Fatal("r2's writers not retired")
		}
		c.round()
	}
	c.settle(want, 300)

	// The ID comes back: a new region, empty disk, added by everyone.
	c.ids = all
	for _, id := range []crdt.ReplicaID{"r0", "r1"} {
		if err := c.nodes[id].r.AddPeer("r2"); err != nil {
			t.Fatal(err)
		}
	}
	c.start("r2", nil, nil)
	c.add("r2", "new-0")
	c.add("r1", "r1-0")
	want = []string{"new-0", "old-0", "old-1", "r0-0", "r1-0"}
	c.settle(want, 500)
	for _, id := range c.ids {
		st := c.nodes[id].r.Stats()
		if st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Fatalf("%s: %d ledger conflicts, %d failed retirements", id, st.LedgerConflicts, st.RetireFailures)
		}
		for _, p := range st.Peers {
			if p.Divergences != 0 {
				t.Fatalf("%s counted %d divergences with %s", id, p.Divergences, p.Peer)
			}
		}
	}
	// And it restarts like any region.
	c.crash("r2")
	c.restart("r2")
	c.add("r2", "new-1")
	c.settle(append([]string{"new-0", "new-1"}, want[1:]...), 500)
}

// Accident: an operator removes a region that is still running
// (RemovePeer on every other region) and, once its writers are retired,
// sees the mistake and adds it back. The region wrote on meanwhile, under
// the writer the others retired: its writes before, during and after
// survive everywhere, with no ledger conflict.
func TestAccidentRunningRegionRemovedByMistake(t *testing.T) {
	c := newCluster(t, 61, 3, nil)
	c.add("r2", "a")
	c.add("r0", "b")
	c.settle([]string{"a", "b"}, 100)
	for _, id := range []crdt.ReplicaID{"r0", "r1"} {
		c.nodes[id].r.RemovePeer("r2")
	}
	c.add("r2", "c") // r2 runs on, still listing both
	for i := 0; c.nodes["r0"].r.Stats().RetiredWriters == 0 || c.nodes["r1"].r.Stats().RetiredWriters == 0; i++ {
		if i == 1000 {
			t.Fatal("the removed region's writer was not retired")
		}
		c.round()
	}
	for _, id := range []crdt.ReplicaID{"r0", "r1"} {
		if err := c.nodes[id].r.AddPeer("r2"); err != nil {
			t.Fatal(err)
		}
	}
	c.add("r2", "d")
	c.add("r0", "e")
	c.settle([]string{"a", "b", "c", "d", "e"}, 500)
	for _, id := range c.ids {
		if st := c.nodes[id].r.Stats(); st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Fatalf("%s: %d ledger conflicts, %d failed retirements", id, st.LedgerConflicts, st.RetireFailures)
		}
	}
}

// Accident: the host's clock is behind (stepped back an hour) when an
// operator starts two processes of region a at once from one copy of its
// data. Each run's incarnation came from the clock or, the clock being
// behind, from the snapshot's plus one: the two runs had the same one, so
// their peer took the second run's ops for the first's (same incarnation,
// same sequence numbers), acknowledged them unapplied, and the second
// run's write was lost with every figure at zero. A restore now adds a
// step drawn with the run's epoch: the runs differ, and nothing is lost.
func TestAccidentTwoCopiesFromOneBackupOnAClockBehind(t *testing.T) {
	w := newWorld(t, "a", "b")
	first := w.latest("a")
	w.add(first, "x")
	w.settle([]string{"x"})
	snap := first.saves[len(first.saves)-1]
	w.crash(first)
	w.runs["a"] = nil
	w.now.Add(-int64(time.Hour))
	one := w.start("a", snap)
	two := w.start("a", snap) // a second process, from the same data
	w.net.Attach("a", one.r)  // b's messages reach the first
	w.add(one, "one")
	w.add(two, "two")
	for range 10 {
		w.round()
	}
	w.crash(two) // the operator stops the second
	w.runs["a"] = slices.DeleteFunc(w.runs["a"], func(g *run) bool { return g == two })
	w.settle([]string{"one", "two", "x"})
}

// Accident: two processes of region r1 start at one instant (by the host's
// clock), one from its disk and one from an older backup, and both write;
// then the second is stopped. Their incarnations came from the clock alone
// (each snapshot's being older), so they had the same one: r0 took them for
// one run and acknowledged the second's op to the first, which refused
// every message of r0 for good as acknowledging an op it never sent, and
// r0's writes never reached it. Each run's incarnation now adds the step
// drawn with its epoch: the runs differ, and the cluster converges.
func TestAccidentTwoProcessesStartedAtOneInstant(t *testing.T) {
	c := newCluster(t, 29, 2, nil)
	c.add("r1", "a")
	c.settle([]string{"a"}, 50)
	c.persist("r1") // a snapshot with every op acknowledged
	backup := c.nodes["r1"].saved[0]
	c.crash("r1")
	c.now.Add(int64(time.Minute))
	c.restart("r1")
	second := c.open("r1", backup.snap, backup.journal) // the same instant
	c.persistNode(second)
	if err := second.set.Update(func(s *gset) (crdt.Op, error) { return s.Add("second"), nil }); err != nil {
		t.Fatal(err)
	}
	c.persistNode(second)
	c.add("r0", "b")
	for range 10 {
		_ = second.r.Tick(context.Background())
		c.round()
	}
	second.up = false // the operator stops it
	c.add("r0", "c")
	c.settle([]string{"a", "b", "c", "second"}, 300)
	if n := refusals(c.nodes["r1"].r)[crdt.ReasonAck]; n != 0 {
		t.Fatalf("r1 refused %d messages of r0 as acknowledging what it never sent", n)
	}
}

// Accident: a second process of r0 runs beside the first for a while,
// from a copy of its disk, and is stopped; peers' answers reach the first
// alone. The second, its run being later, proposed the retirement of r0's
// finished writer under a higher ballot, and r1 promised it; the first's
// proposals, under its lower ballot, were ignored for good, and the
// finished writer was never retired while r0 ran. r1 now answers a proposal
// it refuses with the ballot it promised, and the first proposes again
// above it.
func TestAccidentSecondProcessStoppedRetirementGoesOn(t *testing.T) {
	c := newCluster(t, 31, 2, nil)
	c.add("r0", "a")
	c.settle([]string{"a"}, 50)
	c.crash("r0")
	c.restart("r0") // r0's first run is finished
	c.now.Add(int64(time.Second))
	first := c.nodes["r0"]
	second := c.open("r0", first.snap, first.journal)
	c.persistNode(second)
	for range 200 {
		_ = second.r.Tick(context.Background())
		c.round()
	}
	second.up = false // the operator stops it
	c.settle([]string{"a"}, 50)
	c.settleRetired(3000)
}

// Accident: an operator removes a running region (RemovePeer) on one
// region only and adds it back at once, neither region restarting. The
// removed region still holds what it was sent before, and says so: the ops
// and the catch-ups it acknowledges were sent to it before the removal,
// and must not be refused as acknowledgements of something never sent;
// the catch-ups sent to it since must not be taken for those it merged
// before. And it counts its own ops up to its last one as applied by the
// region that re-added it, which no longer knows it applied them: without
// a catch-up from it, its next op waits for ever there, unacknowledged.
func TestAccidentPeerRemovedAndAddedBack(t *testing.T) {
	c := newCluster(t, 83, 2, func(cfg *crdt.Config) { cfg.AntiEntropyTicks = -1 })
	c.add("r0", "a")
	c.add("r1", "b")
	c.settle([]string{"a", "b"}, 100)
	// r1 restarts from an empty disk: r0 catches it up, and numbers the
	// catch-ups it sends it.
	c.crash("r1")
	c.nodes["r1"].snap = nil
	c.restart("r1")
	c.settle([]string{"a", "b"}, 100)
	c.add("r1", "x") // r0 has applied this run's op 1
	c.settle([]string{"a", "b", "x"}, 100)
	for range 100 {
		c.round()
	}
	c.nodes["r0"].r.RemovePeer("r1")
	if err := c.nodes["r0"].r.AddPeer("r1"); err != nil {
		t.Fatal(err)
	}
	c.add("r1", "c") // its op 2
	c.settle([]string{"a", "b", "c", "x"}, 500)
	c.add("r0", "d")
	c.settle([]string{"a", "b", "c", "d", "x"}, 500)
	for _, id := range c.ids {
		if n := refusals(c.nodes[id].r)[crdt.ReasonAck]; n != 0 {
			t.Fatalf("%s refused %d acknowledgements", id, n)
		}
	}
}

// Accident: an operator removes a region (RemovePeer) on the first region
// by name only, sees the mistake and adds it back. Meanwhile the first
// region, no longer listing it, proposed the retirement of its writers,
// promising itself its ballot for the region's list; the other regions,
// still listing it, did not answer. Back in the group, the region's own run
// proposes the retirement of its finished writer, under a lower ballot if
// the first region's run drew a higher one: the first region refuses,
// saying which ballot it promised, and the region must propose again above
// it, though that ballot is not one of its own runs'. Runs draw their
// ballots at random: the test goes through several draws.
func TestAccidentRemovedRegionRetiresAfterAddedBack(t *testing.T) {
	for seed := range uint64(8) {
		entropy := rand.NewChaCha8([32]byte{byte(seed)})
		c := newCluster(t, seed, 3, func(cfg *crdt.Config) { cfg.Entropy = entropy })
		c.add("r2", "a")
		c.settle([]string{"a"}, 100)
		c.crash("r2")
		c.restart("r2") // a finished writer to retire
		c.net.Partition("r2", "r0")
		c.net.Partition("r2", "r1")
		for range 5 {
			c.round()
		}
		c.crash("r0")
		c.restart("r0")
		c.nodes["r0"].r.RemovePeer("r2")
		for range 100 {
			c.round()
		}
		if err := c.nodes["r0"].r.AddPeer("r2"); err != nil {
			t.Fatal(err)
		}
		c.net.HealAll()
		c.add("r1", "b")
		c.settle([]string{"a", "b"}, 300)
		c.settleRetired(3000)
	}
}

// Accident: a region is removed by mistake on every other region, loses
// its disk while removed, and is added back. A write of its lost run that
// one region took before the removal, and another never did, must reach
// the other: adding the region back loses what the regions knew of its
// earlier run, so its new run comes as a first contact, not a restart,
// and the region that holds the write must still serve the others a
// catch-up, as for a restart (here with no periodic anti-entropy).
func TestAccidentRemovedRegionBackWithAnEmptyDisk(t *testing.T) {
	c := newCluster(t, 101, 3, func(cfg *crdt.Config) { cfg.AntiEntropyTicks = -1 })
	for range 20 { // first contacts over
		c.round()
	}
	c.net.Partition("r2", "r1")
	c.add("r2", "a")
	c.settle0("r0", "a", 50)
	for _, id := range []crdt.ReplicaID{"r0", "r1"} {
		c.nodes[id].r.RemovePeer("r2")
	}
	c.crash("r2")
	c.nodes["r2"].snap = nil
	for _, id := range []crdt.ReplicaID{"r0", "r1"} {
		if err := c.nodes[id].r.AddPeer("r2"); err != nil {
			t.Fatal(err)
		}
	}
	c.restart("r2")
	c.net.HealAll()
	c.settleWithin(nil, []string{"a"}, 300)
	if !slices.Contains(c.elems("r1"), "a") {
		t.Fatalf("the regions agree on %v without r2's lost write that r0 held", c.elems("r1"))
	}
}

// settle0 runs rounds until replica id holds e; it fails the test after
// limit rounds.
func (c *cluster) settle0(id crdt.ReplicaID, e string, limit int) {
	c.t.Helper()
	for range limit {
		if slices.Contains(c.elems(id), e) {
			return
		}
		c.round()
	}
	c.t.Fatalf("%s lacks %q after %d rounds", id, e, limit)
}

// Accident: as in TestAccidentPeerRemovedAndAddedBack, and the digest that
// the region that re-added its peer sends at first contact, to get the
// peer's ops it no longer knows it applied, is lost: the peer's ops past
// the gap are sent again and again, never acknowledged, until the digest
// goes again.
func TestAccidentPeerAddedBackDigestLost(t *testing.T) {
	c := newCluster(t, 83, 2, func(cfg *crdt.Config) { cfg.AntiEntropyTicks = -1 })
	c.add("r0", "a")
	c.add("r1", "x")
	c.settle([]string{"a", "x"}, 100)
	for range 100 {
		c.round()
	}
	c.nodes["r0"].r.RemovePeer("r1")
	if err := c.nodes["r0"].r.AddPeer("r1"); err != nil {
		t.Fatal(err)
	}
	c.add("r1", "c")
	c.round() // r1's op reaches r0: a first contact
	c.net.Partition("r0", "r1")
	c.round() // r0's digest is lost
	c.net.HealAll()
	c.settle([]string{"a", "c", "x"}, 500)
}
