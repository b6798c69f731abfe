package lwwmap_test

import (
	"fmt"
	"time"

	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/vclock"
)

// Two regions rename one to-do while cut off from each other. When the
// writes meet, each region's hook hears which edit lost, and to whose; a
// later edit made after seeing the other reports nothing.
func ExampleMap_SetConflictHook() {
	us := lwwmap.New[string, string]("us-east-1", fixedClock(0))
	eu := lwwmap.New[string, string]("eu-west-1", fixedClock(2*time.Millisecond))
	for _, m := range []*lwwmap.Map[string, string]{us, eu} {
		here := m.ID()
		m.SetConflictHook(func(c vclock.Conflict) {
			fmt.Printf("%s: %v: %q by %s lost to %q by %s\n",
				here, c.Key, c.Lost.Value, c.Lost.Writer, c.Won.Value, c.Won.Writer)
		})
	}

	fromUS := us.Put("todo-1", "Buy oat milk")
	fromEU := eu.Put("todo-1", "Buy soy milk") // 2ms later: wins
	_ = us.Apply(fromEU)
	_ = eu.Apply(fromUS)
	_ = eu.Apply(fromUS) // delivered again: not reported again

	// us-east-1 has seen the winner: its next edit is no conflict.
	_ = eu.Apply(us.Put("todo-1", "Buy milk"))
	v, _ := eu.Get("todo-1")
	fmt.Println("eu-west-1 holds", v)
	// Output:
	// us-east-1: todo-1: "Buy oat milk" by us-east-1 lost to "Buy soy milk" by eu-west-1
	// eu-west-1: todo-1: "Buy oat milk" by us-east-1 lost to "Buy soy milk" by eu-west-1
	// eu-west-1 holds Buy milk
}
