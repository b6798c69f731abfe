package dotkernel

import (
	"fmt"
	"math/bits"

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
	h := t.hash(key)
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
	w := &k.w
	if !w.shared(id, k.reps) {
		w = k.writer(id)
	}
	d := k.ctx.AddNextHint(id, &w.ctx)
	if d.Seq == 0 {
		return vclock.Dot{}, fmt.Errorf("replica %q: %w", id, vclock.ErrSeqExhausted)
	}
	e := entry[V]{v: v, d: entryInMore}
	pw, fits := packed(w.rep, d.Seq)
	if fits {
		e.d = pw
	}
	k.m.insertNew(d, e)
	if !fits {
		k.setMore(d, []vclock.Dot{d})
	}
	if k.ix == nil || k.ix.active { // else noteDot does nothing
		k.noteDot(w.rep, d.Seq, d)
	}
	// dotHashWith(d, d, hd), written out: a dot that is its own key
	// hashes as the dot.
	hd := codec.HashUint(w.h, d.Seq)
	k.fp += codec.Mix(hd ^ codec.Mix(hd))
	if k.Watch != nil {
		k.Watch(d, v, d, true)
	}
	return d, nil
}
