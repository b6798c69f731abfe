package ormap

import (
	"fmt"
	"testing"
	"time"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

type counterMap = Map[string, *Counter]

// leavesAt returns the dots of the leaves at the top-level key k.
func leavesAt(m *counterMap, k string) []vclock.Dot {
	return m.rd().dotsAt(appendSeg("", k))
}

// TestCounterOneLeafPerWriter: a counter incremented many times by one
// writer holds one leaf, and its state stays the same size; a second
// writer adds one leaf of its own.
func TestCounterOneLeafPerWriter(t *testing.T) {
	a := New[string, *Counter]("a")
	a.At("hits").Add(1)
	size := len(mustMarshal(t, a))
	for range 9_999 {
		if op := a.At("hits").Add(1); op.Err() != nil {
			t.Fatal(op.Err())
		}
	}
	if got := a.At("hits").Value(); got != 10_000 || a.s.k.Len() != 1 {
		t.Fatalf("value %d with %d leaves, want 10000 with one", got, a.s.k.Len())
	}
	// Once the increments' drop records are collected, the state holds
	// one leaf with one more field (where its chain starts), and a
	// version: a few bytes more, not a leaf per increment.
	a.CollectVersions(nil)
	if got := len(mustMarshal(t, a)); got > size+32 {
		t.Fatalf("state of %d bytes after 10000 increments, %d after one", got, size)
	}
	b := New[string, *Counter]("b")
	b.Merge(a)
	mustApply(t, a, b.At("hits").Add(5), b.At("hits").Add(5))
	if got := a.At("hits").Value(); got != 10_010 || len(leavesAt(a, "hits")) != 2 {
		t.Fatalf("value %d with leaves %v, want 10010 with one per writer", got, leavesAt(a, "hits"))
	}
}

// redisF sets up Redis's "f holds 10 at both": A incremented f three
// times (a chain of three leaves, one live), and B has seen all of it.
func redisF(t *testing.T) (a, b *counterMap) {
	a, b = New[string, *Counter]("A"), New[string, *Counter]("B")
	mustApply(t, b, a.At("f").Add(3), a.At("f").Add(3), a.At("f").Add(4))
	return a, b
}

// TestRedisResetRemoveEveryOrder: f holds 10 at both; A increments it by
// 5 while B deletes it: f is 5, whatever order the ops arrive in, and by
// state or delta merges.
func TestRedisResetRemoveEveryOrder(t *testing.T) {
	check := func(what string, ms ...*counterMap) {
		t.Helper()
		for _, m := range ms {
			if got := m.At("f").Value(); got != 5 || !m.Has("f") {
				t.Fatalf("%s: f is %d at %s, want 5", what, got, m.ID())
			}
		}
		if !ms[0].Equal(ms[1]) {
			t.Fatalf("%s: the replicas differ", what)
		}
	}
	// Ops, each order at each replica.
	a, b := redisF(t)
	inc, del := a.At("f").Add(5), b.Delete("f")
	mustApply(t, a, del)
	mustApply(t, b, inc)
	check("ops", a, b)
	a, b = redisF(t)
	inc, del = a.At("f").Add(5), b.Delete("f")
	mustApply(t, b, inc)
	mustApply(t, a, del)
	check("ops, the other way round", a, b)
	// A third replica that sees the delete before the increment, or the
	// increment before the delete, or the increment alone first and then
	// the earlier increments out of order.
	for _, order := range [][]int{{0, 1, 2, 3, 4}, {4, 3, 0, 1, 2}, {3, 4, 2, 1, 0}, {0, 3, 1, 4, 2}} {
		a, b = redisF(t)
		c := New[string, *Counter]("C")
		ops := []Op{}
		a2 := New[string, *Counter]("A")
		ops = append(ops, a2.At("f").Add(3), a2.At("f").Add(3), a2.At("f").Add(4))
		ops = append(ops, a.At("f").Add(5), b.Delete("f"))
		for _, i := range order {
			mustApply(t, c, ops[i])
		}
		mustApply(t, a, ops[4])
		check("ops in another order", a, c)
	}
	// States, merged both ways.
	a, b = redisF(t)
	a.At("f").Add(5)
	b.Delete("f")
	x, y := a.Clone(), b.Clone()
	x.Merge(b)
	y.Merge(a)
	check("states", x, y)
	// Deltas.
	a, b = redisF(t)
	va, vb := a.Version(), b.Version()
	a.At("f").Add(5)
	b.Delete("f")
	a.Merge(b.DeltaSince(va))
	b.Merge(a.DeltaSince(vb))
	check("deltas", a, b)
}

// TestTwoConcurrentDeletesAndAnIncrement: B saw two of A's increments,
// C all three; both delete while A increments again: only that
// increment is left, wherever the deletes meet.
func TestTwoConcurrentDeletesAndAnIncrement(t *testing.T) {
	a, b, c := New[string, *Counter]("A"), New[string, *Counter]("B"), New[string, *Counter]("C")
	i1, i2, i3 := a.At("k").Add(1), a.At("k").Add(2), a.At("k").Add(4)
	mustApply(t, b, i1, i2)
	mustApply(t, c, i1, i2, i3)
	i4 := a.At("k").Add(8)
	db, dc := b.Delete("k"), c.Delete("k")
	mustApply(t, a, dc, db)
	mustApply(t, b, i3, dc, i4)
	mustApply(t, c, i4, db)
	for _, m := range []*counterMap{a, b, c} {
		if got := m.At("k").Value(); got != 8 {
			t.Fatalf("%s: k is %d, want 8", m.ID(), got)
		}
	}
	if !a.Equal(b) || !b.Equal(c) {
		t.Fatal("the replicas differ")
	}
}

// TestDeleteCarriesResetsForward: B deletes a cart's apple, having seen
// A's first increment of it, then the whole cart: that delete drops the
// apple's reset leaf and carries its entry forward, so A's second
// increment, concurrent with both, still counts alone.
func TestDeleteCarriesResetsForward(t *testing.T) {
	a := New[string, *Map[string, *Counter]]("A")
	b := New[string, *Map[string, *Counter]]("B")
	mustApply(t, b, a.At("cart").At("apple").Add(2))
	i2 := a.At("cart").At("apple").Add(3) // the chain holds 5
	b.At("cart").At("pear").Add(1)
	b.At("cart").Delete("apple")
	first := b.s.resetDots
	if len(first) != 1 {
		t.Fatalf("%d reset leaves after deleting the apple", len(first))
	}
	var r1 vclock.Dot
	for d := range first {
		r1 = d
	}
	b.Delete("cart")
	if _, ok := b.s.k.Get(r1); ok || len(b.s.resetDots) != 1 {
		t.Fatal("the cart's delete kept the apple's reset leaf")
	}
	mustApply(t, b, i2)
	if got := b.At("cart").At("apple").Value(); got != 3 || b.At("cart").Len() != 1 {
		t.Fatalf("apple %d, %d items, want 3 alone", got, b.At("cart").Len())
	}
}

// TestNewChainAfterDelete: a writer that has seen its counter deleted
// starts a new chain, which the delete's entry does not touch.
func TestNewChainAfterDelete(t *testing.T) {
	a := New[string, *Counter]("a")
	a.At("k").Add(1)
	a.At("k").Add(2)
	a.Delete("k")
	op := a.At("k").Add(7)
	if op.leaf.lg != 0 || len(op.Dropped()) != 0 {
		t.Fatalf("the add after the delete continues a chain: %v", op)
	}
	if got := a.At("k").Value(); got != 7 {
		t.Fatalf("k is %d, want 7", got)
	}
	op = a.At("k").Add(1)
	if op.leaf.lg == 0 || op.leaf.n != 8 || a.At("k").Value() != 8 {
		t.Fatalf("the next add does not continue the new chain: %v holding %d", op, op.leaf.n)
	}
}

// TestOldFormatLeavesContinued: a state of maps that kept a leaf per
// increment (several leaves of one writer, each starting its own chain,
// written in format version 1) reads as before; the writer's next
// increment continues its newest leaf, and a delete concurrent with it
// resets each chain it saw.
func TestOldFormatLeavesContinued(t *testing.T) {
	old := New[string, *Counter]("x")
	sh := old.s.sh
	for i, n := range []int64{1, 2, 3} {
		mustApply(t, old, Op{kind: opWrite, dot: vclock.Dot{Replica: "a", Seq: uint64(i + 1)}, leaf: leaf{pv: appendSeg("", "k"), n: n}, sh: sh})
	}
	data := mustMarshal(t, old)
	if data[0] != 1 {
		t.Fatalf("a state of leaves that start chains is written in version %d", data[0])
	}
	a, b := New[string, *Counter]("a"), New[string, *Counter]("b")
	if err := a.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if got := a.At("k").Value(); got != 6 || len(leavesAt(a, "k")) != 3 {
		t.Fatalf("k is %d with %d leaves, want 6 with 3", got, len(leavesAt(a, "k")))
	}
	inc := a.At("k").Add(10) // continues a:3: a leaf holding 13
	if inc.leaf.n != 13 || len(inc.Dropped()) != 1 || inc.Dropped()[0].Seq != 3 {
		t.Fatalf("the increment %v holds %d", inc, inc.leaf.n)
	}
	if got := a.At("k").Value(); got != 16 || len(leavesAt(a, "k")) != 3 {
		t.Fatalf("k is %d with %d leaves, want 16 with 3", got, len(leavesAt(a, "k")))
	}
	del := b.Delete("k")
	mustApply(t, a, del)
	mustApply(t, b, inc)
	for _, m := range []*counterMap{a, b} {
		if got := m.At("k").Value(); got != 10 {
			t.Fatalf("%s: k is %d, want 10", m.ID(), got)
		}
	}
	if !a.Equal(b) {
		t.Fatal("the replicas differ")
	}
}

// TestRestartResetsChains: a write to an expired key starts it afresh,
// and resets the chains it drops in the same op, so that an increment
// made where the key had not expired yet counts alone.
func TestRestartResetsChains(t *testing.T) {
	tm := newManual()
	a := clocked[string, *Counter]("A", tm.clockAt(0))
	b := clocked[string, *Counter]("B", tm.clockAt(-3*time.Millisecond))
	mustApply(t, a, b.At("k").Add(10))
	mustApply(t, b, a.Expire("k", time.Second))
	tm.advance(time.Second + time.Millisecond)
	// Not expired at B yet: B's increment continues its chain (15).
	inc := b.At("k").Add(5)
	if inc.leaf.lg == 0 || inc.leaf.n != 15 {
		t.Fatalf("B's increment %v does not continue its chain", inc)
	}
	// Expired at A: A's increment drops k's leaves, and resets B's chain
	// at 10.
	restart := a.At("k").Add(1)
	if !restart.preLeaf().isReset() {
		t.Fatalf("the write to the expired key %v does not reset", restart)
	}
	mustApply(t, a, inc)
	mustApply(t, b, restart)
	for _, m := range []*counterMap{a, b} {
		if got := m.At("k").Value(); got != 6 {
			t.Fatalf("%s: k is %d, want 6", m.ID(), got)
		}
	}
	if !a.Equal(b) {
		t.Fatal("the replicas differ")
	}
	data := mustMarshal(t, restart)
	if data[0] != 2 {
		t.Fatal("an op with a reset written in version 1")
	}
	if op, err := a.DecodeOp(data); err != nil || op.preLeaf() != restart.preLeaf() || op.leaf != restart.leaf || op.dot != restart.dot {
		t.Fatalf("decoded %v, %v", op, err)
	}
}

// TestResetCollection: a reset leaf stays while a later leaf of a chain
// it reset may be live anywhere, and goes once it cannot be.
func TestResetCollection(t *testing.T) {
	a, b := New[string, *Counter]("A"), New[string, *Counter]("B")
	mustApply(t, b, a.At("k").Add(1))
	vaBefore := a.Version()
	del := b.Delete("k")
	inc := a.At("k").Add(2) // concurrent: the chain holds 3
	collect := func(m *counterMap, peers ...vclock.Clock) {
		m.CollectVersions(peers)
	}
	// A has not seen the delete.
	collect(b, vaBefore)
	if len(b.s.resetDots) != 1 {
		t.Fatal("collected a reset A has not seen")
	}
	mustApply(t, a, del)
	// B has not seen A's increment, which A's version reports.
	collect(b, a.Version())
	if len(b.s.resetDots) != 1 {
		t.Fatal("collected a reset while a leaf of its chain may be live elsewhere")
	}
	mustApply(t, b, inc)
	// The increment is live: its value needs the entry.
	collect(b, a.Version())
	collect(a, b.Version())
	if len(b.s.resetDots) != 1 || len(a.s.resetDots) != 1 {
		t.Fatal("collected a reset a live leaf needs")
	}
	for _, m := range []*counterMap{a, b} {
		if got := m.At("k").Value(); got != 2 {
			t.Fatalf("%s: k is %d, want 2", m.ID(), got)
		}
	}
	// A later delete ends the chain and carries the entry forward; then
	// nothing needs either.
	mustApply(t, a, b.Delete("k"))
	collect(a, b.Version())
	collect(b, a.Version())
	if len(b.s.resetDots) != 0 || len(a.s.resetDots) != 0 || a.s.k.Len() != 0 {
		t.Fatalf("%d and %d reset leaves left", len(a.s.resetDots), len(b.s.resetDots))
	}
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatal("fingerprints differ after collection")
	}
	// A's next increment starts a new chain: no late leaf of the old one
	// can come, and the value is right.
	op := a.At("k").Add(4)
	mustApply(t, b, op)
	if op.leaf.lg != 0 || b.At("k").Value() != 4 {
		t.Fatalf("after collection: %v, k is %d", op, b.At("k").Value())
	}
	// A peer whose version of a writer is ahead of this replica's keeps
	// the reset: it may hold a leaf of the chain this replica has not seen.
	c, d := New[string, *Counter]("C"), New[string, *Counter]("D")
	mustApply(t, d, c.At("k").Add(1))
	mustApply(t, c, d.Delete("k"))
	ahead := c.Version()
	ahead.Advance("C", 5)
	collect(d, c.Version(), ahead)
	if len(d.s.resetDots) != 1 {
		t.Fatal("collected a reset a peer's version says may still be needed")
	}
	collect(d, c.Version())
	if len(d.s.resetDots) != 0 {
		t.Fatal("the reset was not collected")
	}
}

// TestRetireRenamesResets: retiring the writer of a chain renames it in
// the reset entries too, and the value stays.
func TestRetireRenamesResets(t *testing.T) {
	w := vclock.Writer("a", 1)
	a, b := New[string, *Counter](w), New[string, *Counter]("b")
	mustApply(t, b, a.At("k").Add(1))
	del := b.Delete("k")
	inc := a.At("k").Add(2)
	mustApply(t, b, inc)
	mustApply(t, a, del)
	r := vclock.Retirement{From: w, To: vclock.Retired("a"), Base: 0, Final: 2}
	if err := b.Retire(r); err != nil {
		t.Fatal(err)
	}
	if got := b.At("k").Value(); got != 2 {
		t.Fatalf("k is %d after the retirement, want 2", got)
	}
}

// TestOlderChainLeafMergedBack: a replica that took a chain's older leaf
// after a reset or a later leaf of the chain that covers it holds the
// drop of that leaf in its context only; merging with an old state of
// the writer that still holds the leaf gives the same map both ways,
// without the leaf's increments.
func TestOlderChainLeafMergedBack(t *testing.T) {
	check := func(what string, a, b *counterMap, want int64) {
		t.Helper()
		ab, ba := a.Clone(), b.Clone()
		ab.Merge(b)
		ba.Merge(a)
		if got := ab.At("k").Value(); got != want {
			t.Errorf("%s: a merged with b holds %d, want %d", what, got, want)
		}
		if got := ba.At("k").Value(); got != want {
			t.Errorf("%s: b merged with a holds %d, want %d", what, got, want)
		}
		if !ab.Equal(ba) {
			t.Errorf("%s: the merges differ", what)
		}
	}

	// The writer increments twice and deletes; r2 takes the delete, then
	// the first increment.
	w, r2 := New[string, *Counter]("w"), New[string, *Counter]("r2")
	first := w.At("k").Add(1)
	old := w.Clone()
	second := w.At("k").Add(1)
	del := w.Delete("k")
	mustApply(t, r2, del, first)
	check("a reset", r2, old, 0)
	mustApply(t, old, second)
	check("a reset, the later leaf held", r2, old, 0)

	// The writer increments three times; r2 takes the third, then the
	// first.
	w, r2 = New[string, *Counter]("w"), New[string, *Counter]("r2")
	first = w.At("k").Add(1)
	old = w.Clone()
	w.At("k").Add(2)
	third := w.At("k").Add(4)
	mustApply(t, r2, third, first)
	check("a later leaf", r2, old, 7)

	// r2 takes the third increment alone, and never the first: merged
	// with a state that holds the first, the third covers it either way.
	r2 = New[string, *Counter]("r2")
	mustApply(t, r2, third)
	check("a later leaf, the older one unseen", r2, old, 7)

	// r2 holds the first increment and takes the delete's state: by a
	// whole state and by a delta.
	w, r2 = New[string, *Counter]("w"), New[string, *Counter]("r2")
	first = w.At("k").Add(1)
	mustApply(t, r2, first)
	w.At("k").Add(1)
	x := New[string, *Counter]("x")
	mustApply(t, x, w.Delete("k")) // x has not seen the increments
	check("a reset by state", r2, x, 0)
	d := x.DeltaSince(r2.Version())
	r2.Merge(d)
	if got := r2.At("k").Value(); got != 0 {
		t.Errorf("a reset by delta: %d, want 0", got)
	}

	// A third replica holds the writer's older leaf; r2 holds the newer
	// one, which dropped it without a drop record. The older leaf, brought
	// back by the third replica's state or delta, goes on both sides, and
	// a delta of r2 for the third replica drops it there.
	for _, how := range []string{"state", "op"} {
		w = New[string, *Counter]("w")
		hold := New[string, *Counter]("t")
		mustApply(t, hold, w.At("k").Add(1))
		second = w.At("k").Add(2)
		r2 = New[string, *Counter]("r2")
		if how == "state" {
			r2.Merge(w)
		} else {
			mustApply(t, r2, second) // r2 never sees the older leaf's op
		}
		// r2 keeps a record only of a drop it cannot tell is the chain's:
		// of a dot it has not seen.
		if want := map[string]int{"state": 0, "op": 1}[how]; len(r2.s.k.Records()) != want || len(w.s.k.Records()) != 0 {
			t.Fatalf("by %s: records %v at r2, %v at w", how, r2.s.k.Records(), w.s.k.Records())
		}
		check("an older leaf held by a third replica, the newer taken by "+how, r2, hold, 3)
		back := r2.Clone()
		back.Merge(hold.DeltaSince(back.Version()))
		back.Merge(hold)
		if back.At("k").Value() != 3 || len(leavesAt(back, "k")) != 1 {
			t.Errorf("by %s: the third replica's state brought the older leaf back: %d, %v", how, back.At("k").Value(), leavesAt(back, "k"))
		}
		fwd := hold.Clone()
		fwd.Merge(r2.DeltaSince(fwd.Version()))
		if fwd.At("k").Value() != 3 || !fwd.Equal(back) {
			t.Errorf("by %s: the delta left the older leaf at the third replica: %d, %v", how, fwd.At("k").Value(), leavesAt(fwd, "k"))
		}
	}

	// A gap: r2 takes the third leaf of the chain by op alone, whose
	// drop names the second, not the first: its context lacks the first,
	// which a third replica's state brings in beside the third leaf, and
	// the join drops it at once.
	w = New[string, *Counter]("w")
	hold := New[string, *Counter]("t")
	mustApply(t, hold, w.At("k").Add(1))
	w.At("k").Add(2)
	r2 = New[string, *Counter]("r2")
	mustApply(t, r2, w.At("k").Add(4))
	check("an older leaf past a gap", r2, hold, 7)
	r2.Delete("k") // its reset covers the chain; it cannot be collected past the gap
	r2.CollectVersions([]vclock.Clock{w.Version(), hold.Version(), r2.Version()})
	check("an older leaf past a gap, after a delete", r2, hold, 0)
}

// TestContinuationNotOfTheChainRecorded: an op that says it continues a
// chain but drops a leaf of its writer at another key (no map makes one)
// keeps its drop record where it is applied, so that a replica still
// holding that leaf drops it on merging, both ways.
func TestContinuationNotOfTheChainRecorded(t *testing.T) {
	w, r, hold := New[string, *Counter]("w"), New[string, *Counter]("r"), New[string, *Counter]("t")
	ops := []Op{w.At("b").Add(1), w.At("a").Add(1)}
	mustApply(t, r, ops...)
	mustApply(t, hold, ops...)
	op := w.At("b").Add(1) // w:3, continues b's chain from w:1
	if len(op.dropped) != 1 || op.dropped[0] != (vclock.Dot{Replica: "w", Seq: 1}) {
		t.Fatalf("dropped %v", op.dropped)
	}
	op.dropped = []vclock.Dot{{Replica: "w", Seq: 2}} // a's leaf, within b's chain's dots
	mustApply(t, r, op)
	if recs := r.s.k.Records(); len(recs) != 1 {
		t.Fatalf("records %v", recs)
	}
	a, b := r.Clone(), hold.Clone()
	a.Merge(hold)
	b.Merge(r)
	if !a.Equal(b) {
		t.Fatalf("the merges differ: a %d b %d, and a %d b %d", a.At("a").Value(), a.At("b").Value(), b.At("a").Value(), b.At("b").Value())
	}
}

// TestContinuationDroppingAContinuedLeaf: as
// TestContinuationNotOfTheChainRecorded, but the leaf the op drops is
// itself a continued leaf of another key's chain, which the store holds
// under that chain's key, not under its dot. Replicas that apply the
// op before and after that leaf, and one that never gets the op, agree
// after merging, and every replica reads the same values.
func TestContinuationDroppingAContinuedLeaf(t *testing.T) {
	w := New[string, *Counter]("w")
	b1 := w.At("b").Add(1) // w:1, b's chain
	a1 := w.At("a").Add(1) // w:2, a's chain
	a2 := w.At("a").Add(1) // w:3, a's chain continued: held under w:2
	op := w.At("b").Add(1) // w:4, continues b's chain from w:1
	if len(op.dropped) != 1 || op.dropped[0] != (vclock.Dot{Replica: "w", Seq: 1}) {
		t.Fatalf("dropped %v", op.dropped)
	}
	op.dropped = []vclock.Dot{{Replica: "w", Seq: 3}} // a's continued leaf, within b's chain's dots

	after, before, hold := New[string, *Counter]("r"), New[string, *Counter]("q"), New[string, *Counter]("t")
	mustApply(t, after, b1, a1, a2, op)
	mustApply(t, before, b1, a1, op, a2)
	mustApply(t, hold, b1, a1, a2)
	if after.At("a").Value() != before.At("a").Value() || after.At("b").Value() != before.At("b").Value() {
		t.Fatalf("the orders of delivery read differently: a %d and %d, b %d and %d",
			after.At("a").Value(), before.At("a").Value(), after.At("b").Value(), before.At("b").Value())
	}
	all := []*Map[string, *Counter]{after, before, hold}
	for _, x := range all {
		for _, y := range all {
			x.Merge(y.Clone())
		}
	}
	for _, x := range all[1:] {
		if !x.Equal(after) || x.Fingerprint() != after.Fingerprint() {
			t.Fatalf("%s differs after the merges: a %d b %d, want a %d b %d", x.ID(), x.At("a").Value(), x.At("b").Value(), after.At("a").Value(), after.At("b").Value())
		}
	}
}

// TestIncrementsBehindGetDelta: a peer behind by more increments than
// the drop records' cap (of one key, and of many) gets a delta, not the
// whole state, from the writer and from a replica that applied the
// writer's ops, and converges; the increments keep no drop record, so the
// horizon stays where it was.
func TestIncrementsBehindGetDelta(t *testing.T) {
	const n = dotkernel.DefaultMaxRecords + 1000
	for _, keys := range []int{1, 100} {
		w, relay, peer := New[string, *Counter]("w"), New[string, *Counter]("relay"), New[string, *Counter]("peer")
		key := func(i int) string { return fmt.Sprintf("k%03d", i%keys) }
		for i := range keys {
			op := w.At(key(i)).Add(1)
			mustApply(t, relay, op)
			mustApply(t, peer, op)
		}
		before := peer.Version()
		for i := range n {
			mustApply(t, relay, w.At(key(i)).Add(1))
		}
		for _, from := range []*counterMap{w, relay} {
			if recs, h := from.s.k.Records(), from.s.k.Horizon(); len(recs) != 0 || !h.IsZero() {
				t.Fatalf("%d keys, %s: %d records, horizon %v", keys, from.ID(), len(recs), h)
			}
			d := from.DeltaSince(before)
			if v := d.Version(); v.Get("w") != 0 || !d.s.k.Context().Contains(vclock.Dot{Replica: "w", Seq: uint64(keys + n)}) {
				t.Fatalf("%d keys, %s: the delta claims %v: the whole state, not a delta", keys, from.ID(), v)
			}
			if d.s.k.Len() != keys {
				t.Fatalf("%d keys, %s: a delta of %d leaves", keys, from.ID(), d.s.k.Len())
			}
			p := peer.Clone()
			p.Merge(d)
			if !p.Equal(from) || p.At(key(0)).Value() != int64(1+(n+keys-1)/keys) || p.s.k.Len() != keys {
				t.Fatalf("%d keys, %s: the peer did not converge: %d leaves, %d", keys, from.ID(), p.s.k.Len(), p.At(key(0)).Value())
			}
		}
	}
}

// TestCounterStateHoldsNoIncrementRecords: a counter incremented past
// the drop records' cap keeps no record of its increments: its state,
// and that of a replica that applied their ops, is the size it has once
// collected.
func TestCounterStateHoldsNoIncrementRecords(t *testing.T) {
	w, r := New[string, *Counter]("w"), New[string, *Counter]("r")
	for range dotkernel.DefaultMaxRecords + 1000 {
		mustApply(t, r, w.At("hits").Add(1))
	}
	for _, m := range []*counterMap{w, r} {
		size := len(mustMarshal(t, m))
		if n := len(m.s.k.Records()); n != 0 || size > 64 {
			t.Fatalf("%s: %d records, a state of %d bytes", m.ID(), n, size)
		}
		m.Collect(m.Version())
		if again := len(mustMarshal(t, m)); again != size {
			t.Fatalf("%s: %d bytes, %d once collected", m.ID(), size, again)
		}
	}
}
