package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
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

// A replica that persists saves a snapshot now and then and journals each
// update in between; after a crash, the last snapshot and the journal
// bring back every update it saved. It saves too when the engine asks
// (Config.OnSaveNeeded: a vote on a retirement waits for a save), and
// takes a snapshot when the journal cannot hold what is new.
func ExampleReplica_SaveOps() {
	var snapshot []byte  // what the host keeps on disk: the last snapshot,
	var journal [][]byte // and the records appended since
	saveSnapshot := func(b []byte) error { snapshot, journal = b, nil; return nil }
	appendRecord := func(b []byte) error { journal = append(journal, b); return nil }
	save := func(r *crdt.Replica) error {
		err := r.SaveOps(appendRecord)
		if errors.Is(err, crdt.ErrSnapshotNeeded) {
			err = r.SaveSnapshot(saveSnapshot)
		}
		return err
	}

	start := func() (*crdt.Replica, *crdt.Handle[*orset.Set[string]]) {
		net := memnet.New(1)
		var r *crdt.Replica
		r, _ = crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: net.Transport("us-east-1"),
			OnSaveNeeded: func() { _ = save(r) }})
		cart, _ := crdt.Register(r, "cart", orset.New[string]("us-east-1"))
		_ = r.AddPeer("eu-west-1")
		return r, cart
	}
	r, cart := start()
	_ = r.SaveSnapshot(saveSnapshot)
	for _, item := range []string{"milk", "eggs"} {
		_ = cart.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(item), nil })
		if err := save(r); err != nil { // before telling the user it is done
			fmt.Println(err)
		}
	}
	fmt.Println("journal records:", len(journal))

	// The process dies; a new one restores the snapshot, then the journal.
	r, cart = start()
	_ = r.Restore(snapshot)
	for _, rec := range journal {
		_ = r.Replay(rec)
	}
	cart.Read(func(s *orset.Set[string]) { fmt.Println("cart:", slices.Sorted(s.All())) })
	// Output:
	// journal records: 2
	// cart: [eggs milk]
}

// Stock is sold in two regions without ever going below zero. The region
// that runs out asks the other for rights; the other's host hears the
// request through the counter's hook, which runs under the replica's lock,
// so it only queues it, and answers with a transfer from its own loop.
func ExampleReplica_boundedStock() {
	ctx := context.Background()
	net := memnet.New(1)
	type region struct {
		r     *crdt.Replica
		stock *crdt.Handle[*counter.Bounded]
		asked chan counter.RightsRequest
	}
	start := func(id, peer crdt.ReplicaID) region {
		r, _ := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id)})
		asked := make(chan counter.RightsRequest, 16)
		c := counter.NewBounded(id, 0)
		c.SetRequestHook(func(q counter.RightsRequest) { asked <- q })
		stock, _ := crdt.Register(r, "stock", c)
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return region{r, stock, asked}
	}
	east, west := start("us-east-1", "eu-west-1"), start("eu-west-1", "us-east-1")
	sync := func() {
		for range 3 {
			_, _ = east.r.Tick(ctx), west.r.Tick(ctx)
			net.DeliverAll(ctx)
		}
	}
	_ = east.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Inc(10) })
	sync()

	err := west.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(3) })
	fmt.Println("west sells 3:", errors.Is(err, counter.ErrInsufficientRights))
	_ = west.stock.Update(func(c *counter.Bounded) (crdt.Op, error) {
		return c.Request(c.Holders()[0].Replica, 3)
	})
	sync()
	for len(east.asked) > 0 { // the host's loop answers what the hook queued
		q := <-east.asked
		_ = east.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Transfer(q.Replica, q.Rights) })
	}
	sync()
	err = west.stock.Update(func(c *counter.Bounded) (crdt.Op, error) { return c.Dec(3) })
	sync()
	east.stock.Read(func(c *counter.Bounded) { fmt.Println("west sells 3:", err, "- stock", c.Value()) })
	// Output:
	// west sells 3: true
	// west sells 3: <nil> - stock 7
}

// busTransport is a transport over a bus whose servers carry messages of
// at most 64 KiB: it says so by implementing crdt.Limiter.
type busTransport struct{ crdt.Transport }

func (busTransport) MaxMessageBytes() int { return 64 << 10 }

// Regions need not agree on how large a message may be. us-east-1's bus
// takes 64 KiB (a crdt.Limiter), eu-west-1 is set up for 16 KiB: each
// names its limit in its digests, and each sends the other nothing
// larger than the smaller of the two.
func ExampleLimiter() {
	ctx := context.Background()
	net := memnet.New(1)
	region := func(id, peer crdt.ReplicaID, tr crdt.Transport, limit int) *crdt.Replica {
		r, _ := crdt.NewReplica(crdt.Config{ID: id, Transport: tr, MaxMessageBytes: limit})
		_, _ = crdt.Register(r, "cart", orset.New[string](id))
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return r
	}
	east := region("us-east-1", "eu-west-1", busTransport{net.Transport("us-east-1")}, 1<<20)
	west := region("eu-west-1", "us-east-1", net.Transport("eu-west-1"), 16<<10)
	for range 3 {
		_, _ = east.Tick(ctx), west.Tick(ctx)
		net.DeliverAll(ctx)
	}
	fmt.Println("us-east-1 sends eu-west-1 up to", east.Stats().Peers[0].MessageLimit, "bytes")
	fmt.Println("eu-west-1 sends us-east-1 up to", west.Stats().Peers[0].MessageLimit, "bytes")
	// Output:
	// us-east-1 sends eu-west-1 up to 16384 bytes
	// eu-west-1 sends us-east-1 up to 16384 bytes
}
