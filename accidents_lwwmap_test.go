package crdt_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
	"pgregory.net/rapid"
)

// newMapCluster is newCluster whose replicas hold the maps (an LWW-map
// named "m" among them), started afresh with them.
func newMapCluster(t *testing.T, seed uint64, n int, cfg func(*crdt.Config)) *cluster {
	return newMapClusterOf(t, seed, n, cfg)
}

// newMapClusterOf is newMapCluster failing t, a test or a property's run.
func newMapClusterOf(t failer, seed uint64, n int, cfg func(*crdt.Config)) *cluster {
	c := newCluster(t, seed, n, cfg)
	c.maps = true
	for _, id := range c.ids {
		c.crash(id)
		c.nodes[id].saved = nil
		c.start(id, nil, nil)
	}
	return c
}

// kvWrite writes the LWW-map of region id (a put of v, or a delete if v is
// empty) and saves.
func (c *cluster) kvWrite(id crdt.ReplicaID, k, v string) {
	c.t.Helper()
	err := c.nodes[id].kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
		if v == "" {
			return m.Delete(k), nil
		}
		return m.Put(k, v), nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	c.persist(id)
}

// kvOf returns what region id's LWW-map holds.
func (c *cluster) kvOf(id crdt.ReplicaID) map[string]string {
	var out map[string]string
	c.nodes[id].kv.Read(func(m *lwwmap.Map[string, string]) { out = maps.Collect(m.All()) })
	return out
}

// Accident: a region is removed by mistake (RemovePeer) on one region
// while it holds a put that no other region has seen; a later delete of
// the key is made, and the region is added back. The region that removed
// it must not collect the delete marker on the versions of its other peers
// alone: the removed region's older put, arriving when it is added back,
// would find there neither marker nor dot and bring the key back at that
// region only, though the delete is later (a divergence that only
// anti-entropy, off here, would show).
func TestAccidentRemovedRegionBringsBackDeletedKey(t *testing.T) {
	c := removedRegionBringsBackDeletedKey(t, 83, false)
	// Added back, it reports its versions again: the marker goes.
	c.saveAndRun()
	for _, id := range c.ids {
		if n := c.kvGarbage(id); n != 0 {
			t.Errorf("%s holds %d delete markers once every region has seen the delete", id, n)
		}
	}
}

// saveAndRun saves every region's snapshot, so that each may collect what
// its own saved version holds, and runs 100 rounds.
func (c *cluster) saveAndRun() {
	for _, id := range c.ids {
		c.persist(id)
	}
	for range 100 {
		c.round()
	}
}

// kvGarbage returns how many delete markers region id's LWW-map holds.
func (c *cluster) kvGarbage(id crdt.ReplicaID) uint64 {
	var n uint64
	c.nodes[id].kv.Read(func(m *lwwmap.Map[string, string]) { n, _ = m.Garbage() })
	return n
}

// A region removed for good (RemovePeer on every other) holds back the
// collection of delete markers only until its writers are retired: then
// it has left the group, and markers go once the others have seen them.
func TestRemovedRegionHoldsMarkersUntilRetired(t *testing.T) {
	c := newMapCluster(t, 89, 3, nil)
	c.kvWrite("r2", "k", "v")
	for range 50 {
		c.round()
	}
	removeForGood(c, "r2")
	c.kvWrite("r0", "k", "")
	for i := 0; c.nodes["r0"].r.Stats().RetiredWriters == 0 || c.nodes["r1"].r.Stats().RetiredWriters == 0; i++ {
		if i == 2000 {
			t.Fatal("the removed region's writer was not retired")
		}
		c.round()
	}
	c.saveAndRun()
	for _, id := range c.ids {
		if n := c.kvGarbage(id); n != 0 {
			t.Errorf("%s holds %d delete markers after the removed region's writers were retired", id, n)
		}
	}
}

// A peer added by mistake, never heard from, and removed again holds
// nothing back: markers go once the real peers have seen them.
func TestPeerNeverHeardFromHoldsNoMarkers(t *testing.T) {
	c := newMapCluster(t, 101, 2, nil)
	for _, id := range c.ids {
		if err := c.nodes[id].r.AddPeer("typo"); err != nil {
			t.Fatal(err)
		}
	}
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	for range 20 {
		c.round()
	}
	for _, id := range c.ids {
		c.nodes[id].r.RemovePeer("typo")
	}
	c.saveAndRun()
	for _, id := range c.ids {
		if n := c.kvGarbage(id); n != 0 {
			t.Errorf("%s holds %d delete markers after the peer never heard from was removed", id, n)
		}
	}
}

// Accident: as in TestAccidentRemovedRegionBringsBackDeletedKey, and the
// region that removed the other restarts from its snapshot, its operator's
// list of peers without the removed one, before adding it back. The
// versions the removed region last reported come back with the snapshot:
// the restarted region still does not collect the marker without it.
func TestAccidentRemovedRegionBringsBackDeletedKeyAfterRestart(t *testing.T) {
	removedRegionBringsBackDeletedKey(t, 107, true)
}

// removedRegionBringsBackDeletedKey plays the accident of
// TestAccidentRemovedRegionBringsBackDeletedKey on three regions made with
// seed, r0 restarting from its snapshot before adding r2 back if restart
// is set, and checks that no region holds the deleted key and that no
// divergence is counted. It returns the cluster.
func removedRegionBringsBackDeletedKey(t *testing.T, seed uint64, restart bool) *cluster {
	t.Helper()
	c := newMapCluster(t, seed, 3, nil)
	c.removed = map[crdt.ReplicaID]map[crdt.ReplicaID]bool{}
	for range 20 {
		c.round()
	}
	c.net.Partition("r0", "r2")
	c.net.Partition("r1", "r2")
	c.kvWrite("r2", "k", "old") // no other region sees it before the delete
	c.now.Add(int64(time.Second))
	c.kvWrite("r0", "k", "") // a later delete
	c.nodes["r0"].r.RemovePeer("r2")
	c.removed["r0"] = map[crdt.ReplicaID]bool{"r2": true}
	for range 20 {
		c.round()
	}
	if restart {
		c.persist("r0")
		c.crash("r0")
		c.restart("r0") // its peers: r1 alone
	}
	c.persist("r1") // its durable version counts the delete
	for range 50 {
		c.round() // r0 and r1 exchange digests
	}
	delete(c.removed, "r0")
	addBackAndExpectDeleted(t, c, "r0", "r2")
	return c
}

// addBackAndExpectDeleted has region at add peer back, heals c's network,
// runs it, and checks that no region holds a key and none counted a
// divergence.
func addBackAndExpectDeleted(t *testing.T, c *cluster, at, peer crdt.ReplicaID) {
	t.Helper()
	if err := c.nodes[at].r.AddPeer(peer); err != nil {
		t.Fatal(err)
	}
	c.net.HealAll()
	for range 300 {
		c.round()
	}
	for _, id := range c.ids {
		if kv := c.kvOf(id); len(kv) != 0 {
			t.Errorf("%s holds %v after a later delete of k", id, kv)
		}
	}
	if d := divergences(c); d != 0 {
		t.Errorf("%d divergences counted", d)
	}
}

// A region removed, added back and removed again before it reports
// anything still holds collection back with the versions it reported
// before. r0, cut off from r1, is removed by r2, added back and removed
// again at once; its put, which no other region saw, must lose everywhere
// to r1's later delete once r0 is back. Before, the second removal found
// a peer not heard from since it was added, and r2 no longer held r0
// back (RemovedHolding 0): in TestConvergenceUnderAccidents (seed 9402)
// such a region collected a delete's marker and took the older put back
// alone, for good, since every region's context held both writes.
func TestRemovedAddedAndRemovedAgainHoldsMarkers(t *testing.T) {
	c := newMapCluster(t, 151, 3, nil)
	for range 20 {
		c.round() // every region hears from every other
	}
	c.net.Partition("r0", "r1")
	r2 := c.nodes["r2"].r
	r2.RemovePeer("r0")
	if err := r2.AddPeer("r0"); err != nil {
		t.Fatal(err)
	}
	r2.RemovePeer("r0") // before r0 reports again
	if n := r2.Stats().RemovedHolding; n != 1 {
		t.Errorf("r2: Stats.RemovedHolding is %d after removing r0 again, want 1", n)
	}
	c.kvWrite("r0", "k", "old") // reaches neither r1 nor r2
	c.now.Add(int64(time.Second))
	c.kvWrite("r1", "k", "") // a later delete
	for range 20 {
		c.round()
	}
	c.persist("r1") // their durable versions count the delete
	c.persist("r2")
	for range 200 {
		c.round() // r2 collects what it may
	}
	addBackAndExpectDeleted(t, c, "r2", "r0")
}

// A region that never wrote anything, heard from and then removed for
// good (RemovePeer on every other), has no writer to retire: the group
// agrees that it has left all the same, and it holds back the collection
// of delete markers no longer. Stats shows it holding collection back
// until then.
func TestRemovedRegionThatNeverWroteHoldsNoMarkers(t *testing.T) {
	c := newMapCluster(t, 113, 3, nil)
	for range 50 {
		c.round() // r2 is heard from, and writes nothing
	}
	removeForGood(c, "r2")
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	if n := c.nodes["r0"].r.Stats().RemovedHolding; n != 1 {
		t.Errorf("Stats.RemovedHolding is %d just after the removal, want 1", n)
	}
	settleRemovedHolding(t, c, 0)
}

// As TestRemovedRegionThatNeverWroteHoldsNoMarkers, for a region whose
// only writer was retired (its own finished run's) before it was removed:
// its last run never wrote, so no retirement is left to release it. The
// ledger that records its leaving comes back with a snapshot, and the
// restarted region still exchanges data with the other.
func TestRemovedRegionWithWritersRetiredHoldsNoMarkers(t *testing.T) {
	c := newMapCluster(t, 127, 3, nil)
	c.kvWrite("r2", "k2", "x")
	for range 50 {
		c.round()
	}
	c.crash("r2")
	c.restart("r2") // a new run, which writes nothing
	for i := 0; ; i++ {
		done := true
		for _, id := range c.ids {
			done = done && c.nodes[id].r.Stats().RetiredWriters == 1
		}
		if done {
			break
		}
		if i == 2000 {
			t.Fatal("r2's finished run's writer was not retired")
		}
		c.round()
	}
	for range 50 {
		c.round()
	}
	removeForGood(c, "r2")
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	for range 2000 {
		c.round()
	}
	c.saveAndRun()
	for _, id := range c.ids {
		if n := c.kvGarbage(id); n != 0 {
			t.Errorf("%s holds %d delete markers long after r2 was removed", id, n)
		}
		st := c.nodes[id].r.Stats()
		if st.RemovedHolding != 0 || st.RetiredWriters != 1 {
			t.Errorf("%s: RemovedHolding %d, RetiredWriters %d, want 0 and 1", id, st.RemovedHolding, st.RetiredWriters)
		}
	}
	c.persist("r0")
	c.crash("r0")
	c.restart("r0")
	c.kvWrite("r1", "k3", "y")
	for range 100 {
		c.round()
	}
	if kv := c.kvOf("r0"); kv["k3"] != "y" || kv["k2"] != "x" || len(kv) != 2 {
		t.Errorf("r0 holds %v after its restart, want k2 and k3", kv)
	}
	if st := c.nodes["r0"].r.Stats(); st.RemovedHolding != 0 {
		t.Errorf("r0 restarted: RemovedHolding %d, want 0", st.RemovedHolding)
	}
}

// A region that never wrote anything, heard from by only some of the
// others (r3 talks to r1 alone: r0, the group's first by name, and r2 are
// cut off from it the whole time), then removed for good: r1 holds it back
// until the group agrees that it has left, which it must, though the
// group's first replica never heard from it.
func TestRemovedRegionHeardByOneOnlyHoldsNoMarkers(t *testing.T) {
	c := removedRegionHeardByFew(t, newMapCluster(t, 131, 4, nil), "r0", "r2")
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	settleRemovedHolding(t, c, 0)
}

// As TestRemovedRegionHeardByOneOnlyHoldsNoMarkers, r3 heard from by r0 and
// r1, and r0, the group's first by name, back from an empty disk once r3
// was removed: it no longer knows of r3, which r1 still holds back.
func TestRemovedRegionHeardByFirstReplicaWipedHoldsNoMarkers(t *testing.T) {
	c := removedRegionHeardByFew(t, newMapCluster(t, 137, 4, nil), "r2")
	c.crash("r0")
	c.nodes["r0"].snap, c.nodes["r0"].journal = nil, nil
	c.restart("r0") // an empty disk
	if n := c.nodes["r0"].r.Stats().RemovedHolding; n != 0 {
		t.Errorf("r0 back from an empty disk: Stats.RemovedHolding is %d, want 0", n)
	}
	c.kvWrite("r1", "k", "v")
	c.kvWrite("r1", "k", "")
	settleRemovedHolding(t, c, 0)
}

// As TestRemovedRegionHeardByOneOnlyHoldsNoMarkers, for a region that
// wrote: its write reaches r0 through r1, and r0 has its writer retired,
// which releases it.
func TestRemovedRegionThatWroteHeardByOneOnlyHoldsNoMarkers(t *testing.T) {
	c := newMapCluster(t, 139, 4, nil)
	c.kvWrite("r3", "k3", "x")
	c = removedRegionHeardByFew(t, c, "r0", "r2")
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	settleRemovedHolding(t, c, 1)
}

// removedRegionHeardByFew cuts r3 off from the regions cut, runs c's four
// regions, and removes r3 for good from the other three, which it returns
// as c's regions. The regions that heard from r3 hold it back.
func removedRegionHeardByFew(t *testing.T, c *cluster, cut ...crdt.ReplicaID) *cluster {
	t.Helper()
	for _, id := range cut {
		c.net.Partition(id, "r3")
	}
	for range 50 {
		c.round() // the others hear from r3
	}
	removeForGood(c, "r3")
	for _, id := range c.ids {
		want := 1
		if slices.Contains(cut, id) {
			want = 0
		}
		if n := c.nodes[id].r.Stats().RemovedHolding; n != want {
			t.Errorf("%s: Stats.RemovedHolding is %d just after the removal, want %d", id, n, want)
		}
	}
	return c
}

// settleRemovedHolding runs c's regions long, then checks that none holds
// a delete marker or a removed region back, that each retired the writers
// it should (retired in all), and that their data still flows: a put of
// k2 by the last of c's regions reaches every one.
func settleRemovedHolding(t *testing.T, c *cluster, retired int) {
	t.Helper()
	for range 2000 {
		c.round()
	}
	c.saveAndRun()
	for _, id := range c.ids {
		if n := c.kvGarbage(id); n != 0 {
			t.Errorf("%s holds %d delete markers long after a region was removed", id, n)
		}
		st := c.nodes[id].r.Stats()
		if st.RemovedHolding != 0 || st.RetiredWriters != retired {
			t.Errorf("%s: Stats.RemovedHolding %d, RetiredWriters %d, want 0 and %d", id, st.RemovedHolding, st.RetiredWriters, retired)
		}
	}
	last := c.ids[len(c.ids)-1]
	c.kvWrite(last, "k2", "v")
	for range 50 {
		c.round()
	}
	for _, id := range c.ids {
		if kv := c.kvOf(id); kv["k2"] != "v" {
			t.Errorf("%s holds %v, without %s's later put", id, kv, last)
		}
	}
}

// As TestRemovedRegionHeardByOneOnlyHoldsNoMarkers, with r3 removed from
// r1 and r2 alone at first: r1, holding it back, proposes that it has
// left, which r0, still counting it as a peer, does not accept, so r1
// keeps holding it back until r0 removes it too.
func TestRemovedRegionLeavesOnlyOnceRemovedEverywhere(t *testing.T) {
	c := newMapCluster(t, 149, 4, nil)
	c.net.Partition("r0", "r3")
	c.net.Partition("r2", "r3")
	for range 50 {
		c.round()
	}
	c.crash("r3")
	c.ids = []crdt.ReplicaID{"r0", "r1", "r2"}
	c.nodes["r1"].r.RemovePeer("r3")
	c.nodes["r2"].r.RemovePeer("r3")
	delivered := func() uint64 { // to the live regions, not r3
		before := c.net.Stats().Delivered
		for range 1000 {
			c.round()
		}
		return c.net.Stats().Delivered - before
	}
	held := delivered()
	if n := c.nodes["r1"].r.Stats().RemovedHolding; n != 1 {
		t.Fatalf("r1: Stats.RemovedHolding is %d while r0 still has r3 as a peer, want 1", n)
	}
	c.nodes["r0"].r.RemovePeer("r3")
	c.kvWrite("r0", "k", "v")
	c.kvWrite("r0", "k", "")
	settleRemovedHolding(t, c, 0)
	// The proposal that r0 does not answer rides on the messages due
	// anyway: it made none of its own.
	idle := delivered()
	t.Logf("messages delivered in 1000 rounds: %d while r1 proposed to r0, %d once r3 had left", held, idle)
	if held > idle+idle/20 {
		t.Errorf("%d messages in 1000 rounds while r1 proposed to r0, which did not answer, and %d once r3 had left", held, idle)
	}
}

// A region removed for good is released by the group, whichever members
// heard from it, whether it wrote or not, whatever the network does, and
// though a member comes back from an empty disk: each member that holds it
// back may propose that it has left, the group's first replica that its
// writers be retired, all at once.
func TestRemovedRegionReleasedWhoeverHeardFromIt(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "members")
		antiEntropy := rapid.SampledFrom([]int{10, 25}).Draw(rt, "antiEntropy")
		c := newMapClusterOf(rt, rapid.Uint64().Draw(rt, "seed"), n+1, func(cfg *crdt.Config) { cfg.AntiEntropyTicks = antiEntropy })
		x := c.ids[n]
		members := c.ids[:n]
		heard := 0
		for _, id := range members {
			if rapid.Bool().Draw(rt, "hears "+string(id)) {
				heard++
			} else {
				c.net.Partition(id, x)
			}
		}
		if heard == 0 {
			c.net.Heal(members[n-1], x)
		}
		if rapid.Bool().Draw(rt, "writes") {
			c.kvWrite(x, "kx", "x")
		}
		c.net.Loss = rapid.Float64Range(0, 0.2).Draw(rt, "loss")
		c.net.Duplicate = rapid.Float64Range(0, 0.2).Draw(rt, "dup")
		c.net.Reorder = rapid.Bool().Draw(rt, "reorder")
		for range rapid.IntRange(20, 80).Draw(rt, "rounds") {
			c.round()
		}
		c.crash(x) // for good
		c.ids = members
		// The members remove it one after another.
		for _, i := range rapid.Permutation(members).Draw(rt, "removal order") {
			c.nodes[i].r.RemovePeer(x)
			for range rapid.IntRange(0, 30).Draw(rt, "rounds after a removal") {
				c.round()
			}
		}
		if w := rapid.IntRange(-1, n-1).Draw(rt, "wiped"); w >= 0 {
			// A member back from an empty disk knows nothing of x.
			c.crash(members[w])
			c.nodes[members[w]].snap, c.nodes[members[w]].journal = nil, nil
			c.restart(members[w])
		}
		c.kvWrite(members[0], "k", "v")
		c.now.Add(int64(time.Second))
		c.kvWrite(members[n-1], "k", "") // a later delete
		released := func() bool {
			for _, id := range members {
				if c.nodes[id].r.Stats().RemovedHolding != 0 {
					return false
				}
			}
			return true
		}
		for i := 0; !released(); i++ {
			if i == 5000 {
				for _, id := range members {
					rt.Logf("%s: %+v", id, c.nodes[id].r.Stats())
				}
				rt.Fatal("the removed region still held back after 5000 rounds")
			}
			c.round()
		}
		c.net.Loss, c.net.Duplicate = 0, 0
		c.saveAndRun()
		c.saveAndRun()
		want := c.kvOf(members[0])
		if want["k"] != "" {
			rt.Errorf("%s holds k after its later delete: %v", members[0], want)
		}
		for _, id := range members {
			if n := c.kvGarbage(id); n != 0 {
				rt.Errorf("%s holds %d delete markers once the removed region was released", id, n)
			}
			if kv := c.kvOf(id); !maps.Equal(kv, want) {
				rt.Errorf("%s holds %v, %s %v", id, kv, members[0], want)
			}
		}
	})
}

// removeForGood crashes region x for good, and every other region of c,
// which are c's regions from then on, removes it.
func removeForGood(c *cluster, x crdt.ReplicaID) {
	c.crash(x)
	c.ids = slices.DeleteFunc(slices.Clone(c.ids), func(id crdt.ReplicaID) bool { return id == x })
	for _, id := range c.ids {
		c.nodes[id].r.RemovePeer(x)
	}
}
