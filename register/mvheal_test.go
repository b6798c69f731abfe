package register

import (
	"slices"
	"testing"
)

// TestMVHealDropsEquivocatedWrite: a peer sends two replicas two
// different writes under one of its dots. Their fingerprints (the dots)
// agree, their content fingerprints do not, and merges leave each with
// its own value for good. Healing with each other's states drops both,
// whichever heals first, and keeps the honest value beside them.
func TestMVHealDropsEquivocatedWrite(t *testing.T) {
	ox, oy := NewMV[string]("evil").Set("x"), NewMV[string]("evil").Set("y") // one dot, two values
	if ox.dot != oy.dot {
		t.Fatalf("dots %v and %v", ox.dot, oy.dot)
	}
	honest := NewMV[string]("h").Set("h")
	a, b, c := NewMV[string]("a"), NewMV[string]("b"), NewMV[string]("c")
	for m, op := range map[*MV[string]]MVOp[string]{a: ox, b: oy, c: ox} {
		for _, o := range []MVOp[string]{honest, op} {
			if err := m.Apply(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if a.Fingerprint() != b.Fingerprint() || a.ContentFingerprint() == b.ContentFingerprint() || a.ContentFingerprint() != c.ContentFingerprint() {
		t.Fatal("the fingerprints do not show what they should")
	}
	am := a.Clone()
	am.Merge(b)
	if !slices.Contains(am.Values(), "x") || slices.Contains(am.Values(), "y") {
		t.Fatalf("a merge gave %v; the test no longer shows what Heal adds", am.Values())
	}
	sa, sb := a.Clone(), b.Clone()
	a.Heal(sb)
	st, err := sa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := b.HealBinary(st); err != nil || !changed {
		t.Fatalf("HealBinary: %v, changed %v", err, changed)
	}
	c.Heal(a.Clone())
	for _, m := range []*MV[string]{a, b, c} {
		if got := m.Values(); !slices.Equal(got, []string{"h"}) || !m.Equal(a) || m.ContentFingerprint() != a.ContentFingerprint() {
			t.Fatalf("after healing: %v", got)
		}
		if m.k.SameValue != nil {
			t.Fatal("the heal left its value comparison set")
		}
	}
	if _, err := b.HealBinary([]byte{0xc1}); err == nil {
		t.Fatal("HealBinary took a malformed state")
	}
}
