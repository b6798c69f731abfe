package ormap

import (
	"fmt"
	"sync"
	"testing"
)

// TestEquivocationHealed: a hostile writer sends two different writes
// under one dot, one to each replica: to a map of counters, increments
// of different amounts or at different keys; to a map of registers,
// different values. The replicas' fingerprints agree (each hashes the
// dot alone) and their content fingerprints do not. Healing with each
// other's states, in either order or at once, drops the dot on both
// sides; honest writes stay, and a third replica that took one of the
// two writes heals the same way.
func TestEquivocationHealed(t *testing.T) {
	t.Run("counter amounts", func(t *testing.T) {
		checkEquivocation(t, func(m *Map[string, *Counter]) Op { return m.At("e").Add(1) },
			func(m *Map[string, *Counter]) Op { return m.At("e").Add(5) },
			func(m *Map[string, *Counter]) Op { return m.At("h").Add(2) })
	})
	t.Run("counter keys", func(t *testing.T) {
		checkEquivocation(t, func(m *Map[string, *Counter]) Op { return m.At("e").Add(1) },
			func(m *Map[string, *Counter]) Op { return m.At("f").Add(1) },
			func(m *Map[string, *Counter]) Op { return m.At("h").Add(2) })
	})
	t.Run("register values", func(t *testing.T) {
		checkEquivocation(t, func(m *Map[string, *Register[string]]) Op { return m.At("e").Set("yes") },
			func(m *Map[string, *Register[string]]) Op { return m.At("e").Set("no") },
			func(m *Map[string, *Register[string]]) Op { return m.At("h").Set("honest") })
	})
}

func checkEquivocation[V Value[V]](t *testing.T, one, other, honest func(m *Map[string, V]) Op) {
	t.Helper()
	w := New[string, V]("w")
	h := honest(w)
	op1, op2 := one(New[string, V]("evil")), other(New[string, V]("evil"))
	if op1.Dot() != op2.Dot() {
		t.Fatalf("the two writes have dots %v and %v", op1.Dot(), op2.Dot())
	}
	a, b, c := New[string, V]("a"), New[string, V]("b"), New[string, V]("c")
	mustApply(t, a, h, op1)
	mustApply(t, b, h, op2)
	mustApply(t, c, h, op1)
	if a.Fingerprint() != b.Fingerprint() || !a.Version().Equal(b.Version()) {
		t.Fatal("the fingerprints or versions differ; the test no longer shows what the content fingerprint adds")
	}
	if a.ContentFingerprint() == b.ContentFingerprint() {
		t.Fatal("equal content fingerprints for different writes under one dot")
	}
	if a.ContentFingerprint() != c.ContentFingerprint() {
		t.Fatal("different content fingerprints for equal maps")
	}
	// Merges change nothing: each side has seen the dot.
	a.Merge(b.Clone())
	if a.ContentFingerprint() == b.ContentFingerprint() {
		t.Fatal("a merge took the other write")
	}

	// In parts: each heals with the other's whole state cut small, as
	// the engine sends a map larger than a message.
	pa, pb := a.Clone(), b.Clone()
	healInParts(t, pa, b)
	healInParts(t, pb, a)

	// At once: each heals with the other's state as it was.
	sa, sb := a.Clone(), b.Clone()
	a.Heal(sb)
	bin, err := sa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.HealBinary(bin); err != nil {
		t.Fatal(err)
	}
	// One after the other: c heals with a's state after a's heal.
	c.Heal(a.Clone())
	for _, m := range []*Map[string, V]{a, b, c} {
		if m.Len() != 1 || !m.Has("h") {
			t.Fatalf("%s after healing holds %d keys", m.ID(), m.Len())
		}
		if !m.Equal(a) || m.Fingerprint() != a.Fingerprint() || m.ContentFingerprint() != a.ContentFingerprint() {
			t.Fatalf("%s differs from a after healing", m.ID())
		}
		if !m.s.k.Context().Contains(op1.Dot()) {
			t.Fatalf("%s forgot the dot it dropped", m.ID())
		}
	}
	for _, m := range []*Map[string, V]{pa, pb} {
		if !m.Equal(a) || m.Fingerprint() != a.Fingerprint() || m.ContentFingerprint() != a.ContentFingerprint() {
			t.Fatalf("healed in parts, %s differs from a healed whole", m.ID())
		}
	}
	// Neither write comes back, by op or by merge.
	for _, op := range []Op{op1, op2} {
		if err := a.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	a.Merge(sa)
	a.Merge(sb)
	if a.Len() != 1 {
		t.Fatalf("a write under the dropped dot came back: %d keys", a.Len())
	}
}

// TestContentFingerprintConcurrentReaders: readers may compute, and cache,
// the content fingerprint at the same time (run with -race), and all get
// the same one; a write changes it.
func TestContentFingerprintConcurrentReaders(t *testing.T) {
	m := New[string, *Counter]("a")
	for i := range 100 {
		m.At(fmt.Sprint(i)).Add(int64(i + 1))
	}
	want := m.ContentFingerprint()
	m.s.cfp.Store(nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got := m.ContentFingerprint(); got != want {
					errs <- fmt.Errorf("content fingerprint %#x, want %#x", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m.At("0").Add(1)
	if m.ContentFingerprint() == want {
		t.Fatal("an increment left the content fingerprint as it was")
	}
}

// TestResetTiesResolvedAlike: deletes at two replicas, each after one of
// two different writes a hostile writer made under one dot, leave reset
// entries for one chain at one sequence number with different totals.
// A later leaf of the chain is counted the same at every replica,
// whichever order the two resets arrived in: of two entries at one
// sequence number, the greater total is subtracted.
func TestResetTiesResolvedAlike(t *testing.T) {
	evil := New[string, *Counter]("evil")
	twin := evil.Clone()
	one := evil.At("b").Add(-1)
	other := twin.At("b").Add(1) // the same dot
	later := evil.At("b").Add(1) // continues the chain: total 0
	x, y := New[string, *Counter]("x"), New[string, *Counter]("y")
	mustApply(t, x, other)
	mustApply(t, y, one)
	dx, dy := x.Delete("b"), y.Delete("b")
	a, b := New[string, *Counter]("a"), New[string, *Counter]("b")
	mustApply(t, a, dx, dy, later)
	mustApply(t, b, dy, dx, later)
	va, vb := a.At("b").Value(), b.At("b").Value()
	if va != vb || !a.Equal(b) {
		t.Fatalf("b reads %d at a and %d at b", va, vb)
	}
	if want := int64(0 - 1); va != want {
		t.Fatalf("b reads %d, want %d (the later total less the greater reset total)", va, want)
	}
}

// TestEquivocatedResetShows: a hostile writer sends two regions two
// versions of one delete (its reset leaf under one dot, with different
// totals for a chain it reset). Reset leaves are left out of both
// fingerprints (replicas collect them at different times), so only the
// counter values tell: the content fingerprints differ, and healing drops
// the reset on both sides.
func TestEquivocatedResetShows(t *testing.T) {
	h := New[string, *Counter]("h")
	first := h.At("b").Add(5)
	evil := New[string, *Counter]("evil")
	mustApply(t, evil, first)
	del := evil.Delete("b")   // resets h's chain at its total 5
	later := h.At("b").Add(1) // concurrent with the delete: 6 in all
	twin := del
	es := entriesOf(del.leaf, nil)
	es[0].t = 2 // the same delete, saying it saw a total of 2
	twin.leaf = resetLeaf(del.leaf.path(), es)
	a, b := New[string, *Counter]("a"), New[string, *Counter]("b")
	mustApply(t, a, first, del, later)
	mustApply(t, b, first, twin, later)
	if a.At("b").Value() == b.At("b").Value() || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("the scenario did not come about: %d and %d", a.At("b").Value(), b.At("b").Value())
	}
	if a.ContentFingerprint() == b.ContentFingerprint() {
		t.Fatal("equal content fingerprints for different counter values")
	}
	sa := a.Clone()
	a.Heal(b.Clone())
	b.Heal(sa)
	if !a.Equal(b) || a.ContentFingerprint() != b.ContentFingerprint() || a.At("b").Value() != 6 {
		t.Fatalf("after healing: %d and %d, want 6 (neither version of the delete)", a.At("b").Value(), b.At("b").Value())
	}
}

// healInParts heals into with from's whole state cut into parts of 48
// bytes, merged in order with HealChunkBinary.
func healInParts[V Value[V]](t *testing.T, into, from *Map[string, V]) {
	t.Helper()
	parts, _, err := from.ChunksBinary(nil, 48)
	if err != nil || len(parts) < 2 {
		t.Fatalf("%d parts: %v", len(parts), err)
	}
	for _, p := range parts {
		if _, err := into.HealChunkBinary(p); err != nil {
			t.Fatal(err)
		}
	}
}
