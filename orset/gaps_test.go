package orset

import "testing"

// A set that took a writer's second op without its first has a gap: its
// version leaves the second out, and HasGaps says so until the first
// arrives. A remove's own dot makes a gap as an add's does.
func TestHasGaps(t *testing.T) {
	w := New[string]("w")
	ops := []Op[string]{w.Add("x"), w.Add("y"), w.Remove("x")}
	s := New[string]("s")
	if s.HasGaps() {
		t.Fatal("an empty set has gaps")
	}
	for _, i := range []int{2, 0} {
		if err := s.Apply(ops[i]); err != nil {
			t.Fatal(err)
		}
		if !s.HasGaps() {
			t.Fatalf("after op %d alone: no gaps reported", i)
		}
	}
	if err := s.Apply(ops[1]); err != nil {
		t.Fatal(err)
	}
	if s.HasGaps() || !s.Version().Equal(w.Version()) || s.Fingerprint() != w.Fingerprint() {
		t.Fatalf("with every op: gaps %v, version %v (want %v)", s.HasGaps(), s.Version(), w.Version())
	}
}
