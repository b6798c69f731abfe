package orset

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// BenchmarkMergeWideHorizon measures a known limit: what a small state
// costs a large set when its horizon (the drop records it has collected)
// is not within the set's version. The set cannot then learn from the
// records what the state dropped, and compares every one of its own dots
// with the state's context: a pass over the whole set, whatever the size
// of the state. An honest peer sends such a state only to a replica that
// lost state (restored from an older backup); any peer can send one, and
// each round here is a new one (a fresh add and remove, collected), as a
// hostile peer would send. The first merge is made before the timed part
// (a set may prepare itself then for the ones after), so that the figure
// is what each further such state costs.
func BenchmarkMergeWideHorizon(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			big := New[string]("A")
			for i := range n {
				big.Add(fmt.Sprintf("key-%07d", i))
			}
			// z has seen one dot of big's writer, so that the
			// contexts overlap, and deleted its element.
			z := New[string]("Z")
			first := New[string]("A")
			first.Add("key-0000000")
			z.Merge(first)
			z.Remove("key-0000000")
			size, round := 0, 0
			next := func() []byte {
				e := fmt.Sprint("x", round)
				round++
				z.Add(e)
				z.Remove(e)
				z.Collect(z.Version()) // a horizon big has not seen
				state := mustMarshal(b, z)
				size = len(state)
				return state
			}
			if _, err := big.MergeBinary(next()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				state := next()
				b.StartTimer()
				if _, err := big.MergeBinary(state); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			// The state deleted key-0000000 (z saw its dot), and
			// nothing else.
			if big.Contains("key-0000000") || big.Len() != n-1 {
				b.Fatalf("after the merges: len %d, key-0000000 present %v", big.Len(), big.Contains("key-0000000"))
			}
			b.ReportMetric(float64(size), "state-bytes")
		})
	}
}

// BenchmarkMemory100kOrdered is BenchmarkMemory100k for a set that has
// made its order of its dots (see BenchmarkMergeWideHorizon): the first
// merge of a state whose horizon it has not seen makes it.
func BenchmarkMemory100kOrdered(b *testing.B) {
	keys := keys100k()
	var per float64
	for b.Loop() {
		per = heapDelta(func() any {
			s := New[string]("us-east-1")
			for _, k := range keys {
				s.Add(k)
			}
			z := New[string]("Z")
			z.Add("x")
			z.Remove("x")
			z.Collect(z.Version()) // a horizon s has not seen
			z.k.Context().Add(vclock.Dot{Replica: "us-east-1", Seq: 1})
			s.Merge(z)
			if s.Contains(keys[0]) {
				b.Fatal("the merge did not drop the element z has seen")
			}
			return s
		}) / n100k
	}
	b.ReportMetric(per, "B/elem")
}
