package counter

import (
	"bytes"
	"errors"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// The writers of the retirement tests: two runs of replica a and one of b.
var (
	wA1, wA2, wB1 = vclock.Writer("a", 1), vclock.Writer("a", 2), vclock.Writer("b", 1)
	wA0           = vclock.Retired("a")
	retWriters    = []vclock.ReplicaID{wA1, wA2, wB1}
)

// retCounter is what the retirement tests need of a G or a PN.
type retCounter[C any] interface {
	Retire(vclock.Retirement) error
	Merge(C)
	Clone() C
	Equal(C) bool
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
	Version() vclock.Clock
	DeltaSince(vclock.Clock) C
	Fingerprint() uint64
}

// counterKind describes G or PN to the retirement tests.
type counterKind[C retCounter[C]] struct {
	make  func(id vclock.ReplicaID) C
	step  func(t *rapid.T, c C) // a random change by c's writer
	value func(c C) int64       // the value (a G's, as an int64: the tests stay small)
}

var gKind = counterKind[*G]{
	make: func(id vclock.ReplicaID) *G { return NewG(id) },
	step: func(t *rapid.T, c *G) {
		if _, err := c.Inc(rapid.Uint64Range(1, 5).Draw(t, "inc")); err != nil {
			t.Fatal(err)
		}
	},
	value: func(c *G) int64 { return int64(c.Value()) },
}

var pnKind = counterKind[*PN]{
	make: func(id vclock.ReplicaID) *PN { return NewPN(id) },
	step: func(t *rapid.T, c *PN) {
		d := rapid.Int64Range(-5, 5).Filter(func(d int64) bool { return d != 0 }).Draw(t, "add")
		if _, err := c.Add(d); err != nil {
			t.Fatal(err)
		}
	},
	value: func(c *PN) int64 { return c.Value() },
}

// history runs random changes and merges on three replicas writing as
// retWriters, and returns every state each replica went through, oldest
// first (the last is its current state).
func history[C retCounter[C]](t *rapid.T, k counterKind[C]) [3][]C {
	var reps [3]C
	var past [3][]C
	for i, w := range retWriters {
		reps[i] = k.make(w)
	}
	for range rapid.IntRange(0, 30).Draw(t, "steps") {
		i := rapid.IntRange(0, 2).Draw(t, "at")
		if rapid.Bool().Draw(t, "merge") {
			reps[i].Merge(reps[rapid.IntRange(0, 2).Draw(t, "from")])
		} else {
			k.step(t, reps[i])
		}
		past[i] = append(past[i], reps[i].Clone())
	}
	for i := range reps {
		past[i] = append(past[i], reps[i])
	}
	return past
}

// pick draws one of the states of a history.
func pick[C any](t *rapid.T, past [3][]C, label string) C {
	i := rapid.IntRange(0, 2).Draw(t, label+" replica")
	return past[i][rapid.IntRange(0, len(past[i])-1).Draw(t, label+" state")]
}

// retirements returns the two retirements of a's runs: a!1 then a!2, each
// with a Final at least every count of it in states (plus a drawn slack).
func retirements[C retCounter[C]](t *rapid.T, states ...C) [2]vclock.Retirement {
	var f1, f2 uint64
	for _, s := range states {
		v := s.Version()
		f1, f2 = max(f1, v.Get(wA1)), max(f2, v.Get(wA2))
	}
	f1 += rapid.Uint64Range(0, 2).Draw(t, "slack1")
	f2 += rapid.Uint64Range(0, 2).Draw(t, "slack2")
	return [2]vclock.Retirement{
		{From: wA1, To: wA0, Base: 0, Final: f1},
		{From: wA2, To: wA0, Base: f1, Final: f2},
	}
}

func retired[C retCounter[C]](t *rapid.T, c C, rs ...vclock.Retirement) C {
	c = c.Clone()
	for _, r := range rs {
		if err := c.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
	}
	return c
}

func joined[C retCounter[C]](a, b C) C {
	c := a.Clone()
	c.Merge(b)
	return c
}

func encoded[C retCounter[C]](t *rapid.T, c C) []byte {
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameCounter fails unless a and b hold the same entries, checked on their
// encodings too.
func sameCounter[C retCounter[C]](t *rapid.T, what string, a, b C) {
	t.Helper()
	if !a.Equal(b) || !bytes.Equal(encoded(t, a), encoded(t, b)) || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("%s: %v and %v differ", what, a.Version(), b.Version())
	}
}

// comparable reports whether one of x and y holds at least as many events
// of both From and To as the other: then a retirement commutes with their
// merge exactly (see retire.go).
func comparable(x, y vclock.Clock, r vclock.Retirement) bool {
	xf, xt, yf, yt := x.Get(r.From), x.Get(r.To), y.Get(r.From), y.Get(r.To)
	return xf >= yf && xt >= yt || yf >= xf && yt >= xt
}

// checkHomomorphism is test 1: Retire(x ⊔ y) = Retire(x) ⊔ Retire(y)
// wherever the states are comparable on the retired writers (always for
// the first retirement, whose To is new), never more than it elsewhere,
// and no Retire changes the value.
func checkHomomorphism[C retCounter[C]](t *rapid.T, k counterKind[C]) {
	past := history(t, k)
	x, y := pick(t, past, "x"), pick(t, past, "y")
	if rapid.Bool().Draw(t, "a!1 everywhere") {
		// As the engine has it: a!1 is retired once every replica holds
		// all of it, so the states hold all of it at the second.
		x, y = joined(x, past[0][len(past[0])-1]), joined(y, past[0][len(past[0])-1])
	}
	all := joined(joined(past[0][len(past[0])-1], past[1][len(past[1])-1]), past[2][len(past[2])-1])
	rs := retirements(t, all)
	xy := x.Clone()
	xy.Merge(y)
	for n := 1; n <= 2; n++ {
		before := [3]C{retired(t, x, rs[:n-1]...), retired(t, y, rs[:n-1]...), retired(t, xy, rs[:n-1]...)}
		rx, ry, rxy := retired(t, x, rs[:n]...), retired(t, y, rs[:n]...), retired(t, xy, rs[:n]...)
		for i, s := range []C{rx, ry, rxy} {
			if k.value(s) != k.value(before[i]) {
				t.Fatalf("retirement %d changed a value from %d to %d", n, k.value(before[i]), k.value(s))
			}
			if s.Version().Get(rs[n-1].From) != 0 {
				t.Fatalf("retirement %d left %q in %v", n, rs[n-1].From, s.Version())
			}
		}
		j := joined(rx, ry)
		if comparable(before[0].Version(), before[1].Version(), rs[n-1]) {
			sameCounter(t, "Retire(x ⊔ y) and Retire(x) ⊔ Retire(y)", rxy, j)
			continue
		}
		// Incomparable older states: the join of the retired states
		// may count less for To, never more, and the same elsewhere.
		jv, wv := j.Version(), rxy.Version()
		if jv.Get(wA0) > wv.Get(wA0) || jv.Get(wB1) != wv.Get(wB1) || jv.Get(wA2) != wv.Get(wA2) {
			t.Fatalf("retirement %d of incomparable states: joined %v, want at most %v for %q, the same elsewhere", n, jv, wv, wA0)
		}
		// A merge with the state holding everything repairs it.
		ra := retired(t, all, rs[:n]...)
		sameCounter(t, "repaired join", joined(j, ra), joined(rxy, ra))
	}
}

func TestGRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkHomomorphism(t, gKind) })
}
func TestPNRetireHomomorphism(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkHomomorphism(t, pnKind) })
}

// checkLagging is test 2: y is an older state of x's replica; after both
// retire, merging either into the other gives Retire(x ⊔ y).
func checkLagging[C retCounter[C]](t *rapid.T, k counterKind[C]) {
	past := history(t, k)
	i := rapid.IntRange(0, 2).Draw(t, "replica")
	n := len(past[i])
	y := past[i][rapid.IntRange(0, n-1).Draw(t, "older")]
	x := past[i][n-1]
	rs := retirements(t, x, y)
	want := retired(t, joined(x, y), rs[:]...)
	rx, ry := retired(t, x, rs[:]...), retired(t, y, rs[:]...)
	sameCounter(t, "x ⊔ y, retired, and retired x merged into retired y", joined(ry, rx), want)
	sameCounter(t, "and retired y merged into retired x", joined(rx, ry), want)
	if k.value(ry) != k.value(y) {
		t.Fatalf("the older state's value changed from %d to %d", k.value(y), k.value(ry))
	}
}

func TestGRetireLagging(t *testing.T)  { rapid.Check(t, func(t *rapid.T) { checkLagging(t, gKind) }) }
func TestPNRetireLagging(t *testing.T) { rapid.Check(t, func(t *rapid.T) { checkLagging(t, pnKind) }) }

// TestGRetireKeepsAboveFinal is test 3 for G: increments of From above
// Final (a writer thought finished that counted more) stay under From's
// name, less Final, and only the first Final go into To (folding them all
// into To loses increments over two retirements, see
// TestGRetireExcessHistories): the value does not change, and nothing
// else changes.
func TestGRetireKeepsAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		past := history(t, gKind)
		x := pick(t, past, "x")
		v := x.Version()
		held := v.Get(wA1)
		final := rapid.Uint64Range(0, held).Draw(t, "final")
		rx := retired(t, x, vclock.Retirement{From: wA1, To: wA0, Final: final})
		var want vclock.Clock
		for id, n := range v.All() {
			if id != wA1 {
				want.Set(id, n)
			}
		}
		want.Set(wA0, min(held, final))
		want.Set(wA1, held-min(held, final))
		if got := rx.Version(); !got.Equal(want) {
			t.Fatalf("retired version %v, want %v", got, want)
		}
		if rx.Value() != x.Value() {
			t.Fatalf("value %d, want %d", rx.Value(), x.Value())
		}
		gInvariant(t, rx)
	})
}

// TestPNRetireKeepsAboveFinal is test 3 for PN: From's changes above
// Final are folded into To with the others: To holds exactly From's
// totals, the value does not change.
func TestPNRetireKeepsAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.Uint64Range(0, 20).Draw(t, "p")
		n := rapid.Uint64Range(0, 20).Draw(t, "n")
		c := &PN{}
		for _, op := range []PNOp{{Replica: wA1, P: p, N: n}, {Replica: wB1, P: 3, N: 1}} {
			if err := c.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		r := vclock.Retirement{From: wA1, To: wA0, Final: rapid.Uint64Range(0, p+n).Draw(t, "final")}
		rc := c.Clone()
		if err := rc.Retire(r); err != nil {
			t.Fatal(err)
		}
		i, ok := findPN(rc.e, wA0)
		if p+n > 0 && (!ok || rc.e[i].p != p || rc.e[i].n != n) {
			t.Fatalf("retired entries %+v, want %d/%d for %q", rc.e, p, n, wA0)
		}
		if _, ok := findPN(rc.e, wA1); ok {
			t.Fatalf("%q left in %+v", wA1, rc.e)
		}
		if rc.Fingerprint() != recomputePNFingerprint(rc) || rc.Value() != c.Value() {
			t.Fatalf("value %d (want %d), fingerprint %#x (recomputed %#x)", rc.Value(), c.Value(), rc.Fingerprint(), recomputePNFingerprint(rc))
		}
	})
}

// checkBadRetirement is test 4: a retirement that cannot apply fails with
// ErrRetirement and leaves the state byte for byte as it was.
func checkBadRetirement[C retCounter[C]](t *rapid.T, k counterKind[C]) {
	past := history(t, k)
	x := pick(t, past, "x")
	before, fp := encoded(t, x), x.Fingerprint()
	bad := rapid.SampledFrom([]vclock.Retirement{
		{From: "a", To: wA0, Final: 5},                      // not a run's writer
		{From: wA0, To: wA0, Final: 5},                      // the retired writer itself
		{From: wA1, To: vclock.Retired("b"), Final: 5},      // into another name
		{From: wA1, To: wA0, Final: 5, Heir: wB1},           // heir of another name
		{From: wA1, To: wA0, Base: vclock.MaxSeq, Final: 1}, // past MaxSeq
	}).Draw(t, "bad")
	err := x.Retire(bad)
	if !errors.Is(err, vclock.ErrRetirement) {
		t.Fatalf("Retire(%+v) = %v, want ErrRetirement", bad, err)
	}
	if !bytes.Equal(encoded(t, x), before) || x.Fingerprint() != fp {
		t.Fatalf("a refused retirement changed the state")
	}
}

func TestGRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkBadRetirement(t, gKind) })
}
func TestPNRetireRefused(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkBadRetirement(t, pnKind) })
}

// checkKeepsWorking is test 5: every replica retires a run of a (its
// Final what the run wrote), then the live writers keep counting; deltas since retired
// versions, encoded states and merges carry everything; in the end every
// replica holds the same state, whose value is the model's, and whose
// fingerprint is that of its own decoding.
func checkKeepsWorking[C retCounter[C]](t *rapid.T, k counterKind[C]) {
	var reps [3]C
	for i, w := range retWriters {
		reps[i] = k.make(w)
	}
	var model int64
	run := func(label string, writers ...int) {
		for range rapid.IntRange(0, 15).Draw(t, label) {
			i := rapid.SampledFrom(writers).Draw(t, "at")
			switch rapid.IntRange(0, 2).Draw(t, "what") {
			case 0:
				before := k.value(reps[i])
				k.step(t, reps[i])
				model += k.value(reps[i]) - before // a step at a replica changes only its own entry
			case 1:
				reps[i].Merge(reps[rapid.IntRange(0, 2).Draw(t, "from")])
			case 2: // a delta since the receiver's version, through its encoding
				j := rapid.IntRange(0, 2).Draw(t, "to")
				d := reps[i].DeltaSince(reps[j].Version())
				got := k.make("")
				if err := got.UnmarshalBinary(encoded(t, d)); err != nil {
					t.Fatal(err)
				}
				reps[j].Merge(got)
			}
		}
	}
	run("before", 0, 1, 2)
	// One run of a is finished (a!2 with a!1 still writing puts an entry
	// between To and From): it reaches everyone, then everyone retires it.
	fin := rapid.IntRange(0, 1).Draw(t, "finished")
	for i := range reps {
		reps[i].Merge(reps[fin])
	}
	final := reps[fin].Version().Get(retWriters[fin])
	r := vclock.Retirement{From: retWriters[fin], To: wA0, Final: final}
	for i := range reps {
		if err := reps[i].Retire(r); err != nil {
			t.Fatal(err)
		}
	}
	run("after", 1-fin, 2)
	// Anti-entropy: deltas since retired versions bring everyone level.
	for range 2 {
		for i := range reps {
			for j := range reps {
				v := reps[j].Version()
				v.Retire(r) // a version kept from before is retired by the engine
				reps[j].Merge(reps[i].DeltaSince(v))
			}
		}
	}
	for i := range reps {
		sameCounter(t, "replicas after retirement", reps[i], reps[0])
		dec := k.make("")
		if err := dec.UnmarshalBinary(encoded(t, reps[i])); err != nil {
			t.Fatalf("decoding a retired state: %v", err)
		}
		sameCounter(t, "decoded retired state", dec, reps[i])
		if reps[i].Version().Get(r.From) != 0 {
			t.Fatalf("%q is back: %v", r.From, reps[i].Version())
		}
	}
	if got := k.value(reps[0]); got != model {
		t.Fatalf("value %d, model %d", got, model)
	}
}

func TestGRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkKeepsWorking(t, gKind) })
}
func TestPNRetireKeepsWorking(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkKeepsWorking(t, pnKind) })
}

// TestRetireUnknownWriter: retiring a writer a counter never saw changes
// nothing and allocates nothing.
func TestRetireUnknownWriter(t *testing.T) {
	g, c := NewG(wB1), NewPN(wB1)
	if _, err := g.Inc(3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Add(-3); err != nil {
		t.Fatal(err)
	}
	r := vclock.Retirement{From: wA1, To: wA0, Final: 9}
	gb, _ := g.MarshalBinary()
	cb, _ := c.MarshalBinary()
	if err := g.Retire(r); err != nil {
		t.Fatal(err)
	}
	if err := c.Retire(r); err != nil {
		t.Fatal(err)
	}
	g2, _ := g.MarshalBinary()
	c2, _ := c.MarshalBinary()
	if !bytes.Equal(gb, g2) || !bytes.Equal(cb, c2) {
		t.Fatal("retiring an unknown writer changed a counter")
	}
}

// TestRetireAllocatesNothing: Retire works in place, whether To is new or
// already counted.
func TestRetireAllocatesNothing(t *testing.T) {
	const runs = 20
	var gs []*G
	var cs []*PN
	for range runs + 1 {
		g, c := &G{}, &PN{}
		for _, id := range []vclock.ReplicaID{"0", "a", wA0, wA1, wA2, wB1, "c"} {
			g.Apply(GOp{Replica: id, Count: 4})    //nolint:errcheck // valid
			c.Apply(PNOp{Replica: id, P: 2, N: 1}) //nolint:errcheck // valid
		}
		gs, cs = append(gs, g), append(cs, c)
	}
	k := 0
	allocs := testing.AllocsPerRun(runs, func() {
		for _, r := range []vclock.Retirement{{From: wA1, To: wA0, Base: 4, Final: 4}, {From: wA2, To: wA0, Base: 8, Final: 3}} {
			if gs[k].Retire(r) != nil || cs[k].Retire(r) != nil {
				panic("refused")
			}
		}
		k++
	})
	if allocs != 0 {
		t.Fatalf("Retire allocates %v times", allocs)
	}
	// G: seven entries of 4 (a!2's fourth increment, above its Final of
	// 3, folded in all the same). PN: seven entries of +2-1.
	if gs[0].Value() != 7*4 || cs[0].Value() != 7 {
		t.Fatalf("values %d and %d after retiring", gs[0].Value(), cs[0].Value())
	}
}

// The counters are retirers, as the replication engine finds them.
var (
	_ interface{ Retire(vclock.Retirement) error } = (*G)(nil)
	_ interface{ Retire(vclock.Retirement) error } = (*PN)(nil)
	_ interface{ Retire(vclock.Retirement) error } = (*Bounded)(nil)
)
