package vclock

import (
	"iter"
	"math"

	"github.com/activeactive/crdt/codec"
)

// tableIs reports whether the message's replica table is exactly the
// replicas of seq, in order: what the Writer builds for a standalone Clock
// or Context, whose entries name each replica once in increasing order.
func tableIs(r *codec.Reader, seq iter.Seq2[ReplicaID, uint64]) bool {
	ids := r.Replicas()
	k := 0
	for id := range seq {
		if k >= len(ids) || ids[k] != string(id) {
			return false
		}
		k++
	}
	return k == len(ids)
}

// Encode writes c into a message being built, as an array of replica,
// count pairs. Data types embed their version vectors this way.
func (c Clock) Encode(w *codec.Writer) {
	w.Array(2 * len(c.e))
	for _, e := range c.e {
		w.Replica(string(e.id))
		w.Uint(e.n)
	}
}

// DecodeClock reads a Clock written by [Clock.Encode]. It records a problem
// on r if the replicas are not in strictly increasing order, a count is zero
// or above [MaxSeq], or an integer or header is not in its shortest form, so every Clock has
// exactly one encoding.
func DecodeClock(r *codec.Reader) Clock { return decodeClock(r, MaxSeq) }

// DecodeTotals is [DecodeClock] for a version whose counts are totals, not
// sequence numbers (a counter's, whose version counts what each replica
// added): it takes counts up to math.MaxUint64. No dot is ever minted from
// such a count, so [MaxSeq] does not bound it.
func DecodeTotals(r *codec.Reader) Clock { return decodeClock(r, math.MaxUint64) }

// decodeClock is DecodeClock with counts up to top.
func decodeClock(r *codec.Reader, top uint64) Clock {
	n := r.CanonicalArrayLen(1) // every field, replica index or count, takes at least one byte
	if n%2 != 0 {
		r.Fail("version vector with an odd number of fields (%d)", n)
		return Clock{}
	}
	var c Clock
	if n > 0 {
		// The count is bounded by the input, but is not yet borne out by
		// it: reserve a little, and grow with what is really there.
		c.e = make([]entry, 0, min(n/2, 64))
	}
	for range n / 2 {
		id := ReplicaID(r.CanonicalReplica())
		cnt := r.CanonicalUint()
		if r.Err() != nil {
			return Clock{}
		}
		if cnt == 0 || cnt > top {
			r.Fail("count %d for replica %q", cnt, id)
			return Clock{}
		}
		if k := len(c.e); k > 0 && c.e[k-1].id >= id {
			r.Fail("replica %q out of order in version vector", id)
			return Clock{}
		}
		c.e = append(c.e, entry{id, cnt})
	}
	return c
}

// MarshalBinary encodes c as a standalone message.
func (c Clock) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindClock, 4+12*len(c.e))
	c.Encode(w)
	return w.Bytes()
}

// UnmarshalBinary decodes a message written by [Clock.MarshalBinary] into c.
// On error c is left unchanged and the error is a [*codec.DecodeError].
func (c *Clock) UnmarshalBinary(data []byte) error {
	v, err := UnmarshalClock(data, codec.Limits{})
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// UnmarshalClock decodes a message written by [Clock.MarshalBinary] within
// the limits lim (zero fields take [codec.DefaultLimits]' values), for a
// data type that decodes a peer's version with the limits it was given. A
// decoding error is a [*codec.DecodeError].
func UnmarshalClock(data []byte, lim codec.Limits) (Clock, error) {
	r := codec.NewReader(data, codec.KindClock, lim)
	v := DecodeClock(r)
	if r.Err() == nil && !tableIs(r, v.All()) {
		r.Fail("replica table is not the clock's replicas in order")
	}
	if err := r.Done(); err != nil {
		return Clock{}, err
	}
	return v, nil
}

// UnmarshalTotals is [UnmarshalClock] for a version whose counts are
// totals (see [DecodeTotals]): it takes counts up to math.MaxUint64.
func UnmarshalTotals(data []byte, lim codec.Limits) (Clock, error) {
	r := codec.NewReader(data, codec.KindClock, lim)
	v := DecodeTotals(r)
	if r.Err() == nil && !tableIs(r, v.All()) {
		r.Fail("replica table is not the clock's replicas in order")
	}
	if err := r.Done(); err != nil {
		return Clock{}, err
	}
	return v, nil
}

// ReplicaIDs returns the replicas the context holds events of, in the
// order [Context.Encode] names them (increasing): the replica table of a
// message that starts with the context, for [codec.Writer.Table].
func (c *Context) ReplicaIDs() []string {
	ids := make([]string, len(c.r))
	for i, e := range c.r {
		ids[i] = string(e.id)
	}
	return ids
}

// Encode writes c into a message being built: an array with, for each
// replica, an array of the replica, its compact count, and the bounds of
// each out-of-order run.
func (c *Context) Encode(w *codec.Writer) {
	w.Array(len(c.r))
	for _, e := range c.r {
		w.Array(2 + 2*len(e.extra))
		w.Replica(string(e.id))
		w.Uint(e.max)
		for _, s := range e.extra {
			w.Uint(s.lo)
			w.Uint(s.hi)
		}
	}
}

// DecodeContext reads a Context written by [Context.Encode], checking that
// it is in its one canonical form: shortest integers and headers, replicas
// in increasing order, runs sorted, disjoint, not touching each other or the
// compact count. A sequence number above [MaxSeq] is refused.
func DecodeContext(r *codec.Reader) Context {
	n := r.CanonicalArrayLen(3)
	var c Context
	if n > 0 {
		c.r = make([]ctxEntry, 0, min(n, 64)) // grown with what is really there
	}
	for range n {
		m := r.CanonicalArrayLen(1)
		if r.Err() != nil {
			return Context{}
		}
		if m < 2 || m%2 != 0 {
			r.Fail("causal context entry with %d fields", m)
			return Context{}
		}
		id := ReplicaID(r.CanonicalReplica())
		e := ctxEntry{id: id, max: r.CanonicalUint()}
		if r.Err() == nil && e.max > MaxSeq {
			r.Fail("count %d for replica %q above the largest sequence number", e.max, id)
			return Context{}
		}
		if k := len(c.r); r.Err() == nil && k > 0 && c.r[k-1].id >= e.id {
			r.Fail("replica %q out of order in causal context", e.id)
			return Context{}
		}
		if k := (m - 2) / 2; k > 0 {
			e.extra = make([]span, 0, min(k, 64))
		}
		prev := e.max
		for range (m - 2) / 2 {
			lo := r.CanonicalUint()
			s := span{lo, r.CanonicalUint()}
			if r.Err() != nil {
				return Context{}
			}
			// lo-1 <= prev rather than lo <= prev+1: prev may be 2⁶⁴-1.
			if s.lo == 0 || s.lo > s.hi || s.lo-1 <= prev || s.hi > MaxSeq {
				r.Fail("run %d-%d of replica %q out of order", s.lo, s.hi, e.id)
				return Context{}
			}
			e.extra = append(e.extra, s)
			prev = s.hi
		}
		if r.Err() != nil {
			return Context{}
		}
		if e.max == 0 && len(e.extra) == 0 {
			r.Fail("empty causal context entry for replica %q", e.id)
			return Context{}
		}
		c.r = append(c.r, e)
	}
	return c
}

// MarshalBinary encodes c as a standalone message.
func (c *Context) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindContext, 4+16*len(c.r))
	c.Encode(w)
	return w.Bytes()
}

// UnmarshalBinary decodes a message written by [Context.MarshalBinary] into
// c. On error c is left unchanged and the error is a [*codec.DecodeError].
func (c *Context) UnmarshalBinary(data []byte) error {
	r := codec.NewReader(data, codec.KindContext, codec.Limits{})
	v := DecodeContext(r)
	if r.Err() == nil && !tableIs(r, func(yield func(ReplicaID, uint64) bool) {
		for _, e := range v.r {
			if !yield(e.id, 0) {
				return
			}
		}
	}) {
		r.Fail("replica table is not the context's replicas in order")
	}
	if err := r.Done(); err != nil {
		return err
	}
	*c = v
	return nil
}
