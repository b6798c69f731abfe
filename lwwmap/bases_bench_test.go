package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// The benchmarks of this file measure maps whose entries all have a base
// (see Map.SetConflictHook): every key written by one replica over
// another's write, as where two replicas write the same keys in turn.

// writtenBy returns a map of N keys, each written by replica id.
func writtenBy(id vclock.ReplicaID, clk *clock.Clock) *Map[string, string] {
	keys, vals := benchData(N)
	m := New[string, string](id, clk)
	for i := range keys {
		m.Put(keys[i], vals[i])
	}
	return m
}

// overwritten returns a map of replica "y" that took in x and then wrote
// every key again: every entry has a base.
func overwritten(x *Map[string, string], clk *clock.Clock) *Map[string, string] {
	keys, vals := benchData(N)
	y := New[string, string]("y", clk)
	y.Merge(x)
	for i := range keys {
		y.Put(keys[i], vals[i])
	}
	return y
}

// BenchmarkPutOverOther100k puts 100k keys, each over another replica's
// write of it: each put gives its entry a base.
func BenchmarkPutOverOther100k(b *testing.B) {
	clk := clock.New()
	x := writtenBy("x", clk)
	keys, vals := benchData(N)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		y := New[string, string]("y", clk)
		y.Merge(x)
		b.StartTimer()
		for i := range keys {
			y.Put(keys[i], vals[i])
		}
	}
	perElem(b, N)
}

// BenchmarkMergeBased100k merges a state of 100k entries, each with a base,
// into an empty map.
func BenchmarkMergeBased100k(b *testing.B) {
	clk := clock.New()
	y := overwritten(writtenBy("x", clk), clk)
	b.ReportAllocs()
	for b.Loop() {
		New[string, string]("r", clk).Merge(y)
	}
	perElem(b, N)
}

// BenchmarkMarshalBased100k encodes a state of 100k entries, each with a
// base.
func BenchmarkMarshalBased100k(b *testing.B) {
	clk := clock.New()
	y := overwritten(writtenBy("x", clk), clk)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := y.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
	perElem(b, N)
}

// BenchmarkMemoryBased100k reports the heap a map of 100k entries, each
// with a base, takes.
func BenchmarkMemoryBased100k(b *testing.B) {
	clk := clock.New()
	x := writtenBy("x", clk)
	var n uint64
	for b.Loop() {
		n = heapDelta(func() any { return overwritten(x, clk) })
	}
	b.ReportMetric(float64(n)/N, "B/elem")
}
