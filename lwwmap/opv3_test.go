package lwwmap

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// drawOp draws an op of any sequence number, wall time, logical part,
// base and writer name of 1 to 40 bytes, a put or a delete.
func drawOp(t *rapid.T) Op[string, string] {
	seq := rapid.OneOf(
		rapid.Uint64Range(1, vclock.MaxSeq),
		rapid.Uint64Range(1, 5000),
		rapid.SampledFrom([]uint64{1, 15, 16, 2047, 2048, 1<<61 - 1, 1 << 61, 1<<61 + 1, vclock.MaxSeq}),
	).Draw(t, "seq")
	wall := rapid.OneOf(
		rapid.Int64Range(1, math.MaxInt64),
		rapid.Map(rapid.Int64Range(1, math.MaxInt64/nsPerMs), func(ms int64) int64 { return ms * nsPerMs }),
		rapid.Map(rapid.Int64Range(-5, 5), func(d int64) int64 { return start + d*nsPerMs + d }),
		rapid.SampledFrom([]int64{1, 1e6, 1e6 - 1, 1e6 + 1, math.MaxInt64, math.MaxInt64 / nsPerMs * nsPerMs, 1 << 62}),
	).Draw(t, "wall")
	op := Op[string, string]{
		dot: vclock.Dot{Replica: vclock.ReplicaID(string(rapid.SliceOfN(rapid.Byte(), 1, 40).Draw(t, "writer"))), Seq: seq},
		ts:  clock.Timestamp{Wall: wall, Logical: rapid.OneOf(rapid.Just(uint32(0)), rapid.Uint32()).Draw(t, "logical")},
		key: rapid.String().Draw(t, "key"),
		del: rapid.Bool().Draw(t, "del"),
	}
	if !op.del {
		op.value = rapid.String().Draw(t, "value")
	}
	if rapid.Bool().Draw(t, "hasBase") {
		op.base = clock.Timestamp{
			Wall:    rapid.OneOf(rapid.Int64Range(1, math.MaxInt64), rapid.Int64Range(max(1, wall-200), min(math.MaxInt64-200, wall)+200)).Draw(t, "baseWall"),
			Logical: rapid.Uint32().Draw(t, "baseLogical"),
		}
	}
	return op
}

func TestOpV3RoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		op := drawOp(t)
		b, err := op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		id := string(op.dot.Replica)
		switch {
		case op.dot.Seq >= 1<<61:
			if b[0] != 1 {
				t.Fatalf("sequence %d: version %d, want the layout of version 1", op.dot.Seq, b[0])
			}
		case len(id) <= 31:
			if want := byte(0x40 | len(id)); b[0]&^0x20 != want || (b[0]&0x20 != 0) != op.del {
				t.Fatalf("header %#x, want the short header %#x", b[0], want)
			}
		default:
			if b[0] != 3 {
				t.Fatalf("header %#x, want the long header of version 3", b[0])
			}
		}
		back, err := decodeOp[string, string](b, codec.Limits{})
		if err != nil || back != op {
			t.Fatalf("round trip of %+v gave %+v, %v", op, back, err)
		}
		// Inside an engine message, without its writer.
		short, ok := codec.OmitReplica(nil, b, id)
		if !ok {
			t.Fatal("OmitReplica refused the op")
		}
		whole, err := codec.RestoreReplica(nil, short, id, codec.Limits{})
		if err != nil || !bytes.Equal(whole, b) {
			t.Fatalf("RestoreReplica = %x, %v; want %x", whole, err, b)
		}
		// Never larger than version 2 with a short header; at most 2
		// bytes larger with a long one (a sequence number from 16 to 127
		// and a base 64 to 127 ns earlier take a byte more each). A
		// sequence number of 2^61 or more takes the layout of version 1,
		// and so did a wall time of 2^61 ns or more in version 2.
		if op.dot.Seq >= 1<<61 {
			return
		}
		v2, err := op.marshalV2()
		if err != nil {
			t.Fatal(err)
		}
		if v2[0] != 2 {
			return // a wall time of 2^61 ns or more: version 1
		}
		if slack := map[bool]int{true: 0, false: 2}[len(id) <= 31]; len(b) > len(v2)+slack {
			t.Fatalf("version 3 of %d bytes, version 2 of %d: %x, %x", len(b), len(v2), b, v2)
		}
	})
}

// v3 builds an op of version 3 by hand: a header (short if id is at most
// 31 bytes, long otherwise), then varints, then the key and the value if
// not nil, each a msgpack fixstr, then more varints.
func v3(kind codec.Kind, id string, ints []uint64, key string, value *string, after ...uint64) []byte {
	var b []byte
	if len(id) <= 31 {
		h := byte(0x40 | len(id))
		if kind == codec.KindMapDelete {
			h |= 0x20
		}
		b = append(append(b, h), id...)
	} else {
		b = append([]byte{0x03, byte(kind), 0xd9, byte(len(id))}, id...)
	}
	b = append(b, uvarints(ints...)...)
	b = append(append(b, 0xa0|byte(len(key))), key...)
	if value != nil {
		b = append(append(b, 0xa0|byte(len(*value))), *value...)
	}
	return append(b, uvarints(after...)...)
}

func TestOpV3Refusals(t *testing.T) {
	v := "v"
	ms := uint64(start / 1e6)
	put, del := codec.KindMapPut, codec.KindMapDelete
	long := strings.Repeat("w", 32)
	for name, c := range map[string]struct {
		data  []byte
		class error
		text  string // in the error
	}{
		"a good put":            {v3(put, "a", []uint64{1 << 3, ms}, "k", &v), nil, ""},
		"a good delete":         {v3(del, "a", []uint64{1 << 3, ms}, "k", nil), nil, ""},
		"a good long header":    {v3(put, long, []uint64{1 << 3, ms}, "k", &v), nil, ""},
		"a good base":           {v3(put, "a", []uint64{1<<3 | 2, ms}, "k", &v, 10, 0), nil, ""},
		"a good ns wall":        {v3(put, "a", []uint64{1<<3 | 4, uint64(start) + 1}, "k", &v), nil, ""},
		"sequence 0":            {v3(put, "a", []uint64{0, ms}, "k", &v), codec.ErrMalformed, "sequence number 0"},
		"sequence 0, flags":     {v3(put, "a", []uint64{7, ms, 1}, "k", &v), codec.ErrMalformed, "sequence number 0"},
		"wall 0":                {v3(put, "a", []uint64{1 << 3, 0}, "k", &v), codec.ErrMalformed, "wall time 0"},
		"wall 0 ns":             {v3(put, "a", []uint64{1<<3 | 4, 0}, "k", &v), codec.ErrMalformed, "wall time 0"},
		"ms beyond int64":       {v3(put, "a", []uint64{1 << 3, math.MaxInt64/uint64(nsPerMs) + 1}, "k", &v), codec.ErrMalformed, "ms beyond 2^63-1 ns"},
		"ns beyond int64":       {v3(put, "a", []uint64{1<<3 | 4, 1 << 63}, "k", &v), codec.ErrMalformed, "ns beyond 2^63-1"},
		"whole ms in ns":        {v3(put, "a", []uint64{1<<3 | 4, uint64(start)}, "k", &v), codec.ErrMalformed, "a whole number of milliseconds, not in its shortest form"},
		"logical 0 written":     {v3(put, "a", []uint64{1<<3 | 1, ms, 0}, "k", &v), codec.ErrMalformed, "logical part 0, not from 1 to 2^32-1"},
		"logical 2^32":          {v3(put, "a", []uint64{1<<3 | 1, ms, 1 << 32}, "k", &v), codec.ErrMalformed, "logical part 4294967296"},
		"base not before 1970":  {v3(put, "a", []uint64{1<<3 | 2, ms}, "k", &v, uint64(start)<<1, 0), codec.ErrMalformed, "base 1795428000000000000 ns before a write at"},
		"base overflows":        {v3(put, "a", []uint64{1<<3 | 2, ms}, "k", &v, math.MaxUint64, 0), codec.ErrMalformed, "base -9223372036854775808 ns before"},
		"base logical 2^32":     {v3(put, "a", []uint64{1<<3 | 2, ms}, "k", &v, 10, 1<<32), codec.ErrMalformed, "base logical part 4294967296 out of range"},
		"base flag, no base":    {v3(put, "a", []uint64{1<<3 | 2, ms}, "k", &v), codec.ErrTruncated, "varint cut"},
		"put without value":     {v3(put, "a", []uint64{1 << 3, ms}, "k", nil), codec.ErrTruncated, ""},
		"delete with value":     {v3(del, "a", []uint64{1 << 3, ms}, "k", &v), codec.ErrMalformed, "unexpected bytes after the message"},
		"trailing bytes":        {append(v3(put, "a", []uint64{1 << 3, ms}, "k", &v), 0), codec.ErrMalformed, "1 unexpected bytes"},
		"tag not shortest":      {append([]byte{0x41, 'a', 0x88, 0x00}, uvarints(ms)...), codec.ErrMalformed, "varint 8 not in its shortest form"},
		"wall beyond 2^64":      {append([]byte{0x41, 'a', 0x08}, append(bytes.Repeat([]byte{0xff}, 9), 0x7f)...), codec.ErrMalformed, "varint beyond 2^64-1"},
		"cut in the wall":       {[]byte{0x41, 'a', 0x08, 0x80}, codec.ErrTruncated, "varint cut after 1 bytes"},
		"key not shortest":      {append(append([]byte{0x41, 'a'}, uvarints(1<<3, ms)...), 0xd9, 1, 'k', 0xa1, 'v'), codec.ErrMalformed, "shortest form"},
		"long header, short ID": {append(append([]byte{0x03, 0x41, 0xa1, 'a'}, uvarints(1<<3, ms)...), 0xa1, 'k', 0xa1, 'v'), codec.ErrMalformed, "written short"},
		"two replicas":          {append(append([]byte{0x03, 0x41, 0x92, 0xa1, 'a', 0xa1, 'b'}, uvarints(1<<3, ms)...), 0xa1, 'k', 0xa1, 'v'), codec.ErrMalformed, "replica table has 2 entries"},
		"no replica":            {append(append([]byte{0x03, 0x41, 0x90}, uvarints(1<<3, ms)...), 0xa1, 'k', 0xa1, 'v'), codec.ErrMalformed, "replica table has 0 entries"},
		"reference left":        {v3(put, "", []uint64{1 << 3, ms}, "k", &v), codec.ErrMalformed, "reference to an omitted replica ID"},
		"cut in the ID":         {[]byte{0x45, 'a', 'b'}, codec.ErrTruncated, ""},
		"version 2 body":        {append([]byte{0x41, 'a', 0x01}, 0xcf, 0, 0, 0, 0, 0, 0, 0, 0), codec.ErrMalformed, ""},
	} {
		t.Run(name, func(t *testing.T) {
			tg := newTarget()
			_, err := tg.m.ApplyBinary(c.data)
			if strings.HasPrefix(name, "a good") {
				if err != nil {
					t.Fatalf("the well-formed control case was refused: %v", err)
				}
				return
			}
			tg.refused(t, "ApplyBinary", err, c.class)
			if !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error %q does not say %q", err, c.text)
			}
			var op Op[string, string]
			if err := op.UnmarshalBinary(c.data); err == nil || op != (Op[string, string]{}) {
				t.Fatalf("UnmarshalBinary: %+v, %v", op, err)
			}
		})
	}
}

// TestOpSizesV2V3 compares the sizes of typical ops in the layouts of
// versions 2 and 3: writes of a live system, sequence numbers in the
// thousands, a logical part, whole milliseconds or not. By hand, the
// second: a header of 2 bytes in version 2, 1 in version 3, then the ID
// (11); the sequence number 4321 (msgpack uint16, 3) or 4321·8+1 (a
// varint of 3); the wall time with flags (msgpack uint64, 9) or the
// milliseconds since 1970 (a varint of 6); the logical part 3 (1); the key
// (10) and the value (2): 39 against 34.
func TestOpSizesV2V3(t *testing.T) {
	for _, c := range []struct {
		name     string
		op       Op[string, string]
		v2, v3   int // bytes alone
		v2r, v3r int // inside an engine message, the writer left out
	}{
		{"B3.1 put", Op[string, string]{dot: vclock.Dot{Replica: "r1234", Seq: 1}, ts: clock.Timestamp{Wall: start}, key: "v", value: "x"},
			22, 17, 17, 12},
		{"put, seq 4321, logical 3, whole ms", Op[string, string]{dot: vclock.Dot{Replica: "us-east-1@2", Seq: 4321}, ts: clock.Timestamp{Wall: start, Logical: 3}, key: "user:1234", value: "x"},
			39, 34, 28, 23},
		{"put, seq 4321, logical 3, not whole ms", Op[string, string]{dot: vclock.Dot{Replica: "us-east-1@2", Seq: 4321}, ts: clock.Timestamp{Wall: start + 1234, Logical: 3}, key: "user:1234", value: "x"},
			39, 37, 28, 26},
		{"delete, seq 70000, logical 300, base", Op[string, string]{dot: vclock.Dot{Replica: "us-east-1@2", Seq: 70000}, ts: clock.Timestamp{Wall: start, Logical: 300},
			key: "user:1234", del: true, base: clock.Timestamp{Wall: start - 2e6, Logical: 1}}, 47, 38, 36, 27},
	} {
		v2, err := c.op.marshalV2()
		if err != nil {
			t.Fatal(err)
		}
		v3, err := c.op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		v2r, _ := codec.OmitReplica(nil, v2, string(c.op.dot.Replica))
		v3r, _ := codec.OmitReplica(nil, v3, string(c.op.dot.Replica))
		t.Logf("%s: version 2 %d bytes (%d inside a message), version 3 %d (%d)", c.name, len(v2), len(v2r), len(v3), len(v3r))
		if len(v2) != c.v2 || len(v3) != c.v3 || len(v2r) != c.v2r || len(v3r) != c.v3r {
			t.Errorf("%s: %d, %d, %d, %d bytes; want %d, %d, %d, %d", c.name, len(v2), len(v3), len(v2r), len(v3r), c.v2, c.v3, c.v2r, c.v3r)
		}
	}
}
