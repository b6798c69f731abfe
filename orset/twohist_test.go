package orset

import (
	"fmt"
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestTwoHistoriesOfOneWriterTell: sets at one version after two
// histories of one writer from a common state (a peer that sent two
// replicas different writes under one writer) hold the same elements, or
// differ in the fingerprint, which the replication engine compares at
// equal versions.
func TestTwoHistoriesOfOneWriterTell(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ss := [2]*Set[string]{New[string]("w"), New[string]("w")}
		elems := rapid.SampledFrom([]string{"a", "b", "c"})
		step := func(s *Set[string], e string, add bool) {
			if add {
				s.Add(e)
			} else {
				s.Remove(e)
			}
		}
		for i := range rapid.IntRange(0, 3).Draw(rt, "common") {
			e, add := elems.Draw(rt, fmt.Sprintf("elem common %d", i)), rapid.Bool().Draw(rt, fmt.Sprintf("add common %d", i))
			step(ss[0], e, add)
			step(ss[1], e, add)
		}
		for h, s := range ss {
			for i := range rapid.IntRange(1, 4).Draw(rt, fmt.Sprintf("steps %d", h)) {
				step(s, elems.Draw(rt, fmt.Sprintf("elem %d.%d", h, i)), rapid.Bool().Draw(rt, fmt.Sprintf("add %d.%d", h, i)))
			}
		}
		if !ss[0].Version().Equal(ss[1].Version()) || ss[0].Fingerprint() != ss[1].Fingerprint() {
			return
		}
		r0, r1 := map[string]bool{}, map[string]bool{}
		for e := range ss[0].All() {
			r0[e] = true
		}
		for e := range ss[1].All() {
			r1[e] = true
		}
		if !maps.Equal(r0, r1) {
			rt.Fatalf("at one version %v and one fingerprint the sets hold %v and %v", ss[0].Version(), r0, r1)
		}
	})
}
