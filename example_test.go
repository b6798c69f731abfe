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

// A transaction changes several objects at once: the shop moves an item
// from the cart to the order, and no replica, this one or another, ever
// sees it in both or in neither.
func ExampleReplica_Update() {
	net := memnet.New(1)
	r, _ := crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: net.Transport("us-east-1")})
	cart, _ := crdt.Register(r, "cart", orset.New[string]("us-east-1"))
	order, _ := crdt.Register(r, "order", orset.New[string]("us-east-1"))
	_ = cart.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("milk"), nil })

	err := r.Update(func(tx *crdt.Tx) error {
		if err := cart.UpdateIn(tx, func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove("milk"), nil }); err != nil {
			return err
		}
		return order.UpdateIn(tx, func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("milk"), nil })
	})
	if err != nil {
		fmt.Println(err)
	}

	r.View(func(tx *crdt.Tx) {
		_ = cart.ReadIn(tx, func(s *orset.Set[string]) { fmt.Println("cart:", slices.Sorted(s.All())) })
		_ = order.ReadIn(tx, func(s *orset.Set[string]) { fmt.Println("order:", slices.Sorted(s.All())) })
	})
	// Output:
	// cart: []
	// order: [milk]
}
