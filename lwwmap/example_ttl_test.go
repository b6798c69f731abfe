package lwwmap_test

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
)

// Two regions give a session key different times to live at the same
// time: the longer one wins at both, and a persist made concurrently would
// have won over both. The key disappears from both once their clocks pass
// its expiry, and is then collected like a delete marker.
func Example_ttl() {
	var now atomic.Int64 // the regions' physical time, driven by the example
	now.Store(t0.UnixNano())
	clk := func() *clock.Clock { return clock.New(clock.WithSource(now.Load)) }
	us := lwwmap.New[string, string]("us-east-1", clk())
	eu := lwwmap.New[string, string]("eu-west-1", clk())

	put := us.Put("session", "token-42")
	_ = eu.Apply(put)

	short := us.Expire("session", 10*time.Second)
	long := eu.Expire("session", time.Minute) // concurrent: neither saw the other's
	_ = us.Apply(long)
	_ = eu.Apply(short)

	ttl, _ := us.TTL("session")
	fmt.Println("TTL at both:", ttl)

	now.Add(int64(30 * time.Second))
	v, ok := eu.Get("session")
	fmt.Println("after 30s:", v, ok)

	now.Add(int64(30 * time.Second))
	_, ok = us.Get("session")
	pending, _ := us.Garbage()
	fmt.Println("after 60s:", ok, us.Len(), "keys,", pending, "pending")

	us.CollectVersions(nil) // no peers: every write counts as seen everywhere
	pending, collected := us.Garbage()
	fmt.Println("collected:", collected, "pending:", pending)
	// Output:
	// TTL at both: 1m0s
	// after 30s: token-42 true
	// after 60s: false 0 keys, 1 pending
	// collected: 1 pending: 0
}
