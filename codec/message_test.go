package codec_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/codec"
)

var update = flag.Bool("update", false, "rewrite golden files")

// writeAll writes one of every primitive, with replicas, in a fixed order
// that readAll reads back.
func writeAll(w *codec.Writer) {
	w.Replica("us-east-1")
	w.Uint(0)
	w.Uint(300)
	w.Uint(math.MaxUint64)
	w.Int(-33)
	w.Int(math.MinInt64)
	w.Bool(true)
	w.Bool(false)
	w.Nil()
	w.Float(1.5)
	w.String("héllo")
	w.String(strings.Repeat("s", 40))
	w.Binary([]byte{0xde, 0xad})
	w.Array(2)
	w.Replica("eu-west-1")
	w.Replica("us-east-1")
	w.Map(1)
	w.String("k")
	w.Int(-1)
	codec.PutValue(w, item{Title: "t", Tags: []string{"a"}})
	codec.PutValue(w, Score(7))
}

type allValues struct {
	u0, u300, umax uint64
	i33, imin      int64
	t, f, isNil    bool
	fl             float64
	s, long        string
	bin            []byte
	arr            int
	r1, r2, r3     string
	m              int
	k              string
	v              int64
	it             item
	sc             Score
}

func readAll(r *codec.Reader) allValues {
	var a allValues
	a.r1 = r.Replica()
	a.u0, a.u300, a.umax = r.Uint(), r.Uint(), r.Uint()
	a.i33, a.imin = r.Int(), r.Int()
	a.t, a.f, a.isNil = r.Bool(), r.Bool(), r.IsNil()
	a.fl = r.Float()
	a.s, a.long = r.String(), r.String()
	a.bin = r.Binary()
	a.arr = r.ArrayLen()
	a.r2, a.r3 = r.Replica(), r.Replica()
	a.m = r.MapLen()
	a.k, a.v = r.String(), r.Int()
	a.it = codec.GetValue[item](r)
	a.sc = codec.GetValue[Score](r)
	return a
}

func allMessage(t tb) []byte {
	w := codec.NewWriter(codec.KindEngine, 0)
	writeAll(w)
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestEveryPrimitiveRoundTrips(t *testing.T) {
	msg := allMessage(t)
	r := codec.NewReader(msg, codec.KindEngine, codec.Limits{})
	a := readAll(r)
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	want := allValues{
		u0: 0, u300: 300, umax: math.MaxUint64, i33: -33, imin: math.MinInt64,
		t: true, f: false, isNil: true, fl: 1.5, s: "héllo", long: strings.Repeat("s", 40),
		bin: []byte{0xde, 0xad}, arr: 2, r1: "us-east-1", r2: "eu-west-1", r3: "us-east-1",
		m: 1, k: "k", v: -1, it: item{Title: "t", Tags: []string{"a"}}, sc: 7,
	}
	if fmt.Sprint(a) != fmt.Sprint(want) {
		t.Fatalf("read back\n%+v\nwant\n%+v", a, want)
	}
	if got := r.Replicas(); len(got) != 2 || got[0] != "us-east-1" || got[1] != "eu-west-1" {
		t.Fatalf("replica table %q", got)
	}
	// A Writer writes version 1 unless told otherwise.
	if r.Version() != 1 || r.Kind() != codec.KindEngine {
		t.Fatalf("Version=%d Kind=%v", r.Version(), r.Kind())
	}
}

// TestGolden pins the bytes of a message holding every primitive. The
// expected bytes are also checked piece by piece against msgpack, so the
// golden file is not merely the code's own output.
func TestGolden(t *testing.T) {
	msg := allMessage(t)
	path := filepath.Join("testdata", "primitives.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, msg, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(msg, want) {
		t.Fatalf("%s changed:\n got %x\nwant %x", path, msg, want)
	}
	// Header: version 1, kind 0x60, a table of two replicas.
	head := append([]byte{0x01, 0x60}, compact(t, []string{"us-east-1", "eu-west-1"})...)
	if !bytes.HasPrefix(want, head) {
		t.Fatalf("golden header %x, want %x", want[:len(head)], head)
	}
	// Body: the same values through msgpack's encoder, replicas as
	// indices 0, 1, 0.
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	for _, v := range []any{
		0, 0, 300, uint64(math.MaxUint64), -33, int64(math.MinInt64), true, false, nil, 1.5,
		"héllo", strings.Repeat("s", 40), []byte{0xde, 0xad}, []int{1, 0},
		map[string]int{"k": -1},
	} {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []any{item{Title: "t", Tags: []string{"a"}}, Score(7)} {
		// PutValue hands other types to msgpack with its defaults.
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
	}
	if got := want[len(head):]; !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("golden body\n%x\nmsgpack\n%x", got, buf.Bytes())
	}
}

func TestHeaderErrors(t *testing.T) {
	good := allMessage(t)
	for _, tc := range []struct {
		name  string
		msg   []byte
		want  Kind
		class error
	}{
		{"version 0", append([]byte{0x00}, good[1:]...), codec.KindEngine, codec.ErrVersion},
		{"version after this one", append([]byte{codec.Version + 1}, good[1:]...), codec.KindEngine, codec.ErrVersion},
		{"version 2^64-1", append(unhex(t, "cfffffffffffffffff"), good[1:]...), codec.KindEngine, codec.ErrVersion},
		{"negative version", append([]byte{0xff}, good[1:]...), codec.KindEngine, codec.ErrMalformed},
		{"version not shortest", append([]byte{0xcc, 0x01}, good[1:]...), codec.KindEngine, codec.ErrMalformed},
		{"version not an integer", append([]byte{0xa1, 0x01}, good[1:]...), codec.KindEngine, codec.ErrMalformed},
		{"wrong kind", good, codec.KindSet, codec.ErrKind},
		{"kind above a byte", append([]byte{0x01, 0xcd, 0x01, 0x60}, good[2:]...), codec.KindEngine, codec.ErrKind},
		{"kind not shortest", append([]byte{0x01, 0xcc, 0x60}, good[2:]...), codec.KindEngine, codec.ErrMalformed},
		{"empty", nil, codec.KindEngine, codec.ErrTruncated},
		{"table not an array", unhex(t, "01 60 c3"), codec.KindEngine, codec.ErrMalformed},
		{"one-entry table as an array", unhex(t, "01 60 91 a161 00"), codec.KindEngine, codec.ErrMalformed},
		{"table header not shortest", unhex(t, "01 60 dc0000"), codec.KindEngine, codec.ErrMalformed},
		{"replica twice in the table", unhex(t, "01 60 92 a161 a161"), codec.KindEngine, codec.ErrMalformed},
		{"replica twice in a large table", unhex(t, "01 60 9a a161 a162 a163 a164 a165 a166 a167 a168 a169 a162"), codec.KindEngine, codec.ErrMalformed},
		{"empty replica ID", unhex(t, "01 60 a0"), codec.KindEngine, codec.ErrMalformed},
		{"replica ID header not shortest", unhex(t, "01 60 d901 61"), codec.KindEngine, codec.ErrMalformed},
		{"replica ID not a string", unhex(t, "01 60 92 a161 01"), codec.KindEngine, codec.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := codec.NewReader(tc.msg, tc.want, codec.Limits{})
			err := r.Err()
			var de *codec.DecodeError
			if !errors.As(err, &de) || !errors.Is(err, tc.class) {
				t.Fatalf("NewReader(%x) error %v, want a *DecodeError wrapping %v", tc.msg, err, tc.class)
			}
			if de.Kind != tc.want {
				t.Fatalf("error names kind %v, want %v", de.Kind, tc.want)
			}
			if r.Replicas() != nil {
				t.Fatalf("a refused header left a replica table %q", r.Replicas())
			}
		})
	}
	// A table of nine or more distinct replicas reads fine.
	r := codec.NewReader(unhex(t, "01 60 9a a161 a162 a163 a164 a165 a166 a167 a168 a169 a16a"), codec.KindEngine, codec.Limits{})
	if r.Done() != nil || len(r.Replicas()) != 10 {
		t.Fatalf("large table: %q, %v", r.Replicas(), r.Err())
	}
}

// Kind is a local alias to keep the table above short.
type Kind = codec.Kind

func TestTruncationAtEveryOffset(t *testing.T) {
	msg := allMessage(t)
	for n := range len(msg) {
		cut := msg[:n:n] // no spare capacity to read past
		r := codec.NewReader(cut, codec.KindEngine, codec.Limits{})
		a := readAll(r)
		err := r.Done()
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, codec.ErrTruncated) {
			t.Fatalf("cut at %d of %d: %v, want a *DecodeError wrapping ErrTruncated", n, len(msg), err)
		}
		if de.Offset < 0 || de.Offset > n {
			t.Fatalf("cut at %d: error offset %d outside the input", n, de.Offset)
		}
		_ = a
	}
	// And one byte too many.
	r := codec.NewReader(append(msg, 0x00), codec.KindEngine, codec.Limits{})
	readAll(r)
	if err := r.Done(); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("trailing byte: %v, want ErrMalformed", err)
	}
}

func TestLimits(t *testing.T) {
	lim := func(f func(*codec.Limits)) codec.Limits {
		l := codec.Limits{}
		f(&l)
		return l
	}
	if d := codec.DefaultLimits(); d.MaxBytes != 64<<20 || d.MaxItems != 16<<20 || d.MaxDepth != 32 {
		t.Fatalf("DefaultLimits() = %+v", d)
	}
	if got := readerFor(nil, codec.Limits{}).Limits(); got != codec.DefaultLimits() {
		t.Fatalf("zero Limits read as %+v", got)
	}
	if got := readerFor(nil, codec.Limits{MaxDepth: math.MaxInt}).Limits().MaxDepth; got != 10000 {
		t.Fatalf("MaxDepth is not capped: %d", got)
	}

	// MaxBytes: the message as a whole.
	msg := allMessage(t)
	r := codec.NewReader(msg, codec.KindEngine, codec.Limits{MaxBytes: len(msg) - 1})
	if !errors.Is(r.Err(), codec.ErrLimit) {
		t.Fatalf("message over MaxBytes: %v", r.Err())
	}
	r = codec.NewReader(msg, codec.KindEngine, codec.Limits{MaxBytes: len(msg)})
	readAll(r)
	if err := r.Done(); err != nil {
		t.Fatalf("message of exactly MaxBytes: %v", err)
	}

	// MaxItems: arrays, maps, the replica table, and inside RawValue.
	five := unhex(t, "95 00 00 00 00 00")
	for name, tc := range map[string]struct {
		body []byte
		read func(*codec.Reader)
	}{
		"array":      {five, func(r *codec.Reader) { r.ArrayLen() }},
		"map":        {unhex(t, "85 00 00 00 00 00 00 00 00 00 00"), func(r *codec.Reader) { r.MapLen() }},
		"count":      {five, func(r *codec.Reader) { r.Count(1) }},
		"raw array":  {unhex(t, "91 95 00 00 00 00 00"), func(r *codec.Reader) { r.RawValue() }},
		"raw map":    {unhex(t, "85 00 00 00 00 00 00 00 00 00 00"), func(r *codec.Reader) { r.RawValue() }},
		"slice":      {five, func(r *codec.Reader) { codec.GetValue[[]int](r) }},
		"any object": {five, func(r *codec.Reader) { codec.GetValue[any](r) }},
	} {
		r := readerFor(tc.body, lim(func(l *codec.Limits) { l.MaxItems = 4 }))
		tc.read(r)
		if !errors.Is(r.Err(), codec.ErrLimit) {
			t.Errorf("%s of 5 items with MaxItems 4: %v, want ErrLimit", name, r.Err())
		}
		r = readerFor(tc.body, lim(func(l *codec.Limits) { l.MaxItems = 5 }))
		tc.read(r)
		if err := r.Err(); err != nil {
			t.Errorf("%s of 5 items with MaxItems 5: %v", name, err)
		}
	}
	tbl := unhex(t, "01 60 93 a161 a162 a163")
	if r := codec.NewReader(tbl, codec.KindEngine, codec.Limits{MaxItems: 2}); !errors.Is(r.Err(), codec.ErrLimit) {
		t.Errorf("replica table of 3 with MaxItems 2: %v", r.Err())
	}

	// MaxDepth: arrays nested d deep inside a generic value.
	nested := func(d int) []byte {
		return append(bytes.Repeat([]byte{0x91}, d), 0x00)
	}
	for _, depth := range []int{1, 5, 32} {
		// d+1 levels of values (d arrays and the integer) are fine...
		r := readerFor(nested(depth), lim(func(l *codec.Limits) { l.MaxDepth = depth }))
		raw := r.RawValue()
		if err := r.Done(); err != nil || len(raw) != depth+1 {
			t.Errorf("%d arrays with MaxDepth %d: %x, %v", depth, depth, raw, err)
		}
		// ...one more array is not.
		r = readerFor(nested(depth+1), lim(func(l *codec.Limits) { l.MaxDepth = depth }))
		codec.GetValue[any](r)
		if !errors.Is(r.Err(), codec.ErrLimit) {
			t.Errorf("%d arrays with MaxDepth %d: %v, want ErrLimit", depth+1, depth, r.Err())
		}
	}
	// Deep nesting within the cap is checked without exhausting the stack.
	r = readerFor(nested(20000), codec.Limits{MaxDepth: math.MaxInt})
	r.RawValue()
	if !errors.Is(r.Err(), codec.ErrLimit) {
		t.Errorf("20000 arrays with MaxDepth capped at 10000: %v", r.Err())
	}
}

// TestHugeHeadersAllocateNothing feeds headers that claim 2³²-1 items or
// bytes in messages of a few bytes: every reader must refuse them without
// allocating anything in proportion to the claim.
func TestHugeHeadersAllocateNothing(t *testing.T) {
	claims := map[string][]byte{
		"array":  unhex(t, "dd ffffffff 00"),
		"map":    unhex(t, "df ffffffff 00"),
		"string": unhex(t, "db ffffffff 00"),
		"binary": unhex(t, "c6 ffffffff 00"),
		"ext":    unhex(t, "c9 ffffffff 01"),
		"nested": unhex(t, "91 dd ffffffff"),
	}
	reads := map[string]func(*codec.Reader){
		"ArrayLen":  func(r *codec.Reader) { r.ArrayLen() },
		"MapLen":    func(r *codec.Reader) { r.MapLen() },
		"Count":     func(r *codec.Reader) { r.Count(8) },
		"String":    func(r *codec.Reader) { _ = r.String() },
		"Binary":    func(r *codec.Reader) { r.Binary() },
		"RawValue":  func(r *codec.Reader) { r.RawValue() },
		"[]int":     func(r *codec.Reader) { codec.GetValue[[]int](r) },
		"[]byte":    func(r *codec.Reader) { codec.GetValue[[]byte](r) },
		"string":    func(r *codec.Reader) { codec.GetValue[string](r) },
		"any":       func(r *codec.Reader) { codec.GetValue[any](r) },
		"map[s]int": func(r *codec.Reader) { codec.GetValue[map[string]int](r) },
	}
	for cname, body := range claims {
		msg := append(append([]byte{}, emptyHeader...), body...)
		if len(msg) != 10 {
			t.Fatalf("%s: message of %d bytes, want 10", cname, len(msg))
		}
		for rname, read := range reads {
			var failed bool
			run := func() {
				r := codec.NewReader(msg, testKind, codec.Limits{})
				read(r)
				failed = r.Err() != nil
			}
			allocs := testing.AllocsPerRun(20, run)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 20 {
				run()
			}
			runtime.ReadMemStats(&after)
			perRun := (after.TotalAlloc - before.TotalAlloc) / 20
			if !failed && (cname != "nested" || rname != "ArrayLen") { // the outer array is fine
				t.Errorf("%s of %s: accepted", rname, cname)
			}
			// A Reader, its error and the error's text: a few small
			// allocations, a few hundred bytes.
			if allocs > 10 || perRun > 4096 {
				t.Errorf("%s of %s: %.0f allocations, %d bytes per run", rname, cname, allocs, perRun)
			}
		}
	}
}

func TestRawValue(t *testing.T) {
	for _, v := range []any{
		nil, true, 1, -1, 1 << 40, 1.5, float32(2), "s", strings.Repeat("x", 300), []byte{1},
		[]any{1, "a", []any{nil}}, map[string]any{"a": map[string]any{"b": []int{1}}},
		item{Title: "t", Tags: []string{"x"}, Extra: map[string]uint16{"k": 9}},
	} {
		enc := mustMarshal(t, v)
		r := readerFor(append(enc, 0xc3), codec.Limits{})
		raw := r.RawValue()
		if !bytes.Equal(raw, enc) || !r.Bool() || r.Done() != nil {
			t.Errorf("RawValue of %x (then true) = %x, %v", enc, raw, r.Err())
		}
	}
	// Extension types, fixed and variable, are skipped whole.
	for _, h := range []string{"d4 01 00", "d5 01 0000", "d6 01 00000000", "d7 01 0000000000000000",
		"d8 01 00000000000000000000000000000000", "c7 02 01 0000", "c8 0002 01 0000", "c9 00000002 01 0000"} {
		enc := unhex(t, h)
		r := readerFor(enc, codec.Limits{})
		if raw := r.RawValue(); !bytes.Equal(raw, enc) || r.Done() != nil {
			t.Errorf("RawValue of ext %s = %x, %v", h, raw, r.Err())
		}
	}
	r := readerFor([]byte{0xc1}, codec.Limits{})
	if r.RawValue() != nil || !errors.Is(r.Err(), codec.ErrMalformed) {
		t.Errorf("RawValue of the unused byte c1: %v", r.Err())
	}
}

func TestReplicaIndices(t *testing.T) {
	w := codec.NewWriter(testKind, 0)
	var want []string
	// Twenty replicas, each written twice: the table holds each once, in
	// order of first use, past the size where the Writer switches to a map.
	for i := range 20 {
		id := fmt.Sprintf("r%02d", i)
		w.Replica(id)
		w.Replica(id)
		want = append(want, id)
	}
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r := codec.NewReader(msg, testKind, codec.Limits{})
	if got := r.Replicas(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("table %q, want %q", got, want)
	}
	for i := range 20 {
		if a, b := r.Replica(), r.Replica(); a != want[i] || b != want[i] {
			t.Fatalf("replica %d read as %q, %q", i, a, b)
		}
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	// Each index after the first is one byte; the table is written once.
	if n := strings.Count(string(msg), "r05"); n != 1 {
		t.Fatalf("replica written %d times", n)
	}
	r = codec.NewReader(unhex(t, "01 cc81 a161 01"), testKind, codec.Limits{})
	if r.Replica() != "" || !errors.Is(r.Err(), codec.ErrMalformed) {
		t.Fatalf("index past the table: %v", r.Err())
	}
}

func TestDecodeErrorText(t *testing.T) {
	r := codec.NewReader(unhex(t, "01 30 90 db 00000fa0 00"), codec.KindSet, codec.Limits{})
	_ = r.String()
	want := "codec: decoding OR-Set at byte 8: need 4000 bytes, 1 left: codec: truncated input"
	if err := r.Err(); err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	for k, s := range map[codec.Kind]string{
		codec.KindClock: "version vector", codec.KindContext: "causal context", codec.KindMapDelete: "LWW-map delete op", codec.KindORMapOp: "OR-Map op",
		codec.KindUser + 2: "user kind 0x82", 0x7e: "unknown kind 0x7e",
	} {
		if k.String() != s {
			t.Errorf("Kind(%#x).String() = %q, want %q", uint8(k), k.String(), s)
		}
	}
	r.Fail("caller %s", "problem")
	if !strings.Contains(r.Err().Error(), "4000 bytes") {
		t.Fatal("Fail replaced the first error")
	}
	r = readerFor([]byte{0x01}, codec.Limits{})
	r.Uint()
	r.Fail("invariant %d broken", 7)
	var de *codec.DecodeError
	if !errors.As(r.Err(), &de) || de.Reason != "invariant 7 broken" || de.Offset != 5 || !errors.Is(de, codec.ErrMalformed) {
		t.Fatalf("Fail recorded %+v", de)
	}
}
