package ormap_test

import (
	"fmt"
	"maps"
	"slices"

	"github.com/activeactive/crdt/ormap"
)

// Two regions keep a cart per user: a map of maps of counters. A delete
// of a cart races with an add to it: the add survives alone.
func Example() {
	type carts = ormap.Map[string, *ormap.Map[string, *ormap.Counter]]
	east := ormap.New[string, *ormap.Map[string, *ormap.Counter]]("us-east-1")
	west := ormap.New[string, *ormap.Map[string, *ormap.Counter]]("eu-west-1")

	ship := func(to *carts, op ormap.Op) {
		b, _ := op.MarshalBinary() // what travels between the regions
		if _, err := to.ApplyBinary(b); err != nil {
			fmt.Println(err)
		}
	}
	ship(west, east.At("ann").At("apple").Add(2))
	ship(west, east.At("ann").At("pear").Add(1))

	// Concurrently: west empties ann's cart, east adds one more apple.
	del := west.Delete("ann")
	inc := east.At("ann").At("apple").Add(1)
	ship(east, del)
	ship(west, inc)

	for _, m := range []*carts{east, west} {
		cart := m.At("ann")
		items := slices.Sorted(maps.Keys(maps.Collect(cart.All())))
		fmt.Println(items, cart.At("apple").Value())
	}
	// Output:
	// [apple] 1
	// [apple] 1
}

// A map of sets of tags, and a map of multi-value registers.
func ExampleMap_At() {
	tags := ormap.New[string, *ormap.Set[string]]("a")
	tags.At("post-1").Add("go")
	tags.At("post-1").Add("crdt")
	tags.At("post-1").Remove("go")
	fmt.Println(slices.Sorted(tags.At("post-1").All()))

	a := ormap.New[int, *ormap.Register[string]]("a")
	b := ormap.New[int, *ormap.Register[string]]("b")
	x, y := a.At(1).Set("draft"), b.At(1).Set("final")
	_ = a.Apply(y)
	_ = b.Apply(x)
	fmt.Println(a.At(1).Values(), b.At(1).Values())
	// Output:
	// [crdt]
	// [draft final] [draft final]
}
