package register

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// The cost of decoding untrusted input, checked by the Fuzz*Cost targets.
//
// A decoded item costs at most a slice element or map slot for its entry
// (under 100 bytes with the key and value headers of the types fuzzed
// here) plus the bytes of its strings, and a map or slice grown by doubling
// allocates at most twice its final size along the way. Every item takes
// at least two bytes of input (a replica ID in the table, a counter entry),
// an lwwmap entry at least four (sequence delta, wall delta, tag, key).
// Merging takes more: the receiver's own tables grow with the replicas it
// learns. Measured worst cases: 8 times the input for counters of many
// replicas; for an lwwmap state of one small entry per replica, 27 times
// to decode it and 49 times to decode and merge it into an empty map.
// allocFactor leaves room above them. allocSlack covers the fixed cost of
// a reader, an error and small maps, which dominates tiny inputs.
const (
	allocFactor = 64
	allocSlack  = 64 << 10
	costInput   = 64 << 10              // inputs up to this size must decode within maxDecode
	maxDecode   = 50 * time.Millisecond // generous: such inputs take well under a millisecond
)

// checkCost runs decode, which decodes data, and fails if it allocated
// more than allocFactor times len(data) plus allocSlack, or if data is at
// most costInput bytes long and decode took longer than maxDecode.
func checkCost(t *testing.T, data []byte, decode func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	decode()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocFactor*len(data)+allocSlack); got > limit {
		t.Fatalf("decoding %d bytes allocated %d bytes, more than %d", len(data), got, limit)
	}
	if limit := maxDecode * raceSlowdown; len(data) <= costInput && took > limit {
		t.Fatalf("decoding %d bytes took %v, more than %v", len(data), took, limit)
	}
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
