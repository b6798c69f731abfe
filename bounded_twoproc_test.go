package crdt_test

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/vclock"
)

type stockNode struct {
	r     *crdt.Replica
	stock *crdt.Handle[*counter.Bounded]
	snap  []byte
}

func startStockNode(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, snap []byte) *stockNode {
	t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), AntiEntropyTicks: 10})
	if err != nil {
		t.Fatal(err)
	}
	n := &stockNode{r: r}
	if n.stock, err = crdt.Register(r, "stock", counter.NewBounded(id, 0)); err != nil {
		t.Fatal(err)
	}
	attachRestored(t, net, r, peer, snap)
	n.snap = savedSnapshot(t, r)
	return n
}

func (n *stockNode) sell(k uint64) error {
	return n.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(k) })
}

func (n *stockNode) names(w vclock.ReplicaID) bool {
	named := false
	n.stock.Read(func(c *counter.Bounded) { named = c.Events(w) != 0 })
	return named
}

// Regression: two processes ran under one replica ID (each with its own
// epoch writer); the second, started from the first's disk, had the
// first's writer retired while the first still ran, cut off. The
// retirement handed the first writer's unused rights to the second's
// writer, which sold them, while the first sold them too. Now a retired
// writer's rights stay with its name's retired writer: the sales never
// pass the stock.
func TestBoundedTwoProcessesRetireSellOnce(t *testing.T) {
	net := memnet.New(7)
	ctx := context.Background()
	first := startStockNode(t, net, "a", "b", nil)
	b := startStockNode(t, net, "b", "a", nil)
	rounds := func(k int, ns ...*stockNode) {
		for range k {
			for _, n := range ns {
				_ = n.r.Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
	const stock = 10
	if err := first.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Inc(stock) }); err != nil {
		t.Fatal(err)
	}
	first.snap = savedSnapshot(t, first.r)
	rounds(30, first, b)
	old := first.r.Writer()
	// A second process under a, from the same disk; the first is cut off
	// (the network now routes "a" to the second).
	second := startStockNode(t, net, "a", "b", first.snap)
	var sold uint64
	if err := first.sell(stock); err != nil {
		t.Fatalf("the first process cannot sell its own rights: %v", err)
	}
	sold += stock
	for i := 0; b.names(old); i++ {
		if i == 3000 {
			t.Fatalf("%s not retired", old)
		}
		rounds(1, second, b)
	}
	for i := 0; i < 200; i++ {
		if err := second.sell(1); err == nil {
			sold++
		}
		rounds(1, second, b)
	}
	if sold > stock {
		t.Fatalf("sold %d of a stock of %d (first process sold %d as %s, the second sold %d as its heir %s)", sold, stock, stock, old, sold-stock, second.r.Writer())
	}
}
