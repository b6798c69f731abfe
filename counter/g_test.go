package counter

import (
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt"
)

func TestGIncAndValue(t *testing.T) {
	g := NewG("us")
	for i, n := range []uint64{1, 2, 3, 10} {
		op, err := g.Inc(n)
		if err != nil {
			t.Fatalf("Inc #%d: %v", i, err)
		}
		gInvariant(t, g)
		if op.Replica != "us" {
			t.Fatalf("op replica %q", op.Replica)
		}
	}
	if g.Value() != 16 {
		t.Fatalf("Value() = %d, want 1+2+3+10 = 16", g.Value())
	}
	op, _ := g.Inc(4)
	if op != (GOp{Replica: "us", Count: 20}) {
		t.Fatalf("op = %+v, want the absolute total 20", op)
	}
}

func TestGIncZero(t *testing.T) {
	g := NewG("us")
	op, err := g.Inc(0)
	if err != nil || op != (GOp{Replica: "us"}) {
		t.Fatalf("Inc(0) on a fresh counter = %+v, %v; want {us 0}, nil", op, err)
	}
	if len(g.e) != 0 || g.Value() != 0 {
		t.Fatalf("Inc(0) changed the state: %+v", g.e)
	}
	g.Inc(7)
	before := g.Clone()
	op, err = g.Inc(0)
	if err != nil || op != (GOp{Replica: "us", Count: 7}) {
		t.Fatalf("Inc(0) = %+v, %v; want {us 7}, nil", op, err)
	}
	sameG(t, g, before)
	// The op of Inc(0) is harmless anywhere.
	other := NewG("eu")
	other.Inc(3)
	want := other.Clone()
	if err := other.Apply(GOp{Replica: "us"}); err != nil {
		t.Fatal(err)
	}
	sameG(t, other, want)
}

func TestGZeroValue(t *testing.T) {
	var g G
	if g.Value() != 0 {
		t.Fatal("zero G is not 0")
	}
	if _, err := g.Inc(1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("Inc on zero G: %v, want ErrNoReplica", err)
	}
	if _, err := NewG("").Inc(1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("Inc on NewG(\"\"): %v, want ErrNoReplica", err)
	}
	if err := g.Apply(GOp{Replica: "a", Count: 3}); err != nil {
		t.Fatal(err)
	}
	h := NewG("b")
	h.Inc(4)
	g.Merge(h)
	if g.Value() != 7 {
		t.Fatalf("zero G after apply and merge = %d, want 7", g.Value())
	}
	var z G
	if !z.Equal(nil) || !z.Equal(&G{}) || z.Version().Len() != 0 || z.DeltaSince(g.Version()).Value() != 0 {
		t.Fatal("zero G is not an empty counter")
	}
	data, err := z.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := z.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
}

func TestGOverflow(t *testing.T) {
	g := NewG("a")
	if _, err := g.Inc(math.MaxUint64 - 1); err != nil {
		t.Fatal(err)
	}
	before := g.Clone()
	if _, err := g.Inc(2); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Inc past MaxUint64: %v, want ErrOverflow", err)
	}
	sameG(t, g, before)
	if _, err := g.Inc(1); err != nil {
		t.Fatalf("Inc up to exactly MaxUint64: %v", err)
	}
	if g.Value() != math.MaxUint64 {
		t.Fatalf("Value() = %d", g.Value())
	}
	if _, err := g.Inc(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Inc at MaxUint64: %v, want ErrOverflow", err)
	}

	// Other replicas' totals do not count: only the replica's own total
	// bounds its increments, and the value saturates.
	h := NewG("b")
	h.Apply(GOp{Replica: "a", Count: math.MaxUint64 - 10})
	h.Inc(5)
	if _, err := h.Inc(6); err != nil {
		t.Fatalf("Inc past MaxUint64 with others' totals: %v, want it accepted", err)
	}
	if h.Value() != math.MaxUint64 || h.Version().Get("b") != 11 {
		t.Fatalf("Value() = %d, own total %d; want saturated, 11", h.Value(), h.Version().Get("b"))
	}
	gInvariant(t, h)
}

func TestGSaturates(t *testing.T) {
	// Each replica stayed in range; together they exceed it.
	a, b := NewG("a"), NewG("b")
	a.Inc(math.MaxUint64 - 1)
	b.Inc(5)
	a.Merge(b)
	gInvariant(t, a)
	if a.Value() != math.MaxUint64 {
		t.Fatalf("Value() = %d, want it saturated at MaxUint64", a.Value())
	}
	// The exact totals are kept.
	if v := a.Version(); v.Get("a") != math.MaxUint64-1 || v.Get("b") != 5 {
		t.Fatalf("version %v lost the exact totals", v)
	}
	if _, err := a.Inc(1); err != nil {
		t.Fatalf("Inc on a saturated G whose own total has room: %v", err)
	}
	if _, err := a.Inc(1); !errors.Is(err, ErrOverflow) {
		t.Fatalf("Inc past a's own MaxUint64: %v, want ErrOverflow", err)
	}
	if _, err := b.Inc(1); err != nil {
		t.Fatalf("b has not seen a's total and may still count: %v", err)
	}
	// Apply and MergeBinary saturate too.
	c := &G{}
	c.Apply(GOp{Replica: "x", Count: math.MaxUint64})
	c.Apply(GOp{Replica: "y", Count: math.MaxUint64})
	gInvariant(t, c)
	if c.Value() != math.MaxUint64 {
		t.Fatalf("Value() = %d", c.Value())
	}
}

func TestGApply(t *testing.T) {
	g := NewG("us")
	g.Inc(2)
	for _, op := range []GOp{{"eu", 5}, {"ap", 1}, {"eu", 3}, {"eu", 5}, {"us", 1}, {"zz", 4}} {
		if err := g.Apply(op); err != nil {
			t.Fatal(err)
		}
		gInvariant(t, g)
	}
	// us 2 (its op of 1 is older), eu 5 (3 is older), ap 1, zz 4.
	if g.Value() != 12 {
		t.Fatalf("Value() = %d, want 2+5+1+4 = 12", g.Value())
	}
	// g still counts in its own entry after entries were inserted before it.
	op, _ := g.Inc(1)
	if op.Count != 3 || g.Value() != 13 {
		t.Fatalf("Inc after Apply: op %+v, value %d", op, g.Value())
	}
	before := g.Clone()
	if err := g.Apply(GOp{Count: 9}); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("Apply of an op without replica: %v, want ErrInvalidOp", err)
	}
	sameG(t, g, before)
}

func TestGMergeIntoSelfAndNil(t *testing.T) {
	g := NewG("a")
	g.Inc(3)
	g.Apply(GOp{Replica: "b", Count: 4})
	want := g.Clone()
	g.Merge(g)
	g.Merge(nil)
	sameG(t, g, want)
	if g.Equal(nil) {
		t.Fatal("a non-empty G equals nil")
	}
}

func TestGMergeKeepsOwnReplica(t *testing.T) {
	a, b := NewG("m"), NewG("z")
	a.Inc(1)
	b.Inc(1)
	b.Apply(GOp{Replica: "a", Count: 1})
	b.Apply(GOp{Replica: "b", Count: 1})
	a.Merge(b) // inserts entries before and after a's own
	gInvariant(t, a)
	op, err := a.Inc(1)
	if err != nil || op != (GOp{Replica: "m", Count: 2}) {
		t.Fatalf("Inc after merge: %+v, %v", op, err)
	}
	if a.Value() != 5 {
		t.Fatalf("Value() = %d, want 5", a.Value())
	}
}

func TestGCloneIsIndependent(t *testing.T) {
	g := NewG("a")
	g.Inc(1)
	c := g.Clone()
	c.Inc(5)
	c.Apply(GOp{Replica: "b", Count: 2})
	if g.Value() != 1 || len(g.e) != 1 {
		t.Fatalf("changing the clone changed the original: %+v", g.e)
	}
}

func TestGDeltaSinceIsMinimal(t *testing.T) {
	a := &G{}
	for _, op := range []GOp{{"a", 5}, {"b", 2}, {"c", 9}} {
		a.Apply(op)
	}
	b := &G{}
	for _, op := range []GOp{{"a", 5}, {"b", 3}, {"d", 1}} {
		b.Apply(op)
	}
	d := a.DeltaSince(b.Version())
	// b has seen a:5 and more of b; it lacks only c.
	want := &G{}
	want.Apply(GOp{"c", 9})
	if !d.Equal(want) || d.Value() != 9 {
		t.Fatalf("delta %+v, want only c:9", d.e)
	}
	if _, err := d.Inc(1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("a delta counted: %v", err)
	}
	if got := a.DeltaSince(a.Version()); len(got.e) != 0 {
		t.Fatalf("delta against own version %+v, want empty", got.e)
	}
}

func TestGManyReplicas(t *testing.T) {
	// Past 8 entries the lookups switch to binary search.
	g := NewG("r10")
	var want uint64
	for i := range 40 {
		id := crdt.ReplicaID("r" + string(rune('0'+i/10)) + string(rune('0'+i%10)))
		g.Apply(GOp{Replica: id, Count: uint64(i + 1)})
		want += uint64(i + 1)
	}
	gInvariant(t, g)
	op, _ := g.Inc(100)
	if op.Count != 11+100 || g.Value() != want+100 {
		t.Fatalf("op %+v, value %d; want count 111, value %d", op, g.Value(), want+100)
	}
	for i := 39; i >= 0; i-- {
		if err := g.Apply(GOp{Replica: crdt.ReplicaID("r" + string(rune('0'+i/10)) + string(rune('0'+i%10))), Count: 1000}); err != nil {
			t.Fatal(err)
		}
	}
	gInvariant(t, g)
	if g.Value() != 40*1000 {
		t.Fatalf("Value() = %d, want 40000", g.Value())
	}
}
