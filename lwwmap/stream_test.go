package lwwmap

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
)

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// sortedEncoding encodes m by sorting its entries (marshalSorted), the
// route MarshalBinary takes only for sparse entries: the two must agree.
func sortedEncoding(t tb, m *Map[string, string]) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindMap, 0)
	m.ctx.Encode(w)
	b, err := m.marshalSorted(w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkStreamed(t tb, m *Map[string, string], wantPlaced bool) {
	t.Helper()
	if _, placed := m.planEntries(); placed != wantPlaced {
		t.Fatalf("entries placed through the bitmap: %v, want %v", placed, wantPlaced)
	}
	got, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if want := sortedEncoding(t, m); !bytes.Equal(got, want) {
		t.Fatalf("MarshalBinary wrote %d bytes, the sorted encoding %d", len(got), len(want))
	}
	var back Map[string, string]
	if err := back.UnmarshalBinary(got); err != nil || !back.Equal(m) {
		t.Fatalf("round trip: %v", err)
	}
}

// threeWriters returns a map of n keys written by three writers in turn,
// then every key overwritten `over` times by the first (every 7th deleted
// instead on its first overwrite).
func threeWriters(n, over int) *Map[string, string] {
	ft := &fakeTime{now: start}
	a := New[string, string]("us-east-1", clock.New(clock.WithSource(ft.source(0))))
	b := New[string, string]("eu-west-1", clock.New(clock.WithSource(ft.source(0))))
	c := New[string, string]("ap-south-1", clock.New(clock.WithSource(ft.source(0))))
	for i := range n {
		k := fmt.Sprintf("key-%06d", i)
		switch i % 3 {
		case 0:
			a.Put(k, "a")
		case 1:
			b.Put(k, "b")
		default:
			c.Put(k, "c")
		}
		ft.now += 1000
	}
	a.Merge(b)
	a.Merge(c)
	for r := range over {
		for i := 0; i < n; i += 7 {
			a.Put(fmt.Sprintf("key-%06d", i), "again")
			if r == 0 {
				a.Delete(fmt.Sprintf("key-%06d", i+3))
			}
			ft.now += 1000
		}
	}
	return a
}

// windows returns the number of windows of places MarshalBinary takes
// for the plan p.
func windows(p *entryPlan) int {
	win := p.window()
	return (p.places + win - 1) / win
}

// TestMarshalPlacesEntriesByDot: three writers, overwrites, deletes and
// 6,000 keys, whose slot numbers are placed at their dots (fewer than two
// dots per entry), in several windows of places.
func TestMarshalPlacesEntriesByDot(t *testing.T) {
	a := threeWriters(6000, 1)
	p, _ := a.planEntries()
	if p.byRank || p.places < a.m.Len() || windows(&p) < 2 {
		t.Fatalf("placed by rank: %v, %d places for %d entries, %d windows", p.byRank, p.places, a.m.Len(), windows(&p))
	}
	checkStreamed(t, a, true)
}

// TestMarshalPlacesEntriesByRank: the same with every seventh key
// overwritten 20 times, about four dots per entry: the slot numbers are
// placed by their ranks among the dots, in several windows too.
func TestMarshalPlacesEntriesByRank(t *testing.T) {
	a := threeWriters(6000, 20)
	p, _ := a.planEntries()
	if !p.byRank || p.places != a.m.Len() || windows(&p) < 2 {
		t.Fatalf("placed by rank: %v, %d places for %d entries, %d windows", p.byRank, p.places, a.m.Len(), windows(&p))
	}
	checkStreamed(t, a, true)
}

// TestMarshalStreamsInSmallWindows compares the routes on random states
// with windows of a few places, so that entries of one writer, and the
// holes between them, straddle windows.
func TestMarshalStreamsInSmallWindows(t *testing.T) {
	oldShare, oldMin, oldMax := placeShare, placeMin, maxWindows
	placeShare, placeMin, maxWindows = 1<<30, 3, 1<<30
	t.Cleanup(func() { placeShare, placeMin, maxWindows = oldShare, oldMin, oldMax })
	TestMarshalStreamsRandomStates(t)
}

// TestMarshalSortsSparseEntries: a key written over and over leaves one
// entry among thousands of dots.
func TestMarshalSortsSparseEntries(t *testing.T) {
	ft := &fakeTime{now: start}
	a := New[string, string]("us-east-1", clock.New(clock.WithSource(ft.source(0))))
	for i := range 5000 {
		a.Put(fmt.Sprintf("key-%d", i%40), "v")
		ft.now += 1000
	}
	checkStreamed(t, a, false)
}

// TestMarshalStreamsRandomStates compares the two routes on the states of
// random histories.
func TestMarshalStreamsRandomStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ft := &fakeTime{now: start}
		ms := []*Map[string, string]{
			New[string, string]("a", clock.New(clock.WithSource(ft.source(0)))),
			New[string, string]("b", clock.New(clock.WithSource(ft.source(0)))),
		}
		for range rapid.IntRange(0, 200).Draw(t, "ops") {
			m := ms[rapid.IntRange(0, 1).Draw(t, "replica")]
			k := fmt.Sprintf("k%d", rapid.IntRange(0, 30).Draw(t, "key"))
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				m.Delete(k)
			case 1:
				ms[0].Merge(ms[1])
			default:
				m.Put(k, k)
			}
			ft.now += rapid.Int64Range(1, 1e9).Draw(t, "step")
		}
		for _, m := range ms {
			_, placed := m.planEntries()
			checkStreamed(t, m, placed)
		}
	})
}

// TestMarshalAllocatesAboutItsOutput: the encoder allocates its buffer
// once, within a few percent of the output, and an array of 4 bytes per
// place of a window, a tenth of the output at most: about 1.15 times the
// output. The bound, 1.25, leaves room for the allocator's rounding;
// copying the entries, as the encoder once did, or a bound below the
// output (which makes the buffer grow by copying) allocates twice the
// output or more.
func TestMarshalAllocatesAboutItsOutput(t *testing.T) {
	if costcheck.Race {
		t.Skip("the race detector allocates for its own bookkeeping")
	}
	for _, over := range []int{1, 20} {
		a := threeWriters(20000, over)
		var out []byte
		var err error
		got := costcheck.Allocated(func() { out, err = a.MarshalBinary() })
		if err != nil {
			t.Fatal(err)
		}
		if limit := uint64(len(out)) * 125 / 100; got > limit {
			t.Fatalf("overwritten %d times: encoding %d bytes allocated %d, more than %d", over, len(out), got, limit)
		}
	}
}
