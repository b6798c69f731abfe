package dotkernel

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestGhostRunsMatchOneByOne: adding sorted, disjoint runs at once
// (addRuns: at the end, or merged in one pass) leaves the spans that
// adding them one by one leaves, wherever they fall among the spans
// already there.
func TestGhostRunsMatchOneByOne(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const id = vclock.ReplicaID("a")
		var batch, single ghostSet
		for range rapid.IntRange(0, 30).Draw(t, "spans") {
			lo := rapid.Uint64Range(1, 200).Draw(t, "lo")
			hi := lo + rapid.Uint64Range(0, 5).Draw(t, "len")
			batch.addRange(id, lo, hi)
			single.addRange(id, lo, hi)
		}
		var runs []gspan
		next := rapid.Uint64Range(1, 220).Draw(t, "first")
		for range rapid.IntRange(0, 12).Draw(t, "runs") {
			lo := next + rapid.Uint64Range(0, 10).Draw(t, "gap")
			hi := lo + rapid.Uint64Range(0, 6).Draw(t, "run")
			runs = append(runs, gspan{lo, hi})
			next = hi + 2 // disjoint and not adjacent, as a context's runs are
		}
		batch.addRuns(id, slices.Clone(runs))
		for _, r := range runs {
			single.addRange(id, r.lo, r.hi)
		}
		if !slices.Equal(batch.m[id], single.m[id]) {
			t.Fatalf("adding %v at once gives %v, one by one %v", runs, batch.m[id], single.m[id])
		}
	})
}
