package register

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// The writers of the retirement tests: two runs of replica a (which may
// overlap, as two processes under one name would), retired into a!0, and
// one run of b.
var (
	wA1      = vclock.Writer("a", 1)
	wA2      = vclock.Writer("a", 2)
	wB1      = vclock.Writer("b", 1)
	retiredA = vclock.Retired("a")
)

// mvWorld is a few registers that write, apply each other's writes (in
// any order, some twice, some never) and merge states and deltas.
type mvWorld struct {
	rs  []*MV[string]
	ops []MVOp[string]
}

func newMVWorld() *mvWorld {
	w := &mvWorld{}
	for _, id := range []vclock.ReplicaID{wA1, wA2, wB1} {
		w.rs = append(w.rs, NewMV[string](id))
	}
	return w
}

func (w *mvWorld) steps(t *rapid.T, label string, most int) {
	for range rapid.IntRange(0, most).Draw(t, label) {
		i := rapid.IntRange(0, len(w.rs)-1).Draw(t, "replica")
		j := rapid.IntRange(0, len(w.rs)-1).Draw(t, "from")
		switch rapid.IntRange(0, 3).Draw(t, "action") {
		case 0:
			w.ops = append(w.ops, w.rs[i].Set(fmt.Sprintf("v%d", len(w.ops))))
		case 1:
			if len(w.ops) > 0 {
				applyMV(t, w.ops[rapid.IntRange(0, len(w.ops)-1).Draw(t, "op")], w.rs[i])
			}
		case 2:
			w.rs[i].Merge(w.rs[j])
		case 3:
			v, err := w.rs[i].VersionBinary()
			if err != nil {
				t.Fatal(err)
			}
			d, err := w.rs[j].DeltaSinceBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.rs[i].MergeBinary(d); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// lastSeq returns the last write of id any register has seen.
func (w *mvWorld) lastSeq(id vclock.ReplicaID) uint64 {
	var n uint64
	for _, m := range w.rs {
		m.k.Context().RangesWithin(id, 1, vclock.MaxSeq, func(_, hi uint64) { n = max(n, hi) })
	}
	return n
}

// retirements returns the retirements of a!1 and then a!2 into a!0, with
// Final the last write any register has seen, or, if below, drawn up to
// it.
func (w *mvWorld) retirements(t *rapid.T, below bool) []vclock.Retirement {
	f1, f2 := w.lastSeq(wA1), w.lastSeq(wA2)
	if below {
		f1 = rapid.Uint64Range(0, f1).Draw(t, "final1")
		f2 = rapid.Uint64Range(0, f2).Draw(t, "final2")
	}
	return []vclock.Retirement{
		{From: wA1, To: retiredA, Final: f1},
		{From: wA2, To: retiredA, Base: f1, Final: f2},
	}
}

// sortedValues returns the values of m, sorted (Values orders them by
// dot, which retiring renames).
func sortedValues(m *MV[string]) []string {
	return slices.Sorted(slices.Values(m.Values()))
}

// retiredMV returns a copy of m with the retirements applied, checking
// that its values did not change, that each value's dot is renamed, and
// that decoding its encoding gives an equal register with the same
// fingerprint.
func retiredMV(t tb, m *MV[string], rs ...vclock.Retirement) *MV[string] {
	t.Helper()
	c := m.Clone()
	c.id = vclock.Writer("z", 1) // a live writer, never retired here
	for _, r := range rs {
		before := c.dots()
		if err := c.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
		var want []vclock.Dot
		for _, d := range before {
			want = append(want, r.Dot(d))
		}
		slices.SortFunc(want, vclock.Dot.Compare)
		if got := c.dots(); !slices.Equal(got, want) {
			t.Fatalf("dots %v after %+v, want %v", got, r, want)
		}
	}
	if !slices.Equal(sortedValues(c), sortedValues(m)) {
		t.Fatalf("values %q, before retiring %q", c.Values(), m.Values())
	}
	var dec MV[string]
	if err := dec.UnmarshalBinary(mustMarshal(t, c)); err != nil {
		t.Fatalf("decoding a retired register: %v", err)
	}
	if !sameMV(&dec, c) || dec.Fingerprint() != c.Fingerprint() {
		t.Fatalf("decoded %q (fingerprint %x), retired %q (%x)", dec.Values(), dec.Fingerprint(), c.Values(), c.Fingerprint())
	}
	return c
}

func requireSameMV(t tb, got, want *MV[string], what string) {
	t.Helper()
	if !sameMV(got, want) || got.Fingerprint() != want.Fingerprint() {
		t.Fatalf("%s: %q (fingerprint %x), want %q (%x)", what, got.Values(), got.Fingerprint(), want.Values(), want.Fingerprint())
	}
}

// TestMVRetireHomomorphism: Retire(x ⊔ y) = Retire(x) ⊔ Retire(y), whole
// or as a delta over the wire; the values do not change.
func TestMVRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newMVWorld()
		w.steps(t, "steps", 30)
		rs := w.retirements(t, rapid.Bool().Draw(t, "below"))[:rapid.IntRange(1, 2).Draw(t, "retirements")]
		x := w.rs[rapid.IntRange(0, 2).Draw(t, "x")]
		y := w.rs[rapid.IntRange(0, 2).Draw(t, "y")]
		want := retiredMV(t, mergedMV(x, y), rs...)
		rx, ry := retiredMV(t, x, rs...), retiredMV(t, y, rs...)
		requireSameMV(t, mergedMV(rx, ry), want, "Retire(x) ⊔ Retire(y)")
		requireSameMV(t, mergedMV(ry, rx), want, "Retire(y) ⊔ Retire(x)")
		v, err := rx.VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := ry.DeltaSinceBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		got := rx.Clone()
		if _, err := got.MergeBinary(d); err != nil {
			t.Fatal(err)
		}
		requireSameMV(t, got, want, "Retire(x) ⊔ delta of Retire(y)")
	})
}

// TestMVRetireLagging retires an older state of a register and its newer
// state; merging either into the other gives Retire(x ⊔ y).
func TestMVRetireLagging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newMVWorld()
		w.steps(t, "before", 20)
		i := rapid.IntRange(0, 2).Draw(t, "i")
		old := w.rs[i].Clone()
		w.steps(t, "after", 20)
		x := w.rs[i]
		rs := w.retirements(t, false)
		want := retiredMV(t, mergedMV(x, old), rs...)
		rx, ry := retiredMV(t, x, rs...), retiredMV(t, old, rs...)
		requireSameMV(t, mergedMV(ry, rx), want, "old ⊔ new")
		requireSameMV(t, mergedMV(rx, ry), want, "new ⊔ old")
		got := ry.Clone()
		got.Merge(rx.DeltaSince(ry.Version()))
		requireSameMV(t, got, want, "old ⊔ delta of new")
	})
}

// TestMVRetireAboveFinal retires a!1 up to a Final below some of its
// writes, on two registers holding different numbers of them: those
// writes stay under a!1 (no value goes), and the registers converge.
func TestMVRetireAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newMVWorld()
		w.steps(t, "steps", 30)
		x := w.rs[rapid.IntRange(0, 2).Draw(t, "x")]
		y := w.rs[rapid.IntRange(0, 2).Draw(t, "y")]
		final := rapid.Uint64Range(1, max(1, w.lastSeq(wA1))).Draw(t, "final")
		r := vclock.Retirement{From: wA1, To: retiredA, Final: final}
		rx, ry := retiredMV(t, x, r), retiredMV(t, y, r)
		for _, c := range []struct{ before, after *MV[string] }{{x, rx}, {y, ry}} {
			for _, d := range c.before.dots() {
				if d.Replica == wA1 && d.Seq > final && !slices.Contains(c.after.dots(), d) {
					t.Fatalf("%v, above Final %d, lost: %v", d, final, c.after.dots())
				}
			}
		}
		want := retiredMV(t, mergedMV(x, y), r)
		requireSameMV(t, mergedMV(rx, ry), want, "Retire(x) ⊔ Retire(y)")
		requireSameMV(t, mergedMV(ry, rx), want, "Retire(y) ⊔ Retire(x)")
	})
}

// TestMVRetireRefused: a retirement that does not check, of the
// register's own writer, or whose dots land on dots already seen, is
// refused with ErrRetirement, and the register's encoding is unchanged.
func TestMVRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newMVWorld()
		w.steps(t, "steps", 30)
		i := rapid.IntRange(0, 2).Draw(t, "i")
		rs := w.retirements(t, false)
		m := w.rs[i]
		if i != 0 {
			if err := m.Retire(rs[0]); err != nil {
				t.Fatal(err)
			}
		}
		bad := []vclock.Retirement{
			{From: retiredA, To: retiredA, Final: 1},
			{From: wA2, To: vclock.Retired("b"), Final: 1},
			{From: wA2, To: retiredA, Final: 1, Heir: wB1},
			{From: wA2, To: retiredA, Base: vclock.MaxSeq, Final: 1},
			{From: m.id, To: vclock.Retired(m.id.Name()), Final: 1}, // its own writer
		}
		ctx := m.k.Context()
		if f1 := rs[0].Final; ctx.Contains(vclock.Dot{Replica: retiredA, Seq: f1}) && ctx.Contains(vclock.Dot{Replica: wA2, Seq: 1}) {
			bad = append(bad, vclock.Retirement{From: wA2, To: retiredA, Base: f1 - 1, Final: rs[1].Final})
		}
		for _, r := range bad {
			before := mustMarshal(t, m)
			fp := m.Fingerprint()
			if err := m.Retire(r); !errors.Is(err, vclock.ErrRetirement) {
				t.Fatalf("Retire(%+v) = %v, want ErrRetirement", r, err)
			}
			if !bytes.Equal(mustMarshal(t, m), before) || m.Fingerprint() != fp {
				t.Fatalf("Retire(%+v) refused but changed the register", r)
			}
		}
	})
}

// TestMVRetireKeepsWorking retires a!1 and a!2 on every register, which
// go on writing as a!3 and a!4, with b!1; after every register has merged
// every other's state, they agree, and a write that saw everything
// replaces every value.
func TestMVRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newMVWorld()
		w.steps(t, "before", 20)
		w.ops = nil // the engine settles a writer's ops before retiring it
		w.rs[0].SetWriter(vclock.Writer("a", 3))
		w.rs[1].SetWriter(vclock.Writer("a", 4))
		for _, r := range w.retirements(t, rapid.Bool().Draw(t, "below")) {
			for _, m := range w.rs {
				if err := m.Retire(r); err != nil {
					t.Fatalf("Retire(%+v): %v", r, err)
				}
			}
		}
		w.steps(t, "after", 30)
		for range 2 {
			for _, a := range w.rs {
				for _, b := range w.rs {
					a.Merge(b)
				}
			}
		}
		for _, m := range w.rs {
			requireSameMV(t, m, w.rs[0], "after the exchange")
		}
		i := rapid.IntRange(0, 2).Draw(t, "writer")
		op := w.rs[i].Set("last")
		for _, m := range w.rs {
			applyMV(t, op, m)
			if got := m.Values(); !slices.Equal(got, []string{"last"}) {
				t.Fatalf("after a write that saw everything: %q", got)
			}
		}
	})
}
