package orset

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// scanned returns a copy of s decoded from its state: it has not built the
// index DeltaSince uses, so its first DeltaSince scans every element, as
// DeltaSince did before the index. It is the reference the indexed
// DeltaSince is held to.
func scanned(t tb, s *Set[string]) *Set[string] {
	t.Helper()
	c := New[string](s.ID())
	if err := c.UnmarshalBinary(mustMarshal(t, s)); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkDelta checks s.DeltaSince(v) against a scan of a fresh copy, byte
// for byte, and against a filter of s's elements, dots and records
// written here from their definition.
func checkDelta(t *rapid.T, s *Set[string], v vclock.Clock) {
	t.Helper()
	before := mustMarshal(t, s)
	d := s.DeltaSince(v)
	got := mustMarshal(t, d)
	if want := mustMarshal(t, scanned(t, s).DeltaSince(v)); !slices.Equal(got, want) {
		t.Fatalf("DeltaSince(%v) of %s:\n got %s\nwant %s (scan)", v, dump(s), dump(d), dump(scanned(t, s).DeltaSince(v)))
	}
	if !slices.Equal(mustMarshal(t, s), before) {
		t.Fatalf("DeltaSince changed the set")
	}
	if !s.k.Horizon().LessOrEqual(v) {
		if !slices.Equal(got, before) {
			t.Fatalf("DeltaSince(%v) below the horizon %v is not a full copy", v, s.k.Horizon())
		}
		return
	}
	// The elements with dots v has not seen, with just those dots.
	want := map[string][]vclock.Dot{}
	for e := range s.All() {
		for _, x := range s.k.Dots(e) {
			if !v.Contains(x) {
				want[e] = append(want[e], x)
			}
		}
	}
	have := map[string][]vclock.Dot{}
	for e := range d.All() {
		have[e] = d.k.Dots(e)
	}
	for _, m := range []map[string][]vclock.Dot{want, have} {
		for _, ds := range m {
			slices.SortFunc(ds, vclock.Dot.Compare)
		}
	}
	if !maps.EqualFunc(have, want, slices.Equal) {
		t.Fatalf("DeltaSince(%v) holds %v, want %v", v, have, want)
	}
	// The records v has not seen, in order.
	var wantRecs, haveRecs []string
	for _, r := range s.k.Records() {
		if !v.Contains(r.Dot) {
			wantRecs = append(wantRecs, fmt.Sprint(r))
		}
	}
	for _, r := range d.k.Records() {
		haveRecs = append(haveRecs, fmt.Sprint(r))
	}
	if !slices.Equal(haveRecs, wantRecs) {
		t.Fatalf("DeltaSince(%v) records %v, want %v", v, haveRecs, wantRecs)
	}
}

// drawVersion returns a version between nothing and a little past what
// s has seen, at or above s's horizon three times in four.
func drawVersion(t *rapid.T, w *world, s *Set[string], label string) vclock.Clock {
	var v vclock.Clock
	top := s.k.Context().Version()
	for _, o := range w.sets {
		id := o.ID()
		v.Set(id, uint64(rapid.IntRange(0, int(top.Get(id))+2).Draw(t, label+string(id))))
	}
	if rapid.IntRange(0, 3).Draw(t, label+"above") > 0 {
		v.Merge(s.k.Horizon())
	}
	return v
}

// TestDeltaSinceMatchesScan plays replicas through every way a set
// changes (adds, removes, ops delivered late, twice or never, merges of
// states and of deltas for any version, collection, copies, decoding) and
// checks, as it goes, that DeltaSince gives what a scan of every element
// gives, for the versions of every replica and versions drawn at random.
func TestDeltaSinceMatchesScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(t, 2, 3)
		for range rapid.IntRange(0, 80).Draw(t, "steps") {
			i := rapid.IntRange(0, len(w.sets)-1).Draw(t, "at")
			s := w.sets[i]
			switch rapid.IntRange(0, 7).Draw(t, "extra") {
			case 0:
				// A copy, then a change to each.
				c := s.Clone()
				e := rapid.SampledFrom(elems).Draw(t, "elem")
				op := s.Add(e)
				w.ops = append(w.ops, op)
				w.broadcast(t, i, op, w.m.add(i, e))
				c.Remove(rapid.SampledFrom(elems).Draw(t, "elem"))
				checkDelta(t, c, drawVersion(t, w, c, "copy"))
			case 1:
				w.sets[i] = scanned(t, s) // restored from its own state
			case 2:
				s.DeltaSince(drawVersion(t, w, s, "ask")) // builds or lowers the index
			case 3:
				// Ops in any order, as values.
				if len(w.ops) > 0 {
					if err := s.Apply(rapid.SampledFrom(w.ops).Draw(t, "op")); err != nil {
						t.Fatal(err)
					}
				}
			case 4:
				// A delta for a version older than the receiver's, merged
				// as a value.
				j := rapid.IntRange(0, len(w.sets)-1).Draw(t, "from")
				v := drawVersion(t, w, s, "delta")
				v.Meet(s.Version())
				s.Merge(w.sets[j].DeltaSince(v))
				w.m.learn(i, maps.Clone(w.m.seen[j]))
			default:
				w.step(t)
			}
			if rapid.IntRange(0, 2).Draw(t, "check") == 0 {
				s := w.sets[i]
				checkDelta(t, s, drawVersion(t, w, s, "check"))
			}
		}
		for _, s := range w.sets {
			for _, o := range w.sets {
				checkDelta(t, s, o.Version())
			}
			checkDelta(t, s, vclock.Clock{})
			checkDelta(t, s, drawVersion(t, w, s, "last"))
		}
	})
}

// TestDeltaSinceConcurrentReaders asks for deltas from several goroutines
// at once, as readers holding a shared lock may; run with -race.
func TestDeltaSinceConcurrentReaders(t *testing.T) {
	s := New[string]("a")
	for i := range 1000 {
		s.Add(fmt.Sprint(i))
		if i%3 == 0 {
			s.Remove(fmt.Sprint(i / 2))
		}
	}
	versions := make([]vclock.Clock, 6)
	want := make([][]byte, len(versions))
	for i := range versions {
		versions[i].Set("a", uint64(1300-50*i))
		want[i] = mustMarshal(t, scanned(t, s).DeltaSince(versions[i]))
	}
	got := make([][]byte, len(versions))
	var wg sync.WaitGroup
	for i := range versions {
		wg.Go(func() {
			got[i], _ = s.DeltaSince(versions[i]).MarshalBinary()
			s.Clone()
		})
	}
	wg.Wait()
	for i := range versions {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("DeltaSince(%v) differs from the scan", versions[i])
		}
	}
}
