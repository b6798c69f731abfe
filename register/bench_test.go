package register

import (
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
)

// Floors: what the register operations are built from or compared with.

var sinkTime time.Time

func BenchmarkFloorTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkTime = time.Now()
	}
}

func BenchmarkFloorClockNow(b *testing.B) {
	clk := clock.New()
	b.ReportAllocs()
	for b.Loop() {
		clk.Now()
	}
}

func BenchmarkFloorMapAssign(b *testing.B) {
	m := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		m["key"] = "value"
	}
}

// LWW.

func BenchmarkLWWSet(b *testing.B) {
	r := NewLWW[string]("us-east-1", clock.New())
	b.ReportAllocs()
	for b.Loop() {
		r.Set("value")
	}
}

// remoteOp returns a function yielding ops of another replica with
// increasing timestamps, so that each one wins.
func remoteOp() func() LWWOp[string] {
	op := LWWOp[string]{w: stamp{ts: clock.Timestamp{Wall: t0}, id: "eu-west-1"}, v: "value"}
	return func() LWWOp[string] {
		op.w.ts.Logical++
		if op.w.ts.Logical == 0 {
			op.w.ts.Wall++
		}
		return op
	}
}

func BenchmarkLWWApply(b *testing.B) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	next := remoteOp()
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Apply(next()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLWWApplyBinary(b *testing.B) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	data, err := remoteOp()().MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ApplyBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLWWMerge(b *testing.B) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	o := &LWW[string]{}
	next := remoteOp()
	b.ReportAllocs()
	for b.Loop() {
		op := next()
		o.w, o.v = op.w, op.v
		r.Merge(o)
	}
}

func BenchmarkLWWOpMarshal(b *testing.B) {
	r := NewLWW[string]("us-east-1", clock.New())
	op := r.Set("value")
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		data, _ = op.MarshalBinary()
	}
	b.ReportMetric(float64(len(data)), "wire-bytes")
}

// MV.

func BenchmarkMVSet(b *testing.B) {
	m := NewMV[string]("us-east-1")
	b.ReportAllocs()
	for b.Loop() {
		m.Set("value")
	}
}

// BenchmarkMVSetOverSiblings writes over two concurrent siblings each
// time: the write replaces both, then a remote write makes a sibling again.
func BenchmarkMVSetOverSiblings(b *testing.B) {
	m := NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Apply(o.Set("remote")); err != nil {
			b.Fatal(err)
		}
		m.Set("local")
	}
}

func BenchmarkMVApply(b *testing.B) {
	m := NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		op := o.Set("value")
		b.StartTimer()
		if err := m.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMVMerge merges a state holding two siblings, after a history of
// 100 writes by each of five replicas, into a replica that has seen only
// its own writes.
func BenchmarkMVMerge(b *testing.B) {
	rs := make([]*MV[string], len(simIDs))
	src := NewMV[string]("zz-source")
	for i, id := range simIDs {
		rs[i] = NewMV[string](id)
		for range 100 {
			rs[i].Set("v")
		}
		src.Merge(rs[i])
	}
	src.Set("resolved")       // replaces the five replicas' last writes
	rs[4].Set("concurrently") // a sibling of "resolved"
	src.Merge(rs[4])
	if n := len(src.Values()); n != 2 {
		b.Fatalf("setup: %d siblings", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		dst := rs[0].Clone()
		b.StartTimer()
		dst.Merge(src)
	}
}

func BenchmarkMVOpMarshal(b *testing.B) {
	m := NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	m.Set("value")
	if err := m.Apply(o.Set("value")); err != nil {
		b.Fatal(err)
	}
	op := m.Set("value") // replaces two siblings
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		data, _ = op.MarshalBinary()
	}
	b.ReportMetric(float64(len(data)), "wire-bytes")
}

func BenchmarkMVStateMarshal(b *testing.B) {
	m := NewMV[string]("us-east-1")
	o := NewMV[string]("eu-west-1")
	m.Set("value")
	if err := m.Apply(o.Set("value")); err != nil {
		b.Fatal(err)
	}
	var data []byte
	b.ReportAllocs()
	for b.Loop() {
		data, _ = m.MarshalBinary()
	}
	b.ReportMetric(float64(len(data)), "wire-bytes")
}
