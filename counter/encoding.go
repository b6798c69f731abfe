package counter

import (
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Wire format, version 1, after the codec header (format version, kind,
// replica table):
//
//	G state    array of 2n: replica, total           (replicas increasing)
//	PN state   array of 3n: replica, increments, decrements
//	G op       replica, total
//	PN op      replica, increments, decrements
//
// A replica is written as its index in the message's replica table. In a
// state the table lists exactly the entries' replicas, in order; in an op it
// lists the op's one replica.

// MarshalBinary encodes g's state: every replica's total. g's own replica ID
// is not part of the state and is not written.
func (g *G) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindG, 3+4*len(g.e))
	w.Array(2 * len(g.e))
	for _, e := range g.e {
		w.Replica(string(e.id))
		w.Uint(e.n)
	}
	return w.Bytes()
}

// UnmarshalBinary replaces g's state with one encoded by [G.MarshalBinary],
// keeping g's own replica ID: restoring a saved state is
// NewG(id).UnmarshalBinary(saved). On error g is unchanged and the error is
// a [*codec.DecodeError].
func (g *G) UnmarshalBinary(data []byte) error {
	d, err := decodeG(data, g.lim)
	if err != nil {
		return err
	}
	g.e, g.total, g.fp, g.self = d.e, d.total, d.fp, 0
	return nil
}

// decodeG decodes a G state in its one canonical form: shortest integers
// and headers, replicas in increasing order. Its work and allocation are
// linear in len(data): the entries slice is sized by a count that the
// replica table, already read, has paid for with at least two bytes per
// entry.
func decodeG(data []byte, lim codec.Limits) (*G, error) {
	r := codec.NewReader(data, codec.KindG, lim)
	n := r.CanonicalArrayLen(1) // each field takes at least one byte
	if r.Err() == nil && n%2 != 0 {
		r.Fail("G-counter state with an odd number of fields (%d)", n)
	}
	n /= 2
	checkTable(r, n)
	if err := r.Err(); err != nil {
		return nil, err
	}
	d := &G{}
	if n > 0 {
		d.e = make([]gEntry, 0, n)
	}
	for range n {
		id := vclock.ReplicaID(r.CanonicalReplica())
		c := r.CanonicalUint()
		if r.Err() != nil {
			break
		}
		if c == 0 {
			r.Fail("zero total for replica %q", id)
			break
		}
		if k := len(d.e); k > 0 && d.e[k-1].id >= id {
			r.Fail("replica %q out of order", id)
			break
		}
		e := gEntry{id: id, n: c, h: idHash(id)}
		d.e = append(d.e, e)
		d.total = addSat(d.total, c)
		d.fp += e.h * c
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return d, nil
}

// checkTable records a problem on r unless the message's replica table has
// exactly n entries. Together with the entries' strictly increasing order
// and the table being filled in order of first use, this gives every state
// one encoding.
func checkTable(r *codec.Reader, n int) {
	if r.Err() == nil && len(r.Replicas()) != n {
		r.Fail("replica table of %d entries for %d replicas", len(r.Replicas()), n)
	}
}

// MarshalBinary encodes c's state: every replica's totals. c's own replica
// ID is not part of the state and is not written.
func (c *PN) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindPN, 3+6*len(c.e))
	w.Array(3 * len(c.e))
	for _, e := range c.e {
		w.Replica(string(e.id))
		w.Uint(e.p)
		w.Uint(e.n)
	}
	return w.Bytes()
}

// UnmarshalBinary replaces c's state with one encoded by
// [PN.MarshalBinary], keeping c's own replica ID: restoring a saved state is
// NewPN(id).UnmarshalBinary(saved). On error c is unchanged and the error is
// a [*codec.DecodeError].
func (c *PN) UnmarshalBinary(data []byte) error {
	d, err := decodePN(data, c.lim)
	if err != nil {
		return err
	}
	c.e, c.p, c.n, c.fp, c.self = d.e, d.p, d.n, d.fp, 0
	return nil
}

// decodePN decodes a PN state in its one canonical form, like decodeG.
func decodePN(data []byte, lim codec.Limits) (*PN, error) {
	r := codec.NewReader(data, codec.KindPN, lim)
	n := r.CanonicalArrayLen(1)
	if r.Err() == nil && n%3 != 0 {
		r.Fail("PN-counter state with %d fields, not a multiple of 3", n)
	}
	n /= 3
	checkTable(r, n)
	if err := r.Err(); err != nil {
		return nil, err
	}
	d := &PN{}
	if n > 0 {
		d.e = make([]pnEntry, 0, n)
	}
	for range n {
		op := PNOp{Replica: vclock.ReplicaID(r.CanonicalReplica()), P: r.CanonicalUint(), N: r.CanonicalUint()}
		if r.Err() != nil {
			break
		}
		if why := op.invalid(); why != "" {
			r.Fail("%s", why)
			break
		}
		if op.P == 0 && op.N == 0 {
			r.Fail("zero totals for replica %q", op.Replica)
			break
		}
		if k := len(d.e); k > 0 && d.e[k-1].id >= op.Replica {
			r.Fail("replica %q out of order", op.Replica)
			break
		}
		e := pnEntry{id: op.Replica, p: op.P, n: op.N, h: idHash(op.Replica)}
		d.e = append(d.e, e)
		d.p = d.p.add(op.P)
		d.n = d.n.add(op.N)
		d.fp += share(e.h, e.p, e.n)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return d, nil
}

// MarshalBinary encodes op. An op with an empty Replica cannot be encoded:
// the error is a [*codec.EncodeError] matching [ErrInvalidOp].
func (op GOp) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindGOp, 12)
	if op.Replica == "" {
		w.Fail(fmt.Errorf("%w: G-counter op without a replica ID", ErrInvalidOp))
	}
	w.Replica(string(op.Replica))
	w.Uint(op.Count)
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [GOp.MarshalBinary] into op,
// in its one canonical form (shortest integers). On error op is unchanged
// and the error is a [*codec.DecodeError].
func (op *GOp) UnmarshalBinary(data []byte) error {
	v, err := decodeGOp(data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = v
	return nil
}

func decodeGOp(data []byte, lim codec.Limits) (GOp, error) {
	r := codec.NewReader(data, codec.KindGOp, lim)
	checkTable(r, 1)
	v := GOp{Replica: vclock.ReplicaID(r.CanonicalReplica()), Count: r.CanonicalUint()}
	if err := r.Done(); err != nil {
		return GOp{}, err
	}
	return v, nil
}

// MarshalBinary encodes op. An invalid op (see [PNOp]) cannot be encoded:
// the error is a [*codec.EncodeError] matching [ErrInvalidOp].
func (op PNOp) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindPNOp, 20)
	if why := op.invalid(); why != "" {
		w.Fail(fmt.Errorf("%w: %s", ErrInvalidOp, why))
	}
	w.Replica(string(op.Replica))
	w.Uint(op.P)
	w.Uint(op.N)
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [PNOp.MarshalBinary] into op,
// in its one canonical form (shortest integers), refusing an invalid one.
// On error op is unchanged and the error is a [*codec.DecodeError].
func (op *PNOp) UnmarshalBinary(data []byte) error {
	v, err := decodePNOp(data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = v
	return nil
}

func decodePNOp(data []byte, lim codec.Limits) (PNOp, error) {
	r := codec.NewReader(data, codec.KindPNOp, lim)
	checkTable(r, 1)
	v := PNOp{Replica: vclock.ReplicaID(r.CanonicalReplica()), P: r.CanonicalUint(), N: r.CanonicalUint()}
	if r.Err() == nil {
		if why := v.invalid(); why != "" {
			r.Fail("%s", why)
		}
	}
	if err := r.Done(); err != nil {
		return PNOp{}, err
	}
	return v, nil
}

// MergeBinary decodes a state or delta encoded by [G.MarshalBinary] and
// merges it into g (see [G.Merge]). It reports whether g's state changed,
// which for a G is whether its value changed unless the value is saturated.
// On error g is unchanged and the error is a [*codec.DecodeError].
func (g *G) MergeBinary(state []byte) (changed bool, err error) {
	d, err := decodeG(state, g.lim)
	if err != nil {
		return false, err
	}
	return g.merge(d), nil
}

// ApplyBinary decodes an op encoded by [GOp.MarshalBinary] and applies it
// (see [G.Apply]). It reports whether g's state changed. On error g is
// unchanged and the error is a [*codec.DecodeError].
func (g *G) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeGOp(op, g.lim)
	if err != nil {
		return false, err
	}
	return g.apply(o)
}

// ApplyBinaryFrom is [G.ApplyBinary] for an op received from replica from:
// it refuses, changing nothing, an op that carries the total of any other
// replica, with an error wrapping [vclock.ErrForeignWrite]. A replica may
// only speak for itself, so no peer can raise another replica's total (and
// with it the value) or make that replica's own increments overflow.
func (g *G) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeGOp(op, g.lim)
	if err != nil {
		return false, err
	}
	if !o.Replica.WritesFor(from) {
		return false, fmt.Errorf("counter: G-counter op of replica %q received from %q: %w", o.Replica, from, vclock.ErrForeignWrite)
	}
	return g.apply(o)
}

// VersionBinary encodes [G.Version] as a [vclock.Clock] message.
func (g *G) VersionBinary() ([]byte, error) {
	v := g.Version()
	return v.MarshalBinary()
}

// DeltaSinceBinary decodes a version encoded by [G.VersionBinary] (or any
// [vclock.Clock] message) and returns [G.DeltaSince] of it, encoded like
// [G.MarshalBinary]. A bad version yields a [*codec.DecodeError].
func (g *G) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := decodeVersion(version, g.lim)
	if err != nil {
		return nil, err
	}
	return g.DeltaSince(v).MarshalBinary()
}

// MergeBinary decodes a state or delta encoded by [PN.MarshalBinary] and
// merges it into c (see [PN.Merge]). It reports whether c's state changed:
// the value may stay the same, for instance when a replica's +1 and -1
// arrive together. On error c is unchanged and the error is a
// [*codec.DecodeError].
func (c *PN) MergeBinary(state []byte) (changed bool, err error) {
	d, err := decodePN(state, c.lim)
	if err != nil {
		return false, err
	}
	return c.merge(d), nil
}

// ApplyBinary decodes an op encoded by [PNOp.MarshalBinary] and applies it
// (see [PN.Apply]). It reports whether c's state changed, which may leave
// its value the same. On error c is unchanged and the error is a
// [*codec.DecodeError].
func (c *PN) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodePNOp(op, c.lim)
	if err != nil {
		return false, err
	}
	return c.apply(o)
}

// ApplyBinaryFrom is [PN.ApplyBinary] for an op received from replica
// from: it refuses, changing nothing, an op that carries the totals of any
// other replica, with an error wrapping [vclock.ErrForeignWrite]. A replica
// may only speak for itself, so no peer can change another replica's
// totals (and with them the value) or make that replica's own changes
// overflow.
func (c *PN) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodePNOp(op, c.lim)
	if err != nil {
		return false, err
	}
	if !o.Replica.WritesFor(from) {
		return false, fmt.Errorf("counter: PN-counter op of replica %q received from %q: %w", o.Replica, from, vclock.ErrForeignWrite)
	}
	return c.apply(o)
}

// VersionBinary encodes [PN.Version] as a [vclock.Clock] message.
func (c *PN) VersionBinary() ([]byte, error) {
	v := c.Version()
	return v.MarshalBinary()
}

// DeltaSinceBinary decodes a version encoded by [PN.VersionBinary] (or any
// [vclock.Clock] message) and returns [PN.DeltaSince] of it, encoded like
// [PN.MarshalBinary]. A bad version yields a [*codec.DecodeError].
func (c *PN) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := decodeVersion(version, c.lim)
	if err != nil {
		return nil, err
	}
	return c.DeltaSince(v).MarshalBinary()
}

// decodeVersion decodes a [vclock.Clock] message, as [vclock.Clock]'s
// UnmarshalBinary does, but within lim. A counter's version counts are
// replicas' totals, not sequence numbers: counts up to math.MaxUint64 are
// valid, as no replica mints dots from them.
func decodeVersion(data []byte, lim codec.Limits) (vclock.Clock, error) {
	r := codec.NewReader(data, codec.KindClock, lim)
	v := vclock.DecodeTotals(r)
	if r.Err() == nil {
		ids, k := r.Replicas(), 0
		for id := range v.All() {
			if k >= len(ids) || ids[k] != string(id) {
				break
			}
			k++
		}
		if k != len(ids) || k != v.Len() {
			r.Fail("replica table is not the version's replicas in order")
		}
	}
	if err := r.Done(); err != nil {
		return vclock.Clock{}, err
	}
	return v, nil
}
