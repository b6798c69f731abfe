package register

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// TestLWWHealTakesOneOfTwoValuesUnderOneStamp: a peer sends two replicas
// two different values under one write (its timestamp and replica). Their
// fingerprints agree, their content fingerprints do not, and merges leave
// each with its own value for good. Healing with each other's states, in
// either order or at once, leaves both with the same one.
func TestLWWHealTakesOneOfTwoValuesUnderOneStamp(t *testing.T) {
	const at = int64(1_800_000_000_000_000_000)
	fixed := func(wall int64) *clock.Clock { return clock.New(clock.WithSource(func() int64 { return wall })) }
	ox := NewLWW[string]("evil", fixed(at)).Set("x")
	oy := NewLWW[string]("evil", fixed(at)).Set("y")
	mk := func(op LWWOp[string]) *LWW[string] {
		r := NewLWW[string]("h", fixed(at+1000))
		if err := r.Apply(op); err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b, c := mk(ox), mk(oy), mk(ox)
	if a.Fingerprint() != b.Fingerprint() || a.ContentFingerprint() == b.ContentFingerprint() || a.ContentFingerprint() != c.ContentFingerprint() {
		t.Fatal("the fingerprints do not show what they should")
	}
	am := a.Clone()
	am.Merge(b)
	if v, _ := am.Get(); v != "x" {
		t.Fatalf("a merge gave %q; the test no longer shows what Heal adds", v)
	}
	sa, sb := a.Clone(), b.Clone()
	a.Heal(sb)
	st, err := sa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.HealBinary(st); err != nil {
		t.Fatal(err)
	}
	c.Heal(b.Clone())
	va, _ := a.Get()
	for _, r := range []*LWW[string]{a, b, c} {
		if v, _ := r.Get(); v != va || !r.Equal(a) || r.ContentFingerprint() != a.ContentFingerprint() {
			t.Fatalf("after healing: %q, a %q", v, va)
		}
	}
	if _, err := b.HealBinary([]byte{0xc1}); err == nil {
		t.Fatal("HealBinary took a malformed state")
	}
}
