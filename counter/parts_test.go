package counter

import (
	"errors"
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

// A bounded counter cut into parts gives, merged in any order, with
// duplicates, and with a lost part sent again later, what merging it whole
// gives; each part is within its budget; and at no point between parts
// does the receiver show a value below the floor.
func TestBoundedPartsMergeLikeTheWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		floor := rapid.Int64Range(-5, 5).Draw(t, "floor")
		src, dst := NewBounded("src", floor), NewBounded("dst", floor)
		writers := rapid.IntRange(0, 40).Draw(t, "writers")
		for i := range writers {
			w := NewBounded(vclock.ReplicaID(fmt.Sprintf("writer-%02d", i)), floor)
			w.Merge(src) // it knows the writers before it, and may give them rights
			if _, err := w.Inc(rapid.Uint64Range(0, 20).Draw(t, "inc")); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Dec(rapid.Uint64Range(0, 5).Draw(t, "dec")); err != nil && !errors.Is(err, ErrInsufficientRights) {
				t.Fatal(err)
			}
			if i > 0 {
				to := vclock.ReplicaID(fmt.Sprintf("writer-%02d", rapid.IntRange(0, i-1).Draw(t, "to")))
				if _, err := w.Transfer(to, rapid.Uint64Range(0, 3).Draw(t, "give")); err != nil && !errors.Is(err, ErrInsufficientRights) {
					t.Fatal(err)
				}
			}
			src.Merge(w)
			if rapid.Bool().Draw(t, "dst has it") {
				dst.Merge(w)
			}
		}
		budget := rapid.IntRange(60, 400).Draw(t, "budget")
		parts, ordered, err := src.ChunksBinary(nil, budget)
		if err != nil {
			t.Fatal(err)
		}
		if ordered != len(parts) {
			t.Fatalf("%d of %d parts in any order, want all", ordered, len(parts))
		}
		if writers >= 30 && budget < 200 && len(parts) < 2 {
			t.Fatalf("%d writers in %d parts of %d bytes: want several", writers, len(parts), budget)
		}
		want := dst.Clone()
		want.Merge(src)
		got := dst.Clone()
		if parts == nil {
			whole, _ := src.MarshalBinary()
			if len(whole) > budget {
				t.Fatalf("no parts, yet the whole takes %d bytes, over %d", len(whole), budget)
			}
			parts = [][]byte{whole}
		}
		// Deliveries: each part in a random order, some duplicated, some
		// lost the first time and sent again at the end.
		var sends, resends [][]byte
		for _, p := range rapid.Permutation(parts).Draw(t, "order") {
			if len(p) > budget {
				t.Fatalf("part of %d bytes, budget %d", len(p), budget)
			}
			switch rapid.IntRange(0, 3).Draw(t, "fate") {
			case 0:
				resends = append(resends, p) // lost, sent again later
			case 1:
				sends = append(sends, p, p)
			default:
				sends = append(sends, p)
			}
		}
		for _, p := range append(sends, resends...) {
			if _, err := got.MergeChunkBinary(p); err != nil {
				t.Fatal(err)
			}
			if got.Value() < floor {
				t.Fatalf("value %d below the floor %d between parts", got.Value(), floor)
			}
		}
		if !got.Equal(want) || got.Value() != want.Value() {
			t.Fatalf("parts give %d, the whole %d", got.Value(), want.Value())
		}
	})
}
