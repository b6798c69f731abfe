package orset

import (
	"testing"
)

// In a set of elements of an interface type, a peer holds what msgpack
// decodes: 1, added as an int, arrives as an int8. The adding replica
// held it as an int, so one concurrent add of 1 elsewhere left it with
// two elements (int 1 and int8 1) where every other replica had one, and
// each replica showed another fingerprint. Elements holding interfaces
// are held in the form a decoder gives them, whoever made them.
func TestNumbersInInterfaceElementsAreOneElement(t *testing.T) {
	a, b, c := New[any]("a"), New[any]("b"), New[any]("c")
	x, y := a.Add(1), c.Add(int64(1))
	bx, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	by, err := y.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		s *Set[any]
		b []byte
	}{{b, bx}, {b, by}, {a, by}, {c, bx}} {
		if _, err := step.s.ApplyBinary(step.b); err != nil {
			t.Fatal(err)
		}
	}
	if a.Len() != 1 || b.Len() != 1 || c.Len() != 1 {
		t.Errorf("one element added twice: %d, %d and %d elements", a.Len(), b.Len(), c.Len())
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() != c.Fingerprint() || !a.Equal(b) || !a.Equal(c) {
		t.Errorf("one state, fingerprints %x, %x, %x", a.Fingerprint(), b.Fingerprint(), c.Fingerprint())
	}
	for _, e := range []any{1, int8(1), int64(1), uint(1)} {
		if !a.Contains(e) || !b.Contains(e) {
			t.Errorf("Contains(%T %v) = %v at a, %v at b", e, e, a.Contains(e), b.Contains(e))
		}
	}
	if op := a.Remove(1); op.Err() != nil || a.Len() != 0 {
		t.Errorf("Remove(1): %v; %d elements left", op.Err(), a.Len())
	}
	// A struct in an interface decodes as a map, which no set can hold:
	// it is refused where it is added, as every peer would refuse it.
	type pt struct{ X int }
	if op := a.Add(pt{1}); op.Err() == nil {
		t.Errorf("Add of a struct in an interface: no error, but no peer could take it")
	}
}
