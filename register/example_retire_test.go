package register_test

import (
	"fmt"

	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// A replica's first run wrote as eu!1 and its second writes as eu!2.
// Once every replica holds eu!1's writes (here, its 2 writes), each
// replica retires eu!1: its writes become writes of eu!0, and the version
// names eu!0 instead. The values, and what later writes replace, do not
// change.
func ExampleMV_Retire() {
	first := register.NewMV[string](vclock.Writer("eu", 1))
	first.Set("draft")
	first.Set("final")
	us := register.NewMV[string](vclock.Writer("us", 1))
	us.Merge(first)

	eu := first.Clone()
	eu.SetWriter(vclock.Writer("eu", 2)) // the replica's second run

	r := vclock.Retirement{From: vclock.Writer("eu", 1), To: vclock.Retired("eu"), Final: 2}
	for _, m := range []*register.MV[string]{eu, us} {
		if err := m.Retire(r); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(eu.Values(), eu.Version())
	if err := us.Apply(eu.Set("published")); err != nil {
		fmt.Println(err)
	}
	fmt.Println(us.Values(), us.Version(), us.Fingerprint() == eu.Fingerprint())
	// Output:
	// [final] {eu!0:2}
	// [published] {eu!0:2 eu!2:1} true
}
