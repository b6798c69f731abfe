package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/internal/gapcheck"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A map that took a writer's second write without its first has a gap:
// its version leaves the second out, and HasGaps says so until the first
// arrives.
func TestHasGaps(t *testing.T) {
	var now int64 = 1
	clk := clock.New(clock.WithSource(func() int64 { return now }))
	w := New[string, string]("w", clk)
	first, second := w.Put("a", "1"), w.Delete("a")
	m := New[string, string]("m", clk)
	if m.HasGaps() {
		t.Fatal("an empty map has gaps")
	}
	if err := m.Apply(second); err != nil {
		t.Fatal(err)
	}
	if !m.HasGaps() {
		t.Fatal("after the second write alone: no gaps reported")
	}
	if err := m.Apply(first); err != nil {
		t.Fatal(err)
	}
	if m.HasGaps() || !m.Version().Equal(w.Version()) || m.Fingerprint() != w.Fingerprint() {
		t.Fatalf("with both writes: gaps %v, version %v (want %v)", m.HasGaps(), m.Version(), w.Version())
	}
}

// TestEqualVersionsWithoutGapsHoldEqualContent: replicas take one
// another's writes late, twice, out of order, and whole states now and
// then; whenever two of them are at one version and neither has gaps,
// they hold the same content and the same fingerprint. The replication
// engine counts a divergence exactly when this fails, so it must not fail
// for replicas that did nothing wrong.
func TestEqualVersionsWithoutGapsHoldEqualContent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var now int64 = 1
		ids := []vclock.ReplicaID{"a", "b", "c"}
		maps := make([]*Map[string, string], len(ids))
		for i, id := range ids {
			maps[i] = New[string, string](id, clock.New(clock.WithSource(func() int64 { return now })))
		}
		key := rapid.SampledFrom([]string{"x", "y", "z"})
		gapcheck.EqualContent(t, ids, maps, gapcheck.Type[*Map[string, string], Op[string, string]]{
			Tick: func(t *rapid.T) { now += int64(rapid.IntRange(0, 2).Draw(t, "tick")) },
			Write: func(t *rapid.T, i int) (Op[string, string], bool) {
				if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
					return maps[i].Delete(key.Draw(t, "key")), true
				}
				return maps[i].Put(key.Draw(t, "key"), string(ids[i])), true
			},
		})
	})
}
