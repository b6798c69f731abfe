package register

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// TestMVSetLimitsApplyToEveryDecoder checks that every decoding method of
// an MV applies the limits given to SetLimits.
func TestMVSetLimitsApplyToEveryDecoder(t *testing.T) {
	src := NewMV[string]("a")
	op := mustMarshal(t, src.Set(strings.Repeat("x", 200)))
	state := mustMarshal(t, src)
	var v vclock.Clock
	for i := range 40 {
		v.Set(vclock.ReplicaID(fmt.Sprint("replica-", i)), 1)
	}
	version := mustMarshal(t, v)
	calls := map[string]func(m *MV[string]) error{
		"UnmarshalBinary":  func(m *MV[string]) error { return m.UnmarshalBinary(state) },
		"MergeBinary":      func(m *MV[string]) error { _, err := m.MergeBinary(state); return err },
		"ApplyBinary":      func(m *MV[string]) error { _, err := m.ApplyBinary(op); return err },
		"ApplyBinaryFrom":  func(m *MV[string]) error { _, err := m.ApplyBinaryFrom(op, "a"); return err },
		"DeltaSinceBinary": func(m *MV[string]) error { _, err := m.DeltaSinceBinary(version); return err },
	}
	for name, call := range calls {
		if err := call(NewMV[string]("r")); err != nil {
			t.Fatalf("%s with the default limits: %v", name, err)
		}
		m := NewMV[string]("r")
		m.SetLimits(codec.Limits{MaxBytes: 100})
		if err := call(m.Clone()); !errors.Is(err, codec.ErrLimit) {
			t.Fatalf("%s of more than 100 bytes: %v, want ErrLimit", name, err)
		}
	}
}

// TestMVApplyBinaryFromRefusesForeignWrites checks that a write may only
// come from its own replica, while the dots it replaced may be anyone's.
func TestMVApplyBinaryFromRefusesForeignWrites(t *testing.T) {
	a, b := NewMV[string]("a"), NewMV[string]("b")
	wa := a.Set("1")
	applyMV(t, wa, b)
	wb := b.Set("2") // replaces a's write
	r := NewMV[string]("r")
	if _, err := r.ApplyBinaryFrom(mustMarshal(t, wa), "b"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("a's write received from b: %v, want ErrForeignWrite", err)
	}
	if !r.Equal(NewMV[string]("r")) {
		t.Fatal("a refused write changed the register")
	}
	for _, w := range []MVOp[string]{wa, wb} {
		if _, err := r.ApplyBinaryFrom(mustMarshal(t, w), w.Dot().Replica); err != nil {
			t.Fatalf("%v from its own replica: %v", w.Dot(), err)
		}
	}
	if got := r.Values(); len(got) != 1 || got[0] != "2" {
		t.Fatalf("Values() = %q, want [2]", got)
	}
}
