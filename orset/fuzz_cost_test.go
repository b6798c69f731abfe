package orset

import (
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// The cost bounds the decoding fuzz targets hold every input to.
//
// Allocation: at most allocPerByte bytes per byte of input, plus
// allocFixed. The largest honest cost per input byte is an element
// supported by many dots of its own writer, two bytes each on the wire
// and a 24-byte dot in memory, doubled while the slice grows: about 28
// bytes per byte. A table slot for each small element comes close (a
// string header and an entry, 32 bytes, at a load of 7/8, doubled by
// growth, for at least two bytes of input). Merging adds the receiver's
// own growth. 64 leaves room for these and fails a decoder that allocates
// for counts the input does not bear out, or in proportion to the square
// of anything. allocFixed covers what any decode allocates once (the
// reader, an empty table, the indexes).
//
// Time: no input of up to 64 KB may take more than 50 ms, about a hundred
// times what the linear decoders need for the largest such input: it only
// catches work quadratic in the input.
const (
	allocPerByte = 64
	allocFixed   = 256 << 10
	maxTimed     = 64 << 10
	maxTime      = 50 * time.Millisecond
)

// checkCost runs f and fails t if it allocated or took more than the
// bounds allow for an input of n bytes.
func checkCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if b := after.TotalAlloc - before.TotalAlloc; b > allocPerByte*uint64(n)+allocFixed {
		t.Fatalf("%s of %d bytes allocated %d bytes, over %d per byte", what, n, b, allocPerByte)
	}
	if n <= maxTimed && took > maxTime*timeFactor {
		t.Fatalf("%s of %d bytes took %v", what, n, took)
	}
}

// seedCosts adds the inputs that were once costly: an element with many
// dots of one writer, a state naming many replicas, a state claiming more
// elements than it holds.
func seedCosts(f *testing.F) {
	f.Add(mustMarshal(f, manyWriters(f, 2000)))
	one := New[string]("r")
	var dots []vclock.Dot
	for i := range 3000 {
		d := vclock.Dot{Replica: "a", Seq: uint64(i + 1)}
		if err := one.Apply(Op[string]{kind: opAdd, elem: "x", dot: d}); err != nil {
			f.Fatal(err)
		}
		dots = append(dots, d)
	}
	f.Add(mustMarshal(f, one))
	f.Add(mustMarshal(f, Op[string]{kind: opRemove, elem: "x", dot: vclock.Dot{Replica: "b", Seq: 1}, dropped: dots}))
	w := codec.NewWriter(codec.KindSet, 0)
	w.Array(3)
	w.Array(0)
	w.Uint(30000)
	w.Array(0)
	w.Raw(make([]byte, 30000))
	b, err := w.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// FuzzSetDecodeCost holds every decoding method of a Set, on any input,
// to the allocation and time bounds above.
func FuzzSetDecodeCost(f *testing.F) {
	seedStates(f)
	seedOps(f)
	seedCosts(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Set[string]
		checkCost(t, "UnmarshalBinary", len(data), func() { _ = s.UnmarshalBinary(data) })
		m := seedSet(t)
		checkCost(t, "MergeBinary", len(data), func() { _, _ = m.MergeBinary(data) })
		m = seedSet(t)
		checkCost(t, "ApplyBinary", len(data), func() { _, _ = m.ApplyBinary(data) })
		checkCost(t, "ApplyBinaryFrom", len(data), func() { _, _ = m.ApplyBinaryFrom(data, "a") })
		checkCost(t, "DeltaSinceBinary", len(data), func() { _, _ = m.DeltaSinceBinary(data) })
	})
}
