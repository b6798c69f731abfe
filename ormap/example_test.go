package ormap_test

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
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

// Sessions that expire: one region gives a session a minute to live
// while the other persists it, concurrently; the persist wins. Another
// session expires on time at both regions.
func ExampleMap_Expire() {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano()
	source := func() int64 { return now }
	east := ormap.New[string, *ormap.Counter]("us-east-1")
	west := ormap.New[string, *ormap.Counter]("eu-west-1")
	east.SetClock(clock.New(clock.WithSource(source)))
	west.SetClock(clock.New(clock.WithSource(source)))
	for _, op := range []ormap.Op{
		east.At("ann").Add(1), east.At("bob").Add(1),
		east.Expire("ann", time.Hour), east.Expire("bob", 10*time.Second),
	} {
		_ = west.Apply(op)
	}

	exp := east.Expire("ann", time.Minute) // concurrently,
	per := west.Persist("ann")             // the persist wins
	_ = west.Apply(exp)
	_ = east.Apply(per)
	_, expires := east.ExpiresAt("ann")
	fmt.Println("ann expires:", expires)

	now += int64(11 * time.Second) // past bob's expiry
	fmt.Println(east.Has("bob"), west.Has("bob"), west.Len())
	// Output:
	// ann expires: false
	// false false 1
}

// A conflict report: two regions set one register at once.
func ExampleMap_SetConflictHook() {
	east := ormap.New[string, *ormap.Register[string]]("us-east-1")
	west := ormap.New[string, *ormap.Register[string]]("eu-west-1")
	east.SetConflictHook(func(c vclock.Conflict) {
		for _, w := range c.Siblings {
			fmt.Println(c.Key, w.Writer, w.Value)
		}
	})
	east.At("title").Set("Draft")
	_ = east.Apply(west.At("title").Set("Final"))
	// Output:
	// [title] eu-west-1 Final
	// [title] us-east-1 Draft
}

// Page views counted per path, as with Redis's HINCRBY: Add increments
// the counter of a key in one call, and its op goes to the other
// replicas like that of At(k).Add.
func ExampleAdd() {
	east := ormap.New[string, *ormap.Counter]("us-east-1")
	west := ormap.New[string, *ormap.Counter]("eu-west-1")
	for _, path := range []string{"/", "/about", "/"} {
		_ = west.Apply(ormap.Add(east, path, 1))
	}
	_ = east.Apply(ormap.Add(west, "/", 5))

	// A nested map's counters too: the items of one cart.
	carts := ormap.New[string, *ormap.Map[string, *ormap.Counter]]("us-east-1")
	ormap.Add(carts.At("ann"), "apple", 2)

	fmt.Println(east.At("/").Value(), west.At("/").Value(), west.At("/about").Value())
	fmt.Println(carts.At("ann").At("apple").Value())
	// Output:
	// 7 7 1
	// 2
}

// A map larger than a message goes to a new region in parts, each merged
// on its own; store parts in any order, the rest in order. (The
// replication engine does this itself for a catch-up larger than
// Config.MaxMessageBytes.)
func ExampleMap_ChunksBinary() {
	east := ormap.New[string, *ormap.Counter]("us-east-1")
	for i := range 500 {
		east.At(fmt.Sprintf("page-%03d", i)).Add(int64(i + 1))
	}
	parts, ordered, err := east.ChunksBinary(nil, 2048)
	if err != nil {
		panic(err)
	}
	west := ormap.New[string, *ormap.Counter]("eu-west-1")
	for i := ordered - 1; i >= 0; i-- { // store parts: any order
		if _, err := west.MergeChunkBinary(parts[i]); err != nil {
			panic(err)
		}
	}
	for _, p := range parts[ordered:] { // then the others, in order
		if _, err := west.MergeChunkBinary(p); err != nil {
			panic(err)
		}
	}
	fmt.Println(len(parts) > 1, west.Len(), west.At("page-499").Value(), west.Equal(east))
	// Output: true 500 500 true
}
