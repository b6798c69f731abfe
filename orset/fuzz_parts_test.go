package orset

import (
	"testing"
)

// FuzzSetMergeChunkBinary feeds MergeChunkBinary and HealChunkBinary
// arbitrary parts, seeded with real ones of every kind (a set with
// removes, re-adds and a ghost, cut small). A part is refused with a
// *codec.DecodeError and changes nothing, or is merged and leaves a set
// that still encodes to a state its own decoder accepts (the store within
// the context, ghosts in the context and not recorded): no part can break
// the set's invariants.
func FuzzSetMergeChunkBinary(f *testing.F) {
	for _, s := range []*Set[string]{seedSet(f), bigSeed(f)} {
		for _, full := range []bool{true, false} {
			var version []byte
			if !full {
				version = mustMarshal(f, New[string]("z").Version())
			}
			parts, _, err := s.ChunksBinary(version, 64)
			if err != nil {
				f.Fatal(err)
			}
			for _, p := range parts {
				f.Add(p)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, heal := range []bool{false, true} {
			s := seedSet(t)
			before := s.Clone()
			merge, what := s.MergeChunkBinary, "MergeChunkBinary"
			if heal {
				merge, what = s.HealChunkBinary, "HealChunkBinary"
			}
			if _, err := merge(data); err != nil {
				requireDecodeError(t, what, err)
				if !s.Equal(before) {
					t.Fatalf("%s: a refused part changed the set", what)
				}
				continue
			}
			var back Set[string]
			if err := back.UnmarshalBinary(mustMarshal(t, s)); err != nil {
				t.Fatalf("after %s, the set encodes to a state refused: %v", what, err)
			}
			if !back.Equal(s) {
				t.Fatalf("after %s, the set does not round-trip", what)
			}
		}
	})
}

// bigSeed returns a set of a few dozen elements, some removed and added
// again, so that cut small it makes parts of every kind.
func bigSeed(t testing.TB) *Set[string] {
	s := New[string]("a")
	for i := range 40 {
		s.Add(string(rune('A' + i)))
		if i%3 == 0 {
			s.Remove(string(rune('A' + i/2)))
		}
		if i%5 == 0 {
			s.Add(string(rune('A' + i/3)))
		}
	}
	return s
}
