package register

import (
	"bytes"
	"slices"
	"testing"

	"github.com/activeactive/crdt/clock"
)

// lwwSeeds returns valid and nearly valid encodings to start fuzzing from.
func lwwSeeds(f *testing.F) {
	clk := newFakeTime(t0).clock()
	r := NewLWW[string]("us-east-1", clk)
	empty, _ := r.MarshalBinary()
	op := r.Set("hello")
	state, _ := r.MarshalBinary()
	opBytes, _ := op.MarshalBinary()
	// A write over another's carries a base (6 fields).
	other := NewLWW[string]("eu-west-1", clk)
	_ = other.Apply(op)
	based, _ := other.Set("over hello").MarshalBinary()
	basedState, _ := other.MarshalBinary()
	for _, b := range [][]byte{empty, state, opBytes, state[:len(state)-1], nil, {0x01}, {0x01, 0x10}, based, basedState} {
		f.Add(b)
	}
}

// fuzzTarget is a register the fuzzed bytes are merged or applied into; its
// clock has no maximum offset, so any valid input is accepted.
func fuzzTarget() *LWW[string] {
	r := NewLWW[string]("zz-target", newFakeTime(t0).clock(clock.WithMaxOffset(0)))
	r.Set("target")
	return r
}

func FuzzLWWState(f *testing.F) {
	lwwSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		target := fuzzTarget()
		before, _ := target.MarshalBinary()
		var r LWW[string]
		if err := r.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
			}
			if _, err := target.MergeBinary(data); err == nil {
				t.Fatal("MergeBinary accepted what UnmarshalBinary refused")
			}
			if after, _ := target.MarshalBinary(); !bytes.Equal(before, after) {
				t.Fatal("a refused state changed the register")
			}
			return
		}
		enc, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded state: %v", err)
		}
		var back LWW[string]
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding a re-encoded state: %v", err)
		}
		v1, ok1 := r.Get()
		v2, ok2 := back.Get()
		if !back.Equal(&r) || v1 != v2 || ok1 != ok2 {
			t.Fatal("re-encoded state decodes differently")
		}
		if enc2, _ := back.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x then % x", enc, enc2)
		}
		if _, err := target.MergeBinary(data); err != nil {
			t.Fatalf("MergeBinary refused a state UnmarshalBinary accepted: %v", err)
		}
		want := fuzzTarget()
		want.Merge(&r)
		if !target.Equal(want) {
			t.Fatal("MergeBinary and Merge disagree")
		}
	})
}

func FuzzLWWOp(f *testing.F) {
	lwwSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		target := fuzzTarget()
		before, _ := target.MarshalBinary()
		var op LWWOp[string]
		if err := op.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
			}
			if _, err := target.ApplyBinary(data); err == nil {
				t.Fatal("ApplyBinary accepted what UnmarshalBinary refused")
			}
			if after, _ := target.MarshalBinary(); !bytes.Equal(before, after) {
				t.Fatal("a refused op changed the register")
			}
			return
		}
		enc, err := op.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding a decoded op: %v", err)
		}
		var back LWWOp[string]
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding a re-encoded op: %v", err)
		}
		if back != op {
			t.Fatalf("re-encoded op decodes to %+v; want %+v", back, op)
		}
		if enc2, _ := back.MarshalBinary(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x then % x", enc, enc2)
		}
		if _, err := target.ApplyBinary(data); err != nil {
			t.Fatalf("ApplyBinary refused an op UnmarshalBinary accepted: %v", err)
		}
	})
}

// mvSeeds adds valid and nearly valid MV encodings to start fuzzing from.
func mvSeeds(f *testing.F) {
	m := NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	empty, _ := m.MarshalBinary()
	m.Set("replaced")
	op, _ := m.Set("east").MarshalBinary()
	first, _ := o.Set("west").MarshalBinary()
	_ = m.Apply(o.Set("west again"))
	state, _ := m.MarshalBinary()
	version, _ := m.VersionBinary()
	for _, b := range [][]byte{empty, state, op, first, version, state[:len(state)-1], nil, {0x01, 0x12}} {
		f.Add(b)
	}
}

// mvFuzzTarget is a register the fuzzed bytes are merged or applied into.
func mvFuzzTarget() *MV[string] {
	m := NewMV[string]("eu-west-1")
	m.Set("one")
	m.Set("two")
	return m
}

func FuzzMVState(f *testing.F) {
	mvSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		target := mvFuzzTarget()
		before := mustMarshal(t, target)
		var m MV[string]
		if err := m.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
			}
			if _, err := target.MergeBinary(data); err == nil {
				t.Fatal("MergeBinary accepted what UnmarshalBinary refused")
			}
			if !bytes.Equal(before, mustMarshal(t, target)) {
				t.Fatal("a refused state changed the register")
			}
			return
		}
		enc := mustMarshal(t, &m)
		var back MV[string]
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding a re-encoded state: %v", err)
		}
		if !sameMV(&back, &m) {
			t.Fatal("re-encoded state decodes differently")
		}
		if enc2 := mustMarshal(t, &back); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x then % x", enc, enc2)
		}
		if _, err := target.MergeBinary(data); err != nil {
			t.Fatalf("MergeBinary refused a state UnmarshalBinary accepted: %v", err)
		}
		want := mvFuzzTarget()
		want.Merge(&m)
		if !sameMV(target, want) {
			t.Fatal("MergeBinary and Merge disagree")
		}
	})
}

func FuzzMVOp(f *testing.F) {
	mvSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		target := mvFuzzTarget()
		before := mustMarshal(t, target)
		var op MVOp[string]
		if err := op.UnmarshalBinary(data); err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
			}
			if _, err := target.ApplyBinary(data); err == nil {
				t.Fatal("ApplyBinary accepted what UnmarshalBinary refused")
			}
			if !bytes.Equal(before, mustMarshal(t, target)) {
				t.Fatal("a refused op changed the register")
			}
			return
		}
		enc := mustMarshal(t, op)
		var back MVOp[string]
		if err := back.UnmarshalBinary(enc); err != nil {
			t.Fatalf("decoding a re-encoded op: %v", err)
		}
		if back.dot != op.dot || back.v != op.v || !slices.Equal(back.replaced, op.replaced) {
			t.Fatalf("re-encoded op decodes to %+v; want %+v", back, op)
		}
		if enc2 := mustMarshal(t, back); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding not stable: % x then % x", enc, enc2)
		}
		if _, err := target.ApplyBinary(data); err != nil {
			t.Fatalf("ApplyBinary refused an op UnmarshalBinary accepted: %v", err)
		}
	})
}

func FuzzMVDeltaSince(f *testing.F) {
	mvSeeds(f)
	f.Fuzz(func(t *testing.T, version []byte) {
		m := mvFuzzTarget()
		delta, err := m.DeltaSinceBinary(version)
		if err != nil {
			if !isDecodeError(err) {
				t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
			}
			return
		}
		var d MV[string]
		if err := d.UnmarshalBinary(delta); err != nil {
			t.Fatalf("a delta does not decode: %v", err)
		}
	})
}
