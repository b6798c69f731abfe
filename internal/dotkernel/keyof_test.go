package dotkernel

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// chainVal is a value that says which earlier dots it continues, as a
// counter chain's leaf does: n is what it counts, lg how far its dot is
// from the chain's first dot (0 for a chain's first leaf).
type chainVal struct {
	n  int64
	lg uint64
}

// chainKey is the key a chain's leaves share: the chain's first dot.
func chainKey(d vclock.Dot, v chainVal) vclock.Dot {
	return vclock.Dot{Replica: d.Replica, Seq: d.Seq - v.lg}
}

type chainKern = Kernel[vclock.Dot, chainVal]

func putChainVal(w *codec.Writer, v chainVal) { w.Int(v.n); w.Uint(v.lg) }
func getChainVal(r *codec.Reader) chainVal    { return chainVal{n: r.Int(), lg: r.Uint()} }
func putDotKey(w *codec.Writer, d vclock.Dot) { w.Replica(string(d.Replica)); w.Uint(d.Seq) }
func getDotKey(r *codec.Reader) vclock.Dot    { return GetDot(r) }

func encodeChain(t tb, k *chainKern) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindMV, 0)
	k.Encode(w, putDotKey, putChainVal)
	b, err := w.Bytes()
	if err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return b
}

func decodeChain(t tb, b []byte) *chainKern {
	t.Helper()
	r := codec.NewReader(b, codec.KindMV, codec.Limits{})
	k := DecodeKeyed(r, getDotKey, getChainVal, chainKey)
	if err := r.Done(); err != nil {
		t.Fatalf("decoding %x: %v", b, err)
	}
	return k
}

// pairs returns the (dot, value) pairs of k's store, sorted by dot, and
// fails if a key of k does not hold one dot, or is not the key its dot and
// value derive (when k derives its keys).
func pairs(t tb, k *chainKern) []string {
	t.Helper()
	var out []string
	for key, v := range k.All() {
		ds := k.Dots(key)
		if k.KeyOf != nil {
			if len(ds) != 1 {
				t.Fatalf("key %v holds the dots %v, want one", key, ds)
			}
			if got := k.KeyOf(ds[0], v); got != key {
				t.Fatalf("dot %v with %v is held under %v, its key is %v", ds[0], v, key, got)
			}
		}
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%v=%v", d, v))
		}
	}
	slices.Sort(out)
	return out
}

// settle is the model's "later covers earlier": of the leaves of one
// chain, all but the latest leave the store, as implied, without a record
// (what a data type keyed by dots does after its joins).
func settle(k *chainKern) {
	latest := map[vclock.Dot]vclock.Dot{}
	var drop []vclock.Dot
	for d, v := range k.All() {
		c := chainKey(d, v)
		switch l, ok := latest[c]; {
		case !ok:
			latest[c] = d
		case l.Seq < d.Seq:
			drop = append(drop, l)
			latest[c] = d
		default:
			drop = append(drop, d)
		}
	}
	for _, d := range drop {
		k.Remove(d)
	}
}

// TestKeyOfMatchesOwnKeys runs three replicas twice: as kernels that
// derive their keys from dot and value (a chain's leaves under its first
// dot, continued in place by BumpOwn), and as the model, kernels keyed by
// dot (each leaf under its own dot, replaced by ReplaceOwn) that settle
// their chains after each join. Steps: new chains, bumps, deletes with a
// record (naming the dot dropped, not its chain), full joins, joins of a
// delta since a random version below the receiver's, clones, and a
// retirement at the end. After each step the two agree on the (dot,
// value) pairs, the fingerprint and the encoding; a derived kernel
// decodes to itself.
func TestKeyOfMatchesOwnKeys(t *testing.T) {
	defer func(n int) { minIdle = n }(minIdle)
	rapid.Check(t, func(t *rapid.T) {
		// A small minIdle lets the order go between the queries, to be
		// made again (see TestOrderLetGoWhenIdle).
		minIdle = rapid.SampledFrom([]int{0, 2, 1024}).Draw(t, "minIdle")
		ids := []vclock.ReplicaID{vclock.Writer("a", 1), vclock.Writer("b", 1), vclock.Writer("c", 1)}
		capRecs := rapid.SampledFrom([]int{0, 2, 5}).Draw(t, "cap")
		var subj, model [3]*chainKern
		// watched[i] is what subj[i]'s Watch has heard of its store: the
		// value of each dot (BumpOwn, which does not tell it, is noted
		// by the step that calls it).
		var watched [3]map[vclock.Dot]chainVal
		watch := func(i int) {
			watched[i] = map[vclock.Dot]chainVal{}
			for key, v := range subj[i].All() {
				watched[i][subj[i].Dots(key)[0]] = v
			}
			subj[i].Watch = func(_ vclock.Dot, v chainVal, d vclock.Dot, added bool) {
				if added {
					watched[i][d] = v
				} else {
					delete(watched[i], d)
				}
			}
		}
		for i := range ids {
			subj[i] = &chainKern{KeyOf: chainKey, MaxRecords: capRecs, RecordsAll: true}
			model[i] = &chainKern{MaxRecords: capRecs, RecordsAll: true}
			watch(i)
		}
		check := func(i int, what string) {
			s, m := subj[i], model[i]
			if ps, pm := pairs(t, s), pairs(t, m); !slices.Equal(ps, pm) {
				t.Fatalf("%s, replica %d: store %v, model %v", what, i, ps, pm)
			}
			if s.Watch != nil {
				var ws []string
				for d, v := range watched[i] {
					ws = append(ws, fmt.Sprintf("%v=%v", d, v))
				}
				slices.Sort(ws)
				if ps := pairs(t, s); !slices.Equal(ws, ps) {
					t.Fatalf("%s, replica %d: the Watch heard of %v, the store holds %v", what, i, ws, ps)
				}
			}
			if s.Fingerprint() != m.Fingerprint() || s.Fingerprint() != s.ScanFingerprint() {
				t.Fatalf("%s, replica %d: fingerprint %x (scanned %x), model %x", what, i, s.Fingerprint(), s.ScanFingerprint(), m.Fingerprint())
			}
			bs, bm := encodeChain(t, s), encodeChain(t, m)
			if !slices.Equal(bs, bm) {
				t.Fatalf("%s, replica %d: encoding\n%x\nmodel\n%x", what, i, bs, bm)
			}
			d := decodeChain(t, bs)
			if pd := pairs(t, d); !slices.Equal(pd, pairs(t, m)) || d.Fingerprint() != m.Fingerprint() {
				t.Fatalf("%s, replica %d: decoded %v (fingerprint %x), want %v (%x)", what, i, pd, d.Fingerprint(), pairs(t, m), m.Fingerprint())
			}
			if again := encodeChain(t, d); !slices.Equal(again, bs) {
				t.Fatalf("%s, replica %d: re-encoding differs", what, i)
			}
		}
		// own returns the chain keys of replica i whose leaf is i's own.
		own := func(i int) []vclock.Dot {
			var ks []vclock.Dot
			for key := range subj[i].All() {
				if ds := subj[i].Dots(key); len(ds) == 1 && ds[0].Replica == ids[i] {
					ks = append(ks, key)
				}
			}
			slices.SortFunc(ks, vclock.Dot.Compare)
			return ks
		}
		for step := range rapid.IntRange(1, 40).Draw(t, "steps") {
			i := rapid.IntRange(0, 2).Draw(t, "replica")
			id := ids[i]
			s, m := subj[i], model[i]
			what := ""
			switch op := rapid.IntRange(0, 7).Draw(t, "op"); op {
			case 0: // a new chain
				n := rapid.Int64Range(-5, 5).Draw(t, "n")
				d, err := s.Next(id)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := s.MintPut(id, d, chainVal{n: n}); err != nil {
					t.Fatal(err)
				}
				if md, err := MintOwn(m, id, chainVal{n: n}); err != nil || md != d {
					t.Fatalf("model minted %v, %v; want %v", md, err, d)
				}
				what = fmt.Sprintf("new chain %v", d)
			case 1, 2: // a bump of an own chain
				ks := own(i)
				if len(ks) == 0 {
					continue
				}
				key := rapid.SampledFrom(ks).Draw(t, "key")
				v, old, d, err := BumpOwn(s, id, key)
				if err != nil {
					t.Fatalf("BumpOwn(%v): %v", key, err)
				}
				v.n++
				v.lg = d.Seq - key.Seq
				md, _, _, err := ReplaceOwn(m, id, old, func(o chainVal, d vclock.Dot) (chainVal, error) {
					return chainVal{n: o.n + 1, lg: d.Seq - key.Seq}, nil
				})
				if err != nil || md != d {
					t.Fatalf("model replaced %v by %v, %v; want %v", old, md, err, d)
				}
				delete(watched[i], old)
				watched[i][d] = *v
				what = fmt.Sprintf("bump %v to %v", key, d)
			case 3: // a delete, recorded under the dot dropped
				var ds []vclock.Dot
				for key := range s.All() {
					ds = append(ds, s.Dots(key)...)
				}
				if len(ds) == 0 {
					continue
				}
				slices.SortFunc(ds, vclock.Dot.Compare)
				x := rapid.SampledFrom(ds).Draw(t, "dot")
				v, _ := m.Get(x)
				dropped := s.Remove(chainKey(x, v))
				if !slices.Equal(dropped, []vclock.Dot{x}) {
					t.Fatalf("removing the chain of %v dropped %v", x, dropped)
				}
				m.Remove(x)
				d := s.Mint(id)
				m.Mint(id)
				s.Record(d, x, dropped)
				m.Record(d, x, slices.Clone(dropped))
				what = fmt.Sprintf("delete %v by %v", x, d)
			case 4: // a full join
				j := rapid.IntRange(0, 2).Draw(t, "from")
				s.Join(subj[j])
				m.Join(model[j])
				settle(m)
				what = fmt.Sprintf("join of %d", j)
			case 5: // a join of a delta since a version below i's
				j := rapid.IntRange(0, 2).Draw(t, "from")
				var v vclock.Clock
				for _, r := range ids {
					if n := s.Version().Get(r); n > 0 {
						v.Advance(r, rapid.Uint64Range(0, n).Draw(t, "seen"))
					}
				}
				ds, dm := subj[j].DeltaSince(v), model[j].DeltaSince(v)
				if ds.KeyOf == nil {
					t.Fatal("DeltaSince left KeyOf out")
				}
				if ps, pm := pairs(t, ds), pairs(t, dm); !slices.Equal(ps, pm) || ds.Fingerprint() != dm.Fingerprint() {
					t.Fatalf("delta since %v: %v, model %v", v, ps, pm)
				}
				s.Join(ds)
				m.Join(dm)
				settle(m)
				what = fmt.Sprintf("join of %d's delta since %v", j, v)
			case 6: // a clone
				subj[i], model[i] = s.Clone(), m.Clone()
				watch(i)
				what = "clone"
			case 7: // a catch-up in parts, some of them lost
				j := rapid.IntRange(0, 2).Draw(t, "from")
				what = catchUpInParts(t, s, m, subj[j])
			}
			check(i, fmt.Sprintf("step %d, %s", step, what))
		}
		if !rapid.Bool().Draw(t, "retire") {
			return
		}
		// a!1 retires, up to a Final below or at its last event; every
		// replica renames its dots, and a join of all keeps agreeing.
		var last uint64
		for i := range ids {
			subj[i].Context().RangesWithin(ids[0], 1, vclock.MaxSeq, func(_, hi uint64) { last = max(last, hi) })
		}
		if last == 0 {
			return
		}
		r := vclock.Retirement{From: ids[0], To: vclock.Retired("a"), Final: rapid.Uint64Range(1, last).Draw(t, "final")}
		for i := range ids {
			subj[i].Watch = nil // a retirement renames without telling it
			if err := subj[i].Retire(r); err != nil {
				t.Fatal(err)
			}
			if err := model[i].Retire(r); err != nil {
				t.Fatal(err)
			}
			check(i, fmt.Sprintf("retiring %v up to %d", r.From, r.Final))
		}
		for i := range ids {
			for j := range ids {
				subj[i].Join(subj[j])
				model[i].Join(model[j])
				settle(model[i])
				check(i, fmt.Sprintf("join of %d after retiring", j))
			}
		}
	})
}

// TestBumpOwnWithin checks BumpOwnWithin's gap: a bump to a dot at most
// maxGap past the key goes on, one further is refused with ErrPastGap and
// changes nothing (store, fingerprint, context), both where the context's
// common case mints (the writer's dots one run) and where it does not (a
// gap in the writer's dots); and a writer with no sequence number left
// gets ErrSeqExhausted before any gap is looked at.
func TestBumpOwnWithin(t *testing.T) {
	a := vclock.ReplicaID("a")
	k := &chainKern{KeyOf: chainKey}
	a1, _ := k.Next(a)
	if _, _, err := k.MintPut(a, a1, chainVal{n: 1}); err != nil {
		t.Fatal(err)
	}
	bump := func(maxGap uint64) (vclock.Dot, error) {
		t.Helper()
		v, _, d, err := BumpOwnWithin(k, a, a1, maxGap)
		if err == nil {
			v.n, v.lg = v.n+1, d.Seq-a1.Seq
		}
		return d, err
	}
	refused := func(what string, maxGap uint64) {
		t.Helper()
		bs, fp := encodeChain(t, k), k.Fingerprint()
		next, _ := k.Next(a)
		if _, err := bump(maxGap); !errors.Is(err, ErrPastGap) {
			t.Fatalf("%s: %v, want ErrPastGap", what, err)
		}
		if got, _ := k.Next(a); !slices.Equal(encodeChain(t, k), bs) || k.Fingerprint() != fp || got != next {
			t.Fatalf("%s: the refusal changed the kernel", what)
		}
	}
	// The common case: a's dots are one run.
	if d, err := bump(1); err != nil || d.Seq != 2 {
		t.Fatalf("a gap of 1 within 1: %v, %v", d, err)
	}
	refused("a gap of 2 past 1", 1)
	if d, err := bump(2); err != nil || d.Seq != 3 {
		t.Fatalf("a gap of 2 within 2: %v, %v", d, err)
	}
	// Not the common case: a's dots have a gap below the next.
	k.Context().Add(vclock.Dot{Replica: a, Seq: 10})
	refused("a gap of 10 past 9, the long way", 9)
	if d, err := bump(10); err != nil || d.Seq != 11 {
		t.Fatalf("a gap of 10 within 10, the long way: %v, %v", d, err)
	}
	if got := k.Dots(a1); !slices.Equal(got, []vclock.Dot{{Replica: a, Seq: 11}}) || k.Len() != 1 {
		t.Fatalf("a1 holds %v (%d keys)", got, k.Len())
	}
	if k.Fingerprint() != k.ScanFingerprint() {
		t.Fatal("the fingerprint did not follow the bumps")
	}
	// No sequence number left: the writer's error, not the gap's.
	k.Context().Add(vclock.Dot{Replica: a, Seq: vclock.MaxSeq})
	if _, err := bump(0); !errors.Is(err, vclock.ErrSeqExhausted) {
		t.Fatalf("an exhausted writer: %v, want ErrSeqExhausted", err)
	}
}

// TestBumpOwn checks BumpOwn's refusals, which change nothing (a key not
// held, a key held by another replica's dot, a writer with no sequence
// number left), and a bump of a key still in the old array of a table
// that grows.
func TestBumpOwn(t *testing.T) {
	spreadMoves(t)
	a, b := vclock.ReplicaID("a"), vclock.ReplicaID("b")
	k := &chainKern{KeyOf: chainKey}
	fresh := func(id vclock.ReplicaID) vclock.Dot {
		d, _ := k.Next(id)
		if _, _, err := k.MintPut(id, d, chainVal{n: 1}); err != nil {
			t.Fatal(err)
		}
		return d
	}
	a1, b1 := fresh(a), fresh(b)
	unchanged := func(what string, bs []byte, fp uint64) {
		t.Helper()
		if got := encodeChain(t, k); !slices.Equal(got, bs) || k.Fingerprint() != fp {
			t.Fatalf("%s changed the kernel", what)
		}
	}
	bs, fp := encodeChain(t, k), k.Fingerprint()
	if _, _, _, err := BumpOwn(k, a, vclock.Dot{Replica: a, Seq: 9}); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("a key not held: %v, want ErrNotHeld", err)
	}
	unchanged("a key not held", bs, fp)
	if _, _, _, err := BumpOwn(k, a, b1); !errors.Is(err, ErrNotOwn) {
		t.Fatalf("b's key bumped by a: %v, want ErrNotOwn", err)
	}
	unchanged("b's key", bs, fp)

	// The bump itself: the entry keeps its key, takes the next dot.
	v, old, d, err := BumpOwn(k, a, a1)
	if err != nil || old != a1 || d != (vclock.Dot{Replica: a, Seq: 2}) {
		t.Fatalf("BumpOwn(a1) = %v, %v, %v", old, d, err)
	}
	v.n, v.lg = v.n+1, d.Seq-a1.Seq
	if got := k.Dots(a1); !slices.Equal(got, []vclock.Dot{d}) || k.Len() != 2 {
		t.Fatalf("after the bump a1 holds %v (%d keys), want %v", got, k.Len(), d)
	}
	if k.Fingerprint() != k.ScanFingerprint() {
		t.Fatal("the fingerprint did not follow the bump")
	}

	// A writer with no sequence number left.
	z := vclock.ReplicaID("z")
	z1 := vclock.Dot{Replica: z, Seq: 1}
	k.Context().Add(vclock.Dot{Replica: z, Seq: vclock.MaxSeq})
	k.Context().Add(z1)
	k.PutNew(z1, chainVal{n: 1}, z1)
	bs, fp = encodeChain(t, k), k.Fingerprint()
	if _, _, _, err := BumpOwn(k, z, vclock.Dot{Replica: z, Seq: 1}); !errors.Is(err, vclock.ErrSeqExhausted) {
		t.Fatalf("a writer with no sequence number left: %v", err)
	}
	unchanged("an exhausted writer", bs, fp)

	// A table that grows: keys still in the old array are bumped there.
	g := &chainKern{KeyOf: chainKey}
	var keys []vclock.Dot
	for range 7 * groupSize / 8 * 4 {
		d, _ := g.Next(a)
		g.MintPut(a, d, chainVal{})
		keys = append(keys, d)
	}
	migrating := false
	for i := 0; !migrating && i < 1<<16; i++ {
		d, _ := g.Next(b)
		g.MintPut(b, d, chainVal{})
		migrating = g.m.oldN > 0
	}
	if !migrating {
		t.Fatal("the table never migrated")
	}
	bumped := 0
	for _, key := range keys {
		if _, found := g.m.findOld(key, g.m.hash(key)); !found {
			continue
		}
		v, _, d, err := BumpOwn(g, a, key)
		if err != nil {
			t.Fatalf("BumpOwn(%v) in the old array: %v", key, err)
		}
		v.n, v.lg = 1, d.Seq-key.Seq
		if got, _ := g.Get(key); got != (chainVal{n: 1, lg: d.Seq - key.Seq}) || !slices.Equal(g.Dots(key), []vclock.Dot{d}) {
			t.Fatalf("%v after its bump in the old array: %v, %v", key, got, g.Dots(key))
		}
		bumped++
	}
	if bumped == 0 {
		t.Fatal("no key was in the old array")
	}
	if g.Fingerprint() != g.ScanFingerprint() {
		t.Fatal("the fingerprint did not follow the bumps in the old array")
	}
}

// TestKeyOfLaterStays meets two leaves of one chain where the later may
// arrive first: ops inserted in either order, states joined either way
// after them, and a state keyed by dot holding both (which no replica
// writes) decoded. Each time the chain's key holds the later leaf with its
// own value, and the fingerprint counts it alone.
func TestKeyOfLaterStays(t *testing.T) {
	a := vclock.ReplicaID("a")
	a1, a2, a3 := vclock.Dot{Replica: a, Seq: 1}, vclock.Dot{Replica: a, Seq: 2}, vclock.Dot{Replica: a, Seq: 3}
	early, late := chainVal{n: 1, lg: 1}, chainVal{n: 2, lg: 2} // a2 and a3 continue the chain of a1
	want := func(what string, k *chainKern) {
		t.Helper()
		if got := pairs(t, k); !slices.Equal(got, []string{fmt.Sprintf("%v=%v", a3, late)}) {
			t.Fatalf("%s: %v, want a3 alone", what, got)
		}
		var only chainKern
		only.Context().Add(a3)
		only.PutNew(a3, late, a3)
		if k.Fingerprint() != only.Fingerprint() || k.Fingerprint() != k.ScanFingerprint() {
			t.Fatalf("%s: fingerprint %x (scanned %x), want %x", what, k.Fingerprint(), k.ScanFingerprint(), only.Fingerprint())
		}
	}
	insert := func(ds ...vclock.Dot) *chainKern {
		k := &chainKern{KeyOf: chainKey}
		for _, d := range ds {
			v := early
			if d == a3 {
				v = late
			}
			k.Insert(a1, v, d, nil)
		}
		return k
	}
	want("a2 then a3", insert(a2, a3))
	want("a3 then a2", insert(a3, a2))
	for _, x := range []*chainKern{insert(a2), insert(a3)} {
		for _, y := range []*chainKern{insert(a2), insert(a3)} {
			if x.Dots(a1)[0] == y.Dots(a1)[0] {
				continue
			}
			j := x.Clone()
			j.Join(y)
			want(fmt.Sprintf("%v joined with %v", x.Dots(a1), y.Dots(a1)), j)
		}
	}
	// A state keyed by dot with both leaves, decoded with keys derived.
	var byDot chainKern
	for _, d := range []vclock.Dot{a1, a2, a3} {
		byDot.Context().Add(d)
	}
	byDot.PutNew(a2, early, a2)
	byDot.PutNew(a3, late, a3)
	w := codec.NewWriter(codec.KindMV, 0)
	byDot.Encode(w, putDotKey, putChainVal)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want("decoded", decodeChain(t, b))
}

// TestKeyOfDropByOrder drops a chain's later leaf by its dot, as an op
// names it (Drop under the dot, Insert with the dot among its dropped):
// the leaf is found under its chain's key through the order of the
// store's dots, and the fingerprint follows.
func TestKeyOfDropByOrder(t *testing.T) {
	a, b := vclock.ReplicaID("a"), vclock.ReplicaID("b")
	for _, how := range []string{"Drop", "Insert"} {
		k := &chainKern{KeyOf: chainKey}
		a1, _ := k.Next(a)
		k.MintPut(a, a1, chainVal{n: 1})
		b1, _ := k.Next(b)
		k.MintPut(b, b1, chainVal{n: 1})
		for range 2 {
			v, _, d, err := BumpOwn(k, a, a1)
			if err != nil {
				t.Fatal(err)
			}
			v.n, v.lg = v.n+1, d.Seq-a1.Seq
		}
		x := k.Dots(a1)[0] // a:3, held under a:1
		c1 := vclock.Dot{Replica: "c", Seq: 1}
		if how == "Drop" {
			if !k.Drop(x, []vclock.Dot{x}) {
				t.Fatalf("Drop(%v) changed nothing", x)
			}
			k.Observe(c1)
		} else {
			k.Insert(c1, chainVal{n: 5}, c1, []vclock.Dot{x})
		}
		if k.Has(a1) || k.Fingerprint() != k.ScanFingerprint() {
			t.Fatalf("%s of %v: a1 held %v, fingerprint %x, scanned %x", how, x, k.Has(a1), k.Fingerprint(), k.ScanFingerprint())
		}
	}
}

// TestHolderOf: HolderOf finds a dot held under a key derived from an
// earlier dot (a continued chain's leaf), finds it again (the order keeps
// what it finds), finds a dot that is its own key, and finds none for a
// dot dropped, replaced by a later one of its chain, or never seen.
func TestHolderOf(t *testing.T) {
	a, b := vclock.ReplicaID("a"), vclock.ReplicaID("b")
	k := &chainKern{KeyOf: chainKey}
	a1, _ := k.Next(a)
	k.MintPut(a, a1, chainVal{n: 1})
	b1, _ := k.Next(b)
	k.MintPut(b, b1, chainVal{n: 1})
	var ds []vclock.Dot
	for range 2 {
		v, _, d, err := BumpOwn(k, a, a1)
		if err != nil {
			t.Fatal(err)
		}
		v.n, v.lg = v.n+1, d.Seq-a1.Seq
		ds = append(ds, d)
	}
	x := ds[1] // a:3, held under a:1
	for i := range 2 {
		if key, ok := k.HolderOf(x); !ok || key != a1 {
			t.Fatalf("call %d: HolderOf(%v) = %v, %v, want %v", i, x, key, ok, a1)
		}
	}
	if key, ok := k.HolderOf(b1); !ok || key != b1 {
		t.Fatalf("HolderOf(%v) = %v, %v, want itself", b1, key, ok)
	}
	for _, d := range []vclock.Dot{ds[0], a1, {Replica: "c", Seq: 1}, {Replica: "a", Seq: 9}} {
		if key, ok := k.HolderOf(d); ok {
			t.Fatalf("HolderOf(%v) = %v: the store does not hold it", d, key)
		}
	}
	if !k.Drop(x, []vclock.Dot{x}) {
		t.Fatalf("Drop(%v) changed nothing", x)
	}
	if key, ok := k.HolderOf(x); ok {
		t.Fatalf("HolderOf(%v) = %v after its drop", x, key)
	}
	// Dots that enter the store after the order was made are in it: a
	// new chain's by MintOwn, and its continuation's by BumpOwn.
	d, err := MintOwn(k, a, chainVal{n: 7})
	if err != nil {
		t.Fatal(err)
	}
	if key, ok := k.HolderOf(d); !ok || key != d {
		t.Fatalf("HolderOf(%v) = %v, %v after MintOwn, want itself", d, key, ok)
	}
	v, _, d2, err := BumpOwn(k, a, d)
	if err != nil {
		t.Fatal(err)
	}
	v.lg = d2.Seq - d.Seq
	if key, ok := k.HolderOf(d2); !ok || key != d {
		t.Fatalf("HolderOf(%v) = %v, %v after BumpOwn, want %v", d2, key, ok, d)
	}
}

// TestOrderLetGoWhenIdle: the order of the store's dots, once made, is
// kept up to date by every insert; the kernel lets it go once it has
// taken more references unqueried than the store has keys (and at least
// minIdle), and makes it again at the next query, which finds what it
// must. A query resets the count. The increments of a map of counters
// after one join through the order, or one HolderOf, would otherwise
// pay for its upkeep for the map's life.
func TestOrderLetGoWhenIdle(t *testing.T) {
	defer func(n int) { minIdle = n }(minIdle)
	minIdle = 4
	a := vclock.ReplicaID("a")
	k := &chainKern{KeyOf: chainKey}
	var keys []vclock.Dot
	for range 6 {
		d, err := MintOwn(k, a, chainVal{n: 1})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, d)
	}
	bump := func(key vclock.Dot) vclock.Dot {
		t.Helper()
		v, _, d, err := BumpOwn(k, a, key)
		if err != nil {
			t.Fatal(err)
		}
		v.n, v.lg = v.n+1, d.Seq-key.Seq
		return d
	}
	if _, ok := k.HolderOf(keys[0]); !ok {
		t.Fatalf("HolderOf(%v): not found", keys[0])
	}
	if k.ix.Order() == nil {
		t.Fatal("HolderOf made no order")
	}
	// Six keys: the order stays for six references, goes at the seventh.
	var last vclock.Dot
	for i := range 6 {
		last = bump(keys[i])
	}
	if k.ix.Order() == nil {
		t.Fatal("the order went after 6 references, with 6 keys")
	}
	if key, ok := k.HolderOf(last); !ok || key != keys[5] {
		t.Fatalf("HolderOf(%v) = %v, %v, want %v", last, key, ok, keys[5])
	}
	// The query reset the count: six more keep it, the seventh lets it go.
	for i := range 6 {
		bump(keys[i])
	}
	if k.ix.Order() == nil {
		t.Fatal("the order went after 6 references since a query")
	}
	last = bump(keys[2])
	if k.ix.Order() != nil {
		t.Fatal("the order stayed after 7 references unqueried, with 6 keys")
	}
	// Made again at the next query, with every dot in it.
	if key, ok := k.HolderOf(last); !ok || key != keys[2] {
		t.Fatalf("HolderOf(%v) = %v, %v after the order went, want %v", last, key, ok, keys[2])
	}
	if k.ix.Order() == nil {
		t.Fatal("HolderOf did not make the order again")
	}
	for _, key := range keys {
		if got, ok := k.HolderOf(key); ok {
			t.Fatalf("HolderOf(%v) = %v: the chain's first leaf was replaced", key, got)
		}
	}
}

// catchUpInParts is a step of TestKeyOfMatchesOwnKeys: from's state, or
// its delta since a version below s's, cut into parts and merged into s
// part by part, some lost (store parts in any order, then a prefix of
// the others, as the replication engine delivers them); and the same
// parts into the model m, which settles its chains after each. The parts
// travel encoded: decoded with KeyOf for s, and keyed by their dots for
// m (a part writes each dot where its key goes, as a whole state does, so
// its bytes are those of the model's part).
func catchUpInParts(t *rapid.T, s, m, from *chainKern) string {
	var v vclock.Clock
	for r, n := range s.Version().All() {
		v.Advance(r, rapid.Uint64Range(0, n).Draw(t, "seen"))
	}
	k, full := from, true
	if !rapid.Bool().Draw(t, "whole") && from.Horizon().LessOrEqual(v) {
		k, full = from.DeltaSince(v), false
	}
	size := func(vclock.Dot, chainVal) int { return 16 }
	budget := rapid.IntRange(40, 200).Draw(t, "budget")
	var parts [][]byte
	var kinds []PartKind
	var ordered int
	for {
		parts, kinds = nil, nil
		var err error
		ordered, err = k.Split(full, budget, size, func(p Part[vclock.Dot, chainVal]) (int, error) {
			if p.K.KeyOf == nil {
				t.Fatalf("a part of kind %d without KeyOf", p.Kind)
			}
			b := encodeChain(t, p.K)
			if len(b) <= budget {
				parts, kinds = append(parts, b), append(kinds, p.Kind)
			}
			return len(b), nil
		})
		if errors.Is(err, ErrPartTooLarge) && budget < 1000 {
			budget *= 2
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	var deliver []int
	lost := false
	for _, i := range rapid.Permutation(slices.Collect(func(yield func(int) bool) {
		for i := range ordered {
			if !yield(i) {
				return
			}
		}
	})).Draw(t, "store parts") {
		if rapid.IntRange(0, 4).Draw(t, "lose") == 0 {
			lost = true
			continue
		}
		deliver = append(deliver, i)
	}
	if !lost {
		for i := ordered; i < ordered+rapid.IntRange(0, len(parts)-ordered).Draw(t, "ordered"); i++ {
			deliver = append(deliver, i)
		}
	}
	for _, i := range deliver {
		ps := decodeChain(t, parts[i])
		r := codec.NewReader(parts[i], codec.KindMV, codec.Limits{})
		pm := Decode(r, getDotKey, getChainVal)
		if err := r.Done(); err != nil {
			t.Fatalf("the model decoding part %d: %v", i, err)
		}
		for _, p := range []*chainKern{ps, pm} {
			p.RecordsAll = true
			if why := p.CheckPart(kinds[i]); why != "" {
				t.Fatalf("part %d of kind %d, decoded: %s", i, kinds[i], why)
			}
		}
		s.JoinPart(kinds[i], ps)
		m.JoinPart(kinds[i], pm)
		settle(m)
	}
	return fmt.Sprintf("catch-up since %v (full %v) in %d parts of %d bytes, merged %v", v, full, len(parts), budget, deliver)
}
