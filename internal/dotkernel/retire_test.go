package dotkernel

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// The writers of the retirement tests: two runs of replica a, which
// may overlap (two processes under one name) and are retired into a!0,
// and one run of b.
var (
	wA1      = vclock.Writer("a", 1)
	wA2      = vclock.Writer("a", 2)
	wB1      = vclock.Writer("b", 1)
	retiredA = vclock.Retired("a")
)

// newRetireSim is newSim with the replicas a!1, a!2 and b!1, and
// sometimes eight more writers (so that the kernels'
// replica tables are long enough to be indexed by a map).
func newRetireSim(t *rapid.T) *sim {
	s := &sim{nkeys: rapid.IntRange(1, len(keys)).Draw(t, "keys")}
	ids := []crdt.ReplicaID{wA1, wA2, wB1}
	if rapid.Bool().Draw(t, "wide") {
		for _, n := range "cdefghij" {
			ids = append(ids, vclock.Writer(vclock.ReplicaID(n), 1))
		}
	}
	for _, id := range ids {
		s.ids = append(s.ids, id)
		s.ks = append(s.ks, &kern{
			MaxRecords: rapid.SampledFrom([]int{0, 1, 2, 5}).Draw(t, "cap"),
			RecordsAll: rapid.IntRange(0, 3).Draw(t, "recordsAll") > 0,
		})
	}
	return s
}

// steps runs n random steps of s, at most.
func (s *sim) steps(t *rapid.T, label string, most int) {
	for range rapid.IntRange(0, most).Draw(t, label) {
		s.step(t)
	}
}

// lastSeq returns the highest event of id any replica of s has seen.
func (s *sim) lastSeq(id vclock.ReplicaID) uint64 {
	var n uint64
	for _, k := range s.ks {
		k.ctx.RangesWithin(id, 1, vclock.MaxSeq, func(_, hi uint64) { n = max(n, hi) })
	}
	return n
}

// retirements returns the retirement of a!1 and then of a!2 into a!0.
// Final is the last event any replica has seen, or, if below is drawn,
// any event (so that some replicas hold events above it). The first's Base
// is 0, or, drawn sometimes, just below the largest sequence number an
// entry packs, so that renamed dots stop fitting their entries.
func (s *sim) retirements(t *rapid.T, below bool) []vclock.Retirement {
	f1, f2 := s.lastSeq(wA1), s.lastSeq(wA2)
	if below {
		f1 = rapid.Uint64Range(0, f1).Draw(t, "final1")
		f2 = rapid.Uint64Range(0, f2).Draw(t, "final2")
	}
	base := rapid.SampledFrom([]uint64{0, 0, 0, maxPackSeq - 2}).Draw(t, "base")
	return []vclock.Retirement{
		{From: wA1, To: retiredA, Base: base, Final: f1},
		{From: wA2, To: retiredA, Base: base + f1, Final: f2},
	}
}

// renameMuts renames the dots of the mutations of s by r, so that ops
// delivered late are the renamed ones.
func (s *sim) renameMuts(r vclock.Retirement) {
	for i, m := range s.muts {
		s.muts[i].dot = r.Dot(m.dot)
		s.muts[i].dropped = renameDots(m.dropped, r)
	}
}

// renameDots returns ds renamed by r, sorted.
func renameDots(ds []vclock.Dot, r vclock.Retirement) []vclock.Dot {
	out := make([]vclock.Dot, len(ds))
	for i, d := range ds {
		out[i] = r.Dot(d)
	}
	slices.SortFunc(out, vclock.Dot.Compare)
	return out
}

// modelRetire renames k by r the naive way: a new kernel built dot by
// dot from k's store, context and ghosts, each dot renamed by r.Dot.
func modelRetire(k *kern, r vclock.Retirement) *kern {
	m := &kern{}
	for key, e := range k.m.all {
		m.setEntry(key, unit{}, renameDots(k.dotsOf(key, e), r))
	}
	for rg := range k.ctx.Ranges() {
		for seq := rg.Lo; seq <= rg.Hi; seq++ {
			m.ctx.Add(r.Dot(vclock.Dot{Replica: rg.Replica, Seq: seq}))
		}
	}
	for _, g := range k.Ghosts() {
		m.ghosts.add(r.Dot(g))
	}
	return m
}

// retired returns a copy of k with the retirements applied, checking each
// against the naive model, the kernel's invariants, its fingerprint, its
// records, its replica table and its encoding.
func retired(t tb, k *kern, rs ...vclock.Retirement) *kern {
	t.Helper()
	c := k.Clone()
	// The Watch follows the store: it is told of every dot renamed.
	watched := map[string]map[vclock.Dot]bool{}
	for key := range c.All() {
		watched[key] = map[vclock.Dot]bool{}
		for _, d := range c.Dots(key) {
			watched[key][d] = true
		}
	}
	c.Watch = func(key string, _ unit, d vclock.Dot, added bool) {
		if watched[key] == nil {
			watched[key] = map[vclock.Dot]bool{}
		}
		if watched[key][d] == added {
			t.Fatalf("Watch told %v of %q added %v twice", d, key, added)
		}
		if added {
			watched[key][d] = true
		} else {
			delete(watched[key], d)
		}
	}
	for _, r := range rs {
		before := c.Clone()
		reps := len(c.reps)
		if err := c.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
		for key, ds := range watched {
			if got := c.Dots(key); len(got) != len(ds) || !slices.ContainsFunc(got, func(d vclock.Dot) bool { return ds[d] }) && len(got) > 0 {
				t.Fatalf("Watch says %q has %v, the store %v", key, ds, got)
			}
		}
		requireEqual(t, c, modelRetire(before, r), "Retire against the model")
		// The table does not grow, and loses From, unless From keeps
		// events above Final: then To may take a new index.
		kept := false
		c.ctx.RangesWithin(r.From, 1, vclock.MaxSeq, func(uint64, uint64) { kept = true })
		if !kept && (len(c.reps) > reps || slices.Contains(c.reps, r.From)) {
			t.Fatalf("the replica table went from %v to %v", before.reps, c.reps)
		}
		if kept && len(c.reps) > reps+1 {
			t.Fatalf("the replica table went from %v to %v", before.reps, c.reps)
		}
		// Every live record, renamed, is kept unless the horizon now
		// covers it, and nothing else is.
		var want []Record[string]
		for _, rec := range before.Records() {
			if d := r.Dot(rec.Dot); !c.horizon.Contains(d) {
				want = append(want, Record[string]{Dot: d, Key: rec.Key, Dropped: renameDots(rec.Dropped, r)})
			}
		}
		if got := c.Records(); !slices.EqualFunc(got, want, func(a, b Record[string]) bool {
			return a.Dot == b.Dot && a.Key == b.Key && slices.Equal(a.Dropped, b.Dropped)
		}) {
			t.Fatalf("records after %+v: got %v, want %v", r, got, want)
		}
		// The horizon may claim more than before, never less.
		for id, n := range before.horizon.All() {
			if d := r.Dot(vclock.Dot{Replica: id, Seq: n}); !c.horizon.Contains(d) {
				t.Fatalf("horizon %v does not cover %v, renamed from %v", c.horizon, d, before.horizon)
			}
		}
	}
	c.Watch = nil
	checkReps(t, c)
	checkInvariants(t, c)
	checkIndex(t, c)
	if fp := c.ScanFingerprint(); fp != c.Fingerprint() {
		t.Fatalf("fingerprint %x, the store's %x", c.Fingerprint(), fp)
	}
	dec := roundTrip(t, c)
	if dec.Fingerprint() != c.Fingerprint() {
		t.Fatalf("fingerprint %x, decoded %x", c.Fingerprint(), dec.Fingerprint())
	}
	return c
}

// TestRetireHomomorphism checks that retiring commutes with joining:
// Retire(x ⊔ y) = Retire(x) ⊔ Retire(y), for whole states and for
// deltas, and that retiring keeps the keys.
func TestRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newRetireSim(t)
		s.steps(t, "steps", 60)
		rs := s.retirements(t, rapid.Bool().Draw(t, "below"))[:rapid.IntRange(1, 2).Draw(t, "retirements")]
		x := s.ks[rapid.IntRange(0, 2).Draw(t, "x")]
		y := s.ks[rapid.IntRange(0, 2).Draw(t, "y")]
		want := retired(t, joined(x, y), rs...)
		rx, ry := retired(t, x, rs...), retired(t, y, rs...)
		requireEqual(t, joined(rx, ry), want, "Retire(x) ⊔ Retire(y)")
		requireEqual(t, joined(ry, rx), want, "Retire(y) ⊔ Retire(x)")
		requireEqual(t, joined(rx, roundTrip(t, ry.DeltaSince(rx.Version()))), want, "Retire(x) ⊔ delta of Retire(y)")
		if got := joined(rx, ry).Fingerprint(); got != want.Fingerprint() {
			t.Fatalf("fingerprint %x, want %x", got, want.Fingerprint())
		}
		if !slices.Equal(keySet(rx), keySet(x)) {
			t.Fatalf("keys %v, before retiring %v", keySet(rx), keySet(x))
		}
	})
}

// TestRetireLagging retires an older state of a replica and its newer
// state, and joins them both ways, whole and as deltas.
func TestRetireLagging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newRetireSim(t)
		s.steps(t, "before", 40)
		i := rapid.IntRange(0, 2).Draw(t, "i")
		old := s.ks[i].Clone()
		s.steps(t, "after", 40)
		x := s.ks[i]
		rs := s.retirements(t, rapid.Bool().Draw(t, "below"))
		want := retired(t, joined(x, old), rs...)
		rx, ry := retired(t, x, rs...), retired(t, old, rs...)
		requireEqual(t, joined(ry, rx), want, "old ⊔ new")
		requireEqual(t, joined(rx, ry), want, "new ⊔ old")
		requireEqual(t, joined(ry, rx.DeltaSince(ry.Version())), want, "old ⊔ delta of new")
		requireEqual(t, joined(ry, roundTrip(t, rx.DeltaSince(ry.Version()))), want, "old ⊔ delta of new, encoded")
		requireEqual(t, joined(rx, ry.DeltaSince(rx.Version())), want, "new ⊔ delta of old")
	})
}

// TestRetireAboveFinal retires a!1 with a Final below some of its events
// on two replicas that hold different numbers of them: those events stay
// under a!1 (the keys they support with them: retiring changes no key),
// the others are renamed, and the two replicas converge when merged.
func TestRetireAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newRetireSim(t)
		s.steps(t, "steps", 60)
		x := s.ks[rapid.IntRange(0, 2).Draw(t, "x")]
		y := s.ks[rapid.IntRange(0, 2).Draw(t, "y")]
		final := rapid.Uint64Range(1, max(1, s.lastSeq(wA1))).Draw(t, "final")
		r := vclock.Retirement{From: wA1, To: retiredA, Final: final}
		rx, ry := retired(t, x, r), retired(t, y, r)
		for _, c := range []struct{ before, after *kern }{{x, rx}, {y, ry}} {
			if !slices.Equal(keySet(c.after), keySet(c.before)) {
				t.Fatalf("keys %v, before retiring %v", keySet(c.after), keySet(c.before))
			}
			c.before.ctx.RangesWithin(wA1, 1, vclock.MaxSeq, func(lo, hi uint64) {
				for seq := lo; seq <= hi; seq++ {
					d := vclock.Dot{Replica: wA1, Seq: seq}
					if c.after.ctx.Contains(d) != (seq > final) {
						t.Fatalf("%v in the context after retiring up to %d: %v", d, final, c.after.ctx.Contains(d))
					}
				}
			})
			for key := range c.before.All() {
				for _, d := range c.before.Dots(key) {
					if d.Replica == wA1 && d.Seq > final && !slices.Contains(c.after.Dots(key), d) {
						t.Fatalf("%v of %q, above Final %d, lost", d, key, final)
					}
				}
			}
		}
		want := retired(t, joined(x, y), r)
		requireEqual(t, joined(rx, ry), want, "Retire(x) ⊔ Retire(y)")
		requireEqual(t, joined(ry, rx), want, "Retire(y) ⊔ Retire(x)")
		requireEqual(t, joined(ry, rx.DeltaSince(ry.Version())), want, "Retire(y) ⊔ delta of Retire(x)")
	})
}

// TestRetireRefusesBadRetirement checks that a retirement that does not
// check, or whose dots land on dots already seen, is refused with
// ErrRetirement and changes nothing.
func TestRetireRefusesBadRetirement(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newRetireSim(t)
		s.steps(t, "steps", 60)
		k := retired(t, s.ks[rapid.IntRange(0, 2).Draw(t, "k")], s.retirements(t, false)[0])
		bad := []vclock.Retirement{
			{From: retiredA, To: retiredA, Final: 1},                 // From is no run
			{From: wA2, To: vclock.Retired("b"), Final: 1},           // To of another name
			{From: wA2, To: retiredA, Final: 1, Heir: wB1},           // an heir of another name
			{From: wA2, To: retiredA, Base: vclock.MaxSeq, Final: 1}, // past MaxSeq
		}
		f1 := s.lastSeq(wA1)
		if k.ctx.Contains(vclock.Dot{Replica: retiredA, Seq: f1}) && k.ctx.Contains(vclock.Dot{Replica: wA2, Seq: 1}) {
			// Base below a!0's events: a!2's first event lands on a!0's.
			bad = append(bad, vclock.Retirement{From: wA2, To: retiredA, Base: f1 - 1, Final: s.lastSeq(wA2)})
		}
		for _, r := range bad {
			before, enc, fp := k.Clone(), encode(t, k), k.Fingerprint()
			reps, recs := slices.Clone(k.reps), k.Records()
			err := k.Retire(r)
			if !errors.Is(err, vclock.ErrRetirement) {
				t.Fatalf("Retire(%+v) = %v, want ErrRetirement", r, err)
			}
			requireEqual(t, k, before, "after a refused retirement")
			if !slices.Equal(encode(t, k), enc) || k.Fingerprint() != fp || !slices.Equal(k.reps, reps) ||
				!slices.EqualFunc(k.Records(), recs, func(a, b Record[string]) bool { return a.Dot == b.Dot }) {
				t.Fatalf("Retire(%+v) refused but changed the kernel", r)
			}
		}
		// A writer the kernel never saw: nothing to do, no error.
		enc := encode(t, k)
		if err := k.Retire(vclock.Retirement{From: vclock.Writer("z", 1), To: vclock.Retired("z"), Final: 3}); err != nil {
			t.Fatalf("retiring an unknown writer: %v", err)
		}
		if !slices.Equal(encode(t, k), enc) {
			t.Fatal("retiring an unknown writer changed the kernel")
		}
	})
}

// TestRetireKeepsWorking retires a!1 and a!2 on every replica, then lets
// a!3, a!4 and b!1 go on mutating, exchanging ops, states and deltas and
// collecting records; at the end every replica converges, and equals
// what the renamed ops, applied in any order, give.
func TestRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newRetireSim(t)
		s.steps(t, "before", 40)
		for _, r := range s.retirements(t, rapid.Bool().Draw(t, "below")) {
			for i, k := range s.ks {
				s.ks[i] = retired(t, k, r)
			}
			s.renameMuts(r)
		}
		s.ids[0], s.ids[1] = vclock.Writer("a", 3), vclock.Writer("a", 4)
		s.steps(t, "after", 40)
		for i := range s.ks {
			checkInvariants(t, s.ks[i])
			s.checkRecorded(t, s.ks[i])
			checkIndex(t, s.ks[i])
			s.checkDeltas(t, s.ks[i])
		}
		all := &kern{}
		for _, k := range s.ks {
			all.Join(k)
		}
		for _, k := range s.ks {
			requireEqual(t, joined(k, all), all, "join of all")
			if got := joined(k, all); got.Fingerprint() != all.Fingerprint() {
				t.Fatalf("fingerprint %x, want %x", got.Fingerprint(), all.Fingerprint())
			}
		}
		ops := &kern{}
		for _, m := range rapid.Permutation(s.muts).Draw(t, "order") {
			m.apply(ops)
		}
		requireEqual(t, ops, all, "renamed ops in any order")
	})
}

// checkReps checks the replica table: no replica twice, and its map, if
// any, gives each replica's index.
func checkReps(t tb, k *kern) {
	t.Helper()
	for i, id := range k.reps {
		if j, ok := k.findRep(id); !ok || j != uint32(i) {
			t.Fatalf("replica %q at %d found at %d (%v) in %v", id, i, j, ok, k.reps)
		}
	}
	if k.repIdx != nil && len(k.repIdx) != len(k.reps) {
		t.Fatalf("replica map %v for the table %v", k.repIdx, k.reps)
	}
}

// TestRetireWideTable retires writers of a kernel whose replica table is
// long enough to be indexed by a map: a!1 into a!0, which it does not
// name yet (a!0 takes a!1's index), then a!2, whose index is freed for
// the last replica's.
func TestRetireWideTable(t *testing.T) {
	k := &kern{RecordsAll: true}
	ids := []crdt.ReplicaID{wA1, wA2}
	for _, n := range "bcdefghijk" {
		ids = append(ids, vclock.Writer(vclock.ReplicaID(n), 1))
	}
	for i, id := range ids {
		for j := range 3 {
			key := keys[(i+j)%len(keys)]
			d := k.Mint(id)
			k.Record(d, key, k.Put(key, unit{}, d))
		}
	}
	if k.repIdx == nil {
		t.Fatalf("no replica map for %d replicas", len(k.reps))
	}
	k.DeltaSince(vclock.Clock{}) // builds the indexes
	k.removed.add(vclock.Dot{Replica: wA2, Seq: 9})
	rs := []vclock.Retirement{
		{From: wA1, To: retiredA, Final: 3},
		{From: wA2, To: retiredA, Base: 3, Final: 9},
	}
	got := retired(t, k, rs...)
	if want := len(ids) - 1; len(got.reps) != want {
		t.Fatalf("replica table %v, want %d replicas", got.reps, want)
	}
	if !got.removed.contains(vclock.Dot{Replica: retiredA, Seq: 12}) || got.removed.contains(vclock.Dot{Replica: wA2, Seq: 9}) {
		t.Fatal("the removed dot a!2:9 is not renamed a!0:12")
	}
	// The removed dot a!2:9 would land on a!0:12, also removed: a clash.
	k2 := retired(t, k, rs[0])
	k2.removed.add(vclock.Dot{Replica: retiredA, Seq: 12})
	if err := k2.Retire(rs[1]); !errors.Is(err, vclock.ErrRetirement) {
		t.Fatalf("a!2:9 renamed onto the removed a!0:12: %v, want ErrRetirement", err)
	}
}

// retireAllocs returns the allocations (count and bytes) of retiring a!1
// from a kernel whose n keys a!1 added, b!1 added one in ten of
// concurrently (so that they have two dots, kept apart) and c!1 re-added
// another one in ten of (so that records dropped dots of a!1).
func retireAllocs(t *testing.T, n int) (count, size uint64) {
	k := &kern{RecordsAll: true}
	o := &kern{RecordsAll: true}
	for i := range n {
		key := fmt.Sprint(i)
		d := k.Mint(wA1)
		k.Put(key, unit{}, d)
		if i%10 == 0 {
			d := o.Mint(wB1)
			o.Put(key, unit{}, d)
		}
	}
	p := k.Clone()
	for i := 5; i < n; i += 10 {
		key := fmt.Sprint(i)
		d := p.Mint(vclock.Writer("c", 1))
		p.Record(d, key, p.Put(key, unit{}, d))
	}
	k.Join(o)
	k.Join(p.DeltaSince(k.Version()))
	k.DeltaSince(vclock.Clock{}) // builds the indexes, which Retire drops
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := k.Retire(vclock.Retirement{From: wA1, To: retiredA, Final: uint64(n)})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if k.Len() != n || len(k.Records()) != n/10 || len(k.more) != n/10 {
		t.Fatalf("%d keys, %d records, %d keys with several dots; want %d, %d, %d", k.Len(), len(k.Records()), len(k.more), n, n/10, n/10)
	}
	return after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc
}

// TestRetireAllocatesForRecordsOnly checks that Retire allocates nothing
// per key of the store: only a slice per record that dropped a dot of the
// writer retired (records are shared, never modified), plus a few
// allocations of its own. Ten times the keys and records cost ten times
// the records' allocations, not more.
func TestRetireAllocatesForRecordsOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernels of 20,000 keys")
	}
	small, _ := retireAllocs(t, 2000)
	large, size := retireAllocs(t, 20000)
	t.Logf("allocations: %d for 2,000 keys, %d (%d bytes) for 20,000", small, large, size)
	if limit := uint64(20000/10 + 16); large > limit {
		t.Fatalf("retiring a writer of 20,000 keys and 2,000 records made %d allocations (%d bytes), more than %d", large, size, limit)
	}
	if large > 10*small+16 {
		t.Fatalf("allocations grew from %d to %d for ten times the state", small, large)
	}
}
