package crdt_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// BenchmarkMetadataAfterRestarts measures what restarts cost in metadata:
// a 100,000-element set written by 3 replicas, once by 3 writers (no
// restart) and once by 3,000 (each replica restarted 1,000 times, every run
// writing under a writer of its own, as the engine makes them), adding its
// share of the elements and removing a few. It reports the encoded state
// and version sizes (a digest carries the version), and the same once the
// finished runs' writers are retired as the engine retires them.
func BenchmarkMetadataAfterRestarts(b *testing.B) {
	const elements = 100_000
	for _, c := range []struct {
		name     string
		runs     int  // per replica
		restarts bool // each run under a writer of its own
		retired  bool
	}{
		{"restarts=0", 1, false, false},
		{"restarts=0/same-writes", 1001, false, false},
		{"restarts=1000", 1001, true, false},
		{"restarts=1000/retired", 1001, true, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			var state, version int
			for b.Loop() {
				s := buildAfterRestarts(b, elements, c.runs, c.restarts)
				if c.retired {
					retireFinished(b, s)
				}
				st, err := s.MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				v, err := s.Version().MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				state, version = len(st), len(v)
			}
			b.ReportMetric(float64(state), "state-bytes")
			b.ReportMetric(float64(version), "version-bytes")
		})
	}
}

// buildAfterRestarts returns the set that 3 replicas, each run runs times,
// hold once every run's writes have reached it: each run adds its share of
// the elements, then removes its last one and adds it again. With restarts,
// each run writes under a writer of its own, as the engine makes them;
// without, a replica's runs go on under its bare name (the same writes,
// for comparison).
func buildAfterRestarts(tb testing.TB, elements, runsPer int, restarts bool) *orset.Set[string] {
	names := []vclock.ReplicaID{"us-east-1", "eu-west-1", "ap-south-1"}
	runs := len(names) * runsPer
	all := orset.New[string]("observer")
	sets := map[vclock.ReplicaID]*orset.Set[string]{}
	next := 0
	for run := range runs {
		w := names[run%len(names)]
		if restarts {
			w = vclock.Writer(w, uint64(run+1)*0x9e3779b97f4a7c15) // never epoch 0, the retired writer
		}
		s := sets[w]
		if s == nil {
			s = orset.New[string](w)
			sets[w] = s
		}
		share := elements / runs
		if run < elements%runs {
			share++
		}
		for range share {
			s.Add(fmt.Sprintf("key-%06d", next))
			next++
		}
		if share > 1 {
			s.Remove(fmt.Sprintf("key-%06d", next-1)) // a remove, and an add again
			s.Add(fmt.Sprintf("key-%06d", next-1))
		}
		all.Merge(s)
	}
	if all.Len() != elements {
		tb.Fatalf("built %d elements, want %d", all.Len(), elements)
	}
	return all
}

// retireFinished retires, in run order, every writer of s but the last
// run's of each replica name, as the engine's agreed ledger would: each
// writer's dots go to its name's retired writer, after those of the
// writers retired before it.
func retireFinished(tb testing.TB, s *orset.Set[string]) {
	v := s.Version()
	byName := map[vclock.ReplicaID][]vclock.ReplicaID{}
	for w := range v.All() {
		if _, ok := w.Epoch(); ok {
			byName[w.Name()] = append(byName[w.Name()], w)
		}
	}
	for name, ws := range byName {
		slices.SortFunc(ws, func(a, b vclock.ReplicaID) int {
			ea, _ := a.Epoch()
			eb, _ := b.Epoch()
			return cmp.Compare(ea, eb)
		})
		var base uint64
		for _, w := range ws[:len(ws)-1] { // the last run is live
			final := v.Get(w)
			r := vclock.Retirement{From: w, To: vclock.Retired(name), Base: base, Final: final}
			if err := s.Retire(r); err != nil {
				tb.Fatal(err)
			}
			base += final
		}
	}
}
