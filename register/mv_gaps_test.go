package register

import "testing"

// A register that took a writer's second write without its first has a
// gap: its version leaves the second out, and HasGaps says so until the
// first arrives.
func TestMVHasGaps(t *testing.T) {
	w := NewMV[string]("w")
	first, second := w.Set("a"), w.Set("b")
	m := NewMV[string]("m")
	if m.HasGaps() {
		t.Fatal("an empty register has gaps")
	}
	if err := m.Apply(second); err != nil {
		t.Fatal(err)
	}
	if !m.HasGaps() {
		t.Fatal("after the second write alone: no gaps reported")
	}
	if err := m.Apply(first); err != nil {
		t.Fatal(err)
	}
	if m.HasGaps() || !m.Version().Equal(w.Version()) || m.Fingerprint() != w.Fingerprint() {
		t.Fatalf("with both writes: gaps %v, version %v (want %v)", m.HasGaps(), m.Version(), w.Version())
	}
}
