package orset

import (
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// A NaN is not equal to itself: as an element it could never be found or
// removed, and each add would make another element. Add and Remove refuse
// it, and so does every decoder, changing nothing.
func TestNaNElementRefused(t *testing.T) {
	s := New[float64]("a")
	op := s.Add(math.NaN())
	if !errors.Is(op.Err(), codec.ErrKey) {
		t.Errorf("Add(NaN): op error %v, want one matching codec.ErrKey", op.Err())
	}
	s.Add(math.NaN())
	if s.Len() != 0 {
		t.Fatalf("after two adds of NaN the set holds %d elements", s.Len())
	}
	if op := s.Remove(math.NaN()); !errors.Is(op.Err(), codec.ErrKey) {
		t.Errorf("Remove(NaN): op error %v, want one matching codec.ErrKey", op.Err())
	}
	type pt struct{ X, Y float64 }
	if op := New[pt]("a").Add(pt{1, math.NaN()}); !errors.Is(op.Err(), codec.ErrKey) {
		t.Errorf("Add of a struct holding NaN: op error %v, want one matching codec.ErrKey", op.Err())
	}

	// A peer's op adding NaN.
	w := codec.NewWriter(codec.KindSetAdd, 16)
	w.Table("b")
	w.Float(math.NaN())
	w.Uint(1)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	v := s.Version()
	if _, err := s.ApplyBinary(b); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("ApplyBinary of an add of NaN: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if s.Len() != 0 || !s.Version().Equal(v) {
		t.Errorf("the refused op changed the set: %d elements, version %v", s.Len(), s.Version())
	}

	// A peer's state holding NaN.
	sw := New[float64]("b")
	sw.Add(1)
	state, _ := sw.MarshalBinary()
	one := codec.NewWriter(codec.KindSetAdd, 16) // the encoding of 1.0 and of NaN have one length
	one.Float(1)
	ob, _ := one.Bytes()
	nan := codec.NewWriter(codec.KindSetAdd, 16)
	nan.Float(math.NaN())
	nb, _ := nan.Bytes()
	forged := replaceLast(state, ob[len(ob)-9:], nb[len(nb)-9:])
	if _, err := s.MergeBinary(forged); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("MergeBinary of a state holding NaN: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if err := s.UnmarshalBinary(forged); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("UnmarshalBinary of a state holding NaN: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if s.Len() != 0 {
		t.Errorf("the refused state changed the set: %d elements", s.Len())
	}
}

// replaceLast replaces the last occurrence of old in b by new, of the
// same length.
func replaceLast(b, old, new []byte) []byte {
	out := append([]byte(nil), b...)
	for i := len(out) - len(old); i >= 0; i-- {
		if string(out[i:i+len(old)]) == string(old) {
			copy(out[i:], new)
			return out
		}
	}
	panic("not found")
}

// −0 and +0 are one element to Go's ==, but encode and hash differently:
// a replica that held the element under both forms, once from each of two
// concurrent adds, subtracted the wrong hashes when it removed it, and
// its fingerprint no longer matched its (empty) content, nor that of a
// replica that took its state. Elements are held with +0 only.
func TestNegativeZeroIsZero(t *testing.T) {
	neg := math.Copysign(0, -1)
	a, b := New[float64]("a"), New[float64]("b")
	x, y := a.Add(neg), b.Add(0)
	if err := a.Apply(y); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(x); err != nil {
		t.Fatal(err)
	}
	for e := range a.All() {
		if math.Signbit(e) {
			t.Errorf("a holds −0")
		}
	}
	fresh := New[float64]("c")
	st, _ := a.MarshalBinary()
	if _, err := fresh.MergeBinary(st); err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() != fresh.Fingerprint() {
		t.Errorf("one element, three fingerprints: %x %x %x", a.Fingerprint(), b.Fingerprint(), fresh.Fingerprint())
	}
	rm := a.Remove(neg)
	if err := b.Apply(rm); err != nil {
		t.Fatal(err)
	}
	empty := New[float64]("d").Fingerprint()
	if a.Len() != 0 || b.Len() != 0 {
		t.Fatalf("the element is left: %d, %d", a.Len(), b.Len())
	}
	if a.Fingerprint() != empty || b.Fingerprint() != empty {
		t.Errorf("empty sets with fingerprints %x and %x, want %x", a.Fingerprint(), b.Fingerprint(), empty)
	}

	// A peer's op writing −0 is taken as +0.
	w := codec.NewWriter(codec.KindSetAdd, 16)
	w.Table("e")
	w.Float(neg)
	w.Uint(1)
	ob, _ := w.Bytes()
	c := New[float64]("c")
	if _, err := c.ApplyBinary(ob); err != nil {
		t.Fatal(err)
	}
	d := New[float64]("d")
	if _, err := d.ApplyBinary(ob); err != nil {
		t.Fatal(err)
	}
	mine := New[float64]("e")
	mine.Add(0)
	if c.Fingerprint() != mine.Fingerprint() {
		t.Errorf("a peer's add of −0 fingerprints as %x, its add of +0 as %x", c.Fingerprint(), mine.Fingerprint())
	}
}
