package register_test

import (
	"fmt"
	"time"

	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// Two regions set a register concurrently. Each region's hook hears which
// write lost: the one with the earlier timestamp.
func ExampleLWW_SetConflictHook() {
	noon := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	east := register.NewLWW[string]("us-east-1", fixedAt(noon))
	west := register.NewLWW[string]("eu-west-1", fixedAt(noon.Add(2*time.Millisecond)))
	hook := func(here string) func(vclock.Conflict) {
		return func(c vclock.Conflict) {
			fmt.Printf("%s: %q (%s) lost to %q (%s), %v later\n", here,
				c.Lost.Value, c.Lost.Writer, c.Won.Value, c.Won.Writer, c.Won.Time.Time().Sub(c.Lost.Time.Time()))
		}
	}
	east.SetConflictHook(hook("us-east-1"))
	west.SetConflictHook(hook("eu-west-1"))

	toWest := east.Set("blue")
	toEast := west.Set("green")
	_ = east.Apply(toEast)
	_ = west.Apply(toWest)
	// Output:
	// us-east-1: "blue" (us-east-1) lost to "green" (eu-west-1), 2ms later
	// eu-west-1: "blue" (us-east-1) lost to "green" (eu-west-1), 2ms later
}

// Two regions set a multi-value register concurrently: it keeps both
// values, and the hook hears that it now holds siblings.
func ExampleMV_SetConflictHook() {
	east := register.NewMV[string]("us-east-1")
	west := register.NewMV[string]("eu-west-1")
	east.SetConflictHook(func(c vclock.Conflict) {
		for _, s := range c.Siblings {
			fmt.Printf("sibling %q by %s\n", s.Value, s.Writer)
		}
	})
	east.Set("blue")
	_ = east.Apply(west.Set("green"))
	fmt.Println(east.Values())
	// Output:
	// sibling "green" by eu-west-1
	// sibling "blue" by us-east-1
	// [green blue]
}
