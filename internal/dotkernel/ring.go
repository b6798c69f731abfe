package dotkernel

// ring holds the drop records, oldest first, in a circular buffer that
// grows by doubling up to the cap on records and then reuses its slots,
// so that keeping the newest records costs no copying.
//
// Each record gets an id when it is added, larger than every id before
// it, so that ids increase from the oldest record to the newest: the
// kernel's index of records by dot refers to records by id, and finds
// them by binary search.
//
// The zero ring is empty and ready to use.
type ring[K comparable] struct {
	buf  []Record[K]
	ids  []uint64 // ids[j] is the id of buf[j]
	head int      // slot of the oldest record
	n    int
	next uint64 // the id of the next record added
}

func (r *ring[K]) len() int { return r.n }

// at returns the i-th oldest record.
func (r *ring[K]) at(i int) Record[K] { return r.buf[(r.head+i)%len(r.buf)] }

// idAt returns the id of the i-th oldest record.
func (r *ring[K]) idAt(i int) uint64 { return r.ids[(r.head+i)%len(r.buf)] }

// push adds x as the newest record and returns its id; the ring grows, by
// doubling, to at most limit slots (the caller discards records before it
// is full).
func (r *ring[K]) push(x Record[K], limit int) uint64 {
	if r.n == len(r.buf) {
		size := min(max(2*len(r.buf), 16), max(limit, r.n+1))
		buf := make([]Record[K], size)
		ids := make([]uint64, size)
		r.copyTo(buf)
		r.copyIDsTo(ids)
		r.buf, r.ids, r.head = buf, ids, 0
	}
	j := (r.head + r.n) % len(r.buf)
	r.buf[j], r.ids[j] = x, r.next
	r.n++
	r.next++
	return r.ids[j]
}

// appendDecoded adds x as the newest record of a ring being decoded,
// whose buffer is exactly as long as its records.
func (r *ring[K]) appendDecoded(x Record[K]) {
	r.buf = append(r.buf, x)
	r.ids = append(r.ids, r.next)
	r.n++
	r.next++
}

// copyTo copies the records, oldest first, to the start of dst.
func (r *ring[K]) copyTo(dst []Record[K]) {
	k := copy(dst, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(dst[k:], r.buf[:r.n-k])
}

func (r *ring[K]) copyIDsTo(dst []uint64) {
	k := copy(dst, r.ids[r.head:min(r.head+r.n, len(r.ids))])
	copy(dst[k:], r.ids[:r.n-k])
}

// popOldest removes and returns the oldest record.
func (r *ring[K]) popOldest() Record[K] {
	x := r.buf[r.head]
	r.buf[r.head] = Record[K]{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return x
}

// slice returns the records, oldest first, in a new slice.
func (r *ring[K]) slice() []Record[K] {
	if r.n == 0 {
		return nil
	}
	out := make([]Record[K], r.n)
	r.copyTo(out)
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
		j := (r.head + i) % len(r.buf)
		if x := r.buf[j]; keep(x) {
			wj := (r.head + w) % len(r.buf)
			r.buf[wj], r.ids[wj] = x, r.ids[j]
			w++
		}
	}
	for i := w; i < r.n; i++ {
		r.buf[(r.head+i)%len(r.buf)] = Record[K]{}
	}
	r.n = w
}

// clone returns an independent copy of r.
func (r *ring[K]) clone() ring[K] {
	c := ring[K]{buf: r.slice(), n: r.n, next: r.next}
	if r.n > 0 {
		c.ids = make([]uint64, r.n)
		r.copyIDsTo(c.ids)
	}
	return c
}
