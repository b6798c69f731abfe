package lwwmap_test

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// fixedClock returns a clock whose physical time stands at t0 plus d, so
// that the examples print the same thing every time. A real replica uses
// clock.New().
func fixedClock(d time.Duration) *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return t0.Add(d).UnixNano() }))
}

// Two regions write one key at about the same time, before hearing from
// each other. Once each has applied the other's write, both hold the write
// with the later timestamp.
func Example() {
	us := lwwmap.New[string, string]("us-east-1", fixedClock(0))
	eu := lwwmap.New[string, string]("eu-west-1", fixedClock(2*time.Millisecond))

	fromUS := us.Put("banner", "Spring sale")
	fromEU := eu.Put("banner", "Soldes de printemps") // 2ms later

	// Each region ships its write to the other as bytes.
	b, _ := fromUS.MarshalBinary()
	if _, err := eu.ApplyBinary(b); err != nil {
		fmt.Println(err)
	}
	b, _ = fromEU.MarshalBinary()
	if _, err := us.ApplyBinary(b); err != nil {
		fmt.Println(err)
	}

	v1, _ := us.Get("banner")
	v2, _ := eu.Get("banner")
	fmt.Println("us-east-1:", v1)
	fmt.Println("eu-west-1:", v2)
	// Output:
	// us-east-1: Soldes de printemps
	// eu-west-1: Soldes de printemps
}

// A delete concurrent with a put resolves by the same rule: here the put is
// later, so the key survives everywhere.
func ExampleMap_Delete() {
	us := lwwmap.New[string, int]("us-east-1", fixedClock(0))
	eu := lwwmap.New[string, int]("eu-west-1", fixedClock(time.Millisecond))

	del := us.Delete("cart:42")
	put := eu.Put("cart:42", 3) // 1ms later, without having seen the delete

	_ = eu.Apply(del)
	_ = us.Apply(put)
	n1, ok1 := us.Get("cart:42")
	n2, ok2 := eu.Get("cart:42")
	fmt.Println(n1, ok1, n2, ok2)
	// Output:
	// 3 true 3 true
}

// A replica that has been away sends its version; the other answers with
// only what it lacks.
func ExampleMap_DeltaSince() {
	clk := fixedClock(0)
	us := lwwmap.New[string, string]("us-east-1", clk)
	eu := lwwmap.New[string, string]("eu-west-1", fixedClock(0))
	us.Put("a", "1")
	us.Put("b", "2")
	eu.Merge(us)

	// eu goes away; us carries on.
	seen := eu.Version()
	us.Put("c", "3")
	us.Delete("a")

	delta := us.DeltaSince(seen)
	eu.Merge(delta)

	fmt.Println("version eu had:", seen)
	fmt.Println("keys in the delta:", delta.Len(), "plus a delete")
	fmt.Println("eu now:", slices.Sorted(maps.Keys(maps.Collect(eu.All()))))
	// Output:
	// version eu had: {us-east-1:2}
	// keys in the delta: 1 plus a delete
	// eu now: [b c]
}

// All iterates in no particular order: sort for stable output.
func ExampleMap_All() {
	m := lwwmap.New[string, int]("us-east-1", fixedClock(0))
	m.Put("pears", 2)
	m.Put("apples", 5)
	m.Put("plums", 1)
	m.Delete("plums")
	for _, k := range slices.Sorted(m.Keys()) {
		v, _ := m.Get(k)
		fmt.Println(k, v)
	}
	fmt.Println(m.Len(), "keys")
	// Output:
	// apples 5
	// pears 2
	// 2 keys
}

// Delete markers are dropped once the replication engine (or the host)
// knows every replica has applied every write before some point.
func ExampleMap_Collect() {
	m := lwwmap.New[string, string]("us-east-1", fixedClock(0))
	m.Put("session:1", "alice")
	del := m.Delete("session:1")

	// Say every replica has now applied every write up to and including
	// the delete, and every replica's clock has moved past it.
	stable := del.Timestamp()
	stable.Logical++
	fmt.Println("markers dropped:", m.Collect(stable))
	fmt.Println("keys:", m.Len())
	// Output:
	// markers dropped: 1
	// keys: 0
}
