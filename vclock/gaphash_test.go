package vclock_test

import (
	"maps"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestGapHashOrderIndependent checks that equal contexts built in
// different orders, by single adds, ranges and merges, have one gap
// hash, 0 exactly when they are compact.
func TestGapHashOrderIndependent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genOps().Draw(t, "ops")
		a, _ := buildCtx(ops)
		perm := rapid.Permutation(ops).Draw(t, "perm")
		cut := rapid.IntRange(0, len(perm)).Draw(t, "cut")
		b, _ := buildCtx(perm[:cut])
		rest, _ := buildCtx(perm[cut:])
		b.Merge(&rest)
		if !a.Equal(&b) {
			t.Fatalf("model: %v and %v should be equal", &a, &b)
		}
		if ha, hb := a.GapHash(), b.GapHash(); ha != hb {
			t.Fatalf("gap hash of %v: %#x, of the same events in another order: %#x", &a, ha, hb)
		}
		if (a.GapHash() == 0) != a.IsCompact() {
			t.Fatalf("gap hash %#x of %v, compact %v", a.GapHash(), &a, a.IsCompact())
		}
	})
}

// TestGapHashDiffers checks that contexts at one version holding
// different events past it have different gap hashes, and contexts
// holding the same events the same hash.
func TestGapHashDiffers(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, ma := buildCtx(genOps().Draw(t, "a"))
		b, mb := buildCtx(genOps().Draw(t, "b"))
		va, vb := a.Version(), b.Version()
		if !va.Equal(vb) {
			// Bring both to one version: each takes the other's compact
			// part, which adds no event past the joined version that
			// either did not hold.
			for id, n := range vb.All() {
				a.AddRange(id, 1, n)
			}
			for id, n := range va.All() {
				b.AddRange(id, 1, n)
			}
			ma, mb = dotsOf(t, &a), dotsOf(t, &b)
		}
		if !a.Version().Equal(b.Version()) {
			return // joining the prefixes filled a gap on one side only
		}
		same := maps.Equal(ma, mb)
		if ha, hb := a.GapHash(), b.GapHash(); (ha == hb) != same {
			t.Fatalf("%v and %v (same events %v): gap hashes %#x and %#x", &a, &b, same, ha, hb)
		}
	})
	// Fixed cases: one version, runs past it that differ at one end, in
	// their replica, or in their number.
	pairs := [][2][]vclock.Range{
		{{{Replica: "w", Lo: 5, Hi: 5}}, {{Replica: "w", Lo: 6, Hi: 6}}},
		{{{Replica: "w", Lo: 5, Hi: 6}}, {{Replica: "w", Lo: 5, Hi: 7}}},
		{{{Replica: "w", Lo: 5, Hi: 7}}, {{Replica: "w", Lo: 6, Hi: 7}}},
		{{{Replica: "w", Lo: 5, Hi: 5}}, {{Replica: "x", Lo: 5, Hi: 5}}},
		{{{Replica: "w", Lo: 5, Hi: 5}}, {{Replica: "w", Lo: 5, Hi: 5}, {Replica: "w", Lo: 7, Hi: 7}}},
		{{{Replica: "w", Lo: 5, Hi: 5}}, {{Replica: "w", Lo: 5, Hi: 5}, {Replica: "x", Lo: 7, Hi: 7}}},
	}
	for _, p := range pairs {
		var a, b vclock.Context
		for _, c := range []*vclock.Context{&a, &b} {
			c.AddRange("w", 1, 3)
			c.AddRange("x", 1, 3)
		}
		for _, r := range p[0] {
			a.AddRange(r.Replica, r.Lo, r.Hi)
		}
		for _, r := range p[1] {
			b.AddRange(r.Replica, r.Lo, r.Hi)
		}
		if !a.Version().Equal(b.Version()) || a.GapHash() == b.GapHash() || a.GapHash() == 0 || b.GapHash() == 0 {
			t.Fatalf("%v %#x, %v %#x", &a, a.GapHash(), &b, b.GapHash())
		}
	}
}
