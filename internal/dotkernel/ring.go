package dotkernel

import (
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
// Each record gets an id when it is added, larger than every id before
// it, so that ids increase from the oldest record to the newest: the
// kernel's index of records by dot refers to records by id, and finds
// them by binary search.
//
// The zero ring is empty and ready to use.
type ring[K comparable] struct {
	chunks [][]Record[K]
	ids    [][]uint64 // ids[c][j] is the id of chunks[c][j]
	size   int        // slots in all chunks
	head   int        // slot of the oldest record
	n      int
	next   uint64 // the id of the next record added
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

func (r *ring[K]) rec(p int) *Record[K] { return &r.chunks[p>>chunkShift][p&chunkMask] }
func (r *ring[K]) id(p int) *uint64     { return &r.ids[p>>chunkShift][p&chunkMask] }

// at returns the i-th oldest record.
func (r *ring[K]) at(i int) Record[K] { return *r.rec(r.slot(i)) }

// idAt returns the id of the i-th oldest record.
func (r *ring[K]) idAt(i int) uint64 { return *r.id(r.slot(i)) }

// push adds x as the newest record and returns its id; the ring grows to
// at most limit slots, rounded up to whole chunks (the caller discards
// records before it is full).
func (r *ring[K]) push(x Record[K], limit int) uint64 {
	if r.n == r.size {
		r.grow(limit)
	}
	p := r.slot(r.n)
	*r.rec(p), *r.id(p) = x, r.next
	r.n++
	r.next++
	return r.next - 1
}

// pushSlot adds a zero record as the newest and returns where it is, for
// the caller to fill in place, and its id; it grows the ring as push does.
func (r *ring[K]) pushSlot(limit int) (*Record[K], uint64) {
	if r.n == r.size {
		r.grow(limit)
	}
	p := r.slot(r.n)
	*r.id(p) = r.next
	r.n++
	r.next++
	return r.rec(p), r.next - 1
}

// full reports whether every slot holds a record, so that a push would
// grow the ring.
func (r *ring[K]) full() bool { return r.n == r.size }

// rotate is dropOldest and pushSlot in one, for a full ring that is to
// keep its length: the slot of the oldest record becomes the newest
// record's, with a new id. It returns the dot of the record that was
// there, and the slot, still holding that record for the caller to
// overwrite whole (its Dot, Key and Dropped), and its id.
func (r *ring[K]) rotate() (vclock.Dot, *Record[K], uint64) {
	p := r.head
	rec := r.rec(p)
	*r.id(p) = r.next
	r.next++
	r.head = r.slot(1)
	return rec.Dot, rec, r.next - 1
}

// grow makes room for one more record in a full ring.
func (r *ring[K]) grow(limit int) {
	if r.head != 0 {
		r.linearize() // the oldest record at slot 0
	}
	if r.size < chunkLen {
		size := min(max(2*r.size, 16), max(limit, r.n+1), chunkLen)
		buf := make([]Record[K], size)
		ids := make([]uint64, size)
		if r.size > 0 {
			copy(buf, r.chunks[0])
			copy(ids, r.ids[0])
		}
		r.chunks, r.ids, r.size = [][]Record[K]{buf}, [][]uint64{ids}, size
		return
	}
	r.chunks = append(r.chunks, make([]Record[K], chunkLen))
	r.ids = append(r.ids, make([]uint64, chunkLen))
	r.size += chunkLen
}

// linearize moves the records so that the oldest is at slot 0, keeping
// the chunks.
func (r *ring[K]) linearize() {
	recs, ids := r.slice(), r.idSlice()
	for i := range r.size {
		*r.rec(i), *r.id(i) = Record[K]{}, 0
	}
	for i := range recs {
		*r.rec(i), *r.id(i) = recs[i], ids[i]
	}
	r.head = 0
}

// appendDecoded adds x as the newest record of a ring being decoded.
func (r *ring[K]) appendDecoded(x Record[K]) {
	r.push(x, math.MaxInt)
}

// dropOldest removes the oldest record and returns its dot (all its
// discarders need), without a copy of the record.
func (r *ring[K]) dropOldest() vclock.Dot {
	p := r.rec(r.head)
	d := p.Dot
	*p = Record[K]{}
	r.head = r.slot(1)
	r.n--
	return d
}

// slice returns the records, oldest first, in a new slice.
func (r *ring[K]) slice() []Record[K] {
	if r.n == 0 {
		return nil
	}
	out := make([]Record[K], r.n)
	for i := range out {
		out[i] = r.at(i)
	}
	return out
}

// idSlice returns the ids of the records, oldest first, in a new slice.
func (r *ring[K]) idSlice() []uint64 {
	if r.n == 0 {
		return nil
	}
	out := make([]uint64, r.n)
	for i := range out {
		out[i] = r.idAt(i)
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

// filter keeps the records for which keep is true, in order.
func (r *ring[K]) filter(keep func(Record[K]) bool) {
	w := 0
	for i := range r.n {
		j := r.slot(i)
		if x := *r.rec(j); keep(x) {
			wj := r.slot(w)
			*r.rec(wj), *r.id(wj) = x, *r.id(j)
			w++
		}
	}
	for i := w; i < r.n; i++ {
		*r.rec(r.slot(i)) = Record[K]{}
	}
	r.n = w
}

// clone returns an independent copy of r: its records in one chunk as
// long as they are, if they fit one, else in whole chunks.
func (r *ring[K]) clone() ring[K] {
	c := ring[K]{n: r.n, next: r.next}
	if r.n == 0 {
		return c
	}
	c.size = r.n
	if r.n > chunkLen {
		c.size = (r.n + chunkMask) &^ chunkMask
	}
	for left := c.size; left > 0; left -= chunkLen {
		c.chunks = append(c.chunks, make([]Record[K], min(left, chunkLen)))
		c.ids = append(c.ids, make([]uint64, min(left, chunkLen)))
	}
	for i := range r.n {
		*c.rec(i), *c.id(i) = r.at(i), r.idAt(i)
	}
	return c
}
