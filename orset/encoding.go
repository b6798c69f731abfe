package orset

import (
	"errors"
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Wire format.
//
// A state (codec.KindSet) is the dot store of package dotkernel: an array
// of the causal context, the number of elements, the elements grouped by
// the replica of their dot in increasing order of sequence number (each
// written as its step from the previous number, one byte for a run of
// adds, then the element), and, when there are any, the drop records and
// the horizon. The replica table lists exactly the replicas of the causal
// context, in increasing order.
//
// An op is not an array but a short sequence of values after the header,
// so that a one-element add costs few bytes:
//
//	add (codec.KindSetAdd):       element, seq [, dropped]
//	remove (codec.KindSetRemove): element, seq, dropped
//	no-op (codec.KindSetRemove):  element
//
// The op's own replica is not written in the body: it is the first entry
// of the replica table (a one-entry table is a bare string). seq is the
// sequence number of the op's dot; dropped is an array of the dropped dots
// as replica-index, sequence-number pairs, sorted, written for an add only
// when it dropped something. A no-op has an empty replica table. The
// table lists the op's replica and then the other replicas of dropped, in
// order of first use.
//
// Integers and headers always take their shortest form, and so do
// elements of the types codec.PutValue writes itself (strings, integers,
// booleans; floats are always float64), so a value has exactly one
// encoding. (codec.Reader's Canonical methods refuse any other form.)

// plainElem reports whether every value of E can be encoded and is an
// element as it is: E is one of the types checkElem lets through without
// trying. (Not float64: a NaN is refused, and −0 made +0.)
func plainElem[E comparable]() bool {
	var zero E
	switch any(zero).(type) {
	case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	}
	return false
}

// checkElem returns e in its one form as an element (see
// codec.CanonicalKey: every floating-point zero +0), or why it cannot be
// one: it holds a NaN, which is not equal to itself and so could never
// be found or removed, or it cannot be encoded. The types codec.PutValue
// writes itself always can be encoded; any other is tried.
func checkElem[E comparable](e E) (E, error) {
	k, err := codec.CanonicalKey(e)
	if err != nil {
		return e, fmt.Errorf("%w: element %v: %w", ErrInvalidOp, e, err)
	}
	switch any(k).(type) {
	case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float64:
		return k, nil
	}
	w := codec.NewWriter(codec.KindSetAdd, 16)
	putElem(w, k)
	if _, err := w.Bytes(); err != nil {
		return e, fmt.Errorf("%w: element %v cannot be encoded: %w", ErrInvalidOp, e, err)
	}
	return k, nil
}

// putElem writes an element.
func putElem[E comparable](w *codec.Writer, e E) { codec.PutValue(w, e) }

// getElem reads an element and, for the types codec.PutValue writes
// itself (strings, integers, booleans, floats), holds it to the one form
// putElem writes. An element holding a NaN is refused (it could never be
// found or removed); one holding −0 is taken as +0, as [Set.Add] makes it
// (see checkElem).
func getElem[E comparable](r *codec.Reader) E {
	e := codec.GetCanonicalValue[E](r)
	if r.Err() != nil {
		return e
	}
	k, err := codec.CanonicalKey(e)
	if err != nil {
		r.Fail("element %v: %v", e, err)
		var zero E
		return zero
	}
	return k
}

// chunkCopy is how many bytes of a message chunkedStrings copies at once.
const chunkCopy = 1024

// chunkedStrings returns a reader of elements, for the message rd reads,
// that, when E is string, copies the message's bytes into strings of about chunkCopy bytes and
// cuts each element from one of them, instead of allocating each element
// on its own: a state of many short strings decodes with one allocation
// per chunk rather than per element. An element keeps its chunk alive, so
// it is used only where every element decoded is kept (UnmarshalBinary):
// the memory held beyond the elements' own bytes is then the message's
// other bytes, and at most a chunk per element once most are removed.
// For any other E it is getElem.
func chunkedStrings[E comparable](rd *codec.Reader) func(*codec.Reader) E {
	data := rd.Message() // the plain message, if the input was compressed
	var probe E
	if _, ok := any(&probe).(*string); !ok {
		return getElem[E]
	}
	var chunk string // a copy of data[at : at+len(chunk)]
	at := 0
	return func(r *codec.Reader) E {
		var e E
		b := r.CanonicalStringBytes()
		if r.Err() != nil {
			return e
		}
		n := len(b)
		off := len(data) - r.Remaining() - n // where the bytes start
		if off < at || off+n > at+len(chunk) {
			at = off
			chunk = string(data[off:min(len(data), off+max(n, chunkCopy))])
		}
		*any(&e).(*string) = chunk[off-at : off-at+n]
		return e
	}
}

// noVal marks that the store's values (struct{}) are not written.
var noVal func(*codec.Reader) struct{}

// MarshalBinary encodes the set's state: its elements with their dots, its
// causal context and its drop records (not its replica ID). The bytes
// depend only on the state, never on map iteration order.
func (s *Set[E]) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindSet, 0) // sized by Encode
	// No function for the elements: Encode writes them as putElem does,
	// strings without a call per element.
	s.k.Encode(w, nil, nil)
	return w.Bytes()
}

// decodeState decodes a state written by [Set.MarshalBinary], checking
// everything before returning. If whole, every element is kept (the state
// replaces the set's), and string elements are cut from shared copies of
// the message (see chunkedStrings).
func decodeState[E comparable](data []byte, whole bool, lim codec.Limits) (*dotkernel.Kernel[E, struct{}], error) {
	r := codec.NewReader(data, codec.KindSet, lim)
	getKey := getElem[E]
	if whole {
		getKey = chunkedStrings[E](r)
	}
	k := dotkernel.Decode(r, getKey, noVal)
	k.CheckContextTable(r)
	if err := r.Done(); err != nil {
		return nil, err
	}
	// The encoder's kernel recorded every mutation that dropped dots; the
	// decoder checked that the records it kept are consistent.
	k.RecordsAll = true
	return k, nil
}

// UnmarshalBinary replaces the set's state with one encoded by
// [Set.MarshalBinary], keeping its replica ID: use it to restore a
// replica's own saved state. To take in another replica's state use
// [Set.MergeBinary].
//
// String elements are not allocated one by one: they are cut from copies
// of the message made about a kilobyte at a time, so a decoded element
// keeps up to a kilobyte of such a copy alive (shared with the elements
// next to it) for as long as the set holds it. data itself is not
// retained.
//
// On error the set is unchanged and the error is a [*codec.DecodeError].
func (s *Set[E]) UnmarshalBinary(data []byte) error {
	k, err := decodeState[E](data, true, s.lim)
	if err != nil {
		return err
	}
	k.MaxRecords = s.k.MaxRecords
	s.k = *k
	return nil
}

// MergeBinary decodes a state or delta encoded by [Set.MarshalBinary] and
// merges it in, like [Set.Merge]. It reports whether the set's elements
// changed. On error the set is unchanged and the error is a
// [*codec.DecodeError].
func (s *Set[E]) MergeBinary(state []byte) (changed bool, err error) {
	k, err := decodeState[E](state, false, s.lim)
	if err != nil {
		return false, err
	}
	return s.k.Join(k), nil
}

// HealBinary decodes a state encoded by [Set.MarshalBinary] and merges
// it in with [Set.Heal]. It reports whether the set's elements changed.
// On error the set is unchanged and the error is a [*codec.DecodeError].
// It implements crdt.Healer: the replication engine merges a peer's state
// with it while that peer's digest shows the set diverged.
func (s *Set[E]) HealBinary(state []byte) (changed bool, err error) {
	k, err := decodeState[E](state, false, s.lim)
	if err != nil {
		return false, err
	}
	return s.k.Heal(k), nil
}

// ApplyBinary decodes an op encoded by [Op.MarshalBinary] and applies it,
// like [Set.Apply]. It reports whether the op's element was added or
// removed by it. On error the set is unchanged and the error is a
// [*codec.DecodeError].
func (s *Set[E]) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeOp[E](op, s.lim)
	if err != nil {
		return false, err
	}
	return s.apply(o)
}

// ApplyBinaryFrom is [Set.ApplyBinary] for an op received from the
// replica from (the authenticated sender): the op must be from's own
// write. An add or remove whose dot names another replica is refused with
// an error wrapping [vclock.ErrForeignWrite], and the set is unchanged.
// The dots a remove (or a re-add) drops may be any replica's: they are
// what from had seen, not writes; but a dot of another replica that this
// set has not seen yet is refused with an error wrapping
// [vclock.ErrUnseen], and the set is unchanged, until it has (the engine
// has the op sent again). A no-op carries no write and is accepted from
// anyone.
func (s *Set[E]) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeOp[E](op, s.lim)
	if err != nil {
		return false, err
	}
	if o.kind != opNoop && !o.dot.Replica.WritesFor(from) {
		return false, fmt.Errorf("orset: op %v received from %q: %w", o.dot, from, vclock.ErrForeignWrite)
	}
	for _, d := range o.drops() {
		if d.Replica.Name() != from.Name() && !s.k.Context().Contains(d) {
			return false, fmt.Errorf("orset: op %v received from %q drops %v: %w", o.dot, from, d, vclock.ErrUnseen)
		}
	}
	return s.apply(o)
}

// VersionBinary encodes the set's [Set.Version], as
// [vclock.Clock.MarshalBinary] does.
func (s *Set[E]) VersionBinary() ([]byte, error) {
	return s.k.Version().MarshalBinary()
}

// DeltaSinceBinary decodes a version encoded by [Set.VersionBinary] (or
// [vclock.Clock.MarshalBinary]) and returns [Set.DeltaSince] of it,
// encoded by [Set.MarshalBinary]. A decoding error is a
// [*codec.DecodeError].
func (s *Set[E]) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := vclock.UnmarshalClock(version, s.lim)
	if err != nil {
		return nil, err
	}
	return s.DeltaSince(v).MarshalBinary()
}

// CollectBinary decodes the versions of every peer, encoded by
// [Set.VersionBinary], and calls [Set.Collect] with the meet of those
// versions and the set's own. If any version fails to decode it returns
// the [*codec.DecodeError] and discards nothing.
func (s *Set[E]) CollectBinary(peerVersions [][]byte) error {
	stable := s.k.Version()
	for _, b := range peerVersions {
		v, err := vclock.UnmarshalClock(b, s.lim)
		if err != nil {
			return err
		}
		stable.Meet(v)
	}
	s.Collect(stable)
	return nil
}

// MarshalBinary encodes the op. An invalid op (see [Set.Apply]) cannot be
// encoded: the error matches [ErrInvalidOp].
func (op Op[E]) MarshalBinary() ([]byte, error) {
	if err := op.check(); err != nil {
		return nil, err
	}
	if op.kind == opNoop {
		w := codec.NewWriter(codec.KindSetRemove, 16)
		putElem(w, op.elem)
		return w.Bytes()
	}
	kind := codec.KindSetAdd
	if op.kind == opRemove {
		kind = codec.KindSetRemove
	}
	w := codec.NewWriter(kind, 24+10*op.numDrops())
	// The op's replica is the first table entry, named by no reference.
	w.Table(string(op.dot.Replica))
	putElem(w, op.elem)
	w.Uint(op.dot.Seq)
	if op.own != 0 {
		w.Array(2)
		w.Replica(string(op.dot.Replica))
		w.Uint(op.own)
	} else if len(op.dropped) > 0 {
		w.Array(2 * len(op.dropped))
		for _, d := range op.dropped {
			w.Replica(string(d.Replica))
			w.Uint(d.Seq)
		}
	}
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [Op.MarshalBinary] into op. On
// error op is unchanged and the error is a [*codec.DecodeError].
func (op *Op[E]) UnmarshalBinary(data []byte) error {
	o, err := decodeOp[E](data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = o
	return nil
}

func decodeOp[E comparable](data []byte, lim codec.Limits) (Op[E], error) {
	kind := codec.KindSetAdd
	r := codec.NewReader(data, kind, lim)
	if errors.Is(r.Err(), codec.ErrKind) {
		if r2 := codec.NewReader(data, codec.KindSetRemove, lim); !errors.Is(r2.Err(), codec.ErrKind) {
			r, kind = r2, codec.KindSetRemove
		}
	}
	op := getOp[E](r, kind)
	if err := r.Done(); err != nil {
		return Op[E]{}, err
	}
	return op, nil
}

func getOp[E comparable](r *codec.Reader, kind codec.Kind) Op[E] {
	ids := r.Replicas()
	elem := getElem[E](r)
	if r.Err() != nil {
		return Op[E]{}
	}
	if kind == codec.KindSetRemove && len(ids) == 0 && r.Remaining() == 0 {
		return Op[E]{kind: opNoop, elem: elem}
	}
	if len(ids) == 0 {
		r.Fail("op with an empty replica table")
		return Op[E]{}
	}
	op := Op[E]{kind: opAdd, elem: elem}
	if kind == codec.KindSetRemove {
		op.kind = opRemove
	}
	op.dot = vclock.Dot{Replica: vclock.ReplicaID(ids[0]), Seq: r.CanonicalUint()}
	if r.Err() != nil {
		return Op[E]{}
	}
	if op.dot.Seq == 0 || op.dot.Seq > vclock.MaxSeq {
		r.Fail("op with sequence number %d", op.dot.Seq)
		return Op[E]{}
	}
	if op.kind == opAdd && r.Remaining() == 0 {
		if len(ids) != 1 {
			r.Fail("replica table %q names more than the op's replica", ids)
			return Op[E]{}
		}
		return op
	}
	n := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return Op[E]{}
	}
	if n == 0 || n%2 != 0 {
		r.Fail("dropped dots written as %d values", n)
		return Op[E]{}
	}
	op.dropped = make([]vclock.Dot, 0, n/2)
	table := []vclock.ReplicaID{op.dot.Replica}
	for range n / 2 {
		d := dotkernel.GetDot(r)
		if r.Err() != nil {
			return Op[E]{}
		}
		if k := len(op.dropped); k > 0 && op.dropped[k-1].Compare(d) >= 0 {
			r.Fail("dropped dot %v out of order", d)
			return Op[E]{}
		}
		if d.Replica == op.dot.Replica && d.Seq >= op.dot.Seq {
			r.Fail("%v drops the later dot %v", op.dot, d)
			return Op[E]{}
		}
		// The dots are sorted, so a replica of dropped, once passed, never
		// comes back: only the op's own replica may be met again.
		if d.Replica != table[len(table)-1] && d.Replica != table[0] {
			table = append(table, d.Replica)
		}
		op.dropped = append(op.dropped, d)
	}
	if !dotkernel.TableIs(r, table) {
		r.Fail("replica table %q, want %q", ids, table)
		return Op[E]{}
	}
	return op
}
