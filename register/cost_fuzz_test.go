package register

import (
	"github.com/activeactive/crdt/internal/costcheck"
	"strings"
	"testing"
)

// checkCost runs decode, which decodes data, and fails if it costs more
// than the bounds of package costcheck allow (64 KiB fixed allowance: a
// reader, an error and small maps).
func checkCost(t *testing.T, data []byte, decode func()) {
	t.Helper()
	costcheck.Check(t, "decoding", costcheck.Weight(data), 64<<10, decode)
}

func lwwCostSeeds(f *testing.F) {
	lwwSeeds(f)
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	op := r.Set(strings.Repeat("a long value ", 4000))
	b, _ := op.MarshalBinary()
	s, _ := r.MarshalBinary()
	f.Add(b)
	f.Add(s)
}

func FuzzLWWStateCost(f *testing.F) {
	lwwCostSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fuzzTarget()
		checkCost(t, data, func() { _, _ = r.MergeBinary(data) })
	})
}

func FuzzLWWOpCost(f *testing.F) {
	lwwCostSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := fuzzTarget()
		checkCost(t, data, func() { _, _ = r.ApplyBinaryFrom(data, "us-east-1") })
	})
}
