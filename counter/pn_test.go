package counter

import (
	"errors"
	"math"
	"testing"
)

func TestPNAddAndValue(t *testing.T) {
	c := NewPN("us")
	for _, d := range []int64{5, -3, 10, -20} {
		if _, err := c.Add(d); err != nil {
			t.Fatal(err)
		}
		pnInvariant(t, c)
	}
	if c.Value() != -8 {
		t.Fatalf("Value() = %d, want 5-3+10-20 = -8", c.Value())
	}
	op, _ := c.Add(-1)
	if op != (PNOp{Replica: "us", P: 15, N: 24}) {
		t.Fatalf("op = %+v, want absolute totals P 15, N 24", op)
	}
}

func TestPNAddZero(t *testing.T) {
	c := NewPN("us")
	op, err := c.Add(0)
	if err != nil || op != (PNOp{Replica: "us"}) {
		t.Fatalf("Add(0) on a fresh counter = %+v, %v", op, err)
	}
	if len(c.e) != 0 {
		t.Fatalf("Add(0) created an entry: %+v", c.e)
	}
	c.Add(4)
	c.Add(-1)
	before := c.Clone()
	op, err = c.Add(0)
	if err != nil || op != (PNOp{Replica: "us", P: 4, N: 1}) {
		t.Fatalf("Add(0) = %+v, %v", op, err)
	}
	samePN(t, c, before)
	other := NewPN("eu")
	want := other.Clone()
	if err := other.Apply(PNOp{Replica: "us"}); err != nil {
		t.Fatal(err)
	}
	samePN(t, other, want)
}

func TestPNZeroValue(t *testing.T) {
	var c PN
	if c.Value() != 0 {
		t.Fatal("zero PN is not 0")
	}
	if _, err := c.Add(1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("Add on zero PN: %v, want ErrNoReplica", err)
	}
	if _, err := NewPN("").Add(-1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("Add on NewPN(\"\"): %v, want ErrNoReplica", err)
	}
	if err := c.Apply(PNOp{Replica: "a", P: 3, N: 10}); err != nil {
		t.Fatal(err)
	}
	o := NewPN("b")
	o.Add(2)
	c.Merge(o)
	if c.Value() != -5 {
		t.Fatalf("zero PN after apply and merge = %d, want -5", c.Value())
	}
	var z PN
	if !z.Equal(nil) || !z.Equal(&PN{}) || z.Version().Len() != 0 || z.DeltaSince(c.Version()).Value() != 0 {
		t.Fatal("zero PN is not an empty counter")
	}
}

func TestPNValueBounds(t *testing.T) {
	c := NewPN("a")
	if _, err := c.Add(math.MaxInt64); err != nil {
		t.Fatal(err)
	}
	before := c.Clone()
	if _, err := c.Add(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Add past MaxInt64: %v, want ErrOverflow", err)
	}
	samePN(t, c, before)

	d := NewPN("a")
	if _, err := d.Add(math.MinInt64); err != nil {
		t.Fatalf("Add(MinInt64) from 0: %v", err)
	}
	if d.Value() != math.MinInt64 || d.e[0].n != 1<<63 {
		t.Fatalf("after Add(MinInt64): value %d, totals %+v", d.Value(), d.e)
	}
	before = d.Clone()
	if _, err := d.Add(-1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Add past MinInt64: %v, want ErrOverflow", err)
	}
	samePN(t, d, before)
	if _, err := d.Add(math.MaxInt64); err != nil || d.Value() != -1 {
		t.Fatalf("Add back into range: %v, value %d", err, d.Value())
	}
}

func TestPNOwnTotalsOverflow(t *testing.T) {
	// The value stays near 0, but the replica's totals only grow: its
	// increments may add up to MaxInt64 and its decrements to 2⁶³.
	c := NewPN("a")
	for _, d := range []int64{math.MaxInt64, -math.MaxInt64} {
		if _, err := c.Add(d); err != nil {
			t.Fatal(err)
		}
	}
	before := c.Clone()
	if _, err := c.Add(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Add with increments past MaxInt64: %v, want ErrOverflow", err)
	}
	samePN(t, c, before)
	if _, err := c.Add(-1); err != nil {
		t.Fatalf("Add with decrements reaching exactly 2⁶³: %v", err)
	}
	before = c.Clone()
	if _, err := c.Add(-1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Add with decrements past 2⁶³: %v, want ErrOverflow", err)
	}
	samePN(t, c, before)
	if c.Value() != -1 {
		t.Fatalf("Value() = %d, want -1", c.Value())
	}
	// The version, P+N, is exactly MaxUint64 and did not wrap.
	if v := c.Version().Get("a"); v != math.MaxUint64 {
		t.Fatalf("version %d, want MaxUint64", v)
	}
}

func TestPNSaturates(t *testing.T) {
	a, b := NewPN("a"), NewPN("b")
	a.Add(math.MaxInt64)
	b.Add(math.MaxInt64)
	a.Merge(b)
	pnInvariant(t, a)
	if a.Value() != math.MaxInt64 {
		t.Fatalf("Value() = %d, want saturated at MaxInt64", a.Value())
	}
	// Past the upper bound: a further increment is refused, a decrement
	// (towards the range) is accepted though the value stays at the bound.
	if _, err := a.Add(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Add(1) above the range: %v, want ErrOverflow", err)
	}
	if _, err := a.Add(-1); err != nil {
		t.Fatalf("Add(-1) above the range: %v", err)
	}
	if a.Value() != math.MaxInt64 {
		t.Fatalf("Value() = %d, want still saturated", a.Value())
	}
	// Exact totals are kept, so the value comes back into range:
	// increments 2(2⁶³−1) = 2⁶⁴−2, decrements 1 + 2⁶³ + (2⁶³−1) = 2⁶⁴.
	a.Apply(PNOp{Replica: "c", N: 1 << 63})
	a.Apply(PNOp{Replica: "d", N: 1<<63 - 1})
	pnInvariant(t, a)
	if a.Value() != -2 {
		t.Fatalf("Value() = %d, want -2", a.Value())
	}

	// Below the lower bound.
	l := NewPN("a")
	l.Apply(PNOp{Replica: "x", N: 1 << 63})
	l.Apply(PNOp{Replica: "y", N: 1 << 63})
	pnInvariant(t, l)
	if l.Value() != math.MinInt64 {
		t.Fatalf("Value() = %d, want saturated at MinInt64", l.Value())
	}
	// Other replicas' totals never make a change fail: the value stays
	// saturated, the change counts in the replica's own totals.
	if _, err := l.Add(-1); err != nil {
		t.Fatalf("Add(-1) below the range: %v, want it accepted", err)
	}
	if l.Value() != math.MinInt64 {
		t.Fatalf("Value() = %d, want still saturated", l.Value())
	}
	if _, err := l.Add(math.MaxInt64); err != nil {
		t.Fatalf("Add towards the range: %v", err)
	}
	if l.Value() != math.MinInt64 {
		t.Fatalf("Value() = %d, want still saturated", l.Value())
	}
}

// Regression: pointwise maximum of two entries that no single history
// produces (a replica ID reused, say) once gave totals whose sum wrapped
// around uint64, and with it the replica's version.
func TestPNMergeOfIncomparableEntriesStaysInBounds(t *testing.T) {
	a, b := &PN{}, &PN{}
	a.Apply(PNOp{Replica: "r", P: maxP})
	b.Apply(PNOp{Replica: "r", N: maxN})
	a.Merge(b)
	pnInvariant(t, a)
	if v := a.Version().Get("r"); v != math.MaxUint64 {
		t.Fatalf("version %d, want MaxUint64", v)
	}
	data, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&PN{}).MergeBinary(data); err != nil {
		t.Fatalf("a merged state does not decode: %v", err)
	}
}

func TestPNApply(t *testing.T) {
	c := NewPN("us")
	c.Add(-2)
	for _, op := range []PNOp{{"eu", 5, 1}, {"ap", 0, 1}, {"eu", 3, 1}, {"eu", 5, 0}, {"us", 0, 1}, {"zz", 4, 0}} {
		if err := c.Apply(op); err != nil {
			t.Fatal(err)
		}
		pnInvariant(t, c)
	}
	// us −2, eu 5−1, ap −1, zz 4.
	if c.Value() != 5 {
		t.Fatalf("Value() = %d, want -2+4-1+4 = 5", c.Value())
	}
	op, _ := c.Add(3)
	if op != (PNOp{Replica: "us", P: 3, N: 2}) || c.Value() != 8 {
		t.Fatalf("Add after Apply: op %+v, value %d", op, c.Value())
	}
	before := c.Clone()
	for _, bad := range []PNOp{{P: 1}, {Replica: "x", P: 1 << 63}, {Replica: "x", N: 1<<63 + 1}, {Replica: "x", P: math.MaxUint64, N: math.MaxUint64}} {
		if err := c.Apply(bad); !errors.Is(err, ErrInvalidOp) {
			t.Fatalf("Apply(%+v): %v, want ErrInvalidOp", bad, err)
		}
		samePN(t, c, before)
	}
}

func TestPNMergeTakesEachTotalsMax(t *testing.T) {
	// Entries that no single history produces still merge to the
	// per-total maximum, so Merge stays a join for any input.
	a, b := &PN{}, &PN{}
	a.Apply(PNOp{"r", 5, 1})
	b.Apply(PNOp{"r", 2, 7})
	a.Merge(b)
	pnInvariant(t, a)
	if a.e[0] != (pnEntry{id: "r", p: 5, n: 7, h: idHash("r")}) {
		t.Fatalf("merged entry %+v, want P 5, N 7", a.e[0])
	}
	want := a.Clone()
	a.Merge(a)
	a.Merge(nil)
	samePN(t, a, want)
}

func TestPNEqualLooksAtTotals(t *testing.T) {
	a, b := &PN{}, &PN{}
	a.Apply(PNOp{"r", 1, 1})
	b.Apply(PNOp{"r", 2, 2})
	if a.Value() != b.Value() || a.Equal(b) {
		t.Fatal("counters with equal values but different totals compare Equal")
	}
}

func TestPNCloneIsIndependent(t *testing.T) {
	c := NewPN("a")
	c.Add(1)
	d := c.Clone()
	d.Add(-5)
	d.Apply(PNOp{Replica: "b", P: 2})
	if c.Value() != 1 || len(c.e) != 1 {
		t.Fatalf("changing the clone changed the original: %+v", c.e)
	}
}

func TestPNDeltaSince(t *testing.T) {
	a, b := &PN{}, &PN{}
	for _, op := range []PNOp{{"a", 5, 0}, {"b", 2, 2}, {"c", 0, 9}} {
		a.Apply(op)
	}
	for _, op := range []PNOp{{"a", 5, 0}, {"b", 2, 1}, {"d", 1, 0}} {
		b.Apply(op)
	}
	if v := b.Version(); v.Get("a") != 5 || v.Get("b") != 3 || v.Get("c") != 0 || v.Get("d") != 1 {
		t.Fatalf("version %v, want P+N per replica", v)
	}
	d := a.DeltaSince(b.Version())
	want := &PN{}
	want.Apply(PNOp{"b", 2, 2})
	want.Apply(PNOp{"c", 0, 9})
	if !d.Equal(want) || d.Value() != -9 {
		t.Fatalf("delta %+v, want b and c only", d.e)
	}
	full := b.Clone()
	full.Merge(a)
	b.Merge(d)
	samePN(t, b, full)
}
