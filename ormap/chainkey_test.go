package ormap

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt/vclock"
)

// TestDeltaOfIncrementsReplacesLeaf: a replica B that holds an earlier
// leaf of A's chain, merging A's delta of later increments (which keeps
// no drop record: the chain's later leaf implies the drop), ends with A's
// leaf under the chain's key, A's value and A's fingerprint, and one dot
// for the key: the join takes the value of the later dot, not the value
// B held under the same key.
func TestDeltaOfIncrementsReplacesLeaf(t *testing.T) {
	a := New[string, *Counter]("a")
	b := New[string, *Counter]("b")
	a.At("hits").Add(1)
	a.At("hits").Add(2) // the chain goes on: its key is a's first dot
	b.Merge(a)
	since := b.Version()
	var last Op
	for i := range 5 {
		last = a.At("hits").Add(int64(10 + i))
	}
	if len(a.s.k.Records()) != 0 {
		t.Fatalf("increments kept records: %v", a.s.k.Records())
	}
	b.Merge(a.DeltaSince(since))
	if got, want := b.At("hits").Value(), a.At("hits").Value(); got != want || want != 63 {
		t.Fatalf("B reads %d, A %d, want 63", got, want)
	}
	if b.Fingerprint() != a.Fingerprint() || !b.Equal(a) {
		t.Fatal("B differs from A after the delta")
	}
	key := vclock.Dot{Replica: "a", Seq: 1}
	if ds := b.s.k.Dots(key); b.s.k.Len() != 1 || len(ds) != 1 || ds[0] != last.dot {
		t.Fatalf("B holds %d keys, dots %v under %v, want one, %v", b.s.k.Len(), ds, key, last.dot)
	}
	if ds := leavesAt(b, "hits"); !slices.Equal(ds, []vclock.Dot{key}) {
		t.Fatalf("B's index holds %v at hits, want the chain's key %v", ds, key)
	}
	if !bytes.Equal(mustMarshal(t, a), mustMarshal(t, b)) {
		t.Fatal("the states encode differently")
	}
}

// TestIncrementKeepsChainKey: increments of held top-level keys continue
// each chain's entry in place: the store holds one key per chain, the
// chain's first dot, whose one dot is the newest leaf's, the index keeps
// the key, an increment tells the kernel's Watch nothing (a remove and an
// insert, add's way, would), and allocates nothing (its op's list of the
// dot it drops is cut from a block).
func TestIncrementKeepsChainKey(t *testing.T) {
	m := New[string, *Counter]("a")
	keys := []string{"k0", "k1", "k2"}
	first := map[string]vclock.Dot{}
	for _, k := range keys {
		first[k] = Add(m, k, 1).dot
	}
	newest := map[string]vclock.Dot{}
	var ops []Op
	var drops []vclock.Dot
	for i := range 30 {
		k := keys[i%len(keys)]
		op := Add(m, k, int64(i+1))
		if op.Err() != nil || len(op.dropped) != 1 {
			t.Fatalf("op %+v", op)
		}
		if prev, ok := newest[k]; ok && op.dropped[0] != prev {
			t.Fatalf("%s: the op drops %v, want the chain's previous leaf %v", k, op.dropped[0], prev)
		}
		newest[k] = op.dot
		ops, drops = append(ops, op), append(drops, op.dropped[0])
	}
	// The ops' one-dot lists share a block (see oneDot): each op keeps
	// its own after later increments.
	for i, op := range ops {
		if len(op.dropped) != 1 || cap(op.dropped) != 1 || op.dropped[0] != drops[i] {
			t.Fatalf("op %d drops %v (cap %d) after later increments, want [%v]", i, op.dropped, cap(op.dropped), drops[i])
		}
	}
	if m.s.k.Len() != len(keys) {
		t.Fatalf("%d keys in the store, want %d chains", m.s.k.Len(), len(keys))
	}
	for _, k := range keys {
		key := first[k]
		if ds := m.s.k.Dots(key); len(ds) != 1 || ds[0] != newest[k] {
			t.Fatalf("%s: dots %v under %v, want %v", k, ds, key, newest[k])
		}
		if ds := leavesAt(m, k); !slices.Equal(ds, []vclock.Dot{key}) {
			t.Fatalf("%s: the index holds %v, want the chain's key %v", k, ds, key)
		}
	}
	// The entry is continued in place: the kernel tells the Watch of no
	// dot leaving or entering the store (a remove and an insert would).
	watch, told := m.s.k.Watch, 0
	m.s.k.Watch = func(key vclock.Dot, l leaf, d vclock.Dot, added bool) {
		told++
		watch(key, l, d, added)
	}
	for _, k := range keys {
		Add(m, k, 1)
	}
	if told != 0 {
		t.Fatalf("increments of held keys told the Watch %d times, want none", told)
	}
	m.s.k.Watch = watch
	if n := testing.AllocsPerRun(1000, func() { Add(m, "k1", 1) }); n > 0.05 {
		t.Fatalf("an increment allocates %v times, want about none", n)
	}
	// The state decodes to the same store, keys derived again.
	back := New[string, *Counter]("b")
	if err := back.UnmarshalBinary(mustMarshal(t, m)); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(m) || back.Fingerprint() != m.Fingerprint() {
		t.Fatal("the decoded state differs")
	}
	if op := Add(back, "k1", 1); op.Err() != nil {
		t.Fatal(op.Err()) // back writes as b: a chain of its own
	}
}

// TestCollectExpiredReadsChainDots: an expired key is collected once
// every replica has seen its leaves' dots, and a continued chain's dot is
// its newest leaf's, later than the chain's key: a version that holds the
// key (the chain's first dot) but not the newest leaf does not let the
// key go.
func TestCollectExpiredReadsChainDots(t *testing.T) {
	tm := newManual()
	c := clocked[string, *Counter]("C", tm.clockAt(0))
	d := clocked[string, *Counter]("D", tm.clockAt(0))
	d.At("x").Add(1)
	d.At("x").Add(1) // D's chain goes on: its key is D:1, its dot D:2
	c.Merge(d)
	c.Expire("x", time.Second)
	tm.advance(time.Second)
	stable := c.Version()
	stable.Set("D", 1)
	c.CollectVersions([]vclock.Clock{stable})
	if ds := leavesAt(c, "x"); len(ds) != 1 {
		t.Fatalf("x holds %v, want D's chain: not every replica has seen D:2", ds)
	}
	stable.Set("D", 2)
	c.CollectVersions([]vclock.Clock{stable})
	if ds := leavesAt(c, "x"); len(ds) != 0 {
		t.Fatalf("x holds %v, want it collected", ds)
	}
}

// TestIncrementChainGapBoundary: an increment whose dot is maxChainGap
// after its chain's key continues the chain in place; one a dot further
// starts a new chain under its own dot, as a first write does, beside
// the old chain's leaf, which stays (the key's value is the sum of both). The writer's sequence numbers are moved on in its
// context (as dots it made and lost would), so that the gap is reached
// without billions of writes. Both the top-level way (Add) and the view's
// (At(k).Add) are checked, with a twin made through the general path (a
// map of maps' nested counter cannot continue in place) for the values.
func TestIncrementChainGapBoundary(t *testing.T) {
	for _, viaView := range []bool{false, true} {
		m := New[string, *Counter]("a")
		add := func(n int64) Op {
			if viaView {
				return m.At("k").Add(n)
			}
			return Add(m, "k", n)
		}
		first := add(1)
		key := first.dot
		// The next dot is key.Seq + maxChainGap: the widest gap a leaf's
		// lg holds, so the chain goes on.
		m.s.k.Context().AddRange("a", key.Seq+1, key.Seq+maxChainGap-1)
		op := add(2)
		if op.Err() != nil || op.dot.Seq != key.Seq+maxChainGap {
			t.Fatalf("view %v: op %v, %v", viaView, op, op.Err())
		}
		if op.leaf.lg != maxChainGap || op.leaf.n != 3 || !slices.Equal(op.dropped, []vclock.Dot{key}) {
			t.Fatalf("view %v: at the gap: leaf %+v drops %v, want the chain continued", viaView, op.leaf, op.dropped)
		}
		if ds := m.s.k.Dots(key); m.s.k.Len() != 1 || len(ds) != 1 || ds[0] != op.dot {
			t.Fatalf("view %v: at the gap: %d keys, dots %v under %v", viaView, m.s.k.Len(), ds, key)
		}
		at := op.dot
		// The next dot is one further: a new chain, under its own dot.
		op = add(4)
		if op.Err() != nil || op.dot.Seq != key.Seq+maxChainGap+1 {
			t.Fatalf("view %v: op %v, %v", viaView, op, op.Err())
		}
		if op.leaf.lg != 0 || op.leaf.n != 4 || len(op.dropped) != 0 {
			t.Fatalf("view %v: past the gap: leaf %+v drops %v, want a new chain", viaView, op.leaf, op.dropped)
		}
		if ds := m.s.k.Dots(op.dot); m.s.k.Len() != 2 || len(ds) != 1 || ds[0] != op.dot {
			t.Fatalf("view %v: past the gap: %d keys, dots %v under %v", viaView, m.s.k.Len(), ds, op.dot)
		}
		if ds := m.s.k.Dots(key); len(ds) != 1 || ds[0] != at {
			t.Fatalf("view %v: past the gap: the old chain holds %v, want %v", viaView, ds, at)
		}
		if ds := leavesAt(m, "k"); !slices.Equal(ds, []vclock.Dot{key, op.dot}) {
			t.Fatalf("view %v: the index holds %v, want both chains' keys %v, %v", viaView, ds, key, op.dot)
		}
		if got := m.At("k").Value(); got != 7 {
			t.Fatalf("view %v: value %d, want 7", viaView, got)
		}
		// The new chain goes on in place.
		if next := add(1); next.Err() != nil || next.leaf.lg != 1 || next.leaf.n != 5 || !slices.Equal(next.dropped, []vclock.Dot{op.dot}) {
			t.Fatalf("view %v: after the new chain: leaf %+v, %v", viaView, next.leaf, next.Err())
		}
		back := New[string, *Counter]("b")
		if err := back.UnmarshalBinary(mustMarshal(t, m)); err != nil || !back.Equal(m) || back.Fingerprint() != m.Fingerprint() {
			t.Fatalf("view %v: the decoded state differs (%v)", viaView, err)
		}
	}
}

// TestIncrementChainTotalOverflow: where a key holds several leaves, the
// key's value can be in range while the writer's own chain total is not
// (another writer's leaf pulls the value down): the increment is refused
// with ErrOverflow on the chain's total and changes nothing, through Add
// and through a view; the other way round, a chain in range beside a
// value that would pass the range is refused on the value.
func TestIncrementChainTotalOverflow(t *testing.T) {
	for _, viaView := range []bool{false, true} {
		a := New[string, *Counter]("a")
		add := func(k string, n int64) Op {
			if viaView {
				return a.At(k).Add(n)
			}
			return Add(a, k, n)
		}
		b := New[string, *Counter]("b")
		add("k", math.MaxInt64-1)
		mustApply(t, a, b.At("k").Add(-10))
		before := mustMarshal(t, a)
		op := add("k", 5) // the value MaxInt64-11+5 fits; a's chain MaxInt64-1+5 does not
		if !errors.Is(op.Err(), ErrOverflow) || !strings.Contains(op.Err().Error(), "a total of") {
			t.Fatalf("view %v: err = %v, want ErrOverflow on the chain's total", viaView, op.Err())
		}
		if !bytes.Equal(mustMarshal(t, a), before) {
			t.Fatalf("view %v: a refused increment changed the state", viaView)
		}
		if op := add("k", 1); op.Err() != nil || a.At("k").Value() != math.MaxInt64-10 {
			t.Fatalf("view %v: an increment in range: %v, value %d", viaView, op.Err(), a.At("k").Value())
		}
		// b's leaf up, a's chain in range: the value passes the range.
		mustApply(t, a, b.At("k").Add(20))
		if op := add("k", -5); op.Err() != nil {
			t.Fatalf("view %v: %v", viaView, op.Err())
		}
		if op := add("k", 10); !errors.Is(op.Err(), ErrOverflow) || strings.Contains(op.Err().Error(), "a total of") {
			t.Fatalf("view %v: err = %v, want ErrOverflow on the value", viaView, op.Err())
		}
	}
}
