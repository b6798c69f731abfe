package vclock_test

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// The reference model of a causal context: a plain set of dots.
type dotSet map[vclock.Dot]bool

// maxSeq bounds the sequence numbers the tests draw, so that the model can
// be checked exhaustively.
const maxSeq = 24

// ctxOp is one insertion: a single dot (lo == hi and single) or a range.
type ctxOp struct {
	id     crdt.ReplicaID
	lo, hi uint64
	single bool
}

func genOps() *rapid.Generator[[]ctxOp] {
	return rapid.Custom(func(t *rapid.T) []ctxOp {
		wide := rapid.IntRange(0, 4).Draw(t, "wide") == 0
		var ops []ctxOp
		for range rapid.IntRange(0, 25).Draw(t, "ops") {
			id := genID(wide).Draw(t, "id")
			lo := rapid.Uint64Range(0, maxSeq).Draw(t, "lo")
			if rapid.Bool().Draw(t, "single") {
				ops = append(ops, ctxOp{id, lo, lo, true})
			} else {
				// hi may be below lo: AddRange must then do nothing.
				ops = append(ops, ctxOp{id, lo, rapid.Uint64Range(0, maxSeq).Draw(t, "hi"), false})
			}
		}
		return ops
	})
}

func apply(c *vclock.Context, m dotSet, op ctxOp) {
	if op.single {
		c.Add(vclock.Dot{Replica: op.id, Seq: op.lo})
	} else {
		c.AddRange(op.id, op.lo, op.hi)
	}
	if m == nil {
		return
	}
	if op.lo == 0 {
		return // documented: a range from 0, like the dot of sequence 0, names nothing
	}
	for s := op.lo; s <= op.hi; s++ {
		m[vclock.Dot{Replica: op.id, Seq: s}] = true
	}
}

func buildCtx(ops []ctxOp) (vclock.Context, dotSet) {
	var c vclock.Context
	m := dotSet{}
	for _, op := range ops {
		apply(&c, m, op)
	}
	return c, m
}

// dotsOf lists the context's dots through Ranges, checking that the runs are
// maximal and in order.
func dotsOf(t *rapid.T, c *vclock.Context) dotSet {
	out := dotSet{}
	var prev vclock.Range
	for r := range c.Ranges() {
		if r.Lo == 0 || r.Lo > r.Hi {
			t.Fatalf("bad run %+v in %v", r, c)
		}
		if prev.Replica != "" && (r.Replica < prev.Replica || (r.Replica == prev.Replica && r.Lo <= prev.Hi+1)) {
			t.Fatalf("run %+v after %+v: out of order, overlapping or touching in %v", r, prev, c)
		}
		prev = r
		for s := r.Lo; s <= r.Hi; s++ {
			out[vclock.Dot{Replica: r.Replica, Seq: s}] = true
		}
	}
	return out
}

// checkAgainst compares every query of c with the model m.
func checkAgainst(t *rapid.T, c *vclock.Context, m dotSet) {
	if got := dotsOf(t, c); !maps.Equal(got, m) {
		t.Fatalf("context %v holds %v, model %v", c, sortedDots(got), sortedDots(m))
	}
	if c.IsEmpty() != (len(m) == 0) {
		t.Fatalf("IsEmpty=%v with %d dots", c.IsEmpty(), len(m))
	}
	compact := true
	for _, id := range ids {
		top, prefix := uint64(0), uint64(0)
		for s := uint64(0); s <= maxSeq+2; s++ {
			d := vclock.Dot{Replica: id, Seq: s}
			if c.Contains(d) != m[d] {
				t.Fatalf("Contains(%v)=%v in %v, model %v", d, c.Contains(d), c, m[d])
			}
			if m[d] {
				top = s
				if prefix == s-1 {
					prefix = s
				}
			}
		}
		if top != prefix {
			compact = false
		}
		next := c.Next(id)
		if next != (vclock.Dot{Replica: id, Seq: top + 1}) || c.Contains(next) {
			t.Fatalf("Next(%q)=%v, highest held %d", id, next, top)
		}
		if v := c.Version(); v.Get(id) != prefix {
			t.Fatalf("Version()=%v, compact prefix of %q is %d", v, id, prefix)
		}
	}
	if c.IsCompact() != compact {
		t.Fatalf("IsCompact=%v for %v", c.IsCompact(), c)
	}
}

func sortedDots(m dotSet) []vclock.Dot {
	return slices.SortedFunc(maps.Keys(m), vclock.Dot.Compare)
}

func TestContextMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var c vclock.Context
		m := dotSet{}
		for _, op := range genOps().Draw(t, "ops") {
			apply(&c, m, op)
			checkAgainst(t, &c, m)
		}
	})
}

func TestContextInsertionOrderDoesNotMatter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ops := genOps().Draw(t, "ops")
		c1, m := buildCtx(ops)
		c2, _ := buildCtx(rapid.Permutation(ops).Draw(t, "shuffled"))
		if !c1.Equal(&c2) {
			t.Fatalf("same dots, different order: %v vs %v", c1.String(), c2.String())
		}
		// One dot at a time, in any order, gives the same context too.
		var c3 vclock.Context
		for _, d := range rapid.Permutation(sortedDots(m)).Draw(t, "dots") {
			c3.Add(d)
		}
		if !c1.Equal(&c3) {
			t.Fatalf("dot by dot: %v vs %v", c3.String(), c1.String())
		}
		checkAgainst(t, &c3, m)
	})
}

func TestContextMergeIsUnion(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, ma := buildCtx(genOps().Draw(t, "a"))
		b, mb := buildCtx(genOps().Draw(t, "b"))
		bBefore := b.Clone()
		u := a.Clone()
		u.Merge(&b)
		want := maps.Clone(ma)
		maps.Copy(want, mb)
		checkAgainst(t, &u, want)
		if !b.Equal(&bBefore) {
			t.Fatal("Merge changed its argument")
		}
		u2 := b.Clone()
		u2.Merge(&a)
		if !u.Equal(&u2) {
			t.Fatalf("Merge not commutative: %v vs %v", u.String(), u2.String())
		}
		again := u.Clone()
		again.Merge(&u)
		if !again.Equal(&u) {
			t.Fatalf("Merge not idempotent: %v vs %v", again.String(), u.String())
		}
		self := a.Clone()
		self.Merge(&self)
		if !self.Equal(&a) {
			t.Fatalf("merging a context into itself changed it: %v vs %v", self.String(), a.String())
		}
	})
}

func TestContextSinceAndCover(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, m := buildCtx(genOps().Draw(t, "c"))
		mv := genVV().Draw(t, "v")
		v := build(mv)
		s := c.Since(v)
		want := dotSet{}
		for d := range m {
			if d.Seq > mv[d.Replica] {
				want[d] = true
			}
		}
		checkAgainst(t, &s, want)
		coveredBy, covers := true, true
		for d := range m {
			coveredBy = coveredBy && d.Seq <= mv[d.Replica]
		}
		for id, n := range mv {
			for s := uint64(1); s <= n; s++ {
				covers = covers && m[vclock.Dot{Replica: id, Seq: s}]
			}
		}
		if c.CoveredBy(v) != coveredBy || c.Covers(v) != covers {
			t.Fatalf("%v vs %v: CoveredBy=%v (model %v), Covers=%v (model %v)",
				c.String(), v, c.CoveredBy(v), coveredBy, c.Covers(v), covers)
		}
	})
}

func TestContextCloneIsIndependent(t *testing.T) {
	var a vclock.Context
	a.AddRange("a", 1, 3)
	a.AddRange("a", 7, 9)
	b := a.Clone()
	b.AddRange("a", 4, 6)
	b.Add(vclock.Dot{Replica: "b", Seq: 1})
	if a.String() != "{a:1-3,7-9}" {
		t.Fatalf("changing a clone changed the original: %v", a.String())
	}
	if b.String() != "{a:1-9 b:1}" {
		t.Fatalf("clone: %v", b.String())
	}
}

func TestContextAtTheEndOfTheRange(t *testing.T) {
	const top = math.MaxUint64
	var c vclock.Context
	c.AddRange("a", top-1, top)
	c.AddRange("a", 5, 6)
	c.Add(vclock.Dot{Replica: "a", Seq: top - 3})
	for _, tc := range []struct {
		seq  uint64
		want bool
	}{{4, false}, {5, true}, {6, true}, {7, false}, {top - 3, true}, {top - 2, false}, {top - 1, true}, {top, true}} {
		if got := c.Contains(vclock.Dot{Replica: "a", Seq: tc.seq}); got != tc.want {
			t.Errorf("Contains(a:%d) = %v, want %v in %v", tc.seq, got, tc.want, c.String())
		}
	}
	if got := c.String(); got != "{a:5-6,18446744073709551612,18446744073709551614-18446744073709551615}" {
		t.Errorf("String() = %s", got)
	}
	// Filling the gap joins the runs, without wrapping around.
	c.Add(vclock.Dot{Replica: "a", Seq: top - 2})
	c.AddRange("a", 1, 4)
	if got := c.String(); got != "{a:1-6,18446744073709551612-18446744073709551615}" {
		t.Errorf("after filling: %s", got)
	}
	if d := c.Next("a"); d.Seq != 0 || c.Contains(d) {
		t.Errorf("Next after the last sequence number = %v, want sequence 0", d)
	}
	var v vclock.Clock
	v.Set("a", top)
	if s := c.Since(v); !s.IsEmpty() {
		t.Errorf("Since a version holding every event = %v, want empty", s.String())
	}
	v.Set("a", 5)
	if s := c.Since(v); s.String() != "{a:6,18446744073709551612-18446744073709551615}" {
		t.Errorf("Since(a:5) = %v", s.String())
	}
}

func TestContextString(t *testing.T) {
	var c vclock.Context
	c.AddRange("a", 1, 3)
	c.Add(vclock.Dot{Replica: "a", Seq: 5})
	c.Add(vclock.Dot{Replica: "b", Seq: 1})
	c.Add(vclock.Dot{Replica: "b", Seq: 0}) // names no event
	c.AddRange("c", 4, 2)                   // empty
	if got := c.String(); got != "{a:1-3,5 b:1}" {
		t.Fatalf("String() = %q", got)
	}
	var empty vclock.Context
	if empty.String() != "{}" || !empty.IsCompact() || !empty.Version().IsZero() {
		t.Fatal("the zero Context is not empty")
	}
}

func TestContextPrefixIsVersionEntry(t *testing.T) {
	var c vclock.Context
	c.AddRange("a", 1, 5)
	c.AddRange("a", 8, 9)
	c.AddRange("b", 3, 4)
	c.Add(vclock.Dot{Replica: "c", Seq: 1})
	v := c.Version()
	for _, id := range []vclock.ReplicaID{"a", "b", "c", "d"} {
		if got, want := c.Prefix(id), v.Get(id); got != want {
			t.Fatalf("Prefix(%q) = %d; Version has %d", id, got, want)
		}
	}
}

// genWideOps draws insertions over many replicas and many short runs, so
// that Merge takes its one-pass paths (many new replicas, many runs of one
// replica) as well as its one-by-one ones.
func genWideOps() *rapid.Generator[[]ctxOp] {
	return rapid.Custom(func(t *rapid.T) []ctxOp {
		nids := rapid.IntRange(1, 14).Draw(t, "ids")
		var ops []ctxOp
		for range rapid.IntRange(0, 60).Draw(t, "ops") {
			id := crdt.ReplicaID(fmt.Sprint("r", rapid.IntRange(0, nids-1).Draw(t, "id")))
			lo := rapid.Uint64Range(1, 3*maxSeq).Draw(t, "lo")
			hi := lo + rapid.Uint64Range(0, 2).Draw(t, "len")
			ops = append(ops, ctxOp{id, lo, hi, false})
		}
		return ops
	})
}

func TestContextMergeAndOverlapsMatchModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, ma := buildCtx(genWideOps().Draw(t, "a"))
		b, mb := buildCtx(genWideOps().Draw(t, "b"))
		overlap := false
		for d := range ma {
			overlap = overlap || mb[d]
		}
		if a.Overlaps(&b) != overlap || b.Overlaps(&a) != overlap {
			t.Fatalf("Overlaps(%v, %v) = %v, model %v", a.String(), b.String(), a.Overlaps(&b), overlap)
		}
		u := a.Clone()
		u.Merge(&b)
		want := maps.Clone(ma)
		maps.Copy(want, mb)
		if got := dotsOf(t, &u); !maps.Equal(got, want) {
			t.Fatalf("%v merged with %v is %v", a.String(), b.String(), u.String())
		}
		var rebuilt vclock.Context
		for _, d := range sortedDots(want) {
			rebuilt.Add(d)
		}
		if !rebuilt.Equal(&u) {
			t.Fatalf("merge %v not in canonical form %v", u.String(), rebuilt.String())
		}
	})
}

// TestContextMinus checks Minus against sets of dots.
func TestContextMinus(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		draw := func(label string) (vclock.Context, map[vclock.Dot]bool) {
			var c vclock.Context
			set := map[vclock.Dot]bool{}
			for range rapid.IntRange(0, 12).Draw(t, label+" runs") {
				id := rapid.SampledFrom(ids).Draw(t, label+" id")
				lo := rapid.Uint64Range(1, 30).Draw(t, label+" lo")
				hi := lo + rapid.Uint64Range(0, 6).Draw(t, label+" len")
				c.AddRange(id, lo, hi)
				for s := lo; s <= hi; s++ {
					set[vclock.Dot{Replica: id, Seq: s}] = true
				}
			}
			return c, set
		}
		c, cs := draw("c")
		o, os := draw("o")
		got := c.Minus(&o)
		for _, id := range ids {
			for s := uint64(1); s <= 40; s++ {
				d := vclock.Dot{Replica: id, Seq: s}
				if want := cs[d] && !os[d]; got.Contains(d) != want {
					t.Fatalf("%v minus %v = %v: holds %v is %v, want %v", c.String(), o.String(), got.String(), d, got.Contains(d), want)
				}
			}
		}
	})
}

// TestAddNextIsNextThenAdd holds AddNext to Next followed by Add on random
// contexts, for every replica, including one whose context reaches MaxSeq
// (where both must return sequence number 0 and change nothing).
func TestAddNextIsNextThenAdd(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, _ := buildCtx(genOps().Draw(t, "ops"))
		if rapid.Bool().Draw(t, "full") {
			id := rapid.SampledFrom(ids).Draw(t, "fullID")
			lo := rapid.Uint64Range(1, maxSeq).Draw(t, "fullLo")
			if rapid.Bool().Draw(t, "run") {
				c.AddRange(id, lo, vclock.MaxSeq)
			} else {
				c.Add(vclock.Dot{Replica: id, Seq: vclock.MaxSeq})
			}
		}
		for _, id := range ids {
			a, b := c.Clone(), c.Clone()
			got := a.AddNext(id)
			want := b.Next(id)
			b.Add(want)
			if got != want {
				t.Fatalf("AddNext(%s) = %v, Next then Add %v, in %v", id, got, want, &c)
			}
			if !a.Equal(&b) {
				t.Fatalf("after AddNext(%s): %v, after Next and Add: %v", id, &a, &b)
			}
		}
	})
}

// RangesWithin reports exactly the dots of the context within the
// interval, as runs in order, each clipped to it and none adjacent to the
// next.
func TestRangesWithin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, ids := randomRuns(t)
		id := rapid.SampledFrom(ids).Draw(t, "query")
		lo := rapid.Uint64Range(0, 70).Draw(t, "from")
		hi := rapid.Uint64Range(0, 70).Draw(t, "to")
		got := map[uint64]bool{}
		var prevHi uint64
		c.RangesWithin(id, lo, hi, func(l, h uint64) {
			if l > h || l < lo || h > hi || l == 0 || (prevHi > 0 && l <= prevHi+1) {
				t.Fatalf("run %d-%d for %d-%d after one ending at %d", l, h, lo, hi, prevHi)
			}
			for s := l; s <= h; s++ {
				got[s] = true
			}
			prevHi = h
		})
		for s := uint64(0); s <= 70; s++ {
			want := s >= lo && s <= hi && c.Contains(vclock.Dot{Replica: id, Seq: s})
			if got[s] != want {
				t.Fatalf("dot %d: reported %v, want %v (context %s, %d-%d)", s, got[s], want, c.String(), lo, hi)
			}
		}
	})
}

// ContainsRange agrees with Contains on every dot of the interval.
func TestContainsRange(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, ids := randomRuns(t)
		id := rapid.SampledFrom(ids).Draw(t, "query")
		lo := rapid.Uint64Range(0, 70).Draw(t, "from")
		hi := rapid.Uint64Range(0, 70).Draw(t, "to")
		want := lo > 0 || lo > hi
		for s := lo; s <= hi && want; s++ {
			want = c.Contains(vclock.Dot{Replica: id, Seq: s})
		}
		if got := c.ContainsRange(id, lo, hi); got != want {
			t.Fatalf("ContainsRange(%s, %d, %d) = %v, want %v (context %s)", id, lo, hi, got, want, c.String())
		}
	})
}

// randomRuns returns a context of a few runs of replicas a and b, within
// sequence numbers 1 to 65, and the two IDs.
func randomRuns(t *rapid.T) (vclock.Context, []vclock.ReplicaID) {
	var c vclock.Context
	ids := []vclock.ReplicaID{"a", "b"}
	for range rapid.IntRange(0, 20).Draw(t, "adds") {
		lo := rapid.Uint64Range(1, 60).Draw(t, "lo")
		c.AddRange(rapid.SampledFrom(ids).Draw(t, "id"), lo, lo+rapid.Uint64Range(0, 5).Draw(t, "len"))
	}
	return c, ids
}
