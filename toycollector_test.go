package crdt_test

import (
	"maps"
	"slices"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// rset is a small observed-remove set written for the engine's tests, as
// a host would write its own crdt.Collector: every add and every remove
// has a dot; a remove keeps a record (its dot and the add's dot) for
// DeltaSince until every replica has seen it, and CollectBinary discards
// it then. Unlike the module's collectors, it keeps no record of how far
// it has collected: a DeltaSince of a version below a discarded record
// simply lacks it. So only the engine's own guard stands between a peer
// restored from an older backup and an element that was removed coming
// back.
type rset struct {
	id crdt.ReplicaID
	dotted
	recs map[vclock.Dot]vclock.Dot // a remove's dot -> the add it dropped
}

const kindRSet = codec.KindUser + 2

func newRSet(id crdt.ReplicaID) *rset {
	return &rset{id: id, dotted: dotted{elems: map[string]vclock.Dot{}}, recs: map[vclock.Dot]vclock.Dot{}}
}

// SetWriter makes the set write under w from now on.
func (s *rset) SetWriter(w crdt.ReplicaID) { s.id = w }

// rsetOp is an add (of elem, under dot) or a remove (dot, dropping add).
type rsetOp struct {
	elem     string
	dot, add vclock.Dot
}

func (o rsetOp) MarshalBinary() ([]byte, error) {
	return encodeElemOp(kindRSet+1, o.elem, o.dot, o.add)
}

// Add adds e (if absent) and returns its op.
func (s *rset) Add(e string) crdt.Op {
	if _, ok := s.elems[e]; ok {
		return nil
	}
	d := s.ctx.AddNext(s.id)
	s.elems[e] = d
	return rsetOp{elem: e, dot: d, add: d}
}

// Remove removes e (if present) and returns its op.
func (s *rset) Remove(e string) crdt.Op {
	add, ok := s.elems[e]
	if !ok {
		return nil
	}
	d := s.ctx.AddNext(s.id)
	delete(s.elems, e)
	s.recs[d] = add
	return rsetOp{elem: e, dot: d, add: add}
}

func (s *rset) ApplyBinary(b []byte) (bool, error) {
	var d, add vclock.Dot
	e, err := decodeElemOp(b, kindRSet+1, &d, &add)
	if err != nil {
		return false, err
	}
	if s.ctx.Contains(d) {
		return false, nil
	}
	s.ctx.Add(d)
	if d == add { // an add
		if _, ok := s.elems[e]; ok || s.recsDrop(add) {
			return false, nil
		}
		s.elems[e] = d
		return true, nil
	}
	s.ctx.Add(add)
	s.recs[d] = add
	if s.elems[e] == add {
		delete(s.elems, e)
		return true, nil
	}
	return false, nil
}

// recsDrop reports whether a remove record drops the add d.
func (s *rset) recsDrop(d vclock.Dot) bool {
	for _, add := range s.recs {
		if add == d {
			return true
		}
	}
	return false
}

// encode writes a state: the context, the elements (see putElems), the
// records (four values each: the remove's dot, then the add's).
func (s *rset) encode(elems map[string]vclock.Dot, ctx *vclock.Context, recs map[vclock.Dot]vclock.Dot) ([]byte, error) {
	w := codec.NewWriter(kindRSet, 64)
	ctx.Encode(w)
	putElems(w, elems)
	rd := slices.SortedFunc(maps.Keys(recs), vclock.Dot.Compare)
	w.Array(4 * len(rd))
	for _, d := range rd {
		wire.PutDot(w, d)
		wire.PutDot(w, recs[d])
	}
	return w.Bytes()
}

func (s *rset) MarshalBinary() ([]byte, error) { return s.encode(s.elems, &s.ctx, s.recs) }

// MergeBinary joins a state or delta: an element stays if both hold it
// or if the other side has not seen its add; a record drops its add.
func (s *rset) MergeBinary(b []byte) (bool, error) {
	r := codec.NewReader(b, kindRSet, codec.Limits{})
	ctx := vclock.DecodeContext(r)
	in := map[string]vclock.Dot{}
	for _, p := range getElems(r) {
		in[p.e] = p.d
	}
	recs := map[vclock.Dot]vclock.Dot{}
	for range r.ArrayLen() / 4 {
		d := wire.GetDot(r)
		recs[d] = wire.GetDot(r)
	}
	if err := r.Done(); err != nil {
		return false, err
	}
	changed := false
	for e, d := range s.elems {
		if ctx.Contains(d) && in[e] != d {
			delete(s.elems, e)
			changed = true
		}
	}
	for d, add := range recs {
		s.recs[d] = add
		for e, x := range s.elems {
			if x == add {
				delete(s.elems, e)
				changed = true
			}
		}
	}
	for e, d := range in {
		if _, ok := s.elems[e]; !ok && !s.ctx.Contains(d) && !s.recsDrop(d) {
			s.elems[e] = d
			changed = true
		}
	}
	s.ctx.Merge(&ctx)
	return changed, nil
}

// DeltaSinceBinary ships the adds and records a version lacks, with the
// part of the context above it.
func (s *rset) DeltaSinceBinary(vb []byte) ([]byte, error) {
	elems, v, err := elemsSince(s.elems, vb)
	if err != nil {
		return nil, err
	}
	recs := map[vclock.Dot]vclock.Dot{}
	for d, add := range s.recs {
		if !v.Contains(d) {
			recs[d] = add
		}
	}
	ctx := s.ctx.Since(v)
	return s.encode(elems, &ctx, recs)
}

// CollectBinary discards the records of removes every version holds.
func (s *rset) CollectBinary(versions [][]byte) error {
	stable := s.ctx.Version()
	for _, b := range versions {
		var v vclock.Clock
		if err := v.UnmarshalBinary(b); err != nil {
			return err
		}
		stable.Meet(v)
	}
	for d := range s.recs {
		if stable.Contains(d) {
			delete(s.recs, d)
		}
	}
	return nil
}

// Garbage reports the records held (see crdt.GarbageReporter).
func (s *rset) Garbage() (pending, collected uint64) { return uint64(len(s.recs)), 0 }

var _ crdt.Collector = (*rset)(nil)
