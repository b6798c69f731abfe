package lwwmap

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
)

// BenchmarkMergeSeenOverwrite measures a known limit: what a small state
// costs a large map when its context holds a dot the map has seen whose
// write neither side still holds (overwritten at both). The map cannot
// tell from the state alone that none of its own keys was overwritten at
// the sender, and compares every entry's dot with the state's context: a
// pass over the whole map, whatever the size of the state. Every round
// merges the same state again, as a peer replaying one message would.
// The first merge is made before the timed part (a map may prepare itself
// then for the ones after), so that the figure is what each further
// merge costs.
func BenchmarkMergeSeenOverwrite(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			clk := clock.New()
			big := New[string, string]("A", clk)
			first := big.Put("key-0000000", "first")
			for i := range n {
				big.Put(fmt.Sprintf("key-%07d", i), "v")
			}
			// z has taken in the first write of key-0000000, then
			// overwritten it.
			z := New[string, string]("Z", clk)
			if err := z.Apply(first); err != nil {
				b.Fatal(err)
			}
			z.Put("key-0000000", "z")
			state, err := z.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := big.MergeBinary(state); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := big.MergeBinary(state); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if v, _ := big.Get("key-0000000"); v != "z" || big.Len() != n {
				b.Fatalf("after the merges: key-0000000 = %q, len %d", v, big.Len())
			}
			b.ReportMetric(float64(len(state)), "state-bytes")
		})
	}
}

// BenchmarkMemoryMap100kOrdered is BenchmarkMemoryMap100k for a map that
// has made its order of its dots (see BenchmarkMergeSeenOverwrite): the
// first merge of such a state makes it.
func BenchmarkMemoryMap100kOrdered(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	var n uint64
	for b.Loop() {
		n = heapDelta(func() any {
			m := New[string, string]("bench", clk)
			first := m.Put(keys[0], "first")
			for i := range keys {
				m.Put(keys[i], vals[i])
			}
			z := New[string, string]("Z", clk)
			if err := z.Apply(first); err != nil {
				b.Fatal(err)
			}
			z.Put(keys[0], "z")
			m.Merge(z)
			if m.ix.Order().Refs() != len(keys) {
				b.Fatalf("the order holds %d dots", m.ix.Order().Refs())
			}
			return m
		})
	}
	b.ReportMetric(float64(n)/N, "B/elem")
}
