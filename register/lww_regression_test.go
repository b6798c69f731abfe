package register

import (
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Regression (issue 9, finding 12): Set changed the register before the
// value was encoded, so an unencodable value (a func in an LWW[any]) stayed
// in the local state and every later snapshot failed.
func TestRegressionLWWFailedSetChangesNothing(t *testing.T) {
	ft := newFakeTime(t0)
	r := NewLWW[any]("a", ft.clock())
	r.Set("kept")
	before := r.Clone()
	snap, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	last := r.clk.Last()
	op := r.Set(func() {})
	var ee *codec.EncodeError
	if _, err := op.MarshalBinary(); !errors.As(err, &ee) {
		t.Fatalf("encoding the failed op: %v, want a *codec.EncodeError", err)
	}
	if v, ok := r.Get(); !ok || v != "kept" || !r.Equal(before) || r.Fingerprint() != before.Fingerprint() {
		t.Fatalf("a failed Set changed the register to %v", v)
	}
	if r.clk.Last() != last {
		t.Fatal("a failed Set read the clock")
	}
	again, err := r.MarshalBinary()
	if err != nil || string(again) != string(snap) {
		t.Fatalf("snapshot after a failed Set: %v", err)
	}
	if err := r.Apply(op); err == nil {
		t.Fatal("Apply took the failed op")
	}
}

// ApplyBinaryFrom refuses a write of another replica and changes nothing.
func TestLWWApplyBinaryFromRefusesForeignWrites(t *testing.T) {
	ft := newFakeTime(t0)
	w := NewLWW[string]("c", ft.clock())
	op, _ := w.Set("by c").MarshalBinary()
	r := NewLWW[string]("a", ft.clock())
	if _, err := r.ApplyBinaryFrom(op, "b"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("c's write from b: %v, want ErrForeignWrite", err)
	}
	if _, ok := r.Get(); ok || r.Fingerprint() != 0 {
		t.Fatal("a refused write changed the register")
	}
	if ch, err := r.ApplyBinaryFrom(op, "c"); err != nil || !ch {
		t.Fatalf("c's write from c: %v, %v", ch, err)
	}
	if r.Fingerprint() != w.Fingerprint() || !r.Equal(w) {
		t.Fatal("registers holding the same write differ")
	}
}

// The limits set by SetLimits apply to every decoding method.
func TestLWWSetLimits(t *testing.T) {
	ft := newFakeTime(t0)
	w := NewLWW[string]("c", ft.clock())
	opb, _ := w.Set("a value long enough").MarshalBinary()
	state, _ := w.MarshalBinary()
	r := NewLWW[string]("a", ft.clock())
	r.SetLimits(codec.Limits{MaxBytes: 8})
	errs := make([]error, 4)
	errs[0] = r.UnmarshalBinary(state)
	_, errs[1] = r.MergeBinary(state)
	_, errs[2] = r.ApplyBinary(opb)
	_, errs[3] = r.ApplyBinaryFrom(opb, "c")
	for i, err := range errs {
		if !errors.Is(err, codec.ErrLimit) {
			t.Errorf("decoder %d over MaxBytes: %v, want ErrLimit", i, err)
		}
	}
	r.SetLimits(codec.Limits{})
	if _, err := r.MergeBinary(state); err != nil || !r.Equal(w) {
		t.Fatalf("default limits: %v", err)
	}
}

// A decoded copy has its original's fingerprint; registers that took the
// same writes in any order have equal ones (also checked by sameLWW in the
// law tests).
func TestLWWFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genLWW(t, "a"), genLWW(t, "b")
		ab, ba := merged(a, b), merged(b, a)
		if ab.Fingerprint() != ba.Fingerprint() || ab.Fingerprint() != lwwFingerprint(ab) {
			t.Fatalf("fingerprints %#x, %#x", ab.Fingerprint(), ba.Fingerprint())
		}
		data, _ := ab.MarshalBinary()
		c := NewLWW[string]("z", clock.New())
		if err := c.UnmarshalBinary(data); err != nil || c.Fingerprint() != ab.Fingerprint() {
			t.Fatalf("decoded copy: %v", err)
		}
		if !a.Equal(b) && a.Fingerprint() == b.Fingerprint() {
			t.Fatalf("different writes %+v and %+v share fingerprint %#x", a.w, b.w, a.Fingerprint())
		}
	})
}
