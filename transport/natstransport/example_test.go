package natstransport_test

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Two regions share a cart over NATS. The example runs its own NATS
// server in the process; a service connects to its deployment's servers,
// with its credentials.
func Example() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("NATS server not ready")
	}
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	changed := make(chan crdt.ReplicaID, 16)
	region := func(id, peer crdt.ReplicaID) *crdt.Handle[*orset.Set[string]] {
		nc, err := nats.Connect(ns.ClientURL()) // with nats.UserInfo, nats.Secure... in production
		if err != nil {
			panic(err)
		}
		closers = append(closers, nc.Close)
		t, _ := natstransport.New(nc, natstransport.Config{Prefix: "shop.crdt", ID: id})
		r, _ := crdt.NewReplica(crdt.Config{ID: id, Transport: t,
			OnRemoteUpdate: func(string) { changed <- id }})
		cart, _ := crdt.Register(r, "cart", orset.New[string](id))
		_ = r.AddPeer(peer)
		_ = t.Listen(r)
		go func() { _ = r.Run(ctx, 10*time.Millisecond) }()
		return cart
	}
	east := region("us-east-1", "eu-west-1")
	west := region("eu-west-1", "us-east-1")

	_ = east.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("milk"), nil })
	fmt.Println("changed at", <-changed)
	west.Read(func(s *orset.Set[string]) { fmt.Println("eu-west-1:", slices.Sorted(s.All())) })
	// Output:
	// changed at eu-west-1
	// eu-west-1: [milk]
}
