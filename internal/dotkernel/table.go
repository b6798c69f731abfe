package dotkernel

import (
	"hash/maphash"
	"math/bits"
)

// table is the kernel's store: a hash table from keys to entries. It
// exists, rather than a Go map, because the kernel's mutations need the
// old entry of the key they replace or remove: a Go map takes two
// look-ups for that, the table one.
//
// It is laid out like Go's own maps (a "Swiss table"): slots in groups of
// eight, each group with a word of eight control bytes saying whether a
// slot is empty, deleted, or full with 7 bits of its key's hash, so that
// one comparison of words rules out most slots of a group. Probing moves
// from group to group until one has an empty slot. Removing a key leaves a
// deleted mark only where a probe may have passed; the table grows, or is
// rebuilt without marks, when full and deleted slots pass 7/8 of it. Each
// table has its own random hash seed.
//
// The zero table is empty and ready to use. Iterating while removing keys
// or replacing the entries of keys present is safe; adding keys is not.
type table[K comparable, V any] struct {
	seed  maphash.Seed
	ctrl  []uint64     // one word of control bytes per group
	slots []slot[K, V] // 8 per group
	n     int          // full slots
	dead  int          // deleted slots
	sink  uint64       // where touch's reads go, so they are not optimized away
}

type slot[K comparable, V any] struct {
	key K
	e   entry[V]
}

// Control bytes, as in Go's maps: a full slot holds 7 bits of its key's
// hash (high bit clear); empty and deleted have the high bit set and
// differ in bit 1.
const (
	ctrlEmpty   = 0x80
	ctrlDeleted = 0xfe
	groupSize   = 8
	lsb         = 0x0101010101010101
	msb         = 0x8080808080808080
	emptyGroup  = lsb * ctrlEmpty
)

// matchTag returns a mask with the high bit of each byte of w that may
// equal tag (it may also flag a byte next to a true match: the caller
// compares keys anyway).
func matchTag(w uint64, tag uint8) uint64 {
	v := w ^ (lsb * uint64(tag))
	return (v - lsb) &^ v & msb
}

// matchEmpty returns a mask with the high bit of each empty byte of w.
func matchEmpty(w uint64) uint64 { return w &^ (w << 6) & msb }

// matchFree returns a mask with the high bit of each empty or deleted
// byte of w.
func matchFree(w uint64) uint64 { return w & msb }

// groupsFor returns the number of groups that holds n keys within the
// load limit. Any number will do: a hash picks its first group by
// multiplying, not masking.
func groupsFor(n int) int {
	return max(1, (n*8+groupSize*7-1)/(groupSize*7))
}

func (t *table[K, V]) init(groups int) {
	if t.ctrl == nil {
		t.seed = maphash.MakeSeed()
	}
	t.ctrl = make([]uint64, groups)
	for i := range t.ctrl {
		t.ctrl[i] = emptyGroup
	}
	t.slots = make([]slot[K, V], groups*groupSize)
	t.n, t.dead = 0, 0
}

// reserve makes room for n keys in all, so that adding them does not
// grow the table.
func (t *table[K, V]) reserve(n int) {
	if g := groupsFor(n); g > len(t.ctrl) {
		t.rehash(g)
	}
}

func (t *table[K, V]) len() int { return t.n }

func (t *table[K, V]) setCtrl(i int, c uint8) {
	g, shift := i/groupSize, uint(i%groupSize)*8
	t.ctrl[g] = t.ctrl[g]&^(0xff<<shift) | uint64(c)<<shift
}

func (t *table[K, V]) hash(key K) uint64 { return maphash.Comparable(t.seed, key) }

// home returns the group where the probe for hash h starts.
func (t *table[K, V]) home(h uint64) int {
	return int((h >> 32) * uint64(len(t.ctrl)) >> 32)
}

// touch reads the slot where a new key of hash h would most likely go,
// to bring it into the cache ahead of the write.
func (t *table[K, V]) touch(h uint64) uint64 {
	g := t.home(h)
	j := bits.TrailingZeros64(matchFree(t.ctrl[g])|1<<63) / 8
	return t.slots[g*groupSize+j].e.d
}

// find returns the slot of key and true, or false and the slot where key
// would go (the first empty or deleted slot on its probe path), with the
// control byte it would take.
func (t *table[K, V]) find(key K) (i int, tag uint8, found bool) {
	return t.findHashed(key, t.hash(key))
}

func (t *table[K, V]) findHashed(key K, h uint64) (i int, tag uint8, found bool) {
	tag = uint8(h & 0x7f)
	ng := len(t.ctrl)
	g := t.home(h)
	free := -1
	for {
		w := t.ctrl[g]
		for m := matchTag(w, tag); m != 0; m &= m - 1 {
			i := g*groupSize + bits.TrailingZeros64(m)/8
			if t.slots[i].key == key {
				return i, tag, true
			}
		}
		if free < 0 {
			if m := matchFree(w); m != 0 {
				free = g*groupSize + bits.TrailingZeros64(m)/8
			}
		}
		if matchEmpty(w) != 0 {
			return free, tag, false
		}
		if g++; g == ng {
			g = 0
		}
	}
}

// get returns the entry of key.
func (t *table[K, V]) get(key K) (entry[V], bool) {
	if t.n == 0 {
		return entry[V]{}, false
	}
	i, _, ok := t.find(key)
	if !ok {
		return entry[V]{}, false
	}
	return t.slots[i].e, true
}

// put sets the entry of key to e and returns the entry it replaced, if
// any. Replacing the entry of a key present never moves slots.
func (t *table[K, V]) put(key K, e entry[V]) (old entry[V], existed bool) {
	if t.ctrl == nil {
		t.init(1)
	}
	return t.putHashed(key, e, t.hash(key))
}

// putHashed is put for a key whose hash is h.
func (t *table[K, V]) putHashed(key K, e entry[V], h uint64) (old entry[V], existed bool) {
	i, tag, found := t.findHashed(key, h)
	if found {
		old = t.slots[i].e
		t.slots[i].e = e
		return old, true
	}
	if t.ctrlAt(i) == ctrlEmpty && (t.n+t.dead+1)*8 > len(t.slots)*7 {
		groups := len(t.ctrl)
		if (t.n+1)*16 > len(t.slots)*7 {
			groups *= 2 // mostly full: grow; else just clear the marks
		}
		t.rehash(groups)
		i, tag, _ = t.find(key)
	}
	if t.ctrlAt(i) == ctrlDeleted {
		t.dead--
	}
	t.setCtrl(i, tag)
	t.slots[i] = slot[K, V]{key: key, e: e}
	t.n++
	return old, false
}

// slotRef is where lookup found a key, or where it would go.
type slotRef struct {
	i   int
	tag uint8
	h   uint64
}

// lookup returns the entry of key, if present, and where it is or would
// go, for a setAt that follows with no other change to the table in
// between: a read and a write of one key for one probe.
func (t *table[K, V]) lookup(key K) (entry[V], slotRef, bool) {
	if t.ctrl == nil {
		t.init(1)
	}
	h := t.hash(key)
	i, tag, found := t.findHashed(key, h)
	if found {
		return t.slots[i].e, slotRef{i, tag, h}, true
	}
	return entry[V]{}, slotRef{i, tag, h}, false
}

// setAt sets the entry of key to e, at ref from lookup(key), which
// reported found.
func (t *table[K, V]) setAt(ref slotRef, found bool, key K, e entry[V]) {
	if found {
		t.slots[ref.i].e = e
		return
	}
	i, tag := ref.i, ref.tag
	if t.ctrlAt(i) == ctrlEmpty && (t.n+t.dead+1)*8 > len(t.slots)*7 {
		t.putHashed(key, e, ref.h) // grows first, as put does
		return
	}
	if t.ctrlAt(i) == ctrlDeleted {
		t.dead--
	}
	t.setCtrl(i, tag)
	t.slots[i] = slot[K, V]{key: key, e: e}
	t.n++
}

func (t *table[K, V]) ctrlAt(i int) uint8 {
	return uint8(t.ctrl[i/groupSize] >> (uint(i%groupSize) * 8))
}

// set sets the entry of key to e.
func (t *table[K, V]) set(key K, e entry[V]) { t.put(key, e) }

// remove removes key and returns its entry, if it was there.
func (t *table[K, V]) remove(key K) (entry[V], bool) {
	if t.n == 0 {
		return entry[V]{}, false
	}
	i, _, found := t.find(key)
	if !found {
		return entry[V]{}, false
	}
	old := t.slots[i].e
	t.slots[i] = slot[K, V]{}
	// A probe that reached a group with an empty slot stopped there, so a
	// slot in such a group can be empty again; elsewhere a probe may have
	// passed it, and it must stay marked.
	if matchEmpty(t.ctrl[i/groupSize]) != 0 {
		t.setCtrl(i, ctrlEmpty)
	} else {
		t.setCtrl(i, ctrlDeleted)
		t.dead++
	}
	t.n--
	return old, true
}

// rehash moves every key into a new array of the given number of groups.
func (t *table[K, V]) rehash(groups int) {
	oldCtrl, oldSlots := t.ctrl, t.slots
	t.init(groups)
	ng := len(t.ctrl)
	for g, w := range oldCtrl {
		for m := ^w & msb; m != 0; m &= m - 1 { // full slots
			s := &oldSlots[g*groupSize+bits.TrailingZeros64(m)/8]
			// The keys are distinct and the new table has no deleted
			// slots: the key goes to the first empty slot on its path.
			h := maphash.Comparable(t.seed, s.key)
			home := int((h >> 32) * uint64(ng) >> 32)
			for matchEmpty(t.ctrl[home]) == 0 {
				if home++; home == ng {
					home = 0
				}
			}
			j := home*groupSize + bits.TrailingZeros64(matchEmpty(t.ctrl[home]))/8
			t.setCtrl(j, uint8(h&0x7f))
			t.slots[j] = *s
		}
	}
	t.n = len(oldSlots) - countFree(oldCtrl)
}

// countFree returns the number of empty and deleted slots.
func countFree(ctrl []uint64) int {
	n := 0
	for _, w := range ctrl {
		n += bits.OnesCount64(matchFree(w))
	}
	return n
}

// all iterates over the keys and their entries, in slot order.
func (t *table[K, V]) all(yield func(K, entry[V]) bool) {
	for g, w := range t.ctrl {
		for m := ^w & msb; m != 0; m &= m - 1 {
			s := &t.slots[g*groupSize+bits.TrailingZeros64(m)/8]
			if !yield(s.key, s.e) {
				return
			}
		}
	}
}

// clone returns an independent copy of t.
func (t *table[K, V]) clone() table[K, V] {
	if t.n == 0 {
		return table[K, V]{}
	}
	c := table[K, V]{seed: t.seed, n: t.n, dead: t.dead}
	c.ctrl = append([]uint64(nil), t.ctrl...)
	c.slots = append([]slot[K, V](nil), t.slots...)
	return c
}
