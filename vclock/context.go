package vclock

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"unsafe"

	"github.com/activeactive/crdt/codec"
)

// Range is the run of events Lo to Hi (inclusive) of one replica.
type Range struct {
	Replica ReplicaID // the replica whose events these are
	Lo, Hi  uint64    // the first and last sequence numbers of the run
}

type span struct{ lo, hi uint64 }

type ctxEntry struct {
	id    ReplicaID
	max   uint64 // events 1..max are all present
	extra []span // sorted, disjoint, non-adjacent, every lo > max+1
}

// Context is a causal context: the set of events (dots) a replica has seen.
// It is kept compact as a version vector (for each replica, every event up
// to some count) plus the runs of events received out of order; a run is
// folded into the vector as soon as the gap before it fills. A delta that
// arrives before an earlier one is therefore neither lost nor misread: its
// dots sit apart until the earlier delta arrives.
//
// A Context can hold any set of dots, not only one that starts at event 1
// for every replica: the context of a delta holds just the dots the delta
// speaks for.
//
// The zero Context is an empty set ready to use. A Context is not safe for
// concurrent use. Copying a Context makes a second handle on the same
// storage: use [Context.Clone] for an independent copy.
type Context struct {
	r []ctxEntry // sorted by id; no empty entries
}

func (c *Context) find(id ReplicaID) (int, bool) {
	if len(c.r) <= 8 {
		// Most look-ups find their replica: comparing for equality first
		// (lengths, then bytes, which a shared string skips) costs less
		// than ordering each entry.
		for i := range c.r {
			if c.r[i].id == id {
				return i, true
			}
		}
		for i := range c.r {
			if c.r[i].id >= id {
				return i, c.r[i].id == id
			}
		}
		return len(c.r), false
	}
	return slices.BinarySearchFunc(c.r, id, func(e ctxEntry, id ReplicaID) int { return cmp.Compare(e.id, id) })
}

func (c *Context) entry(id ReplicaID) *ctxEntry {
	i, ok := c.find(id)
	if !ok {
		c.r = slices.Insert(c.r, i, ctxEntry{id: id})
	}
	return &c.r[i]
}

// Contains reports whether the context holds the dot d.
func (c *Context) Contains(d Dot) bool {
	i, ok := c.find(d.Replica)
	if !ok || d.Seq == 0 {
		return false
	}
	e := &c.r[i]
	if d.Seq <= e.max {
		return true
	}
	if len(e.extra) == 0 {
		return false
	}
	_, found := slices.BinarySearchFunc(e.extra, d.Seq, func(s span, q uint64) int {
		switch {
		case s.hi < q:
			return -1
		case s.lo > q:
			return 1
		}
		return 0
	})
	return found
}

// Add puts the dot d into the context. A dot with a zero sequence number
// names no event and is ignored.
func (c *Context) Add(d Dot) {
	if d.Seq == 0 {
		return
	}
	e := c.entry(d.Replica)
	if d.Seq == e.max+1 && len(e.extra) == 0 {
		e.max++ // the common case: the next event in order
		return
	}
	e.addSpan(span{d.Seq, d.Seq})
}

// AddRange puts the events lo to hi (inclusive) of replica id into the
// context. It does nothing if lo > hi or lo is 0.
func (c *Context) AddRange(id ReplicaID, lo, hi uint64) {
	if lo == 0 || lo > hi {
		return
	}
	c.entry(id).addSpan(span{lo, hi})
}

// addSpan puts the events s.lo to s.hi (s.lo >= 1) into the entry. Bounds
// are compared as lo-1 <= hi rather than lo <= hi+1 so that a run ending at
// the largest sequence number does not wrap around.
func (e *ctxEntry) addSpan(s span) {
	if s.hi <= e.max {
		return
	}
	if s.lo-1 <= e.max {
		e.max = s.hi
		e.fold()
		return
	}
	if n := len(e.extra); n > 0 {
		// Runs added in order, as a cut or a decoder adds them: after
		// the last span, or touching it from within, without a search.
		last := &e.extra[n-1]
		if last.hi < s.lo-1 {
			e.extra = append(e.extra, s)
			return
		}
		if last.lo <= s.lo {
			last.hi = max(last.hi, s.hi)
			return
		}
	}
	// Find the first span that ends at or after s.lo-1 (could touch s).
	i, _ := slices.BinarySearchFunc(e.extra, s.lo, func(x span, lo uint64) int {
		if x.hi < lo-1 {
			return -1
		}
		return 1
	})
	j := i
	for j < len(e.extra) && e.extra[j].lo-1 <= s.hi {
		s.lo = min(s.lo, e.extra[j].lo)
		s.hi = max(s.hi, e.extra[j].hi)
		j++
	}
	e.extra = slices.Replace(e.extra, i, j, s)
}

// fold absorbs into max the spans that now touch it.
func (e *ctxEntry) fold() {
	k := 0
	for k < len(e.extra) && e.extra[k].lo-1 <= e.max {
		e.max = max(e.max, e.extra[k].hi)
		k++
	}
	if k > 0 {
		e.extra = slices.Delete(e.extra, 0, k)
		if len(e.extra) == 0 {
			e.extra = nil
		}
	}
}

// top returns the highest sequence number of the entry.
func (e *ctxEntry) top() uint64 {
	if n := len(e.extra); n > 0 {
		return e.extra[n-1].hi
	}
	return e.max
}

// ErrSeqExhausted is returned, wrapped, by a mutator that cannot name its
// write with a new dot: its replica's context already holds event
// [MaxSeq] of that replica. Decoders refuse every sequence number above
// MaxSeq, so no peer can bring a replica there; the mutator fails and
// changes nothing.
var ErrSeqExhausted = errors.New("vclock: no sequence number left for a new dot")

// Next returns the dot after the highest event of replica id in the
// context. It does not add it. A replica mints its own dots with Next and
// then Add, so its dots are never reused. Next never wraps: when no such
// dot exists within [MaxSeq] (the context holds event MaxSeq of id, or a
// later one) it returns a dot with sequence number 0, which names no
// event and which [Context.Add] ignores; a mutator must then fail with
// [ErrSeqExhausted].
func (c *Context) Next(id ReplicaID) Dot {
	i, ok := c.find(id)
	return c.nextAt(id, i, ok)
}

// nextAt is [Context.Next] for id, found at entry i if ok.
func (c *Context) nextAt(id ReplicaID, i int, ok bool) Dot {
	if !ok {
		return Dot{Replica: id, Seq: 1}
	}
	top := c.r[i].top()
	if top >= MaxSeq {
		return Dot{Replica: id}
	}
	return Dot{Replica: id, Seq: top + 1}
}

// AddNext adds the dot [Context.Next] names and returns it: Next and Add
// with one look-up of id, for a replica minting its own dot. When there is
// no such dot it returns a dot with sequence number 0 and changes nothing,
// as Next and Add do.
func (c *Context) AddNext(id ReplicaID) Dot {
	i, ok := c.find(id)
	if !ok {
		c.r = slices.Insert(c.r, i, ctxEntry{id: id, max: 1})
		return Dot{Replica: id, Seq: 1}
	}
	e := &c.r[i]
	if len(e.extra) == 0 {
		if e.max >= MaxSeq {
			return Dot{Replica: id}
		}
		e.max++ // the common case, as in Add
		return Dot{Replica: id, Seq: e.max}
	}
	top := e.top()
	if top >= MaxSeq {
		return Dot{Replica: id}
	}
	e.addSpan(span{top + 1, top + 1})
	return Dot{Replica: id, Seq: top + 1}
}

// Hint remembers where a replica's entry was last found in a [Context] or
// a [Clock], so that a writer looking its own entry up at every mutation
// skips the search: [Context.AddNextHint], [Context.NextHint],
// [Context.AddHint], [Clock.GetHint] and [Clock.AdvanceHint] take one. A
// hint is checked before it is trusted (the entry it names must be the
// replica's), so a stale one, left by entries added or removed since or
// taken from another context or clock, costs the search and never gives a
// wrong answer. The zero Hint is ready to use.
type Hint struct{ i int }

// sameID reports whether a == b, without a call to compare their bytes
// when they share them, as the copies of a writer's own ID do in the
// contexts and clocks of its replica.
func sameID(a, b ReplicaID) bool {
	return len(a) == len(b) && (unsafe.StringData(string(a)) == unsafe.StringData(string(b)) || a == b)
}

// findHint is find, trying the entry h names first.
func (c *Context) findHint(id ReplicaID, h *Hint) (int, bool) {
	if i := h.i; i < len(c.r) && sameID(c.r[i].id, id) {
		return i, true
	}
	i, ok := c.find(id)
	if ok {
		h.i = i
	}
	return i, ok
}

// NextHint is [Context.Next], looking id up through h first. Its common
// case, that of [Context.TryAddNext] (h names id's entry, known by the
// bytes of id, which is one run from 1 below [MaxSeq]), is small enough
// for the compiler to inline into a writer's mutator.
func (c *Context) NextHint(id ReplicaID, h *Hint) Dot {
	if i := uint(h.i); i < uint(len(c.r)) {
		e := &c.r[i]
		if unsafe.StringData(string(e.id)) == unsafe.StringData(string(id)) && len(e.id) == len(id) && len(e.extra) == 0 && e.max < MaxSeq {
			return Dot{Replica: id, Seq: e.max + 1}
		}
	}
	return c.nextHint(id, h)
}

// nextHint is NextHint past its common case.
func (c *Context) nextHint(id ReplicaID, h *Hint) Dot {
	i, ok := c.findHint(id, h)
	return c.nextAt(id, i, ok)
}

// AddNextHint is [Context.AddNext], looking id up through h first.
func (c *Context) AddNextHint(id ReplicaID, h *Hint) Dot {
	if seq := c.TryAddNext(id, h); seq != 0 {
		return Dot{Replica: id, Seq: seq}
	}
	return c.addNextHint(id, h)
}

// TryAddNext is the common case of [Context.AddNextHint] alone, small
// enough for the compiler to inline into a writer's mutator: if h names
// id's entry, and the entry is one run from 1 below [MaxSeq], it adds the
// next dot of id and returns its sequence number. Otherwise it changes
// nothing and returns 0, and the caller mints its dot with AddNextHint.
// It knows id's entry only by the bytes of id: an entry whose ID is an
// equal string with bytes of its own is left to AddNextHint, which then
// gives the entry id's bytes, so that the next TryAddNext knows it.
func (c *Context) TryAddNext(id ReplicaID, h *Hint) uint64 {
	if i := uint(h.i); i < uint(len(c.r)) {
		e := &c.r[i]
		if unsafe.StringData(string(e.id)) == unsafe.StringData(string(id)) && len(e.id) == len(id) && len(e.extra) == 0 && e.max < MaxSeq {
			e.max++ // the common case, as in AddNext
			return e.max
		}
	}
	return 0
}

// TryAddNextUpTo is [Context.TryAddNext] for a writer whose next dot
// must not pass the sequence number limit (a counter chain's longest
// gap): in the common case it returns the next sequence number of id and
// adds it if it is at most limit, reporting whether it did; above limit
// it changes nothing. Outside the common case it returns 0, false and
// changes nothing, and the caller looks with [Context.NextHint] and mints
// with [Context.AddNextHint]. One look at id's entry serves both the
// check and the mint.
func (c *Context) TryAddNextUpTo(id ReplicaID, h *Hint, limit uint64) (uint64, bool) {
	if i := uint(h.i); i < uint(len(c.r)) {
		e := &c.r[i]
		if unsafe.StringData(string(e.id)) == unsafe.StringData(string(id)) && len(e.id) == len(id) && len(e.extra) == 0 && e.max < MaxSeq {
			if e.max >= limit {
				return e.max + 1, false
			}
			e.max++
			return e.max, true
		}
	}
	return 0, false
}

// addNextHint is AddNextHint past its common case: AddNext, h set to
// where id's entry is now, and the entry's ID made id itself (an equal
// string), for TryAddNext.
func (c *Context) addNextHint(id ReplicaID, h *Hint) Dot {
	d := c.AddNext(id)
	if i, ok := c.find(id); ok {
		h.i = i
		c.r[i].id = id
	}
	return d
}

// AddHint is [Context.Add], looking d's replica up through h first.
func (c *Context) AddHint(d Dot, h *Hint) {
	if i := h.i; i < len(c.r) && sameID(c.r[i].id, d.Replica) {
		if e := &c.r[i]; d.Seq == e.max+1 && len(e.extra) == 0 {
			e.max++ // the common case, as in Add
			return
		}
	}
	c.Add(d)
	if i, ok := c.find(d.Replica); ok {
		h.i = i
	}
}

// Merge sets c to the union of c and o. It costs one pass over o's
// entries, each found in c by a search, plus one pass over c's entries
// when o names many replicas c lacks; runs received out of order are
// united in one pass per replica.
func (c *Context) Merge(o *Context) {
	if c == o || len(o.r) == 0 {
		return
	}
	fresh := 0 // o's replicas that c lacks
	for k := range o.r {
		if _, ok := c.find(o.r[k].id); !ok {
			fresh++
			if fresh > 8 {
				break
			}
		}
	}
	if fresh > 8 {
		c.mergeAll(o)
		return
	}
	for k := range o.r {
		c.entry(o.r[k].id).union(&o.r[k])
	}
}

// mergeAll is Merge by one walk over both contexts' entries.
func (c *Context) mergeAll(o *Context) {
	out := make([]ctxEntry, 0, len(c.r)+len(o.r))
	i, j := 0, 0
	for i < len(c.r) || j < len(o.r) {
		switch {
		case j == len(o.r) || (i < len(c.r) && c.r[i].id < o.r[j].id):
			out = append(out, c.r[i])
			i++
		case i == len(c.r) || o.r[j].id < c.r[i].id:
			out = append(out, ctxEntry{id: o.r[j].id, max: o.r[j].max, extra: slices.Clone(o.r[j].extra)})
			j++
		default:
			e := c.r[i]
			e.union(&o.r[j])
			out = append(out, e)
			i++
			j++
		}
	}
	c.r = out
}

// union sets e to the union of e and o, entries of the same replica. A
// few runs are added one by one; more are merged with e's in one pass.
func (e *ctxEntry) union(o *ctxEntry) {
	if o.max > e.max {
		e.max = o.max
		e.fold()
	}
	if n := len(e.extra); len(o.extra) <= 4 || n == 0 || o.extra[0].lo >= e.extra[n-1].lo {
		// Few spans, or all from e's last on (a catch-up's parts merged
		// in order): each is placed at the end, without a pass over e.
		for _, s := range o.extra {
			e.addSpan(s)
		}
		return
	}
	out := make([]span, 0, len(e.extra)+len(o.extra))
	push := func(s span) {
		switch n := len(out); {
		case s.hi <= e.max:
		case s.lo-1 <= e.max: // touches the compact part (out is empty)
			e.max = s.hi
		case n > 0 && s.lo-1 <= out[n-1].hi:
			out[n-1].hi = max(out[n-1].hi, s.hi)
		default:
			out = append(out, s)
		}
	}
	i, j := 0, 0
	for i < len(e.extra) || j < len(o.extra) {
		if j == len(o.extra) || (i < len(e.extra) && e.extra[i].lo < o.extra[j].lo) {
			push(e.extra[i])
			i++
		} else {
			push(o.extra[j])
			j++
		}
	}
	if len(out) == 0 {
		out = nil
	}
	e.extra = out
}

// RangesWithin calls f, in order, for every run of events of replica id
// that c holds from lo to hi, clipped to that interval. It costs a search
// plus a step per run it reports.
func (c *Context) RangesWithin(id ReplicaID, lo, hi uint64, f func(lo, hi uint64)) {
	lo = max(lo, 1) // no dot has sequence number 0
	i, ok := c.find(id)
	if !ok || lo > hi {
		return
	}
	e := &c.r[i]
	if lo <= e.max {
		f(lo, min(hi, e.max))
		if hi <= e.max {
			return
		}
		lo = e.max + 1
	}
	j, _ := slices.BinarySearchFunc(e.extra, lo, func(s span, lo uint64) int {
		if s.hi < lo {
			return -1
		}
		return 1
	})
	for ; j < len(e.extra) && e.extra[j].lo <= hi; j++ {
		f(max(lo, e.extra[j].lo), min(hi, e.extra[j].hi))
	}
}

// ContainsRange reports whether c holds every event lo to hi of replica
// id (true if lo > hi). It costs a search.
func (c *Context) ContainsRange(id ReplicaID, lo, hi uint64) bool {
	if lo > hi {
		return true
	}
	if lo == 0 {
		return false // no dot has sequence number 0
	}
	whole := false
	c.RangesWithin(id, lo, hi, func(l, h uint64) {
		// Runs are maximal: the interval is held whole only if the first
		// run reported covers it.
		whole = whole || (l == lo && h == hi)
	})
	return whole
}

// Overlaps reports whether c and o hold a common event. It looks the
// entries of the context with fewer up in the other, so it costs in
// proportion to the smaller one (times a search), not to the larger.
func (c *Context) Overlaps(o *Context) bool {
	a, b := c, o
	if len(a.r) > len(b.r) {
		a, b = b, a
	}
	for k := range a.r {
		ae := &a.r[k]
		i, ok := b.find(ae.id)
		if !ok {
			continue
		}
		be := &b.r[i]
		if ae.max > 0 && be.holdsAny(1, ae.max) {
			return true
		}
		for _, s := range ae.extra {
			if be.holdsAny(s.lo, s.hi) {
				return true
			}
		}
	}
	return false
}

// holdsAny reports whether the entry holds an event from lo to hi.
func (e *ctxEntry) holdsAny(lo, hi uint64) bool {
	if lo <= e.max {
		return true
	}
	// The first run that ends at or after lo.
	i, _ := slices.BinarySearchFunc(e.extra, lo, func(s span, lo uint64) int {
		if s.hi < lo {
			return -1
		}
		return 1
	})
	return i < len(e.extra) && e.extra[i].lo <= hi
}

// Version returns the compact part of the context as a version vector: for
// each replica, the count n such that its events 1 to n are all present.
// Out-of-order events are left out.
func (c *Context) Version() Clock {
	var v Clock
	v.e = make([]entry, 0, len(c.r))
	for _, e := range c.r {
		if e.max > 0 {
			v.e = append(v.e, entry{e.id, e.max})
		}
	}
	return v
}

// Prefix returns the count n such that events 1 to n of replica id are all
// in the context: id's entry in [Context.Version], found without building
// the vector.
func (c *Context) Prefix(id ReplicaID) uint64 {
	if i, ok := c.find(id); ok {
		return c.r[i].max
	}
	return 0
}

// IsCompact reports whether the context holds no event out of order: it is
// exactly the events of its [Context.Version].
func (c *Context) IsCompact() bool {
	for _, e := range c.r {
		if len(e.extra) > 0 {
			return false
		}
	}
	return true
}

// GapHash returns a hash of the events c holds past its
// [Context.Version]: the runs received out of order, beyond a gap in
// their replica's sequence. It is 0 for a compact context, and almost
// surely not 0 otherwise. Two contexts with the same version have the
// same hash if they hold the same events past it, whatever order the
// events arrived in (a context keeps one form for a set of events:
// entries sorted by replica, runs sorted and maximal), and almost surely
// different hashes if not. It is built from codec's content hashes, so it
// is the same in every process and on every machine, and costs a step
// per run past a gap.
func (c *Context) GapHash() uint64 {
	h, gaps := codec.HashSeed, false
	for _, e := range c.r {
		if len(e.extra) == 0 {
			continue
		}
		gaps = true
		// The entry's compact part is folded in too: runs past a gap are
		// the same events only above the same prefix. (Callers compare
		// versions anyway; this keeps the hash a function of the events.)
		h = codec.HashUint(codec.HashString(h, string(e.id)), e.max)
		h = codec.HashUint(h, uint64(len(e.extra)))
		for _, s := range e.extra {
			h = codec.HashUint(codec.HashUint(h, s.lo), s.hi)
		}
	}
	switch {
	case !gaps:
		return 0
	case h == 0:
		return 1 // 0 says "no gaps"
	}
	return h
}

// CoveredBy reports whether every event of c is in v.
func (c *Context) CoveredBy(v Clock) bool {
	for _, e := range c.r {
		if e.top() > v.Get(e.id) {
			return false
		}
	}
	return true
}

// Covers reports whether c holds every event of v.
func (c *Context) Covers(v Clock) bool {
	for _, ve := range v.e {
		i, ok := c.find(ve.id)
		if !ok || c.r[i].max < ve.n {
			return false
		}
	}
	return true
}

// Since returns the events of c that v has not seen.
func (c *Context) Since(v Clock) Context {
	var out Context
	for _, e := range c.r {
		seen := v.Get(e.id)
		if seen == math.MaxUint64 || seen >= e.top() {
			continue // v has every event of this replica that c has
		}
		lo := seen + 1
		var ne ctxEntry
		ne.id = e.id
		if lo == 1 {
			ne.max = e.max
		} else if e.max >= lo {
			ne.extra = append(ne.extra, span{lo, e.max})
		}
		for _, s := range e.extra {
			if s.hi < lo {
				continue
			}
			ne.extra = append(ne.extra, span{max(s.lo, lo), s.hi})
		}
		if ne.max > 0 || len(ne.extra) > 0 {
			out.r = append(out.r, ne)
		}
	}
	return out
}

// IsEmpty reports whether the context holds no event.
func (c *Context) IsEmpty() bool { return len(c.r) == 0 }

// Clone returns an independent copy of c.
func (c *Context) Clone() Context {
	out := Context{r: slices.Clone(c.r)}
	for i := range out.r {
		out.r[i].extra = slices.Clone(out.r[i].extra)
	}
	return out
}

// Equal reports whether c and o hold the same events.
func (c *Context) Equal(o *Context) bool {
	return slices.EqualFunc(c.r, o.r, func(a, b ctxEntry) bool {
		return a.id == b.id && a.max == b.max && slices.Equal(a.extra, b.extra)
	})
}

// Ranges iterates over the context as maximal runs of events, in
// increasing order of replica ID and sequence number.
func (c *Context) Ranges() iter.Seq[Range] {
	return func(yield func(Range) bool) {
		for _, e := range c.r {
			if e.max > 0 && !yield(Range{e.id, 1, e.max}) {
				return
			}
			for _, s := range e.extra {
				if !yield(Range{e.id, s.lo, s.hi}) {
					return
				}
			}
		}
	}
}

// String formats c as "{a:1-3,5 b:1}".
func (c *Context) String() string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for i, e := range c.r {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:", e.id)
		first = true
		put := func(lo, hi uint64) {
			if !first {
				b.WriteByte(',')
			}
			first = false
			if lo == hi {
				fmt.Fprintf(&b, "%d", lo)
			} else {
				fmt.Fprintf(&b, "%d-%d", lo, hi)
			}
		}
		if e.max > 0 {
			put(1, e.max)
		}
		for _, s := range e.extra {
			put(s.lo, s.hi)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// Minus returns the events of c that o does not hold, at a cost that grows
// with the runs of both.
func (c *Context) Minus(o *Context) Context {
	var out Context
	for _, e := range c.r {
		var theirs []span
		if i, ok := o.find(e.id); ok {
			oe := &o.r[i]
			if oe.max > 0 {
				theirs = append(theirs, span{1, oe.max})
			}
			theirs = append(theirs, oe.extra...)
		}
		mine := e.extra
		if e.max > 0 {
			mine = append([]span{{1, e.max}}, e.extra...)
		}
		j := 0
		for _, s := range mine {
			lo := s.lo
			for lo <= s.hi {
				for j < len(theirs) && theirs[j].hi < lo {
					j++
				}
				if j == len(theirs) || theirs[j].lo > s.hi {
					out.AddRange(e.id, lo, s.hi)
					break
				}
				if theirs[j].lo > lo {
					out.AddRange(e.id, lo, theirs[j].lo-1)
				}
				if theirs[j].hi >= s.hi {
					break
				}
				lo = theirs[j].hi + 1
			}
		}
	}
	return out
}
