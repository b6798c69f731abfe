package ormap

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestIncrementOfKeyOfManyWritersFindsOwnChain: a key incremented by n
// writers, then by this replica many times. Each increment looked for
// the writer's newest chain at the key through all the key's n dots (the
// node's dot index had each writer's count, not its dots): n per
// increment. It must cost a bounded amount each (one walk of the key's
// dots, the first time, is allowed). Both ways an increment takes: a
// top-level key, and a key of a nested map.
func TestIncrementOfKeyOfManyWritersFindsOwnChain(t *testing.T) {
	const n, incs = 2000, 300
	t.Run("top", func(t *testing.T) {
		m := New[string, *Counter](vclock.Writer("me", 1))
		for i := range n {
			w := vclock.Writer(vclock.ReplicaID(fmt.Sprintf("r%06d", i)), 1)
			b, err := New[string, *Counter](w).At("k").Add(1).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.ApplyBinaryFrom(b, w); err != nil {
				t.Fatal(err)
			}
		}
		work := m.s.ownWork
		for range incs {
			if err := m.At("k").Add(1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got, bound := m.s.ownWork-work, 2*n+8*incs; got > bound {
			t.Errorf("%d increments of a key of %d writers looked at %d dots, more than %d", incs, n, got, bound)
		}
		if v := m.At("k").Value(); v != n+incs {
			t.Fatalf("k = %d, want %d", v, n+incs)
		}
	})
	t.Run("nested", func(t *testing.T) {
		m := New[string, *Map[string, *Counter]](vclock.Writer("me", 1))
		for i := range n {
			w := vclock.Writer(vclock.ReplicaID(fmt.Sprintf("r%06d", i)), 1)
			b, err := New[string, *Map[string, *Counter]](w).At("a").At("k").Add(1).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.ApplyBinaryFrom(b, w); err != nil {
				t.Fatal(err)
			}
		}
		work := m.s.ownWork
		for range incs {
			if err := m.At("a").At("k").Add(1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got, bound := m.s.ownWork-work, 2*n+8*incs; got > bound {
			t.Errorf("%d increments of a nested key of %d writers looked at %d dots, more than %d", incs, n, got, bound)
		}
		if v := m.At("a").At("k").Value(); v != n+incs {
			t.Fatalf("a.k = %d, want %d", v, n+incs)
		}
	})
}

// TestIncrementOfKeyOfManyWritersWithReset: a key incremented by n
// writers, deleted by a writer that saw them while a late writer
// incremented it (the delete leaves a reset entry of each chain it saw,
// and the late writer's increment stays), incremented by n more writers,
// then by this replica many times. Each increment's check that the
// counter stays in its range summed the counter's value exactly: a walk
// of all the key's dots and of all the reset's entries, n per increment.
// It must cost a bounded amount each. Both ways an increment takes: a
// top-level key, and a key of a nested map.
func TestIncrementOfKeyOfManyWritersWithReset(t *testing.T) {
	const n, incs = 1000, 300
	apply := func(t *testing.T, dst interface {
		ApplyBinaryFrom([]byte, vclock.ReplicaID) (bool, error)
	}, b []byte, err error, w vclock.ReplicaID) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dst.ApplyBinaryFrom(b, w); err != nil {
			t.Fatal(err)
		}
	}
	writer := func(i int) vclock.ReplicaID {
		return vclock.Writer(vclock.ReplicaID(fmt.Sprintf("r%06d", i)), 1)
	}
	xw, lw := vclock.Writer("x", 1), vclock.Writer("late", 1)
	t.Run("top", func(t *testing.T) {
		m := New[string, *Counter](vclock.Writer("me", 1))
		x := New[string, *Counter](xw)
		for i := range n {
			b, err := New[string, *Counter](writer(i)).At("k").Add(1).MarshalBinary()
			apply(t, m, b, err, writer(i))
			apply(t, x, b, err, writer(i))
		}
		b, err := New[string, *Counter](lw).At("k").Add(1).MarshalBinary()
		apply(t, m, b, err, lw)
		b, err = x.Delete("k").MarshalBinary()
		apply(t, m, b, err, xw)
		for i := n; i < 2*n; i++ {
			b, err := New[string, *Counter](writer(i)).At("k").Add(1).MarshalBinary()
			apply(t, m, b, err, writer(i))
		}
		if v := m.At("k").Value(); v != n+1 {
			t.Fatalf("k = %d before the increments, want %d", v, n+1)
		}
		work := m.s.ownWork
		for range incs {
			if err := m.At("k").Add(1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got, bound := m.s.ownWork-work, 2*n+8*incs; got > bound {
			t.Errorf("%d increments of a key of %d writers and a reset looked at %d dots, more than %d", incs, 2*n, got, bound)
		}
		if v := m.At("k").Value(); v != n+1+incs {
			t.Fatalf("k = %d, want %d", v, n+1+incs)
		}
	})
	t.Run("nested", func(t *testing.T) {
		type M = Map[string, *Counter]
		m := New[string, *M](vclock.Writer("me", 1))
		x := New[string, *M](xw)
		for i := range n {
			b, err := New[string, *M](writer(i)).At("a").At("k").Add(1).MarshalBinary()
			apply(t, m, b, err, writer(i))
			apply(t, x, b, err, writer(i))
		}
		b, err := New[string, *M](lw).At("a").At("k").Add(1).MarshalBinary()
		apply(t, m, b, err, lw)
		b, err = x.Delete("a").MarshalBinary()
		apply(t, m, b, err, xw)
		for i := n; i < 2*n; i++ {
			b, err := New[string, *M](writer(i)).At("a").At("k").Add(1).MarshalBinary()
			apply(t, m, b, err, writer(i))
		}
		if v := m.At("a").At("k").Value(); v != n+1 {
			t.Fatalf("a.k = %d before the increments, want %d", v, n+1)
		}
		work := m.s.ownWork
		for range incs {
			if err := m.At("a").At("k").Add(1).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if got, bound := m.s.ownWork-work, 2*n+8*incs; got > bound {
			t.Errorf("%d increments of a nested key of %d writers and a reset looked at %d dots, more than %d", incs, 2*n, got, bound)
		}
		if v := m.At("a").At("k").Value(); v != n+1+incs {
			t.Fatalf("a.k = %d, want %d", v, n+1+incs)
		}
	})
}
