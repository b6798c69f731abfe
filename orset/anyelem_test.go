package orset

import (
	"errors"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// A set of elements of an interface type takes what msgpack decodes: a
// peer's element written as an array decodes as a slice, which cannot be
// a map key. It panicked the receiver (hash of an unhashable type); it
// is refused as malformed, changing nothing, in an op and in a state.
func TestUncomparableElementFromPeerRefused(t *testing.T) {
	w := codec.NewWriter(codec.KindSetAdd, 16)
	w.Table("b")
	w.Array(1)
	w.Uint(1)
	w.Uint(1)
	op, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	s := New[any]("a")
	if _, err := s.ApplyBinary(op); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("ApplyBinary of an add of a slice: %v, want a refusal matching codec.ErrMalformed", err)
	}
	// A state holding one element, 7, with the element's byte replaced
	// by a one-element array of 7 (0x91 0x07): the state's lengths are
	// all counts, so the bytes stay well formed but for the element.
	src := New[int]("b")
	src.Add(7)
	st, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var forged []byte
	for i := len(st) - 1; i >= 0; i-- {
		if st[i] == 0x07 {
			forged = append(append(append([]byte(nil), st[:i]...), 0x91, 0x07), st[i+1:]...)
			break
		}
	}
	if _, err := s.MergeBinary(forged); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("MergeBinary of a state holding a slice: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if s.Len() != 0 || s.Version().Len() != 0 {
		t.Errorf("refused input changed the set: %d elements, version %v", s.Len(), s.Version())
	}
}
