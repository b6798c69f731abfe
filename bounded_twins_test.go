package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
)

// Regression: a peer sent alice and bob two entries of its own for a
// bounded counter, each valid alone, whose join spends rights it never
// held. Each region kept the one it got, for good (a merge left out an
// entry whose join was invalid), and nothing in Stats showed it: a
// Bounded has no version, so no digest compares its fingerprints. Now the
// regions' catch-ups leave both with the same entry of the peer, and
// Stats counts the equivocation on both.
func TestBoundedTwinsHealedAndCounted(t *testing.T) {
	ids := []crdt.ReplicaID{"alice", "bob"}
	g := newForgedNet(t, ids, "b", func(id crdt.ReplicaID) (crdt.Config, *counter.Bounded) {
		return crdt.Config{Clock: testClock(), AntiEntropyTicks: 5}, counter.NewBounded(id, 0)
	})
	reps, cs := g.r, g.h
	g.rounds(5)
	twins := map[crdt.ReplicaID]counter.BoundedOp{
		"alice": {Replica: "evil", P: 10, Out: []counter.Rights{{Replica: reps["alice"].Writer(), Total: 10}}}, // gives alice 10
		"bob":   {Replica: "evil", P: 10, N: 10},                                                               // sells its 10
	}
	for _, to := range ids {
		b, err := twins[to].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := g.forge(to, "", 1, b); err != nil {
			t.Fatalf("%s refused evil's op: %v", to, err)
		}
	}
	if err := cs["alice"].Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(3) }); err != nil {
		t.Fatalf("alice cannot sell what evil gave her: %v", err)
	}
	g.rounds(30)
	val := map[crdt.ReplicaID]int64{}
	fp := map[crdt.ReplicaID]uint64{}
	for _, id := range ids {
		cs[id].Read(func(b *counter.Bounded) { val[id], fp[id] = b.Value(), b.Fingerprint() })
	}
	if val["alice"] != val["bob"] || fp["alice"] != fp["bob"] {
		t.Fatalf("after 30 rounds alice reads %d (fingerprint %#x) and bob %d (%#x)", val["alice"], fp["alice"], val["bob"], fp["bob"])
	}
	if val["alice"] != 7 { // the 7 rights alice took up and did not sell
		t.Fatalf("value %d, want 7", val["alice"])
	}
	for _, id := range ids {
		if n := reps[id].Stats().Equivocations; n != 1 {
			t.Fatalf("%s's Stats count %d equivocations, want 1", id, n)
		}
	}
}
