package lwwmap

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

var (
	wA1, wA2, wB1 = vclock.Writer("a", 1), vclock.Writer("a", 2), vclock.Writer("b", 1)
	wA0, wA3      = vclock.Retired("a"), vclock.Writer("a", 3)
	retWriters    = []vclock.ReplicaID{wA1, wA2, wB1}
	retKeys       = []string{"k0", "k1", "k2"}
)

// retHistory runs random puts, deletes, expires, persists, op deliveries
// and merges on three maps writing as retWriters, on a time source that
// never moves (timestamps tie often; times to live of hours never run
// out). With shared, the two runs of a share one clock, as two runs of one
// replica do. It returns every state each map went through, oldest first.
func retHistory(t *rapid.T, shared bool) [3][]*Map[string, int] {
	src := func() int64 { return start }
	clks := []*clock.Clock{clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src))}
	if shared {
		clks[1] = clks[0]
	}
	var reps [3]*Map[string, int]
	var past [3][]*Map[string, int]
	var ops []Op[string, int]
	for i, w := range retWriters {
		reps[i] = New[string, int](w, clks[i])
		past[i] = append(past[i], reps[i].Clone())
	}
	for range rapid.IntRange(0, 30).Draw(t, "steps") {
		i := rapid.IntRange(0, 2).Draw(t, "at")
		m := reps[i]
		k := rapid.SampledFrom(retKeys).Draw(t, "key")
		var op Op[string, int]
		switch rapid.IntRange(0, 6).Draw(t, "what") {
		case 0, 1:
			op = m.Put(k, rapid.IntRange(0, 9).Draw(t, "v"))
		case 2:
			op = m.Delete(k)
		case 3:
			op = m.Expire(k, time.Duration(rapid.IntRange(1, 3).Draw(t, "hours"))*time.Hour)
		case 4:
			op = m.Persist(k)
		case 5:
			m.Merge(reps[rapid.IntRange(0, 2).Draw(t, "from")])
		case 6:
			if len(ops) > 0 {
				if err := m.Apply(ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := op.MarshalBinary(); err == nil {
			ops = append(ops, op)
		}
		past[i] = append(past[i], m.Clone())
	}
	return past
}

func pickMap(t *rapid.T, past [3][]*Map[string, int], label string) *Map[string, int] {
	i := rapid.IntRange(0, 2).Draw(t, label+" replica")
	return past[i][rapid.IntRange(0, len(past[i])-1).Draw(t, label+" state")]
}

// mapRetirements returns the retirements of a!1 then a!2, each with a
// Final at least every dot of it the history made (plus a drawn slack).
func mapRetirements(t *rapid.T, past [3][]*Map[string, int]) [2]vclock.Retirement {
	v := merged(past[0][len(past[0])-1], past[1][len(past[1])-1], past[2][len(past[2])-1]).Version()
	f1 := v.Get(wA1) + rapid.Uint64Range(0, 2).Draw(t, "slack1")
	f2 := v.Get(wA2) + rapid.Uint64Range(0, 2).Draw(t, "slack2")
	return [2]vclock.Retirement{{From: wA1, To: wA0, Final: f1}, {From: wA2, To: wA0, Base: f1, Final: f2}}
}

func retiredMap(t *rapid.T, m *Map[string, int], rs ...vclock.Retirement) *Map[string, int] {
	m = m.Clone()
	for _, r := range rs {
		if m.ID() == r.From {
			m.SetWriter(wA3) // a finished run's replica writes as its next run
		}
		if err := m.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
	}
	return m
}

func encodedMap(t *rapid.T, m *Map[string, int]) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameMap fails unless a and b hold the same state, drop records
// included: Equal, the same encoding and fingerprint, the same contents.
func sameMap(t *rapid.T, what string, a, b *Map[string, int]) {
	t.Helper()
	checkBases(t, a)
	checkBases(t, b)
	if !a.Equal(b) || !bytes.Equal(encodedMap(t, a), encodedMap(t, b)) || a.Fingerprint() != b.Fingerprint() || !maps.Equal(contents(a), contents(b)) {
		t.Fatalf("%s differ:\n%v\n%v", what, dump(a), dump(b))
	}
}

// checkRetiredMap checks what a retired state must be: no trace of the
// retired writers, a fingerprint equal to a recomputed one and to its own
// decoding's, and that decoding equal to it.
func checkRetiredMap(t *rapid.T, m *Map[string, int], rs ...vclock.Retirement) {
	t.Helper()
	for _, r := range rs {
		if m.Version().Get(r.From) != 0 {
			t.Fatalf("%q left in the version %v", r.From, m.Version())
		}
		if _, ok := m.findRep(r.From); ok {
			t.Fatalf("%q left in the table of replicas %v", r.From, m.reps)
		}
	}
	for i, id := range m.reps {
		if j, ok := m.findRep(id); !ok || j != uint32(i) {
			t.Fatalf("table of replicas %v: %q found at %d", m.reps, id, j)
		}
	}
	dec := &Map[string, int]{}
	if err := dec.UnmarshalBinary(encodedMap(t, m)); err != nil {
		t.Fatalf("decoding a retired state: %v", err)
	}
	sameMap(t, "a retired state and its decoding", dec, m)
	for by, rec := range m.drops {
		for _, r := range rs {
			if by.Replica == r.From {
				t.Fatalf("drop record of %v", by)
			}
			for d := range rec.dots.all() {
				if d.Replica == r.From {
					t.Fatalf("drop record names %v", d)
				}
			}
		}
	}
	checkIndex(t, m)
}

// TestMapRetireHomomorphism is test 1: with a's runs on one clock, for the
// retirement of a!1 and for both, Retire(x ⊔ y) = Retire(x) ⊔ Retire(y),
// and Retire keeps the contents.
func TestMapRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := retHistory(t, true)
		x, y := pickMap(t, past, "x"), pickMap(t, past, "y")
		rs := mapRetirements(t, past)
		for n := 1; n <= 2; n++ {
			rx, ry := retiredMap(t, x, rs[:n]...), retiredMap(t, y, rs[:n]...)
			rxy := retiredMap(t, merged(x, y), rs[:n]...)
			sameMap(t, "Retire(x ⊔ y) and Retire(x) ⊔ Retire(y)", rxy, merged(rx, ry))
			sameMap(t, "Retire(x) ⊔ Retire(y) and Retire(y) ⊔ Retire(x)", merged(ry, rx), merged(rx, ry))
			if !maps.Equal(contents(rx), contents(x)) {
				t.Fatalf("Retire changed the contents from %v to %v", contents(x), contents(rx))
			}
			for k := range x.ttl {
				vw := int64(math.MinInt64) // no entry: every expire counts
				if e := x.m.Find(k); e != nil {
					vw = e.wall
				}
				if deadline(x.ttl[k], vw) != deadline(rx.ttl[k], vw) {
					t.Fatalf("Retire changed when %q expires", k)
				}
			}
			checkRetiredMap(t, rx, rs[:n]...)
			checkRetiredMap(t, rxy, rs[:n]...)
		}
	})
}

// TestMapRetireTieOrder: with a's runs on two clocks, writes of a!1 and
// a!2 tie; retiring one changes which wins such a tie. Retired replicas
// still converge in any merge order, and differ from Retire(x ⊔ y) only
// for keys where x and y hold writes of one name with one timestamp.
func TestMapRetireTieOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := retHistory(t, false)
		x, y := pickMap(t, past, "x"), pickMap(t, past, "y")
		rs := mapRetirements(t, past)
		r := rapid.SampledFrom([]vclock.Retirement{rs[0], {From: wA2, To: wA0, Final: rs[1].Final}}).Draw(t, "retired")
		rx, ry := retiredMap(t, x, r), retiredMap(t, y, r)
		j := merged(rx, ry)
		sameMap(t, "Retire(x) ⊔ Retire(y) and Retire(y) ⊔ Retire(x)", merged(ry, rx), j)
		rxy := retiredMap(t, merged(x, y), r)
		for _, k := range retKeys {
			a, _ := j.m.Get(k)
			b, _ := rxy.m.Get(k)
			if a.ts() == b.ts() && j.dot(&a) == rxy.dot(&b) {
				continue
			}
			xe, xok := x.m.Get(k)
			ye, yok := y.m.Get(k)
			if !xok || !yok || xe.ts() != ye.ts() || x.reps[xe.writer()].Name() != y.reps[ye.writer()].Name() {
				t.Fatalf("key %q: retired join holds %v, Retire(x ⊔ y) %v, and x and y hold no tie of one name", k, j.dot(&a), rxy.dot(&b))
			}
		}
	})
}

// TestMapRetireLagging is test 2: y is an older state of x's map; after
// both retire, merging either into the other gives Retire(x ⊔ y), and a
// delta since y's retired version brings y there too.
func TestMapRetireLagging(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := retHistory(t, true)
		i := rapid.IntRange(0, 2).Draw(t, "replica")
		n := len(past[i])
		x, y := past[i][n-1], past[i][rapid.IntRange(0, n-1).Draw(t, "older")]
		rs := mapRetirements(t, past)
		want := retiredMap(t, merged(x, y), rs[:]...)
		rx, ry := retiredMap(t, x, rs[:]...), retiredMap(t, y, rs[:]...)
		sameMap(t, "retired x into retired y", merged(ry, rx), want)
		sameMap(t, "retired y into retired x", merged(rx, ry), want)
		// The version y had before, retired as the engine retires it.
		v := y.Version()
		v.Retire(rs[0])
		v.Retire(rs[1])
		d := ry.Clone()
		d.Merge(rx.DeltaSince(v))
		sameMap(t, "retired y with a delta since its retired version", d, want)
	})
}

// TestMapRetireKeepsAboveFinal is test 3: dots of From up to Final
// become To's, those above keep From's name (a writer thought finished
// that wrote more), so nothing changes but the names: the same contents,
// the same writes, and From stays in the table only for what is above.
func TestMapRetireKeepsAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := retHistory(t, true)
		x := pickMap(t, past, "x")
		if x.ID() == wA1 {
			x = x.Clone()
			x.SetWriter(wA3)
		}
		var held uint64 // a!1's highest dot
		for rg := range x.ctx.Ranges() {
			if rg.Replica == wA1 {
				held = max(held, rg.Hi)
			}
		}
		final := rapid.Uint64Range(0, held+1).Draw(t, "final")
		r := vclock.Retirement{From: wA1, To: wA0, Final: final}
		got := retiredMap(t, x, r)
		if !maps.Equal(contents(got), contents(x)) {
			t.Fatalf("contents %v, want %v", contents(got), contents(x))
		}
		for k, ep := range x.m.All() {
			e := *ep
			want := r.Dot(x.dot(&e))
			ge, ok := got.m.Get(k)
			if !ok || got.dot(&ge) != want || ge.ts() != e.ts() || ge.deleted() != e.deleted() {
				t.Fatalf("key %q: write %v, want %v", k, got.dot(&ge), want)
			}
		}
		for s := uint64(1); s <= held; s++ {
			d := vclock.Dot{Replica: wA1, Seq: s}
			want := r.Dot(d)
			if x.ctx.Contains(d) != got.ctx.Contains(want) || want.Replica == wA1 && got.ctx.Contains(vclock.Dot{Replica: wA0, Seq: s}) {
				t.Fatalf("the context %v lacks %v (dot %d of %q, Final %d)", got.ctx.String(), want, s, wA1, final)
			}
		}
		_, inTable := got.findRep(wA1)
		if _, wasIn := x.findRep(wA1); inTable != (wasIn && held > final) {
			t.Fatalf("%q in the table: %v, with %d dots and Final %d", wA1, inTable, held, final)
		}
		dec := &Map[string, int]{}
		if err := dec.UnmarshalBinary(encodedMap(t, got)); err != nil {
			t.Fatal(err)
		}
		sameMap(t, "retired state and its decoding", dec, got)
		checkIndex(t, got)
		// Another replica with everything, retired alike, merges with it
		// both ways into one state.
		all := retiredMap(t, merged(past[0][len(past[0])-1], past[1][len(past[1])-1], past[2][len(past[2])-1]), r)
		sameMap(t, "merged both ways", merged(got, all), merged(all, got))
	})
}

// TestMapRetireRefused is test 4: a retirement that cannot apply fails
// with ErrRetirement and leaves the state byte for byte as it was.
func TestMapRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := retHistory(t, true)
		x := pickMap(t, past, "x").Clone()
		bad := rapid.SampledFrom([]vclock.Retirement{
			{From: "a", To: wA0, Final: 5},
			{From: wA0, To: wA0, Final: 5},
			{From: wA1, To: vclock.Retired("b"), Final: 5},
			{From: wA1, To: wA0, Final: 5, Heir: wB1},
			{From: wA1, To: wA0, Base: vclock.MaxSeq, Final: 1},
			{From: wA2, To: wA0, Final: 100}, // after a!1 with Base 0: To above Base
			{From: wB1, To: vclock.Retired("b"), Final: 100},
		}).Draw(t, "bad")
		if bad.From == wA2 {
			if x.Version().Get(wA1) == 0 || x.Version().Get(wA2) == 0 {
				t.Skip("needs both runs of a")
			}
			if x.ID() == wA1 {
				x.SetWriter(wA3)
			}
			if err := x.Retire(vclock.Retirement{From: wA1, To: wA0, Final: x.Version().Get(wA1)}); err != nil {
				t.Fatal(err)
			}
		}
		if bad.From == wB1 {
			if x.Version().Get(wB1) == 0 {
				t.Skip("needs b")
			}
			x.SetWriter(wB1) // the map's own writer cannot be retired
		}
		before, fp, contentsBefore := encodedMap(t, x), x.Fingerprint(), contents(x)
		reps := len(x.reps)
		if err := x.Retire(bad); !errors.Is(err, vclock.ErrRetirement) {
			t.Fatalf("Retire(%+v) = %v, want ErrRetirement", bad, err)
		}
		if !bytes.Equal(encodedMap(t, x), before) || x.Fingerprint() != fp || !maps.Equal(contents(x), contentsBefore) || len(x.reps) != reps {
			t.Fatal("a refused retirement changed the map")
		}
	})
}

// TestMapRetireKeepsWorking is test 5: every replica retires a run of a
// once it has reached them all, then the other; after each, the live
// writers (new runs of a among them) keep writing, and
// ops, deltas since retired versions (as bytes), states and collection
// carry everything: in the end every replica holds the same state.
func TestMapRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := func() int64 { return start }
		clkA, clkB := clock.New(clock.WithSource(src)), clock.New(clock.WithSource(src))
		reps := []*Map[string, int]{New[string, int](wA1, clkA), New[string, int](wA2, clkA), New[string, int](wB1, clkB)}
		versions := make([]vclock.Clock, 3) // what each replica last told the others
		run := func(label string, live ...int) {
			for range rapid.IntRange(0, 20).Draw(t, label) {
				i := rapid.SampledFrom(live).Draw(t, "at")
				m := reps[i]
				k := rapid.SampledFrom(retKeys).Draw(t, "key")
				switch rapid.IntRange(0, 5).Draw(t, "what") {
				case 0:
					m.Put(k, rapid.IntRange(0, 9).Draw(t, "v"))
				case 1:
					m.Delete(k)
				case 2:
					m.Expire(k, time.Hour)
				case 3: // a delta since what the receiver said it had, as bytes
					j := rapid.IntRange(0, 2).Draw(t, "to")
					vb, err := versions[j].MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					d, err := m.DeltaSinceBinary(vb)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := reps[j].MergeBinary(d); err != nil {
						t.Fatal(err)
					}
				case 4:
					j := rapid.IntRange(0, 2).Draw(t, "to")
					versions[j] = reps[j].Version()
				case 5:
					reps[rapid.IntRange(0, 2).Draw(t, "to")].Merge(m)
				}
			}
		}
		run("before", 0, 1, 2)
		// The runs of a finish one after the other, in a drawn order: each
		// reaches everyone, is retired everywhere, and its replica goes on
		// as a new run, a!3 then a!4.
		first := rapid.IntRange(0, 1).Draw(t, "finished first")
		var done []vclock.Retirement
		var base uint64
		for round, fin := range []int{first, 1 - first} {
			for _, m := range reps {
				m.Merge(reps[fin])
			}
			from := retWriters[fin]
			r := vclock.Retirement{From: from, To: wA0, Base: base, Final: reps[fin].Version().Get(from)}
			base += r.Final
			reps[fin].SetWriter(vclock.Writer("a", uint64(3+round)))
			for i, m := range reps {
				if err := m.Retire(r); err != nil {
					t.Fatal(err)
				}
				versions[i].Retire(r)
			}
			done = append(done, r)
			run(fmt.Sprint("after ", round), 0, 1, 2)
		}
		for range 2 {
			for _, m := range reps {
				for _, o := range reps {
					m.Merge(o.DeltaSince(m.Version()))
				}
			}
		}
		for _, m := range reps {
			sameMap(t, "replicas after retirement", m, reps[0])
			checkRetiredMap(t, m, done...)
		}
		peers := []vclock.Clock{reps[0].Version(), reps[1].Version(), reps[2].Version()}
		for _, m := range reps {
			m.CollectVersions(peers)
		}
		for _, m := range reps {
			if !equivalent(m, reps[0]) || m.Fingerprint() != reps[0].Fingerprint() {
				t.Fatalf("replicas differ after collecting:\n%v\n%v", dump(m), dump(reps[0]))
			}
		}
	})
}

// TestMapRetireUnknownWriter: retiring a writer the map never saw changes
// nothing.
func TestMapRetireUnknownWriter(t *testing.T) {
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	m := New[string, int](wB1, clk)
	m.Put("k", 1)
	before := m.Clone()
	if err := m.Retire(vclock.Retirement{From: wA1, To: wA0, Final: 3}); err != nil {
		t.Fatal(err)
	}
	if !m.Equal(before) || len(m.reps) != len(before.reps) || m.Fingerprint() != before.Fingerprint() {
		t.Fatal("retiring an unknown writer changed the map")
	}
}

// TestMapRetireManyWriters: with more than 16 writers the table of
// replicas is indexed by a Go map; retiring keeps the index right, the
// map's own writer moved from the end of the table included.
func TestMapRetireManyWriters(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := clock.New(clock.WithSource(func() int64 { return start }))
		m := New[string, int](wA1, clk)
		m.Put("a1", 1)
		m.SetWriter(wA2)
		m.Put("a2", 2)
		for i := range rapid.IntRange(15, 20).Draw(t, "others") {
			o := New[string, int](vclock.Writer(vclock.ReplicaID(fmt.Sprintf("w%02d", i)), 1), clk)
			o.Put(fmt.Sprint("o", i), i)
			m.Merge(o)
		}
		m.SetWriter(wA3) // last in the table
		m.Put("a3", 3)
		want := contents(m)
		rs := []vclock.Retirement{{From: wA1, To: wA0, Final: 1}, {From: wA2, To: wA0, Base: 1, Final: 1}}
		for _, r := range rs {
			if err := m.Retire(r); err != nil {
				t.Fatal(err)
			}
		}
		if len(m.reps) <= 16 || m.repIdx == nil {
			t.Fatalf("%d replicas, index %v: the test needs more", len(m.reps), m.repIdx != nil)
		}
		checkRetiredMap(t, m, rs...)
		op := m.Put("a3", 4) // the map still writes as a!3, with the next dot of a!3
		want["a3"] = 4
		if op.Dot() != (vclock.Dot{Replica: wA3, Seq: 2}) || !maps.Equal(contents(m), want) {
			t.Fatalf("after retiring, a put is %v and the contents %v, want %v", op.Dot(), contents(m), want)
		}
		if m.reps[m.self] != wA3 {
			t.Fatalf("the map's own writer is at %d, which holds %q", m.self, m.reps[m.self])
		}
	})
}

// TestMapRetireRefusesToAboveBase: a retirement whose Base does not count
// every dot the retired writer already holds is refused, changing nothing.
func TestMapRetireRefusesToAboveBase(t *testing.T) {
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	m := New[string, int](wA1, clk)
	m.Put("x", 1)
	m.Put("y", 2)
	m.SetWriter(wA2)
	m.Put("z", 3)
	m.SetWriter(wA3)
	if err := m.Retire(vclock.Retirement{From: wA1, To: wA0, Final: 2}); err != nil {
		t.Fatal(err)
	}
	before, _ := m.MarshalBinary()
	err := m.Retire(vclock.Retirement{From: wA2, To: wA0, Base: 1, Final: 1})
	if !errors.Is(err, vclock.ErrRetirement) {
		t.Fatalf("Retire with Base 1 below a!0's 2 dots = %v, want ErrRetirement", err)
	}
	after, _ := m.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Fatal("a refused retirement changed the map")
	}
	if err := m.Retire(vclock.Retirement{From: wA2, To: wA0, Base: 2, Final: 1}); err != nil {
		t.Fatal(err)
	}
	if v, ok := m.Get("z"); !ok || v != 3 || m.Version().Get(wA0) != 3 {
		t.Fatalf("after retiring a!2 with Base 2: z = %d, %v; version %v", v, ok, m.Version())
	}
}

// retireFixture returns n maps, each of size entries written half by a!1
// and half by b!1, seen by a map writing as b!1.
func retireFixture(n, size int) []*Map[string, int] {
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	a := New[string, int](wA1, clk)
	b := New[string, int](wB1, clk)
	for i := range size {
		if i%2 == 0 {
			a.Put(fmt.Sprint("k", i), i)
		} else {
			b.Put(fmt.Sprint("k", i), i)
		}
	}
	b.Merge(a)
	b.DeltaSince(vclock.Clock{}) // builds the index
	out := make([]*Map[string, int], n)
	for i := range out {
		out[i] = b.Clone()
	}
	return out
}

// TestMapRetireCost: Retire's allocations do not grow with the map: it
// renames the entries in place, in one pass.
func TestMapRetireCost(t *testing.T) {
	r := vclock.Retirement{From: wA1, To: wA0, Final: 1 << 20}
	allocs := map[int]float64{}
	for _, size := range []int{100, 10_000} {
		ms := retireFixture(6, size)
		k := 0
		allocs[size] = testing.AllocsPerRun(5, func() {
			if ms[k].Retire(r) != nil {
				panic("refused")
			}
			k++
		})
		if got := ms[0].Version().Get(wA0); got != uint64(size/2) {
			t.Fatalf("%d entries: a!0 counts %d dots, want %d", size, got, size/2)
		}
	}
	t.Logf("allocations of Retire: %v", allocs)
	if allocs[10_000] != allocs[100] || allocs[100] > 2 {
		t.Fatalf("Retire allocates %v times for 100 entries, %v for 10,000", allocs[100], allocs[10_000])
	}
}

// BenchmarkMapRetire100k times Retire of a writer holding half of a map
// of 100,000 entries, against its floor: one pass over the map's entries
// that rewrites each in place.
func BenchmarkMapRetire100k(b *testing.B) {
	r := vclock.Retirement{From: wA1, To: wA0, Final: 1 << 20}
	b.Run("retire", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			m := retireFixture(1, 100_000)[0]
			b.StartTimer()
			if err := m.Retire(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("floor-pass", func(b *testing.B) {
		b.ReportAllocs()
		m := retireFixture(1, 100_000)[0]
		for b.Loop() {
			for _, e := range m.m.All() {
				e.seq++
			}
		}
	})
}

// The map is a retirer, as the replication engine finds it.
var _ interface{ Retire(vclock.Retirement) error } = (*Map[string, int])(nil)

// TestMapRetireRenamesDropRecordsOnly: a map that took in only a write
// overwriting another writer's expire holds a drop record naming that
// writer, and nothing else of it; retiring the writer renames the record.
func TestMapRetireRenamesDropRecordsOnly(t *testing.T) {
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	a1, a2, b := New[string, int](wA1, clk), New[string, int](wA2, clk), New[string, int](wB1, clk)
	a2.Put("k", 1)
	expire := a2.Expire("k", time.Hour)
	a1.Merge(a2)
	put := a1.Put("k", 2) // overwrites a!2's expire: its op names it
	if err := b.Apply(put); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.findRep(wA2); ok || b.ctx.Contains(expire.Dot()) || !b.dropsName(wA2) {
		t.Fatalf("the fixture: b should name %q in a drop record only", wA2)
	}
	r := vclock.Retirement{From: wA2, To: wA0, Final: a2.Version().Get(wA2)}
	if err := b.Retire(r); err != nil {
		t.Fatal(err)
	}
	if b.dropsName(wA2) || !b.dropsName(wA0) {
		t.Fatalf("drop records after retiring: %v", b.drops)
	}
}
