package crdt_test

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// hugeNode is a replica with a PN counter and a set.
type hugeNode struct {
	r    *crdt.Replica
	n    *crdt.Handle[*counter.PN]
	s    *crdt.Handle[*orset.Set[string]]
	snap []byte
}

func startHugeNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *hugeNode {
	t.Helper()
	h := &hugeNode{}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 10,
		OnSaveNeeded: func() { h.snap = savedSnapshot(t, h.r) }})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	if h.n, err = crdt.Register(r, "n", counter.NewPN(id)); err != nil {
		t.Fatal(err)
	}
	if h.s, err = crdt.Register(r, "s", orset.New[string](id)); err != nil {
		t.Fatal(err)
	}
	attachRestored(t, net, r, snap, peer)
	h.snap = savedSnapshot(t, r)
	return h
}

// TestHugeCounterHoldsNoCollectionBack: the versions peers report are read
// as sequence numbers (at most vclock.MaxSeq) where the engine collects
// and where it keeps and renames the versions a peer reported before it
// restarted, while a counter's version counts totals, which pass MaxSeq.
// That is no fault: only the versions of objects that collect (sets and
// maps, whose versions are sequence numbers) are read there, so a counter
// whose count passed 2^62, reported in every digest, holds back neither
// the collection of the set's delete records, before and after both
// replicas restart, nor the retirement of the finished writer of the
// counter and the set; nothing is refused, and the replicas agree.
func TestHugeCounterHoldsNoCollectionBack(t *testing.T) {
	net := memnet.New(7)
	ctx := context.Background()
	a := startHugeNode(t, net, "a", "b", nil)
	b := startHugeNode(t, net, "b", "a", nil)
	rounds := func(k int, ns ...*hugeNode) {
		for range k {
			for _, n := range ns {
				_ = n.r.Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
	update := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const elems = 6
	update(a.n.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(vclock.MaxSeq + 1) }))
	update(b.n.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(1) }))
	for i := range elems {
		n := []*hugeNode{a, b}[i%2]
		update(n.s.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(fmt.Sprintf("e%d", i)), nil }))
	}
	// A persistent replica ships what it saved.
	a.snap, b.snap = savedSnapshot(t, a.r), savedSnapshot(t, b.r)
	rounds(5, a, b)
	// a removes half: delete records, collected once both saved them.
	for i := range elems / 2 {
		update(a.s.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(fmt.Sprintf("e%d", i)), nil }))
	}
	// collected saves snapshots and runs rounds until every replica of
	// ns holds no delete record and has collected more than before.
	collected := func(what string, before uint64, ns ...*hugeNode) uint64 {
		t.Helper()
		for range 30 {
			for _, n := range ns {
				n.snap = savedSnapshot(t, n.r)
			}
			rounds(3, ns...)
			done := true
			for _, n := range ns {
				if s := n.r.Stats(); s.GCPending != 0 || s.GCCollected <= before {
					done = false
				}
			}
			if done {
				return ns[0].r.Stats().GCCollected
			}
		}
		for _, n := range ns {
			s := n.r.Stats()
			t.Errorf("%s: %s: GCPending %d, GCCollected %d, want 0 and more than %d", n.r.ID(), what, s.GCPending, s.GCCollected, before)
		}
		t.FailNow()
		return 0
	}
	collected("first runs", 0, a, b)
	oldA, oldB := a.r.Writer(), b.r.Writer()

	// Both restart from their disks: the first runs' writers are finished,
	// and each keeps the versions the other reported before it restarted.
	a2 := startHugeNode(t, net, "a", "b", a.snap)
	b2 := startHugeNode(t, net, "b", "a", b.snap)
	for i := elems / 2; i < elems; i++ {
		if i%2 == 1 {
			continue
		}
		update(b2.s.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(fmt.Sprintf("e%d", i)), nil }))
	}
	names := func(n *hugeNode, w vclock.ReplicaID) bool {
		in := false
		n.n.Read(func(c *counter.PN) { in = c.Version().Get(w) != 0 })
		n.s.Read(func(s *orset.Set[string]) { in = in || s.Version().Get(w) != 0 })
		return in
	}
	for i := 0; names(a2, oldB) || names(b2, oldB); i++ {
		if i == 300 {
			t.Fatalf("%s still named after %d rounds (retired writers: a %d, b %d)", oldB, i, a2.r.Stats().RetiredWriters, b2.r.Stats().RetiredWriters)
		}
		rounds(1, a2, b2)
	}
	collected("second runs, after the retirement", 0, a2, b2)

	for _, n := range []*hugeNode{a2, b2} {
		s := n.r.Stats()
		if s.RetiredWriters != 1 || s.RetireFailures != 0 || len(s.Peers[0].Refused) != 0 {
			t.Fatalf("%s: %d writers retired (want 1: %s), %d failures, refused %v", n.r.ID(), s.RetiredWriters, oldB, s.RetireFailures, s.Peers[0].Refused)
		}
		if !names(n, oldA) {
			t.Fatalf("%s: the counter no longer names %s, whose count is past MaxSeq", n.r.ID(), oldA)
		}
		var v int64
		n.n.Read(func(c *counter.PN) { v = c.Value() })
		if v != vclock.MaxSeq+2 {
			t.Fatalf("%s: the counter reads %d, want %d", n.r.ID(), v, int64(vclock.MaxSeq+2))
		}
	}
	var sa, sb map[string]bool
	a2.s.Read(func(s *orset.Set[string]) {
		sa = maps.Collect(func(yield func(string, bool) bool) {
			for e := range s.All() {
				if !yield(e, true) {
					return
				}
			}
		})
	})
	b2.s.Read(func(s *orset.Set[string]) {
		sb = maps.Collect(func(yield func(string, bool) bool) {
			for e := range s.All() {
				if !yield(e, true) {
					return
				}
			}
		})
	})
	if !maps.Equal(sa, sb) || len(sa) != 2 {
		t.Fatalf("sets differ or hold the wrong elements: a %v, b %v", sa, sb)
	}
}
