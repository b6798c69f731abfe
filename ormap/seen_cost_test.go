package ormap

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/dotkernel"
)

// craftedMerges merges 40 small states into a map of n registers, states
// whose records cannot tell what they dropped (their horizon is beyond
// the map's version), after a first one (which may prepare the map). It
// returns the keys and dots of the map's store the 40 merges looked at,
// and what they may look at: a constant times the states' bytes plus the
// dots they dropped.
func craftedMerges(t *testing.T, n int) (work, bound int) {
	t.Helper()
	big := New[string, *Register[string]]("A")
	var early *Map[string, *Register[string]]
	for i := range n {
		big.At(fmt.Sprintf("key-%07d", i)).Set("v")
		if i == 299 {
			early = big.Clone() // its first 300 writes
		}
	}
	// z has seen big's first 300 writes and deleted all but 10 of their
	// keys (which the first merge drops from big); it deletes those 10
	// at the 20th round.
	z := New[string, *Register[string]]("Z")
	z.Merge(early)
	for i := range 300 {
		if i%30 != 1 {
			z.Delete(fmt.Sprintf("key-%07d", i))
		}
	}
	round := 0
	next := func() []byte {
		k := fmt.Sprint("x", round)
		round++
		z.At(k).Set("z")
		z.Delete(k)
		if round == 20 {
			for i := 1; i < 300; i += 30 {
				z.Delete(fmt.Sprintf("key-%07d", i))
			}
		}
		z.Collect(z.Version()) // a horizon big has not seen
		b, err := z.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, err := big.MergeBinary(next()); err != nil {
		t.Fatal(err)
	}
	work0, len0 := big.st().k.SeenWork(), big.Len()
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
		t.Fatalf("the merges dropped %d keys, want 10", dropped)
	}
	work = big.st().k.SeenWork() - work0
	t.Logf("map of %d: 40 merges of %d bytes in all, dropping %d keys, looked at %d keys and dots", n, bytes, dropped, work)
	return work, 2 * (bytes + dropped)
}

// TestMergeCraftedStateCost bounds the work of merges of small states
// whose records cannot tell what they dropped: the dots of the map they
// look at are within a constant times their bytes plus the keys they
// drop, however large the map.
func TestMergeCraftedStateCost(t *testing.T) {
	if work, bound := craftedMerges(t, 20_000); work > bound {
		t.Fatalf("looked at %d keys and dots, bound %d", work, bound)
	}
}

// TestMergeCraftedStateCostByScan checks that the bound of
// TestMergeCraftedStateCost is one that a pass over the whole store, as
// merges made before they kept an order of the store's dots, does not
// meet.
func TestMergeCraftedStateCostByScan(t *testing.T) {
	dotkernel.SetScanSeen(true)
	defer dotkernel.SetScanSeen(false)
	if work, bound := craftedMerges(t, 20_000); work <= bound {
		t.Fatalf("by a pass over the store: looked at %d keys and dots, within the bound %d", work, bound)
	}
}
