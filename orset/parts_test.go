package orset

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// TestPartsMergeLikeTheWhole checks that a state or delta cut into parts
// merges, part by part, into what the whole merges into, and that every
// prefix of the parts is safe on its own: the receiver holds no element
// that neither it nor the result holds (nothing removed comes back), and
// its version claims nothing whose effect it lacks (a delta for the
// version it reports brings it to the result).
func TestPartsMergeLikeTheWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 80)
		i := rapid.IntRange(0, len(w.sets)-1).Draw(t, "sender")
		j := rapid.IntRange(0, len(w.sets)-2).Draw(t, "receiver")
		if j >= i {
			j++
		}
		sender, before := w.sets[i], w.sets[j].Clone()
		full := rapid.Bool().Draw(t, "full")
		budget := rapid.IntRange(48, 300).Draw(t, "budget")
		var version, whole []byte
		if full {
			whole = mustMarshal(t, sender)
		} else {
			var err error
			if version, err = before.VersionBinary(); err != nil {
				t.Fatal(err)
			}
			if whole, err = sender.DeltaSinceBinary(version); err != nil {
				t.Fatal(err)
			}
		}
		want := before.Clone()
		if _, err := want.MergeBinary(whole); err != nil {
			t.Fatal(err)
		}
		parts, ordered, err := sender.ChunksBinary(version, budget)
		for errors.Is(err, dotkernel.ErrPartTooLarge) {
			// One key with one dot, or one drop record, does not fit a
			// part this small. That happens only for
			// the smallest budgets: such a part takes about 50 bytes here
			// (in 20,000 cases, refused only at budgets of 48 and 49).
			if budget >= 100 {
				t.Fatalf("parts of %d bytes: %v", budget, err)
			}
			budget *= 2
			parts, ordered, err = sender.ChunksBinary(version, budget)
		}
		if err != nil {
			t.Fatal(err)
		}
		if parts == nil {
			// No parts: the whole fits, and goes whole.
			if len(whole) > budget {
				t.Fatalf("no parts, yet the whole takes %d bytes, over %d", len(whole), budget)
			}
			return
		}
		for _, p := range parts {
			if len(p) > budget {
				t.Fatalf("part of %d bytes, budget %d", len(p), budget)
			}
		}
		// Store parts in any order, then the others in order.
		perm := rapid.Permutation(parts[:ordered]).Draw(t, "store parts")
		order := append(slices.Clone(perm), parts[ordered:]...)
		allowed := map[string]bool{}
		for _, e := range sorted(before) {
			allowed[e] = true
		}
		for _, e := range sorted(want) {
			allowed[e] = true
		}
		got := before.Clone()
		for n, p := range order {
			if _, err := got.MergeChunkBinary(p); err != nil {
				t.Fatalf("part %d (kind %d): %v", n, p[0], err)
			}
			for e := range got.All() {
				if !allowed[e] {
					t.Fatalf("after part %d (kind %d) %q is present, which neither the receiver nor the result holds", n, p[0], e)
				}
			}
			// What the receiver claims to have seen must be all it needs:
			// a delta since its version completes it.
			v, err := got.VersionBinary()
			if err != nil {
				t.Fatal(err)
			}
			d, err := sender.DeltaSinceBinary(v)
			if err != nil {
				t.Fatal(err)
			}
			caught := got.Clone()
			if _, err := caught.MergeBinary(d); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sorted(caught), sorted(want)) {
				t.Fatalf("after part %d (kind %d) of %d the version %v overstates: a delta for it gives %v, want %v",
					n, p[0], len(order), got.Version(), sorted(caught), sorted(want))
			}
		}
		requireEqual(t, got, want, "all parts merged")
		if !slices.Equal(sorted(got), sorted(want)) || got.Fingerprint() != want.Fingerprint() {
			t.Fatalf("parts give %v, the whole %v", sorted(got), sorted(want))
		}
	})
}

// TestPartRefusedWhole checks that a part whose header or content does
// not match its kind is refused and changes nothing.
func TestPartRefusedWhole(t *testing.T) {
	s := New[string]("a")
	for _, e := range []string{"x", "y", "z"} {
		s.Add(e)
	}
	s.Remove("y")
	parts, _, err := s.ChunksBinary(nil, 64)
	if err != nil {
		t.Fatal(err)
	}
	state := mustMarshal(t, s)
	bad := [][]byte{
		nil,
		{0},
		{5},
		append([]byte{byte(dotkernel.PartRecords)}, state...), // a whole state is no record part
		append([]byte{byte(dotkernel.PartStore)}, state...),   // its context is more than its dots
		append([]byte{byte(dotkernel.PartRemoved)}, parts[0][1:]...),
	}
	for i, b := range bad {
		r := New[string]("b")
		r.Add("w")
		before := r.Clone()
		if _, err := r.MergeChunkBinary(b); err == nil {
			t.Errorf("bad part %d accepted", i)
		}
		requireEqual(t, r, before, "after a refused part")
	}
}

// TestPartsSplitAKeysDots checks that an element added concurrently at
// several replicas, whose dots together do not fit a part but each does,
// is cut into parts (its dots spread over several) rather than refused,
// and that the parts, in any order of the store parts, merge into what
// the whole merges into, at an empty receiver and at one that holds some
// of the dots.
func TestPartsSplitAKeysDots(t *testing.T) {
	long := "e" + strings.Repeat("-", 149)
	var sets []*Set[string]
	for _, id := range []string{"region-0", "region-1", "region-2", "region-3"} {
		s := New[string](vclock.ReplicaID(id))
		if err := s.Add(long).Err(); err != nil {
			t.Fatal(err)
		}
		sets = append(sets, s)
	}
	sender := New[string]("region-0")
	for _, s := range sets {
		sender.Merge(s)
	}
	if err := sender.Add("short").Err(); err != nil {
		t.Fatal(err)
	}
	whole := mustMarshal(t, sender)
	const budget = 300 // one dot of the element fits, its four dots do not
	if len(whole) <= budget {
		t.Fatalf("the whole takes %d bytes, within %d", len(whole), budget)
	}
	parts, ordered, err := sender.ChunksBinary(nil, budget)
	if err != nil {
		t.Fatal(err)
	}
	if ordered < 2 {
		t.Fatalf("%d store parts, want the element's dots in several", ordered)
	}
	for _, p := range parts {
		if len(p) > budget {
			t.Fatalf("part of %d bytes, budget %d", len(p), budget)
		}
	}
	for _, before := range []*Set[string]{New[string]("region-9"), sets[1].Clone()} {
		want := before.Clone()
		if _, err := want.MergeBinary(whole); err != nil {
			t.Fatal(err)
		}
		for _, reverse := range []bool{false, true} {
			got := before.Clone()
			store := slices.Clone(parts[:ordered])
			if reverse {
				slices.Reverse(store)
			}
			for _, p := range append(store, parts[ordered:]...) {
				if _, err := got.MergeChunkBinary(p); err != nil {
					t.Fatal(err)
				}
			}
			requireEqual(t, got, want, "merged parts")
		}
	}
}

// TestFreezeChunks: for a peer a few adds behind, a large set's delta
// fits, and FreezeChunks copies nothing (it returns nil, and the engine
// sends the delta whole); for a new peer, or one far behind, it returns
// a cut of the set as it was, whatever is written after.
func TestFreezeChunks(t *testing.T) {
	s := New[string]("a")
	for i := range 2000 {
		s.Add(fmt.Sprintf("element-%04d", i))
	}
	near := mustMarshal(t, s.Version())
	s.Add("one more")
	const budget = 4096
	if s.FreezeChunks(near, budget) != nil {
		t.Fatal("a delta of one add: FreezeChunks made a cut")
	}
	var far vclock.Clock
	far.Advance("a", 10)
	for i, version := range [][]byte{nil, mustMarshal(t, far)} {
		later := fmt.Sprintf("added after freeze %d", i)
		parts, _, err := s.ChunksBinary(version, budget)
		if err != nil || len(parts) < 2 {
			t.Fatalf("%d parts: %v", len(parts), err)
		}
		cut := s.FreezeChunks(version, budget)
		if cut == nil {
			t.Fatal("FreezeChunks made no cut of a large state")
		}
		s.Add(later)
		s.Remove("element-0100")
		frozen, _, err := cut()
		if err != nil {
			t.Fatal(err)
		}
		into := func(ps [][]byte) *Set[string] {
			r := New[string]("b")
			for _, p := range ps {
				if _, err := r.MergeChunkBinary(p); err != nil {
					t.Fatal(err)
				}
			}
			return r
		}
		got, want := into(frozen), into(parts)
		if !got.Equal(want) || got.Contains(later) {
			t.Fatalf("the frozen cut merges into %d elements, the parts at that moment into %d", got.Len(), want.Len())
		}
		s.Add("element-0100")
	}
}
