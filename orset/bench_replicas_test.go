package orset

import (
	"fmt"
	"testing"
)

// BenchmarkDecode8000Replicas decodes a state naming 8,000 replicas, each
// with one element (issue 9 finding 3; goal: at most 20 ms).
func BenchmarkDecode8000Replicas(b *testing.B) {
	state := mustMarshal(b, manyWriters(b, 8000))
	b.SetBytes(int64(len(state)))
	b.ReportAllocs()
	for b.Loop() {
		var s Set[string]
		if err := s.UnmarshalBinary(state); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeOneAddInto10000Replicas merges a one-add delta into a set
// that knows 10,000 replicas (issue 9 finding 4; goal: at most 50 µs).
// Each round's delta is new: a replica adds an element and ships what the
// set lacks. Making the delta is part of the round, and is small.
func BenchmarkMergeOneAddInto10000Replicas(b *testing.B) {
	s := manyWriters(b, 10000)
	z := New[string]("writer")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		before := z.Version()
		z.Add(fmt.Sprint("e", i))
		i++
		s.Merge(z.DeltaSince(before))
	}
	if !s.Contains("e0") {
		b.Fatal("the merged element is missing")
	}
}
