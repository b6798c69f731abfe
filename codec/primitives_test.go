package codec_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/codec"
)

// testKind is the kind of the messages these tests build. As a user kind it
// is written in two bytes, so the header is 01 cc 81, then 90 for an empty
// replica table.
const testKind = codec.KindUser + 1

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var emptyHeader = []byte{0x01, 0xcc, 0x81, 0x90}

// body returns the bytes written after the header of a message without
// replicas.
func body(t tb, w *codec.Writer) []byte {
	t.Helper()
	out, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, emptyHeader) {
		t.Fatalf("message %x does not start with the header %x", out, emptyHeader)
	}
	return out[len(emptyHeader):]
}

// readerFor returns a Reader positioned at the start of body.
func readerFor(body []byte, lim codec.Limits) *codec.Reader {
	return codec.NewReader(append(append([]byte{}, emptyHeader...), body...), testKind, lim)
}

func unhex(t tb, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compact encodes v with msgpack in its shortest integer forms, the ones
// the Writer writes.
func compact(t tb, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Expected encodings below are written from the msgpack specification.

var uintCases = []struct {
	v   uint64
	hex string
}{
	{0, "00"}, {1, "01"}, {0x7f, "7f"},
	{0x80, "cc80"}, {0xff, "ccff"},
	{0x100, "cd0100"}, {0xffff, "cdffff"},
	{0x10000, "ce00010000"}, {0xffffffff, "ceffffffff"},
	{1 << 32, "cf0000000100000000"}, {math.MaxUint64, "cfffffffffffffffff"},
}

var intCases = []struct {
	v   int64
	hex string
}{
	{0, "00"}, {0x7f, "7f"}, {0x80, "cc80"}, {math.MaxInt64, "cf7fffffffffffffff"},
	{-1, "ff"}, {-32, "e0"},
	{-33, "d0df"}, {math.MinInt8, "d080"},
	{math.MinInt8 - 1, "d1ff7f"}, {math.MinInt16, "d18000"},
	{math.MinInt16 - 1, "d2ffff7fff"}, {math.MinInt32, "d280000000"},
	{math.MinInt32 - 1, "d3ffffffff7fffffff"}, {math.MinInt64, "d38000000000000000"},
}

// lengthCases are the boundaries of the length classes of str, bin, array
// and map headers, with the header each must get.
var lengthCases = []struct {
	n                     int
	str, bin, array, mapp string
}{
	{0, "a0", "c400", "90", "80"},
	{15, "af", "c40f", "9f", "8f"},
	{16, "b0", "c410", "dc0010", "de0010"},
	{31, "bf", "c41f", "dc001f", "de001f"},
	{32, "d920", "c420", "dc0020", "de0020"},
	{255, "d9ff", "c4ff", "dc00ff", "de00ff"},
	{256, "da0100", "c50100", "dc0100", "de0100"},
	{65535, "daffff", "c5ffff", "dcffff", "deffff"},
	{65536, "db00010000", "c600010000", "dd00010000", "df00010000"},
}

func TestUintBoundaries(t *testing.T) {
	for _, tc := range uintCases {
		w := codec.NewWriter(testKind, 0)
		w.Uint(tc.v)
		got := body(t, w)
		if want := unhex(t, tc.hex); !bytes.Equal(got, want) {
			t.Errorf("Uint(%d) wrote %x, want %x", tc.v, got, want)
		}
		if m := compact(t, tc.v); !bytes.Equal(got, m) {
			t.Errorf("Uint(%d) wrote %x, msgpack %x", tc.v, got, m)
		}
		var back uint64
		if err := msgpack.Unmarshal(got, &back); err != nil || back != tc.v {
			t.Errorf("msgpack reads %x as %d, %v; want %d", got, back, err, tc.v)
		}
		// msgpack's own (not shortest) forms read back too.
		for _, enc := range [][]byte{got, mustMarshal(t, tc.v), mustMarshal(t, uint32(tc.v)), mustMarshal(t, uint16(tc.v)), mustMarshal(t, uint8(tc.v))} {
			// The narrower types truncate: msgpack's reading is the oracle.
			var fromMsgpack uint64
			_ = msgpack.Unmarshal(enc, &fromMsgpack)
			r := readerFor(enc, codec.Limits{})
			if got := r.Uint(); r.Done() != nil || got != fromMsgpack {
				t.Errorf("Reader.Uint(%x) = %d, %v; msgpack reads %d", enc, got, r.Err(), fromMsgpack)
			}
		}
		if tc.v <= math.MaxInt64 {
			r := readerFor(got, codec.Limits{})
			if i := r.Int(); r.Done() != nil || i != int64(tc.v) {
				t.Errorf("Reader.Int(%x) = %d, %v", got, i, r.Err())
			}
		} else {
			r := readerFor(got, codec.Limits{})
			r.Int()
			if !errors.Is(r.Err(), codec.ErrMalformed) {
				t.Errorf("Reader.Int(%x) above int64: %v, want ErrMalformed", got, r.Err())
			}
		}
	}
}

func mustMarshal(t tb, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIntBoundaries(t *testing.T) {
	for _, tc := range intCases {
		w := codec.NewWriter(testKind, 0)
		w.Int(tc.v)
		got := body(t, w)
		if want := unhex(t, tc.hex); !bytes.Equal(got, want) {
			t.Errorf("Int(%d) wrote %x, want %x", tc.v, got, want)
		}
		if m := compact(t, tc.v); !bytes.Equal(got, m) {
			t.Errorf("Int(%d) wrote %x, msgpack %x", tc.v, got, m)
		}
		var back int64
		if err := msgpack.Unmarshal(got, &back); err != nil || back != tc.v {
			t.Errorf("msgpack reads %x as %d, %v; want %d", got, back, err, tc.v)
		}
		// msgpack writes int64 as d3 and 8 bytes: the Reader takes it.
		for _, enc := range [][]byte{got, mustMarshal(t, tc.v)} {
			r := readerFor(enc, codec.Limits{})
			if i := r.Int(); r.Done() != nil || i != tc.v {
				t.Errorf("Reader.Int(%x) = %d, %v; want %d", enc, i, r.Err(), tc.v)
			}
			r = readerFor(enc, codec.Limits{})
			u := r.Uint()
			switch {
			case tc.v < 0 && !errors.Is(r.Err(), codec.ErrMalformed):
				t.Errorf("Reader.Uint(%x) of a negative = %d, %v; want ErrMalformed", enc, u, r.Err())
			case tc.v >= 0 && (r.Err() != nil || u != uint64(tc.v)):
				t.Errorf("Reader.Uint(%x) = %d, %v; want %d", enc, u, r.Err(), tc.v)
			}
		}
	}
}

func TestStringAndBinaryLengthClasses(t *testing.T) {
	for _, tc := range lengthCases {
		s := strings.Repeat("x", tc.n)
		w := codec.NewWriter(testKind, 0)
		w.String(s)
		got := body(t, w)
		want := append(unhex(t, tc.str), s...)
		if !bytes.Equal(got, want) || !bytes.Equal(got, compact(t, s)) {
			t.Errorf("String of %d bytes: header %x, want %s", tc.n, got[:min(len(got), 5)], tc.str)
		}
		var back string
		if err := msgpack.Unmarshal(got, &back); err != nil || back != s {
			t.Errorf("msgpack reads a %d-byte string as %d bytes, %v", tc.n, len(back), err)
		}
		r := readerFor(got, codec.Limits{})
		if rs := r.String(); r.Done() != nil || rs != s {
			t.Errorf("Reader.String of %d bytes: %d bytes, %v", tc.n, len(rs), r.Err())
		}
		// Binary also reads strings.
		r = readerFor(got, codec.Limits{})
		if rb := r.Binary(); r.Done() != nil || string(rb) != s {
			t.Errorf("Reader.Binary of a %d-byte string: %d bytes, %v", tc.n, len(rb), r.Err())
		}

		b := bytes.Repeat([]byte{0xb7}, tc.n)
		w = codec.NewWriter(testKind, 0)
		w.Binary(b)
		got = body(t, w)
		want = append(unhex(t, tc.bin), b...)
		if !bytes.Equal(got, want) || !bytes.Equal(got, compact(t, b)) {
			t.Errorf("Binary of %d bytes: header %x, want %s", tc.n, got[:min(len(got), 5)], tc.bin)
		}
		var backB []byte
		if err := msgpack.Unmarshal(got, &backB); err != nil || !bytes.Equal(backB, b) {
			t.Errorf("msgpack reads %d bytes as %d, %v", tc.n, len(backB), err)
		}
		msg := append(append([]byte{}, emptyHeader...), got...)
		r = codec.NewReader(msg, testKind, codec.Limits{})
		rb := r.Binary()
		if r.Done() != nil || !bytes.Equal(rb, b) {
			t.Errorf("Reader.Binary of %d bytes: %d bytes, %v", tc.n, len(rb), r.Err())
		}
		if tc.n > 0 {
			rb[0] ^= 0xff // the result is a copy, not a view of the input
			if msg[len(msg)-tc.n] != 0xb7 {
				t.Errorf("Reader.Binary returned a view of its input")
			}
		}
	}
}

func TestArrayAndMapLengthClasses(t *testing.T) {
	for _, tc := range lengthCases {
		// An array of n nils.
		w := codec.NewWriter(testKind, 0)
		w.Array(tc.n)
		for range tc.n {
			w.Nil()
		}
		got := body(t, w)
		want := append(unhex(t, tc.array), bytes.Repeat([]byte{0xc0}, tc.n)...)
		if !bytes.Equal(got, want) || !bytes.Equal(got, compact(t, make([]any, tc.n))) {
			t.Errorf("Array(%d): header %x, want %s", tc.n, got[:min(len(got), 5)], tc.array)
		}
		var back []any
		if err := msgpack.Unmarshal(got, &back); err != nil || len(back) != tc.n {
			t.Errorf("msgpack reads an array of %d as %d, %v", tc.n, len(back), err)
		}
		r := readerFor(got, codec.Limits{})
		if n := r.ArrayLen(); n != tc.n {
			t.Errorf("ArrayLen = %d, %v; want %d", n, r.Err(), tc.n)
		}
		for range tc.n {
			if !r.IsNil() {
				t.Fatalf("element not nil: %v", r.Err())
			}
		}
		if err := r.Done(); err != nil {
			t.Error(err)
		}

		// A map of n pairs, keys 0..n-1 in order, values false.
		w = codec.NewWriter(testKind, 0)
		w.Map(tc.n)
		m := make(map[uint64]bool, tc.n)
		for i := range uint64(tc.n) {
			w.Uint(i)
			w.Bool(false)
			m[i] = false
		}
		got = body(t, w)
		if h := unhex(t, tc.mapp); !bytes.HasPrefix(got, h) {
			t.Errorf("Map(%d): header %x, want %s", tc.n, got[:min(len(got), 5)], tc.mapp)
		}
		var backM map[uint64]bool
		if err := msgpack.Unmarshal(got, &backM); err != nil || len(backM) != tc.n {
			t.Errorf("msgpack reads a map of %d as %d, %v", tc.n, len(backM), err)
		}
		r = readerFor(got, codec.Limits{})
		if n := r.MapLen(); n != tc.n {
			t.Errorf("MapLen = %d, %v; want %d", n, r.Err(), tc.n)
		}
		for i := range uint64(tc.n) {
			if k, v := r.Uint(), r.Bool(); k != i || v {
				t.Fatalf("pair %d read as %d: %v, %v", i, k, v, r.Err())
			}
		}
		if err := r.Done(); err != nil {
			t.Error(err)
		}
	}
	// msgpack's encoding of a map reads through MapLen.
	enc := mustMarshal(t, map[string]int64{"k": -5})
	r := readerFor(enc, codec.Limits{})
	if n, k, v := r.MapLen(), r.String(), r.Int(); r.Done() != nil || n != 1 || k != "k" || v != -5 {
		t.Errorf("msgpack map %x read as %d %q %d, %v", enc, n, k, v, r.Err())
	}
}

func TestBoolNilFloat(t *testing.T) {
	w := codec.NewWriter(testKind, 0)
	w.Bool(true)
	w.Bool(false)
	w.Nil()
	floats := []float64{0, math.Copysign(0, -1), 1.5, -2.25, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1)}
	for _, f := range floats {
		w.Float(f)
	}
	got := body(t, w)
	if want := unhex(t, "c3 c2 c0 cb0000000000000000 cb8000000000000000 cb3ff8000000000000"); !bytes.HasPrefix(got, want) {
		t.Fatalf("wrote %x, want it to start %x", got, want)
	}
	dec := msgpack.NewDecoder(bytes.NewReader(got))
	if b, err := dec.DecodeBool(); err != nil || !b {
		t.Fatalf("msgpack: %v %v", b, err)
	}
	if b, err := dec.DecodeBool(); err != nil || b {
		t.Fatalf("msgpack: %v %v", b, err)
	}
	if err := dec.DecodeNil(); err != nil {
		t.Fatal(err)
	}
	r := readerFor(got, codec.Limits{})
	if !r.Bool() || r.Bool() || !r.IsNil() {
		t.Fatalf("Reader: %v", r.Err())
	}
	for _, f := range floats {
		mf, err := dec.DecodeFloat64()
		if err != nil || math.Float64bits(mf) != math.Float64bits(f) {
			t.Errorf("msgpack reads %v as %v, %v", f, mf, err)
		}
		if rf := r.Float(); math.Float64bits(rf) != math.Float64bits(f) {
			t.Errorf("Reader.Float = %v, want %v", rf, f)
		}
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	// NaN keeps its bits; float32 widens.
	w = codec.NewWriter(testKind, 0)
	w.Float(math.NaN())
	r = readerFor(append(body(t, w), mustMarshal(t, float32(0.5))...), codec.Limits{})
	if f := r.Float(); !math.IsNaN(f) {
		t.Errorf("NaN read as %v", f)
	}
	if f := r.Float(); f != 0.5 || r.Done() != nil {
		t.Errorf("float32 0.5 read as %v, %v", f, r.Err())
	}
	// IsNil leaves a non-nil value in place.
	r = readerFor([]byte{0x05}, codec.Limits{})
	if r.IsNil() || r.Uint() != 5 || r.Done() != nil {
		t.Errorf("IsNil consumed a non-nil value: %v", r.Err())
	}
}

func TestWrongTypes(t *testing.T) {
	for name, read := range map[string]func(*codec.Reader){
		"Uint":     func(r *codec.Reader) { r.Uint() },
		"Int":      func(r *codec.Reader) { r.Int() },
		"Bool":     func(r *codec.Reader) { r.Bool() },
		"Float":    func(r *codec.Reader) { r.Float() },
		"String":   func(r *codec.Reader) { _ = r.String() },
		"Binary":   func(r *codec.Reader) { r.Binary() },
		"ArrayLen": func(r *codec.Reader) { r.ArrayLen() },
		"MapLen":   func(r *codec.Reader) { r.MapLen() },
		"Replica":  func(r *codec.Reader) { r.Replica() },
	} {
		// c1 is never used by msgpack; 80 is an empty map, 90 an empty
		// array, a0 an empty string: each is wrong for all but one reader.
		for _, b := range []byte{0xc1, 0x80, 0x90, 0xa0, 0xc0, 0xc3, 0xcb} {
			r := readerFor(append([]byte{b}, make([]byte, 8)...), codec.Limits{})
			read(r)
			err := r.Err()
			if err == nil {
				continue // the right type for this reader
			}
			var de *codec.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, codec.ErrMalformed) || de.Offset != len(emptyHeader) {
				t.Errorf("%s on %#02x: %v, want ErrMalformed at byte %d", name, b, err, len(emptyHeader))
			}
		}
	}
}

func TestErrorsAreSticky(t *testing.T) {
	r := readerFor(unhex(t, "c3 05 a178"), codec.Limits{})
	if r.Uint() != 0 || r.Err() == nil {
		t.Fatal("reading a bool as an integer succeeded")
	}
	first := r.Err()
	// Every later read gives a zero value and keeps the first error.
	if r.Bool() || r.Uint() != 0 || r.Int() != 0 || r.String() != "" || r.Binary() != nil ||
		r.ArrayLen() != 0 || r.MapLen() != 0 || r.Float() != 0 || r.IsNil() || r.RawValue() != nil ||
		r.Replica() != "" || r.Count(1) != 0 {
		t.Fatal("a read after an error returned a value")
	}
	r.Fail("later problem")
	if r.Err() != first || r.Done() != first {
		t.Fatalf("the first error was replaced: %v", r.Err())
	}
}

func TestWriterFailures(t *testing.T) {
	for name, write := range map[string]func(*codec.Writer){
		"negative array":  func(w *codec.Writer) { w.Array(-1) },
		"negative map":    func(w *codec.Writer) { w.Map(-1) },
		"empty replica":   func(w *codec.Writer) { w.Replica("") },
		"channel value":   func(w *codec.Writer) { codec.PutValue(w, make(chan int)) },
		"explicit Fail":   func(w *codec.Writer) { w.Fail(errors.New("boom")) },
		"first is kept":   func(w *codec.Writer) { w.Replica(""); w.Fail(errors.New("second")) },
		"function inside": func(w *codec.Writer) { codec.PutValue(w, struct{ F func() }{func() {}}) },
	} {
		t.Run(name, func(t *testing.T) {
			w := codec.NewWriter(codec.KindSet, 0)
			w.Uint(1)
			write(w)
			out, err := w.Bytes()
			var ee *codec.EncodeError
			if out != nil || !errors.As(err, &ee) || ee.Kind != codec.KindSet || ee.Unwrap() == nil {
				t.Fatalf("Bytes() = %x, %v; want an *EncodeError", out, err)
			}
			if name == "first is kept" && strings.Contains(err.Error(), "second") {
				t.Fatalf("a later failure replaced the first: %v", err)
			}
			if !strings.HasPrefix(err.Error(), "codec: encoding OR-Set: ") {
				t.Fatalf("error text %q", err)
			}
		})
	}
	w := codec.NewWriter(codec.KindSet, 0)
	w.Fail(nil) // no failure
	if _, err := w.Bytes(); err != nil {
		t.Fatal(err)
	}
}
