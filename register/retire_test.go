package register

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

var (
	wA0        = vclock.Retired("a")
	retWriters = []vclock.ReplicaID{wA1, wA2, wB1}
	// The retirements of a's two runs, in the engine's order. A register
	// has no version: Base and Final are only checked.
	rA1 = vclock.Retirement{From: wA1, To: wA0, Final: 100}
	rA2 = vclock.Retirement{From: wA2, To: wA0, Base: 100, Final: 100}
)

// lwwHistory runs random writes and merges on three registers writing as
// retWriters, on a time source that never moves, so that timestamps tie
// often. With shared, the two runs of a share one clock, as two runs of
// one replica do (one never mints a timestamp the other did); otherwise
// they too can tie. It returns every state each register went through,
// oldest first.
func lwwHistory(t *rapid.T, shared bool) [3][]*LWW[int] {
	src := func() int64 { return t0 }
	clks := []*clock.Clock{clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src))}
	if shared {
		clks[1] = clks[0]
	}
	var regs [3]*LWW[int]
	var past [3][]*LWW[int]
	for i, w := range retWriters {
		regs[i] = NewLWW[int](w, clks[i])
		past[i] = append(past[i], regs[i].Clone())
	}
	for k := range rapid.IntRange(0, 20).Draw(t, "steps") {
		i := rapid.IntRange(0, 2).Draw(t, "at")
		if rapid.Bool().Draw(t, "merge") {
			regs[i].Merge(regs[rapid.IntRange(0, 2).Draw(t, "from")])
		} else {
			regs[i].Set(k)
		}
		past[i] = append(past[i], regs[i].Clone())
	}
	return past
}

func pickLWW(t *rapid.T, past [3][]*LWW[int], label string) *LWW[int] {
	i := rapid.IntRange(0, 2).Draw(t, label+" replica")
	return past[i][rapid.IntRange(0, len(past[i])-1).Draw(t, label+" state")]
}

func retiredLWW(t *rapid.T, x *LWW[int], rs ...vclock.Retirement) *LWW[int] {
	x = x.Clone()
	for _, r := range rs {
		if err := x.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
	}
	return x
}

func joinedLWW(x, y *LWW[int]) *LWW[int] {
	j := x.Clone()
	j.Merge(y)
	return j
}

// sameRetired fails unless a and b hold the same write: stamp, value, encoding
// and fingerprint.
func sameRetired(t *rapid.T, what string, a, b *LWW[int]) {
	t.Helper()
	ab, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	av, _ := a.Get()
	bv, _ := b.Get()
	if !a.Equal(b) || av != bv || !bytes.Equal(ab, bb) || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("%s: %v/%q=%d and %v/%q=%d differ", what, a.w.ts, a.w.id, av, b.w.ts, b.w.id, bv)
	}
}

// TestLWWRetireHomomorphism is test 1: with a's runs on one clock (so no
// two writes of one name tie), Retire(x ⊔ y) = Retire(x) ⊔ Retire(y) for
// the retirement of a!1 and for both, and Retire keeps the value.
func TestLWWRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := lwwHistory(t, true)
		x, y := pickLWW(t, past, "x"), pickLWW(t, past, "y")
		for _, rs := range [][]vclock.Retirement{{rA1}, {rA1, rA2}} {
			rx, ry := retiredLWW(t, x, rs...), retiredLWW(t, y, rs...)
			sameRetired(t, "Retire(x ⊔ y) and Retire(x) ⊔ Retire(y)", retiredLWW(t, joinedLWW(x, y), rs...), joinedLWW(rx, ry))
			sameRetired(t, "and Retire(y) ⊔ Retire(x)", joinedLWW(ry, rx), joinedLWW(rx, ry))
			xv, xok := x.Get()
			rv, rok := rx.Get()
			if xv != rv || xok != rok || rx.w.ts != x.w.ts {
				t.Fatalf("Retire changed the write from %v=%d to %v=%d", x.w.ts, xv, rx.w.ts, rv)
			}
			for _, r := range rs {
				if rx.w.id == r.From {
					t.Fatalf("%q left in the register", r.From)
				}
			}
		}
	})
}

// TestLWWRetireTieOrder: with a's runs on two clocks, writes of a!1 and
// a!2 tie; retiring one of them changes which wins. Replicas that retire
// still converge, in any merge order, to the winner by the renamed order
// (timestamp, then writer after renaming), and that differs from the
// winner before only for such a tie.
func TestLWWRetireTieOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := lwwHistory(t, false)
		x, y := pickLWW(t, past, "x"), pickLWW(t, past, "y")
		r := rapid.SampledFrom([]vclock.Retirement{rA1, {From: wA2, To: wA0, Final: 100}}).Draw(t, "retired")
		rx, ry := retiredLWW(t, x, r), retiredLWW(t, y, r)
		j := joinedLWW(rx, ry)
		sameRetired(t, "Retire(x) ⊔ Retire(y) and Retire(y) ⊔ Retire(x)", j, joinedLWW(ry, rx))
		// The model: the renamed writes, the later timestamp winning,
		// then the smaller writer.
		rename := func(id vclock.ReplicaID) vclock.ReplicaID {
			if id == r.From {
				return r.To
			}
			return id
		}
		want := x
		if y.w.ts.After(x.w.ts) || y.w.ts == x.w.ts && rename(y.w.id) < rename(x.w.id) {
			want = y
		}
		wv, _ := want.Get()
		jv, _ := j.Get()
		if j.w.ts != want.w.ts || j.w.id != rename(want.w.id) || jv != wv {
			t.Fatalf("retired join holds %v/%q=%d, want %v/%q=%d", j.w.ts, j.w.id, jv, want.w.ts, rename(want.w.id), wv)
		}
		before := retiredLWW(t, joinedLWW(x, y), r)
		if !before.Equal(j) && (x.w.ts != y.w.ts || x.w.id.Name() != y.w.id.Name()) {
			t.Fatalf("the renaming changed the winner of %v/%q and %v/%q, not a tie of one name", x.w.ts, x.w.id, y.w.ts, y.w.id)
		}
	})
}

// TestLWWRetireLagging is test 2: y is an older state of x's register;
// after both retire, merging either into the other gives Retire(x ⊔ y).
func TestLWWRetireLagging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := lwwHistory(t, true)
		i := rapid.IntRange(0, 2).Draw(t, "replica")
		n := len(past[i])
		x, y := past[i][n-1], past[i][rapid.IntRange(0, n-1).Draw(t, "older")]
		want := retiredLWW(t, joinedLWW(x, y), rA1, rA2)
		rx, ry := retiredLWW(t, x, rA1, rA2), retiredLWW(t, y, rA1, rA2)
		sameRetired(t, "retired x into retired y", joinedLWW(ry, rx), want)
		sameRetired(t, "retired y into retired x", joinedLWW(rx, ry), want)
	})
}

// TestLWWRetireRefused is test 4: an invalid retirement fails with
// ErrRetirement and changes nothing.
func TestLWWRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := pickLWW(t, lwwHistory(t, true), "x")
		before, _ := x.MarshalBinary()
		fp := x.Fingerprint()
		bad := rapid.SampledFrom([]vclock.Retirement{
			{From: "a", To: wA0},
			{From: wA0, To: wA0},
			{From: wA1, To: vclock.Retired("b")},
			{From: wA1, To: wA0, Heir: wB1},
			{From: wA1, To: wA0, Base: vclock.MaxSeq, Final: 1},
		}).Draw(t, "bad")
		if err := x.Retire(bad); !errors.Is(err, vclock.ErrRetirement) {
			t.Fatalf("Retire(%+v) = %v, want ErrRetirement", bad, err)
		}
		after, _ := x.MarshalBinary()
		if !bytes.Equal(before, after) || x.Fingerprint() != fp {
			t.Fatal("a refused retirement changed the register")
		}
	})
}

// TestLWWRetireKeepsWorking is test 5: after every register retires a
// run of a, the live writers keep writing; ops and states travel as bytes
// (ApplyBinaryFrom from the writer's name, MergeBinary), and in the end
// every register holds the latest write; a retired state decodes to
// itself, fingerprint included; the conflict hook's memory follows the
// renaming.
func TestLWWRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := func() int64 { return t0 }
		clkA, clkB := clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src))
		regs := []*LWW[int]{NewLWW[int](wA1, clkA), NewLWW[int](wA2, clkA), NewLWW[int](wB1, clkB)}
		var reports int
		for _, g := range regs {
			g.SetConflictHook(func(vclock.Conflict) { reports++ })
		}
		var ops [][]byte
		step := func(label string, live ...int) {
			for k := range rapid.IntRange(0, 12).Draw(t, label) {
				i := rapid.SampledFrom(live).Draw(t, "at")
				switch rapid.IntRange(0, 2).Draw(t, "what") {
				case 0:
					b, err := regs[i].Set(k).MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					ops = append(ops, b)
				case 1:
					if len(ops) > 0 {
						op := ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")]
						var o LWWOp[int]
						if err := o.UnmarshalBinary(op); err != nil {
							t.Fatal(err)
						}
						if _, err := regs[i].ApplyBinaryFrom(op, o.Replica().Name()); err != nil {
							t.Fatal(err)
						}
					}
				case 2:
					b, err := regs[rapid.IntRange(0, 2).Draw(t, "from")].MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					if _, err := regs[i].MergeBinary(b); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		step("before", 0, 1, 2)
		fin := rapid.IntRange(0, 1).Draw(t, "finished")
		r := vclock.Retirement{From: retWriters[fin], To: wA0, Final: 100}
		for _, g := range regs {
			if err := g.Retire(r); err != nil {
				t.Fatal(err)
			}
			for _, s := range g.seen {
				if s.id == r.From {
					t.Fatalf("the hook's memory still names %q", r.From)
				}
			}
		}
		step("after", 1-fin, 2)
		var last *LWW[int]
		for _, g := range regs {
			for _, o := range regs {
				g.Merge(o)
			}
		}
		for _, g := range regs {
			if last != nil {
				sameRetired(t, "registers after retirement", g, last)
			}
			last = g
			b, err := g.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			dec := &LWW[int]{}
			if err := dec.UnmarshalBinary(b); err != nil {
				t.Fatalf("decoding a retired state: %v", err)
			}
			sameRetired(t, "decoded retired state", dec, g)
			if g.w.id == r.From {
				t.Fatalf("%q is back", r.From)
			}
		}
	})
}

// TestLWWRetireNoAlloc: Retire allocates nothing, the hook's memory
// holding both From and To.
func TestLWWRetireNoAlloc(t *testing.T) {
	clk := clock.New(clock.WithSource(func() int64 { return t0 }))
	h := NewLWW[int](wA0, clk)
	h.Set(1)
	var regs []*LWW[int]
	for range 11 {
		g := NewLWW[int](wA1, clk)
		g.SetConflictHook(func(vclock.Conflict) {})
		g.Set(2)
		g.Merge(h)
		regs = append(regs, g)
	}
	if len(regs[0].seen) != 2 {
		t.Fatalf("the hook remembers %d writers, want a!1 and a!0", len(regs[0].seen))
	}
	k := 0
	allocs := testing.AllocsPerRun(10, func() {
		if regs[k].Retire(rA1) != nil {
			panic("refused")
		}
		k++
	})
	if allocs != 0 {
		t.Fatalf("Retire allocates %v times", allocs)
	}
	if len(regs[0].seen) != 1 || regs[0].seen[0].id != wA0 || regs[0].w.id != wA0 {
		t.Fatalf("after retiring: write of %q, hook remembers %v", regs[0].w.id, regs[0].seen)
	}
}

// The LWW register is a retirer, as the replication engine finds it.
var _ interface{ Retire(vclock.Retirement) error } = (*LWW[int])(nil)
