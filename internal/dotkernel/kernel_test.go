package dotkernel

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

type unit = struct{}

// tb is what the helpers need of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

type kern = Kernel[string, unit]

func unitEq(unit, unit) bool { return true }

func putString(w *codec.Writer, s string) { w.String(s) }
func getString(r *codec.Reader) string    { return r.String() }

// mutation is one local mutation of a simulated replica, kept so that it
// can be delivered as an op.
type mutation struct {
	remove  bool
	key     string
	dot     vclock.Dot
	dropped []vclock.Dot
}

// apply delivers m to k the way a data type applies a remote op.
func (m mutation) apply(k *kern) { m.applyVia(k, false) }

// applyVia delivers m to k; an add goes through Insert's own dropping
// (which may scan the store) if viaInsert.
func (m mutation) applyVia(k *kern, viaInsert bool) {
	if !m.remove && viaInsert {
		k.Insert(m.key, unit{}, m.dot, slices.Clone(m.dropped))
		return
	}
	if k.Applied(m.dot) {
		return
	}
	k.Drop(m.key, m.dropped)
	k.Record(m.dot, m.key, slices.Clone(m.dropped))
	if m.remove {
		k.Observe(m.dot)
	} else {
		k.Insert(m.key, unit{}, m.dot, nil)
	}
}

// sim is a group of replicas, each a kernel used as an add-wins set, that
// mutate, deliver ops, merge states and deltas and collect records in an
// order rapid chooses. Every state it produces is one a real replica can
// reach.
type sim struct {
	ids   []crdt.ReplicaID
	ks    []*kern
	muts  []mutation
	nkeys int // how many of keys are used
}

var keys = []string{"a", "b", "c", "d", "e"}

func newSim(t *rapid.T) *sim {
	n := rapid.IntRange(2, 4).Draw(t, "replicas")
	s := &sim{nkeys: rapid.IntRange(1, len(keys)).Draw(t, "keys")}
	for i := range n {
		s.ids = append(s.ids, crdt.ReplicaID(fmt.Sprintf("r%d", i)))
		k := &kern{
			MaxRecords: rapid.SampledFrom([]int{0, 1, 2, 5}).Draw(t, "cap"),
			RecordsAll: rapid.IntRange(0, 3).Draw(t, "recordsAll") > 0,
		}
		s.ks = append(s.ks, k)
	}
	return s
}

func (s *sim) add(i int, key string) {
	k := s.ks[i]
	d := k.Mint(s.ids[i])
	dropped := k.Put(key, unit{}, d)
	k.Record(d, key, dropped)
	s.muts = append(s.muts, mutation{key: key, dot: d, dropped: slices.Clone(dropped)})
}

func (s *sim) remove(i int, key string) {
	k := s.ks[i]
	dropped := k.Remove(key)
	if dropped == nil {
		return
	}
	d := k.Mint(s.ids[i])
	k.Record(d, key, dropped)
	s.muts = append(s.muts, mutation{remove: true, key: key, dot: d, dropped: slices.Clone(dropped)})
}

// stable returns the meet of every replica's version.
func (s *sim) stable() vclock.Clock {
	st := s.ks[0].Version()
	for _, k := range s.ks[1:] {
		st.Meet(k.Version())
	}
	return st
}

func (s *sim) step(t *rapid.T) {
	n := len(s.ks)
	i := rapid.IntRange(0, n-1).Draw(t, "i")
	j := rapid.IntRange(0, n-1).Draw(t, "j")
	key := rapid.SampledFrom(keys[:s.nkeys]).Draw(t, "key")
	switch rapid.IntRange(0, 9).Draw(t, "step") {
	case 0, 1, 2:
		s.add(i, key)
	case 3, 4:
		s.remove(i, key)
	case 5:
		s.ks[i].Join(s.ks[j])
	case 6:
		s.ks[i].Join(s.ks[j].DeltaSince(s.ks[i].Version()))
	case 7:
		if len(s.muts) > 0 {
			m := rapid.SampledFrom(s.muts).Draw(t, "mut")
			m.applyVia(s.ks[i], rapid.Bool().Draw(t, "viaInsert"))
		}
	case 8:
		s.ks[i].Collect(s.stable())
	case 9:
		// A delta through the wire.
		d := s.ks[j].DeltaSince(s.ks[i].Version())
		s.ks[i].Join(roundTrip(t, d))
	}
}

func run(t *rapid.T) *sim {
	s := newSim(t)
	steps := rapid.IntRange(0, 60).Draw(t, "steps")
	for range steps {
		s.step(t)
	}
	for _, k := range s.ks {
		checkInvariants(t, k)
		s.checkRecorded(t, k)
	}
	return s
}

// checkRecorded checks that every mutation k has applied that dropped
// dots has a record, unless its dot is within the horizon: what lets Join
// trust records instead of comparing every key.
func (s *sim) checkRecorded(t tb, k *kern) {
	t.Helper()
	kept := map[vclock.Dot]bool{}
	for _, r := range k.Records() {
		kept[r.Dot] = true
	}
	for _, m := range s.muts {
		if len(m.dropped) > 0 && k.Applied(m.dot) && !k.horizon.Contains(m.dot) && !kept[m.dot] {
			t.Fatalf("mutation %v applied without a record", m.dot)
		}
	}
}

// checkInvariants checks what every kernel built from one consistent
// history satisfies: the store is in the context, each dot supports one
// key, no record's dropped dot and no ghost is stored, records are unique
// and beyond the horizon, the cap holds.
func checkInvariants(t tb, k *kern) {
	t.Helper()
	checkKernel(t, k, true)
}

// checkKernel checks k's invariants; with consistent false it leaves out
// the two a merge of disagreeing histories can break (a dropped dot or a
// ghost still stored), which a decoded kernel need not satisfy.
func checkKernel(t tb, k *kern, consistent bool) {
	t.Helper()
	seen := map[vclock.Dot]string{}
	for key, e := range k.m.all {
		ms, inMore := k.more[key]
		switch {
		case e.single() && inMore:
			t.Fatalf("%q holds its dot and has %v apart", key, ms)
		case !e.single() && e.d != entryInMore:
			t.Fatalf("%q has entry word %#x", key, e.d)
		case !e.single() && len(ms) == 0:
			t.Fatalf("%q has no dots", key)
		case !e.single() && len(ms) == 1 && fits(k, ms[0]):
			t.Fatalf("%q keeps its one dot %v apart", key, ms[0])
		case !e.single() && !slices.IsSortedFunc(ms, vclock.Dot.Compare):
			t.Fatalf("%q has its dots %v out of order", key, ms)
		}
		for _, d := range k.dotsOf(key, e) {
			if !d.Valid() {
				t.Fatalf("invalid dot %v under %q", d, key)
			}
			if !k.ctx.Contains(d) {
				t.Fatalf("stored dot %v of %q not in context %v", d, key, k.ctx.String())
			}
			if other, dup := seen[d]; dup {
				t.Fatalf("dot %v supports %q and %q", d, key, other)
			}
			seen[d] = key
		}
	}
	for key := range k.more {
		if !k.Has(key) {
			t.Fatalf("further dots kept for absent key %q", key)
		}
	}
	for _, g := range k.Ghosts() {
		if !k.ctx.Contains(g) {
			t.Fatalf("ghost %v not in context", g)
		}
		if key, ok := seen[g]; ok && consistent {
			t.Fatalf("ghost %v supports %q", g, key)
		}
	}
	recs := k.Records()
	if len(recs) > k.maxRecords() {
		t.Fatalf("%d records kept, cap %d", len(recs), k.maxRecords())
	}
	ids := map[vclock.Dot]bool{}
	for _, r := range recs {
		if ids[r.Dot] {
			t.Fatalf("record %v twice", r.Dot)
		}
		ids[r.Dot] = true
		if k.ghosts.contains(r.Dot) {
			t.Fatalf("record %v is a ghost", r.Dot)
		}
		if k.horizon.Contains(r.Dot) {
			t.Fatalf("live record %v within horizon %v", r.Dot, k.horizon)
		}
		if !k.ctx.Contains(r.Dot) {
			t.Fatalf("record %v not in context", r.Dot)
		}
		for _, x := range r.Dropped {
			if key, ok := seen[x]; ok && consistent {
				t.Fatalf("dot %v dropped by %v still supports %q", x, r.Dot, key)
			}
			if !k.ctx.Contains(x) {
				t.Fatalf("dot %v dropped by %v not in context", x, r.Dot)
			}
		}
	}
}

func joined(a, b *kern) *kern {
	c := a.Clone()
	c.Join(b)
	return c
}

func requireEqual(t tb, got, want *kern, what string) {
	t.Helper()
	if !got.Equal(want, unitEq) {
		t.Fatalf("%s: got %s, want %s", what, dump(got), dump(want))
	}
}

// dump formats the store and context, sorted.
func dump(k *kern) string {
	var parts []string
	for key, e := range k.m.all {
		ds := k.dotsOf(key, e)
		slices.SortFunc(ds, vclock.Dot.Compare)
		parts = append(parts, fmt.Sprintf("%s%v", key, ds))
	}
	slices.Sort(parts)
	return fmt.Sprintf("%v ctx=%s", parts, k.ctx.String())
}

func encode(t tb, k *kern) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindSet, 0)
	k.Encode(w, putString, nil)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(b []byte) (*kern, error) {
	r := codec.NewReader(b, codec.KindSet, codec.Limits{})
	k := Decode(r, getString, (func(*codec.Reader) unit)(nil))
	if err := r.Done(); err != nil {
		return nil, err
	}
	return k, nil
}

func roundTrip(t tb, k *kern) *kern {
	t.Helper()
	b := encode(t, k)
	got, err := decode(b)
	if err != nil {
		t.Fatalf("decoding %x: %v", b, err)
	}
	requireEqual(t, got, k, "round trip")
	if !slices.EqualFunc(got.Records(), k.Records(), func(a, b Record[string]) bool {
		return a.Dot == b.Dot && slices.Equal(a.Dropped, b.Dropped)
	}) {
		t.Fatalf("records: got %v, want %v", got.Records(), k.Records())
	}
	if !got.horizon.Equal(k.horizon) {
		t.Fatalf("horizon: got %v, want %v", got.horizon, k.horizon)
	}
	if again := encode(t, got); !slices.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n%x\n%x", b, again)
	}
	got.MaxRecords = k.MaxRecords
	got.RecordsAll = k.RecordsAll
	return got
}

func TestJoinLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		n := len(s.ks)
		a := s.ks[rapid.IntRange(0, n-1).Draw(t, "a")]
		b := s.ks[rapid.IntRange(0, n-1).Draw(t, "b")]
		c := s.ks[rapid.IntRange(0, n-1).Draw(t, "c")]
		requireEqual(t, joined(a, b), joined(b, a), "commutative")
		requireEqual(t, joined(joined(a, b), c), joined(a, joined(b, c)), "associative")
		requireEqual(t, joined(a, a), a, "idempotent")
		ab := joined(a, b)
		requireEqual(t, joined(ab, b), ab, "absorbs")
		checkInvariants(t, ab)
	})
}

func TestJoinReportsKeyChanges(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		a, b := s.ks[0].Clone(), s.ks[1]
		before := keySet(a)
		changed := a.Join(b)
		if want := !slices.Equal(before, keySet(a)); changed != want {
			t.Fatalf("Join reported %v, keys went from %v to %v", changed, before, keySet(a))
		}
	})
}

func keySet(k *kern) []string {
	var out []string
	for key := range k.All() {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}

func TestDeltaSinceJoinEqualsFullJoin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		for i, recv := range s.ks {
			for j, send := range s.ks {
				d := send.DeltaSince(recv.Version())
				checkInvariants(t, d)
				requireEqual(t, joined(recv, d), joined(recv, send), fmt.Sprintf("delta %d→%d", j, i))
				requireEqual(t, joined(recv, roundTrip(t, d)), joined(recv, send), "delta over the wire")
			}
		}
	})
}

// TestConvergence joins every replica's state and checks that the result
// is what delivering every op, in any order and with repeats, to a fresh
// kernel gives.
func TestConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		all := &kern{}
		for _, k := range s.ks {
			all.Join(k)
		}
		for _, k := range s.ks {
			requireEqual(t, joined(k, all), all, "join of all")
		}
		order := rapid.Permutation(s.muts).Draw(t, "order")
		dups := rapid.SliceOf(rapid.SampledFrom(append([]mutation{{}}, s.muts...))).Draw(t, "dups")
		ops := &kern{}
		for i, m := range order {
			m.apply(ops)
			if i < len(dups) && dups[i].dot.Valid() {
				dups[i].apply(ops)
			}
		}
		checkInvariants(t, ops)
		want := &kern{}
		for _, m := range s.muts {
			want.ctx.Add(m.dot)
		}
		requireEqual(t, ops, all, "ops in any order")
	})
}

// TestOpsCommute applies two ops in both orders.
func TestOpsCommute(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		if len(s.muts) < 2 {
			return
		}
		base := s.ks[rapid.IntRange(0, len(s.ks)-1).Draw(t, "base")]
		m1 := rapid.SampledFrom(s.muts).Draw(t, "m1")
		m2 := rapid.SampledFrom(s.muts).Draw(t, "m2")
		x, y := base.Clone(), base.Clone()
		m1.apply(x)
		m2.apply(x)
		m2.apply(y)
		m1.apply(y)
		requireEqual(t, x, y, "commute")
		m1.apply(x)
		requireEqual(t, x, y, "idempotent")
		checkInvariants(t, x)
	})
}

func TestCollect(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		st := s.stable()
		for i, k := range s.ks {
			before := k.Clone()
			live := k.Records()
			want := 0
			for _, r := range live {
				if st.Contains(r.Dot) {
					want++
				}
			}
			if got := k.Collect(st); got != want {
				t.Fatalf("replica %d: Collect discarded %d, want %d", i, got, want)
			}
			requireEqual(t, k, before, "collecting changes nothing")
			for _, r := range k.Records() {
				if st.Contains(r.Dot) {
					t.Fatalf("record %v kept, stable %v", r.Dot, st)
				}
			}
			for id, n := range k.horizon.All() {
				if n > max(before.horizon.Get(id), st.Get(id)) {
					t.Fatalf("horizon went from %v to %v, beyond stable %v", before.horizon, k.horizon, st)
				}
			}
		}
		// Every replica's version covers stable, so no delta falls back.
		for _, recv := range s.ks {
			for _, send := range s.ks {
				requireEqual(t, joined(recv, send.DeltaSince(recv.Version())), joined(recv, send), "delta after collect")
			}
		}
	})
}

func TestRecordCap(t *testing.T) {
	var k kern
	k.MaxRecords = 3
	for i := range 10 {
		key := fmt.Sprint(i % 2)
		d := k.Mint("a")
		k.Record(d, key, k.Put(key, unit{}, d))
	}
	recs := k.Records()
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3", len(recs))
	}
	// Adds 1 and 2 dropped nothing; adds 3 to 10 each dropped the add two
	// before; the oldest five records (adds 3 to 7) are discarded.
	for i, r := range recs {
		want := vclock.Dot{Replica: "a", Seq: uint64(8 + i)}
		if r.Dot != want || !slices.Equal(r.Dropped, []vclock.Dot{{Replica: "a", Seq: want.Seq - 2}}) {
			t.Fatalf("record %d is %v, want %v dropping a:%d", i, r, want, want.Seq-2)
		}
	}
	if h := k.Horizon(); !h.Equal(vclock.Of(map[crdt.ReplicaID]uint64{"a": 7})) {
		t.Fatalf("horizon %v, want {a:7}", h)
	}
	// A peer at a:7 or later gets a delta; one before gets everything.
	d := k.DeltaSince(vclock.Of(map[crdt.ReplicaID]uint64{"a": 7}))
	// Key 0's last add is a:9, key 1's a:10.
	if d.Len() != 2 || len(d.Records()) != 3 {
		t.Fatalf("delta since a:7 holds %d keys and %d records, want 2 and 3", d.Len(), len(d.Records()))
	}
	full := k.DeltaSince(vclock.Of(map[crdt.ReplicaID]uint64{"a": 6}))
	requireEqual(t, full, &k, "delta from before the horizon")
	if !full.Horizon().Equal(k.Horizon()) {
		t.Fatal("full copy lost the horizon")
	}
}

func TestRecordCapAmortized(t *testing.T) {
	var k kern
	k.MaxRecords = 100
	for i := range 10000 {
		d := k.Mint("a")
		key := fmt.Sprint(i % 50)
		k.Record(d, key, k.Put(key, unit{}, d))
		if k.recs.size > k.MaxRecords {
			t.Fatalf("after %d records the ring has %d slots", i, k.recs.size)
		}
	}
	if got := len(k.Records()); got != 100 {
		t.Fatalf("%d records, want 100", got)
	}
}

// TestRecordWithinHorizonAfterCap pins a bug: discarding the oldest record
// can bring a younger record of a lower sequence number within the
// horizon; it must no longer be kept (nor encoded, which the decoder
// refuses).
func TestRecordWithinHorizonAfterCap(t *testing.T) {
	k := &kern{MaxRecords: 1}
	a5 := vclock.Dot{Replica: "a", Seq: 5}
	a3 := vclock.Dot{Replica: "a", Seq: 3}
	k.Insert("x", unit{}, vclock.Dot{Replica: "a", Seq: 1}, nil)
	k.Insert("y", unit{}, vclock.Dot{Replica: "a", Seq: 2}, nil)
	k.Drop("x", []vclock.Dot{{Replica: "a", Seq: 1}})
	k.Observe(a5)
	k.Record(a5, "x", []vclock.Dot{{Replica: "a", Seq: 1}})
	k.Drop("y", []vclock.Dot{{Replica: "a", Seq: 2}})
	k.Observe(a3)
	k.Record(a3, "y", []vclock.Dot{{Replica: "a", Seq: 2}})
	if n := len(k.Records()); n != 0 {
		t.Fatalf("%d records kept within horizon %v", n, k.horizon)
	}
	roundTrip(t, k)
}

func TestInsertDropsDotsOfOtherKeys(t *testing.T) {
	// A multi-value register: each value is keyed by the dot that wrote it,
	// and a write drops every value its replica had seen.
	var k Kernel[vclock.Dot, string]
	a1 := vclock.Dot{Replica: "a", Seq: 1}
	b1 := vclock.Dot{Replica: "b", Seq: 1}
	a2 := vclock.Dot{Replica: "a", Seq: 2}
	k.Insert(a1, "x", a1, nil)
	k.Insert(b1, "y", b1, nil)
	k.Insert(a2, "z", a2, []vclock.Dot{a1, b1})
	if k.Len() != 1 || !k.Has(a2) {
		t.Fatalf("after a write that saw both values, keys %v", slices.Collect(func(y func(vclock.Dot) bool) {
			for d := range k.All() {
				y(d)
			}
		}))
	}
	// The same with keys that are not dots: the store is scanned.
	var s kern
	s.Insert("p", unit{}, a1, nil)
	s.Insert("q", unit{}, b1, nil)
	s.Insert("r", unit{}, a2, []vclock.Dot{a1, b1})
	if got := keySet(&s); !slices.Equal(got, []string{"r"}) {
		t.Fatalf("keys %v, want [r]", got)
	}
	if len(s.Records()) != 1 {
		t.Fatal("Insert did not record its drops")
	}
}

// TestInsertRecordsForRelay pins a bug: a replica that learned of an add
// by op, and then served a delta to a third replica, did not tell it that
// the add dropped an older dot; the third replica kept the old dot and
// later disagreed.
func TestInsertRecordsForRelay(t *testing.T) {
	a1 := vclock.Dot{Replica: "a", Seq: 1}
	a2 := vclock.Dot{Replica: "a", Seq: 2}
	relay, third := &kern{}, &kern{}
	relay.Insert("x", unit{}, a1, nil)
	third.Insert("x", unit{}, a1, nil)
	relay.Insert("x", unit{}, a2, []vclock.Dot{a1}) // a re-add of x at a
	third.Join(relay.DeltaSince(third.Version()))
	if got := third.Dots("x"); !slices.Equal(got, []vclock.Dot{a2}) {
		t.Fatalf("x supported by %v, want [a:2]", got)
	}
}

func TestRemoveBeforeAddItObserved(t *testing.T) {
	a1 := vclock.Dot{Replica: "a", Seq: 1}
	b1 := vclock.Dot{Replica: "b", Seq: 1}
	var k kern
	k.Drop("x", []vclock.Dot{a1}) // b's remove of x arrives first
	k.Observe(b1)
	k.Record(b1, "x", []vclock.Dot{a1})
	if k.Insert("x", unit{}, a1, nil) || k.Has("x") {
		t.Fatal("a late add beat the remove that observed it")
	}
}

func TestZeroKernel(t *testing.T) {
	var k, o kern
	if k.Len() != 0 || k.Has("x") || k.Dots("x") != nil || k.Remove("x") != nil || len(k.Records()) != 0 {
		t.Fatal("zero kernel not empty")
	}
	if k.Join(&o) {
		t.Fatal("joining empty kernels changed keys")
	}
	if k.Collect(vclock.Clock{}) != 0 {
		t.Fatal("collected from nothing")
	}
	d := k.DeltaSince(vclock.Clock{})
	requireEqual(t, d, &k, "delta of empty")
	roundTrip(t, &k)
	if _, ok := k.Get("x"); ok {
		t.Fatal("Get on empty")
	}
}

func TestEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		for _, k := range s.ks {
			roundTrip(t, k)
		}
	})
}

// TestEncodingBytes derives the bytes of a small kernel by hand.
func TestEncodingBytes(t *testing.T) {
	var k kern
	for _, key := range []string{"x", "y", "z"} {
		d := k.Mint("a")
		k.Put(key, unit{}, d)
	}
	d := k.Mint("a")
	k.Record(d, "y", k.Remove("y"))
	got := encode(t, &k)
	want := []byte{
		0x01, byte(codec.KindSet), 0xa1, 'a', // version, kind, table "a"
		0x94,                   // four fields
		0x91, 0x92, 0x00, 0x04, // context: [[a, 4]]
		0x02,                                               // two keys
		0x91, 0x95, 0x00, 0x01, 0xa1, 'x', 0x02, 0xa1, 'z', // group a: +1 x, +2 z
		0x91, 0x95, 0x00, 0x04, 0xa1, 'y', 0x00, 0x02, // record a:4 of y dropped a:2
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got  % x\nwant % x", got, want)
	}
}

func TestEncodingWithValues(t *testing.T) {
	var k Kernel[vclock.Dot, string]
	for i, v := range []string{"one", "two"} {
		d := vclock.Dot{Replica: crdt.ReplicaID([]string{"b", "a"}[i]), Seq: 1}
		k.Insert(d, v, d, nil)
	}
	w := codec.NewWriter(codec.KindMV, 0)
	putDot := func(w *codec.Writer, d vclock.Dot) { w.Replica(string(d.Replica)); w.Uint(d.Seq) }
	k.Encode(w, putDot, func(w *codec.Writer, s string) { w.String(s) })
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r := codec.NewReader(b, codec.KindMV, codec.Limits{})
	got := Decode(r, wire.GetDotCanonical, getString)
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	if !got.Equal(&k, func(a, b string) bool { return a == b }) {
		t.Fatalf("round trip lost values")
	}
	if v, _ := got.Get(vclock.Dot{Replica: "a", Seq: 1}); v != "two" {
		t.Fatalf("value of a:1 is %q", v)
	}
}

func TestDecodeRefusesBadInput(t *testing.T) {
	var k kern
	k.MaxRecords = 2
	for i := range 6 {
		d := k.Mint(crdt.ReplicaID([]string{"a", "b"}[i%2]))
		key := fmt.Sprint(i % 3)
		k.Record(d, key, k.Put(key, unit{}, d))
	}
	good := encode(t, &k)
	if len(k.Records()) == 0 || k.horizon.IsZero() {
		t.Fatal("test state lacks records or horizon")
	}
	for n := range len(good) {
		if _, err := decode(good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	for i := range good {
		for _, delta := range []byte{1, 0x7f, 0x80} {
			bad := slices.Clone(good)
			bad[i] += delta
			if got, err := decode(bad); err == nil {
				// Some flips give another valid kernel: it must re-encode
				// to exactly these bytes.
				if again := encode(t, got); !slices.Equal(again, bad) {
					t.Fatalf("flip at %d decoded, re-encodes differently:\n% x\n% x", i, bad, again)
				}
			}
		}
	}
}

func TestDecodeInvariants(t *testing.T) {
	// Hand-built bodies that are well-formed msgpack but break a kernel
	// invariant.
	tab := []byte{0x01, byte(codec.KindSet), 0xa1, 'a'}
	cases := map[string][]byte{
		"dot outside context":   {0x93, 0x91, 0x92, 0x00, 0x01, 0x01, 0x91, 0x93, 0x00, 0x02, 0xa1, 'x'},
		"zero step":             {0x93, 0x91, 0x92, 0x00, 0x02, 0x01, 0x91, 0x95, 0x00, 0x01, 0xa1, 'x', 0x00, 0xa1, 'y'},
		"wrong key count":       {0x93, 0x91, 0x92, 0x00, 0x01, 0x02, 0x91, 0x93, 0x00, 0x01, 0xa1, 'x'},
		"empty group":           {0x93, 0x91, 0x92, 0x00, 0x01, 0x00, 0x91, 0x91, 0x00},
		"empty records":         {0x94, 0x91, 0x92, 0x00, 0x01, 0x00, 0x90, 0x90},
		"record drops later":    {0x94, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x95, 0x00, 0x01, 0xa1, 'x', 0x00, 0x02},
		"record within horizon": {0x95, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x01, 0x92, 0x00, 0x02},
		"record without key":    {0x94, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x94, 0x00, 0x02, 0x00, 0x01},
		"ghost with record":     {0x96, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x01, 0x90, 0x92, 0x00, 0x02},
		"ghosts out of order":   {0x96, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x90, 0x90, 0x94, 0x00, 0x02, 0x00, 0x01},
		"empty ghosts":          {0x96, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x90, 0x90, 0x90},
		"non-shortest integer":  {0x93, 0x91, 0x92, 0x00, 0x01, 0xcc, 0x01, 0x91, 0x93, 0x00, 0x01, 0xa1, 'x'},
		"too few fields":        {0x92, 0x91, 0x92, 0x00, 0x01, 0x00},
	}
	for name, body := range cases {
		if _, err := decode(append(slices.Clone(tab), body...)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// And well-formed neighbours of those cases decode, including a dot
	// both stored and dropped, which a merge of disagreeing histories can
	// leave (see orset's FuzzSetUnmarshalBinary corpus): a replica must be
	// able to restore any state it can reach.
	for name, body := range map[string][]byte{
		"record drops stored": {0x94, 0x91, 0x92, 0x00, 0x02, 0x01, 0x91, 0x93, 0x00, 0x01, 0xa1, 'x', 0x91, 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x01},
		"ghost in store":      {0x96, 0x91, 0x92, 0x00, 0x01, 0x01, 0x91, 0x93, 0x00, 0x01, 0xa1, 'x', 0x90, 0x90, 0x92, 0x00, 0x01},
		"one key":             {0x93, 0x91, 0x92, 0x00, 0x01, 0x01, 0x91, 0x93, 0x00, 0x01, 0xa1, 'x'},
		"one record":          {0x94, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x01},
		"horizon":             {0x95, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x91, 0x95, 0x00, 0x02, 0xa1, 'x', 0x00, 0x01, 0x92, 0x00, 0x01},
		"ghosts in order":     {0x96, 0x91, 0x92, 0x00, 0x02, 0x00, 0x90, 0x90, 0x90, 0x94, 0x00, 0x01, 0x00, 0x02},
	} {
		if _, err := decode(append(slices.Clone(tab), body...)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var k kern
	k.MaxRecords = 2
	for i := range 7 {
		d := k.Mint(crdt.ReplicaID([]string{"a", "b", "c"}[i%3]))
		key := fmt.Sprint(i % 3)
		k.Record(d, key, k.Put(key, unit{}, d))
	}
	f.Add(encode(f, &k))
	f.Add(encode(f, &kern{}))
	f.Add(encode(f, k.DeltaSince(vclock.Of(map[crdt.ReplicaID]uint64{"a": 3, "b": 2, "c": 2}))))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Read as the OR-Set's and OR-Map's decoders read a state: Decode
		// leaves the replica table to them, and they refuse one that is
		// not the context's replicas (a table naming a replica nothing
		// else names decodes, and would re-encode without it).
		r := codec.NewReader(b, codec.KindSet, codec.Limits{})
		got := Decode(r, getString, (func(*codec.Reader) unit)(nil))
		got.CheckContextTable(r)
		if r.Done() != nil {
			return
		}
		checkKernel(t, got, false)
		if again := encode(t, got); !slices.Equal(again, b) {
			t.Fatalf("decoded, re-encodes differently:\n% x\n% x", b, again)
		}
	})
}

// TestGhostKeepsVersionHonest pins a bug: a replica that learned of a
// re-add only as a dot dropped by a later re-add counted it in its
// version, though it had not applied that re-add's own drop; a delta for
// that version then left the drop out, and the replica kept a dead dot.
func TestGhostKeepsVersionHonest(t *testing.T) {
	b1 := vclock.Dot{Replica: "b", Seq: 1}
	b2 := vclock.Dot{Replica: "b", Seq: 2}
	b3 := vclock.Dot{Replica: "b", Seq: 3}
	origin := &kern{}
	origin.Insert("x", unit{}, b1, nil)
	origin.Insert("x", unit{}, b2, []vclock.Dot{b1})
	origin.Insert("x", unit{}, b3, []vclock.Dot{b2})

	recv := &kern{}
	recv.Insert("x", unit{}, b1, nil)
	recv.Insert("x", unit{}, b3, []vclock.Dot{b2}) // b2 itself never arrives
	if got := recv.Ghosts(); !slices.Equal(got, []vclock.Dot{b2}) {
		t.Fatalf("ghosts %v, want [b:2]", got)
	}
	if v := recv.Version(); v.Get("b") != 1 {
		t.Fatalf("version %v counts b:2, which was not applied", v)
	}
	recv.Join(origin.DeltaSince(recv.Version()))
	if got := recv.Dots("x"); !slices.Equal(got, []vclock.Dot{b3}) {
		t.Fatalf("x supported by %v, want [b:3]", got)
	}
	if recv.Ghosts() != nil || recv.Version().Get("b") != 3 {
		t.Fatalf("after the delta: ghosts %v, version %v", recv.Ghosts(), recv.Version())
	}
	requireEqual(t, recv, origin, "after the delta")
}

func fits(k *kern, d vclock.Dot) bool {
	i, ok := k.findRep(d.Replica)
	_, fits := packed(i, d.Seq)
	return ok && fits
}

// TestDotsThatDoNotPack runs keys whose dots have sequence numbers too
// large for an entry word through every path that stores dots.
func TestDotsThatDoNotPack(t *testing.T) {
	big := vclock.Dot{Replica: "a", Seq: 1 << 60}
	big2 := vclock.Dot{Replica: "b", Seq: 1<<60 + 1}
	var k kern
	k.ctx.AddRange("a", 1, 1<<60-1)
	k.ctx.AddRange("b", 1, 1<<60)
	k.Insert("x", unit{}, big, nil)
	k.Insert("y", unit{}, vclock.Dot{Replica: "a", Seq: 5}, nil) // already seen: not stored
	if got := k.Dots("x"); !slices.Equal(got, []vclock.Dot{big}) {
		t.Fatalf("x: %v", got)
	}
	var o kern
	o.ctx.AddRange("b", 1, 1<<60)
	o.Insert("x", unit{}, big2, nil)
	o.ctx.Add(vclock.Dot{Replica: "b", Seq: 1<<60 + 2})
	o.Put("z", unit{}, vclock.Dot{Replica: "b", Seq: 1<<60 + 2})
	j := joined(&k, &o)
	checkInvariants(t, j)
	if got := j.Dots("x"); len(got) != 2 {
		t.Fatalf("joined x: %v", got)
	}
	roundTrip(t, j)
	d := j.DeltaSince(vclock.Clock{})
	requireEqual(t, joined(&kern{}, d), j, "delta")
	j.Drop("x", []vclock.Dot{big})
	checkInvariants(t, j)
	if got := j.Dots("x"); !slices.Equal(got, []vclock.Dot{big2}) {
		t.Fatalf("after drop x: %v", got)
	}
	roundTrip(t, j)
	if got := j.Remove("z"); len(got) != 1 {
		t.Fatalf("removed z: %v", got)
	}
	checkInvariants(t, j)
}

// TestGapHashWithGhosts: two kernels at one version hold the same events
// exactly when their gap hashes are equal, ghosts included. A ghost cuts
// the version below it while the context's compact part goes on past
// it, so kernels that differ only above a ghost (b:3 held here, not
// there) sit at one version and must get different hashes; kernels with
// the same context and ghosts, built in another order, the same one.
func TestGapHashWithGhosts(t *testing.T) {
	b := func(seq uint64) vclock.Dot { return vclock.Dot{Replica: "b", Seq: seq} }
	hash := func(k *kern) uint64 {
		t.Helper()
		h, ok := k.GapHash()
		if !ok {
			t.Fatal("GapHash says it cannot tell")
		}
		return h
	}
	// b:1 is a ghost on both: dropped by b:2, never applied.
	two := &kern{}
	two.Insert("x", unit{}, b(2), []vclock.Dot{b(1)})
	three := &kern{}
	three.Insert("x", unit{}, b(2), []vclock.Dot{b(1)})
	three.Insert("y", unit{}, b(3), nil)
	if !two.Version().Equal(three.Version()) || two.Version().Get("b") != 0 {
		t.Fatalf("versions %v and %v, want both without b", two.Version(), three.Version())
	}
	if hash(two) == 0 || hash(two) == hash(three) {
		t.Fatalf("gap hashes %#x and %#x: want different, not 0", hash(two), hash(three))
	}
	// The same events in another order: b:3 first, then b:2 and its drop.
	again := &kern{}
	again.Insert("y", unit{}, b(3), nil)
	again.Insert("x", unit{}, b(2), []vclock.Dot{b(1)})
	if hash(again) != hash(three) {
		t.Fatalf("same events, gap hashes %#x and %#x", hash(again), hash(three))
	}
	// The same context, b:1 applied instead of a ghost: other events
	// applied, another hash.
	applied := &kern{}
	applied.Insert("w", unit{}, b(1), nil)
	applied.Insert("x", unit{}, b(2), []vclock.Dot{b(1)})
	applied.Insert("y", unit{}, b(3), nil)
	if len(applied.Ghosts()) != 0 || len(three.Ghosts()) != 1 {
		t.Fatalf("ghosts %v and %v", applied.Ghosts(), three.Ghosts())
	}
	if h := hash(applied); h != 0 {
		t.Fatalf("a compact kernel without ghosts has gap hash %#x, want 0", h)
	}
}
