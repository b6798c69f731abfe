package orset

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/internal/gapcheck"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A set that took a writer's second op without its first has a gap: its
// version leaves the second out, and HasGaps says so until the first
// arrives. A remove's own dot makes a gap as an add's does.
func TestHasGaps(t *testing.T) {
	w := New[string]("w")
	ops := []Op[string]{w.Add("x"), w.Add("y"), w.Remove("x")}
	s := New[string]("s")
	if s.HasGaps() {
		t.Fatal("an empty set has gaps")
	}
	for _, i := range []int{2, 0} {
		if err := s.Apply(ops[i]); err != nil {
			t.Fatal(err)
		}
		if !s.HasGaps() {
			t.Fatalf("after op %d alone: no gaps reported", i)
		}
	}
	if err := s.Apply(ops[1]); err != nil {
		t.Fatal(err)
	}
	if s.HasGaps() || !s.Version().Equal(w.Version()) || s.Fingerprint() != w.Fingerprint() {
		t.Fatalf("with every op: gaps %v, version %v (want %v)", s.HasGaps(), s.Version(), w.Version())
	}
}

// TestEqualVersionsWithoutGapsHoldEqualContent: replicas take one
// another's ops late, twice, out of order, and whole states now and then;
// whenever two of them are at one version and neither has gaps, they
// hold the same content and the same fingerprint. The replication engine
// counts a divergence exactly when this fails, so it must not fail for
// replicas that did nothing wrong.
func TestEqualVersionsWithoutGapsHoldEqualContent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		sets := make([]*Set[string], len(ids))
		for i, id := range ids {
			sets[i] = New[string](id)
		}
		elem := rapid.SampledFrom([]string{"x", "y", "z"})
		gapcheck.EqualContent(t, ids, sets, gapcheck.Type[*Set[string], Op[string]]{
			Write: func(t *rapid.T, i int) (Op[string], bool) {
				var op Op[string]
				if rapid.Bool().Draw(t, "remove") {
					op = sets[i].Remove(elem.Draw(t, "elem"))
				} else {
					op = sets[i].Add(elem.Draw(t, "elem"))
				}
				return op, !op.IsNoop()
			},
			Show: func(s *Set[string]) string { return fmt.Sprint(slices.Sorted(s.All())) },
		})
	})
}

// A set that merged the removed parts of a whole state cut into parts, and
// not yet its context parts, has dropped an element whose removal its
// version does not claim: at one version with a set that has not seen the
// removal, it holds other content, and HasGaps must say so. It did not,
// and the replication engine counted a divergence between replicas that
// did nothing wrong, when a digest came between the parts of a catch-up.
func TestHasGapsBetweenRemovedAndContextParts(t *testing.T) {
	w := New[string]("w")
	add := w.Add("x")
	for i := range 20 {
		e := fmt.Sprintf("%03d%s", i, strings.Repeat("-", 150))
		w.Add(e)
		w.Remove(e)
	}
	w.Remove("x")
	s, u := twoThatApplied(t, add)
	parts, ordered, err := w.ChunksBinary(nil, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 || ordered != 0 {
		t.Fatalf("%d parts, %d store parts: want several, none with elements", len(parts), ordered)
	}
	removed := 0
	for _, p := range parts {
		if dotkernel.PartKind(p[0]) != dotkernel.PartRemoved {
			break
		}
		if _, err := s.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
		removed++
	}
	if removed == 0 {
		t.Fatalf("no removed part first among %d parts", len(parts))
	}
	if s.Contains("x") || !s.Version().Equal(u.Version()) {
		t.Fatalf("after the removed parts: x held %v, version %v (want x gone, version %v)", s.Contains("x"), s.Version(), u.Version())
	}
	if !s.HasGaps() {
		t.Fatal("a set that dropped a removal its version does not claim reports no gaps")
	}
	for _, p := range parts[removed:] {
		if _, err := s.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
	}
	if s.HasGaps() || !s.Equal(w) || s.Fingerprint() != w.Fingerprint() {
		t.Fatalf("after every part: gaps %v, equal %v", s.HasGaps(), s.Equal(w))
	}
}

// twoThatApplied returns two new sets, s and u, that have each applied op.
func twoThatApplied(t *testing.T, op Op[string]) (s, u *Set[string]) {
	t.Helper()
	s, u = New[string]("s"), New[string]("u")
	for _, r := range []*Set[string]{s, u} {
		if err := r.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	return s, u
}

// A catch-up in parts cut short after its removed parts (the sender
// restarted, say) left the set reporting gaps, and out of the engine's
// comparisons of content, until a later catch-up came in parts again: the
// whole state the sender sent next, in one message, did not settle it. A
// whole state from a replica that still holds x settles nothing.
func TestRemovedPartsCutShortSettledByWholeState(t *testing.T) {
	w := New[string]("w")
	add := w.Add("x")
	for i := range 20 {
		w.Add(fmt.Sprintf("%03d%s", i, strings.Repeat("-", 150)))
	}
	w.Remove("x")
	// The remove's record collected: the whole state alone says x is gone.
	w.Collect(w.Version())
	s, u := twoThatApplied(t, add)
	parts, _, err := w.ChunksBinary(nil, 1024)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, p := range parts { // the store parts, then the removed ones
		k := dotkernel.PartKind(p[0])
		if k != dotkernel.PartStore && k != dotkernel.PartRemoved {
			break
		}
		if _, err := s.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
		if k == dotkernel.PartRemoved {
			removed++
		}
	}
	if removed == 0 || !s.HasGaps() {
		t.Fatalf("%d removed parts merged, gaps %v: want some, and gaps", removed, s.HasGaps())
	}
	s.Merge(u)
	if s.Contains("x") || !s.HasGaps() {
		t.Fatalf("after u's state: x held %v, gaps %v; want x gone, gaps", s.Contains("x"), s.HasGaps())
	}
	s.Merge(w)
	if s.HasGaps() || !s.Equal(w) || s.Fingerprint() != w.Fingerprint() {
		t.Fatalf("after w's whole state: gaps %v, equal %v", s.HasGaps(), s.Equal(w))
	}
}
