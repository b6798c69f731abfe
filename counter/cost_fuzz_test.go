package counter

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/vclock"
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

// bigG returns a G of many replicas, encoded: a large valid seed.
func bigG(n int) *G {
	g := &G{}
	for i := range n {
		g.Apply(GOp{Replica: vclock.ReplicaID(fmt.Sprintf("r%05d", i)), Count: uint64(i + 1)})
	}
	return g
}

func costSeeds(f *testing.F) {
	g := bigG(3000)
	c := &PN{}
	for _, e := range g.e {
		c.Apply(PNOp{Replica: e.id, P: e.n, N: 1})
	}
	v := g.Version()
	for _, m := range []interface{ MarshalBinary() ([]byte, error) }{g, c, sampleG(), samplePN(), GOp{"a", 1}, PNOp{"a", 1, 2}, v} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
}

func FuzzGStateCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewG("x").MergeBinary(data) })
	})
}

func FuzzPNStateCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewPN("x").MergeBinary(data) })
	})
}

func FuzzGOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewG("x").ApplyBinaryFrom(data, "a") })
	})
}

func FuzzPNOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewPN("x").ApplyBinary(data) })
	})
}

func FuzzCounterVersionCost(f *testing.F) {
	costSeeds(f)
	g := bigG(100)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = g.DeltaSinceBinary(data) })
	})
}
