package crdt_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
)

// manyPN is the number of PN counters of TestRetireWriterOfManyPNs: above
// half the objects one ledger entry may name (4,096), below all of them.
const manyPN = 2100

// startManyPN starts replica id with manyPN PN counters.
func startManyPN(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) (*crdt.Replica, []*crdt.Handle[*counter.PN]) {
	t.Helper()
	return startPNs(t, net, id, peer, snap, manyPN)
}

// startPNs starts replica id with n PN counters.
func startPNs(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte, n int) (*crdt.Replica, []*crdt.Handle[*counter.PN]) {
	t.Helper()
	var r *crdt.Replica
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 10,
		OnSaveNeeded: func() { savedSnapshot(t, r) }})
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]*crdt.Handle[*counter.PN], n)
	for i := range hs {
		if hs[i], err = crdt.Register(r, fmt.Sprintf("c%04d", i), counter.NewPN(id)); err != nil {
			t.Fatal(err)
		}
	}
	attachRestored(t, net, r, snap, peer)
	return r, hs
}

// A writer that changed more than 2,048 PN counters (and fewer than the
// 4,096 objects an entry may name) is retired like any other: the split
// of its changes, carried for each PN beside its count, does not make the
// promises and the entry too long to decode.
func TestRetireWriterOfManyPNs(t *testing.T) {
	net := memnet.New(5)
	ctx := context.Background()
	a, as := startManyPN(t, net, "a", "b", nil)
	b, bs := startManyPN(t, net, "b", "a", nil)
	for _, h := range as {
		if err := h.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(-1) }); err != nil {
			t.Fatal(err)
		}
	}
	rounds := func(k int, rs ...*crdt.Replica) {
		for range k {
			for _, r := range rs {
				_ = r.Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
	rounds(30, a, b)
	old := a.Writer()
	snap := savedSnapshot(t, a)
	// a restarts from its disk: its first run's writer is finished.
	a2, _ := startManyPN(t, net, "a", "b", snap)
	named := func() bool {
		n := false
		bs[manyPN-1].Read(func(c *counter.PN) { n = c.Version().Get(old) != 0 })
		return n
	}
	for i := 0; named(); i++ {
		if i == 300 {
			t.Fatalf("%s not retired after %d rounds: refused by b %v, by a %v, oversize %d %d", old, i, b.Stats().Peers[0].Refused, a2.Stats().Peers[0].Refused, b.Stats().Oversize, a2.Stats().Oversize)
		}
		rounds(1, a2, b)
	}
	// b's snapshot, whose ledger holds the entry, restores.
	_, restored := startManyPN(t, memnet.New(6), "b", "a", savedSnapshot(t, b))
	for _, hs := range [][]*crdt.Handle[*counter.PN]{bs, restored} {
		for i, h := range hs {
			var v int64
			h.Read(func(c *counter.PN) { v = c.Value() })
			if v != -1 {
				t.Fatalf("b's counter %d reads %d, want -1", i, v)
			}
		}
	}
}

// TestWriterOfTooManyObjectsRefusesNothing: a writer that changed more
// objects than one ledger entry may name (4,096) cannot be retired: no
// entry could carry its counts. The promises answering a proposal to
// retire it carried them all the same, so that the proposer refused every
// message carrying one, whole, as malformed, with whatever else it
// carried, at every proposal, for good. Such a writer is not proposed, and
// a promise names no more objects than a peer decodes: nothing is refused
// between the two honest replicas, and their counters agree.
func TestWriterOfTooManyObjectsRefusesNothing(t *testing.T) {
	const n = 4100
	net := memnet.New(5)
	ctx := context.Background()
	a, as := startPNs(t, net, "a", "b", nil, n)
	b, bs := startPNs(t, net, "b", "a", nil, n)
	for _, h := range as {
		if err := h.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(-1) }); err != nil {
			t.Fatal(err)
		}
	}
	rounds := func(k int, rs ...*crdt.Replica) {
		for range k {
			for _, r := range rs {
				_ = r.Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
	rounds(30, a, b)
	snap := savedSnapshot(t, a)
	// a restarts from its disk: its first run's writer is finished, and
	// a's second run proposes it (for want of a bound) or not.
	a2, as2 := startPNs(t, net, "a", "b", snap, n)
	if err := as2[0].Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(5) }); err != nil {
		t.Fatal(err)
	}
	savedSnapshot(t, a2) // a persisted replica's writes leave once saved
	rounds(200, a2, b)
	refused := func(r *crdt.Replica) uint64 {
		var k uint64
		for _, p := range r.Stats().Peers {
			for _, c := range p.Refused {
				k += c
			}
		}
		return k
	}
	if ra, rb := refused(a2), refused(b); ra != 0 || rb != 0 {
		t.Fatalf("honest messages refused: by a %d %v, by b %d %v", ra, a2.Stats().Peers[0].Refused, rb, b.Stats().Peers[0].Refused)
	}
	for i, h := range bs {
		want := int64(-1)
		if i == 0 {
			want = 4
		}
		var v int64
		h.Read(func(c *counter.PN) { v = c.Value() })
		if v != want {
			t.Fatalf("b's counter %d reads %d, want %d", i, v, want)
		}
	}
}
