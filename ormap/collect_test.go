package ormap

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestDeleteMetadataCollectedOnceStable: a delete leaves no tombstone per
// key, only a drop record, which stays while some replica may not have
// seen it and goes once every replica has; deltas before and after
// convey the delete.
func TestDeleteMetadataCollectedOnceStable(t *testing.T) {
	a, b, c := New[string, *Counter]("a"), New[string, *Counter]("b"), New[string, *Counter]("c")
	for i := range 100 {
		op := a.At(string(rune('A' + i%50))).Add(1)
		mustApply(t, b, op)
		mustApply(t, c, op)
	}
	vc := c.Version() // c is cut off from here on
	for i := range 50 {
		op := a.Delete(string(rune('A' + i)))
		mustApply(t, b, op)
	}
	// A record per delete, and none for the increments that continued
	// their counters' chains (the second of each key): each leaf implies
	// the drop of its chain's older leaves.
	if a.Len() != 0 || len(a.s.k.Records()) != 50 {
		t.Fatalf("%d keys, %d records after deleting all", a.Len(), len(a.s.k.Records()))
	}
	// Stable only up to what c has seen: no record goes.
	stable := a.Version()
	stable.Meet(b.Version())
	stable.Meet(vc)
	if n := a.Collect(stable); n != 0 {
		t.Fatalf("collected %d records, want none: c has seen no delete", n)
	}
	// c catches up by a delta and the keys go there too.
	c.Merge(a.DeltaSince(vc))
	if c.Len() != 0 || !c.Equal(a) {
		t.Fatal("the delta did not convey the deletes")
	}
	// Every replica has seen the deletes: their records go, and so do
	// their reset leaves (what they saw of the counters' chains).
	if n := a.CollectVersions([]vclock.Clock{b.Version(), c.Version()}); n != 50 || len(a.s.k.Records()) != 0 {
		t.Fatalf("collected %d, %d records left", n, len(a.s.k.Records()))
	}
	// The state is now its context: a version vector, nothing per key.
	if !a.s.k.Context().IsCompact() || a.s.k.Len() != 0 {
		t.Fatal("metadata left after collection")
	}
	// A concurrent increment from a replica that saw nothing still
	// survives, and replicas still converge by delta.
	d := New[string, *Counter]("d")
	mustApply(t, a, d.At("A").Add(7))
	b.Merge(a.DeltaSince(b.Version()))
	if b.At("A").Value() != 7 || b.Fingerprint() != a.Fingerprint() || !b.Version().Equal(a.Version()) {
		t.Fatal("no convergence after collection")
	}
	// b still holds the deletes' reset leaves, which it collects as a
	// did, with no write: then the states are equal.
	b.CollectVersions([]vclock.Clock{a.Version(), c.Version()})
	if !b.Equal(a) {
		t.Fatal("b's reset leaves are left after its collection")
	}
}
