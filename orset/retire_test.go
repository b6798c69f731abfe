package orset

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// The writers of the retirement tests: two runs of replica a (which may
// overlap, as two processes under one name would), retired into a!0, and
// one run of b.
var (
	wA1      = vclock.Writer("a", 1)
	wA2      = vclock.Writer("a", 2)
	wB1      = vclock.Writer("b", 1)
	retiredA = vclock.Retired("a")
)

// newRetireWorld is newWorld with the replicas a!1, a!2 and b!1.
func newRetireWorld() *world {
	w := &world{m: newModel(3)}
	for _, id := range []vclock.ReplicaID{wA1, wA2, wB1} {
		w.sets = append(w.sets, New[string](id))
	}
	return w
}

func (w *world) steps(t *rapid.T, label string, most int) {
	for range rapid.IntRange(0, most).Draw(t, label) {
		w.step(t)
	}
}

// lastSeq returns the last event of id any replica has seen.
func (w *world) lastSeq(id vclock.ReplicaID) uint64 {
	var n uint64
	for _, s := range w.sets {
		s.k.Context().RangesWithin(id, 1, vclock.MaxSeq, func(_, hi uint64) { n = max(n, hi) })
	}
	return n
}

// retirements returns the retirements of a!1 and then a!2 into a!0, with
// Final the last event any replica has seen, or, if below, drawn up to it.
func (w *world) retirements(t *rapid.T, below bool) []vclock.Retirement {
	f1, f2 := w.lastSeq(wA1), w.lastSeq(wA2)
	if below {
		f1 = rapid.Uint64Range(0, f1).Draw(t, "final1")
		f2 = rapid.Uint64Range(0, f2).Draw(t, "final2")
	}
	return []vclock.Retirement{
		{From: wA1, To: retiredA, Final: f1},
		{From: wA2, To: retiredA, Base: f1, Final: f2},
	}
}

// retiredSet returns a copy of s with the retirements applied, checking
// that its elements did not change, that its fingerprint is the one
// decoding its encoding gives, and that the decoded state is equal.
func retiredSet(t tb, s *Set[string], rs ...vclock.Retirement) *Set[string] {
	t.Helper()
	c := s.Clone()
	c.id = vclock.Writer("z", 1) // a live writer, never retired here
	for _, r := range rs {
		before := c.Clone()
		if err := c.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
		// Every dot is renamed by r.Dot, in the elements and the context.
		for e := range before.All() {
			var want []vclock.Dot
			for _, d := range before.k.Dots(e) {
				want = append(want, r.Dot(d))
			}
			slices.SortFunc(want, vclock.Dot.Compare)
			got := c.k.Dots(e)
			slices.SortFunc(got, vclock.Dot.Compare)
			if !slices.Equal(got, want) {
				t.Fatalf("%q has dots %v after %+v, want %v", e, got, r, want)
			}
		}
		for rg := range before.k.Context().Ranges() {
			for seq := rg.Lo; seq <= rg.Hi; seq++ {
				d := vclock.Dot{Replica: rg.Replica, Seq: seq}
				if nd := r.Dot(d); !c.k.Context().Contains(nd) || (nd != d && c.k.Context().Contains(d)) {
					t.Fatalf("%v not renamed %v in the context %v", d, nd, c.k.Context())
				}
			}
		}
	}
	if !slices.Equal(sorted(c), sorted(s)) {
		t.Fatalf("elements %v, before retiring %v", sorted(c), sorted(s))
	}
	var dec Set[string]
	if err := dec.UnmarshalBinary(mustMarshal(t, c)); err != nil {
		t.Fatalf("decoding a retired set: %v", err)
	}
	requireEqual(t, &dec, c, "decoded")
	if dec.Fingerprint() != c.Fingerprint() {
		t.Fatalf("fingerprint %x, decoded %x", c.Fingerprint(), dec.Fingerprint())
	}
	return c
}

// TestRetireHomomorphism: Retire(x ⊔ y) = Retire(x) ⊔ Retire(y), whole
// or by deltas over the wire, with fingerprints equal, elements unchanged.
func TestRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newRetireWorld()
		w.steps(t, "steps", 60)
		rs := w.retirements(t, rapid.Bool().Draw(t, "below"))[:rapid.IntRange(1, 2).Draw(t, "retirements")]
		x := w.sets[rapid.IntRange(0, 2).Draw(t, "x")]
		y := w.sets[rapid.IntRange(0, 2).Draw(t, "y")]
		want := retiredSet(t, merged(x, y), rs...)
		rx, ry := retiredSet(t, x, rs...), retiredSet(t, y, rs...)
		for _, got := range []*Set[string]{merged(rx, ry), merged(ry, rx)} {
			requireEqual(t, got, want, "Retire(x) ⊔ Retire(y)")
			if got.Fingerprint() != want.Fingerprint() {
				t.Fatalf("fingerprint %x, want %x", got.Fingerprint(), want.Fingerprint())
			}
		}
		v, err := rx.VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		d, err := ry.DeltaSinceBinary(v)
		if err != nil {
			t.Fatal(err)
		}
		got := rx.Clone()
		if _, err := got.MergeBinary(d); err != nil {
			t.Fatal(err)
		}
		requireEqual(t, got, want, "Retire(x) ⊔ delta of Retire(y)")
	})
}

// TestRetireLagging retires an older state of a replica and its newer
// state; merging either into the other gives Retire(x ⊔ y).
func TestRetireLagging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newRetireWorld()
		w.steps(t, "before", 40)
		i := rapid.IntRange(0, 2).Draw(t, "i")
		old := w.sets[i].Clone()
		w.steps(t, "after", 40)
		x := w.sets[i]
		rs := w.retirements(t, false)
		want := retiredSet(t, merged(x, old), rs...)
		rx, ry := retiredSet(t, x, rs...), retiredSet(t, old, rs...)
		requireEqual(t, merged(ry, rx), want, "old ⊔ new")
		requireEqual(t, merged(rx, ry), want, "new ⊔ old")
		requireEqual(t, merged(ry, rx.DeltaSince(ry.Version())), want, "old ⊔ delta of new")
	})
}

// TestRetireAboveFinal retires a!1 up to a Final below some of its events
// on two replicas that hold different numbers of them: the events above
// stay under a!1 (no element goes), and the replicas converge.
func TestRetireAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newRetireWorld()
		w.steps(t, "steps", 60)
		x := w.sets[rapid.IntRange(0, 2).Draw(t, "x")]
		y := w.sets[rapid.IntRange(0, 2).Draw(t, "y")]
		final := rapid.Uint64Range(1, max(1, w.lastSeq(wA1))).Draw(t, "final")
		r := vclock.Retirement{From: wA1, To: retiredA, Final: final}
		rx, ry := retiredSet(t, x, r), retiredSet(t, y, r)
		for _, c := range []struct{ before, after *Set[string] }{{x, rx}, {y, ry}} {
			for e := range c.before.All() {
				for _, d := range c.before.k.Dots(e) {
					if d.Replica == wA1 && d.Seq > final && !slices.Contains(c.after.k.Dots(e), d) {
						t.Fatalf("%v of %q, above Final %d, lost: %v", d, e, final, c.after.k.Dots(e))
					}
				}
			}
		}
		want := retiredSet(t, merged(x, y), r)
		requireEqual(t, merged(rx, ry), want, "Retire(x) ⊔ Retire(y)")
		requireEqual(t, merged(ry, rx), want, "Retire(y) ⊔ Retire(x)")
	})
}

// TestRetireRefused: a retirement that does not check, of the set's own
// writer, or whose dots land on dots already seen, is refused with
// ErrRetirement, and the set's encoding is unchanged.
func TestRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newRetireWorld()
		w.steps(t, "steps", 60)
		i := rapid.IntRange(0, 2).Draw(t, "i")
		rs := w.retirements(t, false)
		s := w.sets[i]
		if i != 0 {
			if err := s.Retire(rs[0]); err != nil {
				t.Fatal(err)
			}
		}
		bad := []vclock.Retirement{
			{From: retiredA, To: retiredA, Final: 1},
			{From: wA2, To: vclock.Retired("b"), Final: 1},
			{From: wA2, To: retiredA, Final: 1, Heir: wB1},
			{From: wA2, To: retiredA, Base: vclock.MaxSeq, Final: 1},
			{From: s.ID(), To: vclock.Retired(s.ID().Name()), Final: 1}, // its own writer
		}
		if f1 := rs[0].Final; s.k.Context().Contains(vclock.Dot{Replica: retiredA, Seq: f1}) && s.k.Context().Contains(vclock.Dot{Replica: wA2, Seq: 1}) {
			bad = append(bad, vclock.Retirement{From: wA2, To: retiredA, Base: f1 - 1, Final: rs[1].Final})
		}
		for _, r := range bad {
			before := mustMarshal(t, s)
			fp := s.Fingerprint()
			if err := s.Retire(r); !errors.Is(err, vclock.ErrRetirement) {
				t.Fatalf("Retire(%+v) = %v, want ErrRetirement", r, err)
			}
			if !bytes.Equal(mustMarshal(t, s), before) || s.Fingerprint() != fp {
				t.Fatalf("Retire(%+v) refused but changed the set", r)
			}
		}
	})
}

// TestRetireKeepsWorking retires a!1 and a!2 on every replica, which go
// on writing as a!3 and a!4, with b!1, over the lossy network; after a
// final exchange every replica holds what the model says.
func TestRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newRetireWorld()
		w.steps(t, "before", 40)
		// The engine retires a writer once its ops are settled: those
		// still in flight are lost here (the states carry their writes).
		w.net = nil
		w.sets[0].SetWriter(vclock.Writer("a", 3))
		w.sets[1].SetWriter(vclock.Writer("a", 4))
		below := rapid.Bool().Draw(t, "below")
		for _, r := range w.retirements(t, below) {
			for _, s := range w.sets {
				if err := s.Retire(r); err != nil {
					t.Fatalf("Retire(%+v): %v", r, err)
				}
				if !below && (s.Version().Get(r.From) != 0 || !s.k.Context().Covers(vclock.Clock{}) ||
					s.k.Context().Contains(vclock.Dot{Replica: r.From, Seq: 1})) {
					t.Fatalf("%q still named after retiring it: %v", r.From, s.k.Context())
				}
			}
		}
		w.steps(t, "after", 60)
		// A catch-up cut into parts, from a retired replica, merges like
		// the whole.
		from, to := rapid.IntRange(0, 2).Draw(t, "from"), rapid.IntRange(0, 2).Draw(t, "to")
		var err error
		var v []byte // the whole state, or a delta
		if rapid.Bool().Draw(t, "delta") {
			if v, err = w.sets[to].VersionBinary(); err != nil {
				t.Fatal(err)
			}
		}
		sender := w.sets[from].Clone() // with more elements, so that it takes several parts
		for n := range 20 {
			sender.Add(fmt.Sprintf("x%d", n))
		}
		parts, _, err := sender.ChunksBinary(v, rapid.IntRange(96, 160).Draw(t, "budget"))
		if err != nil {
			t.Fatal(err)
		}
		viaParts := w.sets[to].Clone()
		for _, p := range parts {
			if _, err := viaParts.MergeChunkBinary(p); err != nil {
				t.Fatalf("merging a part: %v", err)
			}
		}
		if len(parts) < 2 {
			t.Fatalf("%d parts: the catch-up was not cut", len(parts))
		}
		requireEqual(t, viaParts, merged(w.sets[to], sender), "merged in parts")
		w.exchange(t)
		want := w.m.value()
		for i, s := range w.sets {
			if got := sorted(s); !slices.Equal(got, want) {
				t.Fatalf("replica %d holds %v, the model %v", i, got, want)
			}
			requireEqual(t, s, w.sets[0], "after the exchange")
			if s.Fingerprint() != w.sets[0].Fingerprint() {
				t.Fatalf("replica %d: fingerprint %x, replica 0's %x", i, s.Fingerprint(), w.sets[0].Fingerprint())
			}
		}
	})
}
