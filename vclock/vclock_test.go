package vclock_test

import (
	"maps"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// The reference model of a version vector: a plain map, zero counts left
// out.
type vv map[crdt.ReplicaID]uint64

// ids is the pool replicas are drawn from; more than eight, so that both
// the linear and the binary search paths are taken.
var ids = []crdt.ReplicaID{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}

func genID(wide bool) *rapid.Generator[crdt.ReplicaID] {
	if wide {
		return rapid.SampledFrom(ids)
	}
	return rapid.SampledFrom(ids[:4])
}

// genVV draws a model vector over a few replicas (often the same ones, so
// that comparisons are interesting) with small counts.
func genVV() *rapid.Generator[vv] {
	return rapid.Custom(func(t *rapid.T) vv {
		wide := rapid.IntRange(0, 4).Draw(t, "wide") == 0
		m := vv{}
		for range rapid.IntRange(0, 6).Draw(t, "n") {
			m[genID(wide).Draw(t, "id")] = rapid.Uint64Range(0, 6).Draw(t, "count")
		}
		for id, n := range m {
			if n == 0 {
				delete(m, id)
			}
		}
		return m
	})
}

func build(m vv) vclock.Clock {
	var c vclock.Clock
	// Insert in a fixed but unsorted order to exercise Set's insertion.
	for _, id := range slices.Backward(slices.Sorted(maps.Keys(m))) {
		c.Set(id, m[id])
	}
	return c
}

func toVV(c vclock.Clock) vv {
	m := vv{}
	for id, n := range c.All() {
		if n == 0 {
			panic("All yields a zero count")
		}
		m[id] = n
	}
	return m
}

// naiveOrder compares two model vectors pointwise.
func naiveOrder(a, b vv) vclock.Order {
	less, more := false, false
	for _, id := range ids {
		switch {
		case a[id] < b[id]:
			less = true
		case a[id] > b[id]:
			more = true
		}
	}
	switch {
	case less && more:
		return vclock.Concurrent
	case less:
		return vclock.Before
	case more:
		return vclock.After
	}
	return vclock.Equal
}

func pointwise(a, b vv, f func(x, y uint64) uint64) vv {
	out := vv{}
	for _, id := range ids {
		if n := f(a[id], b[id]); n != 0 {
			out[id] = n
		}
	}
	return out
}

func merged(a, b vclock.Clock) vclock.Clock {
	c := a.Clone()
	c.Merge(b)
	return c
}

func TestClockMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genVV().Draw(t, "m")
		c := build(m)
		if got := toVV(c); !maps.Equal(got, m) {
			t.Fatalf("built %v from %v", c, m)
		}
		if c.Len() != len(m) || c.IsZero() != (len(m) == 0) {
			t.Fatalf("Len=%d IsZero=%v for %v", c.Len(), c.IsZero(), m)
		}
		if !c.Equal(vclock.Of(m)) {
			t.Fatalf("Of(%v) = %v, built %v", m, vclock.Of(m), c)
		}
		prev := crdt.ReplicaID("")
		for id := range c.All() {
			if id <= prev {
				t.Fatalf("All not in increasing order: %q after %q", id, prev)
			}
			prev = id
		}
		for _, id := range ids {
			if c.Get(id) != m[id] {
				t.Fatalf("Get(%q)=%d, model %d", id, c.Get(id), m[id])
			}
			for seq := range uint64(8) {
				want := seq != 0 && seq <= m[id]
				if got := c.Contains(vclock.Dot{Replica: id, Seq: seq}); got != want {
					t.Fatalf("Contains(%s:%d)=%v in %v", id, seq, got, c)
				}
			}
		}
		// A random sequence of Set and Advance against the model.
		for range rapid.IntRange(0, 10).Draw(t, "ops") {
			id := genID(true).Draw(t, "id")
			n := rapid.Uint64Range(0, 8).Draw(t, "n")
			if rapid.Bool().Draw(t, "advance") {
				c.Advance(id, n)
				m[id] = max(m[id], n)
			} else {
				c.Set(id, n)
				m[id] = n
			}
			if m[id] == 0 {
				delete(m, id)
			}
			if got := toVV(c); !maps.Equal(got, m) {
				t.Fatalf("after op on %q: %v, model %v", id, c, m)
			}
		}
	})
}

func TestClockCompareIsPartialOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ma, mb := genVV().Draw(t, "a"), genVV().Draw(t, "b")
		a, b := build(ma), build(mb)
		want := naiveOrder(ma, mb)
		if got := a.Compare(b); got != want {
			t.Fatalf("%v.Compare(%v) = %v, naive %v", a, b, got, want)
		}
		dual := map[vclock.Order]vclock.Order{
			vclock.Equal: vclock.Equal, vclock.Before: vclock.After,
			vclock.After: vclock.Before, vclock.Concurrent: vclock.Concurrent,
		}
		if got := b.Compare(a); got != dual[want] {
			t.Fatalf("%v.Compare(%v) = %v, want %v", b, a, got, dual[want])
		}
		if a.Compare(a) != vclock.Equal {
			t.Fatalf("%v not Equal to itself", a)
		}
		if a.Equal(b) != (want == vclock.Equal) {
			t.Fatalf("Equal=%v but Compare=%v", a.Equal(b), want)
		}
		if a.LessOrEqual(b) != (want == vclock.Equal || want == vclock.Before) {
			t.Fatalf("LessOrEqual=%v but Compare=%v", a.LessOrEqual(b), want)
		}
		// Consistent with Merge: a ≤ b exactly when a ⊔ b = b.
		if a.LessOrEqual(b) != merged(a, b).Equal(b) {
			t.Fatalf("a=%v b=%v: LessOrEqual=%v, a⊔b=%v", a, b, a.LessOrEqual(b), merged(a, b))
		}
		// Transitivity: c is drawn above b half of the time.
		c := build(genVV().Draw(t, "c"))
		if rapid.Bool().Draw(t, "cAboveB") {
			c.Merge(b)
		}
		if a.LessOrEqual(b) && b.LessOrEqual(c) && !a.LessOrEqual(c) {
			t.Fatalf("a=%v ≤ b=%v ≤ c=%v but not a ≤ c", a, b, c)
		}
	})
}

func TestClockMergeIsJoin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ma, mb, mc := genVV().Draw(t, "a"), genVV().Draw(t, "b"), genVV().Draw(t, "c")
		a, b, c := build(ma), build(mb), build(mc)
		ab := merged(a, b)
		if got, want := toVV(ab), pointwise(ma, mb, func(x, y uint64) uint64 { return max(x, y) }); !maps.Equal(got, want) {
			t.Fatalf("%v ⊔ %v = %v, pointwise max %v", a, b, ab, want)
		}
		if !ab.Equal(merged(b, a)) {
			t.Fatalf("not commutative: %v vs %v", ab, merged(b, a))
		}
		if l, r := merged(ab, c), merged(a, merged(b, c)); !l.Equal(r) {
			t.Fatalf("not associative: %v vs %v", l, r)
		}
		if !merged(a, a).Equal(a) {
			t.Fatalf("not idempotent: %v ⊔ itself = %v", a, merged(a, a))
		}
		if !a.LessOrEqual(ab) || !b.LessOrEqual(ab) {
			t.Fatalf("%v ⊔ %v = %v is not an upper bound", a, b, ab)
		}
		// Merge must not touch its argument.
		if !maps.Equal(toVV(b), mb) {
			t.Fatalf("Merge changed its argument: %v, was %v", b, mb)
		}
	})
}

func TestClockMeetIsPointwiseMin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ma, mb := genVV().Draw(t, "a"), genVV().Draw(t, "b")
		a, b := build(ma), build(mb)
		m := a.Clone()
		m.Meet(b)
		if got, want := toVV(m), pointwise(ma, mb, func(x, y uint64) uint64 { return min(x, y) }); !maps.Equal(got, want) {
			t.Fatalf("%v ⊓ %v = %v, pointwise min %v", a, b, m, want)
		}
		if !m.LessOrEqual(a) || !m.LessOrEqual(b) {
			t.Fatalf("%v ⊓ %v = %v is not a lower bound", a, b, m)
		}
		if !maps.Equal(toVV(a), ma) || !maps.Equal(toVV(b), mb) {
			t.Fatal("Meet changed a clone's source or its argument")
		}
	})
}

func TestClockCloneIsIndependent(t *testing.T) {
	a := vclock.Of(map[crdt.ReplicaID]uint64{"a": 1, "b": 2})
	b := a.Clone()
	b.Set("a", 9)
	b.Merge(vclock.Of(map[crdt.ReplicaID]uint64{"c": 1}))
	if a.Get("a") != 1 || a.Get("c") != 0 {
		t.Fatalf("changing a clone changed the original: %v", a)
	}
}

func TestOrderAndDotStrings(t *testing.T) {
	for o, s := range map[vclock.Order]string{
		vclock.Equal: "Equal", vclock.Before: "Before", vclock.After: "After",
		vclock.Concurrent: "Concurrent", vclock.Order(9): "Order(9)",
	} {
		if o.String() != s {
			t.Errorf("%d.String() = %q, want %q", int8(o), o.String(), s)
		}
	}
	d := vclock.Dot{Replica: "us-east-1", Seq: 7}
	if d.String() != "us-east-1:7" || !d.Valid() || d.IsZero() {
		t.Errorf("Dot %v: String/Valid/IsZero wrong", d)
	}
	if (vclock.Dot{Replica: "x"}).Valid() || (vclock.Dot{Seq: 1}).Valid() || !(vclock.Dot{}).IsZero() {
		t.Error("an incomplete dot is Valid or the zero Dot is not IsZero")
	}
	if d.Compare(vclock.Dot{Replica: "us-east-1", Seq: 8}) >= 0 || d.Compare(vclock.Dot{Replica: "a", Seq: 99}) <= 0 || d.Compare(d) != 0 {
		t.Error("Dot.Compare does not order by replica, then sequence")
	}
	c := vclock.Of(map[crdt.ReplicaID]uint64{"b": 1, "a": 3, "z": 0})
	if c.String() != "{a:3 b:1}" {
		t.Errorf("String() = %q", c.String())
	}
}

func TestClockEdges(t *testing.T) {
	var c vclock.Clock
	c.Advance("a", math.MaxUint64)
	c.Advance("a", 5) // lower: no change
	c.Advance("b", 0) // zero: no entry
	if c.Get("a") != math.MaxUint64 || c.Len() != 1 {
		t.Fatalf("Advance: %v", c)
	}
	c.Set("a", 0)
	if !c.IsZero() {
		t.Fatalf("Set to zero left %v", c)
	}
	if c.Contains(vclock.Dot{Replica: "a"}) {
		t.Fatal("a zero dot is contained")
	}
}
