package orset

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/dotkernel"
)

// craftedMerges merges 40 small states into a set of n elements, states
// that the set cannot trust to say what they dropped (their horizon is
// beyond the set's version), after a first one (which may prepare the
// set). It returns the keys and dots of the set the 40 merges looked at,
// and what they may look at: a constant times the states' bytes plus
// the elements they dropped.
func craftedMerges(t *testing.T, n int) (work, bound int) {
	t.Helper()
	big := New[string]("A")
	var early *Set[string]
	for i := range n {
		big.Add(fmt.Sprintf("key-%07d", i))
		if i == 299 {
			early = big.Clone() // its first 300 dots
		}
	}
	// z has seen big's first 300 dots, and removed all but 10 of them
	// (which the first merge drops from big); it removes those 10 at the
	// 20th round.
	z := New[string]("Z")
	z.Merge(early)
	for i := range 300 {
		if i%30 != 1 {
			z.Remove(fmt.Sprintf("key-%07d", i))
		}
	}
	round := 0
	next := func() []byte {
		e := fmt.Sprint("x", round)
		round++
		z.Add(e)
		z.Remove(e)
		if round == 20 {
			for i := 1; i < 300; i += 30 {
				z.Remove(fmt.Sprintf("key-%07d", i))
			}
		}
		z.Collect(z.Version()) // a horizon big has not seen
		return mustMarshal(t, z)
	}
	if _, err := big.MergeBinary(next()); err != nil {
		t.Fatal(err)
	}
	work0, len0 := big.k.SeenWork(), big.Len()
	bytes := 0
	for range 40 {
		state := next()
		bytes += len(state)
		if _, err := big.MergeBinary(state); err != nil {
			t.Fatal(err)
		}
	}
	dropped := len0 - big.Len()
	if dropped != 10 {
		t.Fatalf("the merges dropped %d elements, want 10", dropped)
	}
	t.Logf("set of %d: 40 merges of %d bytes in all, dropping %d elements, looked at %d keys and dots", n, bytes, dropped, big.k.SeenWork()-work0)
	return big.k.SeenWork() - work0, 2 * (bytes + dropped)
}

// TestMergeCraftedStateCost bounds the work of merges of small states
// whose records cannot tell what they dropped: the keys and dots of the
// set they look at are within a constant times their bytes plus the
// elements they drop, however large the set.
func TestMergeCraftedStateCost(t *testing.T) {
	if work, bound := craftedMerges(t, 20_000); work > bound {
		t.Fatalf("looked at %d keys and dots, bound %d", work, bound)
	}
}

// TestMergeCraftedStateCostByScan checks that the bound of
// TestMergeCraftedStateCost is one that a pass over the whole set, as
// merges made before they kept an order of the set's dots, does not meet.
func TestMergeCraftedStateCostByScan(t *testing.T) {
	dotkernel.SetScanSeen(true)
	defer dotkernel.SetScanSeen(false)
	if work, bound := craftedMerges(t, 20_000); work <= bound {
		t.Fatalf("by a pass over the set: looked at %d keys and dots, within the bound %d", work, bound)
	}
}
