package lwwmap

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// A NaN key is not equal to itself: each put of it made another entry,
// and no delete or get could reach one. The writers refuse it, and so
// does every decoder, changing nothing.
func TestNaNKeyRefused(t *testing.T) {
	ft := &fakeTime{now: start}
	m := New[float64, string]("a", clock.New(clock.WithSource(ft.source(0))))
	op := m.Put(math.NaN(), "x")
	if _, err := op.MarshalBinary(); !errors.Is(err, codec.ErrKey) {
		t.Errorf("Put(NaN): %v, want an error matching codec.ErrKey", err)
	}
	m.Put(math.NaN(), "y")
	if m.Len() != 0 {
		t.Fatalf("after two puts of NaN the map holds %d keys", m.Len())
	}
	if _, err := m.Delete(math.NaN()).MarshalBinary(); !errors.Is(err, codec.ErrKey) {
		t.Errorf("Delete(NaN): %v, want an error matching codec.ErrKey", err)
	}
	m.Put(1, "one")
	if _, err := m.Expire(math.NaN(), time.Hour).MarshalBinary(); !errors.Is(err, codec.ErrKey) {
		t.Errorf("Expire(NaN): %v, want an error matching codec.ErrKey", err)
	}

	// A peer's put of NaN, as a writer that let it through would send it:
	// the bytes of a put of 1 with the key's eight bytes replaced.
	p := New[float64, string]("b", clock.New(clock.WithSource(ft.source(1))))
	b, err := p.Put(1, "v").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	forged := replaceFloat(t, b, 1, math.NaN())
	v := m.Version()
	if _, err := m.ApplyBinary(forged); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("ApplyBinary of a put of NaN: %v, want a refusal matching codec.ErrMalformed", err)
	}
	st, _ := p.MarshalBinary()
	if _, err := m.MergeBinary(replaceFloat(t, st, 1, math.NaN())); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("MergeBinary of a state holding a NaN key: %v, want a refusal matching codec.ErrMalformed", err)
	}
	if m.Len() != 1 || !m.Version().Equal(v) {
		t.Errorf("refused input changed the map: %d keys, version %v", m.Len(), m.Version())
	}
}

// replaceFloat replaces the one float64 from in b by to.
func replaceFloat(t *testing.T, b []byte, from, to float64) []byte {
	t.Helper()
	enc := func(f float64) []byte {
		w := codec.NewWriter(codec.KindMap, 16)
		w.Float(f)
		out, _ := w.Bytes()
		return out[len(out)-9:]
	}
	old, new := string(enc(from)), enc(to)
	out := append([]byte(nil), b...)
	n := 0
	for i := 0; i+len(old) <= len(out); i++ {
		if string(out[i:i+len(old)]) == old {
			copy(out[i:], new)
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d copies of %v in the bytes", n, from)
	}
	return out
}

// −0 and +0 are one key to Go's ==, but hash differently: a replica whose
// entry of the key came with one and was replaced by a write with the
// other subtracted the wrong hash, and its fingerprint no longer matched
// a replica that took its state. Keys are held with +0 only.
func TestNegativeZeroKeyIsZero(t *testing.T) {
	ft := &fakeTime{now: start}
	neg := math.Copysign(0, -1)
	a := New[float64, string]("a", clock.New(clock.WithSource(ft.source(0))))
	b := New[float64, string]("b", clock.New(clock.WithSource(ft.source(1))))
	x := a.Put(neg, "x")
	ft.now += 10
	if err := b.Apply(x); err != nil {
		t.Fatal(err)
	}
	y := b.Put(0, "y")
	if err := a.Apply(y); err != nil {
		t.Fatal(err)
	}
	for k := range a.Keys() {
		if math.Signbit(k) {
			t.Error("a holds the key −0")
		}
	}
	if v, ok := a.Get(neg); !ok || v != "y" {
		t.Errorf("Get(−0) = %q, %v; want y", v, ok)
	}
	c := New[float64, string]("c", clock.New(clock.WithSource(ft.source(2))))
	st, _ := a.MarshalBinary()
	if _, err := c.MergeBinary(st); err != nil {
		t.Fatal(err)
	}
	if !a.Equal(c) {
		t.Fatal("c differs from the state it took")
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() != c.Fingerprint() {
		t.Errorf("one key, one value, three fingerprints: %x %x %x", a.Fingerprint(), b.Fingerprint(), c.Fingerprint())
	}
}
