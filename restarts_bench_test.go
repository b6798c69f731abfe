package crdt_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// BenchmarkMetadataAfterRestarts measures what restarts cost in metadata:
// a 100,000-element set written by 3 replicas, once by 3 writers (no
// restart) and once by 3,000 (each replica restarted 1,000 times, every run
// writing under a writer of its own, as the engine makes them), adding its
// share of the elements and removing a few. It reports the encoded state
// and version sizes; a digest carries the version.
func BenchmarkMetadataAfterRestarts(b *testing.B) {
	const elements = 100_000
	for _, restarts := range []int{0, 1000} {
		b.Run(fmt.Sprintf("restarts=%d", restarts), func(b *testing.B) {
			var state, version int
			for b.Loop() {
				s := buildAfterRestarts(b, elements, restarts)
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

// buildAfterRestarts returns the set that 3 replicas, each restarted
// restarts times, hold once every run's writes have reached it.
func buildAfterRestarts(tb testing.TB, elements, restarts int) *orset.Set[string] {
	names := []vclock.ReplicaID{"us-east-1", "eu-west-1", "ap-south-1"}
	runs := len(names) * (restarts + 1)
	all := orset.New[string]("observer")
	next := 0
	for run := range runs {
		w := names[run%len(names)]
		if restarts > 0 {
			w = vclock.Writer(w, uint64(run)*0x9e3779b97f4a7c15)
		}
		s := orset.New[string](w)
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
