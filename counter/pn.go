package counter

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// The bounds of one replica's totals: its increments add up to at most
// math.MaxInt64 and its decrements to at most 2⁶³, the size of
// math.MinInt64. A replica can thus take the value from 0 to either bound,
// and the sum of any two totals within these bounds fits a uint64, so the
// version of a replica (P+N) never wraps around, even for entries that a
// merge combines from two different states.
const (
	maxP = math.MaxInt64
	maxN = 1 << 63
)

// pnEntry is one replica's contribution to a PN: the totals of its
// increments (p) and of its decrements (n), within maxP and maxN; at least
// one of them is non-zero.
type pnEntry struct {
	id   vclock.ReplicaID
	p, n uint64
	h    uint64 // idHash(id), for the fingerprint
}

// u128 is an unsigned 128-bit integer, for exact sums of uint64 totals.
type u128 struct{ hi, lo uint64 }

func (a u128) add(x uint64) u128 {
	lo, c := bits.Add64(a.lo, x, 0)
	return u128{hi: a.hi + c, lo: lo}
}

func (a u128) plus(x u128) u128 {
	lo, c := bits.Add64(a.lo, x.lo, 0)
	return u128{hi: a.hi + x.hi + c, lo: lo}
}

// sub returns a-x, wrapping below zero.
func (a u128) sub(x u128) u128 {
	lo, b := bits.Sub64(a.lo, x.lo, 0)
	return u128{hi: a.hi - x.hi - b, lo: lo}
}

// PN is a counter of int64 that can be incremented and decremented,
// replicated across any number of replicas. Its conflict rule: each replica
// keeps a total of its increments and a total of its decrements, both of
// which only grow, and a merge keeps, for every replica, the larger of each.
//
// A PN made by [NewPN] counts for one replica. The zero PN has no replica
// of its own: it reads 0, can be merged into and have ops applied, and its
// [PN.Add] returns [ErrNoReplica]. A PN is not safe for concurrent use (like
// a Go map) and must not be copied after first use: the copy would share
// storage with the original; use [PN.Clone] instead.
type PN struct {
	id   vclock.ReplicaID
	self int          // where id's entry was last seen in e; checked before use
	e    []pnEntry    // sorted by id, strictly increasing; no empty entries
	p, n u128         // exact sums of the p and n totals
	fp   uint64       // wrapping sum of share over e: see [PN.Fingerprint]
	lim  codec.Limits // for the decoders; zero fields take the defaults
}

// NewPN returns an empty counter that counts for replica id. With an empty
// id the counter is like the zero PN: it cannot count.
func NewPN(id vclock.ReplicaID) *PN { return &PN{id: id} }

// SetWriter makes the counter write as w from now on: its changes count in
// an entry of w's own, beside those of the replica's earlier runs.
// The replication engine calls it when the counter is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (c *PN) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		c.id = w
	}
}

// PNOp is the op of a [PN]: the new totals of one replica, P of its
// increments and N of its decrements. They are absolute totals, not a
// difference, so applying an op twice, late, or after a newer op of the same
// replica does no harm.
//
// [PN.Add] returns PNOps; [PN.Apply] takes them. A PNOp is invalid if its
// Replica is empty, if P exceeds math.MaxInt64 or if N exceeds 2⁶³ (no
// replica can reach such totals, see [PN.Add]). One whose P and N are both
// 0 says nothing and changes nothing.
type PNOp struct {
	Replica vclock.ReplicaID // the replica that counted
	P       uint64           // the total of its increments
	N       uint64           // the total of its decrements, as a positive number
}

// invalid returns why op is invalid, or "".
func (op PNOp) invalid() string {
	switch {
	case op.Replica == "":
		return "PN-counter op without a replica ID"
	case op.P > maxP:
		return fmt.Sprintf("increments of replica %q total %d, beyond %d", op.Replica, op.P, uint64(maxP))
	case op.N > maxN:
		return fmt.Sprintf("decrements of replica %q total %d, beyond %d", op.Replica, op.N, uint64(maxN))
	}
	return ""
}

func findPN(e []pnEntry, id vclock.ReplicaID) (int, bool) {
	if len(e) <= 8 {
		for i := range e {
			if e[i].id >= id {
				return i, e[i].id == id
			}
		}
		return len(e), false
	}
	return slices.BinarySearchFunc(e, id, func(x pnEntry, id vclock.ReplicaID) int { return strings.Compare(string(x.id), string(id)) })
}

// Add adds d (which may be negative) to the counter on behalf of c's
// replica and returns the op to send to the other replicas.
//
// Add refuses, with an error matching [ErrOverflow], a change that would
// push the replica's own totals past their bounds: over the replica's
// lifetime its increments may add up to math.MaxInt64 and its decrements to
// 2⁶³ (enough to take the value from 0 to either bound; the bounds keep
// every replica's version, the sum of its totals, within a uint64). Other
// replicas' totals never make Add fail: if the value leaves the range of
// int64, [PN.Value] saturates at the bound it passed, and the change still
// counts. Add returns [ErrNoReplica] if c has no replica ID. On error
// nothing changes.
//
// Add(0) changes nothing and returns an op carrying the replica's current
// totals, which is harmless to apply anywhere (both are 0 if the replica
// never counted); there is no need to send it.
func (c *PN) Add(d int64) (PNOp, error) {
	if c.id == "" {
		return PNOp{}, ErrNoReplica
	}
	i, ok := c.own()
	var cur *pnEntry
	if ok {
		cur = &c.e[i]
	} else {
		cur = &pnEntry{id: c.id}
	}
	if d == 0 {
		return PNOp{Replica: c.id, P: cur.p, N: cur.n}, nil
	}
	if d > 0 {
		m := uint64(d)
		if cur.p > maxP-m {
			return PNOp{}, fmt.Errorf("%w: increments of replica %q total %d and cannot grow by %d", ErrOverflow, c.id, cur.p, m)
		}
		if !ok {
			cur.h = idHash(c.id)
		}
		c.fp += part(cur.h, cur.p+m) - part(cur.h, cur.p)
		cur.p += m
		c.p = c.p.add(m)
	} else {
		m := -uint64(d)
		if cur.n > maxN-m {
			return PNOp{}, fmt.Errorf("%w: decrements of replica %q total %d and cannot grow by %d", ErrOverflow, c.id, cur.n, m)
		}
		if !ok {
			cur.h = idHash(c.id)
		}
		c.fp += part(^cur.h, cur.n+m) - part(^cur.h, cur.n)
		cur.n += m
		c.n = c.n.add(m)
	}
	op := PNOp{Replica: c.id, P: cur.p, N: cur.n}
	if !ok {
		c.e = slices.Insert(c.e, i, *cur)
		c.self = i
	}
	return op, nil
}

// own returns where c's own entry is, or where it would go.
func (c *PN) own() (int, bool) {
	if i := c.self; i < len(c.e) && c.e[i].id == c.id {
		return i, true
	}
	i, ok := findPN(c.e, c.id)
	if ok {
		c.self = i
	}
	return i, ok
}

// Value returns the counter's value: the sum of every replica's increments
// minus the sum of every replica's decrements. If merging has taken that
// difference beyond the range of int64 (replicas that each stayed in range
// can leave it together), Value returns the bound it passed,
// math.MaxInt64 or math.MinInt64; the exact totals are kept, so the value
// comes back once the difference is in range again.
func (c *PN) Value() int64 {
	lo, b := bits.Sub64(c.p.lo, c.n.lo, 0)
	hi := c.p.hi - c.n.hi - b // two's complement high word of the difference
	switch {
	case hi == 0 && lo <= math.MaxInt64,
		hi == math.MaxUint64 && lo > math.MaxInt64:
		return int64(lo)
	case int64(hi) < 0:
		return math.MinInt64
	}
	return math.MaxInt64
}

// Apply takes in an op made by [PN.Add] at any replica. Ops may be applied
// in any order and any number of times: an op older than what c already
// holds for its replica changes nothing. Apply refuses an invalid op (see
// [PNOp]) with an error matching [ErrInvalidOp], changing nothing. Apply
// never refuses an op for taking the value out of range: [PN.Value]
// saturates instead.
func (c *PN) Apply(op PNOp) error {
	_, err := c.apply(op)
	return err
}

func (c *PN) apply(op PNOp) (changed bool, err error) {
	if why := op.invalid(); why != "" {
		return false, fmt.Errorf("%w: %s", ErrInvalidOp, why)
	}
	if op.P == 0 && op.N == 0 {
		return false, nil
	}
	i, ok := findPN(c.e, op.Replica)
	if !ok {
		e := pnEntry{id: op.Replica, p: op.P, n: op.N, h: idHash(op.Replica)}
		c.e = slices.Insert(c.e, i, e)
		c.p = c.p.add(op.P)
		c.n = c.n.add(op.N)
		c.fp += share(e.h, e.p, e.n)
		return true, nil
	}
	return c.raise(i, op.P, op.N), nil
}

// raise sets entry i's totals to the larger of theirs and p, n.
func (c *PN) raise(i int, p, n uint64) (changed bool) {
	e := &c.e[i]
	if p <= e.p && n <= e.n {
		return false
	}
	if p > e.p {
		c.p = c.p.add(p - e.p)
		c.fp += part(e.h, p) - part(e.h, e.p)
		e.p = p
	}
	if n > e.n {
		c.n = c.n.add(n - e.n)
		c.fp += part(^e.h, n) - part(^e.h, e.n)
		e.n = n
	}
	return true
}

// Merge sets c to the join of c and o: for every replica, the larger of its
// two increment totals and the larger of its two decrement totals. Merge is
// commutative, associative and idempotent, and never fails; merging a state
// older than c's changes nothing. A nil o is an empty counter. o is not
// modified, and c keeps its own replica ID.
//
// Merge allocates only when o holds replicas c lacks.
func (c *PN) Merge(o *PN) { c.merge(o) }

func (c *PN) merge(o *PN) (changed bool) {
	if o == nil || o == c {
		return false
	}
	missing, i := 0, 0
	for j := range o.e {
		oe := &o.e[j]
		cmp := 1 // how c.e[i] compares to oe; 1 when past the end
		for ; i < len(c.e); i++ {
			if cmp = strings.Compare(string(c.e[i].id), string(oe.id)); cmp >= 0 {
				break
			}
		}
		if cmp == 0 {
			if c.raise(i, oe.p, oe.n) {
				changed = true
			}
			i++
		} else {
			missing++
		}
	}
	if missing == 0 {
		return changed
	}
	n := len(c.e)
	c.e = slices.Grow(c.e, missing)[:n+missing]
	i, j := n-1, len(o.e)-1
	for k := n + missing - 1; j >= 0; k-- {
		switch {
		case i >= 0 && c.e[i].id > o.e[j].id:
			c.e[k] = c.e[i]
			i--
		case i >= 0 && c.e[i].id == o.e[j].id:
			c.e[k] = c.e[i] // raised in the first pass
			i--
			j--
		default:
			c.e[k] = o.e[j]
			c.p = c.p.add(o.e[j].p)
			c.n = c.n.add(o.e[j].n)
			c.fp += share(o.e[j].h, o.e[j].p, o.e[j].n)
			j--
		}
	}
	return true
}

// Clone returns an independent copy of c, counting for the same replica.
// Do not let the original and the copy both count: a replica ID names one
// replica.
func (c *PN) Clone() *PN {
	return &PN{id: c.id, self: c.self, e: slices.Clone(c.e), p: c.p, n: c.n, fp: c.fp, lim: c.lim}
}

// Equal reports whether c and o hold the same totals for every replica; the
// replicas they count for do not matter. Two counters with the same value
// are not Equal if their replicas' totals differ. A nil o is an empty
// counter.
func (c *PN) Equal(o *PN) bool {
	if o == nil {
		return len(c.e) == 0
	}
	return slices.Equal(c.e, o.e)
}

// Version returns c's version: for every replica, the sum of its increment
// and decrement totals, which grows with every change the replica makes. A
// peer whose version is v lacks news of exactly the replicas whose sum
// exceeds v's count. (Only a replica changes its own totals, so the totals
// any two states hold for it are points of one history, ordered by their
// sum.)
func (c *PN) Version() vclock.Clock {
	var v vclock.Clock
	for _, e := range c.e {
		v.Set(e.id, e.p+e.n)
	}
	return v
}

// DeltaSince returns a counter holding only the entries of c that a replica
// whose version is v lacks: those whose sum of totals exceeds v's count.
// Merging the delta into a replica at version v gives the same state as
// merging all of c. The delta has no replica ID of its own (it cannot count)
// and shares nothing with c.
func (c *PN) DeltaSince(v vclock.Clock) *PN {
	d := &PN{}
	for _, e := range c.e {
		if e.p+e.n > v.Get(e.id) {
			d.e = append(d.e, e)
			d.p = d.p.add(e.p)
			d.n = d.n.add(e.n)
			d.fp += share(e.h, e.p, e.n)
		}
	}
	return d
}

// share returns the part of a PN's fingerprint that the totals p and n
// of the replica whose idHash is h make: the parts of the two totals,
// each 0 for a total of 0, else a mix of the total and the hash (the
// decrements' with the hash's bits flipped: h is odd, so no replica's
// increments mix with another's hash as its decrements do). Shares that
// weighed the totals linearly (by h, or by h and h times a constant)
// cancel for some changes: for some pair of differences of at most 2³²
// each, or, with the constant 0x9e3779b97f4a7c15, for
// +2⁶⁴−0x9e3779b97f4a7c15 and −1, which weighed what no change at all
// weighs; a weight of the sum alone gives every split of one sum one
// share, so two processes counting under one name, one +1 and the other
// −1, would hold one fingerprint while their values differ. A change of
// one total replaces its part: two mixes.
func share(h, p, n uint64) uint64 {
	return part(h, p) + part(^h, n)
}

// part is a total's part of a share (see share).
func part(h, total uint64) uint64 {
	if total == 0 {
		return 0
	}
	return codec.Mix(h ^ total)
}

// Fingerprint returns a hash of c's content: the sum, modulo 2⁶⁴, of a
// hash of every replica's ID and two totals. Two counters that are
// [PN.Equal] have the same fingerprint, whatever order their changes and
// merges came in; counters that differ, in one replica's totals or in
// more, almost surely do not, whatever the difference: two states of one
// replica's history, or two states that split one version differently
// (two processes counting under one ID). The counter's own replica ID is
// not part of it. The hash is the same in every process and on every
// machine. It is kept up to date with every change, so Fingerprint costs
// nothing.
func (c *PN) Fingerprint() uint64 { return c.fp }

// SetLimits sets the limits the decoding methods of c apply to their input
// ([PN.UnmarshalBinary], [PN.MergeBinary], [PN.ApplyBinary],
// [PN.ApplyBinaryFrom], and the version given to [PN.DeltaSinceBinary]).
// Zero fields, as in the zero PN, mean the values of [codec.DefaultLimits].
func (c *PN) SetLimits(l codec.Limits) { c.lim = l }
