package dotkernel

import (
	"hash/maphash"
	"math/bits"
	"reflect"
	"unsafe"

	"github.com/activeactive/crdt/vclock"
)

// Table is a hash table from keys to entries of type E: the kernel's
// store (see table), and lwwmap's. It exists, rather than a Go map,
// because mutations need the old entry of the key they replace or
// remove: a Go map takes two look-ups for that, the table one.
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
// Growing a large table does not move every key at once, which would
// stall the one insert that crosses the limit for as long as the whole
// table takes to move. An array of bulkGroups groups or more becomes the
// old one, and every migrateEvery-th insert that follows moves the keys
// of the next of its groups into the new array, until none is left: no
// insert moves more than 8 keys, and a doubling's moves spread over
// inserts numbering about half the keys moved, so that a batch of inserts
// pays for moving about twice its own size at most. While keys remain in
// the old array, look-ups that miss the new one probe the old one too. A
// moved or removed key leaves a deleted mark in the old array, never an
// empty slot, so its probes stop where they always did.
// The old array's keys are all moved before the new array fills: an array
// of G groups holds at most 7G keys and is drained within 3G inserts, and
// the new one, of 2G groups, takes 14G (or, of G groups when only deleted
// marks are cleared from an array holding at most 3.5G keys, 7G).
//
// The zero table is empty and ready to use. Iterating while removing keys
// or replacing the entries of keys present is safe; adding keys is not.
type Table[K comparable, E any] struct {
	seed  maphash.Seed
	ctrl  []uint64     // one word of control bytes per group
	slots []slot[K, E] // 8 per group
	hi    []uint32     // the high half of the hash of each slot's key, if kept (see keepHashes)
	n     int          // keys, in both arrays
	dead  int          // deleted slots of the new array
	// left is the number of empty slots an insert may still fill before
	// the new array grows: 7/8 of its slots less its keys and deleted
	// marks, kept as a count so that an insert tests one word.
	left int
	sink uint64 // where touch's reads go, so they are not optimized away

	// The array being drained by a migration, nil when none is.
	oldCtrl  []uint64
	oldSlots []slot[K, E]
	oldHi    []uint32
	oldN     int // keys still in the old array
	mig      int // the next group of the old array to move
	credit   int // inserts since the last group moved

	atOnce bool // grow by moving every key at once, whatever the size

	// rep and repH are the replica of the last dot key a mutation of t
	// hashed and the hash of its ID, when K is vclock.Dot (see hashDot):
	// written by mutations only, so that readers, which may run at the
	// same time as each other, only read them.
	rep  vclock.ReplicaID
	repH uint64
	dots bool // K is vclock.Dot: keys hash by hashDot
}

// migrateEvery is the number of inserts per group of the old array moved
// during a migration. At 3, a doubling's 7G keys move over 3G inserts,
// and the new array holds at most 10G of its 14G keys when the last
// group moves; a rebuild of G groups holds at most 6.5G of its 7G.
const migrateEvery = 3

// bulkGroups is the number of groups below which an array's keys all move
// at once when it grows: up to about 115,000 keys, a move of a few
// milliseconds, cheaper done at once than spread (the spread doubles the
// probes of the inserts meanwhile). A variable so that tests can spread
// the moves of small tables too.
var bulkGroups = 1 << 14

// table is the kernel's store.
type table[K comparable, V any] = Table[K, entry[V]]

type slot[K comparable, E any] struct {
	key K
	e   E
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

// keepHashes reports whether tables of slots of key K and entry E keep
// the high half of each key's hash beside the slots, so that growing
// places keys without hashing them again: when a slot takes 64 bytes or
// more, so that the 4 bytes add a sixteenth at most to the slots' memory
// (lwwmap's entries). Smaller slots (the kernel's) hash their keys again.
func keepHashes[K comparable, E any]() bool {
	return reflect.TypeFor[slot[K, E]]().Size() >= 64
}

// groupsFor returns the number of groups that holds n keys within the
// load limit. Any number will do: a hash picks its first group by
// multiplying, not masking.
func groupsFor(n int) int {
	return max(1, (n*8+groupSize*7-1)/(groupSize*7))
}

func (t *Table[K, E]) init(groups int) {
	if t.ctrl == nil {
		t.seed = maphash.MakeSeed()
		t.rep, t.repH = "", 0
		_, t.dots = any(*new(K)).(vclock.Dot)
	}
	t.ctrl = make([]uint64, groups)
	for i := range t.ctrl {
		t.ctrl[i] = emptyGroup
	}
	t.slots = make([]slot[K, E], groups*groupSize)
	if keepHashes[K, E]() {
		t.hi = make([]uint32, groups*groupSize)
	}
	t.n, t.dead, t.left = 0, 0, groups*7
}

// reserve makes room for n keys in all, so that adding them does not
// grow the table. The keys present move over the inserts that follow, as
// when the table grows, into an array at least twice as large, so that
// they are all moved before it fills. During a migration it does nothing:
// the new array already holds twice the keys the old one held, and one
// migration must end before another begins.
func (t *Table[K, E]) reserve(n int) {
	if t.oldCtrl != nil {
		return
	}
	if g := groupsFor(n); g > len(t.ctrl) {
		if t.n > 0 {
			g = max(g, 2*len(t.ctrl))
		}
		t.migrate(g)
	}
}

func (t *Table[K, E]) len() int { return t.n }

func (t *Table[K, E]) setCtrl(i int, c uint8) {
	g, shift := uint(i)/groupSize, uint(i)%groupSize*8
	t.ctrl[g] = t.ctrl[g]&^(0xff<<shift) | uint64(c)<<shift
}

func (t *Table[K, E]) hash(key K) uint64 {
	if t.dots {
		return t.hashDot(any(key).(vclock.Dot))
	}
	return maphash.Comparable(t.seed, key)
}

// hashDot is the hash of a dot key: the hash of its replica's ID, with
// t's seed, mixed with its sequence number. The ID's hash is that of the
// last dot a mutation hashed when the replica is the same (as it mostly
// is: a replica writes runs of dots), so that a dot costs a compare of
// IDs (of their addresses, mostly) and a multiplication, not a hash of
// the ID's bytes.
func (t *Table[K, E]) hashDot(d vclock.Dot) uint64 {
	if len(t.rep) > 0 && sameID(d.Replica, t.rep) {
		return mixSeq(t.repH, d.Seq)
	}
	return mixSeq(maphash.String(t.seed, string(d.Replica)), d.Seq)
}

// hashW is hash for a mutation of t, which keeps the hash of a dot's
// replica for the next dot.
func (t *Table[K, E]) hashW(key K) uint64 {
	if !t.dots {
		return maphash.Comparable(t.seed, key)
	}
	d := any(key).(vclock.Dot)
	if len(d.Replica) == 0 || len(d.Replica) != len(t.rep) ||
		unsafe.StringData(string(d.Replica)) != unsafe.StringData(string(t.rep)) {
		t.keepRep(d.Replica)
	}
	return mixSeq(t.repH, d.Seq)
}

// keepRep makes id the replica whose hash t keeps, with id's bytes.
func (t *Table[K, E]) keepRep(id vclock.ReplicaID) {
	if len(id) == 0 || id != t.rep {
		t.repH = maphash.String(t.seed, string(id))
	}
	t.rep = id
}

// mixSeq mixes the sequence number seq into rh, the seeded hash of its
// replica's ID: a multiplication spreads it into the high half, which
// picks the group, and the high half is folded into the low, which gives
// the tag.
func mixSeq(rh, seq uint64) uint64 {
	x := rh + seq*0x9e3779b97f4a7c15
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// home returns the group where the probe for hash h starts.
func (t *Table[K, E]) home(h uint64) int {
	return int((h >> 32) * uint64(len(t.ctrl)) >> 32)
}

// touch returns the entry of the slot where a new key of hash h would
// most likely go, for the caller to read and so bring it into the cache
// ahead of the write.
func (t *Table[K, E]) touch(h uint64) *E {
	g := t.home(h)
	j := bits.TrailingZeros64(matchFree(t.ctrl[g])|1<<63) / 8
	return &t.slots[g*groupSize+j].e
}

// findHashed returns the slot of the key of hash h in the new array and
// true, or false and the slot where it would go (the first empty or
// deleted slot on its probe path), with the control byte it would take.
// During a migration the key may be in the old array (see findOld).
func (t *Table[K, E]) findHashed(key K, h uint64) (i int, tag uint8, found bool) {
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
func (t *Table[K, E]) get(key K) (E, bool) {
	if t.n == 0 {
		var zero E
		return zero, false
	}
	h := t.hash(key)
	if i, _, ok := t.findHashed(key, h); ok {
		return t.slots[i].e, true
	}
	if t.oldN > 0 {
		if i, ok := t.findOld(key, h); ok {
			return t.oldSlots[i].e, true
		}
	}
	var zero E
	return zero, false
}

// findOld returns the slot of key in the old array, if it is there.
func (t *Table[K, E]) findOld(key K, h uint64) (int, bool) {
	tag := uint8(h & 0x7f)
	ng := len(t.oldCtrl)
	g := int((h >> 32) * uint64(ng) >> 32)
	for {
		w := t.oldCtrl[g]
		for m := matchTag(w, tag); m != 0; m &= m - 1 {
			i := g*groupSize + bits.TrailingZeros64(m)/8
			if t.oldSlots[i].key == key {
				return i, true
			}
		}
		if matchEmpty(w) != 0 {
			return 0, false
		}
		if g++; g == ng {
			g = 0
		}
	}
}

// put sets the entry of key to e and returns the entry it replaced, if
// any. Replacing the entry of a key present never moves slots.
func (t *Table[K, E]) put(key K, e E) (old E, existed bool) {
	if t.ctrl == nil {
		t.init(1)
	}
	return t.putHashed(key, e, t.hashW(key))
}

// putHashed is put for a key whose hash is h.
func (t *Table[K, E]) putHashed(key K, e E, h uint64) (old E, existed bool) {
	i, tag, found := t.findHashed(key, h)
	if found {
		old = t.slots[i].e
		t.slots[i].e = e
		return old, true
	}
	if t.oldN > 0 {
		if j, ok := t.findOld(key, h); ok {
			old = t.oldSlots[j].e
			t.oldSlots[j].e = e
			return old, true
		}
	}
	t.insertAt(i, tag, key, e, h)
	return old, false
}

// insertAt adds key, absent from both arrays, at slot i of the new array
// (where findHashed said it would go), growing first if the array is
// full, and then moves a step of a migration under way.
func (t *Table[K, E]) insertAt(i int, tag uint8, key K, e E, h uint64) {
	t.claim(i, tag, key, h).e = e
}

// claim is insertAt but for the entry: it returns the slot of key, whose
// entry is the zero E.
func (t *Table[K, E]) claim(i int, tag uint8, key K, h uint64) *slot[K, E] {
	g, shift := uint(i)/groupSize, uint(i)%groupSize*8
	w := t.ctrl[g]
	if uint8(w>>shift) == ctrlEmpty {
		if t.left <= 0 {
			i, tag = t.grow(key, h) // an empty slot of the new array
			g, shift = uint(i)/groupSize, uint(i)%groupSize*8
			w = t.ctrl[g]
		}
		t.left--
	} else {
		t.dead-- // a deleted mark taken: the array fills no further
	}
	t.ctrl[g] = w&^(0xff<<shift) | uint64(tag)<<shift
	s := &t.slots[i]
	s.key = key
	if t.hi != nil {
		t.hi[i] = uint32(h >> 32)
	}
	t.n++
	if t.oldCtrl != nil {
		if t.credit++; t.credit == migrateEvery {
			t.credit = 0
			t.moveGroup() // moves keys of the old array only: s stays
		}
	}
	return s
}

// grow makes room for key, of hash h, absent from both arrays, in an
// array with no free slot to spare, and returns where key goes now.
func (t *Table[K, E]) grow(key K, h uint64) (int, uint8) {
	t.drain() // never while inserts keep pace; here for safety
	groups := len(t.ctrl)
	if (t.n+1)*16 > len(t.slots)*7 {
		groups *= 2 // mostly full: grow; else just clear the marks
	}
	t.migrate(groups)
	i, tag, _ := t.findHashed(key, h)
	return i, tag
}

// slotRef is where lookup found a key, or where it would go.
type slotRef struct {
	i   int
	tag uint8
	h   uint64
	old bool // i is a slot of the old array
}

// lookup returns the entry of key, if present, and where it is or would
// go, for a setAt that follows with no other change to the table in
// between: a read and a write of one key for one probe.
func (t *Table[K, E]) lookup(key K) (E, slotRef, bool) {
	if t.ctrl == nil {
		t.init(1)
	}
	h := t.hashW(key)
	i, tag, found := t.findHashed(key, h)
	if found {
		return t.slots[i].e, slotRef{i, tag, h, false}, true
	}
	if t.oldN > 0 {
		if j, ok := t.findOld(key, h); ok {
			return t.oldSlots[j].e, slotRef{j, tag, h, true}, true
		}
	}
	var zero E
	return zero, slotRef{i, tag, h, false}, false
}

// lookupPtr is lookup returning where the entry is, nil if key is
// absent, rather than a copy: a miss, the common look-up of a join that
// brings new keys, copies no zero entry out.
func (t *Table[K, E]) lookupPtr(key K) (*E, slotRef) {
	if t.ctrl == nil {
		t.init(1)
	}
	h := t.hashW(key)
	i, tag, found := t.findHashed(key, h)
	if found {
		return &t.slots[i].e, slotRef{i, tag, h, false}
	}
	if t.oldN > 0 {
		if j, ok := t.findOld(key, h); ok {
			return &t.oldSlots[j].e, slotRef{j, tag, h, true}
		}
	}
	return nil, slotRef{i, tag, h, false}
}

// setAt sets the entry of key to e, at ref from lookup(key), which
// reported found.
func (t *Table[K, E]) setAt(ref slotRef, found bool, key K, e E) {
	switch {
	case found && ref.old:
		t.oldSlots[ref.i].e = e
	case found:
		t.slots[ref.i].e = e
	default:
		t.insertAt(ref.i, ref.tag, key, e, ref.h)
	}
}

// set sets the entry of key to e.
func (t *Table[K, E]) set(key K, e E) { t.put(key, e) }

// remove removes key and returns its entry, if it was there.
func (t *Table[K, E]) remove(key K) (E, bool) {
	if t.n == 0 {
		var zero E
		return zero, false
	}
	h := t.hashW(key)
	i, _, found := t.findHashed(key, h)
	if !found {
		if t.oldN == 0 {
			var zero E
			return zero, false
		}
		j, ok := t.findOld(key, h)
		if !ok {
			var zero E
			return zero, false
		}
		old := t.oldSlots[j].e
		t.oldSlots[j] = slot[K, E]{}
		g, shift := j/groupSize, uint(j%groupSize)*8
		t.oldCtrl[g] = t.oldCtrl[g]&^(0xff<<shift) | ctrlDeleted<<shift
		t.oldN--
		t.n--
		if t.oldN == 0 {
			t.oldCtrl, t.oldSlots, t.oldHi, t.mig = nil, nil, nil, 0
		}
		return old, true
	}
	old := t.slots[i].e
	t.slots[i] = slot[K, E]{}
	// A probe that reached a group with an empty slot stopped there, so a
	// slot in such a group can be empty again; elsewhere a probe may have
	// passed it, and it must stay marked.
	if matchEmpty(t.ctrl[i/groupSize]) != 0 {
		t.setCtrl(i, ctrlEmpty)
		t.left++
	} else {
		t.setCtrl(i, ctrlDeleted)
		t.dead++
	}
	t.n--
	return old, true
}

// removeAt removes the key in slot i of the new array, as remove does
// (which has it written out, to stay one call).
func (t *Table[K, E]) removeAt(i int) {
	t.slots[i] = slot[K, E]{}
	if matchEmpty(t.ctrl[i/groupSize]) != 0 {
		t.setCtrl(i, ctrlEmpty)
		t.left++
	} else {
		t.setCtrl(i, ctrlDeleted)
		t.dead++
	}
	t.n--
}

// migrate makes the array a new one of the given number of groups and
// the array it replaces the old one, whose keys the inserts that follow
// move. No migration may be under way.
func (t *Table[K, E]) migrate(groups int) {
	n := t.n
	if n == 0 {
		t.init(groups)
		return
	}
	if len(t.ctrl) < bulkGroups || t.atOnce {
		ctrl, slots, hi := t.ctrl, t.slots, t.hi
		t.init(groups)
		t.n = n
		t.left -= n
		t.rehash(ctrl, slots, hi)
		return
	}
	t.oldCtrl, t.oldSlots, t.oldHi, t.oldN, t.mig, t.credit = t.ctrl, t.slots, t.hi, n, 0, 0
	t.init(groups)
	t.n = n
}

// rehash moves every key of the array of ctrl, slots and hi, which is
// dropped after, into the new array, which holds no key or deleted mark:
// the first free slot of a key's path is its first empty one, and nothing
// is left behind to mark or clear. A key's place needs the high half of
// its hash, kept, and its tag, in its control byte: keys are not hashed
// again.
func (t *Table[K, E]) rehash(ctrl []uint64, slots []slot[K, E], hi []uint32) {
	if hi == nil {
		t.rehashHashing(ctrl, slots)
		return
	}
	nctrl, nslots, nhi := t.ctrl, t.slots, t.hi
	ng := uint64(len(nctrl))
	for g, w := range ctrl {
		for m := ^w & msb; m != 0; m &= m - 1 {
			shift := uint(bits.TrailingZeros64(m)) &^ 7
			j := g*groupSize + int(shift/8)
			hj := hi[j]
			tag := w >> shift & 0x7f
			home := uint64(hj) * ng >> 32
			cw := nctrl[home]
			for matchFree(cw) == 0 {
				if home++; home == ng {
					home = 0
				}
				cw = nctrl[home]
			}
			at := uint(bits.TrailingZeros64(matchFree(cw))) &^ 7
			nctrl[home] = cw&^(0xff<<at) | tag<<at
			i := int(home)*groupSize + int(at/8)
			nslots[i] = slots[j]
			nhi[i] = hj
		}
	}
}

// rehashHashing is rehash for a table that keeps no hashes: it hashes
// each key again.
func (t *Table[K, E]) rehashHashing(ctrl []uint64, slots []slot[K, E]) {
	ng := len(t.ctrl)
	for g, w := range ctrl {
		for m := ^w & msb; m != 0; m &= m - 1 {
			s := &slots[g*groupSize+bitsIndex(m)]
			h := t.hash(s.key)
			home := int((h >> 32) * uint64(ng) >> 32)
			var free uint64
			for {
				if free = matchFree(t.ctrl[home]); free != 0 {
					break
				}
				if home++; home == ng {
					home = 0
				}
			}
			shift := uint(bits.TrailingZeros64(free)) &^ 7
			t.ctrl[home] = t.ctrl[home]&^(0xff<<shift) | (h&0x7f)<<shift
			t.slots[home*groupSize+int(shift/8)] = *s
		}
	}
}

// drain moves every key left in the old array.
func (t *Table[K, E]) drain() {
	for t.oldCtrl != nil {
		t.moveGroup()
	}
}

// moveGroup moves the keys of the next group of the old array into the
// new one, leaving deleted marks, and drops the old array after its last
// group or key.
func (t *Table[K, E]) moveGroup() {
	g := t.mig
	w := t.oldCtrl[g]
	full := ^w & msb
	ng := len(t.ctrl)
	for m := full; m != 0; m &= m - 1 {
		j := g*groupSize + bits.TrailingZeros64(m)/8
		s := &t.oldSlots[j]
		// The key is not in the new array: it goes to the first free
		// slot on its path there, which the high half of its hash and
		// its tag give.
		var hj uint32
		if t.oldHi != nil {
			hj = t.oldHi[j]
		} else {
			hj = uint32(t.hash(s.key) >> 32)
		}
		tag := w >> (uint(bits.TrailingZeros64(m)) &^ 7) & 0x7f
		home := int(uint64(hj) * uint64(ng) >> 32)
		var free uint64
		for {
			if free = matchFree(t.ctrl[home]); free != 0 {
				break
			}
			if home++; home == ng {
				home = 0
			}
		}
		shift := uint(bits.TrailingZeros64(free)) &^ 7
		cw := t.ctrl[home]
		if uint8(cw>>shift) == ctrlDeleted {
			t.dead--
		} else {
			t.left--
		}
		t.ctrl[home] = cw&^(0xff<<shift) | tag<<shift
		i := home*groupSize + int(shift/8)
		t.slots[i] = *s
		if t.hi != nil {
			t.hi[i] = hj
		}
		t.oldN--
	}
	// Full bytes become deleted; empty and deleted bytes stay as they are.
	low := full >> 7 // the lowest bit of each full byte
	t.oldCtrl[g] = w&^(low*0xff) | low*ctrlDeleted
	clear(t.oldSlots[g*groupSize : (g+1)*groupSize])
	t.mig++
	if t.oldN == 0 || t.mig == len(t.oldCtrl) {
		t.oldCtrl, t.oldSlots, t.oldHi, t.mig = nil, nil, nil, 0
	}
}

// arrays returns the table's arrays for a pass over their slots: the new
// one, numbered from 0, and during a migration the old one, numbered on
// from the end of the new one (the numbering slotAt reads); with no
// migration, the second has no groups.
func (t *Table[K, E]) arrays() [2]slotArray[K, E] {
	return [2]slotArray[K, E]{{t.ctrl, t.slots, 0}, {t.oldCtrl, t.oldSlots, len(t.slots)}}
}

// slotArray is one array of a table; its slot i is numbered base+i.
type slotArray[K comparable, E any] struct {
	ctrl  []uint64
	slots []slot[K, E]
	base  int
}

// slotAt returns the slot numbered i, as arrays numbers them.
func (t *Table[K, E]) slotAt(i int) *slot[K, E] {
	if i < len(t.slots) {
		return &t.slots[i]
	}
	return &t.oldSlots[i-len(t.slots)]
}

// all iterates over the keys and their entries, in slot order.
func (t *Table[K, E]) all(yield func(K, E) bool) {
	for _, a := range t.arrays() {
		for g, w := range a.ctrl {
			for m := ^w & msb; m != 0; m &= m - 1 {
				s := &a.slots[g*groupSize+bits.TrailingZeros64(m)/8]
				if !yield(s.key, s.e) {
					return
				}
			}
		}
	}
}

// clone returns an independent copy of t.
func (t *Table[K, E]) clone() Table[K, E] {
	if t.n == 0 {
		return Table[K, E]{}
	}
	c := Table[K, E]{seed: t.seed, n: t.n, dead: t.dead, left: t.left, oldN: t.oldN, mig: t.mig, credit: t.credit, rep: t.rep, repH: t.repH, dots: t.dots}
	c.ctrl = append([]uint64(nil), t.ctrl...)
	c.slots = append([]slot[K, E](nil), t.slots...)
	c.hi = append([]uint32(nil), t.hi...)
	if t.oldCtrl != nil {
		c.oldCtrl = append([]uint64(nil), t.oldCtrl...)
		c.oldSlots = append([]slot[K, E](nil), t.oldSlots...)
		c.oldHi = append([]uint32(nil), t.oldHi...)
	}
	return c
}
