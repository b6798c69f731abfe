package lwwmap

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// deltaSinceScan is DeltaSince as it was before the index: a scan of the
// whole map. The tests hold the indexed DeltaSince to it.
func deltaSinceScan[K comparable, V any](m *Map[K, V], v vclock.Clock) *Map[K, V] {
	d := &Map[K, V]{clk: m.clk, ctx: m.ctx.Since(v)}
	if d.ctx.IsEmpty() {
		return d
	}
	d.reps = slices.Clone(m.reps)
	d.repIdx = maps.Clone(m.repIdx)
	seen := make([]uint64, len(m.reps))
	for i, id := range m.reps {
		seen[i] = v.Get(id)
	}
	for k, e := range entries(m) {
		if e.seq <= seen[e.writer()] {
			continue
		}
		d.m.Put(k, e)
		if e.deleted() {
			d.nDel++
		}
		if ts := e.ts(); ts.After(d.maxTS) {
			d.maxTS = ts
		}
	}
	return d
}

// checkIndex checks that m's index covers m: a map with entries has an
// index, and an index that is built references the dot of every entry
// above its writer's floor.
func checkIndex[K comparable, V any](t interface {
	Helper()
	Fatalf(string, ...any)
}, m *Map[K, V]) {
	t.Helper()
	if m.m.Len() > 0 && m.ix == nil {
		t.Fatalf("a map of %d entries without an index", m.m.Len())
	}
	for k, e := range entries(m) {
		if !m.ix.Covers(e.writer(), e.seq, k) {
			t.Fatalf("the index misses the entry %v of %v", m.dot(&e), k)
		}
	}
	if stale, counted := m.ix.StaleCount(m.holds); counted < stale {
		t.Fatalf("the index counts %d stale references, holds %d", counted, stale)
	}
	checkBases(t, m)
}

// checkDelta checks m.DeltaSince(v) against the scan: the same entries,
// counts, latest timestamp and bytes, and m unchanged.
func checkDelta(t *rapid.T, m *Map[string, int], v vclock.Clock) {
	t.Helper()
	before, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	checkWhole(t, m, v)
	got, want := m.deltaSince(v), deltaSinceScan(m, v)
	if !got.Equal(want) || got.nDel != want.nDel || got.maxTS != want.maxTS || got.clk != want.clk ||
		!slices.Equal(got.reps, want.reps) || !maps.Equal(entries(got), entries(want)) {
		t.Fatalf("DeltaSince(%v) = %v (%d markers, latest %v), scan %v (%d markers, latest %v)",
			v, entries(got), got.nDel, got.maxTS, entries(want), want.nDel, want.maxTS)
	}
	gb, err := got.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	wb, err := want.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gb, wb) {
		t.Fatalf("DeltaSince(%v) encodes as %x, the scan's as %x", v, gb, wb)
	}
	if after, _ := m.MarshalBinary(); !slices.Equal(after, before) {
		t.Fatalf("DeltaSince changed the map")
	}
	checkIndex(t, m)
	checkIndex(t, got)
}

// checkWhole checks that m.DeltaSince(v) is m.deltaSince(v) if v has seen
// every write m has collected, and m's whole state if not.
func checkWhole(t *rapid.T, m *Map[string, int], v vclock.Clock) {
	t.Helper()
	var want []byte
	var err error
	if m.gone.LessOrEqual(v) {
		want, err = m.deltaSince(v).MarshalBinary()
	} else {
		want, err = m.MarshalBinary()
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.DeltaSince(v).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("DeltaSince(%v) with %v collected encodes as %x, want %x", v, m.gone, got, want)
	}
}

// drawVersion returns a version between nothing and a little past what m
// has seen, for each replica of the simulation.
func (s *sim) drawVersion(m *Map[string, int], label string) vclock.Clock {
	var v vclock.Clock
	top := m.ctx.Version()
	for _, r := range s.reps {
		id := r.ID()
		v.Set(id, uint64(rapid.IntRange(0, int(top.Get(id))+2).Draw(s.t, label+string(id))))
	}
	return v
}

// TestDeltaSinceMatchesScan plays replicas through every way a map
// changes (puts, deletes, ops late, twice or never, merges of states and
// deltas, as values and as bytes, both kinds of collection, copies,
// decoding) and checks, as it goes, that DeltaSince gives what a scan of
// the whole map gives, for versions the replicas had and versions drawn
// at random.
func TestDeltaSinceMatchesScan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, true)
		for range rapid.IntRange(0, 120).Draw(t, "steps") {
			i := rapid.IntRange(0, len(s.reps)-1).Draw(t, "at")
			m := s.reps[i]
			switch rapid.IntRange(0, 7).Draw(t, "extra") {
			case 0:
				// A copy, then a write to each.
				c := m.Clone()
				s.next++
				s.record(i, m.Put(rapid.SampledFrom(keys).Draw(t, "key"), s.next))
				c.Put("z", -1)
				checkIndex(t, c)
				checkDelta(t, c, s.drawVersion(c, "copy"))
			case 1:
				// Restored from its own state.
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if err := m.UnmarshalBinary(b); err != nil {
					t.Fatal(err)
				}
			case 2:
				m.DeltaSince(s.drawVersion(m, "ask")) // builds or lowers the index
			case 4:
				// A burst of writes to a few keys, enough to leave the index
				// with stale references to compact.
				for range rapid.IntRange(60, 150).Draw(t, "burst") {
					k := rapid.SampledFrom(keys[:2]).Draw(t, "burstKey")
					if rapid.IntRange(0, 9).Draw(t, "burstDelete") == 0 {
						s.record(i, m.Delete(k))
					} else {
						s.next++
						s.record(i, m.Put(k, s.next))
					}
				}
			case 3:
				// Markers collected by the latest versions of the others,
				// which raises the index's floors.
				var peers []vclock.Clock
				for j, r := range s.reps {
					if j != i {
						peers = append(peers, r.Version())
					}
				}
				m.CollectVersions(peers)
			default:
				s.step()
			}
			for _, m := range s.reps {
				checkIndex(t, m)
			}
			if rapid.IntRange(0, 2).Draw(t, "check") == 0 {
				m := s.reps[i]
				checkDelta(t, m, s.drawVersion(m, "check"))
			}
		}
		for _, m := range s.reps {
			for _, o := range s.reps {
				checkDelta(t, m, o.Version())
			}
			checkDelta(t, m, vclock.Clock{})
			checkDelta(t, m, s.drawVersion(m, "last"))
		}
	})
}

// TestIndexStaysSmall overwrites a few keys many times with the index
// built: stale references are compacted away, and collecting by versions
// drops those every peer has seen.
func TestIndexStaysSmall(t *testing.T) {
	m := New[string, int]("a", clock.New())
	m.Put("k0", 0)
	v0 := vclock.Clock{}
	m.DeltaSince(v0) // builds the index
	for i := range 20_000 {
		k := fmt.Sprintf("k%d", i%10)
		if i%9 == 0 {
			m.Delete(k)
		} else {
			m.Put(k, i)
		}
	}
	checkIndex(t, m)
	if n := m.ix.Refs(); n > 500 {
		t.Fatalf("%d references for %d entries", n, m.m.Len())
	}
	if got, want := m.deltaSince(v0), deltaSinceScan(m, v0); !got.Equal(want) {
		t.Fatalf("DeltaSince: %v, scan %v", entries(got), entries(want))
	}
	m.CollectVersions([]vclock.Clock{m.Version()})
	checkIndex(t, m)
	if n := m.ix.Refs(); n != 0 {
		t.Fatalf("%d references after every peer has seen everything", n)
	}
	// Writes after that are indexed, and a delta for the collected
	// version comes from the index.
	collected := m.Version()
	for i := range 5 {
		m.Put(fmt.Sprintf("k%d", i), -i)
	}
	if n := m.ix.Refs(); n != 5 {
		t.Fatalf("%d references after 5 writes", n)
	}
	if got, want := m.DeltaSince(collected), deltaSinceScan(m, collected); !got.Equal(want) || got.m.Len() != 5 {
		t.Fatalf("DeltaSince above the floor: %v, scan %v", entries(got), entries(want))
	}
	if n := m.ix.Refs(); n != 5 {
		t.Fatalf("%d references after a delta above the floor", n)
	}
	v := vclock.Clock{}
	v.Set("a", m.Version().Get("a")-30)
	if got, want := m.deltaSince(v), deltaSinceScan(m, v); !got.Equal(want) || got.m.Len() == 0 {
		t.Fatalf("DeltaSince below the floor: %v, scan %v", entries(got), entries(want))
	}
	checkIndex(t, m)
	if m.ix.Refs() == 0 {
		t.Fatal("a scan below the floor indexed nothing")
	}
}

// TestIndexStaysSmallPutsOnly overwrites a few keys many times, with no
// delete marker (the path that looks up no old entry unless the index is
// built): the stale references are counted and compacted as they come.
func TestIndexStaysSmallPutsOnly(t *testing.T) {
	m := New[string, int]("a", clock.New())
	m.Put("k0", 0)
	m.DeltaSince(vclock.Clock{}) // builds the index
	most := 0
	for i := range 5_000 {
		m.Put(fmt.Sprintf("k%d", i%10), i)
		most = max(most, m.ix.Refs())
	}
	checkIndex(t, m)
	// Compaction comes once the stale references outnumber the live ones
	// by the slack of 64.
	if most > 2*m.m.Len()+64+1 {
		t.Fatalf("%d references at most for %d entries", most, m.m.Len())
	}
}

// TestDeltaSinceToleratesRepeatedReferences hands the index a reference
// twice, as a merge of histories that disagree could: the delta still
// holds the entry once.
func TestDeltaSinceToleratesRepeatedReferences(t *testing.T) {
	m := New[string, int]("a", clock.New())
	m.Put("x", 1)
	m.DeltaSince(vclock.Clock{}) // builds the index
	m.Delete("x")
	m.Put("y", 2)
	e := entryOf(m, "x")
	m.ix.Add(e.writer(), e.seq, "x")
	got, want := m.DeltaSince(vclock.Clock{}), deltaSinceScan(m, vclock.Clock{})
	if !got.Equal(want) || got.nDel != 1 || got.Len() != 1 {
		t.Fatalf("DeltaSince: %v with %d markers, scan %v", entries(got), got.nDel, entries(want))
	}
}

// TestMergeDropsIndexedEntry merges into a map with its index built a
// state that has overwritten one of its entries with a marker since
// collected: the entry leaves the map, and the index counts its reference
// as stale.
func TestMergeDropsIndexedEntry(t *testing.T) {
	clk := clock.New()
	m := New[string, int]("a", clk)
	m.Put("k", 1)
	m.Put("j", 2)
	o := New[string, int]("b", clk)
	o.Merge(m)
	o.Delete("k")
	if n := o.Collect(clk.Now()); n != 1 {
		t.Fatalf("collected %d markers", n)
	}
	m.DeltaSince(vclock.Clock{}) // builds the index
	m.Merge(o)
	if _, ok := m.Get("k"); ok || m.m.Len() != 1 {
		t.Fatalf("after the merge: %v", entries(m))
	}
	checkIndex(t, m)
	if got, want := m.DeltaSince(vclock.Clock{}), deltaSinceScan(m, vclock.Clock{}); !got.Equal(want) {
		t.Fatalf("DeltaSince: %v, scan %v", entries(got), entries(want))
	}
}

// TestIndexOutOfOrder applies a replica's writes in reverse order to a map
// whose index is built, then checks the delta for every version.
func TestIndexOutOfOrder(t *testing.T) {
	src := New[string, int]("a", clock.New())
	var ops []Op[string, int]
	for i := range 300 {
		ops = append(ops, src.Put(fmt.Sprintf("k%03d", i%200), i))
	}
	m := New[string, int]("b", clock.New())
	m.Put("x", 0)
	m.DeltaSince(vclock.Clock{})
	for i := len(ops) - 1; i >= 0; i-- {
		if err := m.Apply(ops[i]); err != nil {
			t.Fatal(err)
		}
	}
	checkIndex(t, m)
	for n := range uint64(301) {
		v := vclock.Clock{}
		v.Set("a", n)
		v.Set("b", 1)
		if got, want := m.DeltaSince(v), deltaSinceScan(m, v); !got.Equal(want) {
			t.Fatalf("DeltaSince(%v): %v, scan %v", v, entries(got), entries(want))
		}
	}
}

// TestDeltaSinceConcurrentReaders asks for deltas from several goroutines
// at once, as readers holding a shared lock may; run with -race.
func TestDeltaSinceConcurrentReaders(t *testing.T) {
	m := New[string, int]("a", clock.New())
	for i := range 2000 {
		m.Put(fmt.Sprint(i%1500), i)
	}
	versions := make([]vclock.Clock, 6)
	want := make([]*Map[string, int], len(versions))
	for i := range versions {
		versions[i].Set("a", uint64(1900-100*i))
		want[i] = deltaSinceScan(m, versions[i])
	}
	got := make([]*Map[string, int], len(versions))
	var wg sync.WaitGroup
	for i := range versions {
		wg.Go(func() {
			got[i] = m.DeltaSince(versions[i])
			m.Clone()
		})
	}
	wg.Wait()
	for i := range versions {
		if !got[i].Equal(want[i]) {
			t.Fatalf("DeltaSince(%v) differs from the scan", versions[i])
		}
	}
}

// TestDecodedMapHasIndex checks that a map restored from bytes builds an
// index on its first DeltaSince, rather than scanning every time.
func TestDecodedMapHasIndex(t *testing.T) {
	src := New[string, int]("a", clock.New())
	for i := range 100 {
		src.Put(fmt.Sprint(i), i)
	}
	b, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m Map[string, int]
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	v := vclock.Clock{}
	v.Set("a", 90)
	m.DeltaSince(v)
	if !m.ix.Active() || m.ix.Refs() != 10 {
		t.Fatalf("after a delta for %v: index built %v with %d references", v, m.ix.Active(), m.ix.Refs())
	}
}
