package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// form returns the type byte c followed by v in n big-endian bytes (none
// for n = 0, where c alone holds the value).
func form(c byte, n int, v uint64) []byte {
	b := []byte{c}
	switch n {
	case 1:
		b = append(b, byte(v))
	case 2:
		b = binary.BigEndian.AppendUint16(b, uint16(v))
	case 4:
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	case 8:
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// uintForms lists every msgpack encoding of u that Reader.Uint reads, the
// shortest first: msgpack's spec asks for the unsigned form where a signed
// one of the same width would also do.
func uintForms(u uint64) [][]byte {
	var fs [][]byte
	if u <= 0x7f {
		fs = append(fs, []byte{byte(u)})
	}
	if u <= math.MaxUint8 {
		fs = append(fs, form(0xcc, 1, u))
	}
	if u <= math.MaxUint16 {
		fs = append(fs, form(0xcd, 2, u))
	}
	if u <= math.MaxUint32 {
		fs = append(fs, form(0xce, 4, u))
	}
	fs = append(fs, form(0xcf, 8, u))
	if u <= math.MaxInt8 {
		fs = append(fs, form(0xd0, 1, u))
	}
	if u <= math.MaxInt16 {
		fs = append(fs, form(0xd1, 2, u))
	}
	if u <= math.MaxInt32 {
		fs = append(fs, form(0xd2, 4, u))
	}
	if u <= math.MaxInt64 {
		fs = append(fs, form(0xd3, 8, u))
	}
	return fs
}

// intForms lists every msgpack encoding of i that Reader.Int reads, the
// shortest first.
func intForms(i int64) [][]byte {
	if i >= 0 {
		return uintForms(uint64(i))
	}
	var fs [][]byte
	if i >= -32 {
		fs = append(fs, []byte{byte(i)})
	}
	if i >= math.MinInt8 {
		fs = append(fs, form(0xd0, 1, uint64(i)))
	}
	if i >= math.MinInt16 {
		fs = append(fs, form(0xd1, 2, uint64(i)))
	}
	if i >= math.MinInt32 {
		fs = append(fs, form(0xd2, 4, uint64(i)))
	}
	return append(fs, form(0xd3, 8, uint64(i)))
}

// strForms lists every header of a string of n bytes, the shortest first.
func strForms(n int) [][]byte {
	var fs [][]byte
	if n < 32 {
		fs = append(fs, []byte{0xa0 | byte(n)})
	}
	if n <= math.MaxUint8 {
		fs = append(fs, form(0xd9, 1, uint64(n)))
	}
	if n <= math.MaxUint16 {
		fs = append(fs, form(0xda, 2, uint64(n)))
	}
	return append(fs, form(0xdb, 4, uint64(n)))
}

// arrayForms lists every header of an array of n values, the shortest
// first.
func arrayForms(n int) [][]byte {
	var fs [][]byte
	if n < 16 {
		fs = append(fs, []byte{0x90 | byte(n)})
	}
	if n <= math.MaxUint16 {
		fs = append(fs, form(0xdc, 2, uint64(n)))
	}
	return append(fs, form(0xdd, 4, uint64(n)))
}

// checkForms reads each of forms (each preceded by one byte, 0x00, that
// the test reads first with Uint, so that the value does not sit at the
// start of the body) with read: the first form must be accepted and give
// want, and any other refused with ErrMalformed at the value's first byte.
// It also checks that the first form is the shortest and that the Writer
// writes it.
func checkForms[T comparable](t *testing.T, name string, forms [][]byte, tail []byte, want T, read func(*codec.Reader) T, write func(*codec.Writer)) {
	t.Helper()
	for _, f := range forms[1:] {
		if len(f) < len(forms[0]) {
			t.Fatalf("%s: form %x is shorter than %x", name, f, forms[0])
		}
	}
	w := codec.NewWriter(testKind, 0)
	write(w)
	if got := body(t, w); !bytes.HasPrefix(got, forms[0]) {
		t.Fatalf("%s: Writer wrote %x, want %x first", name, got, forms[0])
	}
	for k, f := range forms {
		in := append(append([]byte{0x00}, f...), tail...)
		r := readerFor(in, codec.Limits{})
		r.Uint()
		got := read(r)
		err := r.Err()
		if k == 0 {
			if err != nil || got != want || r.Remaining() != len(tail) {
				t.Errorf("%s: shortest form %x read as %v, %d bytes left, %v; want %v", name, f, got, r.Remaining(), err, want)
			}
			continue
		}
		var de *codec.DecodeError
		var zero T
		if !errors.As(err, &de) || !errors.Is(err, codec.ErrMalformed) || de.Offset != len(emptyHeader)+1 || got != zero {
			t.Errorf("%s: form %x read as %v, %v; want ErrMalformed at byte %d", name, f, got, err, len(emptyHeader)+1)
			continue
		}
		// The error is sticky.
		if again := read(r); again != zero || r.Err() != err {
			t.Errorf("%s: read after the error gave %v, %v", name, again, r.Err())
		}
	}
}

func TestCanonicalUint(t *testing.T) {
	for _, u := range []uint64{
		0, 1, 0x7f, 0x80, 0xff, 0x100, math.MaxInt16, math.MaxInt16 + 1, 0xffff, 0x10000,
		math.MaxInt32, math.MaxInt32 + 1, 0xffffffff, 0x100000000, math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64,
	} {
		checkForms(t, "CanonicalUint", uintForms(u), nil, u, (*codec.Reader).CanonicalUint,
			func(w *codec.Writer) { w.Uint(u) })
	}
}

func TestCanonicalInt(t *testing.T) {
	for _, i := range []int64{
		0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, math.MaxInt64,
		-1, -32, -33, math.MinInt8, math.MinInt8 - 1, math.MinInt16, math.MinInt16 - 1,
		math.MinInt32, math.MinInt32 - 1, math.MinInt64,
	} {
		checkForms(t, "CanonicalInt", intForms(i), nil, i, (*codec.Reader).CanonicalInt,
			func(w *codec.Writer) { w.Int(i) })
	}
}

func TestCanonicalString(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, math.MaxUint8, math.MaxUint8 + 1, math.MaxUint16, math.MaxUint16 + 1} {
		s := string(bytes.Repeat([]byte{'x'}, n))
		var forms [][]byte
		for _, h := range strForms(n) {
			forms = append(forms, append(h, s...))
		}
		checkForms(t, "CanonicalString", forms, nil, s, (*codec.Reader).CanonicalString,
			func(w *codec.Writer) { w.String(s) })
		checkForms(t, "CanonicalStringBytes", forms, nil, s,
			func(r *codec.Reader) string { return string(r.CanonicalStringBytes()) },
			func(w *codec.Writer) { w.String(s) })
	}
}

func TestCanonicalStringBytesShareTheInput(t *testing.T) {
	msg := append(append([]byte{}, emptyHeader...), 0xa3, 'a', 'b', 'c')
	r := codec.NewReader(msg, testKind, codec.Limits{})
	b := r.CanonicalStringBytes()
	if r.Err() != nil || string(b) != "abc" {
		t.Fatalf("read %q, %v", b, r.Err())
	}
	if &b[0] != &msg[len(emptyHeader)+1] {
		t.Fatal("the bytes are a copy, not a sub-slice of the message")
	}
}

func TestCanonicalArrayLen(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, math.MaxUint16, math.MaxUint16 + 1} {
		elems := make([]byte, n) // n fixint zeros
		checkForms(t, "CanonicalArrayLen", arrayForms(n), elems, n,
			func(r *codec.Reader) int { return r.CanonicalArrayLen(1) },
			func(w *codec.Writer) { w.Array(n) })
	}
	// The checks of Count still apply: three elements of at least two
	// bytes do not fit in five bytes.
	r := readerFor([]byte{0x93, 0, 0, 0, 0, 0}, codec.Limits{})
	if n := r.CanonicalArrayLen(2); n != 0 || !errors.Is(r.Err(), codec.ErrTruncated) {
		t.Fatalf("CanonicalArrayLen(2) = %d, %v; want ErrTruncated", n, r.Err())
	}
}

func TestCanonicalReplica(t *testing.T) {
	w := codec.NewWriter(testKind, 0)
	w.Replica("a")
	w.Replica("b")
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// The header, then the body 0x00 0x01 (replica indexes 0 and 1).
	if !bytes.HasSuffix(msg, []byte{0x00, 0x01}) {
		t.Fatalf("message %x does not end with the indexes 00 01", msg)
	}
	header := msg[:len(msg)-2]
	for _, tc := range []struct {
		body []byte
		want string
		err  error
	}{
		{[]byte{0x01}, "b", nil},
		{[]byte{0xcc, 0x01}, "", codec.ErrMalformed},
		{[]byte{0xd0, 0x00}, "", codec.ErrMalformed},
		{[]byte{0x02}, "", codec.ErrMalformed},
		{[]byte{0xa1, 'a'}, "", codec.ErrMalformed},
		{nil, "", codec.ErrTruncated},
	} {
		r := codec.NewReader(append(append([]byte{}, header...), tc.body...), testKind, codec.Limits{})
		got := r.CanonicalReplica()
		var de *codec.DecodeError
		switch {
		case tc.err == nil:
			if got != tc.want || r.Done() != nil {
				t.Errorf("%x: read %q, %v; want %q", tc.body, got, r.Err(), tc.want)
			}
		case got != "" || !errors.As(r.Err(), &de) || !errors.Is(de, tc.err) || de.Offset != len(header):
			t.Errorf("%x: read %q, %v; want %v at byte %d", tc.body, got, r.Err(), tc.err, len(header))
		}
	}
}

type named int

func TestGetCanonicalValue(t *testing.T) {
	type tc struct {
		name string
		read func(*codec.Reader) any
		body []byte
		want any // nil: refused with ErrMalformed at the value's first byte
	}
	f64 := func(r *codec.Reader) any { return codec.GetCanonicalValue[float64](r) }
	bin := func(r *codec.Reader) any { return string(codec.GetCanonicalValue[[]byte](r)) }
	i8 := func(r *codec.Reader) any { return codec.GetCanonicalValue[int8](r) }
	u16 := func(r *codec.Reader) any { return codec.GetCanonicalValue[uint16](r) }
	str := func(r *codec.Reader) any { return codec.GetCanonicalValue[string](r) }
	nmd := func(r *codec.Reader) any { return codec.GetCanonicalValue[named](r) }
	one := math.Float64bits(1)
	for _, c := range []tc{
		{"float64", f64, form(0xcb, 8, one), 1.0},
		{"float64 as float32", f64, form(0xca, 4, uint64(math.Float32bits(1))), nil},
		{"bin8", bin, []byte{0xc4, 0x01, 'x'}, "x"},
		{"bin16 of one byte", bin, []byte{0xc5, 0x00, 0x01, 'x'}, nil},
		{"str for bin", bin, []byte{0xa1, 'x'}, nil},
		{"int8", i8, []byte{0xd0, 0x80}, int8(math.MinInt8)},
		{"int8 in int16", i8, []byte{0xd1, 0xff, 0x80}, nil},
		{"int8 out of range", i8, []byte{0xcc, 0x80}, nil},
		{"uint16", u16, []byte{0xcd, 0x01, 0x00}, uint16(256)},
		{"uint16 as int16", u16, []byte{0xd1, 0x01, 0x00}, nil},
		{"string", str, []byte{0xa1, 'x'}, "x"},
		{"string in str8", str, []byte{0xd9, 0x01, 'x'}, nil},
		// A named type goes through msgpack, which writes it in full
		// width: any form is read.
		{"named type in full width", nmd, form(0xd3, 8, 5), named(5)},
	} {
		r := readerFor(c.body, codec.Limits{})
		got := c.read(r)
		if c.want != nil {
			if r.Done() != nil || got != c.want {
				t.Errorf("%s: read %v (%T), %v; want %v", c.name, got, got, r.Err(), c.want)
			}
			continue
		}
		var de *codec.DecodeError
		if !errors.As(r.Err(), &de) || !errors.Is(de, codec.ErrMalformed) || de.Offset != len(emptyHeader) {
			t.Errorf("%s: read %v, %v; want ErrMalformed at byte %d", c.name, got, r.Err(), len(emptyHeader))
		}
	}
}

// FuzzCanonical checks the Canonical methods against their plain
// counterparts on fuzzed bytes: a Canonical method accepts exactly the
// values the plain one reads whose bytes are what the Writer writes for
// them, and otherwise records the plain method's error or ErrMalformed at
// the value's first byte.
func FuzzCanonical(f *testing.F) {
	f.Add([]byte{0x05})
	f.Add([]byte{0xcc, 0x05})
	f.Add([]byte{0xd1, 0x01, 0x00})
	f.Add([]byte{0xd9, 0x01, 'x'})
	f.Add([]byte{0xdc, 0x00, 0x01, 0x00})
	f.Add([]byte{0xca, 0x3f, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		canonicalAgrees(t, data, "Uint", (*codec.Reader).Uint, (*codec.Reader).CanonicalUint, (*codec.Writer).Uint)
		canonicalAgrees(t, data, "Int", (*codec.Reader).Int, (*codec.Reader).CanonicalInt, (*codec.Writer).Int)
		canonicalAgrees(t, data, "String", (*codec.Reader).String, (*codec.Reader).CanonicalString, (*codec.Writer).String)
		canonicalAgrees(t, data, "StringBytes",
			func(r *codec.Reader) string { return r.String() },
			func(r *codec.Reader) string { return string(r.CanonicalStringBytes()) },
			(*codec.Writer).String)
		canonicalAgrees(t, data, "ArrayLen",
			func(r *codec.Reader) int { return r.Count(1) },
			func(r *codec.Reader) int { return r.CanonicalArrayLen(1) },
			(*codec.Writer).Array)
		canonicalAgrees(t, data, "float64", codec.GetValue[float64], codec.GetCanonicalValue[float64], codec.PutValue[float64])
		canonicalAgrees(t, data, "int16", codec.GetValue[int16], codec.GetCanonicalValue[int16], codec.PutValue[int16])
		canonicalAgrees(t, data, "[]byte",
			func(r *codec.Reader) string { return string(codec.GetValue[[]byte](r)) },
			func(r *codec.Reader) string { return string(codec.GetCanonicalValue[[]byte](r)) },
			func(w *codec.Writer, s string) { codec.PutValue(w, []byte(s)) })
	})
}

func canonicalAgrees[T comparable](t *testing.T, data []byte, name string, plain, canonical func(*codec.Reader) T, write func(*codec.Writer, T)) {
	t.Helper()
	pr := readerFor(data, codec.Limits{})
	pv := plain(pr)
	used := len(data) - pr.Remaining()
	cr := readerFor(data, codec.Limits{})
	cv := canonical(cr)
	if pr.Err() != nil {
		// The canonical read fails too, with the same problem or an
		// earlier one (a value out of range for T and not in its
		// shortest form either).
		var de *codec.DecodeError
		if !errors.As(cr.Err(), &de) {
			t.Fatalf("%s on %x: canonical read gave %v, plain read %v", name, data, cr.Err(), pr.Err())
		}
		return
	}
	w := codec.NewWriter(testKind, 0)
	write(w, pv)
	written := body(t, w)
	if bytes.Equal(written, data[:used]) {
		if cr.Err() != nil || !same(cv, pv) || cr.Remaining() != pr.Remaining() {
			t.Fatalf("%s on %x: the Writer's own form read as %v, %v; plain read %v", name, data, cv, cr.Err(), pv)
		}
		return
	}
	var de *codec.DecodeError
	if !errors.As(cr.Err(), &de) || !errors.Is(de, codec.ErrMalformed) || de.Offset != len(emptyHeader) {
		t.Fatalf("%s on %x: %v (the Writer writes %x) read as %v, %v; want ErrMalformed at byte %d",
			name, data, pv, written, cv, cr.Err(), len(emptyHeader))
	}
}

// same reports whether a and b are equal, a NaN being equal to itself.
func same[T comparable](a, b T) bool {
	if fa, ok := any(a).(float64); ok {
		return math.Float64bits(fa) == math.Float64bits(any(b).(float64))
	}
	return a == b
}
