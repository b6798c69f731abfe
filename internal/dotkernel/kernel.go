// Package dotkernel is the causal dot store shared by the dot-based data
// types (orset, register.MV): a map from keys to the dots that support them,
// a causal context of every dot ever seen, and the bookkeeping that lets a
// replica send a peer only what the peer lacks.
//
// A key is present while at least one of its dots survives. A dot the
// context holds but the store does not was seen and then dropped (removed
// or overwritten); a peer that still has it drops it on merge. This is what
// makes removal work without tombstones. The store is always a subset of
// the context, and each dot supports at most one key.
//
// The join of two kernels keeps a dot if both stores hold it, or if one
// store holds it and the other context has never seen it; the contexts are
// united (the optimized OR-Set of Bieniusa et al., 2012, as a delta-state
// CRDT after Almeida, Shoker and Baquero, 2018). A key's value must be
// fixed by the key itself (struct{} for a set, the value written under a
// dot when the key is that dot), or, for a kernel that derives its keys
// from dots and values (Kernel.KeyOf), by the key's one dot: the kernel
// keeps one value per key.
//
// # Drop records
//
// Merging a delta that carries only new dots cannot tell a peer about old
// dots that were dropped since. For that the kernel keeps, for each
// mutation that dropped dots, a record: the mutation's own dot, the key
// whose dots it dropped, and the dots it dropped. [Kernel.DeltaSince]
// ships the records a peer has not seen, and [Kernel.Join] applies the
// records of the other side instead of comparing every key against the
// other side's context, so merging a delta costs in proportion to the
// delta, not to the store. Records are metadata about recent mutations,
// not about removed elements: [Kernel.Collect] discards those every
// replica has seen, and a cap discards the oldest when there are too many.
// A peer whose version predates a discarded record is sent the full state
// instead, and a join with a state whose records do not reach back to this
// side's version looks at the dots of this side that the state's context
// holds, found in an order of the store's dots that the first such join
// makes.
//
// # Seen but not applied
//
// A mutation that drops a dot puts it in the context, so that the add it
// names stays dropped however late it arrives. But that add may itself
// have dropped older dots (a re-add drops the element's earlier dots), and
// those drops are only known once the add itself is applied. Until then
// the dot is a ghost: in the context, but not applied. [Kernel.Version]
// counts a replica's events only up to its first ghost, so a peer never
// leaves out of a delta what a ghost's mutation would have told.
//
// The kernel relies on two invariants, which every method keeps. When a
// mutation is applied (its dot is in the context and is no ghost), the
// store no longer holds the dots that mutation dropped. And an applied
// mutation that dropped dots has a record, unless its dot is within the
// horizon. A peer whose version includes a mutation has therefore applied
// its drops, and a peer whose version does not is told of them by a
// record, or gets the full state.
package dotkernel

import (
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// DefaultMaxRecords is the cap on drop records when none is set.
const DefaultMaxRecords = 1 << 14

// Record says that the mutation with dot Dot dropped the dots Dropped,
// which supported Key (or, when K is [vclock.Dot], which may each be
// keys themselves, as in a multi-value register). Records are shared
// between kernels: nobody modifies Dropped once the record is made.
type Record[K comparable] struct {
	Dot     vclock.Dot   // the mutation's own dot
	Key     K            // the key the dropped dots supported
	Dropped []vclock.Dot // sorted by vclock.Dot.Compare, no repeats
}

// entry is a key's value and its supporting dot, packed in one word: the
// sequence number in the high 48 bits, then 15 bits of the replica's index
// in Kernel.reps plus one, then a bit that is 0. That keeps an entry at 8
// bytes plus the value. A key supported by several dots (after concurrent
// adds), or by one that does not fit, has the word 1 instead, and all its
// dots in Kernel.more.
type entry[V any] struct {
	v V
	d uint64
}

const (
	seqShift    = 16
	maxPackSeq  = 1<<(64-seqShift) - 1
	maxPackRep  = 1<<15 - 2
	entryInMore = 1
)

// single reports whether the entry holds its one dot itself.
func (e entry[V]) single() bool { return e.d&1 == 0 }
func (e entry[V]) seq() uint64  { return e.d >> seqShift }
func (e entry[V]) rep() uint32  { return uint32(e.d>>1&0x7fff) - 1 }

// packed returns the word of a single dot, and false if it does not fit.
func packed(rep uint32, seq uint64) (uint64, bool) {
	if rep > maxPackRep || seq > maxPackSeq {
		return 0, false
	}
	return seq<<seqShift | uint64(rep+1)<<1, true
}

// Kernel is a causal dot store with keys K and values V. The zero Kernel is
// empty and ready to use. It is not safe for concurrent use and must not be
// copied; use Clone.
type Kernel[K comparable, V any] struct {
	ctx     vclock.Context
	reps    []vclock.ReplicaID          // the replicas entries refer to
	repIdx  map[vclock.ReplicaID]uint32 // index of reps, once it is long
	m       table[K, V]
	more    map[K][]vclock.Dot      // further dots of keys with several
	recs    ring[K]                 // oldest first
	recMax  vclock.Clock            // per replica, the highest recorded dot
	recIdx  map[vclock.Dot]struct{} // the recorded dots; built when first needed
	horizon vclock.Clock            // every discarded record's dot is within it
	ghosts  ghostSet                // in ctx, mutation not applied; usually empty
	// removed holds dots that a removed part (see JoinPart) said were
	// seen and dropped elsewhere, whose drops the context does not claim
	// yet, as runs like the ghosts: they are not taken into the store,
	// until the context claims a mutation that dropped them (a context
	// part, a state that has seen them and no longer holds them, an
	// applied drop: see unsetAside). It is not encoded:
	// forgetting it only forgets a removal that the context never claimed.
	removed ghostSet
	capped  uint64 // records discarded by the cap (see gc.go)
	// steps counts the work of the last JoinPart (keys, dots, records and
	// runs it went through), for the tests that bound it by the part.
	steps int

	dotBlock []vclock.Dot // where newDots cuts small slices from

	fp     uint64           // the fingerprint (see fingerprint.go)
	fpRep  vclock.ReplicaID // the replica last hashed for it, by a mutator
	fpRepH uint64           // its hash

	w writer // the writer MintPut and MintRemove last wrote as

	// ix finds the keys by their dots, for DeltaSince. It is made with
	// the first dot the store takes (mutators are exclusive; DeltaSince,
	// which readers may call at the same time, cannot make it), and built
	// by the first DeltaSince that needs it. A kernel without one (never
	// mutated) scans its store. rix does the same for the drop records,
	// by their dots, referring to each by its id in recs; every record's
	// replica is in reps, so that it can.
	ix  *Index[K]
	rix *Index[uint64]
	// ix also carries (Index.Order) the dots of the store in order, per
	// replica, for a join that must find the dots of k that the other
	// side has seen and does not hold (see dropSeenBy). There is none
	// until the first such join; whatever renames dots wholesale (Retire)
	// drops it, and clones, deltas and decoded kernels start without one.
	// seenWork counts the keys and dots of the store that joins have
	// looked at to find those the other side dropped (see dropSeenBy),
	// for the tests that bound that work.
	seenWork int

	// MaxRecords caps the drop records kept; 0 means DefaultMaxRecords.
	MaxRecords int

	// Watch, if set, is called for every dot that enters or leaves the
	// store of this kernel, with the key it supports and the key's value,
	// by the mutators and by Join; added says which. It lets a data type
	// keep an index of its own over the store. [ReplaceOwn], [BumpOwn]
	// and [MintOwnUnwatched] do not call it: their caller is told by
	// their results. Kernels made by Clone,
	// DeltaSince and Decode have no Watch: the caller builds its index
	// from their stores.
	Watch func(key K, v V, d vclock.Dot, added bool)

	// RecordsAll says that every mutation this kernel has applied that
	// dropped dots has a record (see [Kernel.Record]) or a dot within the
	// horizon. A data type that records every such mutation, local or
	// remote, sets it on each kernel it makes; Join then trusts the
	// records of a kernel that sets it, instead of comparing every key
	// against its context. A join with a kernel that does not set it
	// clears it. The zero value is false: safe, and slower to join.
	//
	// A data type may leave out the records of drops that its own values
	// imply (ormap's counters: a chain's later leaf supersedes its older
	// leaves, see [BumpOwn]) and still set it, if its own join, after
	// the kernel's, drops every value so implied: Join may then keep such
	// a value, which the data type's join drops, and neither DeltaSince
	// nor the horizon knows of the drop.
	RecordsAll bool

	// KeyOf, if set, derives a key from a dot and its value, for a data
	// type whose key changes as its value is continued (ormap's counter
	// chains: a chain's leaves share the key of its first dot). Nil means
	// a key is what its caller says, as it always was. When set:
	//
	//   - a key holds at most one dot of a replica, and KeyOf must give
	//     dots of different replicas different keys, so a key holds one
	//     dot. Of two dots of one key, wherever they meet (Insert, Join,
	//     decoding), the later stays with its own value and the earlier is
	//     dropped as implied by it, without a drop record: a key's value
	//     follows its dot, not the key;
	//   - the fingerprint hashes each dot as its own key (as if the key
	//     were the dot), so a type that moves from dot keys to derived
	//     keys keeps its fingerprints;
	//   - Encode writes each entry's dot where its key goes, in the order
	//     it always used, so the bytes are those of the same store keyed
	//     by dots, and Decode derives each key with KeyOf
	//     ([DecodeKeyed]'s keyOf);
	//   - Clone and DeltaSince carry it to the kernels they make;
	//   - a dot dropped by a record or an op that names another key (or
	//     the dot itself) is found through the order of the store's dots
	//     (see dropSeenBy), built by the first drop that needs it;
	//   - Retire renames each entry by its dot and derives the renamed
	//     entry's key again with KeyOf.
	//
	// Set it on an empty kernel, before its first dot: keys already held
	// are not derived again.
	KeyOf func(d vclock.Dot, v V) K

	// SameValue, if set, tells whether two values of one key are the
	// same. [Kernel.Heal] uses it: of a dot that both kernels hold under
	// one key with values it calls different, it drops it (see Heal).
	// Honest writers never make that (a dot names one write), so a heal
	// without SameValue, and Join, do not look. It is meant for a kernel
	// whose keys hold one dot each (see KeyOf): a key's value is its
	// first write's, whatever dots it gains after.
	SameValue func(a, b V) bool
}

// writer is what MintPut and MintRemove look up for the replica they
// write as, kept from one call to the next: its index in reps, its hash
// for the fingerprint, and where its entries were found in the context
// and in the clocks of the records. Nothing here is trusted without a
// check: the index is checked against reps, and the hints (see
// vclock.Hint) against the entries they name, so that no change to the
// kernel (a join, a retirement, a restore) can leave it stale. Clones,
// deltas and decoded kernels start without one.
type writer struct {
	id      vclock.ReplicaID
	rep     uint32 // index of id in reps, if reps[rep] == id
	h       uint64 // codec.HashString(codec.HashSeed, id)
	ctx     vclock.Hint
	recMax  vclock.Hint
	horizon vclock.Hint
}

// sameID reports whether a == b, without a call to compare their bytes
// when they share them, as the copies of the writer's ID in reps and in
// the writer cache do.
func sameID(a, b vclock.ReplicaID) bool {
	return len(a) == len(b) && (unsafe.StringData(string(a)) == unsafe.StringData(string(b)) || a == b)
}

// writer returns the writer cache for id, with its index in reps
// checked (and id added to reps if needed).
// MintPut and MintRemove test the cache inline (w.shared) and call it only
// when that fails.
//
// It leaves the cache, and id's entry in reps, holding id itself (the
// same bytes, not a copy), so that the next call with id passes
// w.shared.
func (k *Kernel[K, V]) writer(id vclock.ReplicaID) *writer {
	w := &k.w
	if !sameID(id, w.id) || id == "" {
		*w = writer{id: id, h: codec.HashString(codec.HashSeed, string(id))}
		w.rep = k.repIndex(id)
	} else if !w.valid(id, k.reps) {
		w.rep = k.repIndex(id)
	}
	w.id = id
	if id != "" {
		k.reps[w.rep] = id // equal to what was there: now its very bytes
	}
	return w
}

// valid reports whether w is the cache of id, with its index in reps.
func (w *writer) valid(id vclock.ReplicaID, reps []vclock.ReplicaID) bool {
	return sameID(id, w.id) && w.rep < uint32(len(reps)) && sameID(reps[w.rep], id) && id != ""
}

// shared is valid, answered by the addresses of the bytes alone: it
// reports whether id, w.id and id's entry in reps are one string, not
// empty. When it is false, writer does the full check (and makes the
// three one string).
func (w *writer) shared(id vclock.ReplicaID, reps []vclock.ReplicaID) bool {
	if w.rep >= uint32(len(reps)) {
		return false
	}
	r := reps[w.rep]
	p := unsafe.StringData(string(id))
	return p == unsafe.StringData(string(w.id)) && p == unsafe.StringData(string(r)) &&
		len(id) == len(w.id) && len(id) == len(r) && len(id) > 0
}

// repIndex returns the index of id in k.reps, adding it if needed.
func (k *Kernel[K, V]) repIndex(id vclock.ReplicaID) uint32 {
	if i, ok := k.findRep(id); ok {
		return i
	}
	i := uint32(len(k.reps))
	k.reps = append(k.reps, id)
	if k.repIdx != nil {
		k.repIdx[id] = i
	} else if len(k.reps) > 8 {
		k.repIdx = indexOf(k.reps)
	}
	return i
}

// findRep returns the index of id in k.reps, if it is there.
func (k *Kernel[K, V]) findRep(id vclock.ReplicaID) (uint32, bool) {
	return findIn(k.reps, k.repIdx, id)
}

// findIn returns the index of id in reps, if it is there, looked up in
// idx, the index of reps by ID, if there is one. The kernel and its ring
// of drop records each number replicas this way: a list, indexed once it
// grows past a few.
func findIn(reps []vclock.ReplicaID, idx map[vclock.ReplicaID]uint32, id vclock.ReplicaID) (uint32, bool) {
	if idx != nil {
		i, ok := idx[id]
		return i, ok
	}
	for i, r := range reps {
		if r == id {
			return uint32(i), true
		}
	}
	return 0, false
}

// indexOf returns the index of reps by ID, for findIn.
func indexOf(reps []vclock.ReplicaID) map[vclock.ReplicaID]uint32 {
	idx := make(map[vclock.ReplicaID]uint32, max(16, 2*len(reps)))
	for i, r := range reps {
		idx[r] = uint32(i)
	}
	return idx
}

// noteDot tells the index that the dot of replica index rep and sequence
// number seq now supports key. Every path by which a dot enters the store
// calls it, except decoding, which makes a new kernel.
func (k *Kernel[K, V]) noteDot(rep uint32, seq uint64, key K) {
	if k.ix == nil {
		k.ix = new(Index[K])
	}
	if k.ix.hear {
		if k.ix.active {
			k.ix.Add(rep, seq, key)
		}
		if ord := k.ix.ord; ord != nil {
			if ord.Idle(k.m.len()) {
				k.ix.SetOrder(nil) // see order
			} else {
				ord.Add(rep, seq, key)
			}
		}
	}
}

// noteDrop tells the index that the dot d no longer supports a key.
func (k *Kernel[K, V]) noteDrop(d vclock.Dot) {
	if k.ix.Active() {
		k.ix.Dropped(k.repOf(d), d.Seq)
	}
	k.ix.Order().Dropped()
}

// noting reports whether the indexes want to hear of the dots that
// leave the store.
func (k *Kernel[K, V]) noting() bool { return k.ix.Hears() }

// noteDrops tells the indexes, which are active, that dropped left the
// store.
func (k *Kernel[K, V]) noteDrops(dropped []vclock.Dot) {
	for _, x := range dropped {
		k.noteDrop(x)
	}
	k.tidy()
}

// tidy compacts the indexes if they hold many stale references.
// Mutators call it last, when the store is consistent again.
func (k *Kernel[K, V]) tidy() {
	if k.ix.Due() {
		k.ix.Compact(k.supports)
	}
	if ord := k.ix.Order(); ord.Due() {
		ord.Compact(k.supports)
	}
	k.tidyRecords()
}

func (k *Kernel[K, V]) tidyRecords() {
	if k.rix.Due() {
		k.rix.Compact(k.keeps)
	}
}

// keeps reports whether the record with the given id is kept, and is the
// record of the dot (reps[rep], seq).
func (k *Kernel[K, V]) keeps(rep uint32, seq uint64, id uint64) bool {
	i, ok := k.recs.find(id)
	return ok && k.recs.dotAt(i) == vclock.Dot{Replica: k.reps[rep], Seq: seq}
}

// noteRecordGone tells the record index that the record of the dot d is
// no longer kept.
func (k *Kernel[K, V]) noteRecordGone(d vclock.Dot) {
	if !k.rix.Active() {
		return
	}
	if i, ok := k.findRep(d.Replica); ok {
		k.rix.Dropped(i, d.Seq)
	}
}

// supports reports whether the dot (reps[rep], seq) supports key.
func (k *Kernel[K, V]) supports(rep uint32, seq uint64, key K) bool {
	e, ok := k.m.get(key)
	if !ok {
		return false
	}
	if e.single() {
		return e.rep() == rep && e.seq() == seq
	}
	return k.holds(key, e, vclock.Dot{Replica: k.reps[rep], Seq: seq})
}

// newDots returns an empty slice with room for n dots. Only mutators may
// call it: it writes the kernel's block, which no reader may touch. The slices of
// one or two dots that removes and re-adds hand out (to their ops and
// records) are cut from a shared block, so that a remove costs no
// allocation of its own; each slice's capacity is its length, so
// appending to one never writes into another.
func (k *Kernel[K, V]) newDots(n int) []vclock.Dot {
	if n > 2 {
		return make([]vclock.Dot, 0, n)
	}
	if cap(k.dotBlock)-len(k.dotBlock) < n {
		k.dotBlock = make([]vclock.Dot, 0, 128)
	}
	i := len(k.dotBlock)
	k.dotBlock = k.dotBlock[:i+n]
	return k.dotBlock[i : i : i+n]
}

// single returns the entry of key with value v and the single dot d, and
// stores d in k.more if it does not fit the entry.
func (k *Kernel[K, V]) single(key K, v V, d vclock.Dot) entry[V] {
	if w, ok := packed(k.repIndex(d.Replica), d.Seq); ok {
		k.shrinkMore(key, nil, 0)
		return entry[V]{v: v, d: w}
	}
	k.setMore(key, []vclock.Dot{d}) // packed above looked d's replica up
	return entry[V]{v: v, d: entryInMore}
}

// setMore keeps ds, sorted by vclock.Dot.Compare without repeats, as the
// dots of key apart from its entry. The kernel owns ds from then on. The
// replicas of the dots must be in k.reps already, or be added by the
// caller, so that encoding can bucket them: setMore looks up none of them,
// so that growing a key's dots one at a time costs no look-up per dot
// already there.
func (k *Kernel[K, V]) setMore(key K, ds []vclock.Dot) {
	if k.more == nil {
		k.more = make(map[K][]vclock.Dot)
	}
	k.more[key] = ds
}

// first returns the dot of a single entry.
func (k *Kernel[K, V]) first(e entry[V]) vclock.Dot {
	return vclock.Dot{Replica: k.reps[e.rep()], Seq: e.seq()}
}

// dotsOf returns the dots of key, whose entry is e, in a new slice. It
// only reads k: readers may call it at the same time.
func (k *Kernel[K, V]) dotsOf(key K, e entry[V]) []vclock.Dot {
	if e.single() {
		return []vclock.Dot{k.first(e)}
	}
	return slices.Clone(k.more[key])
}

// ownDots is dotsOf for mutators, which hand the slice out (in an op and
// a record): the slice is cut from the kernel's block (see newDots). Only
// a mutator, which has k to itself, may call it.
func (k *Kernel[K, V]) ownDots(key K, e entry[V]) []vclock.Dot {
	if e.single() {
		return append(k.newDots(1), k.first(e))
	}
	ms := k.more[key]
	return append(k.newDots(len(ms)), ms...)
}

// numDots returns the number of dots of key, whose entry is e.
func (k *Kernel[K, V]) numDots(key K, e entry[V]) int {
	if e.single() {
		return 1
	}
	return len(k.more[key])
}

// holds reports whether key, whose entry is e, is supported by d.
func (k *Kernel[K, V]) holds(key K, e entry[V], d vclock.Dot) bool {
	if e.single() {
		return e.seq() == d.Seq && k.reps[e.rep()] == d.Replica
	}
	_, found := slices.BinarySearchFunc(k.more[key], d, vclock.Dot.Compare)
	return found
}

// addDot adds the dot d, which key does not hold, to key, whose entry is
// e, and returns the new entry (which the caller stores). A key's dots are
// kept sorted: d goes at the end when it sorts last (as every dot does
// while a state is decoded, in order), else in its place.
func (k *Kernel[K, V]) addDot(key K, e entry[V], d vclock.Dot) entry[V] {
	k.repIndex(d.Replica)
	if e.single() {
		f := k.first(e)
		if f.Compare(d) < 0 {
			k.setMore(key, []vclock.Dot{f, d})
		} else {
			k.setMore(key, []vclock.Dot{d, f})
		}
	} else {
		ms := k.more[key]
		if n := len(ms); n == 0 || ms[n-1].Compare(d) < 0 {
			if n == cap(ms) {
				// Double, as append does only for short slices: a key
				// growing to many dots while decoding then allocates
				// twice its final size in all, not five times.
				ms = slices.Grow(ms, n)
			}
			ms = append(ms, d)
		} else {
			i, _ := slices.BinarySearchFunc(ms, d, vclock.Dot.Compare)
			ms = slices.Insert(ms, i, d)
		}
		k.setMore(key, ms)
	}
	e.d = entryInMore
	return e
}

// addDots adds the dots add (sorted, none held by key) to key, whose
// entry is e, in one pass, and returns the new entry.
func (k *Kernel[K, V]) addDots(key K, e entry[V], add []vclock.Dot) entry[V] {
	if len(add) == 1 {
		return k.addDot(key, e, add[0])
	}
	for _, d := range add {
		k.repIndex(d.Replica)
	}
	var have []vclock.Dot
	if e.single() {
		have = []vclock.Dot{k.first(e)}
	} else {
		have = k.more[key]
	}
	out := make([]vclock.Dot, 0, len(have)+len(add))
	i, j := 0, 0
	for i < len(have) || j < len(add) {
		if j == len(add) || (i < len(have) && have[i].Compare(add[j]) < 0) {
			out = append(out, have[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	k.setMore(key, out)
	e.d = entryInMore
	return e
}

// setEntry stores key with the value v and the dots ds (at least one,
// sorted without repeats), which the kernel owns from then on.
func (k *Kernel[K, V]) setEntry(key K, v V, ds []vclock.Dot) {
	if len(ds) == 1 {
		k.m.set(key, k.single(key, v, ds[0]))
		return
	}
	for _, d := range ds {
		k.repIndex(d.Replica)
	}
	k.setMore(key, ds)
	k.m.set(key, entry[V]{v: v, d: entryInMore})
}

// dropFrom removes the dot d from key, whose entry is e, if it holds it.
// It reports whether it did and whether the key is now absent.
func (k *Kernel[K, V]) dropFrom(key K, e entry[V], d vclock.Dot) (dropped, gone bool) {
	if e.single() {
		if e.seq() != d.Seq || k.reps[e.rep()] != d.Replica {
			return false, false
		}
		k.m.remove(key)
		k.noteDrop(d)
		k.fpSub(key, e.v, d)
		return true, true
	}
	ms := k.more[key]
	i, found := slices.BinarySearchFunc(ms, d, vclock.Dot.Compare)
	if !found {
		return false, false
	}
	k.noteDrop(d)
	k.fpSub(key, e.v, d)
	k.keepDots(key, e, slices.Delete(ms, i, i+1))
	return true, len(ms) == 1
}

// dropSorted removes from key, whose entry is e, the dots of ds (sorted;
// repeats do no harm) it holds, in one pass over both, and reports whether
// it dropped any and whether the key is now absent.
func (k *Kernel[K, V]) dropSorted(key K, e entry[V], ds []vclock.Dot) (dropped, gone bool) {
	if e.single() || len(ds) == 1 {
		for _, d := range ds {
			if dr, g := k.dropFrom(key, e, d); dr {
				return true, g
			}
		}
		return false, false
	}
	ms := k.more[key]
	keep := ms[:0]
	j := 0
	for _, m := range ms {
		for j < len(ds) && ds[j].Compare(m) < 0 {
			j++
		}
		if j < len(ds) && ds[j] == m {
			k.noteDrop(m)
			k.fpSub(key, e.v, m)
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == len(ms) {
		return false, false
	}
	clear(ms[len(keep):])
	k.keepDots(key, e, keep)
	return true, len(keep) == 0
}

// keepDots stores the dots ms (a prefix of the key's slice in k.more,
// possibly empty) as all the dots of key, whose entry was e.
func (k *Kernel[K, V]) keepDots(key K, e entry[V], ms []vclock.Dot) {
	switch len(ms) {
	case 0:
		k.shrinkMore(key, nil, 0)
		k.m.remove(key)
	case 1:
		k.m.set(key, k.single(key, e.v, ms[0]))
	default:
		k.setMore(key, ms)
	}
}

// shrinkMore keeps the first n of the dots ms of key in k.more.
func (k *Kernel[K, V]) shrinkMore(key K, ms []vclock.Dot, n int) {
	if n == 0 {
		if k.more != nil {
			delete(k.more, key)
			if len(k.more) == 0 {
				k.more = nil
			}
		}
		return
	}
	k.more[key] = ms[:n:n]
}

// Len returns the number of present keys.
func (k *Kernel[K, V]) Len() int { return k.m.len() }

// Get returns the value of key and whether it is present.
func (k *Kernel[K, V]) Get(key K) (V, bool) {
	e, ok := k.m.get(key)
	return e.v, ok
}

// GetDot returns the value of key, the dot that supports it and whether
// key is present, in one look-up: for a kernel whose keys hold one dot
// each ([Kernel.KeyOf]), where a key's dot may be a later one than the
// key names. Of a key supported by several dots it returns one of them.
func (k *Kernel[K, V]) GetDot(key K) (V, vclock.Dot, bool) {
	e, ok := k.m.get(key)
	if !ok {
		return e.v, vclock.Dot{}, false
	}
	if e.single() {
		return e.v, k.first(e), true
	}
	return e.v, k.more[key][0], true
}

// Has reports whether key is present.
func (k *Kernel[K, V]) Has(key K) bool {
	_, ok := k.m.get(key)
	return ok
}

// Dots returns the dots that support key, in no particular order.
func (k *Kernel[K, V]) Dots(key K) []vclock.Dot {
	e, ok := k.m.get(key)
	if !ok {
		return nil
	}
	return k.dotsOf(key, e)
}

// All iterates over the present keys and their values in unspecified
// order.
func (k *Kernel[K, V]) All() func(yield func(K, V) bool) {
	return func(yield func(K, V) bool) {
		for key, e := range k.m.all {
			if !yield(key, e.v) {
				return
			}
		}
	}
}

// Context returns the causal context. The caller must not modify it.
func (k *Kernel[K, V]) Context() *vclock.Context { return &k.ctx }

// Version returns the version of the kernel: for each replica, the count n
// such that its events 1 to n are all in the context and applied (see the
// package documentation on ghosts).
func (k *Kernel[K, V]) Version() vclock.Clock {
	v := k.ctx.Version()
	for id, ss := range k.ghosts.m {
		if g := ss[0].lo; g <= v.Get(id) {
			v.Set(id, g-1)
		}
	}
	return v
}

// versionCovers reports whether v is within k's version, found for v's
// replicas alone instead of building the version: a search per entry of
// v, plus a look-up of the replica's lowest ghost.
func (k *Kernel[K, V]) versionCovers(v vclock.Clock) bool {
	if v.IsZero() {
		return true
	}
	for id, n := range v.All() {
		have := k.ctx.Prefix(id)
		if g, ok := k.ghosts.lowest(id); ok && g <= have {
			have = g - 1
		}
		if have < n {
			return false
		}
	}
	return true
}

// Applied reports whether the mutation with dot d has been applied here:
// its dot is in the context and is no ghost. Applying it again would
// change nothing.
func (k *Kernel[K, V]) Applied(d vclock.Dot) bool {
	if !k.ctx.Contains(d) {
		return false
	}
	return !k.ghosts.contains(d)
}

// Ghosts returns the dots the context holds only because a mutation
// dropped them: their own mutations have not been applied here. They are
// sorted by [vclock.Dot.Compare].
func (k *Kernel[K, V]) Ghosts() []vclock.Dot {
	if k.ghosts.isEmpty() {
		return nil
	}
	var out []vclock.Dot
	k.ghosts.all(func(d vclock.Dot) bool {
		out = append(out, d)
		return true
	})
	return out
}

// markApplied marks the mutation with dot d as applied.
func (k *Kernel[K, V]) markApplied(d vclock.Dot) {
	if !k.ghosts.isEmpty() {
		k.ghosts.remove(d)
	}
}

// seeDropped adds the dropped dot d to the context, as a ghost if it is
// new.
func (k *Kernel[K, V]) seeDropped(d vclock.Dot) {
	if !d.Valid() {
		return
	}
	k.unsetAside(d) // a mutation that drops it is applied
	if k.ctx.Contains(d) {
		return
	}
	k.ghosts.add(d)
	k.ctx.Add(d)
}

// Horizon returns the version below which drop records may have been
// discarded.
func (k *Kernel[K, V]) Horizon() vclock.Clock { return k.horizon.Clone() }

// Records returns the drop records kept, oldest first. The caller must not
// modify them.
func (k *Kernel[K, V]) Records() []Record[K] { return k.liveRecords() }

// liveRecords returns the records beyond the horizon. Discarding the
// oldest record by the cap can bring a younger record of a lower sequence
// number within the horizon; such a record is dead weight (a peer it
// would serve gets a full copy) and is left out here rather than searched
// for on every discard.
func (k *Kernel[K, V]) liveRecords() []Record[K] {
	recs := k.recs.slice()
	if k.horizon.IsZero() {
		return recs
	}
	return slices.DeleteFunc(recs, func(r Record[K]) bool { return k.horizon.Contains(r.Dot) })
}

// Next returns the dot [Kernel.Mint] would return, without adding it, or
// an error wrapping [vclock.ErrSeqExhausted] if there is none. A mutator
// that must drop dots before it mints calls it first, so that it fails
// before changing anything.
func (k *Kernel[K, V]) Next(id vclock.ReplicaID) (vclock.Dot, error) {
	d := k.ctx.Next(id)
	if d.Seq == 0 {
		return vclock.Dot{}, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	return d, nil
}

// TryMint returns a new dot for replica id, added to the context, or the
// error of [Kernel.Next] and changes nothing: [Kernel.Next] and
// [Kernel.Mint] in one, for a mutator that has nothing to do before it
// mints.
func (k *Kernel[K, V]) TryMint(id vclock.ReplicaID) (vclock.Dot, error) {
	d := k.ctx.AddNext(id)
	if d.Seq == 0 {
		return vclock.Dot{}, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	return d, nil
}

// Mint returns a new dot for replica id and adds it to the context. If
// there is none it returns a dot with sequence number 0 and changes
// nothing: a mutator calls [Kernel.Next] first, and fails with its error.
func (k *Kernel[K, V]) Mint(id vclock.ReplicaID) vclock.Dot {
	return k.ctx.AddNext(id) // changes nothing when there is none
}

// Put makes the dot d the only support of key, with value v, and returns
// the dots that supported key before (now dropped), or nil. d must be new:
// minted with [Kernel.Mint]. The caller records the drop with
// [Kernel.Record] so that peers behind it learn of it through DeltaSince.
func (k *Kernel[K, V]) Put(key K, v V, d vclock.Dot) (dropped []vclock.Dot) {
	e := entry[V]{v: v, d: entryInMore}
	rep := k.repIndex(d.Replica)
	w, fits := packed(rep, d.Seq)
	if fits {
		e.d = w
	}
	old, ok := k.m.put(key, e)
	if ok {
		dropped = k.ownDots(key, old)
		if !old.single() {
			k.shrinkMore(key, nil, 0)
		}
	}
	if !fits {
		k.setMore(key, []vclock.Dot{d})
	}
	k.noteDot(rep, d.Seq, key)
	k.fpAdd(key, v, d)
	for _, x := range dropped {
		k.fpSub(key, old.v, x)
	}
	if k.ix.hear {
		k.noteDrops(dropped)
	}
	return dropped
}

// Remove drops key and returns the dots that supported it, or nil if key
// was absent. The caller mints a dot for the removal and records the drop
// with [Kernel.Record].
func (k *Kernel[K, V]) Remove(key K) (dropped []vclock.Dot) {
	old, ok := k.m.remove(key)
	if !ok {
		return nil
	}
	dropped = k.ownDots(key, old)
	if !old.single() {
		k.shrinkMore(key, nil, 0)
	}
	for _, x := range dropped {
		k.fpSub(key, old.v, x)
	}
	if k.noting() {
		k.noteDrops(dropped)
	}
	return dropped
}

// MintPut is what a local write of key does, in one call: it mints a
// new dot of replica id (as [Kernel.TryMint]), makes it the only support
// of key with value v (as [Kernel.Put]), and records the drop of the dots
// that supported key before (as [Kernel.Record]). It returns the new dot
// and the dropped dots, sorted by [vclock.Dot.Compare] (nil if there were
// none); the kernel keeps them in its record, so the caller must not
// modify them. If id has no sequence number left, it changes nothing and
// returns the error of [Kernel.Next].
//
// It looks id up once per call at most: where the replica's entries are
// is kept from one call to the next, and checked before it is used.
func (k *Kernel[K, V]) MintPut(id vclock.ReplicaID, key K, v V) (vclock.Dot, []vclock.Dot, error) {
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	d := k.ctx.AddNextHint(id, &w.ctx)
	if d.Seq == 0 {
		return vclock.Dot{}, nil, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	e := entry[V]{v: v, d: entryInMore}
	pw, fits := packed(w.rep, d.Seq)
	if fits {
		e.d = pw
	}
	old, ok := k.m.put(key, e)
	var dropped []vclock.Dot
	if ok {
		dropped = k.ownDots(key, old)
		if !old.single() {
			k.shrinkMore(key, nil, 0)
		}
	}
	if !fits {
		k.setMore(key, []vclock.Dot{d})
	}
	if k.ix == nil || k.ix.hear { // else noteDot does nothing
		k.noteDot(w.rep, d.Seq, key)
	}
	k.fp += dotHashWith(key, d, codec.HashUint(w.h, d.Seq), k.KeyOf != nil)
	if k.Watch != nil {
		k.Watch(key, v, d, true)
	}
	if len(dropped) == 0 {
		return d, nil, nil
	}
	for _, x := range dropped {
		k.fpSub(key, old.v, x)
	}
	if k.ix.hear {
		k.noteDrops(dropped)
	}
	if len(dropped) > 1 {
		slices.SortFunc(dropped, vclock.Dot.Compare)
	}
	k.recordOwn(w, d, key, dropped, 0)
	return d, dropped, nil
}

// MintRemove is what a local remove of key does, in one call: if key is
// present, it drops key's dots (as [Kernel.Remove]), mints a new dot of
// replica id for the removal and adds it to the context, and records the
// drop (as [Kernel.Record]). It returns the new dot and the dropped dots,
// sorted by [vclock.Dot.Compare], which the kernel may keep in its record:
// the caller must not modify them. If key is absent it changes nothing
// and returns no dot and nil. If id has no sequence number left and key
// is present, it changes nothing and returns the error of [Kernel.Next].
//
// It looks id up once per call at most, as [Kernel.MintPut] does.
func (k *Kernel[K, V]) MintRemove(id vclock.ReplicaID, key K) (vclock.Dot, []vclock.Dot, error) {
	d, own, dropped, err := k.MintRemoveOwn(id, key)
	if own != 0 {
		dropped = append(k.newDots(1), vclock.Dot{Replica: d.Replica, Seq: own})
	}
	return d, dropped, err
}

// MintRemoveOwn is [Kernel.MintRemove], for a caller that can hold a
// dropped dot of id's own without a slice: when key's only dot was
// one of id's, it returns that dot's sequence number as own, and nil
// for dropped. Otherwise own is 0 and dropped is what MintRemove
// returns.
func (k *Kernel[K, V]) MintRemoveOwn(id vclock.ReplicaID, key K) (d vclock.Dot, own uint64, dropped []vclock.Dot, err error) {
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	old, ok := k.m.remove(key)
	if !ok {
		return vclock.Dot{}, 0, nil, nil
	}
	d = k.ctx.AddNextHint(id, &w.ctx)
	if d.Seq == 0 {
		k.m.put(key, old) // as it was: nothing else has changed yet
		return vclock.Dot{}, 0, nil, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	switch {
	case old.single() && old.rep() == w.rep:
		// One dot of id's: its hash is known, and it is hashed as
		// MintPut hashed it.
		x := vclock.Dot{Replica: id, Seq: old.seq()}
		own = x.Seq
		k.fp -= dotHashWith(key, x, codec.HashUint(w.h, x.Seq), k.KeyOf != nil)
		if k.Watch != nil {
			k.Watch(key, old.v, x, false)
		}
		if k.noting() {
			k.noteDrop(x)
			k.tidy()
		}
	case old.single():
		x := k.first(old)
		dropped = append(k.newDots(1), x)
		k.fpSub(key, old.v, x)
	default:
		dropped = k.ownDots(key, old)
		k.shrinkMore(key, nil, 0)
		for _, x := range dropped {
			k.fpSub(key, old.v, x)
		}
	}
	if dropped != nil && k.noting() {
		k.noteDrops(dropped)
	}
	// d was beyond the context, and every ghost is within it: d is no
	// ghost, and applied as soon as it is in the context.
	k.recordOwn(w, d, key, dropped, own)
	return d, own, dropped, nil
}

// recordOwn is [Kernel.Record] for the dot d that MintPut or MintRemove
// just minted for the writer w, and the dots it dropped from the store:
// dropped, or, if own is not 0, the dot of d's replica numbered own.
// It skips what Record checks that such a record cannot fail: d was
// beyond the context, which holds every recorded dot, so no record has
// it; and the dropped dots came from the store, sorted, valid, and
// before d if they are d's replica's (they were in the context). Only
// the horizon is checked, which a peer's state may have carried beyond
// the context.
func (k *Kernel[K, V]) recordOwn(w *writer, d vclock.Dot, key K, dropped []vclock.Dot, own uint64) {
	if d.Seq <= k.horizon.GetHint(d.Replica, &w.horizon) {
		return
	}
	limit := k.maxRecords()
	n := k.recs.len() + 1 - limit
	// At the cap, with as many slots as records (the rule once the cap is
	// reached, for a cap of whole chunks), the oldest record's slot takes
	// the new one.
	rotate := n == 1 && k.recs.full()
	var id uint64
	r := &k.recs
	if own == 0 && len(dropped) == 1 && sameID(dropped[0].Replica, d.Replica) {
		own = dropped[0].Seq
	}
	if own != 0 && (rotate || n <= 0) && r.packsOwn(d, own) {
		// A mutation that dropped one dot of its own writer (a remove,
		// or a write, of what this replica wrote), whose replica the
		// ring looked up last: its slot is filled here, packed.
		rw := uint64(r.last+1) << 1 // the replica packsOwn found
		var p int
		var s *recSlot[K]
		if rotate {
			p = r.head
			r.head = r.slot(1)
			s = r.rec(p)
			var old vclock.Dot
			if s.dot > wideDots {
				old = r.unpack(s.dot)
			} else {
				old = r.wide[*r.id(p)].dot
				delete(r.wide, *r.id(p))
			}
			k.discarded(old)
		} else {
			if r.n == r.size {
				r.grow(limit)
			}
			p = r.slot(r.n)
			r.n++
			s = r.rec(p)
		}
		s.key = key
		s.dot, s.drop = d.Seq<<seqShift|rw, own<<seqShift|rw
		id = r.next
		*r.id(p) = id
		r.next++
	} else {
		if dropped == nil {
			dropped = []vclock.Dot{{Replica: d.Replica, Seq: own}}
		}
		var p int
		if rotate {
			var old vclock.Dot
			old, p, id = k.recs.rotate()
			k.discarded(old)
		} else {
			if n > 0 {
				k.discardOldest(n)
			}
			p, id = k.recs.pushSlot(limit)
		}
		k.recs.set(p, id, d, key, dropped)
	}
	k.recMax.AdvanceHint(d.Replica, d.Seq, &w.recMax)
	if k.recIdx != nil {
		k.recIdx[d] = struct{}{}
	}
	if k.rix == nil {
		k.rix = new(Index[uint64])
	}
	if k.rix.active {
		k.rix.Add(w.rep, d.Seq, id)
		k.tidyRecords()
	}
}

// Insert applies a remote mutation that added dot d to key with value v
// and dropped the dots in dropped, which may support key or any other key.
// If the mutation was already applied ([Kernel.Applied]) it does nothing.
// Otherwise the dropped dots enter the context and leave the store, the
// mutation is recorded (see [Kernel.Record]) with key, so that DeltaSince
// relays it, and d is added unless the context already holds it (a later
// mutation dropped it): that is what makes a late or repeated mutation
// harmless. It reports whether the store changed.
//
// Dropped dots are looked for under key first. One that is not there but
// that the context holds is looked for under the key equal to the dot
// when K is [vclock.Dot], and otherwise by a scan of the store; a caller
// whose dropped dots all supported key should use [Kernel.Drop] and
// [Kernel.Record] and then Insert with no dropped dots, which never scans.
// With [Kernel.KeyOf] set, a dot not under key is found through the order
// of the store's dots, not by a scan; and if key holds a dot of d's
// replica, the later of the two stays, with its value (see KeyOf).
func (k *Kernel[K, V]) Insert(key K, v V, d vclock.Dot, dropped []vclock.Dot) bool {
	if k.Applied(d) {
		return false
	}
	changed := false
	if len(dropped) > 0 {
		changed = k.dropAny(key, dropped)
		k.Record(d, key, dropped)
	}
	if k.ctx.Contains(d) || k.removed.contains(d) {
		k.ctx.Add(d)
		k.markApplied(d)
		k.tidy()
		return changed
	}
	k.ctx.Add(d)
	if e, ok := k.m.get(key); ok && k.KeyOf != nil {
		if !k.takeKeyed(key, e, v, d, k.repIndex(d.Replica)) {
			k.tidy()
			return changed // d is implied by key's later dot
		}
		k.fpAdd(key, v, d)
		k.tidy()
		return true
	} else if ok {
		k.m.set(key, k.addDot(key, e, d))
	} else {
		k.m.set(key, k.single(key, v, d))
	}
	k.noteDot(k.repIndex(d.Replica), d.Seq, key)
	k.fpAdd(key, v, d)
	k.tidy()
	return true
}

// dropAny drops dots that may support key or other keys.
func (k *Kernel[K, V]) dropAny(key K, dots []vclock.Dot) bool {
	var elsewhere []vclock.Dot
	for _, x := range dots {
		if k.ctx.Contains(x) {
			elsewhere = append(elsewhere, x)
		}
	}
	changed := k.drop(key, dots)
	for _, x := range elsewhere {
		if k.dropElsewhere(x) {
			changed = true
		}
	}
	return changed
}

// dropElsewhere removes the dot x from whichever key holds it.
func (k *Kernel[K, V]) dropElsewhere(x vclock.Dot) bool {
	if k.KeyOf != nil {
		_, dropped, _ := k.dropByOrder(x)
		return dropped
	}
	if key, ok := any(x).(K); ok {
		e, ok := k.m.get(key)
		if !ok {
			return false
		}
		dropped, _ := k.dropFrom(key, e, x)
		return dropped
	}
	for key, e := range k.m.all {
		if k.holds(key, e, x) {
			k.dropFrom(key, e, x)
			return true
		}
	}
	return false
}

// Drop applies the drops of a remote mutation that dropped the given dots
// of key: they leave the store and enter the context, so they stay
// dropped if they arrive later. The caller adds the mutation's own dot
// with [Kernel.Observe] (or [Kernel.Insert]) and keeps a record with
// [Kernel.Record]; it first checks with [Kernel.Applied] that the
// mutation is new. It reports whether the store changed. With
// [Kernel.KeyOf] set, a dot key does not hold is looked for under the key
// derived from it, through the order of the store's dots: a record or op
// may name the dot it dropped, not its key.
func (k *Kernel[K, V]) Drop(key K, dots []vclock.Dot) bool {
	changed := k.drop(key, dots)
	k.tidy()
	return changed
}

func (k *Kernel[K, V]) drop(key K, dots []vclock.Dot) bool {
	for _, d := range dots {
		k.seeDropped(d)
	}
	if k.KeyOf != nil {
		// A key holds one dot: those of dots it does not hold are held
		// under keys derived from them, if at all.
		changed := false
		for _, d := range dots {
			if e, ok := k.m.get(key); ok {
				if dropped, _ := k.dropFrom(key, e, d); dropped {
					changed = true
					continue
				}
			}
			if k.ctx.Contains(d) {
				if _, dropped, _ := k.dropByOrder(d); dropped {
					changed = true
				}
			}
		}
		return changed
	}
	e, ok := k.m.get(key)
	if !ok {
		return false
	}
	if !slices.IsSortedFunc(dots, vclock.Dot.Compare) {
		dots = slices.SortedFunc(slices.Values(dots), vclock.Dot.Compare)
	}
	dropped, _ := k.dropSorted(key, e, dots)
	return dropped
}

// Observe adds the dot d of a mutation to the context without changing the
// store (a remove's own dot, say), and marks the mutation applied: call it
// once the mutation's drops are applied.
func (k *Kernel[K, V]) Observe(d vclock.Dot) {
	k.ctx.Add(d)
	k.unsetAside(d)
	k.markApplied(d)
}

// unsetAside takes d out of the dots a removed part set aside (see
// JoinPart), once the context holds (or is about to hold) both d and a
// mutation that dropped it: the context keeps d out of the store from
// then on, and it is no longer a gap (HasGaps). Dots set aside stay so
// when d alone enters the context (d's own op arriving late, say): a
// replica at that version may still hold d.
func (k *Kernel[K, V]) unsetAside(d vclock.Dot) {
	if !k.removed.isEmpty() {
		k.removed.remove(d)
	}
}

func (k *Kernel[K, V]) maxRecords() int {
	if k.MaxRecords <= 0 {
		return DefaultMaxRecords
	}
	return k.MaxRecords
}

// Record keeps the record that the mutation with dot d dropped the given
// dots of key, so that DeltaSince tells peers that have not seen d and
// Join applies it. Call it once for every mutation that dropped dots, when
// applying it: after a local mutation, and for a remote one that was not
// applied before. Records with no dropped dots, whose dot is within the
// horizon, or already kept, are ignored. The kernel keeps dropped (or, if
// it is not sorted by [vclock.Dot.Compare] without repeats, a sorted copy,
// leaving out dots d cannot have dropped): the caller must not modify it
// afterwards. When more than MaxRecords records are kept, the oldest are
// discarded and the horizon advances past them.
func (k *Kernel[K, V]) Record(d vclock.Dot, key K, dropped []vclock.Dot) {
	if len(dropped) == 0 || !d.Valid() || k.horizon.Contains(d) {
		return
	}
	if d.Seq <= k.recMax.Get(d.Replica) && k.recorded(d) {
		return
	}
	dropped = canonDropped(d, dropped)
	if len(dropped) == 0 {
		return
	}
	if n := k.recs.len() + 1 - k.maxRecords(); n > 0 {
		k.discardOldest(n)
	}
	id := k.recs.push(d, key, dropped, k.maxRecords())
	k.recMax.Advance(d.Replica, d.Seq)
	if k.recIdx != nil {
		k.recIdx[d] = struct{}{}
	}
	rep := k.repIndex(d.Replica)
	if k.rix == nil {
		k.rix = new(Index[uint64])
	}
	if k.rix.active {
		k.rix.Add(rep, d.Seq, id)
		k.tidyRecords()
	}
}

// recorded reports whether a record with dot d is kept. Records mostly
// arrive in order, newer than every record of their replica, and need no
// look-up; the index for the others is built when first needed.
func (k *Kernel[K, V]) recorded(d vclock.Dot) bool {
	if k.recIdx == nil {
		k.recIdx = make(map[vclock.Dot]struct{}, k.recs.len())
		for i := range k.recs.len() {
			k.recIdx[k.recs.dotAt(i)] = struct{}{}
		}
	}
	_, ok := k.recIdx[d]
	return ok
}

// canonDropped returns the dots d may have dropped, sorted and without
// repeats: invalid dots, and dots of d's replica not before d (see
// mayDrop), are left out. It never modifies its argument.
func canonDropped(d vclock.Dot, dropped []vclock.Dot) []vclock.Dot {
	ok := true
	for i, x := range dropped {
		if !x.Valid() || !mayDrop(d, x) || (i > 0 && dropped[i-1].Compare(x) >= 0) {
			ok = false
			break
		}
	}
	if ok {
		return dropped
	}
	out := slices.DeleteFunc(slices.Clone(dropped), func(x vclock.Dot) bool {
		return !x.Valid() || !mayDrop(d, x)
	})
	slices.SortFunc(out, vclock.Dot.Compare)
	return slices.Compact(out)
}

// discardOldest discards the n oldest records, advancing the horizon past
// them.
func (k *Kernel[K, V]) discardOldest(n int) {
	for range min(n, k.recs.len()) {
		k.discarded(k.recs.dropOldest())
	}
}

// discarded advances the horizon past the dot d of a record just
// discarded by the cap, and forgets d in the indexes of records.
func (k *Kernel[K, V]) discarded(d vclock.Dot) {
	k.capped++
	k.horizon.AdvanceHint(d.Replica, d.Seq, &k.w.horizon)
	if k.recIdx != nil {
		delete(k.recIdx, d)
	}
	if k.rix.Active() {
		k.noteRecordGone(d)
	}
}

// Collect discards the drop records of mutations every replica has seen:
// those whose dot is within stable, the meet of the versions of all
// replicas. It returns how many were discarded. Collecting never changes
// what the kernel holds, only how small a delta it can send to a peer whose
// version is older than stable. It also raises the floors of the indexes
// DeltaSince uses to stable, dropping their references to what every
// replica has seen.
func (k *Kernel[K, V]) Collect(stable vclock.Clock) int {
	n := 0
	horizon := k.horizon.Clone() // records already within it are dead, not counted
	k.filterRecords(func(d vclock.Dot) bool {
		switch {
		case horizon.Contains(d):
			k.capped++ // dead since a discard by the cap (see liveRecords)
			return false
		case stable.Contains(d):
			k.horizon.Advance(d.Replica, d.Seq)
			n++
			return false
		}
		return true
	})
	if k.ix.Active() || k.rix.Active() {
		floors := make([]uint64, len(k.reps))
		for i, id := range k.reps {
			floors[i] = stable.Get(id)
		}
		k.ix.Raise(floors)
		k.rix.Raise(floors)
	}
	return n
}

// filterRecords keeps the records for whose dot keep is true.
func (k *Kernel[K, V]) filterRecords(keep func(vclock.Dot) bool) {
	k.recs.filter(func(d vclock.Dot) bool {
		if keep(d) {
			return true
		}
		if k.recIdx != nil {
			delete(k.recIdx, d)
		}
		k.noteRecordGone(d)
		return false
	})
}

// ctxView answers "does this context hold the dot?" for a kernel's
// replica indexes, without looking replicas up by name.
type ctxView struct {
	max   []uint64         // per replica index: events 1 to max are held
	extra [][]vclock.Range // per replica index: further runs, in order
}

func (k *Kernel[K, V]) view(c *vclock.Context) ctxView {
	var v ctxView
	for r := range c.Ranges() {
		i := int(k.repIndex(r.Replica))
		for len(v.max) <= i {
			v.max = append(v.max, 0)
			v.extra = append(v.extra, nil)
		}
		if r.Lo == 1 {
			v.max[i] = r.Hi
		} else {
			v.extra[i] = append(v.extra[i], r)
		}
	}
	return v
}

func (v *ctxView) has(rep uint32, seq uint64) bool {
	if int(rep) >= len(v.max) || seq == 0 {
		return false
	}
	if seq <= v.max[rep] {
		return true
	}
	ex := v.extra[rep]
	if len(ex) == 0 {
		return false
	}
	_, found := slices.BinarySearchFunc(ex, seq, func(r vclock.Range, s uint64) int {
		switch {
		case r.Hi < s:
			return -1
		case r.Lo > s:
			return 1
		}
		return 0
	})
	return found
}

func (k *Kernel[K, V]) viewHas(v *ctxView, d vclock.Dot) bool {
	i, ok := k.findRep(d.Replica)
	return ok && v.has(i, d.Seq)
}

// Join merges o into k: a dot survives if both hold it, or if one holds it
// and the other has never seen it. Contexts, records and horizons are
// united. Join is commutative, associative and idempotent in the store, the
// context and the ghosts. It reports whether the set of present keys
// changed.
//
// Join costs in proportion to o when o keeps all its records
// ([Kernel.RecordsAll]) and o's horizon is within k's version (always so
// for a delta made for k, and for the states of replicas whose records
// are collected as the engine does): the dots of k that o has dropped are
// then exactly those o's records name. Otherwise it also looks at the
// dots of k that o's context holds (see dropSeenBy): each is held by o
// too, or dropped; the first such join makes k's order of its dots, in a
// pass over its store.
func (k *Kernel[K, V]) Join(o *Kernel[K, V]) (changed bool) {
	return k.join(o, false)
}

// Heal merges o into k as Join does, without trusting o's records: it
// always looks at the dots of k that o's context holds (see dropSeenBy),
// and drops each that o does not hold, whether or not a record of o names
// it. It is the textbook causal join, for when k and o are known to have
// diverged (the same version, different fingerprints): a drop that o, or
// a replica o has joined, made without a record (a data type's implied
// drops, see [Kernel.RecordsAll], or a record a faulty or hostile peer
// crafted to drop what implied them) leaves k holding a dot that o has
// seen dropped, which Join keeps for good and Heal drops. Its cost is
// Join's slow path: in proportion to the dots of k within o's context,
// and the first such join makes k's order of its dots.
//
// Heal leaves k's RecordsAll as it was, even if it drops dots no record
// names, or o does not set it: a heal is paid once, after a divergence
// was detected, and the joins after it stay on the fast path. That is
// safe. A dot Heal drops without a record is one o's context holds and
// its store does not: every replica that has joined o, directly or not,
// has dropped it or never held it. A replica that still holds it (it
// took the dot before and trusted the records since) holds content k
// does not at a version k reaches too, and so differs from k in its
// fingerprint once their versions meet: the divergence shows, and is
// healed the same way, by a Heal with a state that has seen the drop; so
// does a replica that takes the dot from such a one. No replica takes it
// back from k or from any replica that joined k since: neither Join nor
// Heal takes a dot the receiver's context holds, and the dot is in their
// contexts and not in their stores. So the missing record delays no
// convergence that the detection of divergences does not already bring.
//
// With [Kernel.SameValue] set, Heal also drops every dot that k and o
// both hold under one key with values SameValue calls different: a
// writer that sent two different writes under one dot (a hostile peer
// telling each replica something else) is taken at its word by neither.
// Each side drops it when it heals with the other's state, and the dot
// stays in both contexts, so no join brings either write back: the
// replicas agree on neither, whichever heals first. A replica that holds
// one of the two and has not healed differs from them in its fingerprint,
// and heals the same way.
//
// The order of its dots that k makes for a heal, if it had none, goes
// when the heal is done: every insert and drop keeps an order up to date
// (an increment of a map of counters costs about three quarters more
// while it lasts), and a heal, which is rare, is no reason to pay that
// until the order is idle ([Order.Idle]).
func (k *Kernel[K, V]) Heal(o *Kernel[K, V]) (changed bool) {
	had := k.ix != nil && k.ix.Order() != nil
	changed = k.join(o, true)
	if !had && k.ix != nil {
		k.ix.SetOrder(nil)
	}
	return changed
}

// join is Join, and with heal set, Heal.
func (k *Kernel[K, V]) join(o *Kernel[K, V], heal bool) (changed bool) {
	if k == o {
		return false
	}
	ghostsOfO := k.ghostsFrom(o)
	// The records of o whose mutations k has not applied: they are all k
	// lacks of o's drops, when o's horizon is within k's version.
	var fresh []Record[K]
	for _, r := range o.liveRecords() {
		if !k.Applied(r.Dot) {
			fresh = append(fresh, r)
		}
	}
	gone := make(map[K]struct{}) // keys dropped here, which o may bring back
	shared := k.ctx.Overlaps(&o.ctx)
	if !heal && o.RecordsAll && k.versionCovers(o.horizon) {
		for _, r := range fresh {
			for _, x := range r.Dropped {
				if key, ok := k.dropDot(r.Key, x); ok {
					gone[key] = struct{}{}
				}
			}
		}
	} else if shared && k.m.len() > 0 {
		k.dropSeenBy(o, gone, heal)
	}
	var heldAside []vclock.Dot
	grew := k.takeFrom(o, shared, gone, &heldAside)
	k.ctx.Merge(&o.ctx)
	if !k.removed.isEmpty() {
		// Dots set aside by a removed part (of a catch-up cut short, say)
		// that o has seen and no longer holds: o's context holds a
		// mutation that dropped each, and so does k's now (see
		// unsetAside). Those o still holds stay aside.
		for rg := range o.ctx.Ranges() {
			k.steps += 1 + k.removed.removeRange(rg.Replica, rg.Lo, rg.Hi)
		}
		for _, d := range heldAside {
			k.removed.add(d)
		}
		for _, r := range fresh {
			for _, x := range r.Dropped {
				k.unsetAside(x)
			}
		}
	}
	k.joinGhosts(o, ghostsOfO)
	if !heal {
		k.RecordsAll = k.RecordsAll && o.RecordsAll
	}
	for _, r := range fresh {
		k.Record(r.Dot, r.Key, r.Dropped)
	}
	if !o.horizon.IsZero() {
		k.horizon.Merge(o.horizon)
		k.filterRecords(func(d vclock.Dot) bool { return !k.horizon.Contains(d) })
	}
	k.tidy()
	for key := range gone {
		if !k.Has(key) {
			return true
		}
	}
	return grew
}

// dropDot drops the dot x from key, or, when K is vclock.Dot, from the key
// x. It returns the key it dropped x from, if it was absent after.
func (k *Kernel[K, V]) dropDot(key K, x vclock.Dot) (K, bool) {
	if e, ok := k.m.get(key); ok {
		if dropped, gone := k.dropFrom(key, e, x); dropped {
			return key, gone
		}
	}
	if xk, ok := any(x).(K); ok {
		if e, ok := k.m.get(xk); ok {
			if dropped, gone := k.dropFrom(xk, e, x); dropped {
				return xk, gone
			}
		}
	}
	if k.KeyOf != nil && k.ctx.Contains(x) {
		// x is held, if at all, under a key derived from it, which the
		// record does not name: the order finds it.
		if key, dropped, gone := k.dropByOrder(x); dropped {
			return key, gone
		}
	}
	var zero K
	return zero, false
}

// dropSeenBy drops every dot of k that o has seen and does not hold,
// adding the keys that lose all their dots to gone. It looks only at the
// dots of k within o's context, found in k's order of its dots (made
// here, in one pass over the store, the first time a join needs it):
// each is held by o too, or dropped, so that the work is within o's size
// plus the dots dropped (each paid for by the insert that added it).
//
// With heal set and k.SameValue given, it also drops every dot that o
// holds too, under the same key, with a different value (see Heal).
func (k *Kernel[K, V]) dropSeenBy(o *Kernel[K, V], gone map[K]struct{}, heal bool) {
	same := k.SameValue // nil: values are not compared
	if !heal {
		same = nil
	}
	if scanSeen {
		k.steps += k.m.len()
		k.seenWork += k.m.len()
		k.dropSeenByScan(o, gone, same)
		return
	}
	ord := k.order()
	type keyDot struct {
		key K
		d   vclock.Dot
	}
	var drop []keyDot
	for rg := range o.ctx.Ranges() {
		rep := k.repIndex(rg.Replica) // as view does: the join adds o's replicas anyway
		k.steps++
		ord.Range(rep, rg.Lo, rg.Hi, func(seq uint64, key K) bool {
			k.steps++
			k.seenWork++
			e, ok := k.m.get(key)
			if !ok {
				return false // stale
			}
			d := vclock.Dot{Replica: k.reps[rep], Seq: seq}
			if e.single() {
				if e.rep() != rep || e.seq() != seq {
					return false
				}
			} else if !k.holds(key, e, d) {
				return false
			}
			if oe, inO := o.m.get(key); inO && o.holds(key, oe, d) && (same == nil || same(e.v, oe.v)) {
				return true
			}
			drop = append(drop, keyDot{key, d})
			return false // dropped below
		})
	}
	if len(drop) == 0 {
		return
	}
	// The dots of one key go together, in one pass over its dots.
	var many map[K][]vclock.Dot
	for _, x := range drop {
		e, _ := k.m.get(x.key)
		if e.single() {
			k.dropFrom(x.key, e, x.d)
			gone[x.key] = struct{}{}
			continue
		}
		if many == nil {
			many = make(map[K][]vclock.Dot)
		}
		many[x.key] = append(many[x.key], x.d)
	}
	for key, ds := range many {
		slices.SortFunc(ds, vclock.Dot.Compare)
		e, _ := k.m.get(key)
		if _, g := k.dropSorted(key, e, ds); g {
			gone[key] = struct{}{}
		}
	}
}

// order returns the order of the store's dots that k.ix carries, making
// it, in one pass over the store, if there is none. Only mutators call it.
// noteDot lets the order go once it is idle ([Order.Idle]): a store that
// takes as many dots as it holds between two queries makes its order
// again for the next one, which costs about what keeping it would have.
func (k *Kernel[K, V]) order() *Order[K] {
	if k.ix == nil {
		k.ix = new(Index[K])
	}
	ord := k.ix.Order()
	if ord == nil {
		k.steps += k.m.len()
		k.seenWork += k.m.len()
		ord = NewOrder(func(note func(rep uint32, seq uint64, key K)) {
			for key, e := range k.m.all {
				if e.single() {
					note(e.rep(), e.seq(), key)
					continue
				}
				for _, d := range k.more[key] {
					note(k.repOf(d), d.Seq, key)
				}
			}
		})
		k.ix.SetOrder(ord)
	}
	return ord
}

// HolderOf returns the key that holds the dot x, and whether the store
// holds x at all. With KeyOf set, a dot names no key of its own (a
// chain's later leaf is held under its first dot): the key is found
// through the order of the store's dots, which the first call makes in
// one pass over the store and the kernel keeps up to date from then on.
// A caller that has looked under the keys it expects calls HolderOf to
// tell a dot held elsewhere from a dot the store no longer holds.
func (k *Kernel[K, V]) HolderOf(x vclock.Dot) (K, bool) {
	return k.holderByOrder(x, true)
}

// holderByOrder is HolderOf. The order keeps its reference to x if keep
// is set; a caller that drops x at once lets it go.
func (k *Kernel[K, V]) holderByOrder(x vclock.Dot, keep bool) (key K, found bool) {
	rep, ok := k.findRep(x.Replica)
	if !ok || k.m.len() == 0 {
		return key, false
	}
	k.order().Range(rep, x.Seq, x.Seq, func(_ uint64, kk K) bool {
		if e, ok := k.m.get(kk); ok && k.holds(kk, e, x) {
			key, found = kk, true
			return keep
		}
		return false // stale
	})
	return key, found
}

// dropByOrder drops the dot x from whichever key holds it, found through
// the order of the store's dots: with KeyOf set, a dropped dot names no
// key (a chain's later leaf is held under its first dot). It returns the
// key and whether x was dropped and whether the key is now absent.
func (k *Kernel[K, V]) dropByOrder(x vclock.Dot) (key K, dropped, gone bool) {
	key, found := k.holderByOrder(x, false)
	if !found {
		return key, false, false
	}
	e, _ := k.m.get(key)
	dropped, gone = k.dropFrom(key, e, x)
	return key, dropped, gone
}

// takeKeyed is how a kernel with KeyOf takes the dot d (of k's replica
// index rep), with value v, for key, which it holds with the entry e, and
// which does not hold d. A key holds one dot of a replica: if key holds
// an earlier dot of d's replica, d replaces it, with its own value (the
// earlier leaves the store, as implied by d: no record); if it holds a
// later one, d is implied by it and not taken. It reports whether d
// entered the store. The caller counts d into the fingerprint (and tells
// the Watch) when it did; takeKeyed tells both of the dot that left.
func (k *Kernel[K, V]) takeKeyed(key K, e entry[V], v V, d vclock.Dot, rep uint32) bool {
	var c vclock.Dot // key's dot of d's replica, if any
	if e.single() {
		if e.rep() == rep {
			c = k.first(e)
		}
	} else {
		for _, m := range k.more[key] {
			if m.Replica == d.Replica {
				c = m
			}
		}
	}
	switch {
	case c.Seq == 0: // none (a key of several replicas breaks KeyOf's rule; kept as Insert keeps it)
		k.m.set(key, k.addDot(key, e, d))
	case c.Seq > d.Seq:
		return false
	default:
		k.dropFrom(key, e, c)
		if e2, ok := k.m.get(key); ok { // other replicas' dots: as above
			e2 = k.addDot(key, e2, d)
			e2.v = v
			k.m.set(key, e2)
		} else {
			k.m.set(key, k.single(key, v, d))
		}
	}
	k.noteDot(rep, d.Seq, key)
	return true
}

// SeenWork returns how many keys and dots of k's store its joins have
// looked at, since k was made, to find those the other side had seen and
// dropped. It is for the tests that bound that work.
func (k *Kernel[K, V]) SeenWork() int { return k.seenWork }

// SetScanSeen makes every join find what the other side dropped by a
// pass over its whole store (on), as it did before it kept an order of
// its dots, or by that order (off, the default). It is for tests, which
// must not run joins at the same time.
func SetScanSeen(on bool) { scanSeen = on }

// scanSeen makes dropSeenBy compare every key of k with o's context, as
// it did before it used k's order of its dots. Tests set it, to hold the
// two to the same result.
var scanSeen = false

// dropSeenByScan is dropSeenBy by a pass over every key of k.
func (k *Kernel[K, V]) dropSeenByScan(o *Kernel[K, V], gone map[K]struct{}, same func(a, b V) bool) {
	ov := k.view(&o.ctx)
	for key, e := range k.m.all {
		if e.single() {
			if !ov.has(e.rep(), e.seq()) {
				continue
			}
			if oe, inO := o.m.get(key); inO && o.holds(key, oe, k.first(e)) && (same == nil || same(e.v, oe.v)) {
				continue
			}
			k.m.remove(key)
			k.noteDrop(k.first(e))
			k.fpSub(key, e.v, k.first(e))
			gone[key] = struct{}{}
			continue
		}
		oe, inO := o.m.get(key)
		var keep []vclock.Dot
		dropped := false
		for _, d := range k.dotsOf(key, e) {
			if k.viewHas(&ov, d) && !(inO && o.holds(key, oe, d) && (same == nil || same(e.v, oe.v))) {
				dropped = true
				k.noteDrop(d)
				k.fpSub(key, e.v, d)
				continue
			}
			keep = append(keep, d)
		}
		switch {
		case !dropped:
		case len(keep) == 0:
			k.m.remove(key)
			k.shrinkMore(key, nil, 0)
			gone[key] = struct{}{}
		default:
			k.setEntry(key, e.v, keep)
		}
	}
}

// takeFrom adds the dots of o's store that k has not seen (k's context as
// it was before the join), and reports whether a key appeared that was not
// dropped by this join.
//
// It appends to heldAside the dots of o's store that k has set aside (see
// JoinPart), which o holds.
func (k *Kernel[K, V]) takeFrom(o *Kernel[K, V], shared bool, gone map[K]struct{}, heldAside *[]vclock.Dot) (grew bool) {
	if o.m.len() == 0 {
		return false
	}
	// tr translates o's replica indexes to k's, each looked up when first
	// needed (plus one; 0 is not yet looked up): o may name many replicas
	// its store does not use.
	tr := make([]uint32, len(o.reps))
	self := k.KeyOf != nil // keys derived from dots: see Kernel.KeyOf
	// trMax and trMore hold, when the contexts share dots, for each of
	// o's replica indexes translated so far, the prefix of k's context
	// with no gap (events 1 to trMax) and whether k's context holds later
	// events of the replica: looked up once per replica o names, not once
	// per dot, nor for every replica k's context names (a small delta into
	// a replica that knows many others costs in proportion to the delta).
	var trMax []uint64
	var trMore []bool
	if shared {
		trMax, trMore = make([]uint64, len(o.reps)), make([]bool, len(o.reps))
	}
	trans := func(i uint32) uint32 {
		if tr[i] == 0 {
			id := o.reps[i]
			tr[i] = k.repIndex(id) + 1
			if shared {
				n := k.ctx.Prefix(id)
				if n < vclock.MaxSeq {
					k.ctx.RangesWithin(id, n+1, vclock.MaxSeq, func(uint64, uint64) { trMore[i] = true })
				}
				trMax[i] = n
			}
		}
		return tr[i] - 1
	}
	// k's context as it was before the join: takeFrom does not change it.
	aside := !k.removed.isEmpty()
	unseen := func(rep uint32, seq uint64) bool {
		d := vclock.Dot{Replica: k.reps[rep], Seq: seq}
		if aside && k.removed.contains(d) {
			*heldAside = append(*heldAside, d)
			return false
		}
		return !shared || !k.ctx.Contains(d)
	}
	// repH holds the hash of each replica of k, by index, for the
	// fingerprint, once hashed (hashed says which are).
	var repH []uint64
	var hashed []bool
	// When the contexts share no dot (a new replica taking in a peer's
	// state, two replicas that wrote apart), every dot of o's store is
	// unseen here and not held, so every one is added, and the
	// fingerprint, a sum over the dots, grows by o's: it is added once,
	// not hashed again dot by dot (a Watch still hears of each dot).
	fpOnce := !shared && k.removed.isEmpty()
	if fpOnce {
		k.fp += o.fp
	}
	fpAdd := func(key K, v V, rep uint32, seq uint64) {
		d := vclock.Dot{Replica: k.reps[rep], Seq: seq}
		if !fpOnce {
			for int(rep) >= len(repH) {
				repH, hashed = append(repH, 0), append(hashed, false)
			}
			if !hashed[rep] {
				repH[rep], hashed[rep] = codec.HashString(codec.HashSeed, string(k.reps[rep])), true
			}
			k.fp += dotHashWith(key, d, codec.HashUint(repH[rep], seq), self)
		}
		if k.Watch != nil {
			k.Watch(key, v, d, true)
		}
	}
	lastRep, lastH := ^uint32(0), uint64(0) // the replica fpAdd hashed last, and its hash
	if 2*o.m.len() >= k.m.len() && !k.m.atOnce {
		// The join costs about as much as moving k's keys: if the
		// table grows, it moves them at once, not a group every few
		// inserts with the old array probed meanwhile.
		k.m.atOnce = true
		defer func() { k.m.atOnce = false }()
	}
	k.makeRoom(o, shared, unseen, trans)
	// each says a dot added needs fpAdd: for the fingerprint, or for a
	// Watch, which hears of each dot.
	each := !fpOnce || k.Watch != nil
	// A table that starts growing during the join moves its keys into
	// the larger array a few at a time, as inserts follow, and until they
	// have all moved every look-up of a key not in the new array probes
	// the old one too. When o is at least half k's size, the join costs
	// about as much as moving every key: the keys are moved at once, and
	// the look-ups that follow probe one array.
	bulk := 2*o.m.len() >= k.m.len()
	// The slots of o's table are read in place, in the order o.m.all
	// yields them, without a call per key.
	for _, arr := range o.m.arrays() {
		for g, cw := range arr.ctrl {
			for mk := ^cw & msb; mk != 0; mk &= mk - 1 {
				sl := &arr.slots[g*groupSize+bits.TrailingZeros64(mk)/8]
				key, oe := sl.key, sl.e
				if bulk && k.m.oldCtrl != nil {
					k.m.drain()
				}
				// One probe of k's table per key: where the key is, or
				// would go, is kept for the write, with nothing changing
				// the table between.
				ep, at := k.m.lookupPtr(key)
				here := ep != nil
				var e entry[V]
				if here {
					e = *ep
				}
				if oe.single() {
					// trans and unseen written out: the dot is seen if it
					// is within the prefix of k's context that has no gap;
					// beyond it, unseen is asked only if k's context has a
					// later run of the replica or something was removed.
					orep, seq := oe.rep(), oe.seq()
					if tr[orep] == 0 {
						trans(orep)
					}
					rep := tr[orep] - 1
					switch {
					case here && e.single() && e.rep() == rep && e.seq() == seq:
					case shared && seq <= trMax[orep] && !aside: // seen
					case (shared && trMore[orep] || aside) && !unseen(rep, seq):
					case here && self:
						d := vclock.Dot{Replica: k.reps[rep], Seq: seq}
						switch {
						case k.holds(key, e, d):
						case k.takeKeyed(key, e, oe.v, d, rep):
							if each {
								fpAdd(key, oe.v, rep, seq)
							}
						case fpOnce: // o.fp counted d, which k does not take
							k.fp -= dotHashWith(key, d, hashDot(d), self)
						}
					case here:
						d := vclock.Dot{Replica: k.reps[rep], Seq: seq}
						if !k.holds(key, e, d) {
							k.m.setAt(at, true, key, k.addDot(key, e, d))
							k.noteDot(rep, seq, key)
							if each {
								fpAdd(key, e.v, rep, seq)
							}
						}
					default:
						w, _ := packed(rep, seq) // 0 if k's index of the replica does not fit
						if w == 0 {
							k.m.setAt(at, false, key, k.single(key, oe.v, vclock.Dot{Replica: k.reps[rep], Seq: seq}))
						} else {
							k.m.setAt(at, false, key, entry[V]{v: oe.v, d: w})
						}
						if k.ix == nil || k.ix.hear { // else noteDot does nothing
							k.noteDot(rep, seq, key)
						}
						switch {
						case !each:
						case fpOnce: // the Watch alone
							k.Watch(key, oe.v, vclock.Dot{Replica: k.reps[rep], Seq: seq}, true)
						case rep == lastRep && k.Watch == nil: // fpAdd, written out
							k.fp += dotHashWith(key, vclock.Dot{Replica: k.reps[rep], Seq: seq}, codec.HashUint(lastH, seq), self)
						default:
							fpAdd(key, oe.v, rep, seq)
							lastRep, lastH = rep, repH[rep]
						}
						if len(gone) == 0 { // noteNew, written out
							grew = true
						} else {
							grew = noteNew(key, gone) || grew
						}
					}
					continue
				}
				if self {
					// A dot that does not pack: one at a time, as above.
					for _, d := range o.dotsOf(key, oe) {
						rep := trans(o.repOf(d))
						if !unseen(rep, d.Seq) {
							if fpOnce {
								k.fp -= dotHashWith(key, d, hashDot(d), self)
							}
							continue
						}
						took := true
						if e, ok := k.m.get(key); !ok {
							k.m.set(key, k.single(key, oe.v, d))
							k.noteDot(rep, d.Seq, key)
							grew = noteNew(key, gone) || grew
						} else if !k.holds(key, e, d) {
							took = k.takeKeyed(key, e, oe.v, d, rep)
						}
						switch {
						case took && each:
							fpAdd(key, oe.v, rep, d.Seq)
						case !took && fpOnce:
							k.fp -= dotHashWith(key, d, hashDot(d), self)
						}
					}
					continue
				}
				var add []vclock.Dot
				for _, d := range o.dotsOf(key, oe) {
					if unseen(trans(o.repOf(d)), d.Seq) && !(here && k.holds(key, e, d)) {
						add = append(add, d)
					}
				}
				switch {
				case len(add) == 0:
				case here:
					k.m.set(key, k.addDots(key, e, add))
				default:
					k.setEntry(key, oe.v, add)
					grew = noteNew(key, gone) || grew
				}
				val := oe.v
				if here {
					val = e.v
				}
				for _, d := range add {
					rep := trans(o.repOf(d))
					k.noteDot(rep, d.Seq, key)
					if each {
						fpAdd(key, val, rep, d.Seq)
					}
				}
			}
		}
	}
	return grew
}

// makeRoom grows k's table, before takeFrom adds the keys of o, to hold
// every key o may bring, when that may take more than one doubling (a
// state taken in by a new or small replica): growing once costs a move of
// each key, growing by doubling up to twice that, and a move is about as
// dear as an insert. The keys o may bring are those with a dot k has not
// seen; when the contexts share no dot, that is every key of o, else a
// pass over o counts them. A table that may need one doubling at most is
// left to grow as it goes: counting would cost about what it saves.
func (k *Kernel[K, V]) makeRoom(o *Kernel[K, V], shared bool, unseen func(uint32, uint64) bool, trans func(uint32) uint32) {
	if groupsFor(k.m.len()+o.m.len()) <= 2*len(k.m.ctrl) {
		if !shared && k.m.dots && k.removed.isEmpty() && groupsFor(k.m.len()+o.m.len()) > len(k.m.ctrl) {
			// Keys that are dots (a map's leaves), with contexts that
			// share none: each of o's keys is new here, and the table
			// must grow. Growing before the adds, to the size it would
			// reach anyway, moves k's keys alone, not those added before
			// it filled too.
			k.m.reserve(k.m.len() + o.m.len())
		}
		return
	}
	fresh := o.m.len()
	if shared {
		fresh = 0
		for key, oe := range o.m.all {
			if oe.single() {
				if unseen(trans(oe.rep()), oe.seq()) {
					fresh++
				}
				continue
			}
			for _, d := range o.more[key] {
				if unseen(trans(o.repOf(d)), d.Seq) {
					fresh++
					break
				}
			}
		}
	}
	k.m.reserve(k.m.len() + fresh)
}

// repOf returns the index of d's replica, which k.reps holds.
func (k *Kernel[K, V]) repOf(d vclock.Dot) uint32 {
	i, _ := k.findRep(d.Replica)
	return i
}

// noteNew reports whether key, which just appeared, is new: not dropped
// earlier in the same join (which would be no change).
func noteNew[K comparable](key K, gone map[K]struct{}) bool {
	if len(gone) == 0 {
		return true
	}
	if _, was := gone[key]; was {
		delete(gone, key)
		return false
	}
	return true
}

// ghostsFrom returns the runs of ghosts of o that stay ghosts after a
// join with it: those k also holds as ghosts or has not seen. It reads k's
// context as it is before the join, so Join calls it first. It costs a
// step per run of o's ghosts, of k's context within them and of k's
// ghosts within those.
func (k *Kernel[K, V]) ghostsFrom(o *Kernel[K, V]) []vclock.Range {
	var out []vclock.Range
	keep := func(id vclock.ReplicaID, lo, hi uint64) {
		if lo <= hi {
			out = append(out, vclock.Range{Replica: id, Lo: lo, Hi: hi})
		}
	}
	for id, ss := range o.ghosts.m {
		for _, s := range ss {
			next := s.lo // the first event of s not yet judged
			k.ctx.RangesWithin(id, s.lo, s.hi, func(lo, hi uint64) {
				keep(id, next, lo-1) // not seen here
				k.ghosts.within(id, lo, hi, func(glo, ghi uint64) { keep(id, glo, ghi) })
				next = hi + 1
			})
			if next-1 < s.hi { // next - 1 does not overflow: next >= 1
				keep(id, next, s.hi)
			}
		}
	}
	return out
}

// settle clears the ghosts of k whose mutations o has applied: those o's
// context holds that are no ghosts of o. It costs a step per run of o's
// context, of o's ghosts within it and of k's ghosts it clears, and
// nothing when k has no ghosts. It returns the steps.
func (k *Kernel[K, V]) settle(o *Kernel[K, V]) int {
	if k.ghosts.isEmpty() {
		return 0
	}
	steps := 0
	for rg := range o.ctx.Ranges() {
		steps++
		if _, has := k.ghosts.m[rg.Replica]; !has {
			continue
		}
		next := rg.Lo
		steps += o.ghosts.within(rg.Replica, rg.Lo, rg.Hi, func(lo, hi uint64) {
			if next < lo {
				steps += k.ghosts.removeRange(rg.Replica, next, lo-1)
			}
			next = hi + 1
		})
		if next-1 < rg.Hi {
			steps += k.ghosts.removeRange(rg.Replica, next, rg.Hi)
		}
		if k.ghosts.isEmpty() {
			break
		}
	}
	return steps
}

// joinGhosts sets k's ghosts to those after a join with o, in place: a
// ghost of k stays one unless o applied its mutation (o's context, which
// the join does not change, holds it and it is no ghost of o), and the
// ghosts of o that ghostsFrom kept join them.
func (k *Kernel[K, V]) joinGhosts(o *Kernel[K, V], fromO []vclock.Range) {
	k.settle(o)
	for _, g := range fromO {
		k.ghosts.addRange(g.Replica, g.Lo, g.Hi)
	}
}

// DeltaSince returns a kernel holding what a replica at version v lacks:
// the keys with dots v has not seen (with just those dots), the context
// beyond v, and the drop records of mutations v has not seen, with their
// dropped dots added to the delta's context so that merging it drops them.
// If v predates a discarded record, the delta is a full copy.
//
// v must be a version the receiver really has (its [Kernel.Version]): the
// delta omits what v claims, so a receiver that has not seen it would miss
// it.
//
// The keys and records are found through indexes of the store and of the
// records by dot (see [Index]), at a cost that grows with the delta, plus
// a step per replica. The first call, and a call for a version below the
// indexes' floors (older than every version asked about since the last
// [Kernel.Collect]), go through the whole store and every record instead,
// building or extending the indexes on the way. DeltaSince may run at the
// same time as other readers: it locks the indexes.
func (k *Kernel[K, V]) DeltaSince(v vclock.Clock) *Kernel[K, V] {
	if !k.horizon.LessOrEqual(v) {
		return k.Clone()
	}
	d := &Kernel[K, V]{ctx: k.ctx.Since(v), reps: slices.Clone(k.reps), ix: new(Index[K]), MaxRecords: k.MaxRecords, RecordsAll: k.RecordsAll, KeyOf: k.KeyOf}
	if k.repIdx != nil {
		d.repIdx = maps.Clone(k.repIdx)
	}
	seen := make([]uint64, len(k.reps)) // v's count for each replica index
	for i, id := range k.reps {
		seen[i] = v.Get(id)
	}
	if !d.ctx.IsEmpty() { // else v has seen every dot of the store
		k.storeSince(d, v, seen)
	}
	k.recordsSince(d, v, seen)
	d.fp = d.ScanFingerprint() // a pass over the delta's store
	k.ghostsWithin(d)
	return d
}

// storeSince puts into d the keys with dots v has not seen, with just
// those dots. It asks the index for them, or, if the index cannot answer
// for v, scans the store and has the index answer next time.
func (k *Kernel[K, V]) storeSince(d *Kernel[K, V], v vclock.Clock, seen []uint64) {
	var several map[K]struct{} // keys with several dots (or one that does not pack)
	answered := k.ix != nil && k.ix.Since(seen, func(rep uint32, seq uint64, key K) {
		e, ok := k.m.get(key)
		switch {
		case !ok:
		case e.single():
			if e.rep() == rep && e.seq() == seq {
				d.m.set(key, e)
			}
		case k.supports(rep, seq, key):
			if several == nil {
				several = make(map[K]struct{})
			}
			several[key] = struct{}{}
		}
	})
	if answered {
		for key := range several {
			e, _ := k.m.get(key)
			d.setEntry(key, e.v, k.unseenDots(key, e, v))
		}
		return
	}
	scan := func(note func(rep uint32, seq uint64, key K)) {
		for key, e := range k.m.all {
			if e.single() {
				if e.seq() > seen[e.rep()] {
					d.m.set(key, e)
					note(e.rep(), e.seq(), key)
				}
				continue
			}
			if keep := k.unseenDots(key, e, v); len(keep) > 0 {
				d.setEntry(key, e.v, keep)
				for _, x := range keep {
					note(k.repOf(x), x.Seq, key)
				}
			}
		}
	}
	if k.ix == nil {
		scan(func(uint32, uint64, K) {})
		return
	}
	k.ix.Rebuild(seen, scan)
}

// recordsSince puts into d, oldest first, the drop records of mutations
// v has not seen, and the dots they dropped into d's context. It asks the
// record index for them, or, if the index cannot answer for v, goes
// through every record and has the index answer next time.
func (k *Kernel[K, V]) recordsSince(d *Kernel[K, V], v vclock.Clock, seen []uint64) {
	take := func(r Record[K]) { // d's ring copies a single dropped dot
		d.Record(r.Dot, r.Key, r.Dropped)
		for _, x := range r.Dropped {
			d.ctx.Add(x)
		}
	}
	var buf [1]vclock.Dot
	var ids []uint64
	if k.rix != nil && k.rix.Since(seen, func(_ uint32, _ uint64, id uint64) { ids = append(ids, id) }) {
		slices.Sort(ids) // the order they were kept in
		for _, id := range slices.Compact(ids) {
			if i, ok := k.recs.find(id); ok && !v.Contains(k.recs.dotAt(i)) {
				take(k.recs.get(i, &buf))
			}
		}
		return
	}
	scan := func(note func(rep uint32, seq uint64, id uint64)) {
		for i := range k.recs.len() {
			r := k.recs.get(i, &buf)
			if v.Contains(r.Dot) || k.horizon.Contains(r.Dot) {
				continue // within v; within the horizon, dead weight
			}
			take(r)
			note(k.repOf(r.Dot), r.Dot.Seq, k.recs.idAt(i))
		}
	}
	if k.rix == nil {
		scan(func(uint32, uint64, uint64) {})
		return
	}
	k.rix.Rebuild(seen, scan)
}

// unseenDots returns the dots of key, whose entry is e, that v has not
// seen.
func (k *Kernel[K, V]) unseenDots(key K, e entry[V], v vclock.Clock) []vclock.Dot {
	var keep []vclock.Dot
	for _, x := range k.dotsOf(key, e) {
		if !v.Contains(x) {
			keep = append(keep, x)
		}
	}
	return keep
}

// Clone returns an independent copy of k.
func (k *Kernel[K, V]) Clone() *Kernel[K, V] {
	c := &Kernel[K, V]{
		ctx:        k.ctx.Clone(),
		reps:       slices.Clone(k.reps),
		repIdx:     maps.Clone(k.repIdx),
		m:          k.m.clone(),
		recs:       k.recs.clone(),
		recMax:     k.recMax.Clone(),
		horizon:    k.horizon.Clone(),
		ghosts:     k.ghosts.clone(),
		removed:    k.removed.clone(),
		ix:         k.ix.Clone(),
		rix:        k.rix.Clone(),
		MaxRecords: k.MaxRecords,
		RecordsAll: k.RecordsAll,
		KeyOf:      k.KeyOf,
		fp:         k.fp,
		capped:     k.capped,
	}
	if k.more != nil {
		c.more = make(map[K][]vclock.Dot, len(k.more))
		for key, ms := range k.more {
			c.more[key] = slices.Clone(ms)
		}
	}
	return c
}

// Equal reports whether k and o hold the same keys with the same dots and
// equal values (by eq), and the same context and ghosts. Drop records and
// horizons are bookkeeping and are not compared.
func (k *Kernel[K, V]) Equal(o *Kernel[K, V], eq func(a, b V) bool) bool {
	if k.m.len() != o.m.len() || !k.ctx.Equal(&o.ctx) || !k.ghosts.equal(&o.ghosts) {
		return false
	}
	for key, e := range k.m.all {
		oe, ok := o.m.get(key)
		if !ok || k.numDots(key, e) != o.numDots(key, oe) || !eq(e.v, oe.v) {
			return false
		}
		if e.single() {
			if !o.holds(key, oe, k.first(e)) {
				return false
			}
			continue
		}
		for _, d := range k.more[key] {
			if !o.holds(key, oe, d) {
				return false
			}
		}
	}
	return true
}
