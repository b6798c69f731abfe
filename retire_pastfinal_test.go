package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/vclock"
)

// countNode is a replica with a G and a PN counter.
type countNode struct {
	r    *crdt.Replica
	hits *crdt.Handle[*counter.G]
	bal  *crdt.Handle[*counter.PN]
}

func startCountNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *countNode {
	t.Helper()
	n := &countNode{}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 10,
		OnSaveNeeded: func() { savedSnapshot(t, n.r) }})
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	if n.hits, err = crdt.Register(r, "hits", counter.NewG(id)); err != nil {
		t.Fatal(err)
	}
	if n.bal, err = crdt.Register(r, "balance", counter.NewPN(id)); err != nil {
		t.Fatal(err)
	}
	attachRestored(t, net, r, snap, peer)
	return n
}

func (n *countNode) count(k int64) error {
	if err := n.hits.Update(func(c *counter.G) (crdt.Op, error) { return c.Inc(uint64(k)) }); err != nil {
		return err
	}
	return n.bal.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(-k) })
}

func (n *countNode) values() (uint64, int64) {
	var g uint64
	var p int64
	n.hits.Read(func(c *counter.G) { g = c.Value() })
	n.bal.Read(func(c *counter.PN) { p = c.Value() })
	return g, p
}

func (n *countNode) names(w vclock.ReplicaID) bool {
	named := false
	n.hits.Read(func(c *counter.G) { named = c.Version().Get(w) != 0 })
	return named
}

// A second process under replica ID a, started from the first's disk,
// retires the first's writer with b while the first, cut off, goes on
// counting under it. When the first is back it installs the retirement
// holding more of its old writer than the agreed Final: the engine
// counts it (Stats.RetiredPastFinal), and the G and the PN keep every
// change of both processes.
func TestRetiredWriterCountedPastFinal(t *testing.T) {
	net := memnet.New(11)
	first := startCountNode(t, net, "a", "b", nil)
	b := startCountNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*countNode).replica)
	var total int64
	for _, n := range []*countNode{first, b} {
		if err := n.count(3); err != nil {
			t.Fatal(err)
		}
		total += 3
	}
	rounds(30, first, b)
	old := first.r.Writer()
	snap := savedSnapshot(t, first.r)
	// The second process takes over the network's "a"; the first, cut
	// off, counts on as old.
	second := startCountNode(t, net, "a", "b", snap)
	for range 4 {
		if err := first.count(2); err != nil {
			t.Fatal(err)
		}
		total += 2
	}
	runUntilRetired(t, rounds, b, old, second, b)
	if st := second.r.Stats(); st.RetiredPastFinal != 0 || st.RetiredPastFinalEvents != 0 {
		t.Fatalf("the second process counted %d objects past Final, holding none", st.RetiredPastFinal)
	}
	// The first is back; the second stops.
	savedSnapshot(t, first.r) // its ops may leave
	net.Attach("a", first.r)
	rounds(60, first, b)
	if st := first.r.Stats(); st.RetiredPastFinal != 2 {
		t.Fatalf("the first process installed the retirement of %s holding 8 more of it: RetiredPastFinal %d, want 2", old, st.RetiredPastFinal)
	} else if st.RetiredPastFinalEvents != 16 {
		t.Fatalf("the first process held 8 events past Final in each of two objects: RetiredPastFinalEvents %d, want 16", st.RetiredPastFinalEvents)
	}
	if first.r.Writer() == old {
		t.Fatalf("the first process still writes as its retired writer %s", old)
	}
	for _, n := range []*countNode{first, b} {
		if g, p := n.values(); g != uint64(total) || p != -total {
			t.Fatalf("%s reads %d and %d, want %d and %d", n.r.ID(), g, p, total, -total)
		}
	}
}

// Two processes under replica ID a, each retiring the other's writer in
// turn (the ping-pong of a copied disk started twice), each counting
// between the agreement of the retirement of its own writer and its
// install: the first's excess sits at the first only, the second's at
// the second only. Once both are back and everything merged, the G and
// the PN read every change of every process.
func TestTwoProcessesRetireEachOtherCountersKeepEverything(t *testing.T) {
	net := memnet.New(5)
	first := startCountNode(t, net, "a", "b", nil)
	b := startCountNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*countNode).replica)
	var total int64
	count := func(n *countNode, k int64) {
		t.Helper()
		if err := n.count(k); err != nil {
			t.Fatal(err)
		}
		savedSnapshot(t, n.r) // its ops may leave
		total += k
	}
	count(first, 3)
	count(b, 3)
	rounds(30, first, b)
	w1 := first.r.Writer()
	// The second process starts from the first's disk and takes the
	// network's "a"; the first, cut off, counts on as w1.
	second := startCountNode(t, net, "a", "b", savedSnapshot(t, first.r))
	w2 := second.r.Writer()
	count(second, 2)
	count(first, 1)
	count(first, 2)
	runUntilRetired(t, rounds, b, w1, second, b)
	// The first comes back and the second is cut off, counting on as w2.
	net.Attach("a", first.r)
	count(second, 1)
	count(second, 4)
	rounds(5, first, b)
	if first.r.Writer() == w1 {
		t.Fatalf("the first process still writes as its retired writer %s", w1)
	}
	runUntilRetired(t, rounds, b, w2, first, b)
	// Both run on, the network taking turns; then the second stops.
	takeTurns(net, rounds, 100, second, first, b)
	rounds(100, first, b)
	for _, n := range []*countNode{first, b} {
		if g, p := n.values(); g != uint64(total) || p != -total {
			t.Fatalf("%s reads %d and %d, want %d and %d (%d objects retired past Final)", n.r.ID(), g, p, total, -total, n.r.Stats().RetiredPastFinal)
		}
	}
}
