package dotkernel

import (
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// The fingerprint of a kernel is the wrapping sum, over every dot of the
// store, of a 64-bit hash of the dot and the key it supports. A sum does
// not depend on the order dots arrived in, and a dot leaving the store
// subtracts what it added, so the kernel keeps it up to date in constant
// work per dot. It covers the store only: the context, the ghosts, the
// drop records and the indexes are left out (two Equal kernels have the
// same store, and records are collected at different times on different
// replicas). Values are left out too: a value is fixed by its key and dot
// (see the package documentation).
//
// The hashes are codec's content hashes (codec.HashString and its kin):
// the same on every machine and in every process.

func hashDot(d vclock.Dot) uint64 {
	return codec.HashUint(codec.HashString(codec.HashSeed, string(d.Replica)), d.Seq)
}

// hashKey hashes a key: a dot by its parts, any other key as
// codec.HashValue does (a key that cannot be encoded hashes as nothing).
func hashKey[K comparable](key K) uint64 {
	if s, ok := any(key).(string); ok { // what codec.HashValue does, sooner
		return codec.HashString(codec.HashSeed, s)
	}
	if d, ok := any(key).(vclock.Dot); ok {
		return hashDot(d)
	}
	h, _ := codec.HashValue(codec.HashSeed, key)
	return h
}

// dotHash is what the dot d supporting key adds to the fingerprint.
func dotHash[K comparable](key K, d vclock.Dot) uint64 {
	return codec.Mix(hashKey(key) ^ codec.Mix(hashDot(d)))
}

// DotHash is what the dot d supporting key adds to the fingerprint
// ([Kernel.Fingerprint]): a data type that leaves some of its keys out of
// the fingerprint it reports subtracts it.
func DotHash[K comparable](key K, d vclock.Dot) uint64 { return dotHash(key, d) }

// fpAdd counts the dot d of key into the fingerprint.
// It also tells the Watch, if any.
func (k *Kernel[K, V]) fpAdd(key K, v V, d vclock.Dot) {
	k.fp += k.dotHash(key, d)
	if k.Watch != nil {
		k.Watch(key, v, d, true)
	}
}

// fpSub takes the dot d of key out of the fingerprint.
// It also tells the Watch, if any.
func (k *Kernel[K, V]) fpSub(key K, v V, d vclock.Dot) {
	k.fp -= k.dotHash(key, d)
	if k.Watch != nil {
		k.Watch(key, v, d, false)
	}
}

// dotHash is dotHash for a mutator: the hash of the last replica it
// hashed is kept, since runs of dots of one replica are the rule (a
// replica's own adds, a peer's state), so that a dot costs the hash of
// its key and a few multiplications.
func (k *Kernel[K, V]) dotHash(key K, d vclock.Dot) uint64 {
	if d.Replica != k.fpRep || k.fpRep == "" {
		k.fpRep, k.fpRepH = d.Replica, codec.HashString(codec.HashSeed, string(d.Replica))
	}
	return dotHashWith(key, d, codec.HashUint(k.fpRepH, d.Seq), k.KeyOf != nil)
}

// dotHashWith is dotHash(key, d) given hd = hashDot(d), or, if self, the
// hash of d as its own key whatever key it supports: a kernel with KeyOf
// set hashes its dots so, since its keys are derived from the dots and
// values, and a type that moves its entries from dot keys to derived keys
// keeps the fingerprints it had. (The flag is passed, not looked up in
// the kernel, to keep the common case one call.)
func dotHashWith[K comparable](key K, d vclock.Dot, hd uint64, self bool) uint64 {
	if self {
		return codec.Mix(hd ^ codec.Mix(hd))
	}
	if s, ok := any(key).(string); ok { // the common key, in one assertion
		return codec.Mix(codec.HashString(codec.HashSeed, s) ^ codec.Mix(hd))
	}
	var hk uint64
	if kd, ok := any(key).(vclock.Dot); ok && kd == d {
		hk = hd // a dot that is its own key (a map's leaf): hashDot(d), known
	} else {
		hk = hashKey(key)
	}
	return codec.Mix(hk ^ codec.Mix(hd))
}

// Fingerprint returns the kernel's fingerprint: an order-independent hash
// of its store, the keys with the dots that support them. Kernels whose
// stores are equal have the same fingerprint whatever order mutations and
// joins arrived in; stores that differ almost surely have different ones.
// It is kept up to date by every change, and costs nothing to read.
func (k *Kernel[K, V]) Fingerprint() uint64 { return k.fp }

// ContentFingerprint returns a hash of the store with its values: the
// wrapping sum, over every dot of the store, of a hash of the dot's
// share of [Kernel.Fingerprint] and of hash(v), v being the value of the
// dot's key; the keys for which hash reports false are left out. Unlike
// the fingerprint, which leaves values out (a dot names one write), it
// tells apart stores that hold one dot with different values, as a writer
// that sent two different writes under one dot leaves them (see
// [Kernel.SameValue]). It is the same in every process if hash is, costs
// a pass over the store, and changes nothing (readers may call it at the
// same time).
func (k *Kernel[K, V]) ContentFingerprint(hash func(v V) (uint64, bool)) uint64 {
	var sum uint64
	self := k.KeyOf != nil
	for key, e := range k.m.all {
		hv, ok := hash(e.v)
		if !ok {
			continue
		}
		hv = codec.Mix(hv)
		if e.single() {
			d := k.first(e)
			sum += codec.Mix(dotHashWith(key, d, hashDot(d), self) ^ hv)
			continue
		}
		for _, d := range k.more[key] {
			sum += codec.Mix(dotHashWith(key, d, hashDot(d), self) ^ hv)
		}
	}
	return sum
}

// HasGaps reports whether the kernel holds events its version leaves out:
// dots in the context past a gap, ghosts (see [Kernel.Version]), or dots
// a removed part set aside (see [Kernel.JoinPart]), whose drops it applied
// before a context part claims their removals. Two kernels at one version
// may then hold different stores without having diverged, and their
// fingerprints say nothing. It costs a look at each replica's entry of the
// context.
func (k *Kernel[K, V]) HasGaps() bool {
	return !k.ghosts.isEmpty() || !k.removed.isEmpty() || !k.ctx.IsCompact()
}

// GapHash returns a hash of the events the kernel holds past its version
// ([vclock.Context.GapHash]: 0 if none) and of its ghosts, and true; or
// false if a removed part set aside dots, which the hash does not
// describe. Two kernels at one version whose gap hashes are equal hold
// the same context and the same ghosts, so they have applied the same
// events (a ghost is an event seen, as dropped, but not applied), and the
// store is a function of the events applied (a join keeps a dot unless
// one side has seen it and dropped it): their stores, and fingerprints,
// are equal. The ghosts must be in the hash, not a reason to give up: a
// writer's op that every replica refuses, dropped by its next op, leaves
// a ghost on every replica for good, and an object that gave up would
// never be compared again. A set-aside dot is one dropped without the
// context saying so; it lasts only until the rest of its catch-up comes.
//
// The version stops below a writer's lowest ghost (see [Kernel.Version])
// while the context's compact part may go on past it, so with ghosts the
// hash covers the whole context, not only its runs past a gap.
func (k *Kernel[K, V]) GapHash() (uint64, bool) {
	if !k.removed.isEmpty() {
		return 0, false
	}
	if k.ghosts.isEmpty() {
		return k.ctx.GapHash(), true
	}
	h := codec.HashUint(codec.HashSeed, ghostMark)
	for rg := range k.ctx.Ranges() { // in a canonical order
		h = codec.HashUint(codec.HashUint(codec.HashString(h, string(rg.Replica)), rg.Lo), rg.Hi)
	}
	// Each replica's ghost spans, canonical (sorted, disjoint, not
	// adjacent), hashed in turn; the replicas' hashes summed, so that the
	// map's order does not matter.
	var sum uint64
	for id, ss := range k.ghosts.m {
		x := codec.HashString(codec.HashSeed, string(id))
		x = codec.HashUint(x, uint64(len(ss)))
		for _, s := range ss {
			x = codec.HashUint(codec.HashUint(x, s.lo), s.hi)
		}
		sum += x
	}
	h = codec.HashUint(h, sum)
	if h == 0 {
		h = 1 // 0 says "no gaps"
	}
	return h, true
}

// ghostMark sets the ghosts' part of a gap hash apart from the context's.
const ghostMark = 0x67686f737473 // "ghosts"

// ScanFingerprint computes the fingerprint from the store, for tests
// that check the one kept up to date.
func (k *Kernel[K, V]) ScanFingerprint() uint64 {
	var fp uint64
	for key, e := range k.m.all {
		if e.single() {
			fp += dotHashWith(key, k.first(e), hashDot(k.first(e)), k.KeyOf != nil)
			continue
		}
		for _, d := range k.more[key] {
			fp += dotHashWith(key, d, hashDot(d), k.KeyOf != nil)
		}
	}
	return fp
}
