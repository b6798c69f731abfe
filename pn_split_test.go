package crdt_test

import (
	"context"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
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

type pnRegion struct {
	r *crdt.Replica
	c *crdt.Handle[*counter.PN]
}

func (n *pnRegion) state() *counter.PN {
	var s *counter.PN
	n.c.Read(func(c *counter.PN) { s = c.Clone() })
	return s
}

func (n *pnRegion) add(rt *rapid.T, d int64) {
	if err := n.c.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(d) }); err != nil {
		rt.Fatal(err)
	}
}

func startPNRegion(rt *rapid.T, net *memnet.Network, id crdt.ReplicaID, peers []crdt.ReplicaID) *pnRegion {
	cfg := crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 5}
	r, err := crdt.NewReplica(cfg)
	if err != nil {
		rt.Fatal(err)
	}
	n := &pnRegion{r: r}
	if n.c, err = crdt.Register(r, "c", counter.NewPN(id)); err != nil {
		rt.Fatal(err)
	}
	for _, p := range peers {
		if p != id {
			if err := r.AddPeer(p); err != nil {
				rt.Fatal(err)
			}
		}
	}
	net.Attach(id, r)
	return n
}

func pnRounds(net *memnet.Network, k int, ns ...*pnRegion) {
	ctx := context.Background()
	for range k {
		for _, n := range ns {
			_ = n.r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
}

// pnConverged fails rt unless the regions hold one state, reporting the
// divergences they counted.
func pnConverged(rt *rapid.T, what string, ns ...*pnRegion) {
	s0 := ns[0].state()
	var divergences uint64
	for _, n := range ns {
		for _, p := range n.r.Stats().Peers {
			divergences += p.Divergences
		}
	}
	for _, n := range ns[1:] {
		if s := n.state(); !s.Equal(s0) {
			rt.Fatalf("%s: %s reads %d at %v, %s reads %d at %v; %d divergences counted",
				what, ns[0].r.ID(), s0.Value(), s0.Version(), n.r.ID(), s.Value(), s.Version(), divergences)
		}
	}
}

func pnSplitsFromPeer(rt *rapid.T) {
	net := memnet.New(1)
	ids := []crdt.ReplicaID{"h0", "h1"}
	h0 := startPNRegion(rt, net, "h0", append(ids, "evil"))
	h1 := startPNRegion(rt, net, "h1", append(ids, "evil"))
	h0.add(rt, 3)
	pnRounds(net, 5, h0, h1)
	first, second := drawSplits(rt)
	w := vclock.Writer("evil", 9)
	ctx := context.Background()
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
		msg, err := crdt.Forge(crdt.Forgery{From: "evil", To: ids[i], Incarnation: 1, FirstSeq: 1, Writer: w,
			Ops: []crdt.ForgedEntry{{Object: "c", Bytes: b}}})
		if err != nil {
			rt.Fatal(err)
		}
		if err := []*pnRegion{h0, h1}[i].r.Receive(ctx, "evil", msg); err != nil {
			rt.Fatal(err)
		}
	}
	pnRounds(net, 40, h0, h1)
	pnConverged(rt, "after evil's two histories", h0, h1)
}
