package crdt_test

import (
	"context"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// TestJournalKeepsChangesThatChangeNoValue: a change received that leaves
// the object's value as it was (a catch-up of an element added and removed
// elsewhere, taken in by a replica that never held it) still changes what
// the object has seen, and the journal must keep it. It kept only changes
// to the value: a replica restored from its snapshot and journal lost such
// a catch-up, and a catch-up journaled after it (a delta since the version
// the first raised) then claimed the element's add without its remove, so
// the element came back elsewhere at equal versions
// (TestConvergenceUnderAccidents, a region added back with an empty disk).
func TestJournalKeepsChangesThatChangeNoValue(t *testing.T) {
	var now int64 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).UnixNano()
	net := memnet.New(5)
	ids := []crdt.ReplicaID{"a", "b", "c"}
	start := func(id crdt.ReplicaID, snap []byte, journal [][]byte) setRegion {
		clk := clock.New(clock.WithSource(func() int64 { return now }))
		noAntiEntropy := func(cfg *crdt.Config) { cfg.AntiEntropyTicks = -1 }
		return startSetRegion(t, net, clk, id, ids, noAntiEntropy, snap, journal)
	}
	nodes := map[crdt.ReplicaID]setRegion{}
	for _, id := range ids {
		nodes[id] = start(id, nil, nil)
	}
	round := func() {
		for _, id := range ids {
			_ = nodes[id].r.Tick(context.Background())
		}
		net.DeliverAll(context.Background())
		now += int64(10 * time.Millisecond)
	}
	// c adds x and a removes it; every region sees both.
	updateSet(t, nodes["c"], func(s *orset.Set[string]) orset.Op[string] { return s.Add("x") })
	for range 5 {
		round()
	}
	updateSet(t, nodes["a"], func(s *orset.Set[string]) orset.Op[string] { return s.Remove("x") })
	for range 5 {
		round()
	}
	version := func(id crdt.ReplicaID) string {
		var v string
		nodes[id].set.Read(func(s *orset.Set[string]) { v = s.Version().String() })
		return v
	}
	// b comes back with an empty disk and saves a snapshot at once: the
	// catch-ups its peers send it then change its version, not its value.
	net.Detach("b")
	nodes["b"] = start("b", nil, nil)
	var snap []byte
	if err := nodes["b"].r.SaveSnapshot(func(s []byte) error { snap = s; return nil }); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		round()
	}
	before := version("b")
	if version("a") != before {
		t.Fatalf("b is at %s after catching up, a at %s", before, version("a"))
	}
	var journal [][]byte
	if err := nodes["b"].r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	// kill -9, then a restart from what b saved.
	net.Detach("b")
	nodes["b"] = start("b", snap, journal)
	if after := version("b"); after != before {
		t.Fatalf("b restored from its snapshot and journal at %s, saved at %s", after, before)
	}
}
