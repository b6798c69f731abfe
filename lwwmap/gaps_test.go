package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
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
		inbox := make([][]Op[string, string], len(ids)) // writes each replica has yet to take
		for i, id := range ids {
			maps[i] = New[string, string](id, clock.New(clock.WithSource(func() int64 { return now })))
		}
		key := rapid.SampledFrom([]string{"x", "y", "z"})
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			now += int64(rapid.IntRange(0, 2).Draw(t, "tick"))
			i := rapid.IntRange(0, len(ids)-1).Draw(t, "replica")
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0, 1:
				var op Op[string, string]
				if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
					op = maps[i].Delete(key.Draw(t, "key"))
				} else {
					op = maps[i].Put(key.Draw(t, "key"), string(ids[i]))
				}
				for j := range ids {
					if j != i {
						inbox[j] = append(inbox[j], op)
					}
				}
			case 2:
				if len(inbox[i]) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(inbox[i])-1).Draw(t, "op")
				if err := maps[i].Apply(inbox[i][k]); err != nil {
					t.Fatal(err)
				}
				if !rapid.Bool().Draw(t, "again") {
					inbox[i] = append(inbox[i][:k], inbox[i][k+1:]...)
				}
			case 3:
				maps[i].Merge(maps[rapid.IntRange(0, len(ids)-1).Draw(t, "from")])
			}
			for a := range maps {
				for b := range a {
					x, y := maps[a], maps[b]
					if x.HasGaps() || y.HasGaps() || !x.Version().Equal(y.Version()) {
						continue
					}
					if !x.Equal(y) || x.Fingerprint() != y.Fingerprint() {
						t.Fatalf("%s and %s at version %v without gaps differ", ids[a], ids[b], x.Version())
					}
				}
			}
		}
	})
}
