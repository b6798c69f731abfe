package orset

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// concurrentFixture returns a set whose elements are mostly supported by
// several dots (adds made concurrently at three replicas), with removes
// and re-adds, so that every reader walks multi-dot elements.
func concurrentFixture(t *testing.T) *Set[string] {
	a, b, c := New[string]("a"), New[string]("b"), New[string]("c")
	for i := range 300 {
		e := fmt.Sprint(i)
		for _, s := range []*Set[string]{a, b, c} {
			s.Add(e)
		}
		if i%5 == 0 {
			b.Remove(e)
		}
	}
	a.Merge(b)
	a.Merge(c)
	for i := range 50 {
		a.Add(fmt.Sprint(i * 3))
	}
	return a
}

// TestRegressionConcurrentReadersRace runs every read-only method of a Set
// from several goroutines at once, the set also being the argument of
// other sets' Merge. Readers used to cut dot slices from a scratch block
// the kernel shares, so they raced (run with -race) and could hand each
// other's dots out. Each reader's result is compared with the result of
// the same call made alone.
func TestRegressionConcurrentReadersRace(t *testing.T) {
	s := concurrentFixture(t)
	other := concurrentFixture(t)
	versions := []vclock.Clock{{}, s.Version()}
	versions[0].Set("a", 100)
	versions[0].Set("c", 200)
	wantDelta := make([][]byte, len(versions))
	for i, v := range versions {
		wantDelta[i] = mustMarshal(t, s.DeltaSince(v))
	}
	wantState := mustMarshal(t, s)
	wantMerged := mustMarshal(t, merged(New[string]("z"), s))
	wantElems := sorted(s)

	const readers = 8
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for g := range readers {
		wg.Go(func() {
			fail := func(format string, args ...any) {
				if errs[g] == nil {
					errs[g] = fmt.Errorf(format, args...)
				}
			}
			for round := range 20 {
				v := versions[(g+round)%len(versions)]
				if got, _ := s.DeltaSince(v).MarshalBinary(); !slices.Equal(got, wantDelta[(g+round)%len(versions)]) {
					fail("DeltaSince(%v) differs", v)
				}
				if !s.Equal(other) || !other.Equal(s) {
					fail("Equal is false for sets built alike")
				}
				if got, _ := s.MarshalBinary(); !slices.Equal(got, wantState) {
					fail("MarshalBinary differs")
				}
				if !s.Clone().Equal(s) {
					fail("Clone differs")
				}
				m := New[string]("z")
				m.Merge(s)
				if got, _ := m.MarshalBinary(); !slices.Equal(got, wantMerged) {
					fail("Merge of the shared set differs")
				}
				if !s.Contains("1") || s.Len() != len(wantElems) || s.Version().IsZero() {
					fail("Contains, Len or Version wrong")
				}
				if got := slices.Sorted(s.All()); !slices.Equal(got, wantElems) {
					fail("All differs")
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
