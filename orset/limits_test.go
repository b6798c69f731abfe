package orset

import (
	"errors"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// TestSetLimitsApplyToEveryDecoder checks that every decoding method
// applies the limits given to SetLimits, and that zero limits are the
// defaults.
func TestSetLimitsApplyToEveryDecoder(t *testing.T) {
	src := New[string]("a")
	long := strings.Repeat("x", 200)
	op := mustMarshal(t, src.Add(long))
	state := mustMarshal(t, src)
	version := mustMarshal(t, bigVersion(40))
	small := codec.Limits{MaxBytes: 100}
	calls := map[string]func(s *Set[string]) error{
		"UnmarshalBinary": func(s *Set[string]) error { return s.UnmarshalBinary(state) },
		"MergeBinary":     func(s *Set[string]) error { _, err := s.MergeBinary(state); return err },
		"ApplyBinary":     func(s *Set[string]) error { _, err := s.ApplyBinary(op); return err },
		"ApplyBinaryFrom": func(s *Set[string]) error { _, err := s.ApplyBinaryFrom(op, "a"); return err },
		"DeltaSinceBinary": func(s *Set[string]) error {
			_, err := s.DeltaSinceBinary(version)
			return err
		},
		"CollectBinary": func(s *Set[string]) error { return s.CollectBinary([][]byte{version}) },
	}
	for name, call := range calls {
		s := New[string]("r")
		if err := call(s); err != nil {
			t.Fatalf("%s with the default limits: %v", name, err)
		}
		s = New[string]("r")
		s.SetLimits(small)
		if err := call(s.Clone()); !errors.Is(err, codec.ErrLimit) {
			t.Fatalf("%s of more than %d bytes: %v, want ErrLimit", name, small.MaxBytes, err)
		}
		if !s.Equal(New[string]("r")) {
			t.Fatalf("%s refused by the limits changed the set", name)
		}
	}
}

func bigVersion(n int) vclock.Clock {
	var v vclock.Clock
	for i := range n {
		v.Set(vclock.ReplicaID(keyOf(i)), 1)
	}
	return v
}

// TestApplyBinaryFromRefusesForeignWrites checks that an op may only
// carry its sender's own write, while the dots a remove drops may be
// anyone's.
func TestApplyBinaryFromRefusesForeignWrites(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	addA := a.Add("x")
	if err := b.Apply(addA); err != nil {
		t.Fatal(err)
	}
	removeB := b.Remove("x") // drops a's dot: not a write of a
	noop := b.Remove("never")
	r := New[string]("r")
	if _, err := r.ApplyBinaryFrom(mustMarshal(t, addA), "b"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("a's add received from b: %v, want ErrForeignWrite", err)
	}
	if !r.Equal(New[string]("r")) {
		t.Fatal("a refused op changed the set")
	}
	if changed, err := r.ApplyBinaryFrom(mustMarshal(t, addA), "a"); err != nil || !changed {
		t.Fatalf("a's add received from a: %v, %v", changed, err)
	}
	if _, err := r.ApplyBinaryFrom(mustMarshal(t, removeB), "a"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("b's remove received from a: %v, want ErrForeignWrite", err)
	}
	if changed, err := r.ApplyBinaryFrom(mustMarshal(t, removeB), "b"); err != nil || !changed || r.Contains("x") {
		t.Fatalf("b's remove of a's add received from b: %v, %v", changed, err)
	}
	if _, err := r.ApplyBinaryFrom(mustMarshal(t, noop), "c"); err != nil {
		t.Fatalf("a no-op: %v", err)
	}
}
