package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

var _ crdt.Renamer = (*ormap.Map[string, *ormap.Counter])(nil)

// counterNode is a replica holding one map of counters, "c".
type counterNode struct {
	r    *crdt.Replica
	h    *crdt.Handle[*ormap.Map[string, *ormap.Counter]]
	snap []byte
}

func startCounterNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *counterNode {
	t.Helper()
	n := &counterNode{}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 10,
		OnSaveNeeded: func() { n.save(t) }})
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	if n.h, err = crdt.Register(r, "c", ormap.New[string, *ormap.Counter](id)); err != nil {
		t.Fatal(err)
	}
	attachRestored(t, net, r, snap, peer)
	n.save(t)
	return n
}

func (n *counterNode) save(t *testing.T) { n.snap = savedSnapshot(t, n.r) }

func (n *counterNode) add(t *testing.T) {
	t.Helper()
	if err := n.h.Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) { return m.At("k").Add(1), nil }); err != nil {
		t.Fatal(err)
	}
	n.save(t) // its ops leave once saved
}

func (n *counterNode) value() int64 {
	var v int64
	n.h.Read(func(m *ormap.Map[string, *ormap.Counter]) {
		c, _ := m.Get("k")
		v = c.Value()
	})
	return v
}

func (n *counterNode) names(w vclock.ReplicaID) bool {
	named := false
	n.h.Read(func(m *ormap.Map[string, *ormap.Counter]) { named = m.Version().Get(w) != 0 })
	return named
}

// A writer retired while it still increments a counter (a second process
// under its name, started from the same disk, had it retired) goes on
// with the counter's chain past Final; a replica that renamed the chain's
// older leaf and restarted from its snapshot since still knows, from its
// ledger, that the leaf of the chain written past Final replaces it, and
// counts the counter once.
func TestRetiredWriterContinuesCounterAfterRestart(t *testing.T) {
	net := memnet.New(7)
	first := startCounterNode(t, net, "a", "b", nil)
	b := startCounterNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*counterNode).replica)
	for range 5 {
		first.add(t)
	}
	rounds(30, first, b)
	if v := b.value(); v != 5 {
		t.Fatalf("b counts %d, want 5", v)
	}
	old := first.r.Writer()
	// A second process under a, from the same disk, has the first one's
	// writer retired while the first, cut off, increments once more.
	second := startCounterNode(t, net, "a", "b", first.snap)
	first.add(t)
	for i := 0; b.names(old); i++ {
		if i == 2000 {
			t.Fatalf("%s not retired: b's stats %+v", old, b.r.Stats())
		}
		rounds(1, second, b)
	}
	if v := b.value(); v != 5 {
		t.Fatalf("b counts %d after the retirement, want 5", v)
	}
	// b restarts from its snapshot, which holds the renamed state and the
	// ledger; the second process stops, the first is heard again.
	b.save(t)
	b = startCounterNode(t, net, "b", "a", b.snap)
	net.Attach("a", first.r)
	rounds(200, first, b)
	if first.r.Writer() == old {
		t.Fatalf("the first process still writes as its retired writer %s", old)
	}
	for _, n := range []*counterNode{first, b} {
		if v := n.value(); v != 6 {
			t.Fatalf("%s counts %d, want 6", n.r.ID(), v)
		}
		if st := n.r.Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts", n.r.ID(), st.RetireFailures, st.LedgerConflicts)
		}
	}
	var fa, fb uint64
	first.h.Read(func(m *ormap.Map[string, *ormap.Counter]) { fa = m.Fingerprint() })
	b.h.Read(func(m *ormap.Map[string, *ormap.Counter]) { fb = m.Fingerprint() })
	if fa != fb {
		t.Fatalf("fingerprints differ: %x and %x", fa, fb)
	}
}
