package ormap

import (
	"testing"

	"github.com/activeactive/crdt/internal/gapcheck"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A map that took a writer's second write without its first has a gap:
// its version leaves the second out, and HasGaps says so until the first
// arrives.
func TestHasGaps(t *testing.T) {
	w := New[string, *Counter]("w")
	first, second := w.At("a").Add(1), w.At("b").Add(2)
	m := New[string, *Counter]("m")
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

// TestEqualVersionsWithoutGapsHoldEqualContent: replicas of a map of
// counters take one another's ops late, twice, out of order, and whole
// states now and then; whenever two of them are at one version and
// neither has gaps, they hold the same content and the same fingerprint.
// The replication engine counts a divergence exactly when this fails, so
// it must not fail for replicas that did nothing wrong.
func TestEqualVersionsWithoutGapsHoldEqualContent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		maps := make([]*Map[string, *Map[string, *Counter]], len(ids))
		for i, id := range ids {
			maps[i] = New[string, *Map[string, *Counter]](id)
		}
		user, item := rapid.SampledFrom([]string{"ann", "bob"}), rapid.SampledFrom([]string{"x", "y"})
		gapcheck.EqualContent(t, ids, maps, gapcheck.Type[*Map[string, *Map[string, *Counter]], Op]{
			Write: func(t *rapid.T, i int) (Op, bool) {
				var op Op
				switch u := user.Draw(t, "user"); rapid.IntRange(0, 3).Draw(t, "what") {
				case 0:
					op = maps[i].Delete(u)
				case 1:
					op = maps[i].At(u).Delete(item.Draw(t, "item"))
				default:
					op = maps[i].At(u).At(item.Draw(t, "item")).Add(1)
				}
				if op.Err() != nil {
					t.Fatal(op.Err())
				}
				return op, !op.IsNoop()
			},
			Same: func(x, y *Map[string, *Map[string, *Counter]]) bool {
				return x.ContentFingerprint() == y.ContentFingerprint()
			},
		})
	})
}
