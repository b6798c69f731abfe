package orset

import (
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// checkCost runs f, the handling of one input of n bytes, and fails t if it
// costs more than the bounds of package costcheck allow (256 KiB bytes fixed:
// what any decode allocates once, the reader, an empty table, the indexes).
func checkCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	costcheck.Check(t, what, n, 256<<10, f)
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
	seedParts(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Set[string]
		checkCost(t, "UnmarshalBinary", costcheck.Weight(data), func() { _ = s.UnmarshalBinary(data) })
		m := seedSet(t)
		checkCost(t, "MergeBinary", costcheck.Weight(data), func() { _, _ = m.MergeBinary(data) })
		m = seedSet(t)
		checkCost(t, "ApplyBinary", costcheck.Weight(data), func() { _, _ = m.ApplyBinary(data) })
		checkCost(t, "ApplyBinaryFrom", costcheck.Weight(data), func() { _, _ = m.ApplyBinaryFrom(data, "a") })
		checkCost(t, "DeltaSinceBinary", costcheck.Weight(data), func() { _, _ = m.DeltaSinceBinary(data) })
		m = seedSet(t)
		checkCost(t, "MergeChunkBinary", costcheck.Weight(data), func() { _, _ = m.MergeChunkBinary(data) })
		m = seedSet(t)
		checkCost(t, "HealChunkBinary", costcheck.Weight(data), func() { _, _ = m.HealChunkBinary(data) })
	})
}

// seedParts adds the parts of a set with removals and drop records, cut
// small, so that fuzzing starts from every kind of part.
func seedParts(f *testing.F) {
	s := New[string]("a")
	for i := range 40 {
		s.Add(fmt.Sprintf("element-%02d", i))
		if i%3 == 0 {
			s.Remove(fmt.Sprintf("element-%02d", i/2))
		}
	}
	for _, v := range []*vclock.Clock{nil, {}} {
		var vb []byte
		if v != nil {
			vb = mustMarshal(f, v)
		}
		parts, _, err := s.ChunksBinary(vb, 120)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range parts {
			f.Add(p)
		}
	}
}
