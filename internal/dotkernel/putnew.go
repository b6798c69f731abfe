package dotkernel

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// PutNew is [Kernel.Put] for a key that the store cannot hold: the dot d
// itself, just minted with [Kernel.TryMint] or [Kernel.Mint] (the store
// is a subset of the context, which did not hold d). It drops nothing,
// so there is nothing to record, and it does not look for the key in the
// table before it inserts it: a write under a fresh dot of its own (a
// leaf of a map, a register.MV value) costs one probe for a free slot.
//
// PutNew on a key the store holds would leave the key twice in the
// table: callers must only pass the dot they have just minted.
func (k *Kernel[K, V]) PutNew(key K, v V, d vclock.Dot) {
	rep := k.repIndex(d.Replica)
	e := entry[V]{v: v, d: entryInMore}
	w, fits := packed(rep, d.Seq)
	if fits {
		e.d = w
	}
	k.m.insertNew(key, e)
	if !fits {
		k.setMore(key, []vclock.Dot{d})
	}
	k.noteDot(rep, d.Seq, key)
	k.fpAdd(key, v, d)
}

// insertNew adds key, which is in neither array, with entry e, at the
// slot a look-up of key would have found for it (the first empty or
// deleted slot on its probe path), without comparing keys on the way or
// probing the old array during a migration.
func (t *Table[K, E]) insertNew(key K, e E) {
	if t.ctrl == nil {
		t.init(1)
	}
	h := t.hashW(key)
	ng := len(t.ctrl)
	g := t.home(h)
	for {
		if m := matchFree(t.ctrl[g]); m != 0 {
			t.insertAt(g*groupSize+bits.TrailingZeros64(m)/8, uint8(h&0x7f), key, e, h)
			return
		}
		if g++; g == ng {
			g = 0
		}
	}
}

// claimNew is claim of the slot a look-up of key, of hash h, absent
// from both arrays, would have found for it (as insertNewHashed), in a
// table that has an array: it returns the slot, for the caller to fill
// its zero entry in place.
func (t *Table[K, E]) claimNew(key K, h uint64) *slot[K, E] {
	ng := len(t.ctrl)
	g := t.home(h)
	for {
		if m := matchFree(t.ctrl[g]); m != 0 {
			return t.claim(g*groupSize+bitsIndex(m), uint8(h&0x7f), key, h)
		}
		if g++; g == ng {
			g = 0
		}
	}
}

// insertNewHashed is insertNew for a key whose hash is h, in a table
// that has an array. (insertNew has the probe written out, to stay one
// call.)
func (t *Table[K, E]) insertNewHashed(key K, e E, h uint64) {
	ng := len(t.ctrl)
	g := t.home(h)
	for {
		if m := matchFree(t.ctrl[g]); m != 0 {
			t.insertAt(g*groupSize+bits.TrailingZeros64(m)/8, uint8(h&0x7f), key, e, h)
			return
		}
		if g++; g == ng {
			g = 0
		}
	}
}

// MintOwn mints a new dot for replica id, as [Kernel.TryMint] does, and
// puts it in the store as its own key with the value v, as
// [Kernel.PutNew] does: the write of a store keyed by dot (a map's leaf)
// in one step. The replica is looked up through the kernel's writer
// cache, as [Kernel.MintPut] looks it up, not once in the context and
// again in the replica table, and the dot is hashed once for the
// fingerprint, with the replica's hash kept in the cache. If id has no
// sequence number left, it returns the error of [Kernel.Next] and the
// store and the context are unchanged.
func MintOwn[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, v V) (vclock.Dot, error) {
	return mintOwn(k, id, v, true)
}

// MintOwnUnwatched is [MintOwn] without a call of the Watch: its caller,
// who knows where the new dot goes in its own index, puts it there.
func MintOwnUnwatched[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, v V) (vclock.Dot, error) {
	return mintOwn(k, id, v, false)
}

// mintOwn is MintOwn, telling the Watch if watch is true.
func mintOwn[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, v V, watch bool) (vclock.Dot, error) {
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	// TryAddNext, inlined, is the common case of AddNextHint, a call.
	d := vclock.Dot{Replica: id, Seq: k.ctx.TryAddNext(id, &w.ctx)}
	if d.Seq == 0 {
		if d = k.ctx.AddNextHint(id, &w.ctx); d.Seq == 0 {
			return vclock.Dot{}, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
		}
	}
	// d is id's: when the hash the table keeps is id's (a replica writes
	// runs of dots), d's hash is its mix with d's sequence number, without
	// hashW's look at the key's type and replica. The entry is written in
	// its slot, not built apart and copied there through the calls.
	t := &k.m
	var h uint64
	if len(t.ctrl) > 0 && len(id) > 0 && sameID(t.rep, id) {
		h = mixSeq(t.repH, d.Seq)
	} else {
		if t.ctrl == nil {
			t.init(1)
		}
		h = t.hashW(d)
	}
	e := &t.claimNew(d, h).e
	e.v = v
	pw, fits := packed(w.rep, d.Seq)
	if fits {
		e.d = pw
	} else {
		e.d = entryInMore
		k.setMore(d, []vclock.Dot{d})
	}
	if k.ix == nil || k.ix.hear { // else noteDot does nothing
		k.noteDot(w.rep, d.Seq, d)
	}
	// dotHashWith(d, d, hd), written out: a dot that is its own key
	// hashes as the dot.
	hd := codec.HashUint(w.h, d.Seq)
	k.fp += codec.Mix(hd ^ codec.Mix(hd))
	if watch && k.Watch != nil {
		k.Watch(d, v, d, true)
	}
	return d, nil
}

// ReplaceOwn is what a local overwrite of one value by the next does in a
// store keyed by dot whose values say themselves what they replace (a
// counter's next leaf, which replaces its writer's previous one), in one
// call: it mints a new dot d of replica id (as [Kernel.TryMint]), removes
// the key last (as [Kernel.Remove]), and puts the value v = next(old, d)
// in the store under d as its own key (as [Kernel.PutNew]), old being
// last's value. It returns d, v and the dropped dots (those that
// supported last), sorted, in a slice the caller must not modify.
//
// A kernel with [Kernel.KeyOf] keeps such a value's entry in place
// instead ([BumpOwn]). ormap, which used ReplaceOwn for its counter
// chains, now keys them by their first dot; ReplaceOwn stays, with its
// tests, as the reference the KeyOf tests check BumpOwn against.
//
// It keeps no drop record of the dropped dots: the new value implies
// their drop, and the data type that calls it must make every join drop
// them as a record would have (see [Kernel.RecordsAll]): the store keeps
// no record, the horizon does not move, and a peer behind by any number
// of such replacements still gets a delta from [Kernel.DeltaSince].
//
// The Watch is not told: the caller, who knows where last was, changes
// its own index (last, with the value old, left the store; d, with v,
// entered it).
//
// If the store does not hold last, it returns [ErrNotHeld]; if id has no
// sequence number left, the error of [Kernel.Next]; if next returns an
// error, that error. Either way it changes nothing.
//
// When last is a dot of id's that supports itself alone (the rule), it
// looks last up once, hashes neither dot's replica, and allocates
// nothing.
func ReplaceOwn[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, last vclock.Dot, next func(old V, d vclock.Dot) (V, error)) (vclock.Dot, V, []vclock.Dot, error) {
	var zero V
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	t := &k.m
	if t.n == 0 {
		return vclock.Dot{}, zero, nil, ErrNotHeld
	}
	i, _, found := t.findHashed(last, t.hashW(last))
	if !found {
		return replaceSlow(k, id, last, next)
	}
	old := t.slots[i].e
	if !old.single() || old.rep() != w.rep || old.seq() != last.Seq {
		return replaceSlow(k, id, last, next)
	}
	d := k.ctx.NextHint(id, &w.ctx)
	if d.Seq == 0 {
		return vclock.Dot{}, zero, nil, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	v, err := next(old.v, d)
	if err != nil {
		return vclock.Dot{}, zero, nil, err
	}
	if k.ctx.TryAddNext(id, &w.ctx) == 0 { // d
		k.ctx.AddNextHint(id, &w.ctx)
	}
	t.removeAt(i)
	// last is id's, and hashes with id's hash, as MintOwn hashed it.
	hl := codec.HashUint(w.h, last.Seq)
	k.fp -= codec.Mix(hl ^ codec.Mix(hl))
	e := entry[V]{v: v, d: entryInMore}
	pw, fits := packed(w.rep, d.Seq)
	if fits {
		e.d = pw
	}
	// d is id's, as last is: when the hash the table keeps is id's (as
	// hashing last made it, unless last's ID has bytes of its own), d's
	// hash is its mix with d's sequence number, and the table has an
	// array.
	if len(id) > 0 && sameID(t.rep, id) {
		t.insertNewHashed(d, e, mixSeq(t.repH, d.Seq))
	} else {
		t.insertNew(d, e)
	}
	if !fits {
		k.setMore(d, []vclock.Dot{d})
	}
	if k.ix == nil || k.ix.hear { // else noteDot does nothing
		k.noteDot(w.rep, d.Seq, d)
	}
	hd := codec.HashUint(w.h, d.Seq)
	k.fp += codec.Mix(hd ^ codec.Mix(hd))
	if k.noting() {
		k.noteDrop(last)
		k.tidy()
	}
	// d was beyond the context, and every ghost is within it: d is no
	// ghost, and applied as soon as it is in the context. No record: the
	// caller's values imply the drop of last.
	return d, v, append(k.newDots(1), last), nil
}

// ErrNotHeld is the error of [ReplaceOwn] and [BumpOwn] when the store does not hold
// the key it is to replace.
var ErrNotHeld = errors.New("dotkernel: the key to replace is not in the store")

// replaceSlow is ReplaceOwn of a key last that is not a dot of id's
// supporting itself alone, or that a migration of the table left in its
// old array: step by step, the Watch kept from hearing of it, and, as
// ReplaceOwn, without a drop record.
func replaceSlow[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, last vclock.Dot, next func(old V, d vclock.Dot) (V, error)) (vclock.Dot, V, []vclock.Dot, error) {
	var zero V
	old, ok := k.m.get(last)
	if !ok {
		return vclock.Dot{}, zero, nil, ErrNotHeld
	}
	d, err := k.Next(id)
	if err != nil {
		return vclock.Dot{}, zero, nil, err
	}
	v, err := next(old.v, d)
	if err != nil {
		return vclock.Dot{}, zero, nil, err
	}
	watch := k.Watch
	k.Watch = nil
	defer func() { k.Watch = watch }()
	dropped := k.Remove(last)
	k.Mint(id)
	k.PutNew(d, v, d)
	if len(dropped) > 1 {
		slices.SortFunc(dropped, vclock.Dot.Compare)
	}
	return d, v, dropped, nil
}

// ErrNotOwn is the error of [BumpOwn] when the key is held, but not by one
// dot of the writer's own.
var ErrNotOwn = errors.New("dotkernel: the key is not held by one dot of the writer's")

// ErrPastGap is the error of [BumpOwnWithin] when the writer's next dot is
// further from the key than the gap it was given.
var ErrPastGap = errors.New("dotkernel: the writer's next dot is past the largest gap from the key")

// BumpOwn is what a local continuation of a value does in a kernel whose
// keys are derived from dots and values ([Kernel.KeyOf], which must be
// set): the writer id's next dot d becomes the one dot of key in place of
// old, the dot of id's that held key, and the entry stays where it is in
// the table. It returns a pointer to key's value in the table, old and d.
// No drop record is kept: d implies the drop of old, as KeyOf's rule says
// (of two dots of one key the later stays). The fingerprint moves from
// old to d; the indexes hear of d; the Watch is not told: the caller, who
// knows where key is in its own index, changes it.
//
// The caller must have checked, before the call, that the value can be
// continued (no overflow, no limit on its length), and must update *v,
// so that KeyOf(d, *v) is key, before any other call of k: until then the
// store holds d with the value of old. The pointer is valid until then
// only.
//
// If the store does not hold key, it returns [ErrNotHeld]; if key is held
// by a dot that is not id's, or by several dots, [ErrNotOwn]; if id has
// no sequence number left, the error of [Kernel.Next]. Either way it
// changes nothing.
//
// Its common case (the entry holds id's dot in its word, the writer cache
// names id) is one probe of the table and one call of the context, and
// allocates nothing. During a migration of the table, a key still in the
// old array is continued there.
func BumpOwn[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, key vclock.Dot) (v *V, old, d vclock.Dot, err error) {
	return BumpOwnWithin(k, id, key, math.MaxUint64)
}

// BumpOwnWithin is [BumpOwn] for a value whose continuation may reach at
// most maxGap sequence numbers past key's (a counter chain, whose leaf
// keeps the gap in 32 bits): if the writer's next dot d has d.Seq -
// key.Seq > maxGap, it returns [ErrPastGap] and changes nothing, and the
// caller starts a new value instead. The check and the mint are one call
// of the context, not two (a Next for the check, then the mint), in the
// common case; a writer with no sequence number left gets the error of
// [Kernel.Next] first, as from a Next before the call.
func BumpOwnWithin[V any](k *Kernel[vclock.Dot, V], id vclock.ReplicaID, key vclock.Dot, maxGap uint64) (v *V, old, d vclock.Dot, err error) {
	if k.KeyOf == nil {
		panic("dotkernel: BumpOwn on a kernel without KeyOf")
	}
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	t := &k.m
	if t.n == 0 {
		return nil, old, d, ErrNotHeld
	}
	var e *entry[V]
	h := t.hashW(key)
	if i, _, found := t.findHashed(key, h); found {
		e = &t.slots[i].e
	} else if t.oldN > 0 {
		if i, found := t.findOld(key, h); found {
			e = &t.oldSlots[i].e
		}
	}
	if e == nil {
		return nil, old, d, ErrNotHeld
	}
	if !e.single() || e.rep() != w.rep {
		return nil, old, d, ErrNotOwn
	}
	limit := key.Seq + maxGap
	if limit < key.Seq {
		limit = math.MaxUint64 // no gap is too wide
	}
	seq, added := k.ctx.TryAddNextUpTo(id, &w.ctx, limit)
	if !added {
		if seq == 0 {
			// Not the common case: look, then mint, as Next and Mint do.
			if seq = k.ctx.NextHint(id, &w.ctx).Seq; seq == 0 {
				return nil, old, d, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
			}
		}
		if seq > limit {
			return nil, old, d, ErrPastGap
		}
		seq = k.ctx.AddNextHint(id, &w.ctx).Seq // the seq NextHint named
	}
	old = vclock.Dot{Replica: id, Seq: e.seq()}
	d = vclock.Dot{Replica: id, Seq: seq}
	if pw, fits := packed(w.rep, seq); fits {
		e.d = pw
	} else {
		e.d = entryInMore
		k.setMore(key, []vclock.Dot{d})
	}
	if k.ix == nil || k.ix.hear { // else noteDot does nothing
		k.noteDot(w.rep, seq, key)
	}
	// Both dots are id's, hashed as their own keys (see dotHashWith).
	hl := codec.HashUint(w.h, old.Seq)
	hd := codec.HashUint(w.h, seq)
	k.fp += codec.Mix(hd^codec.Mix(hd)) - codec.Mix(hl^codec.Mix(hl))
	if k.noting() {
		k.noteDrop(old)
		k.tidy()
	}
	return &e.v, old, d, nil
}
