package ormap

import (
	"math"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestChainLeafOfMinInt64Replaced: a counter chain whose total is
// math.MinInt64, continued by a later increment, leaves the key's index
// node with the sum of its leaves. The node's sum took the replaced
// leaf's total out by adding its negation, which for math.MinInt64 is
// itself: the sum was 2^64 off, and the key read math.MinInt64 (and
// refused decrements as overflowing) at the replicas that applied the
// ops, while one that merged the same state read the right value. Both
// ways a chain is continued: by a peer's op applied here, and here, at a
// key of a nested map.
func TestChainLeafOfMinInt64Replaced(t *testing.T) {
	t.Run("applied", func(t *testing.T) {
		b := New[string, *Counter](vclock.Writer("b", 1))
		a := New[string, *Counter](vclock.Writer("a", 1))
		if err := a.At("k").Add(1).Err(); err != nil { // a second dot at the key
			t.Fatal(err)
		}
		for _, n := range []int64{math.MinInt64, 5} {
			op, err := b.At("k").Add(n).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.ApplyBinaryFrom(op, vclock.Writer("b", 1)); err != nil {
				t.Fatal(err)
			}
		}
		fresh := New[string, *Counter](vclock.Writer("c", 1))
		st, err := a.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fresh.MergeBinary(st); err != nil {
			t.Fatal(err)
		}
		want := int64(math.MinInt64 + 6)
		for name, m := range map[string]*Map[string, *Counter]{"the writer": b, "a replica that applied its ops": a, "a replica that merged the state": fresh} {
			if m == b {
				want = math.MinInt64 + 5 // b has not seen a's increment
			} else {
				want = math.MinInt64 + 6
			}
			if v := m.At("k").Value(); v != want {
				t.Errorf("%s reads %d, want %d", name, v, want)
			}
		}
		if err := a.At("k").Add(-1).Err(); err != nil {
			t.Errorf("a decrement of %d refused: %v", want, err)
		}
	})
	t.Run("nested", func(t *testing.T) {
		m := New[string, *Map[string, *Counter]](vclock.Writer("a", 1))
		z := New[string, *Map[string, *Counter]](vclock.Writer("z", 1))
		op, err := z.At("x").At("k").Add(1).MarshalBinary() // a second dot at the key
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.ApplyBinaryFrom(op, vclock.Writer("z", 1)); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int64{math.MinInt64, 5} {
			if err := m.At("x").At("k").Add(n).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if v, want := m.At("x").At("k").Value(), int64(math.MinInt64+6); v != want {
			t.Errorf("x.k reads %d, want %d", v, want)
		}
	})
}
