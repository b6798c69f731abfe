package register

import (
	"errors"
	"runtime"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// TestRegressionMVPeerPoisonsOwnWrites pins the MV part of issue 9 finding
// 5: a write whose dot was (receiver, 2⁶⁴-1) made the receiver's next dot
// wrap. Such a write is refused; one at MaxSeq is taken, after which Set
// fails cleanly: the register is unchanged and the op reports the error.
func TestRegressionMVPeerPoisonsOwnWrites(t *testing.T) {
	m := NewMV[string]("r")
	m.Set("a")
	w := codec.NewWriter(codec.KindMVOp, 0)
	w.Array(3)
	w.Replica("r")
	w.Uint(1<<64 - 1)
	codec.PutValue(w, "x")
	wrapped, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ApplyBinary(wrapped); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("ApplyBinary of a dot 2⁶⁴-1: %v, want ErrMalformed", err)
	}
	last := MVOp[string]{dot: vclock.Dot{Replica: "r", Seq: vclock.MaxSeq}, v: "last"}
	if _, err := m.ApplyBinary(mustMarshal(t, last)); err != nil {
		t.Fatal(err)
	}
	before := m.Clone()
	op := m.Set("b")
	if !errors.Is(op.Err(), vclock.ErrSeqExhausted) {
		t.Fatalf("Set with no dot left: Err() = %v, want ErrSeqExhausted", op.Err())
	}
	if _, err := op.MarshalBinary(); err == nil {
		t.Fatal("the op of a failed Set encodes")
	}
	if !m.Equal(before) {
		t.Fatal("a failed Set changed the register")
	}
	var restored MV[string]
	if err := restored.UnmarshalBinary(mustMarshal(t, m)); err != nil {
		t.Fatalf("the snapshot cannot be restored: %v", err)
	}
}

// TestRegressionMVFailedMutationChangesState pins the MV part of issue 9
// finding 12: Set of a value that cannot be encoded replaced the
// register's values, then returned an op that could not be shipped.
func TestRegressionMVFailedMutationChangesState(t *testing.T) {
	m := NewMV[any]("r")
	m.Set("kept")
	before := m.Clone()
	op := m.Set(make(chan int))
	if !errors.Is(op.Err(), ErrInvalidOp) {
		t.Fatalf("Err() = %v, want ErrInvalidOp", op.Err())
	}
	if _, err := op.MarshalBinary(); err == nil {
		t.Fatal("the op of a failed Set encodes")
	}
	if !m.Equal(before) || len(m.Values()) != 1 || m.Values()[0] != "kept" {
		t.Fatalf("a failed Set changed the register: %v", m.Values())
	}
}

// TestRegressionMVAllocationBeforeValidation pins the MV part of issue 9
// finding 10: an MV state full of drop records, which an MV never keeps,
// was decoded whole (56 times its size in allocations) before being
// refused. It is now refused when the records are met.
func TestRegressionMVAllocationBeforeValidation(t *testing.T) {
	const records = 60000
	w := codec.NewWriter(codec.KindMV, 0)
	w.Array(4)
	w.Array(1) // context: a:1..records+1
	w.Array(2)
	w.Replica("a")
	w.Uint(records + 1)
	w.Uint(0)  // no values
	w.Array(0) // no groups
	w.Array(records)
	for i := range records {
		s := uint64(i + 2)
		w.Array(5)
		w.Replica("a")
		w.Uint(s)
		w.Array(2) // the key: a dot
		w.Replica("a")
		w.Uint(s - 1)
		w.Replica("a")
		w.Uint(s - 1)
	}
	data, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var m MV[string]
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = m.UnmarshalBinary(data)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("an MV state with drop records: %v, want ErrMalformed", err)
	}
	// The context and the reader's replica table: a few hundred bytes.
	if b := after.TotalAlloc - before.TotalAlloc; b > uint64(len(data)) {
		t.Fatalf("refusing a %d-byte MV state allocated %d bytes", len(data), b)
	}
}
