package dotkernel

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Retire renames the dots of the finished writer r.From into r.To, its
// name's retired writer (see [vclock.Retirement]): every dot (From, n)
// with 1 <= n <= r.Final becomes (To, r.Base+n) in the store, the
// context, the ghosts, the removed dots, the drop records (their own dots,
// the dots they dropped and, when K is [vclock.Dot], their keys), the
// horizon, and the keys themselves when K is [vclock.Dot]. Dots of From
// above r.Final stay as they are, under From: nothing is lost. The
// renaming is one-to-one, so a join, a drop or a record means after it
// what it meant before, and retiring commutes with joining.
//
// r.Base and r.Final count dots: they are in the units of the kernel's
// [Kernel.Version], whose entry for From goes (see [vclock.Clock.Retire]).
//
// The horizon (a version below which records may have been discarded)
// becomes, for To, at least Base plus From's horizon capped at Final; From
// keeps its entry only if it is above Final. That may claim dots of To
// from earlier retirements whose records are still kept: a horizon may
// claim more than was discarded, which only makes DeltaSince send a full
// copy to a peer behind it and Join compare every key, but never less,
// which would let a peer miss a drop. Records the new horizon covers are
// discarded, as a join with a wider horizon does. (A horizon left for
// From is one no version reaches any more, so a kernel that discarded
// records of From above Final sends full copies from then on: that only
// happens to a writer that wrote past its agreed end, an accident.)
//
// The replica table does not grow: when From has no dot left, its index
// is given to To if To has none, and is otherwise freed, the table's last
// replica taking it. (When From keeps dots above Final, To takes a new
// index if it has none.) The indexes DeltaSince uses are rebuilt by the
// next DeltaSince, at the cost of a pass over the store. The fingerprint
// is updated in the same pass as the store, and Watch is told of each dot
// renamed (as one leaving and one entering the store).
//
// Retire refuses, with an error wrapping [vclock.ErrRetirement], a
// retirement whose Check fails, or one whose renamed dots would land on
// dots of To the kernel already holds (in its context or its removed
// dots): that would not be a renaming. It then changes nothing. A
// retirement of a writer the kernel has never seen, or with Final 0,
// changes nothing and returns nil.
//
// It costs a pass over the store when From has dots in it or K is
// [vclock.Dot] (none otherwise), a pass over the drop records, and
// a step per run of From's events in the context, ghosts and removed dots. It allocates only for
// what it renames: a new slice for each record that dropped a dot of
// From (records are shared with other kernels and ops, and never
// modified), a slice in the further dots for a renamed dot that does not
// pack into its entry, and, when K is [vclock.Dot], for the keys it
// renames.
func (k *Kernel[K, V]) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	if r.Final == 0 || !k.hasSeen(r.From) {
		return nil
	}
	if err := k.retireClash(r); err != nil {
		return err
	}
	if k.ix != nil {
		k.ix.SetOrder(nil) // it refers to dots by replica index: made again when needed
	}
	k.retireHorizon(r)
	k.retireStore(r)
	k.retireRecords(r)
	k.ghosts.retire(r)
	k.removed.retire(r)
	k.ctx.Retire(r)
	return nil
}

// hasSeen reports whether anything of k names the writer id.
func (k *Kernel[K, V]) hasSeen(id vclock.ReplicaID) bool {
	seen := false
	k.ctx.RangesWithin(id, 1, vclock.MaxSeq, func(uint64, uint64) { seen = true })
	_, inReps := k.findRep(id)
	_, ghost := k.ghosts.m[id]
	_, removed := k.removed.m[id]
	return seen || inReps || ghost || removed || k.horizon.Get(id) > 0 || k.recMax.Get(id) > 0
}

// retireClash returns an error if a dot of r.From that r renames lands on
// a dot of r.To that k has seen (in its context or among its removed
// dots). It costs a search per run of From's events.
func (k *Kernel[K, V]) retireClash(r vclock.Retirement) error {
	var clash vclock.Dot
	found := func(lo, _ uint64) {
		if !clash.Valid() {
			clash = vclock.Dot{Replica: r.To, Seq: lo}
		}
	}
	check := func(lo, hi uint64) {
		hi = min(hi, r.Final)
		if lo > hi || clash.Valid() {
			return
		}
		k.ctx.RangesWithin(r.To, r.Base+lo, r.Base+hi, found)
		k.removed.within(r.To, r.Base+lo, r.Base+hi, found)
	}
	k.ctx.RangesWithin(r.From, 1, vclock.MaxSeq, check)
	for _, s := range k.removed.m[r.From] {
		check(s.lo, s.hi)
	}
	if clash.Valid() {
		return fmt.Errorf("%w: %q renamed into %v, which is already seen", vclock.ErrRetirement, r.From, clash)
	}
	return nil
}

// retireHorizon renames From's entries of the horizon and of the highest
// recorded dots, both bounds from above (see Retire): To's reaches Base
// plus From's, capped at Final, and From keeps its entry only above Final.
func (k *Kernel[K, V]) retireHorizon(r vclock.Retirement) {
	for _, c := range []*vclock.Clock{&k.horizon, &k.recMax} {
		if n := c.Get(r.From); n > 0 {
			if n <= r.Final {
				c.Set(r.From, 0)
			}
			c.Advance(r.To, r.Base+min(n, r.Final))
		}
	}
}

// retire renames the runs of r.From within r.Final into r.To; the runs
// above r.Final stay. It costs a step per run of From.
func (g *ghostSet) retire(r vclock.Retirement) {
	ss, ok := g.m[r.From]
	if !ok {
		return
	}
	rest := ss[:0] // the runs above Final, written over those read
	for _, s := range ss {
		if s.lo <= r.Final {
			g.addRange(r.To, r.Base+s.lo, r.Base+min(s.hi, r.Final))
		}
		if s.hi > r.Final {
			rest = append(rest, gspan{max(s.lo, r.Final+1), s.hi})
		}
	}
	if len(rest) > 0 {
		g.m[r.From] = rest
	} else {
		delete(g.m, r.From)
	}
}

// retireKey is a key that is itself a dot of From within Final (K is
// vclock.Dot), to be renamed with its dots once the pass over the table is
// done: the table cannot take new keys while it is walked.
type retireKey[K comparable, V any] struct {
	key  K
	v    V
	dots []vclock.Dot // its dots, as they were
}

// retireStore renames the dots of r.From within r.Final in the store, in
// one pass over the table, and frees From's replica index if From has no
// dot left.
func (k *Kernel[K, V]) retireStore(r vclock.Retirement) {
	_, dotKeys := any(*new(K)).(vclock.Dot)
	iF, hasFrom := k.findRep(r.From)
	if !hasFrom && !dotKeys {
		return // no dot of the store or of a record is From's
	}
	// From keeps its index if it keeps events (the store's and the
	// records' dots are in the context). Otherwise, after the pass, To has
	// From's index if it had none, or From's index is freed and the last
	// replica takes it.
	keeps := false
	k.ctx.RangesWithin(r.From, r.Final+1, vclock.MaxSeq, func(uint64, uint64) { keeps = true })
	last := uint32(len(k.reps) - 1)
	iT, hasTo := k.findRep(r.To)
	toIdx := iF
	switch {
	case hasTo:
		toIdx = iT
	case keeps && hasFrom:
		toIdx = k.repIndex(r.To)
	} // with no dot of From in the store, toIdx is not used
	moveLast := hasFrom && !keeps && hasTo && last != iF
	if moveLast && toIdx == last {
		toIdx = iF
	}
	// remap gives the index after the pass of a replica other than To.
	remap := func(i uint32) uint32 {
		if moveLast && i == last {
			return iF
		}
		return i
	}

	hFrom := codec.HashString(codec.HashSeed, string(r.From))
	hTo := codec.HashString(codec.HashSeed, string(r.To))
	var pending []retireKey[K, V]
	for _, a := range k.m.arrays() {
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0; m &= m - 1 {
				s := &a.slots[g*groupSize+bits.TrailingZeros64(m)/8]
				if k.KeyOf != nil {
					// Keys derived from dots: an entry is renamed by its
					// dots, and its key derived again from the new ones.
					if hasFrom && k.holdsRetired(s.key, s.e, r, iF) {
						pending = append(pending, retireKey[K, V]{s.key, s.e.v, k.dotsOf(s.key, s.e)})
						continue
					}
				} else if kd, isDot := any(s.key).(vclock.Dot); isDot && kd.Replica == r.From && kd.Seq <= r.Final {
					pending = append(pending, retireKey[K, V]{s.key, s.e.v, k.dotsOf(s.key, s.e)})
					continue
				}
				if !s.e.single() {
					k.retireMore(s, r, toIdx, remap, hFrom, hTo)
					continue
				}
				rep, seq := s.e.rep(), s.e.seq()
				if !hasFrom || rep != iF || seq > r.Final {
					if rep != remap(rep) {
						s.e.d, _ = packed(remap(rep), seq) // a lower index: it fits as before
					}
					continue
				}
				keyH := hashKey(s.key)
				nd := vclock.Dot{Replica: r.To, Seq: r.Base + seq}
				k.fp += retiredHash(keyH, hTo, nd.Seq) - retiredHash(keyH, hFrom, seq)
				if w, fits := packed(toIdx, nd.Seq); fits {
					s.e.d = w
				} else {
					s.e.d = entryInMore
					k.setMore(s.key, []vclock.Dot{nd})
				}
				k.watch(s.key, s.e.v, vclock.Dot{Replica: r.From, Seq: seq}, false)
				k.watch(s.key, s.e.v, nd, true)
			}
		}
	}
	if hasFrom && !keeps {
		if k.repIdx != nil {
			delete(k.repIdx, r.From)
		}
		if !hasTo {
			k.reps[iF] = r.To
			if k.repIdx != nil {
				k.repIdx[r.To] = iF
			}
		} else {
			if moveLast {
				k.reps[iF] = k.reps[last]
				if k.repIdx != nil {
					k.repIdx[k.reps[iF]] = iF
				}
			}
			k.reps[last] = ""
			k.reps = k.reps[:last]
		}
	}
	for _, p := range pending {
		k.retireDotKey(p, r)
	}
	if hasFrom || len(pending) > 0 {
		// The indexes refer to dots by replica index and sequence number:
		// they are rebuilt by the next DeltaSince that needs them.
		if k.ix != nil {
			k.ix = new(Index[K])
		}
		if k.rix != nil {
			k.rix = new(Index[uint64])
		}
	}
}

// retiredHash is dotHash of a key whose hash is keyH and a dot whose
// replica's hash is repH.
func retiredHash(keyH, repH, seq uint64) uint64 {
	return codec.Mix(keyH ^ codec.Mix(codec.HashUint(repH, seq)))
}

// retireMore renames the dots of r.From within r.Final among the further
// dots of the key of slot s (whose entry keeps its dots apart). A key left
// with one dot that packs holds it in its entry, under the replica's index
// after the pass (toIdx for To, remap for the others).
func (k *Kernel[K, V]) retireMore(s *slot[K, entry[V]], r vclock.Retirement, toIdx uint32, remap func(uint32) uint32, hFrom, hTo uint64) {
	ms := k.more[s.key]
	i, _ := slices.BinarySearchFunc(ms, vclock.Dot{Replica: r.From, Seq: 1}, vclock.Dot.Compare)
	if i == len(ms) || ms[i].Replica != r.From || ms[i].Seq > r.Final {
		return
	}
	keyH := hashKey(s.key)
	for j := i; j < len(ms) && ms[j].Replica == r.From && ms[j].Seq <= r.Final; j++ {
		d := ms[j]
		nd := vclock.Dot{Replica: r.To, Seq: r.Base + d.Seq}
		k.fp += retiredHash(keyH, hTo, nd.Seq) - retiredHash(keyH, hFrom, d.Seq)
		k.watch(s.key, s.e.v, d, false)
		k.watch(s.key, s.e.v, nd, true)
		ms[j] = nd
	}
	slices.SortFunc(ms, vclock.Dot.Compare)
	if len(ms) == 1 { // a dot that did not pack
		rep := toIdx
		if d := ms[0]; d.Replica != r.To {
			rep, _ = k.findRep(d.Replica)
			rep = remap(rep)
		}
		if w, fits := packed(rep, ms[0].Seq); fits {
			s.e.d = w
			k.shrinkMore(s.key, nil, 0)
		}
	}
}

// holdsRetired reports whether key, whose entry is e, holds a dot of
// r.From (index iF) within r.Final.
func (k *Kernel[K, V]) holdsRetired(key K, e entry[V], r vclock.Retirement, iF uint32) bool {
	if e.single() {
		return e.rep() == iF && e.seq() <= r.Final
	}
	for _, d := range k.more[key] {
		if d.Replica == r.From && d.Seq <= r.Final {
			return true
		}
	}
	return false
}

// retireDotKey renames a key that is a dot of r.From within r.Final, with
// its dots, or, with KeyOf set, an entry holding such a dot: its dots are
// renamed and its key derived from the last of them (a key holds one dot;
// the last is the one that stays). The replica table is already renamed.
func (k *Kernel[K, V]) retireDotKey(p retireKey[K, V], r vclock.Retirement) {
	k.shrinkMore(p.key, nil, 0)
	k.m.remove(p.key)
	ds := p.dots
	var key K
	if k.KeyOf == nil {
		key = any(r.Dot(any(p.key).(vclock.Dot))).(K)
	}
	for i, d := range ds {
		k.fpSub(p.key, p.v, d)
		ds[i] = r.Dot(d)
	}
	slices.SortFunc(ds, vclock.Dot.Compare)
	if k.KeyOf != nil {
		key = k.KeyOf(ds[len(ds)-1], p.v)
	}
	for _, d := range ds {
		k.fpAdd(key, p.v, d)
	}
	k.setEntry(key, p.v, ds)
}

// retireRecords renames the dots of r.From within r.Final in the drop
// records, in one pass over them, and discards those the horizon now
// covers. Records are shared (with ops and other kernels): a record that
// dropped dots of From gets a new slice.
func (k *Kernel[K, V]) retireRecords(r vclock.Retirement) {
	renamed := func(d vclock.Dot) bool { return d.Replica == r.From && d.Seq <= r.Final }
	discard, changed := false, false
	var buf [1]vclock.Dot
	for i := range k.recs.len() {
		p := k.recs.slot(i)
		id := *k.recs.id(p)
		rec := k.recs.recAt(p, &buf)
		orig := rec.Dot
		touched := false
		if renamed(rec.Dot) {
			rec.Dot, changed, touched = r.Dot(rec.Dot), true, true
		}
		if kd, isDot := any(rec.Key).(vclock.Dot); isDot && renamed(kd) {
			rec.Key, touched = any(r.Dot(kd)).(K), true
		}
		if slices.ContainsFunc(rec.Dropped, renamed) {
			out := make([]vclock.Dot, len(rec.Dropped))
			for j, d := range rec.Dropped {
				out[j] = r.Dot(d)
			}
			slices.SortFunc(out, vclock.Dot.Compare)
			rec.Dropped, touched = out, true
		}
		if k.horizon.Contains(rec.Dot) {
			k.recs.clear(p, id)    // an empty slot has no valid dot
			k.noteRecordGone(orig) // a no-op if retireStore reset the index
			discard = true
		} else if touched {
			k.recs.clear(p, id)
			k.recs.set(p, id, rec.Dot, rec.Key, rec.Dropped)
		}
	}
	if discard {
		k.recs.filter(vclock.Dot.Valid)
	}
	if _, ok := k.recs.findRep(r.From); ok {
		k.recs.compactReps() // From's dots within Final are To's now
	}
	if changed || discard {
		k.recIdx = nil // rebuilt when first needed
	}
}

// watch tells the Watch, if any, that the dot d of key entered or left
// the store.
func (k *Kernel[K, V]) watch(key K, v V, d vclock.Dot, added bool) {
	if k.Watch != nil {
		k.Watch(key, v, d, added)
	}
}

// mayDrop reports whether a mutation with dot d may have dropped the dot
// x: x is not d, and not a later dot of d's writer. A retired writer's
// dots are in no causal order (they come from several runs, renamed one
// after another), so a retired writer's record may drop any other of its
// dots.
func mayDrop(d, x vclock.Dot) bool {
	if x.Replica != d.Replica || x.Seq < d.Seq {
		return true
	}
	return x.Seq != d.Seq && d.Replica.IsRetired()
}
