package crdt_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// Two regions share a shopping cart, each adding an item at local latency;
// a few rounds over the (in-memory) network later, both hold both items.
func Example() {
	ctx := context.Background()
	net := memnet.New(1)
	region := func(id, peer crdt.ReplicaID) (*crdt.Replica, *crdt.Handle[*orset.Set[string]]) {
		r, _ := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id)})
		cart, _ := crdt.Register(r, "cart", orset.New[string](id))
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return r, cart
	}
	east, eastCart := region("us-east-1", "eu-west-1")
	west, westCart := region("eu-west-1", "us-east-1")

	_ = eastCart.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("milk"), nil })
	_ = westCart.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("eggs"), nil })

	for range 3 {
		_, _ = east.Tick(ctx), west.Tick(ctx)
		net.DeliverAll(ctx)
	}
	eastCart.Read(func(s *orset.Set[string]) { fmt.Println("us-east-1:", slices.Sorted(s.All())) })
	westCart.Read(func(s *orset.Set[string]) { fmt.Println("eu-west-1:", slices.Sorted(s.All())) })
	// Output:
	// us-east-1: [eggs milk]
	// eu-west-1: [eggs milk]
}
