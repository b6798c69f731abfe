package dotkernel

// ring holds the drop records, oldest first, in a circular buffer that
// grows by doubling up to the cap on records and then reuses its slots,
// so that keeping the newest records costs no copying.
//
// The zero ring is empty and ready to use.
type ring[K comparable] struct {
	buf  []Record[K]
	head int // slot of the oldest record
	n    int
}

func (r *ring[K]) len() int { return r.n }

// at returns the i-th oldest record.
func (r *ring[K]) at(i int) Record[K] { return r.buf[(r.head+i)%len(r.buf)] }

// push adds x as the newest record; the ring grows, by doubling, to at
// most limit slots (the caller discards records before it is full).
func (r *ring[K]) push(x Record[K], limit int) {
	if r.n == len(r.buf) {
		size := min(max(2*len(r.buf), 16), max(limit, r.n+1))
		buf := make([]Record[K], size)
		r.copyTo(buf)
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = x
	r.n++
}

// copyTo copies the records, oldest first, to the start of dst.
func (r *ring[K]) copyTo(dst []Record[K]) {
	k := copy(dst, r.buf[r.head:min(r.head+r.n, len(r.buf))])
	copy(dst[k:], r.buf[:r.n-k])
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

// filter keeps the records for which keep is true, in order.
func (r *ring[K]) filter(keep func(Record[K]) bool) {
	w := 0
	for i := range r.n {
		j := (r.head + i) % len(r.buf)
		if x := r.buf[j]; keep(x) {
			r.buf[(r.head+w)%len(r.buf)] = x
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
	return ring[K]{buf: r.slice(), n: r.n}
}
