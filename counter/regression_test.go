package counter

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// Regression (issue 9, finding 6): a 55-byte op naming any replica with the
// largest total pinned a G at math.MaxUint64, and the receiver's own Inc(1)
// then failed with ErrOverflow forever. Only the replica's own total may
// make its increments fail now; the value saturates.
func TestRegressionCounterSaturatedByAnyone(t *testing.T) {
	msg, err := GOp{Replica: "nobody", Count: math.MaxUint64}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	g := NewG("me")
	if _, err := g.ApplyBinary(msg); err != nil {
		t.Fatal(err)
	}
	if g.Value() != math.MaxUint64 {
		t.Fatalf("Value() = %d, want saturated", g.Value())
	}
	op, err := g.Inc(1)
	if err != nil {
		t.Fatalf("own Inc(1) after a peer's huge total: %v", err)
	}
	if op != (GOp{Replica: "me", Count: 1}) || g.Value() != math.MaxUint64 {
		t.Fatalf("op %+v, value %d", op, g.Value())
	}
	gInvariant(t, g)

	// The same for a PN, pushed past either bound by two other replicas.
	for _, sign := range []int64{1, -1} {
		c := NewPN("me")
		for _, id := range []vclock.ReplicaID{"x", "y"} {
			o := PNOp{Replica: id, P: maxP}
			if sign < 0 {
				o = PNOp{Replica: id, N: maxN}
			}
			b, err := o.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.ApplyBinary(b); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Add(sign); err != nil {
			t.Fatalf("own Add(%d) with the value past its bound: %v", sign, err)
		}
		if _, err := c.Add(-sign); err != nil {
			t.Fatalf("own Add(%d) with the value past its bound: %v", -sign, err)
		}
		if v := c.Version().Get("me"); v != 2 {
			t.Fatalf("own version %d, want 2", v)
		}
		pnInvariant(t, c)
	}
}

// ApplyBinaryFrom refuses an op that carries another replica's totals, and
// changes nothing.
func TestCounterApplyBinaryFromRefusesForeignWrites(t *testing.T) {
	gop, _ := GOp{Replica: "nobody", Count: math.MaxUint64}.MarshalBinary()
	g := NewG("me")
	g.Inc(3)
	before := g.Clone()
	if _, err := g.ApplyBinaryFrom(gop, "peer"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("G op of nobody from peer: %v, want ErrForeignWrite", err)
	}
	sameG(t, g, before)
	if ch, err := g.ApplyBinaryFrom(gop, "nobody"); err != nil || !ch {
		t.Fatalf("G op of its own sender: %v, %v", ch, err)
	}

	pop, _ := PNOp{Replica: "nobody", N: 7}.MarshalBinary()
	c := NewPN("me")
	c.Add(3)
	pbefore := c.Clone()
	if _, err := c.ApplyBinaryFrom(pop, "me"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("PN op of nobody from me: %v, want ErrForeignWrite", err)
	}
	samePN(t, c, pbefore)
	if ch, err := c.ApplyBinaryFrom(pop, "nobody"); err != nil || !ch || c.Value() != -4 {
		t.Fatalf("PN op of its own sender: %v, %v, value %d", ch, err, c.Value())
	}
	// A malformed op is a decoding error, as for ApplyBinary.
	if _, err := c.ApplyBinaryFrom(pop[:len(pop)-1], "nobody"); err == nil {
		t.Fatal("truncated op accepted")
	}
}

// Regression (issue 9, finding 13): counter states and ops accepted
// integers and headers in forms longer than the shortest, so one state had
// several encodings, against the documented promise of exactly one.
func TestRegressionCounterSecondEncoding(t *testing.T) {
	g, pn := []byte{1, byte(codec.KindG)}, []byte{1, byte(codec.KindPN)}
	gop, pnop := []byte{1, byte(codec.KindGOp)}, []byte{1, byte(codec.KindPNOp)}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	a := []byte{0xa1, 'a'}
	cases := []struct {
		name string
		data []byte
		dec  func([]byte) error
	}{
		{"G total as uint8", cat(g, a, []byte{0x92, 0x00, 0xcc, 0x05}), func(b []byte) error { return NewG("x").UnmarshalBinary(b) }},
		{"G index as uint8", cat(g, a, []byte{0x92, 0xcc, 0x00, 0x05}), func(b []byte) error { return NewG("x").UnmarshalBinary(b) }},
		{"G header as array16", cat(g, a, []byte{0xdc, 0x00, 0x02, 0x00, 0x05}), func(b []byte) error { return NewG("x").UnmarshalBinary(b) }},
		{"G total as int8", cat(g, a, []byte{0x92, 0x00, 0xd0, 0x05}), func(b []byte) error { _, err := NewG("x").MergeBinary(b); return err }},
		{"PN decrements as uint16", cat(pn, a, []byte{0x93, 0x00, 0x05, 0xcd, 0x00, 0x07}), func(b []byte) error { return NewPN("x").UnmarshalBinary(b) }},
		{"PN header as array32", cat(pn, a, []byte{0xdd, 0, 0, 0, 3, 0x00, 0x05, 0x07}), func(b []byte) error { _, err := NewPN("x").MergeBinary(b); return err }},
		{"G op count as uint32", cat(gop, a, []byte{0x00, 0xce, 0, 0, 0, 5}), func(b []byte) error { var o GOp; return o.UnmarshalBinary(b) }},
		{"PN op increments as uint8", cat(pnop, a, []byte{0x00, 0xcc, 0x05, 0x00}), func(b []byte) error { _, err := NewPN("x").ApplyBinary(b); return err }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustDecodeError(t, c.dec(c.data), codec.ErrMalformed)
		})
	}
	// The shortest forms of the same content still decode.
	if err := NewG("x").UnmarshalBinary(cat(g, a, []byte{0x92, 0x00, 0x05})); err != nil {
		t.Fatal(err)
	}
	var o PNOp
	if err := o.UnmarshalBinary(cat(pnop, a, []byte{0x00, 0x05, 0x00})); err != nil || o != (PNOp{"a", 5, 0}) {
		t.Fatalf("%+v, %v", o, err)
	}
}

// The limits set by SetLimits apply to every decoding method; the zero
// value keeps the defaults.
func TestCounterSetLimits(t *testing.T) {
	src := NewG("a")
	src.Inc(5)
	for _, id := range []vclock.ReplicaID{"b", "c", "d"} {
		src.Apply(GOp{Replica: id, Count: 9})
	}
	state, _ := src.MarshalBinary()
	version, _ := src.VersionBinary()
	g := NewG("x")
	g.SetLimits(codec.Limits{MaxBytes: 10})
	if err := g.UnmarshalBinary(state); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("UnmarshalBinary over MaxBytes: %v", err)
	}
	if _, err := g.MergeBinary(state); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("MergeBinary over MaxBytes: %v", err)
	}
	if _, err := g.DeltaSinceBinary(version); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("DeltaSinceBinary over MaxBytes: %v", err)
	}
	g.SetLimits(codec.Limits{MaxItems: 4})
	if _, err := g.MergeBinary(state); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("MergeBinary over MaxItems: %v", err)
	}
	g.SetLimits(codec.Limits{})
	if _, err := g.MergeBinary(state); err != nil || !g.Equal(src) {
		t.Fatalf("MergeBinary with default limits: %v", err)
	}

	pstate, _ := NewPN("a").MarshalBinary()
	c := NewPN("x")
	c.SetLimits(codec.Limits{MaxBytes: 2})
	if _, err := c.MergeBinary(pstate); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("PN MergeBinary over MaxBytes: %v", err)
	}
	op, _ := PNOp{Replica: "a", P: 1}.MarshalBinary()
	if _, err := c.ApplyBinaryFrom(op, "a"); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("PN ApplyBinaryFrom over MaxBytes: %v", err)
	}
}

// Replicas that take the same ops in any order end with equal
// fingerprints; a decoded copy has its original's fingerprint; the
// fingerprint kept incrementally is the one recomputed from scratch
// (checked by gInvariant and pnInvariant).
func TestCounterFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := pnHistories(t)
		var ops []PNOp
		var gops []GOp
		for _, id := range pool {
			for _, o := range h[id] {
				ops = append(ops, o)
				gops = append(gops, GOp{Replica: o.Replica, Count: o.P + o.N})
			}
		}
		a, b := &PN{}, &PN{}
		ga, gb := &G{}, &G{}
		perm := rapid.Permutation(ops).Draw(t, "order")
		for _, o := range ops {
			a.Apply(o)
		}
		for _, o := range perm {
			b.Apply(o)
		}
		for _, o := range gops {
			ga.Apply(o)
		}
		for _, o := range rapid.Permutation(gops).Draw(t, "g order") {
			gb.Apply(o)
			gb.Merge(ga.DeltaSince(gb.Version()))
		}
		pnInvariant(t, a)
		pnInvariant(t, b)
		samePN(t, a, b)
		gInvariant(t, ga)
		gInvariant(t, gb)
		sameG(t, ga, gb)

		data, _ := a.MarshalBinary()
		d := NewPN("z")
		if err := d.UnmarshalBinary(data); err != nil || d.Fingerprint() != a.Fingerprint() {
			t.Fatalf("decoded copy: %v, fingerprint %#x, want %#x", err, d.Fingerprint(), a.Fingerprint())
		}
		gdata, _ := ga.MarshalBinary()
		gd := NewG("z")
		if err := gd.UnmarshalBinary(gdata); err != nil || gd.Fingerprint() != ga.Fingerprint() {
			t.Fatalf("decoded G copy: %v, fingerprint %#x, want %#x", err, gd.Fingerprint(), ga.Fingerprint())
		}
		// A difference in content changes the fingerprint.
		if len(ops) > 0 {
			e := NewPN("zz")
			e.Merge(a)
			e.Add(1)
			if e.Fingerprint() == a.Fingerprint() {
				t.Fatal("fingerprint unchanged by an increment")
			}
		}
	})
}

// Regression (issue 9, finding 10): a counter state whose replica table
// claimed many IDs was given room for all of them before any was read; a
// repeat early in a 1 MiB table then cost more than sixteen times the input.
func TestRegressionCounterAllocatesBeforeValidation(t *testing.T) {
	n := 1 << 18
	msg := []byte{1, byte(codec.KindG), 0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	for i := range n {
		msg = append(msg, 0xa3)
		msg = append(msg, fmt.Sprintf("%03x", i%9)...) // a repeat at the tenth ID
	}
	for _, c := range []struct {
		name string
		dec  func() error
	}{
		{"G", func() error { _, err := NewG("x").MergeBinary(msg); return err }},
		{"PN", func() error { msg[1] = byte(codec.KindPN); _, err := NewPN("x").MergeBinary(msg); return err }},
	} {
		var err error
		got := costcheck.Allocated(func() { err = c.dec() })
		if !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("%s: table with a repeat: %v, want ErrMalformed", c.name, err)
		}
		if limit := uint64(len(msg) / 8); got > limit {
			t.Fatalf("%s: refusing a %d-byte state allocated %d bytes, more than %d", c.name, len(msg), got, limit)
		}
	}
}
