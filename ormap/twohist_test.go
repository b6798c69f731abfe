package ormap

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
)

// TestTwoHistoriesOfOneWriterTellCounters: one writer's two histories of
// a map of counters from a common state (a peer that sent two replicas
// different writes under one writer) that end at one version must read
// alike, or differ in the fingerprint or the content fingerprint, which
// the replication engine compares at equal versions.
func TestTwoHistoriesOfOneWriterTellCounters(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ms := [2]*Map[string, *Counter]{New[string, *Counter]("w"), New[string, *Counter]("w")}
		keys := rapid.SampledFrom([]string{"a", "b"})
		step := func(m *Map[string, *Counter], label string, k string, op int, n int64) {
			switch op {
			case 0:
				m.Delete(k)
			default:
				m.At(k).Add(n)
			}
		}
		draw := func(label string) (string, int, int64) {
			return keys.Draw(rt, "key "+label), rapid.IntRange(0, 3).Draw(rt, "op "+label), rapid.Int64Range(-3, 3).Draw(rt, "n "+label)
		}
		for i := range rapid.IntRange(0, 3).Draw(rt, "common") {
			k, op, n := draw(fmt.Sprintf("common %d", i))
			for _, m := range ms {
				step(m, "", k, op, n)
			}
		}
		for h, m := range ms {
			for i := range rapid.IntRange(1, 4).Draw(rt, fmt.Sprintf("steps %d", h)) {
				k, op, n := draw(fmt.Sprintf("%d.%d", h, i))
				step(m, "", k, op, n)
			}
		}
		if !ms[0].Version().Equal(ms[1].Version()) {
			return
		}
		if ms[0].Fingerprint() != ms[1].Fingerprint() || ms[0].ContentFingerprint() != ms[1].ContentFingerprint() {
			return
		}
		read := func(m *Map[string, *Counter]) map[string]int64 {
			out := map[string]int64{}
			for k, c := range m.All() {
				out[k] = c.Value()
			}
			return out
		}
		if r0, r1 := read(ms[0]), read(ms[1]); !maps.Equal(r0, r1) {
			rt.Fatalf("at one version %v and one (content) fingerprint the maps read %v and %v", ms[0].Version(), r0, r1)
		}
	})
}

// TestTwoHistoriesOfOneWriterTellRegisters: the same with registers,
// deletes, expiries and persists, read now and after the expiries.
func TestTwoHistoriesOfOneWriterTellRegisters(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const start = int64(1_795_000_000_000_000_000)
		now := start
		src := func() int64 { return now }
		var ms [2]*Map[string, *Register[string]]
		for i := range ms {
			ms[i] = New[string, *Register[string]]("w")
			ms[i].SetClock(clock.New(clock.WithSource(src)))
		}
		keys := rapid.SampledFrom([]string{"a", "b"})
		step := func(m *Map[string, *Register[string]], label string) {
			k := keys.Draw(rt, "key "+label)
			switch rapid.IntRange(0, 3).Draw(rt, "op "+label) {
			case 0:
				m.Delete(k)
			case 1:
				m.At(k).Set(rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "value "+label))
			case 2:
				m.Expire(k, time.Duration(rapid.SampledFrom([]int64{1, 100}).Draw(rt, "ttl "+label))*time.Hour)
			case 3:
				m.Persist(k)
			}
		}
		for i := range rapid.IntRange(0, 3).Draw(rt, "common") {
			label := fmt.Sprintf("common %d", i)
			k, v := keys.Draw(rt, "key "+label), rapid.SampledFrom([]string{"x", "y"}).Draw(rt, "value "+label)
			for _, m := range ms {
				m.At(k).Set(v)
			}
		}
		for h, m := range ms {
			for i := range rapid.IntRange(1, 4).Draw(rt, fmt.Sprintf("steps %d", h)) {
				step(m, fmt.Sprintf("%d.%d", h, i))
			}
		}
		if !ms[0].Version().Equal(ms[1].Version()) {
			return
		}
		if ms[0].Fingerprint() != ms[1].Fingerprint() || ms[0].ContentFingerprint() != ms[1].ContentFingerprint() {
			return
		}
		read := func(m *Map[string, *Register[string]]) map[string]string {
			out := map[string]string{}
			for k, r := range m.All() {
				out[k] = fmt.Sprint(r.Values())
			}
			return out
		}
		for _, after := range []int64{0, 2, 200} {
			now = start + after*int64(time.Hour)
			if r0, r1 := read(ms[0]), read(ms[1]); !maps.Equal(r0, r1) {
				rt.Fatalf("at one version %v and one (content) fingerprint, %dh on the maps read %v and %v", ms[0].Version(), after, r0, r1)
			}
		}
	})
}
