package crdttest_test

import (
	"errors"
	"fmt"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
)

// register holds the greatest integer written to it.
type register struct{ v int }

// A max register passes every law; the same register with a merge that
// takes the other replica's value whatever it is breaks commutativity.
func ExampleCheck() {
	ty := crdttest.Type[*register, int]{
		Name: "max register",
		New:  func(crdt.ReplicaID, *clock.Clock) *register { return &register{} },
		Mutate: func(t *rapid.T, r *register) int {
			v := rapid.IntRange(0, 100).Draw(t, "v")
			r.v = max(r.v, v)
			return v
		},
		Apply: func(r *register, v int) error { r.v = max(r.v, v); return nil },
		Merge: func(dst, src *register) { dst.v = max(dst.v, src.v) },
		Clone: func(r *register) *register { c := *r; return &c },
		Equal: func(a, b *register) bool { return a.v == b.v },
		Value: func(r *register) any { return r.v },
	}
	fmt.Println(crdttest.Check(ty))

	ty.Merge = func(dst, src *register) { dst.v = src.v }
	var v *crdttest.Violation
	if errors.As(crdttest.Check(ty), &v) {
		fmt.Printf("%s: %s\n", v.Law, v.Msg)
	}
	// Output:
	// <nil>
	// MergeCommutative: Merge(a, b) differs from Merge(b, a)
}
