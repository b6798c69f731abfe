package orset

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestHealDropsEquivocatedAdd: a peer sends two replicas two different
// adds under one of its dots. Their fingerprints differ; merges leave
// each with its own element for good (each has seen the other's dot);
// healing with each other's states drops both, whichever heals first,
// and keeps the honest adds.
func TestHealDropsEquivocatedAdd(t *testing.T) {
	evil := vclock.ReplicaID("evil")
	x, y := New[string](evil), New[string](evil)
	ox, oy := x.Add("x"), y.Add("y") // one dot, two elements
	if ox.dot != oy.dot {
		t.Fatalf("dots %v and %v", ox.dot, oy.dot)
	}
	honest := New[string]("h").Add("h")
	a, b, c := New[string]("a"), New[string]("b"), New[string]("c")
	for _, s := range []*Set[string]{a, b, c} {
		if err := s.Apply(honest); err != nil {
			t.Fatal(err)
		}
	}
	for s, op := range map[*Set[string]]Op[string]{a: ox, b: oy, c: ox} {
		if err := s.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	if a.Fingerprint() == b.Fingerprint() || !a.Version().Equal(b.Version()) {
		t.Fatal("the scenario did not come about")
	}
	am, bm := a.Clone(), b.Clone()
	am.Merge(b)
	bm.Merge(a)
	if am.Equal(bm) {
		t.Fatal("merges repaired it; the test no longer shows what Heal adds")
	}
	// In parts, as the engine sends a set larger than a message: each
	// heals with the other's whole state cut small.
	pa, pb := a.Clone(), b.Clone()
	for _, x := range [][2]*Set[string]{{pa, b}, {pb, a}} {
		parts, _, err := x[1].ChunksBinary(nil, 40)
		if err != nil || len(parts) < 2 {
			t.Fatalf("%d parts: %v", len(parts), err)
		}
		for _, p := range parts {
			if _, err := x[0].HealChunkBinary(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	sa, sb := a.Clone(), b.Clone()
	a.Heal(sb)
	st, err := sa.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := b.HealBinary(st); err != nil || !changed {
		t.Fatalf("HealBinary: %v, changed %v", err, changed)
	}
	c.Heal(a.Clone())
	for _, s := range []*Set[string]{a, b, c, pa, pb} {
		if s.Contains("x") || s.Contains("y") || !s.Contains("h") || !s.Equal(a) || s.Fingerprint() != a.Fingerprint() {
			t.Fatalf("%d elements after healing, x %v, y %v", s.Len(), s.Contains("x"), s.Contains("y"))
		}
	}
	if _, err := b.HealBinary([]byte{0xc1}); err == nil {
		t.Fatal("HealBinary took a malformed state")
	}
}
