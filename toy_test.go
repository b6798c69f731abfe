package crdt_test

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// gset is a small grow-only set with dots, written for the engine's tests
// so that they do not depend on the real data types: every add has a dot,
// its version is its context, and DeltaSince ships the adds a version lacks.
type gset struct {
	id crdt.ReplicaID
	dotted
	// legacy makes SetWriter do nothing, as for a user's type that writes
	// under the bare replica ID whatever happened to its disk.
	legacy bool
}

// SetWriter makes the set write under w from now on.
func (s *gset) SetWriter(w crdt.ReplicaID) {
	if !s.legacy {
		s.id = w
	}
}

// dotted is what the engine tests' toy types (gset, rset) hold alike:
// elements with their dots, and the context of every dot seen.
type dotted struct {
	ctx   vclock.Context
	elems map[string]vclock.Dot
}

// Elems returns the elements, sorted.
func (s *dotted) Elems() []string { return slices.Sorted(maps.Keys(s.elems)) }

// VersionBinary encodes the version: the context's.
func (s *dotted) VersionBinary() ([]byte, error) { return s.ctx.Version().MarshalBinary() }

const kindToy = codec.KindUser

func newGSet(id crdt.ReplicaID) *gset {
	return &gset{id: id, dotted: dotted{elems: map[string]vclock.Dot{}}}
}

type gsetOp struct {
	elem string
	dot  vclock.Dot
}

func (o gsetOp) MarshalBinary() ([]byte, error) { return encodeElemOp(kindToy+1, o.elem, o.dot) }

// encodeElemOp writes an op of the toy types: a message of kind holding
// an element, then its dots.
func encodeElemOp(kind codec.Kind, elem string, dots ...vclock.Dot) ([]byte, error) {
	w := codec.NewWriter(kind, 16*len(dots))
	w.String(elem)
	for _, d := range dots {
		wire.PutDot(w, d)
	}
	return w.Bytes()
}

// decodeElemOp reads an op written by encodeElemOp with as many dots as
// it is given places for, and returns its element.
func decodeElemOp(b []byte, kind codec.Kind, dots ...*vclock.Dot) (string, error) {
	r := codec.NewReader(b, kind, codec.Limits{})
	e := r.String()
	for _, d := range dots {
		*d = wire.GetDot(r)
	}
	return e, r.Done()
}

func (s *gset) Add(e string) crdt.Op {
	if _, ok := s.elems[e]; ok {
		return nil
	}
	d := s.ctx.Next(s.id)
	s.ctx.Add(d)
	s.elems[e] = d
	return gsetOp{e, d}
}

func (s *gset) Has(e string) bool { _, ok := s.elems[e]; return ok }

func (s *gset) insert(e string, d vclock.Dot) bool {
	if s.ctx.Contains(d) {
		return false
	}
	s.ctx.Add(d)
	if old, ok := s.elems[e]; ok && old.Compare(d) <= 0 {
		return false
	}
	_, had := s.elems[e]
	s.elems[e] = d
	return !had
}

func (s *gset) ApplyBinary(b []byte) (bool, error) {
	var d vclock.Dot
	e, err := decodeElemOp(b, kindToy+1, &d)
	if err != nil {
		return false, err
	}
	return s.insert(e, d), nil
}

func (s *gset) encode(elems map[string]vclock.Dot, ctx *vclock.Context) ([]byte, error) {
	w := codec.NewWriter(kindToy, 64)
	ctx.Encode(w)
	putElems(w, elems)
	return w.Bytes()
}

// putElems writes elements with their dots, sorted by element, as one
// array of three values an element: the element, its dot's replica and
// sequence number. The engine tests' toy types (gset, rset) share it.
func putElems(w *codec.Writer, elems map[string]vclock.Dot) {
	keys := slices.Sorted(maps.Keys(elems))
	w.Array(3 * len(keys))
	for _, k := range keys {
		w.String(k)
		wire.PutDot(w, elems[k])
	}
}

// elemDot is an element with its dot, as putElems writes them.
type elemDot struct {
	e string
	d vclock.Dot
}

// getElems reads elements written by putElems, in the order written.
func getElems(r *codec.Reader) []elemDot {
	var in []elemDot
	for range r.ArrayLen() / 3 {
		in = append(in, elemDot{r.String(), wire.GetDot(r)})
	}
	return in
}

// elemsSince decodes the version vb and returns the elements whose dots
// it lacks, with the version.
func elemsSince(elems map[string]vclock.Dot, vb []byte) (map[string]vclock.Dot, vclock.Clock, error) {
	var v vclock.Clock
	if err := v.UnmarshalBinary(vb); err != nil {
		return nil, v, err
	}
	out := map[string]vclock.Dot{}
	for e, d := range elems {
		if !v.Contains(d) {
			out[e] = d
		}
	}
	return out, v, nil
}

func (s *gset) MarshalBinary() ([]byte, error) { return s.encode(s.elems, &s.ctx) }

func (s *gset) MergeBinary(b []byte) (bool, error) {
	r := codec.NewReader(b, kindToy, codec.Limits{})
	ctx := vclock.DecodeContext(r)
	in := getElems(r)
	if err := r.Done(); err != nil {
		return false, err
	}
	changed := false
	for _, p := range in {
		_, had := s.elems[p.e]
		if old, ok := s.elems[p.e]; !ok || p.d.Compare(old) < 0 {
			s.elems[p.e] = p.d
		}
		changed = changed || !had
	}
	s.ctx.Merge(&ctx)
	return changed, nil
}

func (s *gset) DeltaSinceBinary(vb []byte) ([]byte, error) {
	delta, v, err := elemsSince(s.elems, vb)
	if err != nil {
		return nil, err
	}
	ctx := s.ctx.Since(v)
	return s.encode(delta, &ctx)
}

var _ crdt.DeltaObject = (*gset)(nil)

// Fingerprint hashes every element with its dot, order-independently. (A
// real type keeps it up to date in O(1) per change; the toy recomputes it.)
func (s *gset) Fingerprint() uint64 {
	var sum uint64
	for e, d := range s.elems {
		h := fnv.New64a()
		h.Write([]byte(e))
		h.Write([]byte{0})
		h.Write([]byte(d.String()))
		sum += h.Sum64()
	}
	return sum
}

var _ crdt.Fingerprinter = (*gset)(nil)

// HasGaps reports whether the set holds adds past a gap in their writer's
// sequence, which its version leaves out.
func (s *gset) HasGaps() bool { return !s.ctx.IsCompact() }

var _ crdt.GapReporter = (*gset)(nil)

// ChunksBinary cuts the set's state (version nil) or delta into parts of
// at most max bytes: runs of elements, each with a context of just their
// dots (a grow-only set has no removal to hide), then the rest of the
// context. The parts go in any order but the last.
func (s *gset) ChunksBinary(vb []byte, max int) ([][]byte, int, error) {
	elems, ctx := s.elems, s.ctx.Clone()
	if vb != nil {
		var v vclock.Clock
		var err error
		if elems, v, err = elemsSince(s.elems, vb); err != nil {
			return nil, 0, err
		}
		ctx = s.ctx.Since(v)
	}
	var parts [][]byte
	var run map[string]vclock.Dot
	var runCtx vclock.Context
	size := 0
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		b, err := s.encode(run, &runCtx)
		if err != nil {
			return err
		}
		if len(b) > max {
			return fmt.Errorf("gset: a part of %d bytes, max %d", len(b), max)
		}
		parts = append(parts, b)
		run, runCtx, size = nil, vclock.Context{}, 0
		return nil
	}
	for _, e := range slices.Sorted(maps.Keys(elems)) {
		n := len(e) + len(s.id) + 40
		if size+n > max-64 {
			if err := flush(); err != nil {
				return nil, 0, err
			}
		}
		if run == nil {
			run = map[string]vclock.Dot{}
		}
		run[e] = elems[e]
		runCtx.Add(elems[e])
		size += n
	}
	if err := flush(); err != nil {
		return nil, 0, err
	}
	last, err := s.encode(nil, &ctx)
	if err != nil {
		return nil, 0, err
	}
	if len(last) > max {
		return nil, 0, fmt.Errorf("gset: a context of %d bytes, max %d", len(last), max)
	}
	return append(parts, last), len(parts), nil
}

// MergeChunkBinary merges a part: a state like any other.
func (s *gset) MergeChunkBinary(b []byte) (bool, error) { return s.MergeBinary(b) }

var _ crdt.Chunker = (*gset)(nil)

// Retire renames a finished writer's dots (see crdt.Retirer). An element
// keeps one dot, the smallest it was added under; renaming may change which
// of two dots is the smaller, but every replica renames alike, so they
// still agree.
func (s *gset) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	for e, d := range s.elems {
		s.elems[e] = r.Dot(d)
	}
	s.ctx.Retire(r)
	return nil
}

var _ crdt.Retirer = (*gset)(nil)
