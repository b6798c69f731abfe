package lwwmap

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPartsMergeLikeTheWhole checks that a map's state or delta cut into
// parts merges, part by part (entries in any order, then the rest in
// order), into what the whole merges into, and that no prefix of the parts
// makes a key appear that neither the receiver nor the result holds.
func TestPartsMergeLikeTheWhole(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		same := (*Map[string, int]).Equal
		if s.collected > 0 {
			same = equivalent[string, int] // see TestDeltaSincePlusMergeEqualsFullMerge
		}
		n := len(s.reps)
		from := rapid.IntRange(0, n-1).Draw(t, "from")
		to := rapid.IntRange(0, n-1).Draw(t, "to")
		var version, whole []byte
		var err error
		if rapid.Bool().Draw(t, "full") {
			whole, err = s.reps[from].MarshalBinary()
		} else {
			if version, err = s.reps[to].VersionBinary(); err == nil {
				whole, err = s.reps[from].DeltaSinceBinary(version)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		before := s.reps[to].Clone()
		want := before.Clone()
		if _, err := want.MergeBinary(whole); err != nil {
			t.Fatal(err)
		}
		budget := rapid.IntRange(60, 300).Draw(t, "budget")
		parts, ordered, err := s.reps[from].ChunksBinary(version, budget)
		if err != nil {
			t.Fatal(err)
		}
		if parts == nil {
			if len(whole) > budget {
				t.Fatalf("no parts, yet the whole takes %d bytes, over %d", len(whole), budget)
			}
			return
		}
		allowed := map[string]bool{}
		for k := range before.All() {
			allowed[k] = true
		}
		for k := range want.All() {
			allowed[k] = true
		}
		perm := rapid.Permutation(parts[:ordered]).Draw(t, "entries parts")
		got := before.Clone()
		for i, p := range append(slices.Clone(perm), parts[ordered:]...) {
			if len(p) > budget {
				t.Fatalf("part of %d bytes, budget %d", len(p), budget)
			}
			if _, err := got.MergeChunkBinary(p); err != nil {
				t.Fatalf("part %d: %v", i, err)
			}
			for k := range got.All() {
				if !allowed[k] {
					t.Fatalf("after part %d key %q is present, which neither the receiver nor the result holds", i, k)
				}
			}
		}
		if !same(got, want) {
			t.Fatalf("parts give\n%v\nthe whole gives\n%v", dump(got), dump(want))
		}
		checkBases(t, got)
		for k, e := range got.m.All() {
			if we := want.m.Find(k); we != nil && we.seq == e.seq && got.reps[e.writer()] == want.reps[we.writer()] && e.base() != we.base() {
				t.Fatalf("key %q: base %v by parts, %v by the whole", k, e.base(), we.base())
			}
		}
	})
}
