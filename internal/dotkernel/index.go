package dotkernel

import (
	"cmp"
	"slices"
	"sync"
)

// Index finds the entries of a store, keyed by K and each supported by
// one or more dots, whose dots a given version has not seen, without
// looking at the other entries: it is what lets DeltaSince cost in
// proportion to the delta rather than to the store. The kernel keeps one
// for its store and one for its drop records (keyed by record id), and
// lwwmap.Map one for its entries. The owner numbers replicas (a dot is a
// replica index and a sequence number) and tells the index of every dot
// that starts or stops supporting a key.
//
// For each replica the index keeps references (sequence number, key) in
// increasing order of sequence number, from which those above a version's
// count are found by binary search. It only keeps references above a
// floor, per replica: a version at or above every floor is answered from
// the index alone, and any other by a scan of the store, which lowers the
// floors to that version. Nothing is kept, and nothing costs, until the
// owner first needs an answer: the first [Index.Rebuild] sets the floors
// to the version asked about, so the index holds only what is newer than
// what peers have seen, plus what arrives afterwards. [Index.Raise] moves
// floors up again (the owner calls it once every replica has seen a
// version) and drops the references below them.
//
// References are not removed when their dot leaves the store: the owner
// checks each reference it is handed, and [Index.Compact] drops the stale
// ones once they outnumber the live ones (by a small slack).
//
// The owner's mutators call Add, Dropped, Due, Compact and Raise under its
// usual rule (no other use at the same time). Since, Rebuild and Clone
// lock the index, because readers, which may run at the same time as
// each other, call them. An Index must not be copied after first use; the
// zero Index is ready to use.
type Index[K comparable] struct {
	mu     sync.Mutex
	active bool // built: the owner must report its dots
	// hear is active, or ord is set: the owner reports its dots. It is
	// what the owner's mutators check, once for both.
	hear bool
	// ord is the owner's order of its dots, if the owner has made one (see
	// Order): the index carries it, so that one check covers both. It is
	// not cloned.
	ord   *Order[K]
	logs  []dotLog[K] // by replica index
	n     int         // references in all logs
	stale int         // references known to be stale
}

// dotLog is one replica's references, in blocks: every block but the
// last holds blockLen references, so that adding one never copies the
// others (the first block grows like a slice up to blockLen, so that a
// short log stays small).
type dotLog[K comparable] struct {
	floor  uint64        // live dots at or below it need not be referenced
	blocks [][]dotRef[K] // the references
	n      int           // how many
	sorted int           // the first sorted are in increasing order of seq
}

type dotRef[K comparable] struct {
	seq uint64
	key K
}

const (
	blockShift = 8
	blockLen   = 1 << blockShift
)

func (l *dotLog[K]) at(i int) *dotRef[K] { return &l.blocks[i>>blockShift][i&(blockLen-1)] }

// truncate keeps the first n references.
func (l *dotLog[K]) truncate(n int) {
	for i := n; i < l.n; i++ {
		*l.at(i) = dotRef[K]{} // let the keys go
	}
	nb := (n + blockLen - 1) >> blockShift
	clear(l.blocks[nb:])
	l.blocks = l.blocks[:nb]
	if nb > 0 {
		l.blocks[nb-1] = l.blocks[nb-1][:n-(nb-1)<<blockShift]
	}
	l.n = n
	l.sorted = min(l.sorted, n)
}

// search returns the position of the first reference above seq; the
// references must be sorted.
func (l *dotLog[K]) search(seq uint64) int {
	lo, hi := 0, l.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.at(mid).seq <= seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// filter keeps, in order, the references for which keep is true.
func (l *dotLog[K]) filter(keep func(dotRef[K]) bool) {
	w, sorted := 0, 0
	for i := range l.n {
		ref := *l.at(i)
		if keep(ref) {
			*l.at(w) = ref
			w++
			if i < l.sorted {
				sorted++
			}
		}
	}
	l.truncate(w)
	l.sorted = sorted
}

func (l *dotLog[K]) clone() dotLog[K] {
	c := dotLog[K]{floor: l.floor, n: l.n, sorted: l.sorted}
	if len(l.blocks) > 0 {
		c.blocks = make([][]dotRef[K], len(l.blocks))
		for b, blk := range l.blocks {
			c.blocks[b] = slices.Clone(blk)
		}
	}
	return c
}

// compactSlack is how many references beyond the live ones an index may
// hold without compacting, so that a small index is not compacted at
// every mutation. Tests lower it to compact often.
var compactSlack = 64

// Active reports whether the index has been built, after which the owner
// must report every dot that starts supporting a key ([Index.Add]) and may
// report those that stop ([Index.Dropped]). A nil Index is not active.
func (x *Index[K]) Active() bool { return x != nil && x.active }

// Hears reports whether the owner must report the dots that start and
// stop supporting a key: the index is built, or it carries an order of
// the owner's dots ([Index.SetOrder]). A nil Index hears nothing.
func (x *Index[K]) Hears() bool { return x != nil && x.hear }

// Order returns the order of the owner's dots that x carries, or nil.
func (x *Index[K]) Order() *Order[K] {
	if x == nil {
		return nil
	}
	return x.ord
}

// SetOrder makes x carry the order o of the owner's dots (nil: none). Only
// the owner's mutators call it.
func (x *Index[K]) SetOrder(o *Order[K]) {
	x.ord = o
	x.hear = x.active || o != nil
}

func (x *Index[K]) log(rep uint32) *dotLog[K] {
	if int(rep) >= len(x.logs) {
		x.logs = append(x.logs, make([]dotLog[K], int(rep)+1-len(x.logs))...)
	}
	return &x.logs[rep]
}

// Add records that the dot (rep, seq) now supports key. Call it only
// when the index is active, and once per dot.
func (x *Index[K]) Add(rep uint32, seq uint64, key K) {
	l := x.log(rep)
	if seq <= l.floor {
		return
	}
	l.push(seq, key)
	x.n++
}

func (l *dotLog[K]) push(seq uint64, key K) {
	if l.n == l.sorted && (l.n == 0 || l.at(l.n-1).seq < seq) {
		l.sorted++
	}
	if nb := len(l.blocks); nb == 0 || len(l.blocks[nb-1]) == blockLen {
		size := blockLen
		if nb == 0 {
			size = 4
		}
		l.blocks = append(l.blocks, make([]dotRef[K], 0, size))
	}
	last := len(l.blocks) - 1
	l.blocks[last] = append(l.blocks[last], dotRef[K]{seq: seq, key: key})
	l.n++
}

// Dropped records that the dot (rep, seq) no longer supports its key, so
// that the index knows when to compact: the owner reports every such dot
// (a missed report leaves a stale reference uncounted, which delays
// compaction). It does nothing when the index is not active.
func (x *Index[K]) Dropped(rep uint32, seq uint64) {
	if x.active && int(rep) < len(x.logs) && seq > x.logs[rep].floor {
		x.stale++
	}
}

// DroppedUnknown is [Index.Dropped] for an owner that knows that a dot
// stopped supporting its key but not which dot: it is counted as stale,
// whether or not it was referenced, which at worst compacts a little
// early.
func (x *Index[K]) DroppedUnknown() {
	if x.active {
		x.stale++
	}
}

// Due reports whether the index holds enough stale references that the
// owner should call [Index.Compact].
func (x *Index[K]) Due() bool {
	return x != nil && x.active && x.stale > x.n-x.stale+compactSlack
}

// Compact keeps the references for which live reports that the dot
// (rep, seq) still supports key, once each.
func (x *Index[K]) Compact(live func(rep uint32, seq uint64, key K) bool) {
	n := 0
	for r := range x.logs {
		l := &x.logs[r]
		l.sort()
		var prev dotRef[K]
		first := true
		l.filter(func(ref dotRef[K]) bool {
			if !first && ref == prev {
				return false // the same dot reported twice
			}
			first, prev = false, ref
			return live(uint32(r), ref.seq, ref.key)
		})
		n += l.n
	}
	x.n, x.stale = n, 0
}

// sort puts the references in order of sequence number: it sorts those
// added out of order and merges them into the rest, moving only the
// sorted references above the first of them.
func (l *dotLog[K]) sort() {
	if l.sorted == l.n {
		return
	}
	tail := make([]dotRef[K], 0, l.n-l.sorted)
	for i := l.sorted; i < l.n; i++ {
		tail = append(tail, *l.at(i))
	}
	slices.SortFunc(tail, func(a, b dotRef[K]) int { return cmp.Compare(a.seq, b.seq) })
	// Merge from the back: head[:i] and tail[:j] into positions [:w].
	i, j := l.sorted, len(tail)
	for w := l.n - 1; j > 0; w-- {
		if i > 0 && l.at(i-1).seq > tail[j-1].seq {
			*l.at(w) = *l.at(i - 1)
			i--
		} else {
			*l.at(w) = tail[j-1]
			j--
		}
	}
	l.sorted = l.n
}

// floorOf returns the count of seen for replica r: 0 past its end.
func floorOf(seen []uint64, r int) uint64 {
	if r < len(seen) {
		return seen[r]
	}
	return 0
}

// Since calls visit for every reference whose sequence number is above
// seen (indexed by replica, 0 past its end), and reports true; or, when
// the index cannot answer for seen (it is not built, or a floor is above
// seen), calls nothing and reports false, and the owner calls
// [Index.Rebuild]. visit may be handed a dot that no longer supports its
// key, or the same dot more than once: it checks. It runs with the index
// locked, and must not call it.
func (x *Index[K]) Since(seen []uint64, visit func(rep uint32, seq uint64, key K)) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.active {
		return false
	}
	for r := range x.logs {
		if x.logs[r].floor > floorOf(seen, r) {
			return false
		}
	}
	for r := range x.logs {
		l := &x.logs[r]
		s := floorOf(seen, r)
		if l.n == 0 || (l.sorted == l.n && l.at(l.n-1).seq <= s) {
			continue
		}
		l.sort()
		for i := l.search(s); i < l.n; i++ {
			ref := l.at(i)
			visit(uint32(r), ref.seq, ref.key)
		}
	}
	return true
}

// Rebuild makes the index able to answer for seen, at the cost of one
// pass over the store: scan must call note for every dot (rep, seq) of
// the store with seq above seen[rep] (0 past its end), with the key it
// supports, and may do its own work in the same pass. The floors are
// lowered to seen, or set to it if the index was not built.
func (x *Index[K]) Rebuild(seen []uint64, scan func(note func(rep uint32, seq uint64, key K))) {
	x.mu.Lock()
	defer x.mu.Unlock()
	added := 0
	scan(func(rep uint32, seq uint64, key K) {
		l := x.log(rep)
		if x.active && seq > l.floor {
			return // referenced already
		}
		l.push(seq, key)
		added++
	})
	if len(seen) > 0 {
		x.log(uint32(len(seen) - 1)) // a floor for every replica of seen
	}
	for r := range x.logs {
		if s := floorOf(seen, r); !x.active || s < x.logs[r].floor {
			x.logs[r].floor = s
		}
	}
	x.active, x.hear = true, true
	x.n += added
}

// Raise moves the floor of each replica up to stable's count for it
// (indexed by replica, 0 past its end), if that is higher, and drops the
// references at or below the new floors. Only versions that every peer
// has reached should be passed: a peer behind a floor costs a scan.
func (x *Index[K]) Raise(stable []uint64) {
	if !x.Active() {
		return
	}
	for r := range min(len(x.logs), len(stable)) {
		l := &x.logs[r]
		if stable[r] <= l.floor {
			continue
		}
		l.floor = stable[r]
		before := l.n
		l.filter(func(ref dotRef[K]) bool { return ref.seq > l.floor })
		x.n -= before - l.n
	}
	x.stale = min(x.stale, x.n)
}

// Clone returns an independent copy of x, which may be nil (the copy is
// then empty).
func (x *Index[K]) Clone() *Index[K] {
	c := new(Index[K])
	if x == nil {
		return c
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	c.active, c.hear, c.n, c.stale = x.active, x.active, x.n, x.stale
	if len(x.logs) > 0 {
		c.logs = make([]dotLog[K], len(x.logs))
		for r := range x.logs {
			c.logs[r] = x.logs[r].clone()
		}
	}
	return c
}

// Refs returns how many references the index holds, stale ones included.
// It is for tests and measurements.
func (x *Index[K]) Refs() int {
	if x == nil {
		return 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.n
}

// Covers reports whether the index, if active, references the dot
// (rep, seq) supporting key, or does not need to (it is at or below the
// floor). It is for tests: an index that is not active covers nothing and
// needs to cover nothing, so Covers reports true.
func (x *Index[K]) Covers(rep uint32, seq uint64, key K) bool {
	if !x.Active() {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if int(rep) >= len(x.logs) {
		return false
	}
	l := &x.logs[rep]
	if seq <= l.floor {
		return true
	}
	for i := range l.n {
		if *l.at(i) == (dotRef[K]{seq: seq, key: key}) {
			return true
		}
	}
	return false
}

// StaleCount returns how many of x's references live says are stale, and
// how many x counts as stale: the count must not be lower, or compaction
// comes late. It is for tests.
func (x *Index[K]) StaleCount(live func(rep uint32, seq uint64, key K) bool) (stale, counted int) {
	if x == nil {
		return 0, 0
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for r := range x.logs {
		l := &x.logs[r]
		for i := range l.n {
			if ref := l.at(i); !live(uint32(r), ref.seq, ref.key) {
				stale++
			}
		}
	}
	return stale, x.stale
}
