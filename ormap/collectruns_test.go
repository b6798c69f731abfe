package ormap_test

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// A delete's note of a writer's counter chain stays while the versions
// holding the delete were reported by other runs than the writer's (a
// second process under its name): the writer may not have seen the
// delete, and its next increment, continuing the chain, must count only
// what it adds. Once the writer's own run reports, the note goes.
func TestCollectVersionsFromWaitsForTheWritersRun(t *testing.T) {
	b := ormap.New[string, *ormap.Counter](vclock.Writer("b", 1))
	twin := vclock.Writer("b", 2)
	a := ormap.New[string, *ormap.Counter]("a")
	apply := func(m *ormap.Map[string, *ormap.Counter], op ormap.Op) {
		t.Helper()
		if err := m.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	apply(a, b.At("x").Add(1))
	apply(a, a.Delete("x"))
	b.Merge(a) // b has seen the delete
	pending := func(m *ormap.Map[string, *ormap.Counter]) uint64 { n, _ := m.Garbage(); return n }
	// Told nothing of the runs, the collection drops the note (and the
	// delete's record).
	plain := a.Clone()
	plain.CollectVersions([]vclock.Clock{b.Version()})
	if n := pending(plain); n != 0 {
		t.Fatalf("CollectVersions keeps %d", n)
	}
	a.CollectVersionsFrom([]vclock.Clock{b.Version()}, []vclock.ReplicaID{twin}, clock.Timestamp{})
	if n := pending(a); n != 1 {
		t.Fatalf("on the word of another run of b, %d kept, want the note alone", n)
	}
	a.CollectVersionsFrom([]vclock.Clock{b.Version()}, []vclock.ReplicaID{b.ID()}, clock.Timestamp{})
	if n := pending(a); n != 0 {
		t.Fatalf("%d kept once b's own run reported the delete", n)
	}
}
