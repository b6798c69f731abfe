package register

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// The benchmarks of this file measure the paths where a conflict hook is
// consulted, without one: they compile and run unchanged on the code from
// before conflict reports, for comparison (see BENCHMARKS.md).

// losingOps returns a register holding a write far ahead, and a function
// yielding new ops of another replica that each lose to it.
func losingOps() (*LWW[string], func() LWWOp[string]) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	r.Merge(&LWW[string]{w: stamp{ts: clock.Timestamp{Wall: t0 + 1e9}, id: "ap-south-1"}, v: "kept"})
	return r, remoteOp()
}

// BenchmarkLWWApplyLosing applies a write that loses to the held one:
// where a hook would hear of a conflict.
func BenchmarkLWWApplyLosing(b *testing.B) {
	r, next := losingOps()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Apply(next()); err != nil {
			b.Fatal(err)
		}
	}
}
