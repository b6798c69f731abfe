package ormap

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// sameOp fails t unless a and b are the same op: the same encoding, or
// the same error.
func sameOp(t *rapid.T, what string, a, b Op) {
	t.Helper()
	if (a.Err() == nil) != (b.Err() == nil) || (a.Err() != nil && a.Err().Error() != b.Err().Error()) {
		t.Fatalf("%s: errors %v and %v differ", what, a.Err(), b.Err())
	}
	if a.IsNoop() != b.IsNoop() {
		t.Fatalf("%s: one op is a no-op, the other not", what)
	}
	ab, aerr := a.MarshalBinary()
	bb, berr := b.MarshalBinary()
	if (aerr == nil) != (berr == nil) || string(ab) != string(bb) {
		t.Fatalf("%s: ops %v (%v) and %v (%v) encode differently", what, a, aerr, b, berr)
	}
}

// sameState fails t unless the top-level maps a and b encode alike and
// have one fingerprint.
func sameState[K comparable, V Value[V]](t *rapid.T, what string, a, b *Map[K, V]) {
	t.Helper()
	ab, aerr := a.MarshalBinary()
	bb, berr := b.MarshalBinary()
	if aerr != nil || berr != nil || string(ab) != string(bb) {
		t.Fatalf("%s: the states encode differently (%v, %v)", what, aerr, berr)
	}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("%s: the fingerprints differ", what)
	}
}

// drawAmount draws an increment: mostly small, of either sign or 0, and
// now and then one at the edge of an int64, to reach the overflow checks
// of both the value and the writer's running total.
func drawAmount(t *rapid.T) int64 {
	switch rapid.IntRange(0, 9).Draw(t, "kind") {
	case 0:
		return rapid.SampledFrom([]int64{math.MaxInt64, math.MinInt64, math.MaxInt64 - 1, math.MinInt64 + 1}).Draw(t, "edge")
	case 1:
		return 0
	default:
		return rapid.Int64Range(-3, 3).Draw(t, "n")
	}
}

// TestAddMatchesAtAdd: Add(m, k, n), which makes no view, does what
// m.At(k).Add(n) does on a twin map of the same replica: after each step
// of a random run (increments of new and present keys by small, zero and
// edge amounts, deletes, merges with another replica's increments,
// expiries and the clock passing them, keys too long for the stack
// buffer), the two return the same op, byte for byte or the same error,
// and the two maps encode alike and have one fingerprint.
func TestAddMatchesAtAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		now := newManual()
		fast := clocked[string, *Counter]("a", now.clockAt(0))
		slow := clocked[string, *Counter]("a", now.clockAt(0))
		other := New[string, *Counter]("b")
		long := strings.Repeat("k", 70)
		nkeys := rapid.IntRange(1, 40).Draw(t, "keys")
		keyOf := func(i int) string {
			if i%13 == 12 {
				return fmt.Sprint(long, i)
			}
			return fmt.Sprint("k", i)
		}
		for step := range rapid.IntRange(0, 200).Draw(t, "steps") {
			k := keyOf(rapid.IntRange(0, nkeys-1).Draw(t, "key"))
			what := ""
			switch rapid.IntRange(0, 11).Draw(t, "what") {
			case 0:
				what = "delete " + k
				sameOp(t, what, fast.Delete(k), slow.Delete(k))
			case 1:
				what = "merge"
				other.At(k).Add(drawAmount(t))
				fast.Merge(other)
				slow.Merge(other)
			case 2:
				what = "apply"
				op := other.At(k).Add(drawAmount(t))
				if op.Err() != nil {
					break
				}
				if err := fast.Apply(op); err != nil {
					t.Fatal(err)
				}
				if err := slow.Apply(op); err != nil {
					t.Fatal(err)
				}
			case 3:
				what = "expire " + k
				ttl := time.Duration(rapid.IntRange(1, 3).Draw(t, "ttl")) * time.Second
				sameOp(t, what, fast.Expire(k, ttl), slow.Expire(k, ttl))
			case 4:
				what = "time"
				now.advance(time.Second)
			default:
				n := drawAmount(t)
				what = fmt.Sprintf("add %d to %s", n, k)
				sameOp(t, what, Add(fast, k, n), slow.At(k).Add(n))
			}
			sameState(t, fmt.Sprintf("step %d, %s", step, what), fast, slow)
		}
		for i := range nkeys {
			if got, want := fast.At(keyOf(i)).Value(), slow.At(keyOf(i)).Value(); got != want {
				t.Fatalf("%s reads %d, want %d", keyOf(i), got, want)
			}
		}
		if want := dumpIndex(&slow.s.ix); dumpIndex(&fast.s.ix) != want {
			t.Fatalf("the index differs:\n%s\nwant\n%s", dumpIndex(&fast.s.ix), want)
		}
	})
}

// TestAddNestedMatchesAtAdd: Add on a nested map of counters (a view got
// from At) does what At(k).Add does there, through deletes of keys at
// both levels and merges with another replica.
func TestAddNestedMatchesAtAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		type carts = Map[string, *Map[int, *Counter]]
		fast := New[string, *Map[int, *Counter]]("a")
		slow := New[string, *Map[int, *Counter]]("a")
		other := New[string, *Map[int, *Counter]]("b")
		for step := range rapid.IntRange(0, 100).Draw(t, "steps") {
			u := fmt.Sprint("u", rapid.IntRange(0, 3).Draw(t, "user"))
			k := rapid.IntRange(0, 5).Draw(t, "item")
			what := ""
			switch rapid.IntRange(0, 7).Draw(t, "what") {
			case 0:
				what = "delete " + u
				sameOp(t, what, fast.Delete(u), slow.Delete(u))
			case 1:
				what = fmt.Sprint("delete ", u, "/", k)
				sameOp(t, what, fast.At(u).Delete(k), slow.At(u).Delete(k))
			case 2:
				what = "merge"
				Add(other.At(u), k, drawAmount(t))
				for _, m := range []*carts{fast, slow} {
					m.Merge(other)
				}
			default:
				n := drawAmount(t)
				what = fmt.Sprintf("add %d to %s/%d", n, u, k)
				sameOp(t, what, Add(fast.At(u), k, n), slow.At(u).At(k).Add(n))
			}
			sameState(t, fmt.Sprintf("step %d, %s", step, what), fast, slow)
		}
	})
}

// badKey is a key type with values the codec cannot encode: a key that
// holds a channel.
type badKey struct{ C chan int }

// TestAddErrorsAndPanics: Add returns the error At(k).Add returns for a
// key that cannot be encoded, at the top level and in a nested map, also
// for an increment of 0, and panics, as it does, on a map made without
// New.
func TestAddErrorsAndPanics(t *testing.T) {
	bad := badKey{C: make(chan int)}
	top := New[badKey, *Counter]("a")
	if _, err := encSeg(bad); err == nil {
		t.Skip("the codec encodes a channel: no key to test with")
	}
	nest := New[badKey, *Map[string, *Counter]]("a")
	for _, n := range []int64{0, 1} {
		for name, pair := range map[string][2]Op{
			"top":          {Add(top, bad, n), top.At(bad).Add(n)},
			"nested":       {Add(nest.At(bad), "x", n), nest.At(bad).At("x").Add(n)},
			"nested, good": {Add(New[string, *Map[badKey, *Counter]]("a").At("x"), bad, n), New[string, *Map[badKey, *Counter]]("a").At("x").At(bad).Add(n)},
		} {
			a, b := pair[0], pair[1]
			if a.Err() == nil || b.Err() == nil || a.Err().Error() != b.Err().Error() || !errors.Is(a.Err(), ErrInvalidOp) {
				t.Errorf("%s, %d: Add gives %v, At(k).Add %v", name, n, a.Err(), b.Err())
			}
		}
	}

	panicOf := func(f func()) (p any) {
		defer func() { p = recover() }()
		f()
		return nil
	}
	var z1, z2 Map[string, *Counter]
	a := panicOf(func() { Add(&z1, "k", 1) })
	b := panicOf(func() { z2.At("k").Add(1) })
	if a == nil || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("Add on a zero Map panics with %v, At(k).Add with %v", a, b)
	}
	if z1.s != nil || z1.Len() != 0 {
		t.Error("Add's panic left a state in the zero Map")
	}
	var z3 Map[string, *Counter]
	if p := panicOf(func() { Add(&z3, "k", 0) }); fmt.Sprint(p) != fmt.Sprint(b) {
		t.Errorf("Add of 0 on a zero Map panics with %v, want %v", p, b)
	}
}

// TestAddMakesNoView: Add of a key the map holds allocates nothing a
// view would: no more than the same increment through a view, less the
// view.
func TestAddMakesNoView(t *testing.T) {
	m := New[string, *Counter]("a")
	for i := range 20 {
		Add(m, fmt.Sprint("key-", i), 1)
	}
	viaAt := testing.AllocsPerRun(100, func() { m.At("key-7").Add(1) })
	viaAdd := testing.AllocsPerRun(100, func() { Add(m, "key-7", 1) })
	if viaAdd != viaAt-1 {
		t.Errorf("Add makes %v allocations, At(k).Add %v: want one fewer", viaAdd, viaAt)
	}
}
