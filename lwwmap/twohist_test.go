package lwwmap

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
)

// TestTwoHistoriesOfOneWriterTell: one writer's two histories from a
// common state (a peer that sent two replicas different writes under one
// writer, or two processes writing as one) that end at one version must
// read alike at every instant, or differ in the fingerprint or the
// content fingerprint at the time of the digest (ContentFingerprintAt,
// which the replication engine compares at equal versions): else the
// replicas differ with every figure at zero. Keys that expire were left
// out of both: a key held for an hour at one replica and absent at the
// other, at one version, went unseen until it expired.
func TestTwoHistoriesOfOneWriterTell(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const start = int64(1_795_000_000_000_000_000)
		now := start
		src := func() int64 { return now }
		ms := [2]*Map[string, string]{New[string, string]("w", clock.New(clock.WithSource(src))), New[string, string]("w", clock.New(clock.WithSource(src)))}
		keys := rapid.SampledFrom([]string{"a", "b", "c"})
		step := func(m *Map[string, string], label string) {
			k := keys.Draw(rt, "key "+label)
			var err error
			switch rapid.IntRange(0, 3).Draw(rt, "op "+label) {
			case 0:
				_, err = m.Put(k, rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "value "+label)).MarshalBinary()
			case 1:
				_, err = m.Delete(k).MarshalBinary()
			case 2:
				ttl := time.Duration(rapid.SampledFrom([]int64{1, 100}).Draw(rt, "ttl "+label)) * time.Hour
				_, err = m.Expire(k, ttl).MarshalBinary()
			case 3:
				_, err = m.Persist(k).MarshalBinary()
			}
			_ = err // an expire or persist of an absent key writes nothing
		}
		for i := range rapid.IntRange(0, 4).Draw(rt, "common") {
			label := fmt.Sprintf("common %d", i)
			k, v := keys.Draw(rt, "key "+label), rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "value "+label)
			for _, m := range ms {
				m.Put(k, v)
			}
		}
		for h, m := range ms {
			for i := range rapid.IntRange(1, 4).Draw(rt, fmt.Sprintf("steps %d", h)) {
				step(m, fmt.Sprintf("%d.%d", h, i))
			}
		}
		if !ms[0].Version().Equal(ms[1].Version()) {
			return // the engine tells these apart by their versions
		}
		if ms[0].Fingerprint() != ms[1].Fingerprint() || ms[0].ContentFingerprintAt(now) != ms[1].ContentFingerprintAt(now) {
			return
		}
		for _, after := range []int64{0, 2, 200} {
			now = start + after*int64(time.Hour)
			r0, r1 := maps.Collect(ms[0].All()), maps.Collect(ms[1].All())
			if !maps.Equal(r0, r1) {
				rt.Fatalf("at one version %v and one (content) fingerprint, %dh on the maps read %v and %v", ms[0].Version(), after, r0, r1)
			}
		}
	})
}
