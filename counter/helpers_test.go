package counter

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"pgregory.net/rapid"
)

// tb is what the helpers need of *testing.T and *rapid.T alike.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}

// pool is the set of replica IDs the property tests draw from.
var pool = []crdt.ReplicaID{"a", "b", "c", "d", "eu-west-1"}

var maxU64 = new(big.Int).SetUint64(math.MaxUint64)

// gInvariant recomputes everything a G caches, from its entries alone, and
// fails if anything disagrees.
func gInvariant(t tb, g *G) {
	t.Helper()
	sum := new(big.Int)
	for k, e := range g.e {
		if e.id == "" || e.n == 0 {
			t.Fatalf("invalid entry %+v", e)
		}
		if k > 0 && g.e[k-1].id >= e.id {
			t.Fatalf("entries out of order: %q then %q", g.e[k-1].id, e.id)
		}
		sum.Add(sum, new(big.Int).SetUint64(e.n))
	}
	want := uint64(math.MaxUint64)
	if sum.Cmp(maxU64) < 0 {
		want = sum.Uint64()
	}
	if g.Value() != want {
		t.Fatalf("Value() = %d, sum of entries is %v", g.Value(), sum)
	}
	if fp := recomputeGFingerprint(g); g.Fingerprint() != fp {
		t.Fatalf("Fingerprint() = %#x kept incrementally, %#x recomputed from the entries", g.Fingerprint(), fp)
	}
}

// recomputeGFingerprint computes g's fingerprint from scratch, as its
// documentation states it: the sum of every total weighted by an odd hash
// of its replica's ID.
func recomputeGFingerprint(g *G) uint64 {
	var fp uint64
	for _, e := range g.e {
		fp += (codec.HashString(codec.HashSeed, string(e.id)) | 1) * e.n
	}
	return fp
}

// recomputePNFingerprint does for a PN what recomputeGFingerprint does for
// a G.
func recomputePNFingerprint(c *PN) uint64 {
	var fp uint64
	for _, e := range c.e {
		fp += share(codec.HashString(codec.HashSeed, string(e.id))|1, e.p, e.n)
	}
	return fp
}

// satInt64 clamps v to the range of int64.
func satInt64(v *big.Int) int64 {
	switch {
	case v.IsInt64():
		return v.Int64()
	case v.Sign() > 0:
		return math.MaxInt64
	}
	return math.MinInt64
}

// pnInvariant does for a PN what gInvariant does for a G.
func pnInvariant(t tb, c *PN) {
	t.Helper()
	sum := new(big.Int)
	for k, e := range c.e {
		if e.id == "" || (e.p == 0 && e.n == 0) || e.p > maxP || e.n > maxN {
			t.Fatalf("invalid entry %+v", e)
		}
		if k > 0 && c.e[k-1].id >= e.id {
			t.Fatalf("entries out of order: %q then %q", c.e[k-1].id, e.id)
		}
		sum.Add(sum, new(big.Int).SetUint64(e.p))
		sum.Sub(sum, new(big.Int).SetUint64(e.n))
	}
	if got, want := c.Value(), satInt64(sum); got != want {
		t.Fatalf("Value() = %d, want %d (exact %v)", got, want, sum)
	}
	if fp := recomputePNFingerprint(c); c.Fingerprint() != fp {
		t.Fatalf("Fingerprint() = %#x kept incrementally, %#x recomputed from the entries", c.Fingerprint(), fp)
	}
}

// genTotal draws a replica total: mostly small, sometimes huge.
func genTotal(t *rapid.T, label string) uint64 {
	if rapid.Bool().Draw(t, label+" small") {
		return rapid.Uint64Range(1, 1000).Draw(t, label)
	}
	return rapid.Uint64Min(1).Draw(t, label)
}

// genG draws a G with arbitrary totals for a subset of the pool. Any set of
// totals is a reachable G state.
func genG(t *rapid.T, label string) *G {
	g := &G{}
	for _, id := range pool {
		if rapid.Bool().Draw(t, fmt.Sprintf("%s has %s", label, id)) {
			g.e = append(g.e, gEntry{id: id, n: genTotal(t, fmt.Sprintf("%s[%s]", label, id)), h: idHash(id)})
			g.total = addSat(g.total, g.e[len(g.e)-1].n)
			g.fp += g.e[len(g.e)-1].h * g.e[len(g.e)-1].n
		}
	}
	return g
}

// genPN draws a PN with arbitrary totals (P+N in range) for a subset of the
// pool, within the bounds of a replica's totals. Such states need not come
// from one history per replica; the merge laws hold for them all the same.
func genPN(t *rapid.T, label string) *PN {
	c := &PN{}
	for _, id := range pool {
		if !rapid.Bool().Draw(t, fmt.Sprintf("%s has %s", label, id)) {
			continue
		}
		l := fmt.Sprintf("%s[%s]", label, id)
		p := rapid.Uint64Range(0, 1000).Draw(t, l+".p")
		if !rapid.Bool().Draw(t, l+" small") {
			p = rapid.Uint64Range(0, maxP).Draw(t, l+".P")
		}
		n := rapid.Uint64Range(0, 1000).Draw(t, l+".n")
		if !rapid.Bool().Draw(t, l+" small n") {
			n = rapid.Uint64Range(0, maxN).Draw(t, l+".N")
		}
		if p == 0 && n == 0 {
			n = 1
		}
		if err := c.Apply(PNOp{Replica: id, P: p, N: n}); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// pnHistories draws, for every replica of the pool, the successive totals
// it goes through as it counts: what one replica can actually produce.
func pnHistories(t *rapid.T) map[crdt.ReplicaID][]PNOp {
	h := make(map[crdt.ReplicaID][]PNOp)
	for _, id := range pool {
		cur := PNOp{Replica: id}
		steps := rapid.IntRange(0, 5).Draw(t, fmt.Sprintf("steps of %s", id))
		for k := range steps {
			m := rapid.Uint64Range(1, 1<<40).Draw(t, fmt.Sprintf("%s step %d", id, k))
			if rapid.Bool().Draw(t, fmt.Sprintf("%s step %d up", id, k)) {
				cur.P += m
			} else {
				cur.N += m
			}
			h[id] = append(h[id], cur)
		}
	}
	return h
}

// pnFromHistories draws a state that holds, for each replica, some point of
// its history (or nothing).
func pnFromHistories(t *rapid.T, h map[crdt.ReplicaID][]PNOp, label string) *PN {
	c := &PN{}
	for _, id := range pool {
		k := rapid.IntRange(0, len(h[id])).Draw(t, fmt.Sprintf("%s point of %s", label, id))
		if k > 0 {
			if err := c.Apply(h[id][k-1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}

// mustDecodeError fails unless err is a *codec.DecodeError wrapping class
// (any class if class is nil).
func mustDecodeError(t tb, err error, class error) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *codec.DecodeError", err, err)
	}
	if class != nil && !errors.Is(err, class) {
		t.Fatalf("error %v does not wrap %v", err, class)
	}
}

// sameG fails unless g and want hold the same state, value and replica.
func sameG(t tb, g, want *G) {
	t.Helper()
	if !g.Equal(want) || g.Value() != want.Value() || g.id != want.id || g.Fingerprint() != want.Fingerprint() {
		t.Fatalf("state %+v (value %d, id %q), want %+v (value %d, id %q)", g.e, g.Value(), g.id, want.e, want.Value(), want.id)
	}
}

// samePN fails unless c and want hold the same state, value and replica.
func samePN(t tb, c, want *PN) {
	t.Helper()
	if !c.Equal(want) || c.Value() != want.Value() || c.id != want.id || c.p != want.p || c.n != want.n || c.Fingerprint() != want.Fingerprint() {
		t.Fatalf("state %+v (value %d, id %q), want %+v (value %d, id %q)", c.e, c.Value(), c.id, want.e, want.Value(), want.id)
	}
}

// recomputeBoundedFingerprint computes b's fingerprint from its entries,
// hashing each from scratch as the wire's fields come: the replica's ID,
// its totals, then its lists of rights (requests only when it has some),
// each with its length first. Bounded keeps it up to date change by
// change, with each entry's ID hash cached.
func recomputeBoundedFingerprint(b *Bounded) uint64 {
	var fp uint64
	for _, e := range b.e {
		h := codec.HashUint(codec.HashUint(codec.HashString(codec.HashSeed, string(e.id)), e.p), e.n)
		lists := [][]Rights{e.in, e.out}
		if len(e.ask) > 0 {
			lists = append(lists, e.ask)
		}
		for _, rs := range lists {
			h = codec.HashUint(h, uint64(len(rs)))
			for _, r := range rs {
				h = codec.HashUint(codec.HashString(h, string(r.Replica)), r.Total)
			}
		}
		fp += codec.Mix(h)
	}
	return fp
}

// checkBoundedFingerprint fails t if b's fingerprint is not what its
// entries hash to.
func checkBoundedFingerprint(t interface {
	Helper()
	Fatalf(string, ...any)
}, who string, b *Bounded) {
	t.Helper()
	if fp := recomputeBoundedFingerprint(b); b.Fingerprint() != fp {
		t.Fatalf("%s: Fingerprint() = %#x kept change by change, %#x recomputed from the entries", who, b.Fingerprint(), fp)
	}
}
