package register_test

// The module's law harness (package crdttest) run on LWW and MV, each with
// a naive model of its conflict rule computed from the causal history.

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// lawClock is the clock of registers the harness only decodes into: a
// fixed physical time and no offset check, so decoding never depends on
// the time the test runs at.
func lawClock() *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return 1 }), clock.WithMaxOffset(0))
}

// unset is the Value of a register no write has reached.
const unset = "unset"

func lwwLawType() crdttest.Type[*register.LWW[int], register.LWWOp[int]] {
	type (
		reg = register.LWW[int]
		op  = register.LWWOp[int]
	)
	return crdttest.Type[*reg, op]{
		Name: "register.LWW",
		New:  func(id crdt.ReplicaID, clk *clock.Clock) *reg { return register.NewLWW[int](id, clk) },
		Mutate: func(t *rapid.T, r *reg) op {
			return r.Set(rapid.IntRange(0, 9).Draw(t, "v"))
		},
		Apply:        func(r *reg, o op) error { return r.Apply(o) },
		Merge:        func(dst, src *reg) { dst.Merge(src) },
		Clone:        (*reg).Clone,
		Equal:        func(a, b *reg) bool { return a.Equal(b) },
		MarshalState: func(r *reg) ([]byte, error) { return r.MarshalBinary() },
		UnmarshalState: func(b []byte) (*reg, error) {
			r := register.NewLWW[int]("decoded", lawClock())
			return r, r.UnmarshalBinary(b)
		},
		MarshalOp: func(o op) ([]byte, error) { return o.MarshalBinary() },
		UnmarshalOp: func(b []byte) (op, error) {
			var o op
			return o, o.UnmarshalBinary(b)
		},
		Value: func(r *reg) any {
			if v, ok := r.Get(); ok {
				return v
			}
			return unset
		},
		// The write no other write saw, directly or through others, with
		// the greatest timestamp; on an exact tie the smaller replica ID
		// wins. The causal order comes from the history, not from the
		// timestamps: a write made after seeing another must win whatever
		// the clocks say.
		Model: func(h crdttest.History[op]) any {
			best := h.LastWrite(func(crdttest.Event[op]) bool { return true })
			if best < 0 {
				return unset
			}
			return h[best].Op.Value()
		},
	}
}

// mvWrite is an MV op with the value it wrote, for the model.
type mvWrite struct {
	op register.MVOp[int]
	v  int
}

func mvLawType() crdttest.Type[*register.MV[int], mvWrite] {
	type reg = register.MV[int]
	sorted := func(vs []int) []int { return slices.Sorted(slices.Values(vs)) } // a copy
	return crdttest.Type[*reg, mvWrite]{
		Name: "register.MV",
		New:  func(id crdt.ReplicaID, _ *clock.Clock) *reg { return register.NewMV[int](id) },
		Mutate: func(t *rapid.T, r *reg) mvWrite {
			v := rapid.IntRange(0, 9).Draw(t, "v")
			return mvWrite{r.Set(v), v}
		},
		Apply:      func(r *reg, w mvWrite) error { return r.Apply(w.op) },
		Merge:      func(dst, src *reg) { dst.Merge(src) },
		Clone:      (*reg).Clone,
		Equal:      func(a, b *reg) bool { return a.Equal(b) },
		Version:    func(r *reg) vclock.Clock { return r.Version() },
		DeltaSince: func(r *reg, v vclock.Clock) *reg { return r.DeltaSince(v) },
		MarshalState: func(r *reg) ([]byte, error) {
			return r.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*reg, error) {
			r := register.NewMV[int]("decoded")
			return r, r.UnmarshalBinary(b)
		},
		MarshalOp: func(w mvWrite) ([]byte, error) { return w.op.MarshalBinary() },
		UnmarshalOp: func(b []byte) (mvWrite, error) {
			var w mvWrite
			err := w.op.UnmarshalBinary(b)
			w.v = w.op.Value()
			return w, err
		},
		Value: func(r *reg) any { return sorted(r.Values()) },
		// The values of the writes that happened before no other write,
		// as a sorted multiset: concurrent writes of one value are two
		// siblings.
		Model: func(h crdttest.History[mvWrite]) any {
			var vs []int
			for _, i := range h.Maximal(func(crdttest.Event[mvWrite]) bool { return true }) {
				vs = append(vs, h[i].Op.v)
			}
			return sorted(vs)
		},
	}
}

func TestLWWLaws(t *testing.T) { crdttest.Run(t, lwwLawType()) }

func TestMVLaws(t *testing.T) { crdttest.Run(t, mvLawType()) }
