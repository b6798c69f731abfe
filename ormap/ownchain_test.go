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
