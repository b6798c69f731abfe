package lwwmap

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Parts.
//
// A part (see [Map.ChunksBinary]) is one byte saying what it carries,
// then a state as [Map.MarshalBinary] writes it:
//
//	partEntries (1): entries, with a context of exactly their dots, and
//	                 the drop records of their writes
//	partTTL (2):     no entries; expire and persist writes in force and
//	                 drop records (see ttl.go), with a context of exactly
//	                 their dots
//	partRemoved (3): no entries; a context of dots the sender has seen
//	                 and holds no entry of (overwritten or collected writes)
//	partGone (4):    no entries; the newest collected write of some
//	                 writers (see Map.DeltaSince), as the state's list of
//	                 them and, for the decoder's check, as its context
//
// Merging an entries part takes each entry as a merge does, and adds its
// dot to the context: a write's effect is its entry and the expire and
// persist writes its drop record names, both in the part, so the version
// claims nothing the map lacks. Merging a removed part drops the entries
// whose dots it names (their keys were overwritten by writes that the
// entries parts before it brought, or deleted and collected), as merging
// the whole would; it must come after every entries part, or a key could
// vanish for a while before its newer write arrives. Merging a gone part
// changes no content and no context: it adds to the map's list of
// collected writes (see takeGone), each of which the map must have seen,
// so it comes last.
const (
	partEntries = 1
	partTTL     = 2
	partRemoved = 3
	partGone    = 4
)

var errPartTooLarge = errors.New("an entry larger than a part")

// valueSize estimates the encoded size of a key or value.
func valueSize(x any) int {
	switch v := x.(type) {
	case string:
		return len(v) + 5
	case []byte:
		return len(v) + 5
	}
	return 16 // a guess; a part found too large is cut in two
}

// ChunksBinary returns the map's state (if version is nil) or its delta
// since the encoded version (as [Map.DeltaSinceBinary] takes it), cut
// into parts of at most limit bytes each, for [Map.MergeChunkBinary] to
// merge one at a time; or no parts if the whole fits in limit bytes, to
// be sent whole. Merging every part has the effect of merging the
// whole; each is safe to merge on its own. parts[:ordered] (the entries)
// go in any order; each later part only once every part before it is
// merged. An entry that does not fit in limit bytes on its own makes it
// fail.
func (m *Map[K, V]) ChunksBinary(version []byte, limit int) (parts [][]byte, ordered int, err error) {
	whole, err := m.toCut(version)
	if err != nil {
		return nil, 0, err
	}
	if whole.sizeAtMost() <= limit {
		return nil, 0, nil // it fits whole, most likely
	}
	return whole.cut(limit)
}

// FreezeChunks returns nil if the map's state (version nil) or its delta
// since version likely fits in limit bytes (as [Map.ChunksBinary] would
// find it), else a function that cuts a copy taken now: what
// ChunksBinary(version, limit) returns now, whatever happens to m after.
// The copy is the delta itself (what ChunksBinary would cut), or for a
// whole state a [Map.Clone], which costs a small part of the cut; so a
// replica holds its lock for the copy only, and a peer a few writes
// behind costs the few writes, not a copy of the map. The function may
// run on any goroutine, at the same time as writes to m. It implements
// crdt.ChunkFreezer.
func (m *Map[K, V]) FreezeChunks(version []byte, limit int) func() (parts [][]byte, ordered int, err error) {
	whole, err := m.toCut(version)
	if err != nil || whole.sizeAtMost() <= limit {
		return nil // ChunksBinary, called instead, tells the error
	}
	if whole == m {
		whole = m.Clone()
	}
	return func() ([][]byte, int, error) { return whole.cut(limit) }
}

// toCut returns what ChunksBinary(version, ...) cuts: m itself for a whole
// state, or its delta since the encoded version (a new map).
func (m *Map[K, V]) toCut(version []byte) (*Map[K, V], error) {
	if version == nil {
		return m, nil
	}
	v, err := vclock.UnmarshalClock(version, m.lim)
	if err != nil {
		return nil, err
	}
	return m.DeltaSince(v), nil
}

// sizeAtMost returns a generous estimate of the bytes m takes encoded,
// for telling cheaply whether it needs cutting into parts.
func (m *Map[K, V]) sizeAtMost() int {
	est := 64
	for k, e := range m.m.All() {
		est += valueSize(k) + valueSize(e.v) + 12
	}
	for range m.ctx.Ranges() {
		est += 20
	}
	for _, id := range m.reps {
		est += len(id) + 4
	}
	for k, ws := range m.ttl {
		est += len(ws) * (valueSize(k) + 24)
	}
	for _, rec := range m.drops {
		est += valueSize(rec.key) + 12 + 2*len(rec.dots)
	}
	return est
}

// cut is ChunksBinary's cut of m, a state or a delta, into parts of at
// most limit bytes.
func (m *Map[K, V]) cut(limit int) (parts [][]byte, ordered int, err error) {
	whole := m
	type item struct {
		k K
		e entry[V]
	}
	items := make([]item, 0, whole.m.Len())
	for k, e := range whole.m.All() {
		items = append(items, item{k, *e})
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(whole.reps[a.e.writer()], whole.reps[b.e.writer()]); c != 0 {
			return c
		}
		return cmp.Compare(a.e.seq, b.e.seq)
	})
	// The dots held, added in order: each extends its replica's last run
	// of the context or starts one after it (added in the table's order,
	// each went into the middle of a run list that grew to the size of the
	// map, and moving the runs after it was half of the cut's work).
	var held vclock.Context
	for i := range items {
		held.Add(whole.dot(&items[i].e))
	}
	emit := func(kind byte, p *Map[K, V]) (int, error) {
		b, err := p.MarshalBinary()
		if err != nil {
			return 0, err
		}
		if len(b)+1 <= limit {
			parts = append(parts, append([]byte{kind}, b...))
		}
		return len(b) + 1, nil
	}
	sub := func() *Map[K, V] { return &Map[K, V]{reps: whole.reps, repH: whole.repH, repIdx: whole.repIdx} }
	var flush func([]item) error
	flush = func(group []item) error {
		p := sub()
		p.m.Reserve(len(group))
		for _, it := range group {
			d := whole.dot(&it.e)
			p.m.Put(it.k, it.e)
			p.ctx.Add(d)
			// The write's drop record goes with it: the part adds the
			// write's dot to the receiver's version, and a delta for that
			// version would carry the record no more, so the expire and
			// persist writes it overwrote would stay in force there if
			// the part of records were lost.
			if rec, ok := whole.drops[d]; ok {
				p.recordDrops(d, rec.key, rec.dots)
			}
		}
		n, err := emit(partEntries, p)
		if err != nil {
			return err
		}
		if n > limit {
			if len(group) == 1 {
				return errPartTooLarge
			}
			return errors.Join(flush(group[:len(group)/2]), flush(group[len(group)/2:]))
		}
		ordered++
		return nil
	}
	start, acc := 0, 64
	for i, it := range items {
		c := valueSize(it.k) + valueSize(it.e.v) + 24
		if rec, ok := whole.drops[whole.dot(&it.e)]; ok {
			c += valueSize(rec.key) + 12 + 2*len(rec.dots)
		}
		if i > start && acc+c > limit {
			if err := flush(items[start:i]); err != nil {
				return nil, 0, fmt.Errorf("lwwmap: cutting a state into parts of %d bytes: %w", limit, err)
			}
			start, acc = i, 64
		}
		acc += c
	}
	if start < len(items) {
		if err := flush(items[start:]); err != nil {
			return nil, 0, fmt.Errorf("lwwmap: cutting a state into parts of %d bytes: %w", limit, err)
		}
	}
	if len(whole.ttl) > 0 || len(whole.drops) > 0 {
		for _, ws := range whole.ttl {
			for _, w := range ws {
				held.Add(vclock.Dot{Replica: whole.reps[w.rep], Seq: w.seq})
			}
		}
		if err := whole.ttlParts(limit, emit); err != nil {
			return nil, 0, fmt.Errorf("lwwmap: cutting expire and persist writes into parts of %d bytes: %w", limit, err)
		}
	}
	gone := whole.ctx.Minus(&held)
	ranges := slices.Collect(gone.Ranges())
	var flushRanges func([]vclock.Range) error
	flushRanges = func(group []vclock.Range) error {
		p := sub()
		for _, rg := range group {
			p.ctx.AddRange(rg.Replica, rg.Lo, rg.Hi)
		}
		n, err := emit(partRemoved, p)
		if err != nil {
			return err
		}
		if n > limit {
			if len(group) == 1 {
				return errPartTooLarge
			}
			return errors.Join(flushRanges(group[:len(group)/2]), flushRanges(group[len(group)/2:]))
		}
		return nil
	}
	per := max(1, (limit-64)/48) // ranges per part, by a generous estimate
	for i := 0; i < len(ranges); i += per {
		if err := flushRanges(ranges[i:min(len(ranges), i+per)]); err != nil {
			return nil, 0, fmt.Errorf("lwwmap: cutting a context into parts of %d bytes: %w", limit, err)
		}
	}
	if !whole.gone.IsZero() {
		var ws []vclock.Dot
		for id, n := range whole.gone.All() {
			ws = append(ws, vclock.Dot{Replica: id, Seq: n})
		}
		var flushGone func([]vclock.Dot) error
		flushGone = func(group []vclock.Dot) error {
			p := sub()
			for _, d := range group {
				p.ctx.Add(d)
				p.gone.Set(d.Replica, d.Seq)
			}
			n, err := emit(partGone, p)
			if err != nil {
				return err
			}
			if n > limit {
				if len(group) == 1 {
					return errPartTooLarge
				}
				return errors.Join(flushGone(group[:len(group)/2]), flushGone(group[len(group)/2:]))
			}
			return nil
		}
		if err := flushGone(ws); err != nil {
			return nil, 0, fmt.Errorf("lwwmap: cutting the collected writes into parts of %d bytes: %w", limit, err)
		}
	}
	return parts, ordered, nil
}

// MergeChunkBinary decodes a part made by [Map.ChunksBinary] and merges
// it in, at a cost that grows with the part and the entries it drops
// (the first part of removed dots that the map has seen also makes the
// map's order of its dots, in a pass over the map). It reports whether the visible
// content changed. Like [Map.MergeBinary] it refuses a part carrying a
// timestamp too far ahead of the clock. On a decoding error, a
// [*codec.DecodeError], the map is unchanged.
func (m *Map[K, V]) MergeChunkBinary(part []byte) (changed bool, err error) {
	return m.mergeChunk(part, false)
}

// HealChunkBinary merges a part of a whole state made by
// [Map.ChunksBinary] as [Map.MergeChunkBinary] does, and, as
// [Map.HealBinary] does for the whole, where m and the part hold one
// key's write under one dot with different content (a hostile writer
// that sent two replicas two writes under one dot), keeps the one that
// HealBinary keeps, as the other side does when it heals with m's parts.
// Merging every part of a whole state so heals as HealBinary of the whole
// does. It implements crdt.ChunkHealer: the replication engine heals a
// map larger than a message with it.
func (m *Map[K, V]) HealChunkBinary(part []byte) (changed bool, err error) {
	return m.mergeChunk(part, true)
}

// mergeChunk is MergeChunkBinary, or HealChunkBinary if heal is set.
func (m *Map[K, V]) mergeChunk(part []byte, heal bool) (changed bool, err error) {
	bad := func(why string) error {
		return &codec.DecodeError{Kind: codec.KindMap, Reason: why, Err: codec.ErrMalformed}
	}
	if len(part) == 0 || (part[0] != partEntries && part[0] != partTTL && part[0] != partRemoved && part[0] != partGone) {
		return false, bad("not a part of a map")
	}
	o, err := decodeState[K, V](part[1:], m.lim)
	if err != nil {
		return false, err
	}
	if part[0] == partGone {
		var dots uint64
		for rg := range o.ctx.Ranges() {
			dots += rg.Hi - rg.Lo + 1
		}
		if o.m.Len() > 0 || len(o.ttl) > 0 || len(o.drops) > 0 || o.gone.IsZero() || dots != uint64(o.gone.Len()) {
			return false, bad("a part of collected writes with more than their dots")
		}
		for id, n := range o.gone.All() {
			if !m.ctx.Contains(vclock.Dot{Replica: id, Seq: n}) {
				return false, bad(fmt.Sprintf("a part of collected writes naming %s:%d, which the map has not seen", id, n))
			}
		}
		m.takeGone(o.gone)
		return false, nil
	}
	if part[0] == partTTL {
		if o.m.Len() > 0 || !o.ctx.Equal(ptr(o.ttlDots())) {
			return false, bad("a part of expire and persist writes whose context is not their dots")
		}
		if m.clk != nil && !o.maxTS.IsZero() {
			if _, err := m.clk.Update(o.maxTS); err != nil {
				return false, fmt.Errorf("lwwmap: merge: %w", err)
			}
		}
		return m.join(o, false, heal), nil
	}
	if part[0] == partRemoved {
		if o.m.Len() > 0 {
			return false, bad("a part of removed dots with entries")
		}
		return m.join(o, true, heal), nil
	}
	var dots uint64
	for rg := range o.ctx.Ranges() {
		dots += rg.Hi - rg.Lo + 1
	}
	if o.m.Len() == 0 || dots != uint64(o.m.Len()) {
		return false, bad("a part of entries whose context is not their dots")
	}
	if m.clk != nil && !o.maxTS.IsZero() {
		if _, err := m.clk.Update(o.maxTS); err != nil {
			return false, fmt.Errorf("lwwmap: merge: %w", err)
		}
	}
	return m.join(o, false, heal), nil
}
