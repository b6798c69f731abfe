package dotkernel

import (
	"cmp"
	"errors"
	"slices"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// # Parts
//
// A state or delta too large for one message travels as parts, each a
// kernel of its own, merged one at a time with [Kernel.JoinPart]. The
// parts are a join decomposition of the whole: merging them all gives what
// merging the whole gives. Each is safe to merge alone (or twice, or never):
// no part brings back a key the receiver saw removed, and no part makes the
// receiver's version claim a mutation whose drops it has not applied.
//
//   - Store parts ([PartStore]) carry keys with their dots, and a context
//     of exactly those dots (a key whose dots do not fit one part has
//     some of them in each of several: the key with all its dots is the
//     join of these). The receiver adds the dots it has not seen,
//     and drops nothing: they are dots the sender holds. It takes them in
//     as ghosts (in the context, their mutations not applied), so its
//     version does not claim them yet: a re-add's drop of the key's older
//     dots may be in a later part. They may be merged in any order.
//   - Removed parts ([PartRemoved]), only for a full state (the receiver's
//     version predates the sender's records), carry the dots the sender
//     has seen and no longer holds: the receiver drops them from its store
//     and keeps them aside, so that no other merge brings them back,
//     without claiming them in its context. They come before the records,
//     whose dropped dots they name too: a receiver whose context holds
//     none of their dots (one that had no state of its own, say) need not
//     look at its store at all.
//   - Record parts ([PartRecords]) carry drop records with their dots:
//     the receiver applies the drops it has not applied and the record's
//     own mutation becomes applied; the dropped dots it had not seen
//     become ghosts.
//   - Context parts ([PartContext]) carry the context, with its ghosts,
//     and last the horizon: the receiver takes them in and drops nothing;
//     the ghosts within them that the sender had applied stop being
//     ghosts. The context is cut into the runs of dots that the parts
//     before leave as ghosts (the dots held, and the dots the records
//     dropped) and the runs between them, in parts of their own, so that
//     each run of a part holds at most one run of ghosts at a receiver
//     that had seen none of them: settling a part costs what the part
//     does, not what the whole catch-up brought.
//
// Removed, record and context parts must each be merged only after every
// part before it: merged before the store part carrying an add, a context
// would make the add look already seen.
//
// A kernel whose keys derive from their dots ([Kernel.KeyOf]) cuts parts
// that derive them alike, so that each part is encoded as its whole state
// is, a dot written where its key goes. A store part's dot of a key the
// receiver holds with an earlier dot of the same replica replaces it, as
// Insert and Join do (the earlier is implied by the later: no record),
// and one earlier than the key's dot is not taken in; the Watch hears of
// both changes.

// PartKind says what a part carries and how [Kernel.JoinPart] merges it.
type PartKind uint8

// The kinds of parts. A split state lists its store parts, then its
// removed parts, its record parts and its context parts.
const (
	PartStore   PartKind = 1
	PartRecords PartKind = 2
	PartRemoved PartKind = 3
	PartContext PartKind = 4
)

// Valid reports whether p is one of the kinds of parts.
func (p PartKind) Valid() bool { return p >= PartStore && p <= PartContext }

// ErrPartTooLarge is returned by [Kernel.Split] when one key with one of
// its dots, or one drop record, or the horizon (with the first run of the
// context of each of its replicas), does not fit a part on its own (a key
// whose dots do not fit together has them spread over several parts).
var ErrPartTooLarge = errors.New("a key or drop record larger than a part")

// Part is one part of a split kernel.
type Part[K comparable, V any] struct {
	Kind PartKind      // what the part holds
	K    *Kernel[K, V] // what the part carries, as a kernel
}

// ToCut returns what a catch-up for a peer at the encoded version (a
// vclock.Clock, decoded within lim) cuts of k with [Kernel.Split]: k itself
// for a whole state (version nil), or its delta since the version, which
// is a copy of k's whole if the version predates k's horizon. full says
// that the kernel returned is a full state (Split's full); own, that it
// is a new kernel rather than k, which a caller may cut while k changes.
// For an empty version it returns k itself, all of which such a peer
// lacks; full says, as for any version, whether k's horizon is past it.
func (k *Kernel[K, V]) ToCut(version []byte, lim codec.Limits) (_ *Kernel[K, V], full, own bool, err error) {
	if version == nil {
		return k, true, false, nil
	}
	v, err := vclock.UnmarshalClock(version, lim)
	if err != nil {
		return nil, false, false, err
	}
	full = !k.horizon.LessOrEqual(v)
	if !full && !v.IsZero() {
		return k.DeltaSince(v), false, true, nil
	}
	return k, full, false, nil
}

// partDotCost is what a dot adds to a part at most, beyond its key: its
// sequence number in the store and a range of the part's context.
const partDotCost = 24

// Split cuts k, a state or a delta, into parts (see the section on parts
// above) and hands each to emit, in order; emit encodes a part, keeps it
// if it is within budget, and reports how many bytes it took. size estimates the bytes of a key and
// its value. Parts are filled up to budget bytes by the estimate; a part
// that emit finds larger than budget (it returns a size above it, and
// does not keep it) is cut in two and emitted again. full says that k is a full state (or a delta
// made without records, as [Kernel.DeltaSince] makes when the version
// predates its horizon): its removals go as removed parts, which the
// receiver checks its store against. It returns the index of the first
// part that must be merged after every part before it (the number of
// store parts), or the first error of emit.
func (k *Kernel[K, V]) Split(full bool, budget int, size func(K, V) int, emit func(Part[K, V]) (int, error)) (ordered int, err error) {
	// Each key with its first dot, and all its dots when it has several
	// (or one that does not fit an entry).
	type keyDots struct {
		key   K
		v     V
		rep   uint32 // the first dot's replica index, in k.reps
		first vclock.Dot
		more  []vclock.Dot
	}
	items := make([]keyDots, 0, k.m.len())
	for key, e := range k.m.all {
		if e.single() {
			items = append(items, keyDots{key: key, v: e.v, rep: e.rep(), first: k.first(e)})
			continue
		}
		ms := k.more[key]
		items = append(items, keyDots{key: key, v: e.v, rep: k.repOf(ms[0]), first: ms[0], more: ms})
	}
	// By first dot (its replica's index, then its sequence number): a
	// part's dots then form few ranges of its context.
	slices.SortFunc(items, func(a, b keyDots) int {
		if a.rep != b.rep {
			return cmp.Compare(a.rep, b.rep)
		}
		return cmp.Compare(a.first.Seq, b.first.Seq)
	})
	held := vclock.Context{}
	for _, it := range items {
		if it.more == nil {
			held.Add(it.first)
			continue
		}
		for _, d := range it.more {
			held.Add(d)
		}
	}
	numDots := func(it keyDots) int { return max(1, len(it.more)) }

	// flush emits the store part of items, cutting it in two while it is
	// too large. emitted records the size of each part made.
	var emitted []int
	var flushStore func([]keyDots) error
	flushStore = func(group []keyDots) error {
		p := &Kernel[K, V]{RecordsAll: true, KeyOf: k.KeyOf}
		p.m.reserve(len(group))
		for _, it := range group {
			if it.more == nil {
				p.ctx.Add(it.first)
				p.m.set(it.key, p.single(it.key, it.v, it.first))
				continue
			}
			for _, d := range it.more {
				p.ctx.Add(d)
			}
			p.setEntry(it.key, it.v, slices.Clone(it.more))
		}
		n, err := emit(Part[K, V]{PartStore, p})
		if err != nil {
			return err
		}
		emitted = append(emitted, n)
		if n > budget {
			if len(group) == 1 {
				// One key whose dots do not fit together: its dots go
				// in several parts, each the key with some of its dots
				// and a context of exactly those dots. The key with all
				// its dots is the join of these (none has seen the
				// others' dots), and each is safe alone like any store
				// part.
				it := group[0]
				if len(it.more) < 2 {
					return ErrPartTooLarge
				}
				half := func(ds []vclock.Dot) []keyDots {
					x := keyDots{key: it.key, v: it.v, rep: k.repOf(ds[0]), first: ds[0]}
					if len(ds) > 1 {
						x.more = ds
					}
					return []keyDots{x}
				}
				h := len(it.more) / 2
				return errors.Join(flushStore(half(it.more[:h])), flushStore(half(it.more[h:])))
			}
			return errors.Join(flushStore(group[:len(group)/2]), flushStore(group[len(group)/2:]))
		}
		ordered++
		return nil
	}
	// The estimate is generous (a run of dots costs far less than
	// partDotCost each): once a part is made, the next ones are filled by
	// the estimate scaled to what the last one really took.
	cost := func(it keyDots) int { return size(it.key, it.v) + partDotCost*numDots(it) }
	scale := 1.0
	start, acc := 0, 0.0
	for i, it := range items {
		c := scale * float64(cost(it))
		if i > start && acc+c > float64(budget) {
			before := len(emitted)
			if err := flushStore(items[start:i]); err != nil {
				return 0, err
			}
			if len(emitted) == before+1 {
				est := 0
				for _, x := range items[start:i] {
					est += cost(x)
				}
				scale = min(1, 1.03*float64(emitted[before])/float64(est))
			}
			start, acc = i, 0
			c = scale * float64(cost(it))
		}
		acc += c
	}
	if start < len(items) {
		if err := flushStore(items[start:]); err != nil {
			return 0, err
		}
	}

	// In a full state, the dots seen and not held, for the receiver to
	// drop (before the records: a receiver that has not seen them then
	// need not look for them in its store; see JoinPart). The context
	// goes last, in parts made by the same means.
	var flushRanges func(PartKind, []vclock.Range) error
	flushRanges = func(kind PartKind, group []vclock.Range) error {
		p := &Kernel[K, V]{RecordsAll: true, KeyOf: k.KeyOf}
		for _, rg := range group {
			p.ctx.AddRange(rg.Replica, rg.Lo, rg.Hi)
		}
		if kind == PartContext {
			k.ghostsWithin(p)
		}
		n, err := emit(Part[K, V]{kind, p})
		if err != nil {
			return err
		}
		if n > budget {
			if len(group) == 1 {
				return ErrPartTooLarge // too many ghosts within one range
			}
			return errors.Join(flushRanges(kind, group[:len(group)/2]), flushRanges(kind, group[len(group)/2:]))
		}
		return nil
	}
	emitRanges := func(kind PartKind, ranges []vclock.Range) error {
		start, acc := 0, 0
		for i := range ranges {
			c := 2 * partDotCost
			if i > start && acc+c > budget {
				if err := flushRanges(kind, ranges[start:i]); err != nil {
					return err
				}
				start, acc = i, 0
			}
			acc += c
		}
		if start < len(ranges) {
			return flushRanges(kind, ranges[start:])
		}
		return nil
	}
	if full {
		gone := k.ctx.Minus(&held)
		if err := emitRanges(PartRemoved, slices.Collect(gone.Ranges())); err != nil {
			return 0, err
		}
	}

	// Drop records, oldest first, each with its dot and dropped dots in
	// the part's context, and the ghosts among them.
	recs := k.liveRecords()
	var flushRecs func([]Record[K]) error
	flushRecs = func(group []Record[K]) error {
		p := &Kernel[K, V]{RecordsAll: true, MaxRecords: len(group) + 1, KeyOf: k.KeyOf}
		for _, r := range group {
			p.ctx.Add(r.Dot)
			for _, x := range r.Dropped {
				p.ctx.Add(x)
			}
		}
		for _, r := range group {
			p.Record(r.Dot, r.Key, r.Dropped)
		}
		k.ghostsWithin(p)
		n, err := emit(Part[K, V]{PartRecords, p})
		if err != nil {
			return err
		}
		if n > budget {
			if len(group) == 1 {
				return ErrPartTooLarge
			}
			return errors.Join(flushRecs(group[:len(group)/2]), flushRecs(group[len(group)/2:]))
		}
		return nil
	}
	start, used := 0, 0
	var zero V
	for i, r := range recs {
		c := size(r.Key, zero) + partDotCost*(1+len(r.Dropped))
		if i > start && used+c > budget {
			if err := flushRecs(recs[start:i]); err != nil {
				return 0, err
			}
			start, used = i, 0
		}
		used += c
	}
	if start < len(recs) {
		if err := flushRecs(recs[start:]); err != nil {
			return 0, err
		}
	}

	// The context, in two series of parts: the runs of dots that this
	// catch-up leaves as ghosts at a receiver that had not seen them (the
	// dots held, and those the records dropped, but not the records' own
	// dots, which their parts apply), and the runs between. A receiver
	// that had seen none of them then holds, within each run of a context
	// part, at most one run of ghosts and one of dots set aside by removed
	// parts, so that settling a part costs in proportion to the part.
	marked := held.Clone()
	var recDots vclock.Context
	for _, r := range recs {
		recDots.Add(r.Dot)
		for _, x := range r.Dropped {
			marked.Add(x)
		}
	}
	marked = marked.Minus(&recDots)
	between := k.ctx.Minus(&marked)
	within := k.ctx.Minus(&between)
	if err := emitRanges(PartContext, slices.Collect(within.Ranges())); err != nil {
		return 0, err
	}
	if err := emitRanges(PartContext, slices.Collect(between.Ranges())); err != nil {
		return 0, err
	}
	if !k.horizon.IsZero() {
		// The horizon, with the first run of the context of each of its
		// replicas (a state names no replica outside its context).
		p := &Kernel[K, V]{RecordsAll: true, horizon: k.horizon.Clone(), KeyOf: k.KeyOf}
		var last vclock.ReplicaID
		for rg := range k.ctx.Ranges() {
			if rg.Replica != last && k.horizon.Get(rg.Replica) > 0 {
				p.ctx.AddRange(rg.Replica, rg.Lo, rg.Hi)
			}
			last = rg.Replica
		}
		k.ghostsWithin(p)
		n, err := emit(Part[K, V]{PartContext, p})
		if err != nil {
			return 0, err
		}
		if n > budget {
			// It cannot be cut: a receiver must take the horizon whole.
			// A caller that left it out would send a catch-up that
			// never says what it collected.
			return 0, ErrPartTooLarge
		}
	}
	return ordered, nil
}

// Cut is Split for a data type's ChunksBinary: each part is encoded by
// encode and kept, after a byte saying its kind ([PartKind]), if the two
// fit in budget bytes (a part that does not is cut in two, as Split
// does). It returns the parts, and the index of the first that must be
// merged after every part before it.
func (k *Kernel[K, V]) Cut(full bool, budget int, size func(K, V) int, encode func(*Kernel[K, V]) ([]byte, error)) (parts [][]byte, ordered int, err error) {
	ordered, err = k.Split(full, budget, size, func(p Part[K, V]) (int, error) {
		b, err := encode(p.K)
		if err != nil {
			return 0, err
		}
		if len(b)+1 <= budget {
			parts = append(parts, append([]byte{byte(p.Kind)}, b...))
		}
		return len(b) + 1, nil
	})
	if err != nil {
		return nil, 0, err
	}
	return parts, ordered, nil
}

// ghostsWithin gives p the ghosts of k that p's context holds, at a step
// per run of p's context and of the ghosts within it.
func (k *Kernel[K, V]) ghostsWithin(p *Kernel[K, V]) {
	if k.ghosts.isEmpty() {
		return
	}
	for rg := range p.ctx.Ranges() {
		k.ghosts.within(rg.Replica, rg.Lo, rg.Hi, func(lo, hi uint64) { p.ghosts.addRange(rg.Replica, lo, hi) })
	}
}

// CheckPart reports why o, as decoded, cannot be a part of the given
// kind, or "" if it can: a store part holds keys, no records, ghosts or
// horizon, and a context of exactly its dots; a record part holds records
// and no store or horizon; a removed part holds neither store, records
// nor horizon; a context part holds no store and no records. Its cost is
// a step per range of o's context.
func (o *Kernel[K, V]) CheckPart(kind PartKind) string {
	switch kind {
	case PartStore:
		var dots uint64
		for rg := range o.ctx.Ranges() {
			dots += rg.Hi - rg.Lo + 1
		}
		var held uint64
		for key, e := range o.m.all {
			held += uint64(o.numDots(key, e))
		}
		switch {
		case o.m.len() == 0:
			return "a store part without keys"
		case o.recs.len() > 0 || !o.horizon.IsZero() || !o.ghosts.isEmpty():
			return "a store part with records, a horizon or ghosts"
		case dots != held:
			return "a store part whose context is not its dots"
		}
	case PartRecords:
		if o.m.len() > 0 || o.recs.len() == 0 || !o.horizon.IsZero() {
			return "a record part with keys, no records or a horizon"
		}
		var dots, named uint64
		for rg := range o.ctx.Ranges() {
			dots += rg.Hi - rg.Lo + 1
		}
		var buf [1]vclock.Dot
		for i := range o.recs.len() {
			named += 1 + uint64(len(o.recs.get(i, &buf).Dropped))
		}
		if dots > named {
			return "a record part whose context is not its records' dots"
		}
	case PartRemoved:
		if o.m.len() > 0 || o.recs.len() > 0 || !o.horizon.IsZero() {
			return "a removed part with keys, records or a horizon"
		}
	case PartContext:
		if o.m.len() > 0 || o.recs.len() > 0 {
			return "a context part with keys or records"
		}
	default:
		return "an unknown kind of part"
	}
	return ""
}

// JoinPart merges a part of the given kind, checked with
// [Kernel.CheckPart], into k, at a cost that grows with the part: its
// keys and dots, its records and their dots, the runs of its context and
// of its ghosts. Two costs may go beyond that. A removed part naming dots
// that k's context holds (k had a state of its own before the catch-up
// began, with dots the sender has since dropped) drops the dots of k's
// store it names, and the first such part makes k's order of its dots,
// in a pass over the store; a fresh receiver, or one whose dots the
// sender still holds, never does. And a context part clears the runs of ghosts k holds within it,
// which are one per run of the part for a receiver that holds no ghosts
// of other merges there. It reports whether the set of present keys
// changed.
func (k *Kernel[K, V]) JoinPart(kind PartKind, o *Kernel[K, V]) bool {
	k.steps = 0
	changed := false
	switch kind {
	case PartStore:
		changed = k.joinStorePart(o)
	case PartRecords:
		changed = k.joinRecordPart(o)
	case PartRemoved:
		changed = k.joinRemovedPart(o)
	case PartContext:
		k.joinContextPart(o)
	}
	k.tidy()
	return changed
}

// joinStorePart adds the dots of o's store that k has not seen, as ghosts:
// their mutations' drops, which other parts carry, are not yet applied.
// The store takes them key by key; the context and the ghosts take them
// as the runs of o's context (which CheckPart found to be exactly its
// dots) that k had neither seen nor set aside, so that dots arriving in
// the store's order cost no more than dots arriving in order.
func (k *Kernel[K, V]) joinStorePart(o *Kernel[K, V]) (grew bool) {
	unseen := func(d vclock.Dot) bool {
		return !k.ctx.Contains(d) && (k.removed.isEmpty() || !k.removed.contains(d))
	}
	for key, oe := range o.m.all {
		k.steps++
		if k.KeyOf != nil {
			// A key holds one dot, and the later of two dots of one
			// replica stays with its own value (see KeyOf): as Insert
			// takes a dot, without a record of the earlier's drop.
			for _, d := range o.dotsOf(key, oe) {
				k.steps++
				if !unseen(d) {
					continue
				}
				if e, ok := k.m.get(key); ok {
					if k.takeKeyed(key, e, oe.v, d, k.repIndex(d.Replica)) {
						k.fpAdd(key, oe.v, d)
					}
					continue
				}
				k.m.set(key, k.single(key, oe.v, d))
				grew = true
				k.noteDot(k.repIndex(d.Replica), d.Seq, key)
				k.fpAdd(key, oe.v, d)
			}
			continue
		}
		if oe.single() {
			// The usual case, one probe of the table.
			d := o.first(oe)
			k.steps++
			if !unseen(d) {
				continue
			}
			e, at, here := k.m.lookup(key)
			v := oe.v
			if here {
				k.m.setAt(at, true, key, k.addDot(key, e, d))
				v = e.v
			} else {
				k.m.setAt(at, false, key, k.single(key, oe.v, d))
				grew = true
			}
			k.noteDot(k.repIndex(d.Replica), d.Seq, key)
			k.fpAdd(key, v, d)
			continue
		}
		for _, d := range o.dotsOf(key, oe) {
			k.steps++
			if !unseen(d) {
				continue
			}
			v := oe.v
			if e, ok := k.m.get(key); ok {
				k.m.set(key, k.addDot(key, e, d))
				v = e.v
			} else {
				k.m.set(key, k.single(key, oe.v, d))
				grew = true
			}
			k.noteDot(k.repIndex(d.Replica), d.Seq, key)
			k.fpAdd(key, v, d)
		}
	}
	// Into the context, as ghosts: the runs of o's context outside k's
	// context and outside what k set aside.
	var fresh []vclock.Range
	for rg := range o.ctx.Ranges() {
		k.steps++
		next := rg.Lo
		gap := func(lo, hi uint64) { // lo..hi: not in k's context
			cur := lo
			k.steps += k.removed.within(rg.Replica, lo, hi, func(rlo, rhi uint64) {
				if cur < rlo {
					fresh = append(fresh, vclock.Range{Replica: rg.Replica, Lo: cur, Hi: rlo - 1})
				}
				cur = rhi + 1
			})
			if cur-1 < hi { // cur >= 1: no wrap
				fresh = append(fresh, vclock.Range{Replica: rg.Replica, Lo: cur, Hi: hi})
			}
		}
		k.ctx.RangesWithin(rg.Replica, rg.Lo, rg.Hi, func(lo, hi uint64) {
			k.steps++
			if next < lo {
				gap(next, lo-1)
			}
			next = hi + 1
		})
		if next-1 < rg.Hi {
			gap(next, rg.Hi)
		}
	}
	// fresh is in o's order of runs: by replica, then by sequence number.
	// Merged as a whole, replica by replica, so that runs going into the
	// middle of k's (parts merged out of order) cost one pass there, not
	// a move of every run after each.
	var fc vclock.Context
	for _, g := range fresh {
		fc.AddRange(g.Replica, g.Lo, g.Hi)
	}
	k.ctx.Merge(&fc)
	for i := 0; i < len(fresh); {
		j := i
		runs := make([]gspan, 0, 4)
		for ; j < len(fresh) && fresh[j].Replica == fresh[i].Replica; j++ {
			runs = append(runs, gspan{fresh[j].Lo, fresh[j].Hi})
		}
		k.steps += k.ghosts.addRuns(fresh[i].Replica, runs)
		i = j
	}
	return grew
}

// joinRecordPart applies the records of o that k has not applied, and
// takes in their dots, which are o's whole context: a record's own dot as
// applied, the dots it dropped as ghosts if k has not seen them (their
// own records may be in a later part; a context part settles them).
func (k *Kernel[K, V]) joinRecordPart(o *Kernel[K, V]) (changed bool) {
	for _, r := range o.liveRecords() {
		k.steps++
		if k.Applied(r.Dot) {
			continue
		}
		for _, x := range r.Dropped {
			k.steps++
			k.seeDropped(x)
			if key, ok := k.dropDot(r.Key, x); ok && !k.Has(key) {
				changed = true
			}
		}
		k.Record(r.Dot, r.Key, r.Dropped)
		k.ctx.Add(r.Dot)
		k.markApplied(r.Dot)
	}
	for rg := range o.ctx.Ranges() {
		for seq := rg.Lo; seq <= rg.Hi; seq++ { // explicit dots: CheckPart counted them
			k.steps++
			k.seeDropped(vclock.Dot{Replica: rg.Replica, Seq: seq})
		}
	}
	return changed
}

// joinRemovedPart drops from k's store the dots of o's context, which the
// sender has seen and no longer holds, and keeps them aside (k.removed),
// so that no store part or other merge brings them back, until a context
// part brings them into k's context. Only dots k's context holds can be
// in k's store: when there are none, k's store is not looked at.
func (k *Kernel[K, V]) joinRemovedPart(o *Kernel[K, V]) (changed bool) {
	overlap := false
	for rg := range o.ctx.Ranges() {
		k.steps++
		k.steps += k.removed.addRange(rg.Replica, rg.Lo, rg.Hi)
		if !overlap && k.m.len() > 0 {
			k.ctx.RangesWithin(rg.Replica, rg.Lo, rg.Hi, func(uint64, uint64) { overlap = true })
		}
	}
	if !overlap {
		return false
	}
	gone := make(map[K]struct{})
	k.dropSeenBy(o, gone, false)
	return len(gone) > 0
}

// joinContextPart takes in o's context, ghosts and horizon, and drops
// nothing: every part before it is merged. The ghosts k holds within o's
// context stop being ghosts unless o has them as ghosts too, and o's
// ghosts that k has not seen become k's.
func (k *Kernel[K, V]) joinContextPart(o *Kernel[K, V]) {
	fromO := k.ghostsFrom(o)
	k.steps += len(fromO)
	k.steps += k.settle(o)
	for _, g := range fromO {
		k.steps += k.ghosts.addRange(g.Replica, g.Lo, g.Hi)
	}
	k.ctx.Merge(&o.ctx)
	if !k.removed.isEmpty() {
		for rg := range o.ctx.Ranges() {
			k.steps += 1 + k.removed.removeRange(rg.Replica, rg.Lo, rg.Hi)
		}
	}
	if !o.horizon.IsZero() {
		// Records of k that the horizon now covers are dead weight, left
		// out by liveRecords and discarded by the next Collect, rather
		// than looked for among every record here.
		k.horizon.Merge(o.horizon)
	}
}

// SizeAtMost returns a generous estimate of the bytes k takes encoded,
// with size estimating each key and value, for telling cheaply whether it
// needs cutting into parts.
func (k *Kernel[K, V]) SizeAtMost(size func(K, V) int) int {
	n := 32
	for key, e := range k.m.all {
		n += size(key, e.v) + 10*k.numDots(key, e)
	}
	for range k.ctx.Ranges() {
		n += 2 * 10
	}
	var zero V
	for _, r := range k.liveRecords() {
		n += size(r.Key, zero) + 10*(1+len(r.Dropped))
	}
	for _, id := range k.reps {
		n += len(id) + 4
	}
	return n + 10*(int(min(k.ghosts.count(), 1<<30))+k.horizon.Len())
}

// HealPart is [Kernel.JoinPart] for a part of a whole state sent to heal
// a divergence, as [Kernel.Heal] is Join for a whole state: it trusts no
// more than Heal does. A store part first drops every dot of k that the
// part's context holds and the part does not hold under the same key (with
// a value [Kernel.SameValue] calls the same, if set): two writes under one
// dot, one here and one in the part, are taken by neither side, each
// dropping its own when it heals with the other's parts, and the dot stays
// in both contexts. The other kinds merge as JoinPart merges them: the
// removed parts of a whole state already drop every dot they name without
// trusting a record, as Heal does.
//
// Looking up the part's dots makes k's order of its dots, if it had none,
// in one pass over the store, and keeps it for the parts that follow (it
// goes once it is idle, see [Order.Idle]); the rest costs what JoinPart
// does. It reports whether the set of present keys changed.
func (k *Kernel[K, V]) HealPart(kind PartKind, o *Kernel[K, V]) bool {
	var gone map[K]struct{}
	if kind == PartStore && k.m.len() > 0 && k.ctx.Overlaps(&o.ctx) {
		gone = make(map[K]struct{})
		k.dropSeenBy(o, gone, true)
	}
	changed := k.JoinPart(kind, o)
	for key := range gone {
		if !k.Has(key) {
			changed = true
		}
	}
	return changed
}
