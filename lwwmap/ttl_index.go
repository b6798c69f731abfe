package lwwmap

import "container/heap"

// The expire and persist writes of a key with many of them.
//
// A key holds one expire or persist write per replica that wrote it
// concurrently with the others; a key that many writers expired at once
// (or a peer that made up many writers) holds many. An op of such a key,
// applied on its own, must not cost a walk or a copy of all of them: a
// replica that takes n such ops one at a time would do n² work. So a key
// with at least ttlIndexed writes gets a ttlIndex, made by the first
// writer method that needs it: where each write sits in the key's slice,
// how many are persists, and a heap of the expiry instants, latest on
// top, from which the key's deadline is read. The writes are taken out
// of the slice by moving the last one into their place (their order does
// not matter: the encoders sort them), and out of the heap lazily, as
// they come to its top. Any other change of the key's writes (setTTL)
// drops its index. Readers use an index if there is one, never make one.

// ttlIndexed is the number of writes from which a key is indexed.
var ttlIndexed = 16 // a variable for the tests, which index every key

// ttlDot names an expire or persist write: its writer's index in
// Map.reps and its sequence number.
type ttlDot struct {
	rep uint32
	seq uint64
}

// ttlIndex indexes the writes of one key (see above).
type ttlIndex struct {
	pos      map[ttlDot]int // where each write is in the key's slice
	persists int            // how many of them are persists
	tops     ttlHeap        // the expires by instant, latest first; some may have left
}

type ttlTop struct {
	at int64
	d  ttlDot
}

// ttlHeap is a max-heap of expiry instants.
type ttlHeap []ttlTop

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].at > h[j].at }
func (h ttlHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)        { *h = append(*h, x.(ttlTop)) }
func (h *ttlHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// newTTLIndex indexes ws.
func newTTLIndex(ws []ttlWrite) *ttlIndex {
	x := &ttlIndex{pos: make(map[ttlDot]int, len(ws))}
	x.rebuild(ws)
	return x
}

// rebuild indexes ws afresh.
func (x *ttlIndex) rebuild(ws []ttlWrite) {
	clear(x.pos)
	x.persists = 0
	x.tops = x.tops[:0]
	for i, w := range ws {
		x.pos[ttlDot{w.rep, w.seq}] = i
		if w.at == 0 {
			x.persists++
		} else {
			x.tops = append(x.tops, ttlTop{w.at, ttlDot{w.rep, w.seq}})
		}
	}
	heap.Init(&x.tops)
}

// deadline is deadline for the writes x indexes. It changes nothing:
// the top of the heap is always a write still there (see prune).
func (x *ttlIndex) deadline(vw int64) int64 {
	if x.persists > 0 || len(x.tops) == 0 {
		return 0
	}
	if at := x.tops[0].at; at > vw {
		return at
	}
	return 0
}

// add indexes w, the write just appended to ws.
func (x *ttlIndex) add(ws []ttlWrite) {
	w := ws[len(ws)-1]
	x.pos[ttlDot{w.rep, w.seq}] = len(ws) - 1
	if w.at == 0 {
		x.persists++
	} else {
		heap.Push(&x.tops, ttlTop{w.at, ttlDot{w.rep, w.seq}})
	}
}

// remove takes the write d out of ws, moving the last write into its
// place, and returns the shorter slice; ws unchanged if it does not hold
// d.
func (x *ttlIndex) remove(ws []ttlWrite, d ttlDot) ([]ttlWrite, bool) {
	i, ok := x.pos[d]
	if !ok {
		return ws, false
	}
	if ws[i].at == 0 {
		x.persists--
	}
	delete(x.pos, d)
	last := len(ws) - 1
	if i != last {
		ws[i] = ws[last]
		x.pos[ttlDot{ws[i].rep, ws[i].seq}] = i
	}
	ws[last] = ttlWrite{}
	return ws[:last], true
}

// prune pops the writes that have left from the top of the heap, and
// makes the heap again if most of it is writes that have left, so that
// it holds at most about twice the writes there are.
func (x *ttlIndex) prune(ws []ttlWrite) {
	if len(x.tops) > 2*len(x.pos)+ttlIndexed {
		x.rebuild(ws)
		return
	}
	for len(x.tops) > 0 {
		if _, ok := x.pos[x.tops[0].d]; ok {
			return
		}
		heap.Pop(&x.tops)
	}
}
