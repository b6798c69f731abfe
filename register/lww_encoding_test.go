package register

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// The bytes below are worked out by hand from the msgpack specification:
// format version 1, the kind, the replica table (a lone ID is written as a
// bare string), then the body.
func TestLWWEncodingByHand(t *testing.T) {
	op := LWWOp[string]{w: stamp{ts: clock.Timestamp{Wall: 1, Logical: 2}, id: "a"}, v: "x"}
	want := []byte{
		0x01,      // format version 1
		0x11,      // KindLWWOp
		0xa1, 'a', // replica table: the one ID "a"
		0x94,      // array of 4 fields
		0x01,      // wall 1
		0x02,      // logical 2
		0x00,      // replica 0 of the table
		0xa1, 'x', // value "x"
	}
	got, err := op.MarshalBinary()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("op: got % x, %v; want % x", got, err, want)
	}

	r := &LWW[string]{w: op.w, v: op.v}
	want[1] = 0x10 // KindLWW: a state is laid out like an op
	got, err = r.MarshalBinary()
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("state: got % x, %v; want % x", got, err, want)
	}

	empty := []byte{0x01, 0x10, 0x90 /* empty replica table */, 0x90 /* no fields */}
	got, err = (&LWW[string]{}).MarshalBinary()
	if err != nil || !bytes.Equal(got, empty) {
		t.Errorf("empty state: got % x, %v; want % x", got, err, empty)
	}

	// A wall time past 2^32 ns takes uint64 form; -1 is a negative fixint.
	ri := &LWW[int]{w: stamp{ts: clock.Timestamp{Wall: 1 << 60}, id: "b"}, v: -1}
	wantInt := []byte{0x01, 0x10, 0xa1, 'b', 0x94, 0xcf, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0xff}
	got, err = ri.MarshalBinary()
	if err != nil || !bytes.Equal(got, wantInt) {
		t.Errorf("int state: got % x, %v; want % x", got, err, wantInt)
	}
}

type task struct {
	Title string `msgpack:"title"`
	Done  bool   `msgpack:"done"`
}

func TestLWWRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := stamp{
			ts: clock.Timestamp{
				Wall:    rapid.Int64Range(1, 1<<62).Draw(t, "wall"),
				Logical: rapid.Uint32().Draw(t, "logical"),
			},
			id: crdt.ReplicaID(rapid.StringN(1, 20, -1).Draw(t, "replica")),
		}
		v := task{Title: rapid.String().Draw(t, "title"), Done: rapid.Bool().Draw(t, "done")}
		set := rapid.Bool().Draw(t, "set")

		r := &LWW[task]{}
		if set {
			r.w, r.v = s, v
		}
		data, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back LWW[task]
		if err := back.UnmarshalBinary(data); err != nil {
			t.Fatalf("UnmarshalBinary(% x): %v", data, err)
		}
		got, ok := back.Get()
		if !back.Equal(r) || ok != set || (set && got != v) {
			t.Fatalf("state round trip: got %+v %+v %v; want %+v %+v %v", back.w, got, ok, r.w, v, set)
		}

		op := LWWOp[task]{w: s, v: v}
		data, err = op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var opBack LWWOp[task]
		if err := opBack.UnmarshalBinary(data); err != nil {
			t.Fatalf("op UnmarshalBinary(% x): %v", data, err)
		}
		if opBack != op {
			t.Fatalf("op round trip: got %+v; want %+v", opBack, op)
		}
	})
}

// lwwFixture is a register with a write, its clock, and the encodings of
// its state and of that write.
func lwwFixture(t *testing.T) (r *LWW[string], clk *clock.Clock, state, op []byte) {
	t.Helper()
	clk = newFakeTime(t0).clock()
	r = NewLWW[string]("us-east-1", clk)
	o := r.Set("hello")
	var err error
	if state, err = r.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	if op, err = o.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	return r, clk, state, op
}

// refusedLWW checks that f fails with an error wrapping want and leaves the
// register and its clock as they were.
func refusedLWW(t *testing.T, r *LWW[string], clk *clock.Clock, want error, f func() error) {
	t.Helper()
	before, _ := r.MarshalBinary()
	last := clk.Last()
	err := f()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v; want %v", err, want)
	}
	if errors.Is(want, codec.ErrMalformed) || errors.Is(want, codec.ErrTruncated) || errors.Is(want, codec.ErrKind) || errors.Is(want, codec.ErrVersion) {
		if !isDecodeError(err) {
			t.Fatalf("err = %v (%T); want a *codec.DecodeError", err, err)
		}
	}
	after, _ := r.MarshalBinary()
	if !bytes.Equal(before, after) || clk.Last() != last {
		t.Fatal("refused input changed the register or its clock")
	}
}

func TestLWWTruncatedInputIsRefused(t *testing.T) {
	_, _, state, op := lwwFixture(t)
	target, clk, _, _ := lwwFixture(t)
	target.Set("target")
	for i := range len(state) {
		refusedLWW(t, target, clk, codec.ErrTruncated, func() error { _, err := target.MergeBinary(state[:i]); return err })
		refusedLWW(t, target, clk, codec.ErrTruncated, func() error { return target.UnmarshalBinary(state[:i]) })
	}
	for i := range len(op) {
		refusedLWW(t, target, clk, codec.ErrTruncated, func() error { _, err := target.ApplyBinary(op[:i]); return err })
		o := LWWOp[string]{w: stamp{ts: ts(1, 0), id: "x"}, v: "kept"}
		if err := o.UnmarshalBinary(op[:i]); !errors.Is(err, codec.ErrTruncated) || o.v != "kept" {
			t.Fatalf("LWWOp.UnmarshalBinary of %d bytes: %v, op now %+v", i, err, o)
		}
	}
}

func TestLWWBadInputIsRefused(t *testing.T) {
	_, _, state, op := lwwFixture(t)
	future := bytes.Clone(state)
	future[0] = 0x02
	trailing := append(bytes.Clone(op), 0xc0)
	for _, tc := range []struct {
		name  string
		state bool // offer to MergeBinary; else to ApplyBinary
		data  []byte
		want  error
	}{
		{"op as state", true, op, codec.ErrKind},
		{"state as op", false, state, codec.ErrKind},
		{"future version", true, future, codec.ErrVersion},
		{"trailing bytes", false, trailing, codec.ErrMalformed},
		{"zero timestamp", false, []byte{0x01, 0x11, 0xa1, 'a', 0x94, 0x00, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"negative wall time", false, []byte{0x01, 0x11, 0xa1, 'a', 0x94, 0xff, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"logical part too large", false, []byte{0x01, 0x11, 0xa1, 'a', 0x94, 0x01, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"empty replica", false, []byte{0x01, 0x11, 0xa0, 0x94, 0x01, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"replica not in table", false, []byte{0x01, 0x11, 0xa1, 'a', 0x94, 0x01, 0x00, 0x01, 0xa1, 'x'}, codec.ErrMalformed},
		{"op with three fields", false, []byte{0x01, 0x11, 0xa1, 'a', 0x93, 0x01, 0x00, 0x00}, codec.ErrMalformed},
		{"op with no fields", false, []byte{0x01, 0x11, 0x90, 0x90}, codec.ErrMalformed},
		{"state with five fields", true, []byte{0x01, 0x10, 0xa1, 'a', 0x95, 0x01, 0x00, 0x00, 0xa1, 'x', 0xc0}, codec.ErrMalformed},
		{"value of the wrong type", true, []byte{0x01, 0x10, 0xa1, 'a', 0x94, 0x01, 0x00, 0x00, 0x07}, codec.ErrMalformed},
		{"body not an array", true, []byte{0x01, 0x10, 0x90, 0xc0}, codec.ErrMalformed},
		{"empty input", true, nil, codec.ErrTruncated},
		{"wall time not in shortest form", false, []byte{0x01, 0x11, 0xa1, 'a', 0x94, 0xcc, 0x01, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"field count not in shortest form", false, []byte{0x01, 0x11, 0xa1, 'a', 0xdc, 0x00, 0x04, 0x01, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"unused replica in the table", false, []byte{0x01, 0x11, 0x92, 0xa1, 'a', 0xa1, 'b', 0x94, 0x01, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"replica table in an empty state", true, []byte{0x01, 0x10, 0xa1, 'a', 0x90}, codec.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, clk, _, _ := lwwFixture(t)
			if tc.state {
				refusedLWW(t, r, clk, tc.want, func() error { _, err := r.MergeBinary(tc.data); return err })
				refusedLWW(t, r, clk, tc.want, func() error { return r.UnmarshalBinary(tc.data) })
			} else {
				refusedLWW(t, r, clk, tc.want, func() error { _, err := r.ApplyBinary(tc.data); return err })
			}
		})
	}
}

func TestLWWUnmarshalKeepsIdentity(t *testing.T) {
	src := NewLWW[string]("us-east-1", newFakeTime(t0+int64(300*time.Millisecond)).clock())
	src.Set("saved")
	data, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeTime(t0).clock()
	r := NewLWW[string]("eu-west-1", clk)
	if err := r.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, r); got != "saved" {
		t.Fatalf("Get() = %q; want the decoded value", got)
	}
	// The decoded write is 300ms ahead of this clock; the clock was
	// advanced past it, so a local write still wins.
	r.Set("newer")
	if got := mustGet(t, r); got != "newer" || r.w.id != "eu-west-1" {
		t.Fatalf("after Set: Get() = %q by %s; want a local write that wins", got, r.w.id)
	}
}

func TestLWWGolden(t *testing.T) {
	clk := newFakeTime(t0).clock()
	r := NewLWW[string]("us-east-1", clk)
	data, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var empty LWW[string]
	if err := empty.UnmarshalBinary(golden(t, "lww_empty", data)); err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Get(); ok {
		t.Fatal("lww_empty decodes to a register with a value")
	}

	// Written at exactly t0 (2026-11-23T10:00:00Z), logical part 0.
	want := stamp{ts: clock.Timestamp{Wall: 1795428000 * 1e9}, id: "us-east-1"}
	op := r.Set("hello")
	if data, err = r.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	var s LWW[string]
	if err := s.UnmarshalBinary(golden(t, "lww_state", data)); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Get(); s.w != want || v != "hello" {
		t.Fatalf("lww_state decodes to %+v %q; want %+v \"hello\"", s.w, v, want)
	}
	if data, err = op.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	var o LWWOp[string]
	if err := o.UnmarshalBinary(golden(t, "lww_op", data)); err != nil {
		t.Fatal(err)
	}
	if o.w != want || o.v != "hello" {
		t.Fatalf("lww_op decodes to %+v %q; want %+v \"hello\"", o.w, o.v, want)
	}

	// A struct value goes through msgpack with its field tags.
	rt := NewLWW[task]("eu-west-1", newFakeTime(t0).clock())
	opt := rt.Set(task{Title: "ship it", Done: true})
	if data, err = opt.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	var ot LWWOp[task]
	if err := ot.UnmarshalBinary(golden(t, "lww_op_struct", data)); err != nil {
		t.Fatal(err)
	}
	if ot.w != (stamp{ts: want.ts, id: "eu-west-1"}) || ot.v != (task{Title: "ship it", Done: true}) {
		t.Fatalf("lww_op_struct decodes to %+v %+v", ot.w, ot.v)
	}
}
