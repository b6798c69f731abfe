package lwwmap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestStateRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		m := drawState(t, s, "state")
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Map[string, int]
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("decoding: %v", err)
		}
		if !got.Equal(m) || !mapsEqual(contents(&got), contents(m)) || got.Len() != m.Len() {
			t.Fatalf("round trip:\n%s\nbecame\n%s", dump(m), dump(&got))
		}
		// Deterministic: a copy, whose Go map iterates in another order,
		// encodes to the same bytes, and so does the decoded state.
		for _, other := range []*Map[string, int]{m.Clone(), &got} {
			again, err := other.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("encodings differ:\n%x\n%x", data, again)
			}
		}
	})
}

func mapsEqual[K, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestOpRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, false)
		s.run()
		for _, op := range s.ops {
			data, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got Op[string, int]
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatalf("decoding %v: %v", op, err)
			}
			if got != op {
				t.Fatalf("round trip of %+v gave %+v", op, got)
			}
		}
	})
}

// uvarints returns the unsigned LEB128 varints of us, one after the
// other, built here by hand: seven bits a byte, lowest first, the top bit
// set on every byte but the last.
func uvarints(us ...uint64) []byte {
	var b []byte
	for _, u := range us {
		for u >= 0x80 {
			b = append(b, byte(u)|0x80)
			u >>= 7
		}
		b = append(b, byte(u))
	}
	return b
}

// sample builds a small state and ops with fixed clocks, for the golden
// files and the bad-input tests.
func sample() (*Map[string, string], Op[string, string], Op[string, string]) {
	ft := &fakeTime{now: start}
	us := New[string, string]("us-east-1", clock.New(clock.WithSource(ft.source(0))))
	eu := New[string, string]("eu-west-1", clock.New(clock.WithSource(ft.source(0))))
	put := us.Put("color", "blue")
	us.Put("size", "L")
	ft.now += 1500
	del := eu.Delete("size")
	eu.Put("shape", "round")
	ft.now += 3 * ms
	_ = us.Apply(del)
	us.Put("color", "green")
	return us, put, del
}

func TestGoldenFiles(t *testing.T) {
	m, put, del := sample()
	for name, enc := range map[string]func() ([]byte, error){
		"state.golden":        m.MarshalBinary,
		"put_op_v3.golden":    put.MarshalBinary,
		"delete_op_v3.golden": del.MarshalBinary,
		// The ops of format version 2, now only read, and of version 1,
		// which the layout of version 1 still writes.
		"put_op_v2.golden":    put.marshalV2,
		"delete_op_v2.golden": del.marshalV2,
		"put_op.golden":       put.marshalV1,
		"delete_op.golden":    del.marshalV1,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := enc()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, name, got)
		})
	}
	// The golden ops of version 3, built by hand from the layout: us-east-1
	// puts color = blue at start, a whole millisecond; eu-west-1 deletes
	// size 1500 ns later, not one.
	for name, want := range map[string][]byte{
		"put_op_v3.golden": bytes.Join([][]byte{
			{0x40 | 9}, []byte("us-east-1"), uvarints(1<<3, uint64(start/1e6)),
			{0xa5}, []byte("color"), {0xa4}, []byte("blue")}, nil),
		"delete_op_v3.golden": bytes.Join([][]byte{
			{0x40 | 0x20 | 9}, []byte("eu-west-1"), uvarints(1<<3|4, uint64(start+1500)),
			{0xa4}, []byte("size")}, nil),
	} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil || !bytes.Equal(data, want) {
			t.Fatalf("%s holds %x, %v; the layout says %x", name, data, err, want)
		}
	}
	// The ops of every version decode to the same op.
	for name, want := range map[string]Op[string, string]{
		"put_op.golden": put, "put_op_v2.golden": put, "put_op_v3.golden": put,
		"delete_op.golden": del, "delete_op_v2.golden": del, "delete_op_v3.golden": del,
	} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var got Op[string, string]
		if err := got.UnmarshalBinary(data); err != nil || got != want {
			t.Fatalf("%s decodes to %+v, %v; want %+v", name, got, err, want)
		}
	}
	// The golden bytes still decode to the same thing (old formats must
	// stay readable).
	data, err := os.ReadFile(filepath.Join("testdata", "state.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var got Map[string, string]
	if err := got.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(m) || !mapsEqual(contents(&got), map[string]string{"color": "green"}) {
		t.Fatalf("golden state decodes to %s", dump(&got))
	}
}

// The bytes below are derived by hand from the msgpack specification and
// the layout documented in encoding.go, not from the encoder's output.
func TestEncodingByHand(t *testing.T) {
	wall := start
	be := func(w int64) []byte { return binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(w)) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	t.Run("delete op", func(t *testing.T) {
		op := Op[string, string]{key: "k", ts: clock.Timestamp{Wall: wall, Logical: 3}, dot: vclock.Dot{Replica: "a", Seq: 7}, del: true}
		want := cat(
			[]byte{0x01, 0x42},     // format version 1, kind LWW-map delete op
			[]byte{0xa1, 'a'},      // replica table: the one replica "a"
			[]byte{0x95},           // five fields
			[]byte{0x00, 0x07},     // dot: replica 0, sequence 7
			be(wall), []byte{0x03}, // timestamp
			[]byte{0xa1, 'k'}, // key
		)
		got, err := op.marshalV1()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %x, %v\nwant %x", got, err, want)
		}
		if back, err := decodeOp[string, string](want, codec.Limits{}); err != nil || back != op {
			t.Fatalf("version 1 decoded %+v, %v", back, err)
		}
		// Version 2: no array, no replica index; the wall time times 4
		// plus 1, as the logical part follows.
		want = cat(
			[]byte{0x02, 0x42}, // format version 2, kind LWW-map delete op
			[]byte{0xa1, 'a'},  // replica table: "a"
			[]byte{0x07},       // sequence 7
			binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(wall)<<2|1), []byte{0x03},
			[]byte{0xa1, 'k'}, // key
		)
		got, err = op.marshalV2()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("version 2: got %x, %v\nwant %x", got, err, want)
		}
		if back, err := decodeOp[string, string](want, codec.Limits{}); err != nil || back != op {
			t.Fatalf("version 2 decoded %+v, %v", back, err)
		}
		// Version 3: the short header; sequence 7 times 8 plus 1, as the
		// logical part follows; the wall time in milliseconds, as start is
		// a whole number of them; all varints.
		want = cat(
			[]byte{0x40 | 0x20 | 1, 'a'}, // short header: a delete, replica "a"
			uvarints(7<<3|1, uint64(wall/1e6), 3),
			[]byte{0xa1, 'k'}, // key
		)
		got, err = op.MarshalBinary()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("version 3: got %x, %v\nwant %x", got, err, want)
		}
		if back, err := decodeOp[string, string](want, codec.Limits{}); err != nil || back != op {
			t.Fatalf("version 3 decoded %+v, %v", back, err)
		}
	})
	t.Run("put op, logical part zero", func(t *testing.T) {
		// A put of "k" = 5 by "r7" at logical part 0, sequence 1: the
		// update of B3.1, 18 bytes alone, 16 inside an engine message.
		op := Op[string, int]{key: "k", value: 5, ts: clock.Timestamp{Wall: wall}, dot: vclock.Dot{Replica: "r7", Seq: 1}}
		want := cat(
			[]byte{0x02, 0x41},     // format version 2, kind LWW-map put op
			[]byte{0xa2, 'r', '7'}, // replica table: "r7"
			[]byte{0x01},           // sequence 1
			binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(wall)<<2), // no flags: no logical part
			[]byte{0xa1, 'k'}, // key
			[]byte{0x05},      // value
		)
		got, err := op.marshalV2()
		if err != nil || !bytes.Equal(got, want) || len(got) != 18 {
			t.Fatalf("got %x, %v\nwant %x", got, err, want)
		}
		if back, err := decodeOp[string, int](want, codec.Limits{}); err != nil || back != op {
			t.Fatalf("decoded %+v, %v", back, err)
		}
		short, ok := codec.OmitReplica(nil, got, "r7")
		if !ok || len(short) != 16 {
			t.Fatalf("inside a message: % x, %v", short, ok)
		}
		// Version 3: 13 bytes alone, 11 inside an engine message.
		want = cat(
			[]byte{0x40 | 2, 'r', '7'}, // short header: a put, replica "r7"
			uvarints(1<<3, uint64(wall/1e6)),
			[]byte{0xa1, 'k'}, // key
			[]byte{0x05},      // value
		)
		got, err = op.MarshalBinary()
		if err != nil || !bytes.Equal(got, want) || len(got) != 13 {
			t.Fatalf("version 3: got %x, %v\nwant %x", got, err, want)
		}
		if back, err := decodeOp[string, int](want, codec.Limits{}); err != nil || back != op {
			t.Fatalf("version 3 decoded %+v, %v", back, err)
		}
		short, ok = codec.OmitReplica(nil, got, "r7")
		if !ok || !bytes.Equal(short, append([]byte{0x40}, want[3:]...)) {
			t.Fatalf("inside a message: % x, %v", short, ok)
		}
	})
	t.Run("put op after 2116", func(t *testing.T) {
		// A wall time of 2^62 ns or more does not fit the flags of
		// version 2: the op was written in the layout of version 1.
		// Version 3 carries it, in milliseconds or not.
		for _, w := range []int64{1 << 62, math.MaxInt64 / 1e6 * 1e6, math.MaxInt64} {
			op := Op[string, int]{key: "k", value: 5, ts: clock.Timestamp{Wall: w}, dot: vclock.Dot{Replica: "r7", Seq: 1}}
			if got, err := op.marshalV2(); err != nil || got[0] != 1 {
				t.Fatalf("version 2 wrote %x, %v; want version 1", got, err)
			}
			got, err := op.MarshalBinary()
			if err != nil || got[0] != 0x42 {
				t.Fatalf("got %x, %v; want version 3", got, err)
			}
			if back, err := decodeOp[string, int](got, codec.Limits{}); err != nil || back != op {
				t.Fatalf("decoded %+v, %v", back, err)
			}
		}
	})
	t.Run("put op of sequence 2^61", func(t *testing.T) {
		// A sequence number of 2^61 or more does not fit the flags of
		// version 3: the op is written in the layout of version 1.
		for _, seq := range []uint64{1<<61 - 1, 1 << 61, vclock.MaxSeq} {
			op := Op[string, int]{key: "k", value: 5, ts: clock.Timestamp{Wall: wall}, dot: vclock.Dot{Replica: "r7", Seq: seq}}
			got, err := op.MarshalBinary()
			wantFirst := byte(0x42)
			if seq >= 1<<61 {
				wantFirst = 1
			}
			if err != nil || got[0] != wantFirst {
				t.Fatalf("sequence %d: got %x, %v; want first byte %#x", seq, got, err, wantFirst)
			}
			if back, err := decodeOp[string, int](got, codec.Limits{}); err != nil || back != op {
				t.Fatalf("decoded %+v, %v", back, err)
			}
		}
	})
	t.Run("state", func(t *testing.T) {
		// Two writes of replica "a": k1 = "x" at (wall, 0), dot a:1, and
		// a delete of k2 at (wall+5, 1), dot a:2.
		want := cat(
			[]byte{0x01, 0x40},             // version 1, kind LWW-map
			[]byte{0xa1, 'a'},              // replica table
			[]byte{0x91, 0x92, 0x00, 0x02}, // context: [[a, 2]]
			be(wall),                       // base wall time
			[]byte{0x91},                   // one group
			[]byte{0x9a, 0x00},             // of 10 values: replica 0, then
			[]byte{0x01, 0x00, 0x00, 0xa2, 'k', '1', 0xa1, 'x'}, // seq +1, wall +0, tag 0, key, value
			[]byte{0x01, 0x05, 0x03, 0xa2, 'k', '2'},            // seq +1, wall +5, tag 1<<1|1, key
		)
		m := &Map[string, string]{}
		a := m.intern("a")
		m.ctx.AddRange("a", 1, 2)
		setEntries(m, map[string]entry[string]{
			"k1": {wall: wall, rep: a, seq: 1, v: "x"},
			"k2": {wall: wall + 5, logical: 1, rep: a | delBit, seq: 2},
		})
		m.nDel = 1
		got, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %x, %v\nwant %x", got, err, want)
		}
		var back Map[string, string]
		if err := back.UnmarshalBinary(want); err != nil || !back.Equal(m) {
			t.Fatalf("decoding the hand-made bytes: %v\n%s", err, dump(&back))
		}
	})
}

// rawGroup and rawEntry let tests write states the encoder never would.
type rawEntry struct {
	ds       uint64
	dw       int64
	tag      uint64
	key      string
	value    string
	hasValue bool
}

type rawGroup struct {
	id      string
	entries []rawEntry
	count   int // the group's declared number of values; 0 means the true one
}

func rawState(ctx vclock.Context, base int64, groups ...rawGroup) []byte {
	w := codec.NewWriter(codec.KindMap, 64)
	ctx.Encode(w)
	w.Int(base)
	w.Array(len(groups))
	for _, g := range groups {
		n := 1
		for _, e := range g.entries {
			n += 4
			if e.hasValue {
				n++
			}
		}
		if g.count != 0 {
			n = g.count
		}
		w.Array(n)
		w.Replica(g.id)
		for _, e := range g.entries {
			w.Uint(e.ds)
			w.Int(e.dw)
			w.Uint(e.tag)
			w.String(e.key)
			if e.hasValue {
				w.String(e.value)
			}
		}
	}
	b, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

func ctxOf(ranges ...vclock.Range) vclock.Context {
	var c vclock.Context
	for _, r := range ranges {
		c.AddRange(r.Replica, r.Lo, r.Hi)
	}
	return c
}

// rawOp writes an op field by field, with whatever replica table it is
// given.
func rawOp(kind codec.Kind, replica string, seq uint64, wall int64, logical uint64, fields int, key string, value *string) []byte {
	w := codec.NewWriter(kind, 32)
	w.Array(fields)
	w.Replica(replica)
	w.Uint(seq)
	w.Int(wall)
	w.Uint(logical)
	w.String(key)
	if value != nil {
		w.String(*value)
	}
	b, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// rawOpV2 writes an op in the layout of version 2 with the replica table
// ids, the integers ints (sequence number, wall time and flags, and a
// logical part if given), key, value if not nil, and base's integers (a
// signed wall difference and a logical part) if given.
func rawOpV2(kind codec.Kind, ids []string, ints []uint64, key string, value *string, base ...int64) []byte {
	w := codec.NewWriter(kind, 32)
	w.SetVersion(2)
	w.Table(ids...)
	for _, u := range ints {
		w.Uint(u)
	}
	w.String(key)
	if value != nil {
		w.String(*value)
	}
	if len(base) == 2 {
		w.Int(base[0])
		w.Uint(uint64(base[1]))
	}
	b, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	return b
}

// target is a map the bad input is thrown at; refused checks that nothing
// about it changed.
type target struct {
	m      *Map[string, string]
	before *Map[string, string]
	dump   string
	last   clock.Timestamp
}

func newTarget() *target {
	ft := &fakeTime{now: start + int64(10e9)}
	m := New[string, string]("target", clock.New(clock.WithSource(ft.source(0))))
	m.Put("keep", "me")
	m.Delete("gone")
	return &target{m: m, before: m.Clone(), dump: dump(m), last: m.clk.Last()}
}

func (tg *target) refused(t *testing.T, what string, err error, class error) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%s: error %v is not a *codec.DecodeError", what, err)
	}
	if class != nil && !errors.Is(err, class) {
		t.Fatalf("%s: error %v is not %v", what, err, class)
	}
	if !tg.m.Equal(tg.before) || dump(tg.m) != tg.dump || tg.m.clk.Last() != tg.last {
		t.Fatalf("%s: refused input changed the map:\n%s\nwas\n%s", what, dump(tg.m), tg.dump)
	}
}

func TestTruncatedInputIsRefusedAtEveryOffset(t *testing.T) {
	m, put, del := sample()
	state, _ := m.MarshalBinary()
	putb, _ := put.MarshalBinary()
	delb, _ := del.MarshalBinary()
	tg := newTarget()
	for i := range state {
		_, err := tg.m.MergeBinary(state[:i])
		tg.refused(t, "MergeBinary of a truncated state", err, nil)
		err = tg.m.UnmarshalBinary(state[:i])
		tg.refused(t, "UnmarshalBinary of a truncated state", err, nil)
	}
	for _, op := range [][]byte{putb, delb} {
		for i := range op {
			_, err := tg.m.ApplyBinary(op[:i])
			tg.refused(t, "ApplyBinary of a truncated op", err, nil)
			var o Op[string, string]
			if err := o.UnmarshalBinary(op[:i]); err == nil || o != (Op[string, string]{}) {
				t.Fatalf("Op.UnmarshalBinary of %d bytes: %v, %+v", i, err, o)
			}
		}
	}
}

func TestBadInputIsRefused(t *testing.T) {
	m, put, _ := sample()
	state, _ := m.MarshalBinary()
	putb, _ := put.MarshalBinary()
	version, _ := m.Version().MarshalBinary()
	future := func(b []byte) []byte { return append([]byte{codec.Version + 1}, b[1:]...) }
	v := "v"
	a12 := ctxOf(vclock.Range{Replica: "a", Lo: 1, Hi: 2})
	ok := rawEntry{ds: 1, dw: 0, tag: 0, key: "k", value: "v", hasValue: true}

	states := map[string]struct {
		data  []byte
		class error
	}{
		"op as state":          {putb, codec.ErrKind},
		"version as state":     {version, codec.ErrKind},
		"future version":       {future(state), codec.ErrVersion},
		"trailing bytes":       {append(append([]byte{}, state...), 0x00), codec.ErrMalformed},
		"a good raw state":     {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{ok}}), nil},
		"duplicate key":        {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{ok, ok}}), codec.ErrMalformed},
		"dot outside ctx":      {rawState(ctxOf(vclock.Range{Replica: "a", Lo: 2, Hi: 2}), start, rawGroup{id: "a", entries: []rawEntry{ok}}), codec.ErrMalformed},
		"zero seq delta":       {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{ok, {ds: 0, key: "j", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"zero wall":            {rawState(a12, 0, rawGroup{id: "a", entries: []rawEntry{ok}}), codec.ErrMalformed},
		"negative base":        {rawState(a12, -5, rawGroup{id: "a", entries: []rawEntry{{ds: 1, dw: 10, key: "k", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"base not smallest":    {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{{ds: 1, dw: 1, key: "k", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"base without entries": {rawState(a12, start), codec.ErrMalformed},
		"wall overflow": {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{
			ok, {ds: 1, dw: 1<<63 - 1, key: "j", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"logical out of range": {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{{ds: 1, tag: 1 << 33, key: "k", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"groups out of order": {rawState(ctxOf(vclock.Range{Replica: "a", Lo: 1, Hi: 1}, vclock.Range{Replica: "b", Lo: 1, Hi: 1}), start,
			rawGroup{id: "b", entries: []rawEntry{ok}}, rawGroup{id: "a", entries: []rawEntry{{ds: 1, key: "j", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"empty group":           {rawState(a12, 0, rawGroup{id: "a"}), codec.ErrMalformed},
		"put without value":     {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{{ds: 1, key: "k"}}}), codec.ErrMalformed},
		"marker with a value":   {rawState(a12, start, rawGroup{id: "a", entries: []rawEntry{{ds: 1, tag: 1, key: "k", value: "v", hasValue: true}}}), codec.ErrMalformed},
		"group count too small": {rawState(a12, start, rawGroup{id: "a", count: 5, entries: []rawEntry{ok}}), codec.ErrMalformed},
		"group count too large": {rawState(a12, start, rawGroup{id: "a", count: 7, entries: []rawEntry{ok}}), nil},
	}
	for name, c := range states {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			_, err := tg.m.MergeBinary(c.data)
			if name == "a good raw state" {
				if err != nil {
					t.Fatalf("the well-formed control case was refused: %v", err)
				}
				return
			}
			tg.refused(t, "MergeBinary", err, c.class)
			tg.refused(t, "UnmarshalBinary", tg.m.UnmarshalBinary(c.data), c.class)
		})
	}

	ops := map[string]struct {
		data  []byte
		class error
	}{
		"state as op":       {state, codec.ErrKind},
		"future version":    {future(putb), codec.ErrVersion},
		"a good raw put":    {rawOp(codec.KindMapPut, "a", 1, start, 0, 6, "k", &v), nil},
		"zero timestamp":    {rawOp(codec.KindMapPut, "a", 1, 0, 0, 6, "k", &v), codec.ErrMalformed},
		"negative wall":     {rawOp(codec.KindMapPut, "a", 1, -1, 0, 6, "k", &v), codec.ErrMalformed},
		"logical too large": {rawOp(codec.KindMapPut, "a", 1, start, 1<<32, 6, "k", &v), codec.ErrMalformed},
		"empty replica": {append(append([]byte{0x01, 0x41, 0xa0, 0x96, 0x00, 0x01},
			binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(start))...), 0x00, 0xa1, 'k', 0xa1, 'v'), codec.ErrMalformed},
		"zero sequence":                     {rawOp(codec.KindMapPut, "a", 0, start, 0, 6, "k", &v), codec.ErrMalformed},
		"put without value":                 {rawOp(codec.KindMapPut, "a", 1, start, 0, 5, "k", nil), codec.ErrMalformed},
		"delete with value":                 {rawOp(codec.KindMapDelete, "a", 1, start, 0, 6, "k", &v), codec.ErrMalformed},
		"delete with a value, count hidden": {rawOp(codec.KindMapDelete, "a", 1, start, 0, 5, "k", &v), codec.ErrMalformed},
		"trailing bytes":                    {append(append([]byte{}, putb...), 0xc0), codec.ErrMalformed},
		// The layout of version 2.
		"a good raw put v2":          {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start) << 2}, "k", &v), nil},
		"v2 put with base":           {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 3, 2}, "k", &v, 5, 0), nil},
		"v2 two replicas":            {rawOpV2(codec.KindMapPut, []string{"a", "b"}, []uint64{1, uint64(start) << 2}, "k", &v), codec.ErrMalformed},
		"v2 no replica":              {rawOpV2(codec.KindMapPut, nil, []uint64{1, uint64(start) << 2}, "k", &v), codec.ErrMalformed},
		"v2 zero sequence":           {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{0, uint64(start) << 2}, "k", &v), codec.ErrMalformed},
		"v2 zero wall":               {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, 1}, "k", &v), codec.ErrMalformed},
		"v2 logical zero written":    {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 1, 0}, "k", &v), codec.ErrMalformed},
		"v2 logical too large":       {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 1, 1 << 32}, "k", &v), codec.ErrMalformed},
		"v2 put without value":       {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start) << 2}, "k", nil), codec.ErrTruncated},
		"v2 delete with value":       {rawOpV2(codec.KindMapDelete, []string{"a"}, []uint64{1, uint64(start) << 2}, "k", &v), codec.ErrMalformed},
		"v2 base not before 1970":    {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 2}, "k", &v, start, 0), codec.ErrMalformed},
		"v2 base overflows":          {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 2}, "k", &v, math.MinInt64, 0), codec.ErrMalformed},
		"v2 base logical too large":  {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 2}, "k", &v, 5, 1<<32), codec.ErrMalformed},
		"v2 base flag without base":  {rawOpV2(codec.KindMapPut, []string{"a"}, []uint64{1, uint64(start)<<2 | 2}, "k", &v), codec.ErrTruncated},
		"v2 sequence not shortest":   {append([]byte{0x02, 0x41, 0xa1, 'a', 0xcc, 0x01}, binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(start)<<2)[:9]...), codec.ErrMalformed},
		"v2 array layout":            {append([]byte{0x02}, rawOp(codec.KindMapPut, "a", 1, start, 0, 6, "k", &v)[1:]...), codec.ErrMalformed},
		"v2 reference left in table": {append([]byte{0x02, 0x41, 0xc0, 0x01}, binary.BigEndian.AppendUint64([]byte{0xcf}, uint64(start)<<2)...), codec.ErrMalformed},
	}
	for name, c := range ops {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			_, err := tg.m.ApplyBinary(c.data)
			if strings.HasPrefix(name, "a good raw put") || name == "v2 put with base" {
				if err != nil {
					t.Fatalf("the well-formed control case was refused: %v", err)
				}
				return
			}
			tg.refused(t, "ApplyBinary", err, c.class)
		})
	}

	t.Run("state as a version", func(t *testing.T) {
		if _, err := m.DeltaSinceBinary(state); !errors.Is(err, codec.ErrKind) {
			t.Fatalf("DeltaSinceBinary = %v, want ErrKind", err)
		}
	})
	t.Run("future version of a version vector", func(t *testing.T) {
		if _, err := m.DeltaSinceBinary(future(version)); !errors.Is(err, codec.ErrVersion) {
			t.Fatalf("DeltaSinceBinary = %v, want ErrVersion", err)
		}
	})
}

// The replica table of a decoded state is the message's, not the
// receiver's: merging translates it.
func TestMergeTranslatesReplicaTables(t *testing.T) {
	ft := &fakeTime{now: start}
	var ms []*Map[string, string]
	for _, id := range []crdt.ReplicaID{"z", "y", "x", "w"} {
		m := region(id, ft, 0)
		m.Put(string(id), string(id))
		m.Put("shared", string(id))
		ms = append(ms, m)
	}
	all := &Map[string, string]{}
	for _, m := range ms {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := all.MergeBinary(b); err != nil {
			t.Fatal(err)
		}
	}
	// Same timestamps everywhere: the smallest ID wins "shared".
	if got, _ := all.Get("shared"); got != "w" {
		t.Fatalf("shared = %q, want w", got)
	}
	for _, m := range ms {
		m.Merge(all)
		if !m.Equal(all) {
			t.Fatalf("%s differs after merging all:\n%s\n%s", m.ID(), dump(m), dump(all))
		}
	}
}

// golden compares got with the golden file testdata/name, which -update
// writes first, and returns the file's bytes.
func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding changed:\n got %x\nwant %x", got, want)
	}
	return want
}
