package lwwmap

import (
	"bytes"
	"errors"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// A map whose keys are of an interface type takes what msgpack decodes:
// a peer's key written as an array decodes as a slice, which cannot be a
// key. It panicked the receiver (hash of an unhashable type); it is
// refused as malformed, changing nothing, in an op and in a state.
func TestUncomparableKeyFromPeerRefused(t *testing.T) {
	ft := &fakeTime{now: start}
	src := New[any, string]("b", clock.New(clock.WithSource(ft.source(1))))
	op, err := src.Put(int64(7), "v").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	st, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The key, 7 as the map writes it (d0 07: an int8, the form a decoder
	// gives a small number in an interface), becomes a one-element array
	// of 7 (91 07): containers count values, not bytes, so the rest stays
	// well formed.
	key := []byte{0xd0, 0x07, 0xa1, 'v'}
	forge := func(b []byte) []byte {
		i := bytes.Index(b, key)
		if i < 0 {
			t.Fatalf("no key 7 before the value in % x", b)
		}
		return append(append(append([]byte(nil), b[:i]...), 0x91, 0x07), b[i+2:]...)
	}
	m := New[any, string]("a", clock.New(clock.WithSource(ft.source(0))))
	if _, err := m.ApplyBinary(forge(op)); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("ApplyBinary of a put of a slice key: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if _, err := m.MergeBinary(forge(st)); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("MergeBinary of a state holding a slice key: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if m.Len() != 0 || m.Version().Len() != 0 {
		t.Errorf("refused input changed the map: %d keys, version %v", m.Len(), m.Version())
	}
}
