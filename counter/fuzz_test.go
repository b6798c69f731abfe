package counter

import (
	"bytes"
	"testing"
)

// seeds adds valid encodings, and mangled copies of them, to a corpus.
func seeds(f *testing.F, valid ...[]byte) {
	for _, b := range valid {
		f.Add(b)
		f.Add(b[:len(b)/2])
		c := bytes.Clone(b)
		c[len(c)-1] ^= 0xff
		f.Add(c)
	}
	f.Add([]byte{})
	f.Add([]byte{0x01})
}

func mustMarshal(f *testing.F, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func FuzzGUnmarshal(f *testing.F) {
	seeds(f, mustMarshal(f, sampleG()), mustMarshal(f, &G{}), mustMarshal(f, GOp{"a", 1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := sampleG()
		if err := g.UnmarshalBinary(data); err != nil {
			mustDecodeError(t, err, nil)
			sameG(t, g, sampleG())
			return
		}
		gInvariant(t, g)
		again, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		h := &G{}
		if err := h.UnmarshalBinary(again); err != nil || !h.Equal(g) {
			t.Fatalf("re-encoding does not decode to the same state: %v", err)
		}
		if third, _ := h.MarshalBinary(); !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable:\n% x\n% x", again, third)
		}
		// Whatever decodes merges without trouble.
		m := sampleG()
		if _, err := m.MergeBinary(data); err != nil {
			t.Fatal(err)
		}
		gInvariant(t, m)
	})
}

func FuzzPNUnmarshal(f *testing.F) {
	seeds(f, mustMarshal(f, samplePN()), mustMarshal(f, &PN{}), mustMarshal(f, PNOp{"a", 1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := samplePN()
		if err := c.UnmarshalBinary(data); err != nil {
			mustDecodeError(t, err, nil)
			samePN(t, c, samplePN())
			return
		}
		pnInvariant(t, c)
		again, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		d := &PN{}
		if err := d.UnmarshalBinary(again); err != nil || !d.Equal(c) {
			t.Fatalf("re-encoding does not decode to the same state: %v", err)
		}
		if third, _ := d.MarshalBinary(); !bytes.Equal(third, again) {
			t.Fatalf("encoding is not stable:\n% x\n% x", again, third)
		}
		m := samplePN()
		if _, err := m.MergeBinary(data); err != nil {
			t.Fatal(err)
		}
		pnInvariant(t, m)
	})
}

func FuzzGOpUnmarshal(f *testing.F) {
	seeds(f, mustMarshal(f, GOp{"us-east-1", 1000}), mustMarshal(f, GOp{"a", 0}), mustMarshal(f, sampleG()))
	f.Fuzz(func(t *testing.T, data []byte) {
		op := GOp{"keep", 9}
		if err := op.UnmarshalBinary(data); err != nil {
			mustDecodeError(t, err, nil)
			if op != (GOp{"keep", 9}) {
				t.Fatalf("failed decode changed the op to %+v", op)
			}
			return
		}
		again, err := op.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded op %+v does not encode: %v", op, err)
		}
		var op2 GOp
		if err := op2.UnmarshalBinary(again); err != nil || op2 != op {
			t.Fatalf("re-encoding decodes to %+v, %v; want %+v", op2, err, op)
		}
		g := sampleG()
		if _, err := g.ApplyBinary(data); err != nil {
			t.Fatal(err)
		}
		gInvariant(t, g)
	})
}

func FuzzPNOpUnmarshal(f *testing.F) {
	seeds(f, mustMarshal(f, PNOp{"eu-west-1", 12, 5}), mustMarshal(f, PNOp{"a", maxP, maxN}), mustMarshal(f, samplePN()))
	f.Fuzz(func(t *testing.T, data []byte) {
		op := PNOp{"keep", 9, 9}
		if err := op.UnmarshalBinary(data); err != nil {
			mustDecodeError(t, err, nil)
			if op != (PNOp{"keep", 9, 9}) {
				t.Fatalf("failed decode changed the op to %+v", op)
			}
			return
		}
		again, err := op.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded op %+v does not encode: %v", op, err)
		}
		var op2 PNOp
		if err := op2.UnmarshalBinary(again); err != nil || op2 != op {
			t.Fatalf("re-encoding decodes to %+v, %v; want %+v", op2, err, op)
		}
		c := samplePN()
		if _, err := c.ApplyBinary(data); err != nil {
			t.Fatal(err)
		}
		pnInvariant(t, c)
	})
}
