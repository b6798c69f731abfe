package crdt_test

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// typesNode is a replica holding one object of each kind the test uses.
type typesNode struct {
	r     *crdt.Replica
	set   *crdt.Handle[*orset.Set[string]]
	m     *crdt.Handle[*lwwmap.Map[string, int]]
	stock *crdt.Handle[*counter.Bounded]
	snap  []byte
}

func startTypesNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *typesNode {
	t.Helper()
	clk := testClock()
	n := &typesNode{}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 10,
		OnSaveNeeded: func() { n.save(t) }})
	if err != nil {
		t.Fatal(err)
	}
	n.r = r
	if n.set, err = crdt.Register(r, "s", orset.New[string](id)); err != nil {
		t.Fatal(err)
	}
	if n.m, err = crdt.Register(r, "m", lwwmap.New[string, int](id, clk)); err != nil {
		t.Fatal(err)
	}
	if n.stock, err = crdt.Register(r, "stock", counter.NewBounded(id, 0)); err != nil {
		t.Fatal(err)
	}
	attachRestored(t, net, r, snap, peer)
	n.save(t)
	return n
}

func (n *typesNode) save(t *testing.T) { n.snap = savedSnapshot(t, n.r) }

// attachRestored adds to r, whose objects are registered, every one of
// peers but r itself as a peer, restores snap into it unless it is nil,
// and attaches it to net.
func attachRestored(t failer, net *memnet.Network, r *crdt.Replica, snap []byte, peers ...crdt.ReplicaID) {
	t.Helper()
	for _, p := range peers {
		if p != r.ID() {
			if err := r.AddPeer(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if snap != nil {
		if err := r.Restore(snap); err != nil {
			t.Fatalf("restore %s: %v", r.ID(), err)
		}
	}
	net.Attach(r.ID(), r)
}

// roundsOf returns rounds for nodes of a two-process test: each ticks
// the replicas of the nodes given and delivers every message on net, k
// times over. replica gives a node's replica.
func roundsOf[N any](net *memnet.Network, replica func(N) *crdt.Replica) func(k int, ns ...N) {
	return func(k int, ns ...N) {
		ctx := context.Background()
		for range k {
			for _, n := range ns {
				_ = replica(n).Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
}

func (n *stockNode) replica() *crdt.Replica   { return n.r }
func (n *countNode) replica() *crdt.Replica   { return n.r }
func (n *allNode) replica() *crdt.Replica     { return n.r }
func (n *counterNode) replica() *crdt.Replica { return n.r }

// savedSnapshot returns the snapshot r saves now.
func savedSnapshot(t *testing.T, r *crdt.Replica) []byte {
	t.Helper()
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	return snap
}

// writers returns the writers every object of the node names.
func (n *typesNode) writers() map[vclock.ReplicaID]bool {
	out := map[vclock.ReplicaID]bool{}
	n.set.Read(func(s *orset.Set[string]) {
		for w := range s.Version().All() {
			out[w] = true
		}
	})
	n.m.Read(func(m *lwwmap.Map[string, int]) {
		for w := range m.Version().All() {
			out[w] = true
		}
	})
	n.stock.Read(func(b *counter.Bounded) {
		for w := range b.Writers().All() {
			out[w] = true
		}
	})
	return out
}

// Restarts with the module's own types: an OR-Set, an LWW-map and a
// bounded counter. Once the finished runs are retired, every object names
// one live and one retired writer per replica, the values are those of
// before, and the rights the first runs held (stock a restart stranded)
// stay with the retired writer, counted in the stock: the live run cannot
// sell them (a finished run's process may still be running, and sell them
// too).
func TestRetirementWithTheModulesTypes(t *testing.T) {
	net := memnet.New(5)
	ctx := context.Background()
	a := startTypesNode(t, net, "a", "b", nil)
	b := startTypesNode(t, net, "b", "a", nil)
	rounds := func(k int) {
		for range k {
			_ = a.r.Tick(ctx)
			_ = b.r.Tick(ctx)
			net.DeliverAll(ctx)
		}
	}
	for run := range 3 {
		elem := string(rune('x' + run))
		if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(elem), nil }); err != nil {
			t.Fatal(err)
		}
		if err := a.m.Update(func(m *lwwmap.Map[string, int]) (crdt.Op, error) { return m.Put(elem, run), nil }); err != nil {
			t.Fatal(err)
		}
		if err := a.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Inc(10) }); err != nil {
			t.Fatal(err)
		}
		a.save(t)
		rounds(30)
		a = startTypesNode(t, net, "a", "b", a.snap) // a restart
	}
	// The live run holds no rights of its own yet.
	if err := a.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(1) }); err == nil {
		t.Fatal("the new run sold stock it holds no rights to")
	}
	live := map[vclock.ReplicaID]bool{a.r.Writer(): true, b.r.Writer(): true, vclock.Retired("a"): true, vclock.Retired("b"): true}
	for i := 0; ; i++ {
		done := true
		for _, n := range []*typesNode{a, b} {
			for w := range n.writers() {
				done = done && live[w]
			}
		}
		if done {
			break
		}
		if i == 3000 {
			t.Fatalf("finished writers still named: a %v, b %v; stats %+v", a.writers(), b.writers(), a.r.Stats())
		}
		rounds(1)
	}
	for _, n := range []*typesNode{a, b} {
		if st := n.r.Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%d objects refused a retirement, %d ledger conflicts", st.RetireFailures, st.LedgerConflicts)
		}
	}
	if n := b.r.Stats().RetiredWriters; n != 3 {
		t.Fatalf("b retired %d writers, want a's 3 finished runs", n)
	}
	// The heir inherits nothing; it sells what it puts in.
	if err := a.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(1) }); err == nil {
		t.Fatal("the live run sold stock its earlier runs held")
	}
	if err := a.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Inc(5) }); err != nil {
		t.Fatal(err)
	}
	if err := a.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(5) }); err != nil {
		t.Fatal(err)
	}
	a.save(t) // the changes leave once saved
	rounds(50)
	for _, n := range []*typesNode{a, b} {
		n.set.Read(func(s *orset.Set[string]) {
			if s.Len() != 3 {
				t.Fatalf("set of %d elements, want 3", s.Len())
			}
		})
		n.stock.Read(func(c *counter.Bounded) {
			if c.Value() != 30 || c.Rights(vclock.Retired("a")) != 30 {
				t.Fatalf("stock %d, %d of it with the retired writer; want 30 and 30", c.Value(), c.Rights(vclock.Retired("a")))
			}
		})
		n.m.Read(func(m *lwwmap.Map[string, int]) {
			if v, _ := m.Get("z"); v != 2 || m.Len() != 3 {
				t.Fatalf("map %v", m.Len())
			}
		})
	}
}
