package ormap

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestResetCollectedPastAGapElsewhere: a gap in another writer's dots
// that never fills (its op refused everywhere, or never sent) does not
// stop the collection of a reset whose chain the replicas have seen
// whole. It used to stop every reset's for good.
func TestResetCollectedPastAGapElsewhere(t *testing.T) {
	a, b, e := New[string, *Counter]("a"), New[string, *Counter]("b"), New[string, *Counter]("e")
	e1 := e.At("x").Add(1)
	e.At("y").Add(1) // e:2, which reaches nobody
	e3 := e.At("z").Add(1)
	for _, m := range []*counterMap{a, b} {
		mustApply(t, m, e1, e3)
		if !m.HasGaps() {
			t.Fatalf("%s: no gap", m.ID())
		}
	}
	mustApply(t, b, a.At("k").Add(2), a.At("k").Add(3))
	mustApply(t, a, b.Delete("k"))
	a.CollectVersions([]vclock.Clock{b.Version()})
	b.CollectVersions([]vclock.Clock{a.Version()})
	if len(a.s.resetDots) != 0 || len(b.s.resetDots) != 0 {
		t.Fatalf("%d and %d reset leaves left past a gap of another writer", len(a.s.resetDots), len(b.s.resetDots))
	}
	if pending, collected := b.Garbage(); pending != 0 || collected != 2 {
		t.Fatalf("b: Garbage() = %d pending, %d collected; want the delete's record and reset collected", pending, collected)
	}
	if !a.HasGaps() || !b.HasGaps() {
		t.Fatal("the gap filled")
	}
	if a.Fingerprint() != b.Fingerprint() || !a.Equal(b) {
		t.Fatal("a and b differ after collecting")
	}
	if a.Has("k") || a.At("x").Value() != 1 || a.At("z").Value() != 1 || a.Has("y") {
		t.Fatalf("a holds k %v, x %d, z %d, y %v", a.Has("k"), a.At("x").Value(), a.At("z").Value(), a.Has("y"))
	}
}

// TestResetKeptWhileItsChainHasAGap: a replica whose context lacks a leaf
// of a chain its reset covers keeps the reset, though every peer's
// version says it may go (the chain's writer has finished and is no
// peer): a late state that still holds that leaf would bring it back.
func TestResetKeptWhileItsChainHasAGap(t *testing.T) {
	w, x, y := New[string, *Counter]("w"), New[string, *Counter]("x"), New[string, *Counter]("y")
	w.At("k").Add(1) // w:1
	late := w.Clone()
	w.At("k").Add(2)       // w:2, dropping w:1
	w3 := w.At("k").Add(4) // w:3, dropping w:2
	mustApply(t, x, w3)    // x holds w:3 (7), w:2 as dropped, and not w:1
	if x.At("k").Value() != 7 {
		t.Fatalf("k is %d at x, want 7", x.At("k").Value())
	}
	del := x.Delete("k")
	mustApply(t, y, del)
	x.CollectVersions([]vclock.Clock{y.Version()})
	y.CollectVersions([]vclock.Clock{x.Version()})
	if len(x.s.resetDots) != 1 || len(y.s.resetDots) != 1 {
		t.Fatalf("%d and %d reset leaves left; their contexts lack w:1", len(x.s.resetDots), len(y.s.resetDots))
	}
	// The note that stays shows as pending, beside the record of w:3's
	// drop of w:2 (a dot x had not seen), which y's version does not
	// hold; the delete's record, which it does, is collected.
	if pending, collected := x.Garbage(); pending != 2 || collected != 1 {
		t.Fatalf("x: Garbage() = %d pending, %d collected; want 2 and 1", pending, collected)
	}
	// The writer's old state arrives late: its leaf w:1 is covered by the
	// reset, which drops it.
	for _, m := range []*counterMap{x, y} {
		m.Merge(late)
		if m.Has("k") {
			t.Fatalf("%s: k is back, at %d", m.ID(), m.At("k").Value())
		}
	}
	x.Merge(y)
	y.Merge(x)
	if !x.Equal(y) || x.Has("k") {
		t.Fatalf("x and y differ, or hold k (%v)", x.Has("k"))
	}
}
