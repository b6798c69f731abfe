package orset_test

import (
	"fmt"
	"slices"

	"github.com/activeactive/crdt/orset"
)

// Two regions start with milk in the list. Concurrently, us-east-1
// removes milk and eu-west-1 adds it again; each applies the other's op.
// The add was not seen by the remove, so it wins at both.
func Example() {
	east := orset.New[string]("us-east-1")
	west := orset.New[string]("eu-west-1")
	if err := west.Apply(east.Add("milk")); err != nil {
		panic(err)
	}

	remove := east.Remove("milk") // concurrent with the add below
	add := west.Add("milk")

	if err := east.Apply(add); err != nil {
		panic(err)
	}
	if err := west.Apply(remove); err != nil {
		panic(err)
	}
	fmt.Println("us-east-1 has milk:", east.Contains("milk"))
	fmt.Println("eu-west-1 has milk:", west.Contains("milk"))
	fmt.Println("same state:", east.Equal(west))
	// Output:
	// us-east-1 has milk: true
	// eu-west-1 has milk: true
	// same state: true
}

// A replica that was cut off catches up with a delta: only what its
// version lacks travels.
func ExampleSet_DeltaSince() {
	east := orset.New[string]("us-east-1")
	west := orset.New[string]("eu-west-1")
	for _, e := range []string{"apples", "bread", "cheese"} {
		east.Add(e)
	}
	west.Merge(east)

	// The link is cut; east keeps changing.
	east.Remove("bread")
	east.Add("dates")

	// The link heals: west sends its version, east answers with a delta.
	delta := east.DeltaSince(west.Version())
	west.Merge(delta)

	fmt.Println("delta elements:", slices.Sorted(delta.All()))
	fmt.Println("west:", slices.Sorted(west.All()))
	fmt.Println("converged:", west.Equal(east))
	// Output:
	// delta elements: [dates]
	// west: [apples cheese dates]
	// converged: true
}

// Ops travel as bytes between regions.
func ExampleSet_ApplyBinary() {
	east := orset.New[string]("us-east-1")
	west := orset.New[string]("eu-west-1")

	msg, err := east.Add("milk").MarshalBinary()
	if err != nil {
		panic(err)
	}
	changed, err := west.ApplyBinary(msg)
	fmt.Println(len(msg), "bytes; changed:", changed, err)

	changed, err = west.ApplyBinary(msg) // a duplicate is harmless
	fmt.Println("again; changed:", changed, err)
	// Output:
	// 18 bytes; changed: true <nil>
	// again; changed: false <nil>
}
