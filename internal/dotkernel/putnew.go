package dotkernel

import (
	"math/bits"

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
