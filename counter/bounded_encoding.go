package counter

import (
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Wire format of the bounded counter, version 1, after the codec header
// (format version, kind, replica table), every integer in its shortest form:
//
//	state   floor, array of n entries (replicas increasing)
//	op      one entry
//	entry   array of 5: replica, P, N, In, Out, or, if the entry asked
//	        for rights, array of 6: replica, P, N, In, Out, Ask
//	In, Out, Ask  array of 2k: replica, total (replicas increasing, totals > 0)

func putEntry(w *codec.Writer, e BoundedOp) {
	lists := [][]Rights{e.In, e.Out, e.Ask}
	if len(e.Ask) == 0 {
		lists = lists[:2]
	}
	w.Array(3 + len(lists))
	w.Replica(string(e.Replica))
	w.Uint(e.P)
	w.Uint(e.N)
	for _, rs := range lists {
		w.Array(2 * len(rs))
		for _, r := range rs {
			w.Replica(string(r.Replica))
			w.Uint(r.Total)
		}
	}
}

// getEntry reads an entry written by putEntry, in its one canonical form,
// and checks it as [BoundedOp] ops are checked.
func getEntry(r *codec.Reader) BoundedOp {
	fields := r.CanonicalArrayLen(1)
	if r.Err() == nil && fields != 5 && fields != 6 {
		r.Fail("bounded counter entry of %d fields, not 5 or 6", fields)
	}
	op := BoundedOp{Replica: vclock.ReplicaID(r.CanonicalReplica()), P: r.CanonicalUint(), N: r.CanonicalUint()}
	op.In = getRights(r)
	op.Out = getRights(r)
	if fields == 6 {
		op.Ask = getRights(r)
		if r.Err() == nil && len(op.Ask) == 0 {
			r.Fail("bounded counter entry with an empty list of requests") // its one form has 5 fields
		}
	}
	if r.Err() != nil {
		return BoundedOp{}
	}
	if why := op.invalid(); why != "" {
		r.Fail("%s", why)
		return BoundedOp{}
	}
	return op
}

func getRights(r *codec.Reader) []Rights {
	n := r.CanonicalArrayLen(1)
	if r.Err() == nil && n%2 != 0 {
		r.Fail("rights list of %d fields, not an even number", n)
	}
	var rs []Rights
	for range n / 2 {
		x := Rights{Replica: vclock.ReplicaID(r.CanonicalReplica()), Total: r.CanonicalUint()}
		if r.Err() != nil {
			return nil
		}
		rs = append(rs, x)
	}
	return rs
}

// MarshalBinary encodes b's state: its floor and every replica's entry.
// b's own replica ID is not part of it.
func (b *Bounded) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindBounded, 16+16*len(b.e))
	w.Int(b.floor)
	ids := b.sortedIDs()
	w.Array(len(ids))
	for _, id := range ids {
		putEntry(w, b.e[id].op())
	}
	return w.Bytes()
}

// UnmarshalBinary replaces b's state (floor included) with one encoded by
// [Bounded.MarshalBinary], keeping b's own replica ID: restoring a saved
// state is NewBounded(id, floor).UnmarshalBinary(saved). On error b is
// unchanged and the error is a [*codec.DecodeError].
func (b *Bounded) UnmarshalBinary(data []byte) error {
	d, err := decodeBounded(data, b.lim)
	if err != nil {
		return err
	}
	b.floor, b.e, b.live, b.fp, b.twins = d.floor, d.e, d.live, d.fp, nil
	b.own = b.e[b.id]
	return nil
}

// decodeBounded decodes a state in its one canonical form: replicas in
// increasing order, each entry one a real history can produce.
func decodeBounded(data []byte, lim codec.Limits) (*Bounded, error) {
	r := codec.NewReader(data, codec.KindBounded, lim)
	d := &Bounded{floor: r.CanonicalInt()}
	n := r.CanonicalArrayLen(6)
	var last vclock.ReplicaID
	for k := range n {
		op := getEntry(r)
		if r.Err() != nil {
			break
		}
		if k > 0 && op.Replica <= last {
			r.Fail("replica %q out of order", op.Replica)
			break
		}
		last = op.Replica
		d.put(&bEntry{id: op.Replica, p: op.P, n: op.N, in: op.In, out: op.Out, ask: op.Ask})
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return d, nil
}

// MergeBinary decodes a state encoded by [Bounded.MarshalBinary] and merges
// it in, as [Bounded.Merge] does. A state of another floor, or that cannot
// be decoded, is refused with a [*codec.DecodeError] and b is unchanged.
func (b *Bounded) MergeBinary(state []byte) (changed bool, err error) {
	d, err := decodeBounded(state, b.lim)
	if err != nil {
		return false, err
	}
	if d.floor != b.floor {
		return false, &codec.DecodeError{Kind: codec.KindBounded, Reason: fmt.Sprintf("state of floor %d merged into a counter of floor %d", d.floor, b.floor), Err: codec.ErrMalformed}
	}
	return b.merge(d), nil
}

// MarshalBinary encodes op. An op with an empty Replica cannot be encoded:
// the error is a [*codec.EncodeError] matching [ErrInvalidOp].
func (op BoundedOp) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindBoundedOp, 16+16*(len(op.In)+len(op.Out)+len(op.Ask)))
	if op.Replica == "" {
		w.Fail(fmt.Errorf("%w: bounded counter op without a replica ID", ErrInvalidOp))
	}
	putEntry(w, op)
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [BoundedOp.MarshalBinary] into
// op, in its one canonical form. On error op is unchanged and the error is
// a [*codec.DecodeError].
func (op *BoundedOp) UnmarshalBinary(data []byte) error {
	v, err := decodeBoundedOp(data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = v
	return nil
}

func decodeBoundedOp(data []byte, lim codec.Limits) (BoundedOp, error) {
	r := codec.NewReader(data, codec.KindBoundedOp, lim)
	op := getEntry(r)
	if err := r.Done(); err != nil {
		return BoundedOp{}, err
	}
	return op, nil
}

// ApplyBinary decodes an op encoded by [BoundedOp.MarshalBinary] and
// applies it like [Bounded.Apply]. It reports whether b changed.
func (b *Bounded) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeBoundedOp(op, b.lim)
	if err != nil {
		return false, err
	}
	return b.apply(o, false)
}

// ApplyBinaryFrom is [Bounded.ApplyBinary] for an op received from the
// replica from: the entry must be one of from's writers'. An op of another
// replica's entry is refused with an error wrapping
// [vclock.ErrForeignWrite], and b is unchanged.
func (b *Bounded) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeBoundedOp(op, b.lim)
	if err != nil {
		return false, err
	}
	if !o.Replica.WritesFor(from) {
		return false, fmt.Errorf("counter: bounded counter entry of %q received from %q: %w", o.Replica, from, vclock.ErrForeignWrite)
	}
	return b.apply(o, false)
}
