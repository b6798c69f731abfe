package counter

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// gEntry is one replica's contribution to a G.
type gEntry struct {
	id vclock.ReplicaID
	n  uint64
	h  uint64 // idHash(id), for the fingerprint
}

// G is a grow-only counter of uint64, replicated across any number of
// replicas. Its conflict rule: each replica's total only grows, and a merge
// keeps, for every replica, the larger of the two totals.
//
// A G made by [NewG] counts for one replica. The zero G has no replica of
// its own: it reads 0, can be merged into and have ops applied, and its
// [G.Inc] returns [ErrNoReplica]. A G is not safe for concurrent use (like a
// Go map) and must not be copied after first use: the copy would share
// storage with the original; use [G.Clone] instead.
type G struct {
	id    vclock.ReplicaID
	self  int          // where id's entry was last seen in e; checked before use
	e     []gEntry     // sorted by id, strictly increasing; no zero counts
	total uint64       // sum of the counts, saturating at math.MaxUint64
	fp    uint64       // wrapping sum of h*n over e: see [G.Fingerprint]
	lim   codec.Limits // for the decoders; zero fields take the defaults
}

// NewG returns an empty grow-only counter that counts for replica id. With
// an empty id the counter is like the zero G: it cannot count.
func NewG(id vclock.ReplicaID) *G { return &G{id: id} }

// SetWriter makes the counter write as w from now on: its increments count
// in an entry of w's own, beside those of the replica's earlier runs.
// The replication engine calls it when the counter is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (g *G) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		g.id = w
	}
}

// GOp is the op of a [G]: the new total of one replica. It is an absolute
// total, not a difference, so applying it twice, late, or after a newer op
// of the same replica does no harm.
//
// [G.Inc] returns GOps; [G.Apply] takes them. A GOp with an empty Replica is
// invalid; one whose Count is 0 says nothing and changes nothing.
type GOp struct {
	Replica vclock.ReplicaID // the replica that counted
	Count   uint64           // its total after the increment
}

// findG returns where id's entry is in e, or where it would go.
func findG(e []gEntry, id vclock.ReplicaID) (int, bool) {
	// A counter has one entry per region that ever counted: a handful.
	// A linear scan beats binary search for such sizes.
	if len(e) <= 8 {
		for i := range e {
			if e[i].id >= id {
				return i, e[i].id == id
			}
		}
		return len(e), false
	}
	return slices.BinarySearchFunc(e, id, func(x gEntry, id vclock.ReplicaID) int { return strings.Compare(string(x.id), string(id)) })
}

// addSat returns a+b, or math.MaxUint64 if that overflows.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}

// Inc adds n to the counter on behalf of g's replica and returns the op to
// send to the other replicas.
//
// Inc refuses, with an error matching [ErrOverflow], an increment that would
// take the replica's own total past math.MaxUint64; it returns
// [ErrNoReplica] if g has no replica ID. In both cases nothing changes.
// Other replicas' totals never make Inc fail: if the sum of all totals
// exceeds math.MaxUint64, [G.Value] saturates, and the increment still
// counts.
//
// Inc(0) changes nothing and returns an op carrying the replica's current
// total, which is harmless to apply anywhere (its Count is 0 if the replica
// never counted); there is no need to send it.
func (g *G) Inc(n uint64) (GOp, error) {
	if g.id == "" {
		return GOp{}, ErrNoReplica
	}
	i, ok := g.own()
	if n == 0 {
		if ok {
			return GOp{Replica: g.id, Count: g.e[i].n}, nil
		}
		return GOp{Replica: g.id}, nil
	}
	var own uint64
	if ok {
		own = g.e[i].n
	}
	if own > math.MaxUint64-n {
		return GOp{}, fmt.Errorf("%w: replica %q has counted %d and cannot count %d more", ErrOverflow, g.id, own, n)
	}
	g.total = addSat(g.total, n)
	if ok {
		g.fp += g.e[i].h * n
		g.e[i].n += n
		return GOp{Replica: g.id, Count: g.e[i].n}, nil
	}
	e := gEntry{id: g.id, n: n, h: idHash(g.id)}
	g.fp += e.h * n
	g.e = slices.Insert(g.e, i, e)
	g.self = i
	return GOp{Replica: g.id, Count: n}, nil
}

// own returns where g's own entry is, or where it would go.
func (g *G) own() (int, bool) {
	if i := g.self; i < len(g.e) && g.e[i].id == g.id {
		return i, true
	}
	i, ok := findG(g.e, g.id)
	if ok {
		g.self = i
	}
	return i, ok
}

// Value returns the counter's value: the sum of every replica's total. If
// that sum exceeds math.MaxUint64 (replicas that each stayed in range can
// exceed it together), Value saturates: it returns math.MaxUint64, and
// increments still count in the replicas' totals.
func (g *G) Value() uint64 { return g.total }

// Apply takes in an op made by [G.Inc] at any replica. Ops may be applied in
// any order and any number of times: an op older than what g already holds
// for its replica changes nothing. Apply refuses an op with an empty Replica
// with an error matching [ErrInvalidOp], changing nothing. Apply never
// refuses an op for making the value overflow: [G.Value] saturates instead.
func (g *G) Apply(op GOp) error {
	_, err := g.apply(op)
	return err
}

func (g *G) apply(op GOp) (changed bool, err error) {
	if op.Replica == "" {
		return false, fmt.Errorf("%w: G-counter op without a replica ID", ErrInvalidOp)
	}
	if op.Count == 0 {
		return false, nil
	}
	i, ok := findG(g.e, op.Replica)
	switch {
	case !ok:
		e := gEntry{id: op.Replica, n: op.Count, h: idHash(op.Replica)}
		g.e = slices.Insert(g.e, i, e)
		g.total = addSat(g.total, op.Count)
		g.fp += e.h * op.Count
	case op.Count > g.e[i].n:
		g.total = addSat(g.total, op.Count-g.e[i].n)
		g.fp += g.e[i].h * (op.Count - g.e[i].n)
		g.e[i].n = op.Count
	default:
		return false, nil
	}
	return true, nil
}

// Merge sets g to the join of g and o: for every replica, the larger of its
// two totals. Merge is commutative, associative and idempotent, and never
// fails; merging a state older than g's changes nothing. A nil o is an empty
// counter. o is not modified, and g keeps its own replica ID.
//
// Merge allocates only when o holds replicas g lacks.
func (g *G) Merge(o *G) { g.merge(o) }

func (g *G) merge(o *G) (changed bool) {
	if o == nil || o == g {
		return false
	}
	// First pass: raise the entries both hold, count those g lacks.
	missing, i := 0, 0
	fp := g.fp
	for j := range o.e {
		oe := &o.e[j]
		c := 1 // how g.e[i] compares to oe; 1 when past the end
		for ; i < len(g.e); i++ {
			if c = strings.Compare(string(g.e[i].id), string(oe.id)); c >= 0 {
				break
			}
		}
		if c == 0 {
			if e := &g.e[i]; oe.n > e.n {
				g.total = addSat(g.total, oe.n-e.n)
				fp += e.h * (oe.n - e.n)
				e.n = oe.n
				changed = true
			}
			i++
		} else {
			missing++
		}
	}
	g.fp = fp
	if missing == 0 {
		return changed
	}
	// Second pass: grow e and merge from the back, so each entry moves once.
	n := len(g.e)
	g.e = slices.Grow(g.e, missing)[:n+missing]
	i, j := n-1, len(o.e)-1
	for k := n + missing - 1; j >= 0; k-- {
		switch {
		case i >= 0 && g.e[i].id > o.e[j].id:
			g.e[k] = g.e[i]
			i--
		case i >= 0 && g.e[i].id == o.e[j].id:
			g.e[k] = g.e[i] // raised in the first pass
			i--
			j--
		default:
			g.e[k] = o.e[j]
			g.total = addSat(g.total, o.e[j].n)
			g.fp += o.e[j].h * o.e[j].n
			j--
		}
	}
	return true
}

// Clone returns an independent copy of g, counting for the same replica.
// Do not let the original and the copy both count: a replica ID names one
// replica.
func (g *G) Clone() *G {
	return &G{id: g.id, self: g.self, e: slices.Clone(g.e), total: g.total, fp: g.fp, lim: g.lim}
}

// Equal reports whether g and o hold the same total for every replica; the
// replicas they count for do not matter. A nil o is an empty counter.
func (g *G) Equal(o *G) bool {
	if o == nil {
		return len(g.e) == 0
	}
	return slices.Equal(g.e, o.e)
}

// Version returns g's version: for every replica, its total. Since a
// replica's total grows with every increment, a peer whose version is v
// lacks exactly the replicas whose total exceeds v's count.
func (g *G) Version() vclock.Clock {
	var v vclock.Clock
	for _, e := range g.e {
		v.Set(e.id, e.n)
	}
	return v
}

// DeltaSince returns a counter holding only the entries of g that a replica
// whose version is v lacks: those whose total exceeds v's count. Merging the
// delta into a replica at version v gives the same state as merging all of
// g. The delta has no replica ID of its own (it cannot count) and shares
// nothing with g.
func (g *G) DeltaSince(v vclock.Clock) *G {
	d := &G{}
	for _, e := range g.e {
		if e.n > v.Get(e.id) {
			d.e = append(d.e, e)
			d.total = addSat(d.total, e.n)
			d.fp += e.h * e.n
		}
	}
	return d
}

// idHash is the hash of a replica ID that weighs its totals in a
// counter's fingerprint. It is odd, so that it is invertible modulo 2⁶⁴: a
// change to one replica's total always changes the fingerprint.
func idHash(id vclock.ReplicaID) uint64 {
	return codec.HashString(codec.HashSeed, string(id)) | 1
}

// Fingerprint returns a hash of g's content: the sum, modulo 2⁶⁴, of every
// replica's total weighted by an odd hash of its ID. Two counters that are
// [G.Equal] have the same fingerprint, whatever order their increments and
// merges came in; counters that differ in one replica's total always have
// different ones, and counters that differ in more almost surely do. The counter's own replica ID is not part of
// it. The hash is the same in every process and on every machine. It is
// kept up to date with every change, so Fingerprint costs nothing.
func (g *G) Fingerprint() uint64 { return g.fp }

// SetLimits sets the limits the decoding methods of g apply to their input
// ([G.UnmarshalBinary], [G.MergeBinary], [G.ApplyBinary],
// [G.ApplyBinaryFrom], and the version given to [G.DeltaSinceBinary]).
// Zero fields, as in the zero G, mean the values of [codec.DefaultLimits].
func (g *G) SetLimits(l codec.Limits) { g.lim = l }
