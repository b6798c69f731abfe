package register

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
)

// twoHistories draws a common prefix of sets, then two histories of one
// writer's sets from it, on registers 0 and 1 (each with its own clock,
// reading one time): a peer that sent two replicas different writes
// under one writer.
func twoHistories(rt *rapid.T, set func(i int, v string)) {
	values := rapid.SampledFrom([]string{"x", "y", "z"})
	for i := range rapid.IntRange(0, 3).Draw(rt, "common") {
		v := values.Draw(rt, fmt.Sprintf("common %d", i))
		set(0, v)
		set(1, v)
	}
	for h := range 2 {
		for i := range rapid.IntRange(1, 3).Draw(rt, fmt.Sprintf("steps %d", h)) {
			set(h, values.Draw(rt, fmt.Sprintf("value %d.%d", h, i)))
		}
	}
}

// TestTwoHistoriesOfOneWriterTell: registers after two histories of one
// writer read alike, or differ in the fingerprint or the content
// fingerprint, which the replication engine compares (an LWW register,
// which has no version, where the fingerprints agree; an MV register at
// equal versions).
func TestTwoHistoriesOfOneWriterTell(t *testing.T) {
	const now = int64(1_795_000_000_000_000_000)
	src := func() int64 { return now }
	t.Run("lww", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			rs := [2]*LWW[string]{NewLWW[string]("w", clock.New(clock.WithSource(src))), NewLWW[string]("w", clock.New(clock.WithSource(src)))}
			twoHistories(rt, func(i int, v string) { rs[i].Set(v) })
			if rs[0].Fingerprint() != rs[1].Fingerprint() || rs[0].ContentFingerprint() != rs[1].ContentFingerprint() {
				return
			}
			g0, ok0 := rs[0].Get()
			g1, ok1 := rs[1].Get()
			if g0 != g1 || ok0 != ok1 {
				rt.Fatalf("with one (content) fingerprint the registers read %q and %q", g0, g1)
			}
		})
	})
	t.Run("mv", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			rs := [2]*MV[string]{NewMV[string]("w"), NewMV[string]("w")}
			twoHistories(rt, func(i int, v string) { rs[i].Set(v) })
			if !rs[0].Version().Equal(rs[1].Version()) || rs[0].Fingerprint() != rs[1].Fingerprint() || rs[0].ContentFingerprint() != rs[1].ContentFingerprint() {
				return
			}
			g0, g1 := rs[0].Values(), rs[1].Values()
			slices.Sort(g0)
			slices.Sort(g1)
			if !slices.Equal(g0, g1) {
				rt.Fatalf("at one version and one (content) fingerprint the registers read %q and %q", g0, g1)
			}
		})
	})
}
