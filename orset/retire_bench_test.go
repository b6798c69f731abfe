package orset

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// retireBenchSet returns a set of n elements, each added by a!1, and the
// retirement of a!1.
func retireBenchSet(n int) (*Set[string], vclock.Retirement) {
	s := New[string](wA1)
	for i := range n {
		s.Add(fmt.Sprintf("element-%06d", i))
	}
	s.SetWriter(wA2)
	return s, vclock.Retirement{From: wA1, To: retiredA, Final: uint64(n)}
}

// BenchmarkRetire retires the writer of every element of a 100,000
// element set (the clone each iteration retires is made outside the
// timer).
func BenchmarkRetire(b *testing.B) {
	s, r := retireBenchSet(100_000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := s.Clone()
		b.StartTimer()
		if err := c.Retire(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRetireFloor is the floor Retire is measured against: one pass
// over a plain Go map of the same 100,000 elements, rewriting each one's
// value (a packed dot) in place.
func BenchmarkRetireFloor(b *testing.B) {
	m := make(map[string]uint64, 100_000)
	for i := range 100_000 {
		m[fmt.Sprintf("element-%06d", i)] = uint64(i+1) << 16
	}
	b.ReportAllocs()
	for b.Loop() {
		for k, v := range m {
			m[k] = v ^ 2
		}
	}
}

// restartedSet returns a set of n elements written by the replicas a, b
// and c in runs of runs writers each (epochs 1 to runs), the elements
// shared out evenly, and the retirements of every run but the last, in
// order.
func restartedSet(n, runs int) (*Set[string], []vclock.Retirement) {
	names := []vclock.ReplicaID{"a", "b", "c"}
	s := New[string](vclock.Writer(names[0], 1))
	per := max(1, n/(len(names)*runs))
	var rs []vclock.Retirement
	base := map[vclock.ReplicaID]uint64{}
	i := 0
	for epoch := 1; epoch <= runs; epoch++ {
		for _, name := range names {
			w := vclock.Writer(name, uint64(epoch))
			s.SetWriter(w)
			for range per {
				if i < n {
					s.Add(fmt.Sprintf("element-%06d", i))
					i++
				}
			}
			if epoch == runs {
				continue
			}
			final := s.Version().Get(w)
			rs = append(rs, vclock.Retirement{From: w, To: vclock.Retired(name), Base: base[name], Final: final})
			base[name] += final
		}
	}
	for ; i < n; i++ { // what the even share left over, by the last writer
		s.Add(fmt.Sprintf("element-%06d", i))
	}
	return s, rs
}

// BenchmarkRetiredSize measures, for a 100,000 element set written over
// 1,000 runs of each of 3 replicas, the bytes of its state and version
// before and after every finished run is retired, against the same set
// written by 3 writers alone. Run it with -benchtime=1x: an iteration
// retires 2,997 writers, each a pass over the set.
func BenchmarkRetiredSize(b *testing.B) {
	const n, runs = 100_000, 1000
	size := func(s *Set[string]) (state, version float64) {
		st, err := s.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		v, err := s.VersionBinary()
		if err != nil {
			b.Fatal(err)
		}
		return float64(len(st)), float64(len(v))
	}
	plain, _ := restartedSet(n, 1)
	plainState, plainVersion := size(plain)
	for b.Loop() {
		b.StopTimer()
		s, rs := restartedSet(n, runs)
		beforeState, beforeVersion := size(s)
		b.StartTimer()
		for _, r := range rs {
			if err := s.Retire(r); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		afterState, afterVersion := size(s)
		b.ReportMetric(beforeState/plainState, "state-before/plain")
		b.ReportMetric(afterState/plainState, "state-after/plain")
		b.ReportMetric(beforeVersion, "version-B-before")
		b.ReportMetric(afterVersion, "version-B-after")
		b.ReportMetric(plainVersion, "version-B-plain")
		b.ReportMetric(afterState, "state-B-after")
		b.ReportMetric(plainState, "state-B-plain")
		b.StartTimer()
	}
}
