package counter

import (
	"bytes"
	"errors"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

func mergedBounded(t *rapid.T, bs ...*Bounded) *Bounded {
	out := bs[0].Clone()
	for _, b := range bs[1:] {
		out.Merge(b)
	}
	return out
}

func retiredBounded(t *rapid.T, b *Bounded, rs ...vclock.Retirement) *Bounded {
	b = b.Clone()
	for _, r := range rs {
		if err := b.Retire(r); err != nil {
			t.Fatalf("Retire(%+v): %v", r, err)
		}
	}
	return b
}

func sameBounded(t *rapid.T, what string, a, b *Bounded) {
	t.Helper()
	ab, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) || !bytes.Equal(ab, bb) || a.Value() != b.Value() {
		t.Fatalf("%s differ: %v (value %d) and %v (value %d)", what, a.Holders(), a.Value(), b.Holders(), b.Value())
	}
}

// boundedInvariant checks what a retired counter must be: its fingerprint
// and value as its decoding has them, nothing of the retired writers, the
// value at or above the floor.
func boundedInvariant(t *rapid.T, b *Bounded, rs []vclock.Retirement) {
	t.Helper()
	data, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	dec := NewBounded("", 0)
	if err := dec.UnmarshalBinary(data); err != nil {
		t.Fatalf("decoding a retired state: %v", err)
	}
	checkBoundedFingerprint(t, "retired state", b)
	if dec.Fingerprint() != b.Fingerprint() || dec.Value() != b.Value() || !dec.Equal(b) {
		t.Fatalf("decoded: fingerprint %#x value %d, kept %#x and %d", dec.Fingerprint(), dec.Value(), b.Fingerprint(), b.Value())
	}
	if b.Value() < b.Floor() {
		t.Fatalf("value %d below the floor %d", b.Value(), b.Floor())
	}
	for _, r := range rs {
		if b.e[r.From] != nil {
			t.Fatalf("%q still has an entry", r.From)
		}
		for _, e := range b.e {
			if names(e, r.From) {
				t.Fatalf("the entry of %q names %q", e.id, r.From)
			}
		}
	}
}

// TestBoundedRetireNeverBelowFloor is the escrow's property test with
// retirements in the history: three replicas start as a!1, a!2 and b!1;
// at drawn moments a run of a finishes (once every replica has it all, as
// the engine waits for) and is retired everywhere, with a drawn heir
// (which inherits nothing), and its replica goes on as a new run. At every step,
// every replica's value is at or above the floor and the sales never pass
// the stock; at each retirement, Retire(x ⊔ y) = Retire(x) ⊔ Retire(y) for
// the states of two replicas and no value changes; an older state of a
// replica, retired too, is brought up to date by a merge; in the end every
// replica holds the same state, whose value is the floor plus the stock
// less the sales.
func TestBoundedRetireNeverBelowFloor(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		floor := rapid.Int64Range(-5, 5).Draw(t, "floor")
		rs := []*Bounded{NewBounded(wA1, floor), NewBounded(wA2, floor), NewBounded(wB1, floor)}
		type msg struct {
			to int
			op []byte
		}
		var net []msg
		var stock, sold uint64
		var done []vclock.Retirement
		var base uint64
		var old *Bounded // an older state of some replica
		var oldAt int    // how many of done it has seen
		nextRun := uint64(3)
		send := func(from int, op BoundedOp) {
			b, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			for to := range rs {
				if to != from {
					net = append(net, msg{to, b})
				}
			}
		}
		deliver := func(k int) {
			m := net[k]
			net = append(net[:k:k], net[k+1:]...)
			if _, err := rs[m.to].ApplyBinaryFrom(m.op, pickName(m.op)); err != nil {
				t.Fatalf("replica %d refused a real op: %v", m.to, err)
			}
		}
		check := func() {
			for i, b := range rs {
				if v := b.Value(); v < floor {
					t.Fatalf("replica %d shows %d, below the floor %d", i, v, floor)
				}
			}
			if sold > stock {
				t.Fatalf("sold %d of a stock of %d", sold, stock)
			}
		}
		// retire finishes the run replica i writes as, once every
		// replica has all of it. Ops in flight are delivered first: the
		// engine renames or resends what crosses a retirement.
		retire := func(i int) {
			for len(net) > 0 {
				deliver(0)
			}
			from := rs[i].id
			for j := range rs {
				rs[j].Merge(rs[i])
			}
			heirs := []vclock.ReplicaID{"", vclock.Writer("a", nextRun)}
			for j := range rs {
				if j != i && rs[j].id.Name() == "a" {
					heirs = append(heirs, rs[j].id)
				}
			}
			r := vclock.Retirement{From: from, To: wA0, Base: base, Final: rs[i].Events(from), Heir: rapid.SampledFrom(heirs).Draw(t, "heir")}
			base += r.Final
			rs[i].SetWriter(vclock.Writer("a", nextRun))
			nextRun++
			// Homomorphism on two replicas' states, and values kept.
			x, y := rs[rapid.IntRange(0, 2).Draw(t, "x")], rs[rapid.IntRange(0, 2).Draw(t, "y")]
			rx, ry := retiredBounded(t, x, r), retiredBounded(t, y, r)
			sameBounded(t, "Retire(x ⊔ y) and Retire(x) ⊔ Retire(y)", retiredBounded(t, mergedBounded(t, x, y), r), mergedBounded(t, rx, ry))
			for j, b := range rs {
				v := b.Value()
				if err := b.Retire(r); err != nil {
					t.Fatal(err)
				}
				if b.Value() != v {
					t.Fatalf("retiring %q changed replica %d's value from %d to %d", from, j, v, b.Value())
				}
			}
			done = append(done, r)
			for _, b := range rs {
				boundedInvariant(t, b, done)
			}
		}
		pick := rapid.IntRange(0, 2)
		for range rapid.IntRange(1, 80).Draw(t, "steps") {
			i := pick.Draw(t, "replica")
			b := rs[i]
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0:
				n := rapid.Uint64Range(0, 10).Draw(t, "stock")
				op, err := b.Inc(n)
				if err != nil {
					t.Fatal(err)
				}
				stock += n
				send(i, op)
			case 1, 2:
				n := rapid.Uint64Range(0, 4).Draw(t, "sell")
				op, err := b.Dec(n)
				if errors.Is(err, ErrInsufficientRights) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				sold += n
				send(i, op)
			case 3:
				to := rs[pick.Draw(t, "to")].id
				if to == b.id {
					continue
				}
				op, err := b.Transfer(to, rapid.Uint64Range(0, 5).Draw(t, "give"))
				if errors.Is(err, ErrInsufficientRights) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				send(i, op)
			case 4, 5:
				if len(net) > 0 {
					deliver(rapid.IntRange(0, len(net)-1).Draw(t, "deliver"))
				}
			case 6:
				from := rs[pick.Draw(t, "from")].id
				if from == b.id {
					continue
				}
				op, err := b.Request(from, rapid.Uint64Range(0, 5).Draw(t, "ask"))
				if err != nil {
					t.Fatal(err)
				}
				send(i, op)
			case 7:
				rs[i].Merge(rs[pick.Draw(t, "from")])
			case 8:
				if old == nil {
					old, oldAt = b.Clone(), len(done)
				}
			case 9:
				if b.id.Name() == "a" && len(done) < 3 {
					retire(i)
				}
			}
			check()
		}
		for len(net) > 0 {
			deliver(0)
		}
		for _, x := range rs {
			for _, y := range rs {
				x.Merge(y)
			}
		}
		want := floor + int64(stock) - int64(sold)
		for i, b := range rs {
			if v := b.Value(); v != want || !b.Equal(rs[0]) {
				t.Fatalf("replica %d ends at %d, want %d", i, v, want)
			}
			boundedInvariant(t, b, done)
		}
		// The older state takes the retirements it missed, then a merge.
		if old != nil {
			o := old.Clone()
			o.SetWriter(vclock.Writer("a", 99)) // restored under a run of its own
			for k, r := range done[oldAt:] {
				if err := o.Retire(r); err != nil {
					t.Fatalf("an older state refused %+v: %v", r, err)
				}
				boundedInvariant(t, o, done[oldAt:oldAt+k+1])
				if o.Value() < floor {
					t.Fatalf("an older state retired to %d, below the floor %d", o.Value(), floor)
				}
			}
			o.Merge(rs[0])
			sameBounded(t, "older state, retired and merged, and the current one", o, rs[0])
		}
	})
}

// TestBoundedRetireRefused: a retirement that cannot apply fails with
// ErrRetirement and changes nothing.
func TestBoundedRetireRefused(t *testing.T) {
	b := NewBounded(wB1, 0)
	a := NewBounded(wA1, 0)
	must(t)(a.Inc(5))
	must(t)(a.Transfer(wB1, 2))
	b.Merge(a)
	must(t)(b.Dec(1))
	before, _ := b.MarshalBinary()
	for _, r := range []vclock.Retirement{
		{From: "a", To: wA0},
		{From: wA1, To: vclock.Retired("b")},
		{From: wA1, To: wA0, Heir: wB1},
		{From: wA1, To: wA0, Base: vclock.MaxSeq, Final: 1},
		{From: wB1, To: vclock.Retired("b"), Final: b.Events(wB1)}, // b counts as b!1
	} {
		if err := b.Retire(r); !errors.Is(err, vclock.ErrRetirement) {
			t.Fatalf("Retire(%+v) = %v, want ErrRetirement", r, err)
		}
		if after, _ := b.MarshalBinary(); !bytes.Equal(before, after) {
			t.Fatalf("a refused Retire(%+v) changed the counter", r)
		}
	}
}

// TestBoundedRetireStrandsRights: a finished writer's unused rights stay
// with the retired writer, counted in the value, and no later run of its
// name (the heir the engine names) can spend them, since the finished
// run's process may still be running and selling them; rights it gave
// that another replica took up stay spent; rights given to it and not
// taken up stay in transit to the retired writer; the value never moves.
func TestBoundedRetireStrandsRights(t *testing.T) {
	wA2 := vclock.Writer("a", 2)
	a1, b := NewBounded(wA1, 0), NewBounded(wB1, 0)
	must(t)(a1.Inc(10))
	must(t)(a1.Dec(3))
	must(t)(a1.Transfer(wB1, 2))
	must(t)(b.Inc(4))
	must(t)(b.Transfer(wA1, 4)) // a!1 never takes these up
	b.Merge(a1)
	must(t)(b.Dec(2)) // takes up a!1's 2
	a1.Merge(b)
	r := vclock.Retirement{From: wA1, To: wA0, Final: a1.Events(wA1), Heir: wA2}
	a2 := a1.Clone()
	a2.SetWriter(wA2)
	for _, c := range []*Bounded{a2, b} {
		if err := c.Retire(r); err != nil {
			t.Fatal(err)
		}
		if c.Value() != 9 { // 10 - 3 + 4 - 2
			t.Fatalf("value %d after retiring, want 9", c.Value())
		}
	}
	if !a2.Equal(b) {
		t.Fatal("the two replicas differ after retiring")
	}
	if _, err := a2.Dec(1); !errors.Is(err, ErrInsufficientRights) {
		t.Fatalf("the heir spent a right a!1 left: %v", err)
	}
	if a2.Rights(wA0) != 5 || a2.Value() != 9 {
		t.Fatalf("%q holds %d, value %d; want the 5 rights a!1 left, and 4 in transit to it", wA0, a2.Rights(wA0), a2.Value())
	}
	if got := a2.Holders(); len(got) != 0 {
		t.Fatalf("holders %v, want none: a retired writer spends nothing", got)
	}
}

// Regression: two processes ran under one replica name, the second from
// the first's disk, and the first's writer was retired while the first
// still ran, cut off. The retirement handed its unused rights to the
// second's writer, which sold them, while the first sold them too; and a
// replica holding the first's sales beyond Final dropped them, so that
// nothing showed them. Now nobody inherits, and the sales beyond Final are
// folded into the retired writer's entry and carried by merges.
func TestBoundedRetireTwoProcessesSellOnce(t *testing.T) {
	wA2 := vclock.Writer("a", 2)
	first, b := NewBounded(wA1, 0), NewBounded(wB1, 0)
	must(t)(first.Inc(10))
	b.Merge(first)
	second := first.Clone() // started from the first's disk
	second.SetWriter(wA2)
	r := vclock.Retirement{From: wA1, To: wA0, Final: first.Events(wA1), Heir: wA2}
	sale := must(t)(first.Dec(10)) // the first, cut off, sells its 10
	sold := uint64(10)
	for _, c := range []*Bounded{b, second} {
		if err := c.Retire(r); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		if _, err := second.Dec(1); err == nil {
			sold++
		}
	}
	if sold > 10 {
		t.Fatalf("sold %d of a stock of 10", sold)
	}
	// A replica that took in the first's sale before the retirement
	// keeps it, and passes it on.
	c := NewBounded("c!1", 0)
	if err := c.Apply(sale); err != nil {
		t.Fatal(err)
	}
	if err := c.Retire(r); err != nil {
		t.Fatal(err)
	}
	if c.Value() != 0 {
		t.Fatalf("value %d after retiring, want the 10 sold", c.Value())
	}
	b.Merge(c)
	c.Merge(b)
	if !b.Equal(c) || b.Value() != 0 {
		t.Fatalf("after the merges: values %d and %d, equal %v", b.Value(), c.Value(), b.Equal(c))
	}
}

// TestBoundedRetireFoldsAboveFinal: a replica holding From's entry beyond
// the agreed Final (changes no other replica took in) folds it into To's
// all the same, so its value does not change, and a merge with a replica
// that absorbed the agreed entry leaves both with every change.
func TestBoundedRetireFoldsAboveFinal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		floor := rapid.Int64Range(-3, 3).Draw(t, "floor")
		a1, b := NewBounded(wA1, floor), NewBounded(wB1, floor)
		mustR(t)(a1.Inc(rapid.Uint64Range(1, 9).Draw(t, "agreed inc")))
		mustR(t)(a1.Dec(1))
		mustR(t)(b.Inc(rapid.Uint64Range(0, 9).Draw(t, "b inc")))
		b.Merge(a1)
		final := a1.Events(wA1)
		agreed := b.Value()
		// Later changes of a!1 that reached nobody else.
		mustR(t)(a1.Inc(rapid.Uint64Range(1, 5).Draw(t, "later inc")))
		if rapid.Bool().Draw(t, "later dec") {
			mustR(t)(a1.Dec(1))
		}
		a1.Merge(b)
		all := a1.Value()
		r := vclock.Retirement{From: wA1, To: wA0, Final: final}
		restored := a1.Clone()
		restored.SetWriter(vclock.Writer("a", 2))
		for _, c := range []*Bounded{b, restored} {
			if err := c.Retire(r); err != nil {
				t.Fatal(err)
			}
			boundedInvariant(t, c, []vclock.Retirement{r})
		}
		if b.Value() != agreed || restored.Value() != all {
			t.Fatalf("values %d and %d after retiring, want %d and %d", b.Value(), restored.Value(), agreed, all)
		}
		restored.Merge(b)
		b.Merge(restored)
		if !restored.Equal(b) || restored.Value() != all {
			t.Fatalf("after the merges: value %d, want %d, equal %v", restored.Value(), all, restored.Equal(b))
		}
	})
}

// mustR is must for a rapid test.
func mustR(t *rapid.T) func(BoundedOp, error) BoundedOp {
	return func(op BoundedOp, err error) BoundedOp {
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

// TestBoundedRetireOlderStateDropsTo: two runs of a overlap, a!2 gives
// a!1 rights that a!1 spends. A replica that holds a!1's last entry but
// nothing of a!2 cannot absorb a!2: To's entry would have spent rights it
// took from itself, without the giving. It drops To's entry, stays at or
// above the floor, and a merge with a replica that absorbed everything
// brings it level.
func TestBoundedRetireOlderStateDropsTo(t *testing.T) {
	a1, a2, full := NewBounded(wA1, 0), NewBounded(wA2, 0), NewBounded(wB1, 0)
	must(t)(a2.Inc(5))
	a1.Merge(a2)
	old := NewBounded("", 0) // nothing of a!2
	must(t)(a2.Transfer(wA1, 3))
	a1.Merge(a2)
	op := must(t)(a1.Dec(3))              // takes up a!2's 3
	if err := old.Apply(op); err != nil { // a!1's last entry only
		t.Fatal(err)
	}
	old.SetWriter(wB1)
	full.Merge(a1)
	full.Merge(a2)
	r1 := vclock.Retirement{From: wA1, To: wA0, Final: a1.Events(wA1)}
	r2 := vclock.Retirement{From: wA2, To: wA0, Base: r1.Final, Final: a2.Events(wA2)}
	for _, r := range []vclock.Retirement{r1, r2} {
		for _, c := range []*Bounded{full, old} {
			if err := c.Retire(r); err != nil {
				t.Fatalf("Retire(%+v): %v", r, err)
			}
			if c.Value() < 0 {
				t.Fatalf("value %d below the floor", c.Value())
			}
		}
	}
	if full.Value() != 2 || old.Value() != 0 || old.e[wA0] != nil {
		t.Fatalf("values %d (want 2) and %d (want 0, without %q's entry)", full.Value(), old.Value(), wA0)
	}
	old.Merge(full)
	if !old.Equal(full) || old.Value() != 2 {
		t.Fatalf("the older state, merged, holds %d", old.Value())
	}
}

// TestBoundedRetireEveryRunStrands: the rights of a replica restarted
// several times in a row stay with its retired writer, counted in the
// value; its live run spends none of them.
func TestBoundedRetireEveryRunStrands(t *testing.T) {
	wA2, wA3 := vclock.Writer("a", 2), vclock.Writer("a", 3)
	c := NewBounded(wA1, 0)
	must(t)(c.Inc(10))
	must(t)(c.Dec(1))
	c.SetWriter(wA2)
	must(t)(c.Inc(5))
	first := vclock.Retirement{From: wA1, To: wA0, Final: c.Events(wA1), Heir: wA2}
	if err := c.Retire(first); err != nil {
		t.Fatal(err)
	}
	c.SetWriter(wA3)
	second := vclock.Retirement{From: wA2, To: wA0, Base: first.Final, Final: c.Events(wA2), Heir: wA3}
	if err := c.Retire(second); err != nil {
		t.Fatal(err)
	}
	if c.Value() != 14 || c.Rights(wA0) != 14 {
		t.Fatalf("value %d, %q holds %d; want 10 - 1 + 5 for both", c.Value(), wA0, c.Rights(wA0))
	}
	if _, err := c.Dec(1); !errors.Is(err, ErrInsufficientRights) {
		t.Fatalf("the live run spent a right of a retired one: %v", err)
	}
}
