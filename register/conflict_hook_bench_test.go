package register

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// BenchmarkLWWApplyLosingHooked is BenchmarkLWWApplyLosing with a hook
// set: every op is reported.
func BenchmarkLWWApplyLosingHooked(b *testing.B) {
	r, next := losingOps()
	n := 0
	r.SetConflictHook(func(vclock.Conflict) { n++ })
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Apply(next()); err != nil {
			b.Fatal(err)
		}
	}
	if n == 0 {
		b.Fatal("nothing reported")
	}
}

// BenchmarkLWWApplyHooked is BenchmarkLWWApply with a hook set: each op
// replaces an earlier write of its own writer, so none is reported; the
// cost of a hook on the common path.
func BenchmarkLWWApplyHooked(b *testing.B) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	r.SetConflictHook(func(vclock.Conflict) {})
	next := remoteOp()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Apply(next()); err != nil {
			b.Fatal(err)
		}
	}
}
