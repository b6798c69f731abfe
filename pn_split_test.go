package crdt_test

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/vclock"
)

// drawSplits draws two histories of one writer's PN changes, as many
// changes in each and of the same sizes, their signs drawn apart: the
// two end at one version, split differently between increments and
// decrements when the signs differ.
func drawSplits(rt *rapid.T) (first, second []int64) {
	sizes := rapid.SliceOfN(rapid.Int64Range(1, 5), 1, 4).Draw(rt, "sizes")
	for i, m := range sizes {
		for _, h := range []*[]int64{&first, &second} {
			if rapid.Bool().Draw(rt, fmt.Sprintf("decrement %d", i)) {
				*h = append(*h, -m)
			} else {
				*h = append(*h, m)
			}
		}
	}
	return first, second
}

// TestPNSplitsOfOneVersionConverge: a writer's PN changes reach two
// regions as two histories that end at one version, split differently
// between increments and decrements (+1 at one, −1 at the other): a
// faulty or hostile peer that sent each region its own changes under one
// writer. The regions hold one version and different values; a
// fingerprint that weighed a writer's totals by their sum alone gave
// both one fingerprint, no divergence was counted, and the regions read
// different values for good. They must end holding one state, the join
// of both. (Two processes of one region write as two writers, each with
// its epoch; two that drew one epoch are refused by their peers for
// acknowledgements they never sent, which Stats counts.)
func TestPNSplitsOfOneVersionConverge(t *testing.T) {
	rapid.Check(t, pnSplitsFromPeer)
}

// pnState returns a copy of the counter region id of g holds.
func pnState(g *forgedNet[*counter.PN], id crdt.ReplicaID) *counter.PN {
	var s *counter.PN
	g.h[id].Read(func(c *counter.PN) { s = c.Clone() })
	return s
}

// pnConverged fails rt unless the regions of g hold one state, reporting
// the divergences they counted.
func pnConverged(rt *rapid.T, what string, g *forgedNet[*counter.PN]) {
	s0 := pnState(g, g.ids[0])
	divergences := g.divergences()
	for _, id := range g.ids[1:] {
		if s := pnState(g, id); !s.Equal(s0) {
			rt.Fatalf("%s: %s reads %d at %v, %s reads %d at %v; %d divergences counted",
				what, g.ids[0], s0.Value(), s0.Version(), id, s.Value(), s.Version(), divergences)
		}
	}
}

func pnSplitsFromPeer(rt *rapid.T) {
	ids := []crdt.ReplicaID{"h0", "h1"}
	g := newForgedNet(rt, ids, "c", func(id crdt.ReplicaID) (crdt.Config, *counter.PN) {
		return crdt.Config{Clock: testClock(), AntiEntropyTicks: 5}, counter.NewPN(id)
	})
	if err := g.h["h0"].Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(3) }); err != nil {
		rt.Fatal(err)
	}
	g.rounds(5)
	first, second := drawSplits(rt)
	w := vclock.Writer("evil", 9)
	for i, changes := range [][]int64{first, second} {
		evil := counter.NewPN(w)
		var op counter.PNOp
		for _, d := range changes {
			var err error
			if op, err = evil.Add(d); err != nil {
				rt.Fatal(err)
			}
		}
		b, err := op.MarshalBinary()
		if err != nil {
			rt.Fatal(err)
		}
		if err := g.forge(ids[i], w, 1, b); err != nil {
			rt.Fatal(err)
		}
	}
	g.rounds(40)
	pnConverged(rt, "after evil's two histories", g)
}
