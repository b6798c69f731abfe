package counter

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestPartsMergeLikeTheWhole checks that a counter cut into parts, merged
// in any order, gives what merging it whole gives, each part within its
// budget.
func TestPartsMergeLikeTheWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src, dst := NewPN("src"), NewPN("dst")
		for i := range rapid.IntRange(0, 60).Draw(t, "writers") {
			w := NewPN(vclock.ReplicaID(fmt.Sprintf("writer-%02d", i)))
			if _, err := w.Add(rapid.Int64Range(-9, 9).Draw(t, "n")); err != nil {
				t.Fatal(err)
			}
			src.Merge(w)
			if rapid.Bool().Draw(t, "dst has it") {
				dst.Merge(w)
			}
		}
		var version []byte
		if rapid.Bool().Draw(t, "delta") {
			var err error
			if version, err = dst.VersionBinary(); err != nil {
				t.Fatal(err)
			}
		}
		budget := rapid.IntRange(40, 400).Draw(t, "budget")
		parts, ordered, err := src.ChunksBinary(version, budget)
		if err != nil {
			t.Fatal(err)
		}
		if ordered != len(parts) {
			t.Fatalf("%d of %d parts in any order, want all", ordered, len(parts))
		}
		want := dst.Clone()
		want.Merge(src)
		got := dst.Clone()
		for _, p := range rapid.Permutation(parts).Draw(t, "order") {
			if len(p) > budget {
				t.Fatalf("part of %d bytes, budget %d", len(p), budget)
			}
			if _, err := got.MergeChunkBinary(p); err != nil {
				t.Fatal(err)
			}
		}
		if parts == nil {
			whole, _ := src.MarshalBinary()
			if version != nil {
				whole, _ = src.DeltaSinceBinary(version)
			}
			if len(whole) > budget {
				t.Fatalf("no parts, yet the whole takes %d bytes, over %d", len(whole), budget)
			}
			got.Merge(src)
		}
		if !got.Equal(want) || got.Value() != want.Value() {
			t.Fatalf("parts give %d, the whole %d", got.Value(), want.Value())
		}
	})
}
