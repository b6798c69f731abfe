package memnet_test

import (
	"context"
	"fmt"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
)

// Three regions count page views over a network that loses a third of
// the messages and duplicates some. One region is cut off while the others
// keep counting; once the link heals and a few rounds pass, every region
// holds the same total. The seed makes the run the same every time.
func Example() {
	ctx := context.Background()
	net := memnet.New(42)
	net.Loss, net.Duplicate, net.Reorder = 0.3, 0.1, true

	ids := []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1"}
	replicas := map[crdt.ReplicaID]*crdt.Replica{}
	views := map[crdt.ReplicaID]*crdt.Handle[*counter.G]{}
	for _, id := range ids {
		r, _ := crdt.NewReplica(crdt.Config{ID: id, Transport: net.BroadcastTransport(id)})
		views[id], _ = crdt.Register(r, "views", counter.NewG(id))
		for _, p := range ids {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		net.Attach(id, r)
		replicas[id] = r
	}
	count := func(id crdt.ReplicaID, n uint64) {
		_ = views[id].Update(func(g *counter.G) (crdt.Op, error) { return g.Inc(n) })
	}
	rounds := func(n int) {
		for range n {
			for _, id := range ids {
				_ = replicas[id].Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}

	net.Partition("ap-south-1", "eu-west-1")
	net.Partition("ap-south-1", "us-east-1")
	count("ap-south-1", 5)
	count("eu-west-1", 7)
	count("us-east-1", 30)
	rounds(20)
	views["ap-south-1"].Read(func(g *counter.G) { fmt.Println("cut off:", g.Value()) })

	net.HealAll()
	rounds(40)
	for _, id := range ids {
		views[id].Read(func(g *counter.G) { fmt.Printf("%s: %d\n", id, g.Value()) })
	}
	// Output:
	// cut off: 5
	// ap-south-1: 42
	// eu-west-1: 42
	// us-east-1: 42
}
