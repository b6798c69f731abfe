package dotkernel

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// deltaSinceScan is DeltaSince as it was before the index: a scan of the
// whole store. The tests hold the indexed DeltaSince to it.
func deltaSinceScan[K comparable, V any](k *Kernel[K, V], v vclock.Clock) *Kernel[K, V] {
	if !k.horizon.LessOrEqual(v) {
		return k.Clone()
	}
	d := &Kernel[K, V]{ctx: k.ctx.Since(v), reps: slices.Clone(k.reps), MaxRecords: k.MaxRecords, RecordsAll: k.RecordsAll}
	if k.repIdx != nil {
		d.repIdx = maps.Clone(k.repIdx)
	}
	for key, e := range k.m.all {
		var keep []vclock.Dot
		for _, x := range k.dotsOf(key, e) {
			if !v.Contains(x) {
				keep = append(keep, x)
			}
		}
		if len(keep) > 0 {
			d.setEntry(key, e.v, keep)
		}
	}
	for _, r := range k.liveRecords() {
		if v.Contains(r.Dot) {
			continue
		}
		d.Record(r.Dot, r.Key, r.Dropped)
		for _, x := range r.Dropped {
			d.ctx.Add(x)
		}
	}
	for _, g := range k.Ghosts() {
		if d.ctx.Contains(g) {
			d.ghosts.add(g)
		}
	}
	return d
}

// describe writes down everything a kernel holds, in a canonical order:
// store (each key's dots sorted, and its value), context, records in
// order, horizon, ghosts, replica table and settings.
func describe[K comparable, V any](k *Kernel[K, V]) string {
	var keys []string
	for key, e := range k.m.all {
		ds := k.dotsOf(key, e)
		slices.SortFunc(ds, vclock.Dot.Compare)
		keys = append(keys, fmt.Sprintf("%v=%v%v", key, e.v, ds))
	}
	slices.Sort(keys)
	var recs []string
	for _, r := range k.liveRecords() {
		recs = append(recs, fmt.Sprintf("%v:%v%v", r.Dot, r.Key, r.Dropped))
	}
	return fmt.Sprintf("store %v\nctx %s\nrecords %v\nhorizon %v\nghosts %v\nreps %v\nmax %d all %v",
		strings.Join(keys, " "), k.ctx.String(), recs, k.horizon, k.Ghosts(), k.reps, k.MaxRecords, k.RecordsAll)
}

// checkIndex checks that k's index covers k's store: a kernel with a
// store has an index, and an index that is built references every dot
// of the store above its replica's floor, and counts its references.
func checkIndex[K comparable, V any](t tb, k *Kernel[K, V]) {
	t.Helper()
	if k.m.len() > 0 && k.ix == nil {
		t.Fatalf("a store of %d keys without an index", k.m.len())
	}
	for key, e := range k.m.all {
		for _, d := range k.dotsOf(key, e) {
			if !k.ix.Covers(k.repOf(d), d.Seq, key) {
				t.Fatalf("the index misses %v of %v", d, key)
			}
		}
	}
	if k.recs.len() > 0 && k.rix == nil {
		t.Fatalf("%d records without an index", k.recs.len())
	}
	for i := range k.recs.len() {
		r := k.recs.at(i)
		rep, ok := k.findRep(r.Dot.Replica)
		if !ok {
			t.Fatalf("the replica of record %v is not in the table %v", r.Dot, k.reps)
		}
		if i > 0 && k.recs.idAt(i-1) >= k.recs.idAt(i) {
			t.Fatalf("record ids out of order: %d then %d", k.recs.idAt(i-1), k.recs.idAt(i))
		}
		if !k.rix.Covers(rep, r.Dot.Seq, k.recs.idAt(i)) {
			t.Fatalf("the record index misses %v", r.Dot)
		}
	}
	checkRefs(t, k.ix)
	checkRefs(t, k.rix)
	if stale, counted := k.ix.StaleCount(k.supports); counted < stale {
		t.Fatalf("the index counts %d stale references, holds %d", counted, stale)
	}
	if stale, counted := k.rix.StaleCount(k.keeps); counted < stale {
		t.Fatalf("the record index counts %d stale references, holds %d", counted, stale)
	}
}

// checkRefs checks an index's own bookkeeping: the sorted parts of its
// logs are sorted, no reference is at or below its floor, and the count
// is right.
func checkRefs[K comparable](t tb, x *Index[K]) {
	t.Helper()
	if x == nil {
		return
	}
	n := 0
	for _, l := range x.logs {
		n += l.n
		total := 0
		for b, blk := range l.blocks {
			if b < len(l.blocks)-1 && len(blk) != blockLen {
				t.Fatalf("block %d of %d holds %d references", b, len(l.blocks), len(blk))
			}
			total += len(blk)
		}
		if total != l.n {
			t.Fatalf("a log counts %d references, holds %d", l.n, total)
		}
		for i := range l.n {
			ref := l.at(i)
			if i > 0 && i < l.sorted && l.at(i-1).seq > ref.seq {
				t.Fatalf("references out of order: %d then %d", l.at(i-1).seq, ref.seq)
			}
			if ref.seq <= l.floor {
				t.Fatalf("reference %d at or below the floor %d", ref.seq, l.floor)
			}
		}
	}
	if n != x.n {
		t.Fatalf("the index counts %d references, holds %d", x.n, n)
	}
}

// checkDeltas compares DeltaSince with the scan for a few versions: the
// kernel's peers', and ones drawn at random.
func (s *sim) checkDeltas(t *rapid.T, k *kern) {
	t.Helper()
	before := encode(t, k)
	versions := []vclock.Clock{{}, k.Version(), k.Horizon()}
	for _, o := range s.ks {
		versions = append(versions, o.Version())
	}
	for i := range rapid.IntRange(1, 3).Draw(t, "versions") {
		versions = append(versions, s.drawVersion(t, k, fmt.Sprint(i)))
	}
	for _, v := range rapid.Permutation(versions).Draw(t, "order") {
		got, want := k.DeltaSince(v), deltaSinceScan(k, v)
		if g, w := describe(got), describe(want); g != w {
			t.Fatalf("DeltaSince(%v):\n%s\nscan:\n%s\nof:\n%s", v, g, w, describe(k))
		}
		if g, w := encode(t, got), encode(t, want); !slices.Equal(g, w) {
			t.Fatalf("DeltaSince(%v) encodes as %x, the scan's as %x", v, g, w)
		}
		checkIndex(t, k)
		checkIndex(t, got)
	}
	if after := encode(t, k); !slices.Equal(after, before) {
		t.Fatalf("DeltaSince changed the kernel")
	}
}

// drawVersion returns a version for each replica between 0 and a little
// past what k has seen, mostly at or above k's horizon (below it the
// delta is a copy).
func (s *sim) drawVersion(t *rapid.T, k *kern, label string) vclock.Clock {
	var v vclock.Clock
	top := k.ctx.Version()
	for _, id := range s.ids {
		v.Set(id, uint64(rapid.IntRange(0, int(top.Get(id))+2).Draw(t, label+string(id))))
	}
	if rapid.IntRange(0, 3).Draw(t, label+"above") > 0 {
		v.Merge(k.Horizon())
	}
	return v
}

// stepIndexed is step with the paths that only the index cares about:
// copies, decoding, deltas for any version, records collected with no
// regard for what peers have.
func (s *sim) stepIndexed(t *rapid.T) int {
	n := len(s.ks)
	i := rapid.IntRange(0, n-1).Draw(t, "i")
	j := rapid.IntRange(0, n-1).Draw(t, "j")
	switch rapid.IntRange(0, 6).Draw(t, "indexStep") {
	case 0:
		// A copy, then a mutation of each: they must not share the index.
		c := s.ks[i].Clone()
		checkIndex(t, c)
		key := rapid.SampledFrom(keys[:s.nkeys]).Draw(t, "key")
		s.add(i, key)
		c.Put("z", unit{}, c.Mint(s.ids[i]))
		checkIndex(t, c)
		s.checkDeltas(t, c)
		if rapid.Bool().Draw(t, "keepCopy") {
			s.ks[i] = s.ks[i].Clone()
		}
	case 1:
		s.ks[i] = roundTrip(t, s.ks[i])
	case 2:
		s.ks[i].DeltaSince(s.drawVersion(t, s.ks[i], "builder"))
	case 3:
		k := s.ks[i]
		v := s.drawVersion(t, k, "collect")
		before := [][]uint64{floors(k.ix), floors(k.rix)}
		k.Collect(v)
		checkRaised(t, k.ix, k.reps, before[0], v)
		checkRaised(t, k.rix, k.reps, before[1], v)
	case 4:
		// A delta for a version older than the receiver's.
		v := s.drawVersion(t, s.ks[i], "delta")
		v.Meet(s.ks[i].Version())
		s.ks[i].Join(s.ks[j].DeltaSince(v))
	default:
		s.step(t) // the mutations the other tests use
	}
	return i
}

// TestDeltaSinceMatchesScan runs replicas through every kind of mutation
// and checks, after each, that DeltaSince gives exactly what a scan of
// the store gives, for many versions, and that the index covers the
// store.
func TestDeltaSinceMatchesScan(t *testing.T) {
	defer func(n int) { compactSlack = n }(compactSlack)
	rapid.Check(t, func(t *rapid.T) {
		compactSlack = rapid.IntRange(0, 3).Draw(t, "slack")
		s := newSim(t)
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			i := s.stepIndexed(t)
			checkIndex(t, s.ks[i])
			if rapid.IntRange(0, 2).Draw(t, "check") == 0 {
				s.checkDeltas(t, s.ks[i])
			}
		}
		for _, k := range s.ks {
			checkInvariants(t, k)
			checkIndex(t, k)
			s.checkDeltas(t, k)
		}
	})
}

// dotKern is a kernel keyed by dots, as a multi-value register uses it:
// a remote write drops the dots it replaced, each of which is a key.
type dotKern = Kernel[vclock.Dot, int]

// TestDeltaSinceMatchesScanDotKeys checks DeltaSince against the scan for
// kernels keyed by dots, where a remote write drops other keys.
func TestDeltaSinceMatchesScanDotKeys(t *testing.T) {
	defer func(n int) { compactSlack = n }(compactSlack)
	rapid.Check(t, func(t *rapid.T) {
		compactSlack = rapid.IntRange(0, 3).Draw(t, "slack")
		ids := []crdt.ReplicaID{"a", "b", "c"}
		ks := []*dotKern{{}, {}, {}}
		type write struct {
			dot      vclock.Dot
			v        int
			replaced []vclock.Dot
		}
		var writes []write
		for range rapid.IntRange(0, 50).Draw(t, "steps") {
			i := rapid.IntRange(0, 2).Draw(t, "i")
			k := ks[i]
			switch rapid.IntRange(0, 5).Draw(t, "step") {
			case 0, 1: // a local write replacing every sibling
				var replaced []vclock.Dot
				for _, x := range slices.Collect(func(yield func(vclock.Dot) bool) {
					for key := range k.All() {
						if !yield(key) {
							return
						}
					}
				}) {
					replaced = append(replaced, k.Remove(x)...)
				}
				slices.SortFunc(replaced, vclock.Dot.Compare)
				d := k.Mint(ids[i])
				k.Put(d, len(writes), d)
				writes = append(writes, write{d, len(writes), replaced})
			case 2: // a write delivered, in any order
				if len(writes) > 0 {
					w := rapid.SampledFrom(writes).Draw(t, "write")
					k.Insert(w.dot, w.v, w.dot, slices.Clone(w.replaced))
				}
			case 3:
				k.Join(ks[rapid.IntRange(0, 2).Draw(t, "j")])
			case 4:
				o := ks[rapid.IntRange(0, 2).Draw(t, "j")]
				k.Join(o.DeltaSince(k.Version()))
			case 5:
				ks[i] = k.Clone()
			}
			checkIndex(t, ks[i])
			var v vclock.Clock
			for _, id := range ids {
				v.Set(id, uint64(rapid.IntRange(0, int(ks[i].ctx.Version().Get(id))+1).Draw(t, "v"+string(id))))
			}
			if g, w := describe(ks[i].DeltaSince(v)), describe(deltaSinceScan(ks[i], v)); g != w {
				t.Fatalf("DeltaSince(%v):\n%s\nscan:\n%s", v, g, w)
			}
			checkIndex(t, ks[i])
		}
	})
}

// TestIndexStaysSmall rewrites a few keys many times, with the index
// built: stale references are compacted away, and a Collect drops those
// every replica has seen. (No drop records are kept, so that the horizon
// stays put and every delta comes from the index or a scan.)
func TestIndexStaysSmall(t *testing.T) {
	var k kern
	v0 := k.Version()
	k.Put("a", unit{}, k.Mint("a"))
	k.DeltaSince(v0) // builds the index
	if !k.ix.Active() {
		t.Fatal("DeltaSince built no index")
	}
	for i := range 10_000 {
		key := keys[i%len(keys)]
		k.Put(key, unit{}, k.Mint("a"))
		if i%7 == 0 {
			k.Remove(key)
			k.Mint("a")
		}
	}
	checkIndex(t, &k)
	if n := k.ix.Refs(); n > 2*len(keys)+2*compactSlack {
		t.Fatalf("%d references for %d keys", n, k.Len())
	}
	if got, want := describe(k.DeltaSince(v0)), describe(deltaSinceScan(&k, v0)); got != want {
		t.Fatalf("DeltaSince:\n%s\nscan:\n%s", got, want)
	}
	k.Collect(k.Version())
	checkIndex(t, &k)
	if n := k.ix.Refs(); n != 0 {
		t.Fatalf("%d references after collecting everything", n)
	}
	// A version below the raised floors is answered by a scan, which
	// lowers them again.
	v := vclock.Clock{}
	v.Set("a", k.Version().Get("a")-20)
	if got, want := describe(k.DeltaSince(v)), describe(deltaSinceScan(&k, v)); got != want {
		t.Fatalf("DeltaSince below the floor:\n%s\nscan:\n%s", got, want)
	}
	checkIndex(t, &k)
	if k.ix.Refs() == 0 || k.ix.logs[0].floor != v.Get("a") {
		t.Fatalf("floor %d with %d references after a scan for %v", k.ix.logs[0].floor, k.ix.Refs(), v)
	}
}

// TestIndexOutOfOrder delivers a replica's adds in reverse order to a
// kernel whose index is built, then checks deltas for every version.
func TestIndexOutOfOrder(t *testing.T) {
	var src kern
	var muts []mutation
	for i := range 300 {
		key := fmt.Sprintf("k%03d", i)
		d := src.Mint("a")
		src.Put(key, unit{}, d)
		muts = append(muts, mutation{key: key, dot: d})
	}
	var k kern
	k.DeltaSince(vclock.Clock{})
	for i := len(muts) - 1; i >= 0; i-- {
		muts[i].apply(&k)
	}
	checkIndex(t, &k)
	for n := range uint64(301) {
		v := vclock.Clock{}
		v.Set("a", n)
		if got, want := encode(t, k.DeltaSince(v)), encode(t, deltaSinceScan(&k, v)); !slices.Equal(got, want) {
			t.Fatalf("DeltaSince(%v) differs from the scan", v)
		}
	}
}

// TestDeltaSinceConcurrentReaders calls DeltaSince and Clone from several
// goroutines at once, as readers sharing a read lock may: the first calls
// build the index. Run with -race.
func TestDeltaSinceConcurrentReaders(t *testing.T) {
	var k kern
	for i := range 2000 {
		d := k.Mint(crdt.ReplicaID([]string{"a", "b"}[i%2]))
		k.Put(fmt.Sprintf("k%04d", i), unit{}, d)
	}
	versions := make([]vclock.Clock, 8)
	for i := range versions {
		versions[i].Set("a", uint64(1000-100*i))
		versions[i].Set("b", uint64(900+10*i))
	}
	want := make([][]byte, len(versions))
	for i, v := range versions {
		want[i] = encode(t, deltaSinceScan(&k, v))
	}
	got := make([][]byte, len(versions))
	var wg sync.WaitGroup
	for i, v := range versions {
		wg.Go(func() {
			got[i] = encode(t, k.DeltaSince(v))
			if i%2 == 0 {
				k.Clone()
			}
		})
	}
	wg.Wait()
	for i := range versions {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("DeltaSince(%v) differs from the scan", versions[i])
		}
	}
	checkIndex(t, &k)
}

// TestDecodedKernelHasIndex checks that decoding gives a kernel whose
// DeltaSince builds an index, rather than scanning every time.
func TestDecodedKernelHasIndex(t *testing.T) {
	var k kern
	for i := range 100 {
		k.Put(fmt.Sprintf("k%03d", i), unit{}, k.Mint("a"))
	}
	w := codec.NewWriter(codec.KindSet, 0)
	k.Encode(w, putString, nil)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	v := vclock.Clock{}
	v.Set("a", 90)
	got.DeltaSince(v)
	if !got.ix.Active() || got.ix.Refs() != 10 {
		t.Fatalf("after a delta for %v: index built %v with %d references", v, got.ix.Active(), got.ix.Refs())
	}
}

// TestRecordIndex keeps many drop records, under a cap, arriving out of
// order and collected now and then, with the record index built, and
// checks the deltas for every version against the scan.
func TestRecordIndex(t *testing.T) {
	defer func(n int) { compactSlack = n }(compactSlack)
	compactSlack = 2
	var src kern
	var muts []mutation
	for i := range 400 {
		key := fmt.Sprintf("k%02d", i%40)
		d := src.Mint("a")
		dropped := src.Put(key, unit{}, d)
		muts = append(muts, mutation{key: key, dot: d, dropped: slices.Clone(dropped)})
		if i%3 == 0 {
			dropped := src.Remove(key)
			d := src.Mint("a")
			muts = append(muts, mutation{remove: true, key: key, dot: d, dropped: slices.Clone(dropped)})
		}
	}
	k := kern{MaxRecords: 150, RecordsAll: true}
	k.DeltaSince(vclock.Clock{})
	// Every third mutation first, then the rest backwards.
	for i := 0; i < len(muts); i += 3 {
		muts[i].apply(&k)
	}
	for i := len(muts) - 1; i >= 0; i-- {
		muts[i].apply(&k)
		if i%50 == 0 {
			v := vclock.Clock{}
			v.Set("a", uint64(i/2))
			k.Collect(v)
		}
	}
	checkIndex(t, &k)
	if k.recs.len() == 0 {
		t.Fatal("no records kept")
	}
	for n := range uint64(len(muts) + 1) {
		v := vclock.Clock{}
		v.Set("a", n)
		if got, want := describe(k.DeltaSince(v)), describe(deltaSinceScan(&k, v)); got != want {
			t.Fatalf("DeltaSince(%v):\n%s\nscan:\n%s", v, got, want)
		}
		checkIndex(t, &k)
	}
}

// floors returns the floor of each of x's logs.
func floors[K comparable](x *Index[K]) []uint64 {
	if x == nil {
		return nil
	}
	var out []uint64
	for _, l := range x.logs {
		out = append(out, l.floor)
	}
	return out
}

// checkRaised checks that raising the floors of x to v moved each to the
// larger of what it was and v's count.
func checkRaised[K comparable](t tb, x *Index[K], reps []crdt.ReplicaID, before []uint64, v vclock.Clock) {
	t.Helper()
	if !x.Active() {
		return
	}
	for r, l := range x.logs {
		want := v.Get(reps[r])
		if r < len(before) {
			want = max(want, before[r])
		}
		if l.floor != want {
			t.Fatalf("floor of %v raised to %d, want %d", reps[r], l.floor, want)
		}
	}
}

// TestDotLog checks a replica's log of references, across several
// blocks, against a plain slice: references added in and out of order,
// sorted, searched, filtered and copied.
func TestDotLog(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var l dotLog[int]
		var model []dotRef[int]
		check := func() {
			if l.n != len(model) {
				t.Fatalf("%d references, want %d", l.n, len(model))
			}
			for i, want := range model {
				if *l.at(i) != want {
					t.Fatalf("reference %d is %v, want %v", i, *l.at(i), want)
				}
			}
		}
		for range rapid.IntRange(1, 12).Draw(t, "rounds") {
			// A run of references, mostly increasing, some not.
			next := uint64(1)
			if len(model) > 0 {
				next = slices.MaxFunc(model, func(a, b dotRef[int]) int { return int(a.seq) - int(b.seq) }).seq + 1
			}
			for range rapid.IntRange(0, 700).Draw(t, "adds") {
				seq := next
				if rapid.IntRange(0, 9).Draw(t, "late") == 0 {
					seq = uint64(rapid.IntRange(1, int(next)).Draw(t, "lateSeq"))
				} else {
					next++
				}
				key := int(seq) * 7
				l.push(seq, key)
				model = append(model, dotRef[int]{seq, key})
			}
			check()
			switch rapid.IntRange(0, 3).Draw(t, "then") {
			case 0:
				l.sort()
				slices.SortStableFunc(model, func(a, b dotRef[int]) int { return int(a.seq) - int(b.seq) })
				check()
				s := uint64(rapid.IntRange(0, int(next)).Draw(t, "search"))
				want, _ := slices.BinarySearchFunc(model, s+1, func(r dotRef[int], s uint64) int { return int(r.seq) - int(s) })
				if got := l.search(s); got != want {
					t.Fatalf("search(%d) = %d, want %d", s, got, want)
				}
			case 1:
				m := uint64(rapid.IntRange(1, 5).Draw(t, "mod"))
				keep := func(r dotRef[int]) bool { return r.seq%m != 0 }
				l.filter(keep)
				model = slices.DeleteFunc(model, func(r dotRef[int]) bool { return !keep(r) })
				check()
			case 2:
				c := l.clone()
				c.push(next, int(next)*7)
				l.push(next, -1) // must not show in c
				l = c
				model = append(model, dotRef[int]{next, int(next) * 7})
				check()
			default:
				n := rapid.IntRange(0, len(model)).Draw(t, "truncate")
				l.truncate(n)
				model = model[:n]
				check()
			}
		}
	})
}
