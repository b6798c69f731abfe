package dotkernel

import (
	"hash/maphash"
	"iter"
	"math/bits"

	"github.com/activeactive/crdt/vclock"
)

// The exported methods of Table, for the data types that keep their
// entries in one (lwwmap). The zero Table is empty and ready to use; a
// Table must not be copied once used (use Clone), and is not safe for
// concurrent use but by readers.

// Len returns the number of keys in t.
func (t *Table[K, E]) Len() int { return t.n }

// Get returns the entry of key and whether key is in t.
func (t *Table[K, E]) Get(key K) (E, bool) { return t.get(key) }

// Find returns a pointer to the entry of key, or nil if key is not in t.
// The pointer is valid until the next key is added to t.
func (t *Table[K, E]) Find(key K) *E {
	if t.n == 0 {
		return nil
	}
	h := t.hash(key)
	if i, _, ok := t.findHashed(key, h); ok {
		return &t.slots[i].e
	}
	if t.oldN > 0 {
		if i, ok := t.findOld(key, h); ok {
			return &t.oldSlots[i].e
		}
	}
	return nil
}

// Place is where [Table.Lookup] found a key absent: where
// [Table.Insert] puts it.
type Place struct{ ref slotRef }

// Lookup returns a pointer to the entry of key, through which it may be
// read and replaced, or nil and the place where key would go, for an
// [Table.Insert] of key with no other change to t in between: a read and
// a write of one key for one probe. The pointer is valid until the next
// key is added to t.
func (t *Table[K, E]) Lookup(key K) (*E, Place) {
	if t.ctrl == nil {
		t.init(1)
	}
	var h uint64 // t.hash, spelled out
	if t.dots {
		h = t.hashDot(any(key).(vclock.Dot))
	} else {
		h = maphash.Comparable(t.seed, key)
	}
	// findHashed, spelled out.
	tag := uint8(h & 0x7f)
	ng := len(t.ctrl)
	g := t.home(h)
	free := -1
	for {
		w := t.ctrl[g]
		for m := matchTag(w, tag); m != 0; m &= m - 1 {
			i := g*groupSize + bitsIndex(m)
			if s := &t.slots[i]; s.key == key {
				return &s.e, Place{}
			}
		}
		if free < 0 {
			if m := matchFree(w); m != 0 {
				free = g*groupSize + bitsIndex(m)
			}
		}
		if matchEmpty(w) != 0 {
			break
		}
		if g++; g == ng {
			g = 0
		}
	}
	if t.oldN > 0 {
		if j, ok := t.findOld(key, h); ok {
			return &t.oldSlots[j].e, Place{}
		}
	}
	return nil, Place{slotRef{free, tag, h, false}}
}

// LookupKey is [Table.Lookup], returning also the key as t holds it, if
// key is there: for a key holding pointers (a string), t's copy, which
// the caller may keep instead of its own (one built in a buffer it
// reuses, say).
func (t *Table[K, E]) LookupKey(key K) (K, *E, Place) {
	if t.ctrl == nil {
		t.init(1)
	}
	var h uint64 // t.hash, spelled out
	if t.dots {
		h = t.hashDot(any(key).(vclock.Dot))
	} else {
		h = maphash.Comparable(t.seed, key)
	}
	// findHashed, spelled out.
	tag := uint8(h & 0x7f)
	ng := len(t.ctrl)
	g := t.home(h)
	free := -1
	for {
		w := t.ctrl[g]
		for m := matchTag(w, tag); m != 0; m &= m - 1 {
			i := g*groupSize + bitsIndex(m)
			if s := &t.slots[i]; s.key == key {
				return s.key, &s.e, Place{}
			}
		}
		if free < 0 {
			if m := matchFree(w); m != 0 {
				free = g*groupSize + bitsIndex(m)
			}
		}
		if matchEmpty(w) != 0 {
			break
		}
		if g++; g == ng {
			g = 0
		}
	}
	if t.oldN > 0 {
		if j, ok := t.findOld(key, h); ok {
			return t.oldSlots[j].key, &t.oldSlots[j].e, Place{}
		}
	}
	var zero K
	return zero, nil, Place{slotRef{free, tag, h, false}}
}

// Insert adds key with entry e at p, which [Table.Lookup] of key
// returned (with a nil entry), t not having changed since.
func (t *Table[K, E]) Insert(p Place, key K, e E) {
	t.insertAt(p.ref.i, p.ref.tag, key, e, p.ref.h)
}

// Add adds key with the zero entry at p, which [Table.Lookup] of key
// returned (with a nil entry), t not having changed since, and returns a
// pointer to the entry, through which the caller sets it: an insert that
// does not copy the entry. The pointer is valid until the next key is
// added to t.
func (t *Table[K, E]) Add(p Place, key K) *E {
	return &t.claim(p.ref.i, p.ref.tag, key, p.ref.h).e
}

// Put sets the entry of key to e and returns the entry it replaced, if
// any.
func (t *Table[K, E]) Put(key K, e E) (old E, existed bool) { return t.put(key, e) }

// Remove removes key and returns its entry, if it was there.
func (t *Table[K, E]) Remove(key K) (E, bool) { return t.remove(key) }

// Reserve makes room for n keys in all, so that adding them does not
// grow t at once (see Table).
func (t *Table[K, E]) Reserve(n int) { t.reserve(n) }

// GrowAtOnce makes t, while on is true, grow by moving every key at once,
// as a small table does, rather than over the inserts that follow (see
// Table): for a batch of inserts at least about as large as t, which
// costs as much as the move, so that its look-ups do not probe two
// arrays. A migration under way goes on as it was.
func (t *Table[K, E]) GrowAtOnce(on bool) { t.atOnce = on }

// Clone returns an independent copy of t. Entries are copied as Go
// assigns them.
func (t *Table[K, E]) Clone() Table[K, E] { return t.clone() }

// All iterates over the keys of t and pointers to their entries, in slot
// order. Removing the key just yielded, or replacing the entry of any key,
// during the iteration is safe; adding keys, or removing others, is not.
func (t *Table[K, E]) All() iter.Seq2[K, *E] {
	return func(yield func(K, *E) bool) {
		for _, a := range t.arrays() {
			for g, w := range a.ctrl {
				for m := ^w & msb; m != 0; m &= m - 1 {
					s := &a.slots[g*groupSize+bitsIndex(m)]
					if !yield(s.key, &s.e) {
						return
					}
				}
			}
		}
	}
}

// Slots returns the number of slots of t: the slots of its keys are
// numbered from 0 to Slots()-1, until t next changes.
func (t *Table[K, E]) Slots() int { return len(t.slots) + len(t.oldSlots) }

// Numbered iterates over the keys of t with the numbers of their slots
// (see [Table.At]) and pointers to their entries, in slot order.
func (t *Table[K, E]) Numbered() iter.Seq2[int, *E] {
	return func(yield func(int, *E) bool) {
		for _, a := range t.arrays() {
			for g, w := range a.ctrl {
				for m := ^w & msb; m != 0; m &= m - 1 {
					i := g*groupSize + bitsIndex(m)
					if !yield(a.base+i, &a.slots[i].e) {
						return
					}
				}
			}
		}
	}
}

// Full reports whether the slot numbered i (see [Table.Numbered]) holds a
// key: a pass over the slots numbered 0 to Slots()-1 that reads those
// with At visits every key, as Numbered does, without a function call
// per key.
func (t *Table[K, E]) Full(i int) bool {
	if i >= len(t.slots) {
		i -= len(t.slots)
		return t.oldCtrl[uint(i)/groupSize]>>(uint(i)%groupSize*8)&ctrlEmpty == 0
	}
	return t.ctrl[uint(i)/groupSize]>>(uint(i)%groupSize*8)&ctrlEmpty == 0
}

// At returns the key of the slot numbered i by [Table.Numbered] and a
// pointer to its entry.
func (t *Table[K, E]) At(i int) (K, *E) {
	s := t.slotAt(i)
	return s.key, &s.e
}

// bitsIndex returns the slot within its group of the lowest byte flagged
// in the mask m.
func bitsIndex(m uint64) int { return bits.TrailingZeros64(m) / 8 }
