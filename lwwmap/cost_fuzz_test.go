package lwwmap

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
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

// costSeeds adds the usual seeds and a large state of many small entries,
// one per replica, the costliest shape per input byte.
func costSeeds(f *testing.F) {
	states, ops, versions := seeds()
	big := bigState()
	bv := bigVersion()
	for _, b := range slices.Concat(states, ops, versions, [][]byte{big, big[:len(big)/2], bv}) {
		f.Add(b)
	}
}

func bigMap() *Map[string, string] {
	m := &Map[string, string]{}
	for i := range 2000 {
		id := vclock.ReplicaID(fmt.Sprintf("r%04d", i))
		m.Apply(Op[string, string]{key: fmt.Sprint(i), value: "v", ts: clock.Timestamp{Wall: int64(i + 1)}, dot: vclock.Dot{Replica: id, Seq: 1}})
	}
	return m
}

func bigState() []byte {
	b, err := bigMap().MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func bigVersion() []byte {
	b, _ := bigMap().Version().MarshalBinary()
	return b
}

// costTarget is a map with some content, whose clock accepts any
// timestamp.
func costTarget() *Map[string, string] {
	m := New[string, string]("target", clock.New(clock.WithMaxOffset(0)))
	m.Put("keep", "me")
	return m
}

func FuzzStateCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := costTarget()
		checkCost(t, data, func() { _, _ = m.MergeBinary(data) })
	})
}

func FuzzOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := costTarget()
		checkCost(t, data, func() { _, _ = m.ApplyBinaryFrom(data, "us-east-1") })
	})
}

func FuzzVersionCost(f *testing.F) {
	costSeeds(f)
	m, _, _ := sample()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() {
			_, _ = m.DeltaSinceBinary(data)
			_ = m.Clone().CollectBinary([][]byte{data})
		})
	})
}
