package dotkernel

import (
	"maps"
	"math"

	"github.com/activeactive/crdt/vclock"
)

// ring holds the drop records, oldest first, in a circular buffer that
// reuses its slots once it reaches the cap on records, so that keeping the
// newest records costs no copying.
//
// The buffer is a list of chunks. While it is small it is one chunk that
// grows by doubling; from chunkLen slots on it grows a chunk of chunkLen
// slots at a time, so that growing never copies the records already held
// nor allocates more than a chunk at once (a kernel keeping the default
// 16,384 records would otherwise copy and reallocate its whole buffer a
// dozen times on the way). Slot p is chunks[p/chunkLen][p%chunkLen]
// either way, since a lone chunk is at most chunkLen long.
//
// A record that dropped one dot (every local remove, and most writes) is
// held in its slot alone: its key, and its dot and the dropped dot packed
// in a word each as an entry packs its dot, the replica by its index in
// the ring's own table of replicas (see recSlot). A record that dropped
// several dots, or whose dots do not pack, keeps its dots in wide, by its
// id. The ring never keeps a slice of one dot it is given: it packs the
// dot, or copies it, so that a caller may hand it a slice it reuses.
//
// Each record gets an id when it is added, larger than every id before
// it, so that ids increase from the oldest record to the newest: the
// kernel's index of records by dot refers to records by id, and finds
// them by binary search.
//
// The zero ring is empty and ready to use.
type ring[K comparable] struct {
	chunks [][]recSlot[K]
	ids    [][]uint64 // ids[c][j] is the id of chunks[c][j]
	size   int        // slots in all chunks
	head   int        // slot of the oldest record
	n      int
	next   uint64 // the id of the next record added

	reps   []vclock.ReplicaID          // the replicas the packed dots name
	repIdx map[vclock.ReplicaID]uint32 // index of reps, once it is long
	last   uint32                      // the index last looked up, tried first
	repMax int                         // reps is compacted when it grows past this
	due    bool                        // reps has grown past repMax: set compacts it
	wide   map[uint64]wideRec          // by id: the dots of the records that do not pack
}

// recSlot is a record in the ring. dot is the record's dot packed as
// entry packs its dot (see packed), with the replica's index in the
// ring's reps, and drop the one dot it dropped, packed alike; dot is
// wideDots if the record's dots are in the ring's wide map instead, and 0
// in a slot that holds no record.
type recSlot[K comparable] struct {
	key  K
	dot  uint64
	drop uint64
}

// wideDots in recSlot.dot says that the record's dots are in ring.wide.
const wideDots = 1

// wideRec is the dot and the dropped dots of a record that does not pack
// in its slot.
type wideRec struct {
	dot     vclock.Dot
	dropped []vclock.Dot
}

// chunkLen is the length of every chunk of a ring that has more than one.
const (
	chunkShift = 8
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1
)

func (r *ring[K]) len() int { return r.n }

// slot returns the slot of the i-th oldest record.
func (r *ring[K]) slot(i int) int {
	p := r.head + i
	if p >= r.size {
		p -= r.size
	}
	return p
}

func (r *ring[K]) rec(p int) *recSlot[K] { return &r.chunks[p>>chunkShift][p&chunkMask] }
func (r *ring[K]) id(p int) *uint64      { return &r.ids[p>>chunkShift][p&chunkMask] }

// unpack returns the dot packed in w, by the ring's table of replicas.
func (r *ring[K]) unpack(w uint64) vclock.Dot {
	return vclock.Dot{Replica: r.reps[uint32(w>>1&0x7fff)-1], Seq: w >> seqShift}
}

// dotOf returns the dot of the record in slot p.
func (r *ring[K]) dotOf(p int) vclock.Dot {
	s := r.rec(p)
	switch s.dot {
	case 0:
		return vclock.Dot{}
	case wideDots:
		return r.wide[*r.id(p)].dot
	}
	return r.unpack(s.dot)
}

// recAt returns the record in slot p. A record that dropped one dot gets
// buf[:1] as its Dropped: the caller must not keep it past the next use
// of buf, except by handing it to the ring (which copies a single dot).
func (r *ring[K]) recAt(p int, buf *[1]vclock.Dot) Record[K] {
	s := r.rec(p)
	switch s.dot {
	case 0:
		return Record[K]{Key: s.key}
	case wideDots:
		w := r.wide[*r.id(p)]
		return Record[K]{Dot: w.dot, Key: s.key, Dropped: w.dropped}
	}
	buf[0] = r.unpack(s.drop)
	return Record[K]{Dot: r.unpack(s.dot), Key: s.key, Dropped: buf[:1]}
}

// dotAt returns the dot of the i-th oldest record.
func (r *ring[K]) dotAt(i int) vclock.Dot { return r.dotOf(r.slot(i)) }

// get returns the i-th oldest record, with buf as recAt uses it.
func (r *ring[K]) get(i int, buf *[1]vclock.Dot) Record[K] { return r.recAt(r.slot(i), buf) }

// at returns the i-th oldest record, in memory of its own.
func (r *ring[K]) at(i int) Record[K] {
	var buf [1]vclock.Dot
	x := r.get(i, &buf)
	if len(x.Dropped) == 1 && &x.Dropped[0] == &buf[0] {
		x.Dropped = []vclock.Dot{buf[0]}
	}
	return x
}

// idAt returns the id of the i-th oldest record.
func (r *ring[K]) idAt(i int) uint64 { return *r.id(r.slot(i)) }

// repOf returns the index of id in the ring's table of replicas, adding
// it if needed. The index last returned is tried first, by the address of
// the replica's bytes and then by value. It never compacts the table
// (set does, before it packs), so indexes it returned stay valid.
func (r *ring[K]) repOf(id vclock.ReplicaID) uint32 {
	if r.last < uint32(len(r.reps)) && sameID(r.reps[r.last], id) {
		return r.last
	}
	i, ok := r.findRep(id)
	if !ok {
		if r.repMax == 0 {
			r.repMax = 16
		}
		r.due = r.due || len(r.reps) >= r.repMax
		i = uint32(len(r.reps))
		r.reps = append(r.reps, id)
		if r.repIdx != nil {
			r.repIdx[id] = i
		} else if len(r.reps) > 8 {
			r.indexReps()
		}
	}
	r.last = i
	return i
}

func (r *ring[K]) findRep(id vclock.ReplicaID) (uint32, bool) { return findIn(r.reps, r.repIdx, id) }

func (r *ring[K]) indexReps() { r.repIdx = indexOf(r.reps) }

// set makes slot p, whose id is id, hold the record of d, key and dropped:
// packed if dropped is one dot and both dots pack, else in wide, where the
// ring keeps dropped itself if it has several dots, and a copy if it has
// one. A record that was in the slot must be gone from wide already.
func (r *ring[K]) set(p int, id uint64, d vclock.Dot, key K, dropped []vclock.Dot) {
	if r.due {
		r.compactReps() // of replicas the records no longer name
	}
	s := r.rec(p)
	s.key = key
	if len(dropped) == 1 {
		x := dropped[0]
		if d.Seq <= maxPackSeq && x.Seq <= maxPackSeq {
			di := r.repOf(d.Replica)
			xi := di
			if !sameID(x.Replica, d.Replica) {
				xi = r.repOf(x.Replica)
			}
			if max(di, xi) <= maxPackRep {
				s.dot, s.drop = d.Seq<<seqShift|uint64(di+1)<<1, x.Seq<<seqShift|uint64(xi+1)<<1
				return
			}
		}
		dropped = []vclock.Dot{x}
	}
	r.setWide(s, id, d, dropped)
}

// packsOwn reports whether a record of d that dropped the dot of d's
// replica numbered own packs in its slot with the replica last looked
// up, and set has nothing to do first: d is of that replica, and the
// sequence numbers fit.
func (r *ring[K]) packsOwn(d vclock.Dot, own uint64) bool {
	return !r.due && r.last < uint32(len(r.reps)) && sameID(r.reps[r.last], d.Replica) &&
		max(d.Seq, own) <= maxPackSeq && r.last <= maxPackRep
}

// setWide makes s, the slot of id, hold a record whose dots are in wide.
func (r *ring[K]) setWide(s *recSlot[K], id uint64, d vclock.Dot, dropped []vclock.Dot) {
	if r.wide == nil {
		r.wide = make(map[uint64]wideRec)
	}
	r.wide[id] = wideRec{dot: d, dropped: dropped}
	s.dot, s.drop = wideDots, 0
}

// clear empties slot p, whose id is id.
func (r *ring[K]) clear(p int, id uint64) {
	s := r.rec(p)
	if s.dot == wideDots {
		delete(r.wide, id)
	}
	*s = recSlot[K]{}
}

// push adds the record of d, key and dropped as the newest and returns its
// id; the ring grows to at most limit slots, rounded up to whole chunks
// (the caller discards records before it is full). The ring keeps
// dropped if it has several dots (see set).
func (r *ring[K]) push(d vclock.Dot, key K, dropped []vclock.Dot, limit int) uint64 {
	p, id := r.pushSlot(limit)
	r.set(p, id, d, key, dropped)
	return id
}

// pushSlot adds an empty record as the newest and returns its slot, for
// the caller to fill with set, and its id; it grows the ring as push
// does.
func (r *ring[K]) pushSlot(limit int) (int, uint64) {
	if r.n == r.size {
		r.grow(limit)
	}
	p := r.slot(r.n)
	*r.id(p) = r.next
	r.n++
	r.next++
	return p, r.next - 1
}

// full reports whether every slot holds a record, so that a push would
// grow the ring.
func (r *ring[K]) full() bool { return r.n == r.size }

// rotate is dropOldest and pushSlot in one, for a full ring that is to
// keep its length: the slot of the oldest record becomes the newest
// record's, with a new id. It returns the dot of the record that was
// there, and the slot, for the caller to fill with set, and its id.
func (r *ring[K]) rotate() (vclock.Dot, int, uint64) {
	p := r.head
	d := r.dotOf(p)
	if r.rec(p).dot == wideDots {
		delete(r.wide, *r.id(p))
	}
	*r.id(p) = r.next
	r.next++
	r.head = r.slot(1)
	return d, p, r.next - 1
}

// grow makes room for one more record in a full ring.
func (r *ring[K]) grow(limit int) {
	if r.head != 0 {
		r.linearize() // the oldest record at slot 0
	}
	if r.size < chunkLen {
		size := min(max(2*r.size, 16), max(limit, r.n+1), chunkLen)
		buf := make([]recSlot[K], size)
		ids := make([]uint64, size)
		if r.size > 0 {
			copy(buf, r.chunks[0])
			copy(ids, r.ids[0])
		}
		r.chunks, r.ids, r.size = [][]recSlot[K]{buf}, [][]uint64{ids}, size
		return
	}
	r.chunks = append(r.chunks, make([]recSlot[K], chunkLen))
	r.ids = append(r.ids, make([]uint64, chunkLen))
	r.size += chunkLen
}

// linearize moves the records so that the oldest is at slot 0, keeping
// the chunks.
func (r *ring[K]) linearize() {
	recs := make([]recSlot[K], r.n)
	ids := make([]uint64, r.n)
	for i := range r.n {
		p := r.slot(i)
		recs[i], ids[i] = *r.rec(p), *r.id(p)
	}
	for i := range r.size {
		*r.rec(i), *r.id(i) = recSlot[K]{}, 0
	}
	for i := range recs {
		*r.rec(i), *r.id(i) = recs[i], ids[i]
	}
	r.head = 0
}

// appendDecoded adds x as the newest record of a ring being decoded.
func (r *ring[K]) appendDecoded(x Record[K]) {
	r.push(x.Dot, x.Key, x.Dropped, math.MaxInt)
}

// dropOldest removes the oldest record and returns its dot (all its
// discarders need).
func (r *ring[K]) dropOldest() vclock.Dot {
	p := r.head
	d := r.dotOf(p)
	r.clear(p, *r.id(p))
	r.head = r.slot(1)
	r.n--
	return d
}

// slice returns the records, oldest first, in a new slice; the single
// dots they dropped share one more.
func (r *ring[K]) slice() []Record[K] {
	if r.n == 0 {
		return nil
	}
	singles := 0
	for i := range r.n {
		if d := r.rec(r.slot(i)).dot; d != wideDots && d != 0 {
			singles++
		}
	}
	one := make([]vclock.Dot, singles)
	out := make([]Record[K], r.n)
	var buf [1]vclock.Dot
	for i := range out {
		out[i] = r.get(i, &buf)
		if len(out[i].Dropped) == 1 && &out[i].Dropped[0] == &buf[0] {
			one[0] = buf[0]
			out[i].Dropped, one = one[:1:1], one[1:]
		}
	}
	return out
}

// find returns the position (0 for the oldest) of the record with the
// given id, if the ring holds it.
func (r *ring[K]) find(id uint64) (int, bool) {
	lo, hi := 0, r.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.idAt(mid) < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, lo < r.n && r.idAt(lo) == id
}

// filter keeps the records for whose dot keep is true, in order.
func (r *ring[K]) filter(keep func(vclock.Dot) bool) {
	w := 0
	for i := range r.n {
		j := r.slot(i)
		if !keep(r.dotOf(j)) {
			r.clear(j, *r.id(j))
			continue
		}
		if wj := r.slot(w); wj != j {
			*r.rec(wj), *r.id(wj) = *r.rec(j), *r.id(j)
			*r.rec(j) = recSlot[K]{}
		}
		w++
	}
	r.n = w
	if w == 0 {
		r.reps, r.repIdx, r.last = nil, nil, 0
	}
}

// compactReps keeps in the table of replicas only those the records
// name, packing the records again by their new indexes.
func (r *ring[K]) compactReps() {
	used := make([]uint32, len(r.reps)) // old index -> new index + 1
	var reps []vclock.ReplicaID
	renum := func(w uint64) uint64 {
		old := uint32(w>>1&0x7fff) - 1
		if used[old] == 0 {
			reps = append(reps, r.reps[old])
			used[old] = uint32(len(reps))
		}
		return w&^(0x7fff<<1) | uint64(used[old])<<1
	}
	for i := range r.n {
		s := r.rec(r.slot(i))
		if s.dot != wideDots && s.dot != 0 {
			s.dot, s.drop = renum(s.dot), renum(s.drop)
		}
	}
	r.reps, r.repIdx, r.last, r.due = reps, nil, 0, false
	if len(reps) > 8 {
		r.indexReps()
	}
	r.repMax = max(2*len(reps), 16)
}

// clone returns an independent copy of r: its records in one chunk as
// long as they are, if they fit one, else in whole chunks.
func (r *ring[K]) clone() ring[K] {
	c := ring[K]{n: r.n, next: r.next}
	if r.n == 0 {
		return c
	}
	c.reps, c.repMax, c.due = append([]vclock.ReplicaID(nil), r.reps...), r.repMax, r.due
	if r.repIdx != nil {
		c.repIdx = maps.Clone(r.repIdx)
	}
	if len(r.wide) > 0 {
		c.wide = maps.Clone(r.wide) // wide records are never modified
	}
	c.size = r.n
	if r.n > chunkLen {
		c.size = (r.n + chunkMask) &^ chunkMask
	}
	for left := c.size; left > 0; left -= chunkLen {
		c.chunks = append(c.chunks, make([]recSlot[K], min(left, chunkLen)))
		c.ids = append(c.ids, make([]uint64, min(left, chunkLen)))
	}
	for i := range r.n {
		p := r.slot(i)
		*c.rec(i), *c.id(i) = *r.rec(p), *r.id(p)
	}
	return c
}
