package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
)

type Status string

type Score int64

type item struct {
	Title  string            `msgpack:"title"`
	Done   bool              `msgpack:"done"`
	Status Status            `msgpack:"status"`
	Score  Score             `msgpack:"score"`
	Tags   []string          `msgpack:"tags"`
	Extra  map[string]uint16 `msgpack:"extra"`
	Ratio  float32           `msgpack:"ratio"`
}

// roundTrip writes v with PutValue and reads it back as a U.
func roundTrip[T, U any](t tb, v T) (U, []byte, error) {
	t.Helper()
	w := codec.NewWriter(testKind, 0)
	codec.PutValue(w, v)
	b := body(t, w)
	r := readerFor(b, codec.Limits{})
	got := codec.GetValue[U](r)
	return got, b, r.Done()
}

func checkRoundTrip[T any](t *rapid.T, v T) {
	got, b, err := roundTrip[T, T](t, v)
	if err != nil {
		t.Fatalf("%T %v: %v", v, v, err)
	}
	if !cmp.Equal(got, v) {
		t.Fatalf("%T %v round-tripped to %v", v, v, got)
	}
	// The bytes are plain msgpack: msgpack reads the same value.
	var viaMsgpack T
	if err := msgpack.Unmarshal(b, &viaMsgpack); err != nil || !cmp.Equal(viaMsgpack, v) {
		t.Fatalf("msgpack reads %x as %v, %v; want %v", b, viaMsgpack, err, v)
	}
}

func TestValueFastPaths(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		checkRoundTrip(t, rapid.String().Draw(t, "string"))
		checkRoundTrip(t, rapid.SliceOf(rapid.Byte()).Filter(func(b []byte) bool { return b != nil }).Draw(t, "bytes"))
		checkRoundTrip(t, rapid.Bool().Draw(t, "bool"))
		checkRoundTrip(t, rapid.Int().Draw(t, "int"))
		checkRoundTrip(t, rapid.Int8().Draw(t, "int8"))
		checkRoundTrip(t, rapid.Int16().Draw(t, "int16"))
		checkRoundTrip(t, rapid.Int32().Draw(t, "int32"))
		checkRoundTrip(t, rapid.Int64().Draw(t, "int64"))
		checkRoundTrip(t, rapid.Uint().Draw(t, "uint"))
		checkRoundTrip(t, rapid.Uint8().Draw(t, "uint8"))
		checkRoundTrip(t, rapid.Uint16().Draw(t, "uint16"))
		checkRoundTrip(t, rapid.Uint32().Draw(t, "uint32"))
		checkRoundTrip(t, rapid.Uint64().Draw(t, "uint64"))
		checkRoundTrip(t, rapid.Float64().Draw(t, "float64"))
		checkRoundTrip(t, rapid.Float32().Draw(t, "float32"))
		checkRoundTrip(t, Status(rapid.String().Draw(t, "status")))
		checkRoundTrip(t, Score(rapid.Int64().Draw(t, "score")))
		checkRoundTrip(t, item{
			Title:  rapid.String().Draw(t, "title"),
			Done:   rapid.Bool().Draw(t, "done"),
			Status: Status(rapid.String().Draw(t, "itemStatus")),
			Score:  Score(rapid.Int64().Draw(t, "itemScore")),
			Tags:   rapid.SliceOf(rapid.String()).Draw(t, "tags"),
			Extra:  rapid.MapOf(rapid.String(), rapid.Uint16()).Draw(t, "extra"),
			Ratio:  rapid.Float32().Draw(t, "ratio"),
		})
	})
}

func TestValueBoundaries(t *testing.T) {
	// Every integer type at both ends of its range.
	ok := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []int64{math.MinInt64, math.MinInt32, math.MinInt16, math.MinInt8, -1, 0, math.MaxInt8, math.MaxInt16, math.MaxInt32, math.MaxInt64} {
		got, _, err := roundTrip[int64, int64](t, v)
		ok(err)
		if got != v {
			t.Errorf("int64 %d -> %d", v, got)
		}
	}
	for _, v := range []uint64{0, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64} {
		got, _, err := roundTrip[uint64, uint64](t, v)
		ok(err)
		if got != v {
			t.Errorf("uint64 %d -> %d", v, got)
		}
	}
	if got, _, err := roundTrip[int8, int8](t, math.MinInt8); err != nil || got != math.MinInt8 {
		t.Errorf("int8 min -> %d, %v", got, err)
	}
	if got, _, err := roundTrip[uint32, uint32](t, math.MaxUint32); err != nil || got != math.MaxUint32 {
		t.Errorf("uint32 max -> %d, %v", got, err)
	}
	// An empty byte slice comes back empty, not nil-versus-empty confused
	// with a missing value.
	if got, b, err := roundTrip[[]byte, []byte](t, nil); err != nil || len(got) != 0 || !bytes.Equal(b, []byte{0xc4, 0x00}) {
		t.Errorf("nil []byte -> %v (%x), %v", got, b, err)
	}
}

// A value written as one type reads as another that holds it: a named type
// and its underlying type share their bytes.
func TestValueNamedTypesInterchange(t *testing.T) {
	if got, b, err := roundTrip[Status, string](t, "active"); err != nil || got != "active" {
		t.Errorf("Status read as string: %q (%x), %v", got, b, err)
	}
	if got, _, err := roundTrip[string, Status](t, "active"); err != nil || got != "active" {
		t.Errorf("string read as Status: %q, %v", got, err)
	}
	_, sb, _ := roundTrip[Status, Status](t, "active")
	_, pb, _ := roundTrip[string, string](t, "active")
	if !bytes.Equal(sb, pb) {
		t.Errorf("Status wrote %x, string %x", sb, pb)
	}
	// msgpack writes a named int64 in 9 bytes; the fast path reads it.
	if got, b, err := roundTrip[Score, int64](t, -5); err != nil || got != -5 {
		t.Errorf("Score read as int64: %d (%x), %v", got, b, err)
	}
	if got, _, err := roundTrip[int64, Score](t, 1<<40); err != nil || got != 1<<40 {
		t.Errorf("int64 read as Score: %d, %v", got, err)
	}
	if got, _, err := roundTrip[uint8, int](t, 200); err != nil || got != 200 {
		t.Errorf("uint8 read as int: %d, %v", got, err)
	}
	if got, _, err := roundTrip[string, []byte](t, "raw"); err != nil || string(got) != "raw" {
		t.Errorf("string read as []byte: %q, %v", got, err)
	}
	if got, _, err := roundTrip[float32, float64](t, 0.25); err != nil || got != 0.25 {
		t.Errorf("float32 read as float64: %v, %v", got, err)
	}
	if got, _, err := roundTrip[item, map[string]any](t, item{Title: "x"}); err != nil || got["title"] != "x" {
		t.Errorf("struct read as a map: %v, %v", got, err)
	}
}

func TestValueOutOfRange(t *testing.T) {
	malformed := func(name string, err error) {
		t.Helper()
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("%s: %v, want a *DecodeError wrapping ErrMalformed", name, err)
		} else if de.Offset != len(emptyHeader) {
			t.Errorf("%s: error at byte %d, want %d (the value's start)", name, de.Offset, len(emptyHeader))
		}
	}
	check := func(name string, err error, got any, zero any) {
		t.Helper()
		malformed(name, err)
		if got != zero {
			t.Errorf("%s: returned %v, want the zero value", name, got)
		}
	}
	g1, _, err := roundTrip[int64, int8](t, 300)
	check("300 into int8", err, g1, int8(0))
	g2, _, err := roundTrip[int64, int8](t, -129)
	check("-129 into int8", err, g2, int8(0))
	g3, _, err := roundTrip[int64, uint8](t, -1)
	check("-1 into uint8", err, g3, uint8(0))
	g4, _, err := roundTrip[uint64, int64](t, math.MaxUint64)
	check("2^64-1 into int64", err, g4, int64(0))
	g5, _, err := roundTrip[int64, int32](t, 1<<40)
	check("2^40 into int32", err, g5, int32(0))
	g6, _, err := roundTrip[uint64, uint16](t, 1<<16)
	check("2^16 into uint16", err, g6, uint16(0))
	g7, _, err := roundTrip[uint64, uint32](t, 1<<32)
	check("2^32 into uint32", err, g7, uint32(0))
	g8, _, err := roundTrip[int64, int16](t, math.MinInt16-1)
	check("MinInt16-1 into int16", err, g8, int16(0))
	g9, _, err := roundTrip[string, int](t, "7")
	check("string into int", err, g9, 0)
	g10, _, err := roundTrip[int, string](t, 7)
	check("int into string", err, g10, "")
	g11, _, err := roundTrip[int, bool](t, 1)
	check("int into bool", err, g11, false)
	g12, _, err := roundTrip[string, Score](t, "x")
	check("string into Score", err, g12, Score(0))
	g13, _, err := roundTrip[[]string, item](t, []string{"a"})
	malformed("array into struct", err)
	if !cmp.Equal(g13, item{}) {
		t.Errorf("array into struct returned %+v", g13)
	}
}

// panicky decodes by panicking, as a buggy user type might.
type panicky struct{}

func (*panicky) DecodeMsgpack(*msgpack.Decoder) error { panic("user decoder bug") }

func TestValueUserDecoderPanic(t *testing.T) {
	r := readerFor([]byte{0x01}, codec.Limits{})
	codec.GetValue[panicky](r)
	if !errors.Is(r.Err(), codec.ErrMalformed) {
		t.Fatalf("a panicking user decoder gave %v, want ErrMalformed", r.Err())
	}
}
