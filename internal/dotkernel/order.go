package dotkernel

import (
	"cmp"
	"slices"
)

// Order keeps every live dot of a store, per replica, in increasing order
// of sequence number, each with the key it supports, so that the dots
// within a range of sequence numbers are found without looking at the
// others. It is what lets a merge find the dots of its store that the
// other side's context holds (to drop those the other side no longer
// holds) in proportion to those dots rather than to the store: each of
// them is either held by the other side too, or dropped, and a dropped
// dot was paid for by the insert that added it.
//
// Unlike [Index] it has no floors: it references every dot of the store,
// and costs a reference (a sequence number and a key) per dot. The owner
// makes it with [NewOrder], in one pass over its store, the first time a
// merge needs it, and from then on reports every dot that starts
// supporting a key ([Order.Add]) and every one that stops
// ([Order.Dropped]); anything that renames dots wholesale drops it, to be
// made again when next needed. So does an owner whose order has taken as
// many references unqueried as its store has dots ([Order.Idle]): an
// order kept up to date by every insert of a busy store that merges
// seldom would cost more than making it again for each merge (an
// increment of a map of counters costs about three quarters more while
// the map has one), so its upkeep between two queries is bounded by the
// cost of making it.
//
// References are not removed when their dot leaves the store: they go
// stale. [Order.Range] hands the owner each reference within its range,
// and removes those the owner does not keep (stale ones, and those it
// drops), so that a query visits a stale reference once at most;
// [Order.Compact] removes every stale one once they outnumber the live
// ones by a slack.
//
// For each replica the references are held in blocks of at most
// blockLen, each in increasing order and all in order, found by binary
// search over the blocks' first sequence numbers: a reference above the
// last is appended (the usual case), any other is inserted in its block,
// a full block being split in two.
//
// An Order is used only by its owner's mutators (no other use at the
// same time); it has no lock.
type Order[K comparable] struct {
	logs  []orderLog[K] // by replica index
	n     int           // references in all logs
	stale int           // references known to be stale
	added int           // references added since the last Range (see Idle)

	// visits counts the references Range has handed to visit, for the
	// tests that bound a merge's work.
	visits int
}

// orderLog is one replica's references: non-empty blocks of at most
// blockLen references, in increasing order of sequence number within and
// across blocks.
type orderLog[K comparable] struct {
	blocks [][]dotRef[K]
}

// NewOrder makes the order of a store: scan must call note for every dot
// (rep, seq) of the store, once, with the key it supports. It costs a
// sort of each replica's dots.
func NewOrder[K comparable](scan func(note func(rep uint32, seq uint64, key K))) *Order[K] {
	o := new(Order[K])
	var raw [][]dotRef[K]
	scan(func(rep uint32, seq uint64, key K) {
		for int(rep) >= len(raw) {
			raw = append(raw, nil)
		}
		raw[rep] = append(raw[rep], dotRef[K]{seq: seq, key: key})
	})
	o.logs = make([]orderLog[K], len(raw))
	for r, refs := range raw {
		slices.SortFunc(refs, func(a, b dotRef[K]) int { return cmp.Compare(a.seq, b.seq) })
		refs = slices.CompactFunc(refs, func(a, b dotRef[K]) bool { return a.seq == b.seq })
		o.logs[r].setAll(refs)
		o.n += len(refs)
	}
	return o
}

// setAll makes refs (sorted, no two with one sequence number) the
// references of l, cut into full blocks that share refs' array; a block
// cannot grow into the next, since its capacity ends where it does.
func (l *orderLog[K]) setAll(refs []dotRef[K]) {
	l.blocks = l.blocks[:0]
	for lo := 0; lo < len(refs); lo += blockLen {
		hi := min(lo+blockLen, len(refs))
		l.blocks = append(l.blocks, refs[lo:hi:hi])
	}
}

// Add records that the dot (rep, seq) now supports key. A reference to
// the same dot, which can only be stale (a dot supports one key), is
// replaced.
func (o *Order[K]) Add(rep uint32, seq uint64, key K) {
	o.added++
	if int(rep) >= len(o.logs) {
		o.logs = append(o.logs, make([]orderLog[K], int(rep)+1-len(o.logs))...)
	}
	l := &o.logs[rep]
	nb := len(l.blocks)
	if nb > 0 {
		last := l.blocks[nb-1]
		if last[len(last)-1].seq >= seq {
			if l.insert(seq, key) {
				o.n++
			}
			return
		}
		if len(last) < blockLen {
			l.blocks[nb-1] = append(last, dotRef[K]{seq: seq, key: key})
			o.n++
			return
		}
	}
	size := blockLen
	if nb == 0 {
		size = 4 // a replica with few dots keeps a small block
	}
	blk := make([]dotRef[K], 1, size)
	blk[0] = dotRef[K]{seq: seq, key: key}
	l.blocks = append(l.blocks, blk)
	o.n++
}

// find returns the index of the block where seq belongs: the last whose
// first reference is at or below seq, or 0. l has blocks.
func (l *orderLog[K]) find(seq uint64) int {
	lo, hi := 1, len(l.blocks) // the answer is in [lo-1, hi-1]
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.blocks[mid][0].seq <= seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo - 1
}

// searchRefs returns the position of the first reference of blk at or
// above seq.
func searchRefs[K comparable](blk []dotRef[K], seq uint64) int {
	lo, hi := 0, len(blk)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if blk[mid].seq < seq {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// insert puts the reference (seq, key) in its place, splitting a full
// block, and reports whether it added one (rather than replacing one to
// the same dot).
func (l *orderLog[K]) insert(seq uint64, key K) bool {
	b := l.find(seq)
	blk := l.blocks[b]
	i := searchRefs(blk, seq)
	if i < len(blk) && blk[i].seq == seq {
		blk[i].key = key
		return false
	}
	ref := dotRef[K]{seq: seq, key: key}
	if len(blk) < blockLen {
		l.blocks[b] = slices.Insert(blk, i, ref)
		return true
	}
	const half = blockLen / 2
	upper := make([]dotRef[K], blockLen-half, blockLen)
	copy(upper, blk[half:])
	clear(blk[half:]) // let the keys go
	lower := blk[:half]
	if i <= half {
		lower = slices.Insert(lower, i, ref)
	} else {
		upper = slices.Insert(upper, i-half, ref)
	}
	l.blocks[b] = lower
	l.blocks = slices.Insert(l.blocks, b+1, upper)
	return true
}

// Idle reports whether the order has taken n references (at least
// minIdle) since it was last queried ([Order.Range]): its owner, whose
// store holds about n dots, has then paid as much to keep it up to date
// as making it again costs, and lets it go rather than take another (see
// [Kernel.order]). A nil Order is never idle.
func (o *Order[K]) Idle(n int) bool {
	return o != nil && o.added >= max(n, minIdle)
}

// minIdle is the fewest references an order takes unqueried before
// [Order.Idle] reports it idle, so that a small store does not make its
// order again for every merge.
var minIdle = 1024

// SetMinIdle sets the fewest references an order takes unqueried before
// it is idle (1,024 unless set), and returns the value it replaces. It is
// for tests: a small value lets orders go and come back often.
func SetMinIdle(n int) (old int) {
	old, minIdle = minIdle, n
	return old
}

// Dropped records that a dot no longer supports its key, so that the
// order knows when to compact. A nil Order ignores it.
func (o *Order[K]) Dropped() {
	if o != nil {
		o.stale++
	}
}

// Due reports whether the order holds enough stale references that the
// owner should call [Order.Compact]. A nil Order is never due.
func (o *Order[K]) Due() bool {
	return o != nil && o.stale > o.n-o.stale+compactSlack
}

// Compact keeps the references for which live reports that the dot
// (rep, seq) still supports key, in full blocks.
func (o *Order[K]) Compact(live func(rep uint32, seq uint64, key K) bool) {
	n := 0
	for r := range o.logs {
		l := &o.logs[r]
		var refs []dotRef[K]
		for _, blk := range l.blocks {
			for _, ref := range blk {
				if live(uint32(r), ref.seq, ref.key) {
					if refs == nil {
						refs = make([]dotRef[K], 0, blockLen)
					}
					refs = append(refs, ref)
				}
			}
		}
		clear(l.blocks)
		l.setAll(refs)
		n += len(refs)
	}
	o.n, o.stale = n, 0
}

// Range calls visit, in increasing order, for every reference of replica
// rep with a sequence number from lo to hi, and removes those for which
// visit returns false: the owner checks that the dot (rep, seq) still
// supports key, and returns false if it does not or if it drops it.
// visit must not call o, except [Order.Dropped].
func (o *Order[K]) Range(rep uint32, lo, hi uint64, visit func(seq uint64, key K) bool) {
	o.added = 0
	if int(rep) >= len(o.logs) || lo > hi {
		return
	}
	l := &o.logs[rep]
	if len(l.blocks) == 0 {
		return
	}
	for b := l.find(lo); b < len(l.blocks); {
		blk := l.blocks[b]
		if blk[0].seq > hi {
			return
		}
		i := 0
		if blk[0].seq < lo {
			i = searchRefs(blk, lo)
		}
		w := i
		for ; i < len(blk) && blk[i].seq <= hi; i++ {
			o.visits++
			if visit(blk[i].seq, blk[i].key) {
				if w != i {
					blk[w] = blk[i]
				}
				w++
			}
		}
		more := i == len(blk) // the range may go on in the next block
		if w < i {
			removed := i - w
			kept := w + copy(blk[w:], blk[i:])
			clear(blk[kept:])
			blk = blk[:kept]
			o.n -= removed
			o.stale = max(0, o.stale-removed)
		}
		switch {
		case len(blk) == 0:
			l.blocks = slices.Delete(l.blocks, b, b+1)
		default:
			l.blocks[b] = blk
			b++
		}
		if !more {
			return
		}
	}
}

// Refs returns how many references the order holds, stale ones
// included. It is for tests and measurements; a nil Order holds none.
func (o *Order[K]) Refs() int {
	if o == nil {
		return 0
	}
	return o.n
}

// Visits returns how many references [Order.Range] has handed to its
// visit so far. It is for the tests that bound a merge's work.
func (o *Order[K]) Visits() int {
	if o == nil {
		return 0
	}
	return o.visits
}
