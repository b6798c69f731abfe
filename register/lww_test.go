package register

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// ts builds a timestamp from whole milliseconds after t0 and a logical part.
func ts(ms int64, logical uint32) clock.Timestamp {
	return clock.Timestamp{Wall: t0 + ms*int64(time.Millisecond), Logical: logical}
}

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// applyLWW applies op to each register, failing the test on error.
func applyLWW[T any](t tb, op LWWOp[T], rs ...*LWW[T]) {
	t.Helper()
	for _, r := range rs {
		if err := r.Apply(op); err != nil {
			t.Fatalf("Apply(%v by %s): %v", op.Timestamp(), op.Replica(), err)
		}
	}
}

func mustGet[T any](t tb, r *LWW[T]) T {
	t.Helper()
	v, ok := r.Get()
	if !ok {
		t.Fatalf("register %s holds no value", r.id)
	}
	return v
}

func TestLWWEmpty(t *testing.T) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	if v, ok := r.Get(); ok || v != "" {
		t.Fatalf("new register: Get() = %q, %v; want \"\", false", v, ok)
	}
	var zero LWW[string]
	if !zero.Equal(r) || !r.Equal(&zero) {
		t.Fatal("an empty register differs from the zero register")
	}
}

func TestLWWSetThenGet(t *testing.T) {
	tm := newFakeTime(t0)
	r := NewLWW[int]("us-east-1", tm.clock())
	r.Set(1)
	r.Set(2) // same physical time: the clock's logical part orders it after
	if got := mustGet(t, r); got != 2 {
		t.Fatalf("Get() = %d after Set(1), Set(2); want 2", got)
	}
}

// Redis Active-Active: two writes with the same timestamp resolve in favour
// of the replica with the smaller ID.
func TestLWWTieBrokenBySmallerReplicaID(t *testing.T) {
	east := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	west := NewLWW[string]("eu-west-1", newFakeTime(t0).clock())
	a := east.Set("from us-east-1")
	b := west.Set("from eu-west-1")
	if a.Timestamp() != b.Timestamp() {
		t.Fatalf("setup: timestamps %v and %v should tie", a.Timestamp(), b.Timestamp())
	}
	applyLWW(t, b, east)
	applyLWW(t, a, west)
	for _, r := range []*LWW[string]{east, west} {
		if got := mustGet(t, r); got != "from eu-west-1" {
			t.Errorf("%s: Get() = %q; want the write of eu-west-1, the smaller ID", r.id, got)
		}
	}
	// The tie goes the same way whatever the order of the IDs' arrival.
	solo := &LWW[string]{}
	applyLWW(t, b, solo)
	applyLWW(t, a, solo)
	if got := mustGet(t, solo); got != "from eu-west-1" {
		t.Errorf("b then a: Get() = %q; want the write of eu-west-1", got)
	}
}

// A replica whose wall clock runs slow still wins with a write made after
// seeing another: the hybrid clock orders it later.
func TestLWWCausallyLaterWriteWinsDespiteSlowerClock(t *testing.T) {
	fast := newFakeTime(t0)
	slow := newFakeTime(t0 - int64(400*time.Millisecond)) // within the default offset
	east := NewLWW[string]("us-east-1", fast.clock())
	west := NewLWW[string]("eu-west-1", slow.clock())

	first := east.Set("first")
	applyLWW(t, first, west)
	second := west.Set("second, after seeing first")
	if second.Timestamp().Wall >= first.Timestamp().Wall+int64(time.Millisecond) {
		t.Fatalf("setup: the second write's wall time %v should not be ahead of the first's %v", second.Timestamp(), first.Timestamp())
	}
	applyLWW(t, second, east)
	for _, r := range []*LWW[string]{east, west} {
		if got := mustGet(t, r); got != "second, after seeing first" {
			t.Errorf("%s: Get() = %q; want the causally later write", r.id, got)
		}
	}
	// Delivered in the other order to a third replica, the result is the same.
	third := NewLWW[string]("sa-east-1", slow.clock())
	applyLWW(t, second, third)
	applyLWW(t, first, third)
	if got := mustGet(t, third); got != "second, after seeing first" {
		t.Errorf("late first write: Get() = %q; want the causally later write", got)
	}
}

// A write concurrent with another, made on a faster wall clock, wins: LWW
// cannot know what the users meant, so it goes by time.
func TestLWWConcurrentLaterTimestampWins(t *testing.T) {
	east := NewLWW[string]("us-east-1", newFakeTime(t0+int64(time.Millisecond)).clock())
	west := NewLWW[string]("eu-west-1", newFakeTime(t0).clock())
	a := east.Set("east")
	b := west.Set("west")
	applyLWW(t, b, east)
	applyLWW(t, a, west)
	for _, r := range []*LWW[string]{east, west} {
		if got := mustGet(t, r); got != "east" {
			t.Errorf("%s: Get() = %q; want the write with the later timestamp", r.id, got)
		}
	}
}

func TestLWWApplyAdvancesClock(t *testing.T) {
	tm := newFakeTime(t0)
	clk := tm.clock()
	r := NewLWW[string]("eu-west-1", clk)
	remote := LWWOp[string]{w: stamp{ts: ts(300, 7), id: "us-east-1"}, v: "remote"}
	applyLWW(t, remote, r)
	if last := clk.Last(); !last.After(remote.Timestamp()) {
		t.Fatalf("clock at %v after applying a write at %v; want it past", last, remote.Timestamp())
	}
	r.Set("local")
	if got := mustGet(t, r); got != "local" {
		t.Fatalf("a local write after a remote one lost: Get() = %q", got)
	}
}

// A replica whose clock runs an hour ahead cannot drag the others with it:
// its writes are refused, changing nothing, and accepted once they are no
// longer too far ahead.
func TestLWWSkewRefusedThenAcceptedLater(t *testing.T) {
	ahead := NewLWW[string]("us-east-1", newFakeTime(t0+int64(time.Hour)).clock())
	here := newFakeTime(t0)
	clk := here.clock()
	r := NewLWW[string]("eu-west-1", clk)
	before := r.Set("local")

	op := ahead.Set("from the future")
	opBytes, err := op.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	state, err := ahead.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	lastBefore := clk.Last()

	if err := r.Apply(op); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Apply of a write an hour ahead: err = %v; want ErrClockSkew", err)
	}
	if changed, err := r.ApplyBinary(opBytes); changed || !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("ApplyBinary of a write an hour ahead: %v, %v; want false, ErrClockSkew", changed, err)
	}
	if changed, err := r.MergeBinary(state); changed || !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("MergeBinary of a state an hour ahead: %v, %v; want false, ErrClockSkew", changed, err)
	}
	if got := mustGet(t, r); got != "local" || r.w != before.w {
		t.Fatalf("after refusals: Get() = %q; want the local write kept", got)
	}
	if clk.Last() != lastBefore {
		t.Fatalf("after refusals the clock moved from %v to %v", lastBefore, clk.Last())
	}

	here.add(time.Hour) // local time catches up
	if changed, err := r.ApplyBinary(opBytes); !changed || err != nil {
		t.Fatalf("ApplyBinary once time caught up: %v, %v; want true, nil", changed, err)
	}
	if got := mustGet(t, r); got != "from the future" {
		t.Fatalf("Get() = %q; want the write accepted late", got)
	}
	if changed, err := r.MergeBinary(state); changed || err != nil {
		t.Fatalf("MergeBinary of the same write: %v, %v; want false, nil", changed, err)
	}
}

// The typed Merge trusts its argument: it takes a skewed state in.
func TestLWWMergeIgnoresSkew(t *testing.T) {
	ahead := NewLWW[string]("us-east-1", newFakeTime(t0+int64(time.Hour)).clock())
	ahead.Set("from the future")
	clk := newFakeTime(t0).clock()
	r := NewLWW[string]("eu-west-1", clk)
	r.Merge(ahead)
	if got := mustGet(t, r); got != "from the future" {
		t.Fatalf("Merge: Get() = %q; want the other state's write", got)
	}
}

// The documented exception to "a local write wins": a write taken in by
// the trusting typed Merge from a clock far ahead keeps winning until local
// time catches up.
func TestLWWSetLosesToTrustedWriteFromFarAhead(t *testing.T) {
	ahead := NewLWW[string]("us-east-1", newFakeTime(t0+int64(time.Hour)).clock())
	ahead.Set("from the future")
	here := newFakeTime(t0)
	r := NewLWW[string]("eu-west-1", here.clock())
	r.Merge(ahead)
	r.Set("local")
	if got := mustGet(t, r); got != "from the future" {
		t.Fatalf("Get() = %q; want the write from far ahead to keep winning", got)
	}
	here.add(time.Hour + time.Millisecond)
	r.Set("local, later")
	if got := mustGet(t, r); got != "local, later" {
		t.Fatalf("Get() = %q once time caught up; want the local write", got)
	}
}

func TestLWWApplyRefusesMeaninglessOps(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   LWWOp[string]
	}{
		{"zero op", LWWOp[string]{}},
		{"zero timestamp", LWWOp[string]{w: stamp{id: "us-east-1"}, v: "x"}},
		{"logical part only", LWWOp[string]{w: stamp{ts: clock.Timestamp{Logical: 3}, id: "us-east-1"}, v: "x"}},
		{"negative wall time", LWWOp[string]{w: stamp{ts: clock.Timestamp{Wall: -5}, id: "us-east-1"}, v: "x"}},
		{"empty replica", LWWOp[string]{w: stamp{ts: ts(1, 0)}, v: "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeTime(t0).clock()
			r := NewLWW[string]("eu-west-1", clk)
			r.Set("kept")
			want := r.Clone()
			last := clk.Last()
			if err := r.Apply(tc.op); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("Apply: err = %v; want ErrInvalidOp", err)
			}
			if !r.Equal(want) || mustGet(t, r) != "kept" || clk.Last() != last {
				t.Fatal("a refused op changed the register or its clock")
			}
			if _, err := tc.op.MarshalBinary(); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("MarshalBinary: err = %v; want ErrInvalidOp", err)
			}
		})
	}
}

func TestLWWSetOnZeroValuePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Set on a zero LWW did not panic")
		}
	}()
	var r LWW[string]
	r.Set("x")
}

func TestNewLWWPanicsOnBadArguments(t *testing.T) {
	for name, f := range map[string]func(){
		"empty id":  func() { NewLWW[string]("", clock.New()) },
		"nil clock": func() { NewLWW[string]("us-east-1", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func TestLWWCloneIsIndependent(t *testing.T) {
	r := NewLWW[string]("us-east-1", newFakeTime(t0).clock())
	r.Set("a")
	c := r.Clone()
	r.Set("b")
	if got := mustGet(t, c); got != "a" {
		t.Fatalf("clone changed with the original: %q", got)
	}
	if c.Equal(r) {
		t.Fatal("clone equal to the original after the original changed")
	}
}

// genLWW draws a register state with a small range of timestamps and
// replicas, so that ties happen. Its value is a function of its stamp, as
// for real writes.
func genLWW(t *rapid.T, label string) *LWW[string] {
	r := &LWW[string]{}
	if rapid.IntRange(0, 4).Draw(t, label+" empty") == 0 {
		return r
	}
	s := stamp{
		ts: clock.Timestamp{
			Wall:    t0 + rapid.Int64Range(0, 3).Draw(t, label+" wall"),
			Logical: rapid.Uint32Range(0, 2).Draw(t, label+" logical"),
		},
		id: rapid.SampledFrom([]crdt.ReplicaID{"a", "b", "c"}).Draw(t, label+" replica"),
	}
	r.w, r.v, r.fp = s, valueOf(s), s.hash()
	return r
}

func valueOf(s stamp) string { return fmt.Sprintf("%d.%d@%s", s.ts.Wall-t0, s.ts.Logical, s.id) }

// sameLWW reports whether two registers hold the same write and value.
func sameLWW(a, b *LWW[string]) bool {
	av, aok := a.Get()
	bv, bok := b.Get()
	return a.Equal(b) && b.Equal(a) && av == bv && aok == bok &&
		a.Fingerprint() == b.Fingerprint() && a.Fingerprint() == lwwFingerprint(a)
}

// lwwFingerprint recomputes r's fingerprint from its write.
func lwwFingerprint[T any](r *LWW[T]) uint64 {
	if !r.w.isSet() {
		return 0
	}
	return codec.HashUint(codec.HashUint(codec.HashString(codec.HashSeed, string(r.w.id)), uint64(r.w.ts.Wall)), uint64(r.w.ts.Logical))
}

func merged(rs ...*LWW[string]) *LWW[string] {
	out := &LWW[string]{}
	for _, r := range rs {
		out.Merge(r)
	}
	return out
}

func TestLWWMergeIsASemilattice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genLWW(t, "a"), genLWW(t, "b"), genLWW(t, "c")
		if ab, ba := merged(a, b), merged(b, a); !sameLWW(ab, ba) {
			t.Fatalf("not commutative: a⊔b = %+v, b⊔a = %+v", ab.w, ba.w)
		}
		left := merged(merged(a, b), c)
		right := merged(a, merged(b, c))
		if !sameLWW(left, right) {
			t.Fatalf("not associative: %+v vs %+v", left.w, right.w)
		}
		aa := a.Clone()
		aa.Merge(a)
		if !sameLWW(aa, a) {
			t.Fatal("not idempotent")
		}
		// The join is an upper bound: merging either side into it changes nothing.
		ab := merged(a, b)
		for _, x := range []*LWW[string]{a, b} {
			y := ab.Clone()
			y.Merge(x)
			if !sameLWW(y, ab) {
				t.Fatal("merging an input into the join changed it")
			}
		}
		// The byte path agrees with the typed one.
		data, err := b.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		viaBytes := a.Clone()
		changed, err := viaBytes.MergeBinary(data)
		if err != nil {
			t.Fatal(err)
		}
		if !sameLWW(viaBytes, ab) {
			t.Fatal("MergeBinary and Merge disagree")
		}
		if changed != !a.Equal(ab) {
			t.Fatalf("MergeBinary reported changed=%v; the write went from %+v to %+v", changed, a.w, ab.w)
		}
	})
}

// Ops applied in any order, some twice, give the state the replicas'
// states merge to.
func TestLWWOpsInAnyOrderEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		rs := make([]*LWW[string], n)
		for i := range rs {
			skew := rapid.Int64Range(-5, 5).Draw(t, "skew ms")
			// No maximum offset: this test is about order, not skew.
			rs[i] = NewLWW[string](simIDs[i], newFakeTime(t0+skew*int64(time.Millisecond)).clock(clock.WithMaxOffset(0)))
		}
		var ops []LWWOp[string]
		for range rapid.IntRange(0, 20).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "replica")
			if len(ops) > 0 && rapid.Bool().Draw(t, "apply") {
				applyLWW(t, ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")], rs[i])
				continue
			}
			ops = append(ops, rs[i].Set(fmt.Sprintf("v%d by %s", len(ops), rs[i].id)))
		}
		delivered := slices.Clone(ops)
		if len(ops) > 0 {
			for _, k := range rapid.SliceOfN(rapid.IntRange(0, len(ops)-1), 0, 5).Draw(t, "duplicates") {
				delivered = append(delivered, ops[k])
			}
		}
		delivered = rapid.Permutation(delivered).Draw(t, "order")
		applied := &LWW[string]{}
		for _, op := range delivered {
			applyLWW(t, op, applied)
		}
		want := merged(rs...)
		if !sameLWW(applied, want) {
			t.Fatalf("ops applied in order %v give %+v; merged states give %+v", delivered, applied.w, want.w)
		}
	})
}

// lwwModel is the naive reference: among all writes, the one that every
// other write loses to, by timestamp (wall, then logical part) and then by
// the smaller replica ID.
func lwwModel(ops []LWWOp[string]) (string, bool) {
	for i, a := range ops {
		best := true
		for j, b := range ops {
			if i == j {
				continue
			}
			at, bt := a.Timestamp(), b.Timestamp()
			switch {
			case bt.Wall > at.Wall:
				best = false
			case bt.Wall == at.Wall && bt.Logical > at.Logical:
				best = false
			case bt.Wall == at.Wall && bt.Logical == at.Logical && b.Replica() < a.Replica():
				best = false
			}
		}
		if best {
			return a.Value(), true
		}
	}
	return "", false
}

// Replicas with skewed clocks, over a network that loses, duplicates and
// reorders, converge after a final reliable exchange to the write the naive
// model picks, and that write was in no other write's causal past.
func TestLWWConvergesToModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "replicas")
		regs := make([]*LWW[string], n)
		s := newSim(t, n, func(i int, id crdt.ReplicaID, tm *fakeTime) crdt.Object {
			tm.add(time.Duration(rapid.Int64Range(-int64(2*time.Second), int64(2*time.Second)).Draw(t, "clock offset")))
			regs[i] = NewLWW[string](id, tm.clock(clock.WithMaxOffset(500*time.Millisecond)))
			return regs[i]
		})
		write := func(i int) {
			op := regs[i].Set(fmt.Sprintf("w%d", len(s.writes)))
			data, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			s.wrote(i, op, data)
		}
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			s.step(write)
		}
		s.finish()

		ops := make([]LWWOp[string], len(s.writes))
		for k, w := range s.writes {
			ops[k] = w.op.(LWWOp[string])
		}
		want, wantOK := lwwModel(ops)
		for _, r := range regs {
			got, ok := r.Get()
			if got != want || ok != wantOK {
				t.Fatalf("%s: Get() = %q, %v; the model says %q, %v", r.id, got, ok, want, wantOK)
			}
			if !r.Equal(regs[0]) {
				t.Fatalf("%s and %s hold different writes", r.id, regs[0].id)
			}
		}
		// Causality: a write orders after every write its replica had seen,
		// so the winner is in no other write's past.
		for k, w := range s.writes {
			for p := range w.past {
				if !ops[k].Timestamp().After(ops[p].Timestamp()) {
					t.Fatalf("write %d at %v does not order after write %d at %v it had seen", k, ops[k].Timestamp(), p, ops[p].Timestamp())
				}
			}
		}
	})
}
