package codec_test

import (
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
)

// The hashes depend only on the bytes hashed: a string and its bytes hash
// alike, and HashValue hashes what PutValue would write.
func TestHashesDependOnContentOnly(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seed := rapid.Uint64().Draw(t, "seed")
		s := rapid.String().Draw(t, "s")
		if codec.HashString(seed, s) != codec.HashBytes(seed, []byte(s)) {
			t.Fatalf("HashString and HashBytes differ on %q", s)
		}
		if h, err := codec.HashValue(seed, s); err != nil || h != codec.HashString(seed, s) {
			t.Fatalf("HashValue(%q) = %#x, %v", s, h, err)
		}
		i := rapid.Int64().Draw(t, "i")
		if h, err := codec.HashValue(seed, i); err != nil || h != codec.HashUint(seed, uint64(i)) {
			t.Fatalf("HashValue(%d) = %#x, %v", i, h, err)
		}
		// Where a string is cut matters.
		if cut := rapid.IntRange(0, len(s)).Draw(t, "cut"); cut > 0 {
			a := codec.HashString(codec.HashString(seed, s[:cut]), s[cut:])
			b := codec.HashString(codec.HashString(seed, s[:cut-1]), s[cut-1:])
			if a == b {
				t.Fatalf("cutting %q at %d or %d hashes alike", s, cut, cut-1)
			}
		}
	})
}

func TestHashValueOfUserTypes(t *testing.T) {
	type point struct{ X, Y int }
	v := point{3, 4}
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := codec.HashValue(codec.HashSeed, v); err != nil || h != codec.HashBytes(codec.HashSeed, b) {
		t.Fatalf("HashValue(%v) = %#x, %v", v, h, err)
	}
	if err := codec.CheckValue(v); err != nil {
		t.Fatalf("CheckValue(%v): %v", v, err)
	}
	if err := codec.CheckValue[any](func() {}); err == nil {
		t.Fatal("CheckValue accepts a func")
	}
	if _, err := codec.HashValue[any](codec.HashSeed, func() {}); err == nil {
		t.Fatal("HashValue accepts a func")
	}
	if err := codec.CheckValue("plain"); err != nil {
		t.Fatal(err)
	}
}

// A value holding a Go map hashes the same whatever order msgpack writes
// its entries in; a value holding none hashes by its encoding, as before.
func TestHashValueOfMapsIgnoresOrder(t *testing.T) {
	type inner struct {
		Tags map[int]string
		N    int
	}
	m := map[string]inner{}
	for i := range 12 {
		m[fmt.Sprint("k", i)] = inner{Tags: map[int]string{i: "a", i + 1: "b", i + 2: "c"}, N: i}
	}
	want, err := codec.HashValue(codec.HashSeed, m)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if got, _ := codec.HashValue(codec.HashSeed, m); got != want {
			t.Fatalf("one map value hashed %x, then %x", want, got)
		}
	}
	m["k3"] = inner{Tags: map[int]string{3: "a", 4: "b", 5: "x"}, N: 3}
	if got, _ := codec.HashValue(codec.HashSeed, m); got == want {
		t.Fatal("a map with one value changed hashes the same")
	}
	// Keys and values do not trade places: {a: b} is not {b: a}.
	ab, _ := codec.HashValue(codec.HashSeed, map[string]string{"a": "b"})
	ba, _ := codec.HashValue(codec.HashSeed, map[string]string{"b": "a"})
	if ab == ba {
		t.Fatal("{a: b} and {b: a} hash the same")
	}
	// No map: the hash of the encoding, unchanged.
	type plain struct {
		A string
		B []int
	}
	p := plain{"x", []int{1, 2}}
	b, err := msgpack.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := codec.HashValue(codec.HashSeed, p); got != codec.HashBytes(codec.HashSeed, b) {
		t.Fatal("a value without maps no longer hashes by its encoding")
	}
}

// HeldValue returns a value holding interfaces as a decoder gives it
// back, so that it hashes as every peer's copy does; a value that holds
// none comes back as it is.
func TestHeldValueHashesAsThePeersCopy(t *testing.T) {
	for _, v := range []any{5, -3, uint(7), int64(1) << 40, int32(9), 1.5, float32(2.5), "s", []byte("b"), true, nil,
		struct{ A any }{2}, map[string]any{"n": 1}, []any{1, "x", map[string]any{"m": uint16(3)}}} {
		held, err := codec.HeldValue[any](v)
		if err != nil {
			t.Fatalf("%T %v: %v", v, v, err)
		}
		b, err := msgpack.Marshal(held)
		if err != nil {
			t.Fatal(err)
		}
		var peer any
		if err := msgpack.Unmarshal(b, &peer); err != nil {
			t.Fatal(err)
		}
		h1, err1 := codec.HashValue[any](codec.HashSeed, held)
		h2, err2 := codec.HashValue[any](codec.HashSeed, peer)
		if err1 != nil || err2 != nil || h1 != h2 {
			t.Errorf("%T %v held as %T %v: hash %#x, the peer's copy (%T %v) %#x (%v, %v)", v, v, held, held, h1, peer, peer, h2, err1, err2)
		}
	}
	type plain struct {
		N int
		S []string
	}
	p := plain{N: 5, S: []string{"a"}}
	if got, err := codec.HeldValue(p); err != nil || got.N != 5 || &got.S[0] != &p.S[0] {
		t.Errorf("a value holding no interface came back changed: %v, %v", got, err)
	}
	if _, err := codec.HeldValue[any](func() {}); err == nil {
		t.Error("a func in an any: no error")
	}
}
