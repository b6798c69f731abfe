package counter

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Samples pinned by the golden files.
func sampleG() *G {
	g := NewG("us-east-1")
	g.Inc(1 << 40)
	g.Apply(GOp{Replica: "eu-west-1", Count: 300})
	g.Apply(GOp{Replica: "ap-south-1", Count: 7})
	return g
}

func samplePN() *PN {
	c := NewPN("us-east-1")
	c.Add(1 << 33)
	c.Add(-12)
	c.Apply(PNOp{Replica: "eu-west-1", N: 70000})
	c.Apply(PNOp{Replica: "ap-south-1", P: 5})
	return c
}

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		v    encoding.BinaryMarshaler
	}{
		{"g.golden", sampleG()},
		{"g-empty.golden", &G{}},
		{"pn.golden", samplePN()},
		{"pn-empty.golden", &PN{}},
		{"g-op.golden", GOp{Replica: "us-east-1", Count: 1000}},
		{"pn-op.golden", PNOp{Replica: "eu-west-1", P: 12, N: 5}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := tc.v.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding changed:\n got % x\nwant % x", got, want)
			}
		})
	}
}

// TestGoldenDecodes checks that the pinned bytes still decode to the
// samples, so the format stays readable as the code changes.
func TestGoldenDecodes(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	g := NewG("us-east-1")
	if err := g.UnmarshalBinary(read("g.golden")); err != nil {
		t.Fatal(err)
	}
	sameG(t, g, sampleG())
	c := NewPN("us-east-1")
	if err := c.UnmarshalBinary(read("pn.golden")); err != nil {
		t.Fatal(err)
	}
	samePN(t, c, samplePN())
	var gop GOp
	if err := gop.UnmarshalBinary(read("g-op.golden")); err != nil || gop != (GOp{"us-east-1", 1000}) {
		t.Fatalf("g-op.golden: %+v, %v", gop, err)
	}
	var pop PNOp
	if err := pop.UnmarshalBinary(read("pn-op.golden")); err != nil || pop != (PNOp{"eu-west-1", 12, 5}) {
		t.Fatalf("pn-op.golden: %+v, %v", pop, err)
	}
}

// TestEncodingBytes derives small encodings by hand from the format: codec
// header (version 1, kind, replica table), then the body.
func TestEncodingBytes(t *testing.T) {
	g := &G{}
	g.Apply(GOp{"b", 300})
	g.Apply(GOp{"a", 1})
	pn := &PN{}
	pn.Apply(PNOp{"b", 0, 200})
	pn.Apply(PNOp{"a", 5, 0})
	for _, tc := range []struct {
		name string
		v    encoding.BinaryMarshaler
		want []byte
	}{
		// table ["a" "b"]; array of 4: a 1, b 300 (uint16).
		{"G", g, []byte{0x01, 0x20, 0x92, 0xa1, 'a', 0xa1, 'b', 0x94, 0x00, 0x01, 0x01, 0xcd, 0x01, 0x2c}},
		{"empty G", &G{}, []byte{0x01, 0x20, 0x90, 0x90}},
		// array of 6: a 5 0, b 0 200 (uint8).
		{"PN", pn, []byte{0x01, 0x22, 0x92, 0xa1, 'a', 0xa1, 'b', 0x96, 0x00, 0x05, 0x00, 0x01, 0x00, 0xcc, 0xc8}},
		// a one-replica table is written as a bare string.
		{"GOp", GOp{"us", 7}, []byte{0x01, 0x21, 0xa2, 'u', 's', 0x00, 0x07}},
		{"PNOp", PNOp{"eu", 1, 2}, []byte{0x01, 0x23, 0xa2, 'e', 'u', 0x00, 0x01, 0x02}},
	} {
		got, err := tc.v.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s: got % x, want % x", tc.name, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		g := genG(t, "g")
		data, err := g.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got := NewG("me")
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		if got.id != "me" || !got.Equal(g) || got.Value() != g.Value() {
			t.Fatalf("G round trip: %+v, want %+v", got.e, g.e)
		}

		c := genPN(t, "c")
		data, err = c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		gotPN := NewPN("me")
		if err := gotPN.UnmarshalBinary(data); err != nil {
			t.Fatal(err)
		}
		pnInvariant(t, gotPN)
		if gotPN.id != "me" || !gotPN.Equal(c) || gotPN.Value() != c.Value() {
			t.Fatalf("PN round trip: %+v, want %+v", gotPN.e, c.e)
		}

		id := rapid.SampledFrom(pool).Draw(t, "op replica")
		gop := GOp{Replica: id, Count: rapid.Uint64().Draw(t, "count")}
		data, err = gop.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var gop2 GOp
		if err := gop2.UnmarshalBinary(data); err != nil || gop2 != gop {
			t.Fatalf("GOp round trip: %+v, %v; want %+v", gop2, err, gop)
		}

		pop := PNOp{Replica: id, P: rapid.Uint64Range(0, maxP).Draw(t, "p"), N: rapid.Uint64Range(0, maxN).Draw(t, "n")}
		data, err = pop.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var pop2 PNOp
		if err := pop2.UnmarshalBinary(data); err != nil || pop2 != pop {
			t.Fatalf("PNOp round trip: %+v, %v; want %+v", pop2, err, pop)
		}
	})
}

func TestMarshalInvalidOp(t *testing.T) {
	for _, op := range []encoding.BinaryMarshaler{GOp{Count: 1}, PNOp{N: 1}, PNOp{Replica: "a", P: maxP + 1}, PNOp{Replica: "a", N: maxN + 1}} {
		_, err := op.MarshalBinary()
		var ee *codec.EncodeError
		if !errors.As(err, &ee) || !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%+v: %v, want a *codec.EncodeError matching ErrInvalidOp", op, err)
		}
	}
}

// decoder is one of the package's decoding entry points, run against a
// fresh receiver; it returns the error and a snapshot to compare before and
// after.
type decoder struct {
	name string
	run  func(data []byte) (err error, unchanged bool)
}

// decoders covers every way bytes enter the package. Each receiver holds a
// state beforehand, so "unchanged" means something.
func decoders() []decoder {
	g := func() *G { g := sampleG(); return g }
	c := func() *PN { return samplePN() }
	return []decoder{
		{"G.UnmarshalBinary", func(b []byte) (error, bool) {
			x := g()
			err := x.UnmarshalBinary(b)
			return err, x.Equal(g()) && x.Value() == g().Value()
		}},
		{"G.MergeBinary", func(b []byte) (error, bool) {
			x := g()
			changed, err := x.MergeBinary(b)
			return err, !changed && x.Equal(g()) && x.Value() == g().Value()
		}},
		{"G.ApplyBinary", func(b []byte) (error, bool) {
			x := g()
			changed, err := x.ApplyBinary(b)
			return err, !changed && x.Equal(g()) && x.Value() == g().Value()
		}},
		{"G.DeltaSinceBinary", func(b []byte) (error, bool) {
			x := g()
			out, err := x.DeltaSinceBinary(b)
			return err, out == nil && x.Equal(g())
		}},
		{"GOp.UnmarshalBinary", func(b []byte) (error, bool) {
			op := GOp{"keep", 9}
			err := op.UnmarshalBinary(b)
			return err, op == GOp{"keep", 9}
		}},
		{"PN.UnmarshalBinary", func(b []byte) (error, bool) {
			x := c()
			err := x.UnmarshalBinary(b)
			return err, x.Equal(c()) && x.Value() == c().Value()
		}},
		{"PN.MergeBinary", func(b []byte) (error, bool) {
			x := c()
			changed, err := x.MergeBinary(b)
			return err, !changed && x.Equal(c()) && x.Value() == c().Value()
		}},
		{"PN.ApplyBinary", func(b []byte) (error, bool) {
			x := c()
			changed, err := x.ApplyBinary(b)
			return err, !changed && x.Equal(c()) && x.Value() == c().Value()
		}},
		{"PN.DeltaSinceBinary", func(b []byte) (error, bool) {
			x := c()
			out, err := x.DeltaSinceBinary(b)
			return err, out == nil && x.Equal(c())
		}},
		{"PNOp.UnmarshalBinary", func(b []byte) (error, bool) {
			op := PNOp{"keep", 9, 9}
			err := op.UnmarshalBinary(b)
			return err, op == PNOp{"keep", 9, 9}
		}},
	}
}

// valid returns a valid input for the decoder named name.
func validInput(t *testing.T, name string) []byte {
	var m encoding.BinaryMarshaler
	switch name {
	case "G.UnmarshalBinary", "G.MergeBinary":
		g := sampleG()
		g.Apply(GOp{"zz", 1})
		m = g
	case "PN.UnmarshalBinary", "PN.MergeBinary":
		c := samplePN()
		c.Apply(PNOp{"zz", 1, 1})
		m = c
	case "G.ApplyBinary", "GOp.UnmarshalBinary":
		m = GOp{"zz", 1 << 20}
	case "PN.ApplyBinary", "PNOp.UnmarshalBinary":
		m = PNOp{"zz", 1 << 20, 3}
	case "G.DeltaSinceBinary", "PN.DeltaSinceBinary":
		m = vclock.Of(map[crdt.ReplicaID]uint64{"a": 1, "us-east-1": 1 << 35})
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTruncatedInput(t *testing.T) {
	for _, d := range decoders() {
		data := validInput(t, d.name)
		if err, _ := d.run(data); err != nil {
			t.Fatalf("%s: valid input refused: %v", d.name, err)
		}
		for k := range len(data) {
			err, unchanged := d.run(data[:k])
			if err == nil {
				t.Fatalf("%s: input cut at byte %d of %d accepted", d.name, k, len(data))
			}
			mustDecodeError(t, err, nil)
			if !unchanged {
				t.Fatalf("%s: input cut at byte %d changed the receiver", d.name, k)
			}
		}
		// Trailing bytes are refused too.
		err, unchanged := d.run(append(data[:len(data):len(data)], 0x00))
		mustDecodeError(t, err, codec.ErrMalformed)
		if !unchanged {
			t.Fatalf("%s: input with a trailing byte changed the receiver", d.name)
		}
	}
}

func TestWrongKindAndVersion(t *testing.T) {
	for _, d := range decoders() {
		data := validInput(t, d.name)
		wrong := bytes.Clone(data)
		wrong[1] = byte(codec.KindSet)
		err, unchanged := d.run(wrong)
		mustDecodeError(t, err, codec.ErrKind)
		if !unchanged {
			t.Fatalf("%s: wrong kind changed the receiver", d.name)
		}
		future := bytes.Clone(data)
		future[0] = codec.Version + 1
		err, unchanged = d.run(future)
		mustDecodeError(t, err, codec.ErrVersion)
		if !unchanged {
			t.Fatalf("%s: future version changed the receiver", d.name)
		}
	}
	// A state is not an op and vice versa.
	g, _ := sampleG().MarshalBinary()
	if err := new(GOp).UnmarshalBinary(g); !errors.Is(err, codec.ErrKind) {
		t.Fatalf("G state decoded as op: %v", err)
	}
	if err := new(PN).UnmarshalBinary(g); !errors.Is(err, codec.ErrKind) {
		t.Fatalf("G state decoded as PN: %v", err)
	}
}

func TestMalformedInput(t *testing.T) {
	const (
		kG    = byte(codec.KindG)
		kPN   = byte(codec.KindPN)
		kGOp  = byte(codec.KindGOp)
		kPNOp = byte(codec.KindPNOp)
	)
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tc := range []struct {
		name, decoder string
		data          []byte
	}{
		{"empty replica", "G.UnmarshalBinary", []byte{1, kG, 0xa0, 0x92, 0x00, 0x05}},
		{"empty replica", "PN.UnmarshalBinary", []byte{1, kPN, 0xa0, 0x93, 0x00, 0x05, 0x00}},
		{"empty replica", "GOp.UnmarshalBinary", []byte{1, kGOp, 0xa0, 0x00, 0x05}},
		{"empty replica", "PNOp.UnmarshalBinary", []byte{1, kPNOp, 0xa0, 0x00, 0x05, 0x00}},
		{"duplicate replica", "G.UnmarshalBinary", []byte{1, kG, 0x92, 0xa1, 'a', 0xa1, 'a', 0x94, 0x00, 0x01, 0x01, 0x02}},
		{"same index twice", "G.UnmarshalBinary", []byte{1, kG, 0x92, 0xa1, 'a', 0xa1, 'b', 0x94, 0x00, 0x01, 0x00, 0x02}},
		{"duplicate replica", "PN.UnmarshalBinary", []byte{1, kPN, 0x92, 0xa1, 'a', 0xa1, 'a', 0x96, 0x00, 0x01, 0x00, 0x01, 0x02, 0x00}},
		{"out of order", "G.UnmarshalBinary", []byte{1, kG, 0x92, 0xa1, 'b', 0xa1, 'a', 0x94, 0x00, 0x01, 0x01, 0x01}},
		{"out of order", "PN.UnmarshalBinary", []byte{1, kPN, 0x92, 0xa1, 'b', 0xa1, 'a', 0x96, 0x00, 0x01, 0x00, 0x01, 0x01, 0x00}},
		{"zero total", "G.UnmarshalBinary", []byte{1, kG, 0xa1, 'a', 0x92, 0x00, 0x00}},
		{"zero totals", "PN.UnmarshalBinary", []byte{1, kPN, 0xa1, 'a', 0x93, 0x00, 0x00, 0x00}},
		{"odd fields", "G.UnmarshalBinary", []byte{1, kG, 0xa1, 'a', 0x93, 0x00, 0x01, 0x01}},
		{"fields not in threes", "PN.UnmarshalBinary", []byte{1, kPN, 0xa1, 'a', 0x92, 0x00, 0x01}},
		{"unused table entry", "G.UnmarshalBinary", []byte{1, kG, 0x92, 0xa1, 'a', 0xa1, 'b', 0x92, 0x00, 0x01}},
		{"unused table entry", "GOp.UnmarshalBinary", []byte{1, kGOp, 0x92, 0xa1, 'a', 0xa1, 'b', 0x00, 0x01}},
		{"missing table", "GOp.UnmarshalBinary", []byte{1, kGOp, 0x90, 0x00, 0x01}},
		{"index past table", "GOp.UnmarshalBinary", []byte{1, kGOp, 0xa1, 'a', 0x01, 0x01}},
		{"negative total", "G.UnmarshalBinary", []byte{1, kG, 0xa1, 'a', 0x92, 0x00, 0xff}},
		{"string total", "GOp.UnmarshalBinary", []byte{1, kGOp, 0xa1, 'a', 0x00, 0xa1, '1'}},
		{"increments past MaxInt64", "PN.UnmarshalBinary", cat([]byte{1, kPN, 0xa1, 'a', 0x93, 0x00}, u64(maxP+1), []byte{0x00})},
		{"decrements past 2⁶³", "PN.UnmarshalBinary", cat([]byte{1, kPN, 0xa1, 'a', 0x93, 0x00, 0x00}, u64(maxN+1))},
		{"increments past MaxInt64", "PNOp.UnmarshalBinary", cat([]byte{1, kPNOp, 0xa1, 'a', 0x00}, u64(maxP+1), []byte{0x00})},
		{"decrements past 2⁶³", "PNOp.UnmarshalBinary", cat([]byte{1, kPNOp, 0xa1, 'a', 0x00, 0x00}, u64(maxN+1))},
		{"state where op expected", "G.ApplyBinary", []byte{1, kG, 0x90, 0x90}},
		{"not a version vector", "G.DeltaSinceBinary", []byte{1, kG, 0x90, 0x90}},
		{"bad version vector", "PN.DeltaSinceBinary", []byte{1, byte(codec.KindClock), 0xa1, 'a', 0x92, 0x00, 0x00}},
		{"not msgpack", "PN.MergeBinary", []byte{0xc1, 0xc1}},
		{"nothing", "G.MergeBinary", nil},
	} {
		var d decoder
		for _, x := range decoders() {
			if x.name == tc.decoder {
				d = x
			}
		}
		err, unchanged := d.run(tc.data)
		if err == nil {
			t.Errorf("%s, %s: accepted % x", tc.decoder, tc.name, tc.data)
			continue
		}
		mustDecodeError(t, err, nil)
		if !unchanged {
			t.Errorf("%s, %s: the receiver changed", tc.decoder, tc.name)
		}
	}
}

// The bounds themselves are valid.
func TestDecodeBounds(t *testing.T) {
	data := []byte{1, byte(codec.KindPNOp), 0xa1, 'a', 0x00,
		0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}
	var op PNOp
	if err := op.UnmarshalBinary(data); err != nil || op != (PNOp{"a", maxP, maxN}) {
		t.Fatalf("%+v, %v; want the largest valid totals", op, err)
	}
	if got, _ := op.MarshalBinary(); !bytes.Equal(got, data) {
		t.Fatalf("re-encoded as % x", got)
	}
}

// Regression: the state decoders once required two or three bytes per
// field, so a state whose fields were all one byte long (a:5) read as
// truncated.
func TestDecodeOneByteFields(t *testing.T) {
	g := NewG("x")
	if err := g.UnmarshalBinary([]byte{1, byte(codec.KindG), 0xa1, 'a', 0x92, 0x00, 0x05}); err != nil || g.Value() != 5 {
		t.Fatalf("G a:5: value %d, %v", g.Value(), err)
	}
	c := NewPN("x")
	if err := c.UnmarshalBinary([]byte{1, byte(codec.KindPN), 0xa1, 'a', 0x93, 0x00, 0x05, 0x07}); err != nil || c.Value() != -2 {
		t.Fatalf("PN a:5,7: value %d, %v", c.Value(), err)
	}
}
