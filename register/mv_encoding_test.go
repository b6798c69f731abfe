package register

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// The bytes below are worked out by hand from the msgpack specification
// and the layouts documented in mv.go and the dot kernel.
func TestMVEncodingByHand(t *testing.T) {
	op := MVOp[string]{
		dot:      vclock.Dot{Replica: "a", Seq: 2},
		v:        "x",
		replaced: []vclock.Dot{{Replica: "a", Seq: 1}, {Replica: "b", Seq: 1}},
	}
	want := []byte{
		0x01, 0x13, // format version 1, KindMVOp
		0x92, 0xa1, 'a', 0xa1, 'b', // replica table ["a", "b"]
		0x97,       // 3 + 2×2 fields
		0x00, 0x02, // dot a:2
		0xa1, 'x', // value
		0x00, 0x01, // replaced a:1
		0x01, 0x01, // replaced b:1
	}
	if got, err := op.MarshalBinary(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("op: got % x, %v; want % x", got, err, want)
	}

	// Two concurrent writes, a:1 = "x" and b:1 = "y".
	m := NewMV[string]("a")
	m.Set("x")
	o := NewMV[string]("b")
	m.Merge(o)
	applyMV(t, o.Set("y"), m)
	want = []byte{
		0x01, 0x12, // format version 1, KindMV
		0x92, 0xa1, 'a', 0xa1, 'b', // replica table ["a", "b"]
		0x93,                                     // dot store: 3 fields
		0x92, 0x92, 0x00, 0x01, 0x92, 0x01, 0x01, // context [[a, 1], [b, 1]]
		0x02,                                          // 2 values
		0x92,                                          // 2 replica groups
		0x94, 0x00, 0x01, 0x92, 0x00, 0x01, 0xa1, 'x', // a: +1, key a:1, "x"
		0x94, 0x01, 0x01, 0x92, 0x01, 0x01, 0xa1, 'y', // b: +1, key b:1, "y"
	}
	if got, err := m.MarshalBinary(); err != nil || !bytes.Equal(got, want) {
		t.Errorf("state: got % x, %v\n                want % x", got, err, want)
	}

	empty := []byte{0x01, 0x12, 0x90, 0x93, 0x90, 0x00, 0x90}
	if got, err := (&MV[string]{}).MarshalBinary(); err != nil || !bytes.Equal(got, empty) {
		t.Errorf("empty state: got % x, %v; want % x", got, err, empty)
	}
}

func TestMVRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		snaps, _, ops := mvHistory(t)
		for _, m := range snaps {
			var back MV[string]
			if err := back.UnmarshalBinary(mustMarshal(t, m)); err != nil {
				t.Fatal(err)
			}
			if !sameMV(&back, m) {
				t.Fatalf("state round trip: %q became %q", m.Values(), back.Values())
			}
		}
		for _, op := range ops {
			var back MVOp[string]
			if err := back.UnmarshalBinary(mustMarshal(t, op)); err != nil {
				t.Fatal(err)
			}
			if back.dot != op.dot || back.v != op.v || !slices.Equal(back.replaced, op.replaced) {
				t.Fatalf("op round trip: %+v became %+v", op, back)
			}
		}
	})
}

// mvFixture is a register holding two siblings, one write replaced, and
// the encodings of its state, of an op and of a version.
func mvFixture(t *testing.T) (m *MV[string], state, op, version []byte) {
	t.Helper()
	m = NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	m.Set("replaced")
	last := m.Set("east")
	applyMV(t, o.Set("west"), m)
	var err error
	if version, err = m.VersionBinary(); err != nil {
		t.Fatal(err)
	}
	return m, mustMarshal(t, m), mustMarshal(t, last), version
}

// errTruncatedOrMalformed is what a truncated state may be refused with:
// the dot kernel finds some truncations malformed (a key count greater
// than the bytes left, say) before it runs out of input.
var errTruncatedOrMalformed = errors.New("truncated or malformed")

// refusedMV checks that f fails with an error wrapping want, a
// *codec.DecodeError, and leaves m as it was.
func refusedMV(t *testing.T, m *MV[string], want error, f func() error) {
	t.Helper()
	before := mustMarshal(t, m)
	err := f()
	ok := errors.Is(err, want)
	if want == errTruncatedOrMalformed {
		ok = errors.Is(err, codec.ErrTruncated) || errors.Is(err, codec.ErrMalformed)
	}
	if !ok {
		t.Fatalf("err = %v; want %v", err, want)
	}
	if !isDecodeError(err) {
		t.Fatalf("err = %v (%T); want a *codec.DecodeError", err, err)
	}
	if after := mustMarshal(t, m); !bytes.Equal(before, after) {
		t.Fatal("refused input changed the register")
	}
}

func TestMVTruncatedInputIsRefused(t *testing.T) {
	_, state, op, version := mvFixture(t)
	m, _, _, _ := mvFixture(t)
	m.Set("target")
	for i := range len(state) {
		refusedMV(t, m, errTruncatedOrMalformed, func() error { _, err := m.MergeBinary(state[:i]); return err })
		refusedMV(t, m, errTruncatedOrMalformed, func() error { return m.UnmarshalBinary(state[:i]) })
	}
	for i := range len(op) {
		refusedMV(t, m, codec.ErrTruncated, func() error { _, err := m.ApplyBinary(op[:i]); return err })
	}
	for i := range len(version) {
		refusedMV(t, m, codec.ErrTruncated, func() error { _, err := m.DeltaSinceBinary(version[:i]); return err })
	}
}

// encodeKernel encodes a dot kernel built by hand as an MV state.
func encodeKernel(t *testing.T, k *dotkernel.Kernel[vclock.Dot, string]) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindMV, 0)
	k.Encode(w, putDotKey, codec.PutValue[string])
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMVBadInputIsRefused(t *testing.T) {
	_, state, op, _ := mvFixture(t)
	future := bytes.Clone(state)
	future[0] = 0x02

	// A state whose key is not its own dot.
	var wrongKey dotkernel.Kernel[vclock.Dot, string]
	d := wrongKey.Mint("a")
	wrongKey.Put(vclock.Dot{Replica: "a", Seq: 7}, "x", d)
	// A state with a drop record, which MV never makes.
	var withRecord dotkernel.Kernel[vclock.Dot, string]
	x := vclock.Dot{Replica: "a", Seq: 1}
	y := vclock.Dot{Replica: "a", Seq: 2}
	withRecord.Insert(x, "x", x, nil)
	withRecord.Insert(y, "y", y, []vclock.Dot{x})

	for _, tc := range []struct {
		name string
		to   string // "state", "op" or "version"
		data []byte
		want error
	}{
		{"op as state", "state", op, codec.ErrKind},
		{"state as op", "op", state, codec.ErrKind},
		{"state as version", "version", state, codec.ErrKind},
		{"future version", "state", future, codec.ErrVersion},
		{"trailing bytes", "op", append(bytes.Clone(op), 0xc0), codec.ErrMalformed},
		{"empty input", "op", nil, codec.ErrTruncated},
		// Ops: 01 13, table, then the fields.
		{"op with two fields", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x92, 0x00, 0x01}, codec.ErrMalformed},
		{"op with an even number of fields", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x94, 0x00, 0x02, 0xa1, 'x', 0x00}, codec.ErrMalformed},
		{"sequence number 0", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x93, 0x00, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"empty replica", "op", []byte{0x01, 0x13, 0xa0, 0x93, 0x00, 0x01, 0xa1, 'x'}, codec.ErrMalformed},
		{"replica not in table", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x93, 0x01, 0x01, 0xa1, 'x'}, codec.ErrMalformed},
		{"unused replica in table", "op", []byte{0x01, 0x13, 0x92, 0xa1, 'a', 0xa1, 'b', 0x93, 0x00, 0x01, 0xa1, 'x'}, codec.ErrMalformed},
		{"table out of order", "op", []byte{0x01, 0x13, 0x92, 0xa1, 'b', 0xa1, 'a', 0x95, 0x01, 0x02, 0xa1, 'x', 0x00, 0x01}, codec.ErrMalformed},
		{"sequence number not in shortest form", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x93, 0x00, 0xcc, 0x01, 0xa1, 'x'}, codec.ErrMalformed},
		{"replaces its own later write", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x03}, codec.ErrMalformed},
		{"replaces itself", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x02}, codec.ErrMalformed},
		{"replaced out of order", "op", []byte{0x01, 0x13, 0x92, 0xa1, 'a', 0xa1, 'b', 0x97, 0x00, 0x02, 0xa1, 'x', 0x01, 0x01, 0x00, 0x01}, codec.ErrMalformed},
		{"replaced with sequence number 0", "op", []byte{0x01, 0x13, 0x92, 0xa1, 'a', 0xa1, 'b', 0x95, 0x00, 0x02, 0xa1, 'x', 0x01, 0x00}, codec.ErrMalformed},
		{"value of the wrong type", "op", []byte{0x01, 0x13, 0xa1, 'a', 0x93, 0x00, 0x01, 0x07}, codec.ErrMalformed},
		// States: 01 12, table, then the dot store.
		{"stored dot not in the context", "state", []byte{0x01, 0x12, 0xa1, 'a', 0x93, 0x91, 0x92, 0x00, 0x01, 0x01, 0x91, 0x94, 0x00, 0x02, 0x92, 0x00, 0x02, 0xa1, 'x'}, codec.ErrMalformed},
		{"key with three fields", "state", []byte{0x01, 0x12, 0xa1, 'a', 0x93, 0x91, 0x92, 0x00, 0x01, 0x01, 0x91, 0x94, 0x00, 0x01, 0x93, 0x00, 0x01, 0x00, 0xa1, 'x'}, codec.ErrMalformed},
		{"key not its own dot", "state", encodeKernel(t, &wrongKey), codec.ErrMalformed},
		{"drop records", "state", encodeKernel(t, &withRecord), codec.ErrMalformed},
		{"unused replica in table", "state", []byte{0x01, 0x12, 0x92, 0xa1, 'a', 0xa1, 'b', 0x93, 0x91, 0x92, 0x00, 0x01, 0x00, 0x90}, codec.ErrMalformed},
		{"version with a zero count", "version", []byte{0x01, 0x01, 0xa1, 'a', 0x92, 0x00, 0x00}, codec.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _, _, _ := mvFixture(t)
			switch tc.to {
			case "state":
				refusedMV(t, m, tc.want, func() error { _, err := m.MergeBinary(tc.data); return err })
				refusedMV(t, m, tc.want, func() error { return m.UnmarshalBinary(tc.data) })
			case "op":
				refusedMV(t, m, tc.want, func() error { _, err := m.ApplyBinary(tc.data); return err })
				o := MVOp[string]{dot: vclock.Dot{Replica: "k", Seq: 1}, v: "kept"}
				if err := o.UnmarshalBinary(tc.data); err == nil || o.v != "kept" {
					t.Fatalf("MVOp.UnmarshalBinary: %v, op now %+v", err, o)
				}
			case "version":
				refusedMV(t, m, tc.want, func() error { _, err := m.DeltaSinceBinary(tc.data); return err })
			}
		})
	}
	// The hand-made kernels are valid kernels: only MV's own checks refuse
	// them.
	for _, k := range []*dotkernel.Kernel[vclock.Dot, string]{&wrongKey, &withRecord} {
		r := codec.NewReader(encodeKernel(t, k), codec.KindMV, codec.Limits{})
		dotkernel.Decode(r, getDotKey, codec.GetValue[string])
		if err := r.Done(); err != nil {
			t.Fatalf("the dot kernel refuses a test input: %v", err)
		}
	}
}

func TestMVGolden(t *testing.T) {
	var empty MV[string]
	if err := empty.UnmarshalBinary(golden(t, "mv_empty", mustMarshal(t, &MV[string]{}))); err != nil {
		t.Fatal(err)
	}
	if !empty.Equal(&MV[string]{}) {
		t.Fatal("mv_empty decodes to a non-empty register")
	}

	// us-east-1 writes "replaced" then "east"; eu-west-1 writes "west"
	// concurrently.
	m, state, op, _ := mvFixture(t)
	var s MV[string]
	if err := s.UnmarshalBinary(golden(t, "mv_state", state)); err != nil {
		t.Fatal(err)
	}
	if got := s.Values(); !slices.Equal(got, []string{"west", "east"}) {
		t.Fatalf("mv_state decodes to values %q", got)
	}
	wantVersion := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 2, "eu-west-1": 1})
	if v := s.Version(); !v.Equal(wantVersion) {
		t.Fatalf("mv_state decodes to version %v; want %v", v, wantVersion)
	}
	if !s.Equal(m) {
		t.Fatal("mv_state decodes to another state than the fixture's")
	}
	var o MVOp[string]
	if err := o.UnmarshalBinary(golden(t, "mv_op", op)); err != nil {
		t.Fatal(err)
	}
	if o.dot != (vclock.Dot{Replica: "us-east-1", Seq: 2}) || o.v != "east" ||
		!slices.Equal(o.replaced, []vclock.Dot{{Replica: "us-east-1", Seq: 1}}) {
		t.Fatalf("mv_op decodes to %+v", o)
	}

	// A struct value goes through msgpack with its field tags.
	mt := NewMV[task]("eu-west-1")
	mt.Set(task{Title: "draft"})
	opt := mt.Set(task{Title: "ship it", Done: true})
	var ot MVOp[task]
	if err := ot.UnmarshalBinary(golden(t, "mv_op_struct", mustMarshal(t, opt))); err != nil {
		t.Fatal(err)
	}
	if ot.v != (task{Title: "ship it", Done: true}) || ot.dot != (vclock.Dot{Replica: "eu-west-1", Seq: 2}) {
		t.Fatalf("mv_op_struct decodes to %+v", ot)
	}
}
