package ormap

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"iter"
	"math"
	"math/bits"
	"slices"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Counters keep one leaf per writer, not one per increment.
//
// A counter's leaf holds the running total of its writer's increments to
// the counter, and the start of its chain: the sequence number c of the
// chain's first leaf (the leaf keeps seq - c in lg). An increment by
// writer w finds w's newest live leaf L at the counter's path and, if
// there is one, writes a leaf with L's total plus the increment in L's
// chain, dropping L as a register's overwrite drops the value it saw but
// without a drop record (see "Chains supersede without records" below);
// otherwise it starts a chain: a leaf whose total is the increment.
//
// A delete drops the leaves it saw, as before, but the total of a leaf it
// dropped is not the end of that chain: its writer, not having seen the
// delete, may go on with the chain, and the leaf that survives the delete
// then holds the dropped increments too. So a delete that drops counter
// leaves writes a reset leaf at the deleted key, under its own dot: for
// each chain (path, writer, chain start) whose leaf it dropped, the
// sequence number and total of the newest leaf of the chain it saw (an
// entry). A counter's value is then, over its live leaves, the leaf's
// total less the total of the entry of its chain with the greatest
// sequence number below the leaf's, from a reset leaf at the counter's
// path or above it: exactly the increments no delete saw. (Two entries at
// one sequence number have one total, unless a hostile writer made two
// leaves under one dot: then the greater total is subtracted, the same
// everywhere.) A reset leaf,
// like an expiry, does not make its key present; a later delete of the
// key or of a key above it drops it and carries its entries forward in
// its own reset leaf.

// tagReset is the tag of a reset leaf (see above).
const tagReset ttlTag = 3

// maxChainGap bounds seq - c, kept in a leaf's lg: an increment whose
// sequence number would pass it starts a new chain instead.
const maxChainGap = math.MaxUint32

// resetEntry is what a delete saw of one chain of a counter: the newest
// leaf of the chain it dropped, by its sequence number s and total t. The
// counter's key path is that of its reset leaf followed by below: every
// entry of a reset leaf is of a counter at or under the leaf's key, which
// the leaf holds once, not once per entry.
type resetEntry struct {
	below string           // the counter's key path below the reset's
	w     vclock.ReplicaID // the chain's writer
	c     uint64           // the chain's start
	s     uint64           // the sequence number of the leaf seen
	t     int64            // its total
}

// compareEntries orders the entries of one reset leaf: by the counter's
// key path, which, the reset's being the same for all, is the order of
// their paths below it; then by the chain.
func compareEntries(a, b resetEntry) int {
	if x := cmp.Compare(a.below, b.below); x != 0 {
		return x
	}
	if x := cmp.Compare(a.w, b.w); x != 0 {
		return x
	}
	return cmp.Compare(a.c, b.c)
}

// appendEntry appends the entry e, as a reset leaf's value holds it.
func appendEntry(b []byte, e resetEntry) []byte {
	b = binary.AppendUvarint(b, uint64(len(e.below)))
	b = append(b, e.below...)
	b = binary.AppendUvarint(b, uint64(len(e.w)))
	b = append(b, e.w...)
	b = binary.AppendUvarint(b, e.c)
	b = binary.AppendUvarint(b, e.s)
	return binary.AppendVarint(b, e.t)
}

// nextEntry reads the entry at the start of b, written by appendEntry,
// and returns it with the rest of b.
func nextEntry(b string) (resetEntry, string, bool) {
	var e resetEntry
	var ok bool
	if e.below, b, ok = nextSeg(b); !ok {
		return e, "", false
	}
	w, b, ok := nextSeg(b)
	if !ok {
		return e, "", false
	}
	e.w = vclock.ReplicaID(w)
	var n int
	if e.c, n = binary.Uvarint([]byte(b[:min(len(b), binary.MaxVarintLen64)])); n <= 0 {
		return e, "", false
	}
	b = b[n:]
	if e.s, n = binary.Uvarint([]byte(b[:min(len(b), binary.MaxVarintLen64)])); n <= 0 {
		return e, "", false
	}
	b = b[n:]
	if e.t, n = binary.Varint([]byte(b[:min(len(b), binary.MaxVarintLen64)])); n <= 0 {
		return e, "", false
	}
	return e, b[n:], true
}

// entriesIn returns the entries of the reset leaf l, in order, read as
// they are iterated over: a pass over them allocates nothing.
func entriesIn(l leaf) iter.Seq[resetEntry] {
	return func(yield func(resetEntry) bool) {
		b := l.val()
		for b != "" {
			e, rest, ok := nextEntry(b)
			if !ok || !yield(e) {
				return // !ok cannot happen: reset leaves are made and checked whole
			}
			b = rest
		}
	}
}

// countEntries returns the number of entries of the reset leaf l.
func countEntries(l leaf) int {
	n := 0
	for range entriesIn(l) {
		n++
	}
	return n
}

// entriesOf returns the entries of the reset leaf l, appended to out.
func entriesOf(l leaf, out []resetEntry) []resetEntry {
	for e := range entriesIn(l) {
		out = append(out, e)
	}
	return out
}

// uvarintLen returns the length of x as binary.AppendUvarint appends it.
func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

// resetLeaf returns the reset leaf at key path q holding the entries es,
// whose paths are below q, sorted by compareEntries without repeats.
func resetLeaf(q string, es []resetEntry) leaf {
	n := 0
	for _, e := range es {
		n += uvarintLen(uint64(len(e.below))) + len(e.below) + uvarintLen(uint64(len(e.w))) + len(e.w)
		n += uvarintLen(e.c) + uvarintLen(e.s) + uvarintLen(uint64(e.t<<1)^uint64(e.t>>63))
	}
	b := make([]byte, 0, n)
	for _, e := range es {
		b = appendEntry(b, e)
	}
	l := regLeaf(q, string(b))
	l.tag = tagReset
	return l
}

// chainOf returns the start of the chain of the counter leaf l under the
// dot d.
func chainOf(l leaf, d vclock.Dot) uint64 { return d.Seq - uint64(l.lg) }

// isReset reports whether l is a reset leaf.
func (l leaf) isReset() bool { return l.tag == tagReset }

// noteLeaf counts the leaf l in or out of what the state tracks apart
// from the index: the expiries and persists by key path, the reset
// leaves.
func (s *state) noteLeaf(l leaf, d vclock.Dot, added bool) {
	switch {
	case l.tag == 0:
	case l.tag == tagReset:
		if added {
			if s.resetDots == nil {
				s.resetDots = make(map[vclock.Dot]struct{})
			}
			s.resetDots[d] = struct{}{}
			s.resetFP += dotkernel.DotHash(d, d)
		} else {
			delete(s.resetDots, d)
			delete(s.parsed, d)
			s.resetFP -= dotkernel.DotHash(d, d)
		}
	default:
		s.noteTTL(l.path(), added)
	}
}

// value returns the value of the counter whose node is n, at key path p:
// the sum of its leaves' totals, less what the reset leaves at p and
// above it say deletes saw; saturated.
func (s *state) value(n *node, p string) int64 { return s.valueWith(n, p, nil) }

// valueWith is value, reading the entries of reset leaves through cache
// (see chainsSeen).
func (s *state) valueWith(n *node, p string, cache map[vclock.Dot][]resetEntry) int64 {
	if n == nil {
		return 0
	}
	if len(s.resetDots) == 0 {
		return n.sum()
	}
	seen := s.chainsSeen(p, cache)
	if len(seen) == 0 {
		return n.sum()
	}
	acc := node{lo: n.lo, hi: n.hi}
	for _, key := range n.dots() {
		l, d, _ := s.k.GetDot(key)
		w, c, seq := s.origLeaf(l, d)
		// The entry with the greatest sequence number below the leaf's;
		// of two at one (deletes that saw two different writes under one
		// dot, which a hostile writer can make), the greater total, so
		// that every replica subtracts the same whatever order the reset
		// leaves are found in: the last before the first at or above
		// seq, in chainsSeen's order.
		es := seen[chainID{w, c}]
		if i, _ := slices.BinarySearchFunc(es, seq, func(e chainSeen, seq uint64) int { return cmp.Compare(e.s, seq) }); i > 0 {
			acc.subInc(es[i-1].t)
		}
	}
	return acc.sum()
}

// chainID is a counter chain of the counter at one key path, by its
// writer and start, as they were before the retirements the state knows
// (see orig).
type chainID struct {
	w vclock.ReplicaID
	c uint64
}

// chainSeen is what a reset entry says a delete saw of its chain: the
// sequence number, as before the retirements the state knows, and the
// total of the chain's leaf it saw.
type chainSeen struct {
	s uint64
	t int64
}

// chainsSeen returns what the entries of the reset leaves at key path p
// and above it, those of the counter at p, say deletes saw of its chains:
// by chain, sorted by sequence number, then by total. If cache is not nil
// it holds the entries of the reset leaves read so far, by their dots,
// for a caller that reads many counters.
func (s *state) chainsSeen(p string, cache map[vclock.Dot][]resetEntry) map[chainID][]chainSeen {
	var seen map[chainID][]chainSeen
	x, rest := &s.ix, p
	for rest != "" {
		_, r, ok := nextSeg(rest)
		if !ok {
			break
		}
		if x = x.child(p[:len(p)-len(r)]); x == nil {
			break
		}
		rest = r // the path below x's, that of p's entries at x
		for _, d := range x.ttlDots() {
			l, _ := s.k.Get(d)
			if !l.isReset() {
				continue
			}
			// A reset leaf's entries are sorted by their paths first:
			// those of p are together.
			es, ok := cache[d]
			if !ok {
				es = entriesOf(l, nil)
				if cache != nil {
					cache[d] = es
				}
			}
			for i := searchEntries(es, rest, "", 0); i < len(es) && es[i].below == rest; i++ {
				w, c, sq := s.orig(es[i].w, es[i].c, es[i].s)
				if seen == nil {
					seen = make(map[chainID][]chainSeen)
				}
				id := chainID{w, c}
				seen[id] = append(seen[id], chainSeen{sq, es[i].t})
			}
		}
	}
	for _, es := range seen {
		slices.SortFunc(es, func(a, b chainSeen) int {
			if x := cmp.Compare(a.s, b.s); x != 0 {
				return x
			}
			return cmp.Compare(a.t, b.t)
		})
	}
	return seen
}

// subInc subtracts t from the sum of increments at n.
func (n *node) subInc(t int64) {
	var borrow uint64
	n.lo, borrow = bits.Sub64(n.lo, uint64(t), 0)
	ext := int32(0)
	if t < 0 {
		ext = -1
	}
	n.hi -= ext + int32(borrow)
}

// add is Counter.Add of n, not 0, to the counter at key path p: it
// continues this writer's newest chain at p, or starts one.
func (s *state) add(p string, n int64) Op {
	x := s.find(p)
	var last, key vclock.Dot // the newest leaf of the writer here, its key
	var prev leaf
	if x != nil {
		ds, walked, own := x.ownDots(s.id)
		if !own {
			ds = x.dots()
		}
		s.ownWork += walked + len(ds)
		for _, k := range ds {
			if k.Replica != s.id {
				continue
			}
			if l, d, _ := s.k.GetDot(k); d.Seq > last.Seq {
				last, key, prev = d, k, l
			}
		}
	}
	if cur, ok := s.fits(x, p, n); !ok {
		return Op{err: fmt.Errorf("%w: %d + %d", ErrOverflow, cur, n)}
	}
	if last.Seq == 0 {
		return withInc(s.write("Counter.Add", leaf{pv: p, n: n}, nil), n)
	}
	if (n > 0 && prev.n > math.MaxInt64-n) || (n < 0 && prev.n < math.MinInt64-n) {
		return Op{err: fmt.Errorf("%w: a total of %d + %d", ErrOverflow, prev.n, n)}
	}
	next, err := s.k.Next(s.id)
	if err != nil {
		return Op{err: fmt.Errorf("ormap: Counter.Add: %w", err)}
	}
	c := chainOf(prev, last)
	if next.Seq-c > maxChainGap {
		// The chain is too long for a leaf to say where it starts: a new
		// one starts, and the old one stays as it is.
		return withInc(s.write("Counter.Add", leaf{pv: prev.pv, n: n}, nil), n)
	}
	l := leaf{pv: prev.pv, n: prev.n + n, lg: uint32(next.Seq - c)}
	// l's key is last's (leafKey): last goes first, without a drop record
	// (l implies it, see above), and l takes the key under the next dot,
	// which Next has said is left.
	s.k.Remove(key)
	d := s.k.Mint(s.id)
	s.k.Put(key, l, d)
	drop := []vclock.Dot{last}
	return Op{kind: opWrite, dot: d, leaf: l, dropped: drop, sh: s.sh, inc: n}
}

// fits reports whether adding n, not 0, to the counter at key path p,
// whose node is x, keeps its value within an int64; if not, it returns
// the value. The value is summed only when a bound of what the resets
// at and above p subtract from the node's sum (see resetBound) leaves
// the answer open: the sum walks every dot of the key and every entry
// of those resets, thousands for a key of thousands of writers.
func (s *state) fits(x *node, p string, n int64) (int64, bool) {
	if x != nil && len(s.resetDots) != 0 {
		// |raw| and b below 2^62: raw ± b neither wraps nor saturates.
		const lim = 1 << 62
		if b, ok := s.resetBound(x, p); ok {
			if raw := x.sum(); raw > -lim && raw < lim {
				if (n > 0 && raw+int64(b) <= math.MaxInt64-n) || (n < 0 && raw-int64(b) >= math.MinInt64-n) {
					return 0, true
				}
			}
		}
		s.ownWork += len(x.dots()) // what value walks
	}
	cur := s.value(x, p)
	return cur, !((n > 0 && cur > math.MaxInt64-n) || (n < 0 && cur < math.MinInt64-n))
}

// resetBound returns a bound, below 2^62, of how far the reset leaves at
// key path p and above it take the value of the counter there, whose
// node is x, from the node's sum: value subtracts from it at most one
// entry's total for each of its dots. It looks at the reset leaves, not
// their entries, whose greatest total is read with them, once (see
// resetEntries). ok is false if the bound is not below 2^62.
func (s *state) resetBound(x *node, p string) (b uint64, ok bool) {
	var most uint64 // the greatest |total| of an entry of those leaves
	y, rest := &s.ix, p
	for rest != "" {
		_, r, ok := nextSeg(rest)
		if !ok {
			break
		}
		if y = y.child(p[:len(p)-len(r)]); y == nil {
			break
		}
		rest = r
		for _, d := range y.ttlDots() {
			s.ownWork++
			l, _ := s.k.Get(d)
			if !l.isReset() {
				continue
			}
			s.resetEntries(l, d)
			most = max(most, s.parsed[d].most)
		}
	}
	hi, lo := bits.Mul64(most, uint64(len(x.dots())))
	if hi != 0 || lo >= 1<<62 {
		return 0, false
	}
	return lo, true
}

// entries returns the entries a delete of the key at path q that drops
// the dots ds, all at or below q, records: those of the counter leaves
// among them, and those of the reset leaves among them, carried forward;
// sorted, one per chain.
func (s *state) entries(q string, ds []vclock.Dot) []resetEntry {
	if s.sh.kind != kindCounter {
		return nil
	}
	var es []resetEntry
	for _, key := range ds {
		l, x, _ := s.k.GetDot(key)
		switch {
		case l.isReset():
			n := len(es)
			es = entriesOf(l, es)
			if up := l.path()[len(q):]; up != "" {
				// Carried up from a key below q: the paths below
				// q are longer by the segments between.
				for i := n; i < len(es); i++ {
					es[i].below = up + es[i].below
				}
			}
		case l.tag == 0:
			es = append(es, resetEntry{below: l.path()[len(q):], w: x.Replica, c: chainOf(l, x), s: x.Seq, t: l.n})
		}
	}
	if len(es) == 0 {
		return nil
	}
	return mergeEntries(es)
}

// restart is the write of the leaf l that finds the key at path q, above
// or at l's, expired, and drops what q holds, drop, whose counter chains
// it resets with the entries es: it deletes q, writing the reset leaf,
// and then writes l, under the next dot, in one op.
func (s *state) restart(what, q string, l leaf, drop []vclock.Dot, es []resetEntry) Op {
	if d, err := s.k.Next(s.id); err != nil || d.Seq >= vclock.MaxSeq {
		if err == nil {
			err = vclock.ErrSeqExhausted
		}
		return Op{err: fmt.Errorf("ormap: %s: %w", what, err)}
	}
	r := resetLeaf(q, es)
	drop = s.dropAll(drop)
	pd := s.k.Mint(s.id)
	s.k.PutNew(pd, r, pd)
	s.k.Record(pd, pd, drop)
	d := s.k.Mint(s.id)
	s.k.PutNew(d, l, d)
	return Op{kind: opWrite, dot: d, leaf: l, pre: &r, dropped: drop, sh: s.sh}
}

// withInc returns op, the write of a Counter.Add of n, saying so.
func withInc(op Op, n int64) Op {
	if op.kind == opWrite {
		op.inc = n
	}
	return op
}

// del deletes the key at path q, dropping the dots in drop (those at or
// below q), and returns its op: a no-op if drop is empty or holds reset
// leaves alone, a remove that also writes a reset leaf at q if it drops
// counter leaves or reset leaves (see above), else a plain remove.
func (s *state) del(what, q string, drop []vclock.Dot) Op {
	s.mustWrite(what)
	if len(s.withoutResets(slices.Clone(drop))) == 0 {
		return Op{kind: opNoop, leaf: leaf{pv: q}, sh: s.sh}
	}
	es := s.entries(q, drop)
	if len(es) == 0 {
		return s.remove(what, q, drop)
	}
	r := resetLeaf(q, es)
	if _, err := s.k.Next(s.id); err != nil {
		return Op{err: fmt.Errorf("ormap: %s: %w", what, err)}
	}
	drop = s.dropAll(drop)
	d := s.k.Mint(s.id)
	s.k.PutNew(d, r, d)
	s.k.Record(d, d, drop)
	return Op{kind: opRemove, dot: d, leaf: r, dropped: drop, sh: s.sh}
}

// mergeEntries sorts es by compareEntries and keeps, of the entries of
// one chain, the one with the greatest sequence number.
func mergeEntries(es []resetEntry) []resetEntry {
	slices.SortFunc(es, func(a, b resetEntry) int {
		if x := compareEntries(a, b); x != 0 {
			return x
		}
		return cmp.Compare(b.s, a.s) // the newest first
	})
	return slices.CompactFunc(es, func(a, b resetEntry) bool { return compareEntries(a, b) == 0 })
}

// withoutResets returns the dots of ds that are not reset leaves'.
func (s *state) withoutResets(ds []vclock.Dot) []vclock.Dot {
	if len(s.resetDots) == 0 {
		return ds
	}
	return slices.DeleteFunc(ds, func(d vclock.Dot) bool {
		l, _ := s.k.Get(d)
		return l.isReset()
	})
}

// checkReset reports why the reset leaf l does not fit the shape sh, or
// nil.
func (sh *shape) checkReset(l leaf) error {
	if sh.kind != kindCounter {
		return fmt.Errorf("%w: a reset in a map without counters", ErrInvalidOp)
	}
	j := countSegs(l.path())
	if j < 1 || j > sh.levels() {
		return fmt.Errorf("%w: a reset of a key path of %d segments, want 1 to %d", ErrInvalidOp, j, sh.levels())
	}
	var prev resetEntry
	n := 0
	for e := range entriesIn(l) {
		switch {
		case countSegs(e.below) != len(sh.segs)-j:
			return fmt.Errorf("%w: a reset entry of a counter not under the key", ErrInvalidOp)
		case e.w == "" || e.c == 0 || e.c > e.s:
			return fmt.Errorf("%w: a reset entry of chain %d at %d", ErrInvalidOp, e.c, e.s)
		case n > 0 && compareEntries(prev, e) >= 0:
			return fmt.Errorf("%w: reset entries out of order", ErrInvalidOp)
		}
		prev = e
		n++
	}
	if n == 0 {
		return fmt.Errorf("%w: a reset without entries", ErrInvalidOp)
	}
	return nil
}

// Ops may arrive out of order. A leaf that continues a chain holds the
// increments of the chain's earlier leaves, and a delete's reset entry
// says it saw them: so applying either drops, besides the dots its op
// lists (the leaf it replaced, the leaves its replica held), the earlier
// leaves of those chains this replica holds, which their own ops, not
// arrived yet, would drop; and a leaf arriving after a later leaf of its
// chain, or after a delete that saw it, is taken in as dropped.

// chainDrops returns the dots op drops here: those it lists, and the
// leaves this replica holds of the chains it continues or resets that
// are older than what it saw of them. The result is sorted; op.dropped is
// not modified.
func (s *state) chainDrops(op Op) []vclock.Dot {
	var extra []vclock.Dot
	if op.kind == opWrite && op.leaf.tag == 0 && op.leaf.lg != 0 {
		w, c, n := s.origLeaf(op.leaf, op.dot)
		extra = s.olderLeaves(extra, op.leaf.path(), "", w, c, n-1, false)
	}
	for _, r := range [2]leaf{op.leaf, op.preLeaf()} {
		if !r.isReset() {
			continue
		}
		for e := range entriesIn(r) {
			w, c, upto := s.orig(e.w, e.c, e.s)
			extra = s.olderLeaves(extra, r.path(), e.below, w, c, upto, false)
		}
	}
	extra = slices.DeleteFunc(extra, func(d vclock.Dot) bool {
		_, found := slices.BinarySearchFunc(op.dropped, d, vclock.Dot.Compare) // sorted, as check holds ops to
		return found
	})
	if len(extra) == 0 {
		return op.dropped
	}
	out := append(slices.Clone(op.dropped), extra...)
	slices.SortFunc(out, vclock.Dot.Compare)
	return slices.Compact(out)
}

// olderLeaves appends to out the dots of the counter leaves held at key
// path q followed by below of the chain of writer w starting at c up to
// sequence number upto, all three as they were before the retirements the
// state knows (see orig): a chain's leaves renamed into a retired writer
// among them. It appends the leaves' dots, or, if keys, their keys in the
// store (see state.watch).
func (s *state) olderLeaves(out []vclock.Dot, q, below string, w vclock.ReplicaID, c, upto uint64, keys bool) []vclock.Dot {
	var buf [2]vclock.Dot
	for _, key := range s.chainKeys(buf[:0], w, c) {
		if x, xs, ok := s.chainLeaf(key, q, below, w, c); ok && xs <= upto {
			if keys {
				x = key
			}
			out = append(out, x)
		}
	}
	return out
}

// chainKeys appends to out the keys in the store under which the leaves
// of the chain of writer w starting at c (as they were before the
// retirements the state knows: see orig) may be held. A chain's leaves are
// held under its first dot (leafKey): (w, c), or, for those a retirement
// of w renamed, (To, Base + c). Each key is also the chain, as a reset
// entry names it, that leaves so held belong to.
func (s *state) chainKeys(out []vclock.Dot, w vclock.ReplicaID, c uint64) []vclock.Dot {
	out = append(out, vclock.Dot{Replica: w, Seq: c})
	if len(s.retired) == 0 {
		return out
	}
	if to, ok := s.retiredFrom[w]; ok {
		for _, r := range s.retiredTo[to] {
			if r.From == w && c <= r.Final {
				out = append(out, vclock.Dot{Replica: to, Seq: r.Base + c})
			}
		}
	}
	return out
}

// chainLeaf returns the dot of the counter leaf held under key, and its
// sequence number as before the retirements the state knows, if it is a
// leaf at key path q followed by below (a reset's path and its entry's,
// which are not joined into a new string for each entry) of the chain of
// writer w starting at c (as before them too).
func (s *state) chainLeaf(key vclock.Dot, q, below string, w vclock.ReplicaID, c uint64) (vclock.Dot, uint64, bool) {
	l, x, ok := s.k.GetDot(key)
	if !ok || l.tag != 0 {
		return vclock.Dot{}, 0, false
	}
	if p := l.path(); len(p) != len(q)+len(below) || p[len(q):] != below || p[:len(q)] != q {
		return vclock.Dot{}, 0, false
	}
	xw, xc, xs := s.origLeaf(l, x)
	return x, xs, xw == w && xc == c
}

// parsedReset is what state.parsed holds of a reset leaf: its entries,
// and the value of the leaf they were read from.
type parsedReset struct {
	pv   string
	es   []resetEntry
	most uint64 // the greatest |t| of es (see resetBound)
}

// resetEntries returns the entries of the reset leaf l under the dot d,
// read once for all the ops and joins that look them up while it is held
// (the leaf's value, the same string while it is not replaced, tells
// whether those read are still its). Not for reads of the map, which may
// run at once: it writes s.parsed.
func (s *state) resetEntries(l leaf, d vclock.Dot) []resetEntry {
	if p, ok := s.parsed[d]; ok && p.pv == l.pv {
		return p.es
	}
	es := entriesOf(l, nil)
	if s.parsed == nil {
		s.parsed = make(map[vclock.Dot]parsedReset)
	}
	var most uint64
	for _, e := range es {
		t := uint64(e.t)
		if e.t < 0 {
			t = -t
		}
		most = max(most, t)
	}
	s.parsed[d] = parsedReset{l.pv, es, most}
	return es
}

// findEntry returns the entry of es, the entries of a reset leaf, of the
// chain of writer w starting at c (as the entry names it) of the counter
// whose path below the reset's is below.
func findEntry(es []resetEntry, below string, w vclock.ReplicaID, c uint64) (resetEntry, bool) {
	i := searchEntries(es, below, w, c)
	if i == len(es) || es[i].below != below || es[i].w != w || es[i].c != c {
		return resetEntry{}, false
	}
	return es[i], true
}

// searchEntries returns the index of the first of es, the entries of a
// reset leaf, not before the entry of the chain of writer w starting at c
// of the counter whose path below the reset's is below, in the order of
// compareEntries; len(es) if there is none.
func searchEntries(es []resetEntry, below string, w vclock.ReplicaID, c uint64) int {
	lo, hi := 0, len(es)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareEntries(es[m], resetEntry{below: below, w: w, c: c}) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// superseded reports whether the counter leaf l under the dot d adds
// nothing here: a later leaf of its chain is live at its path, or a
// reset at or above its path saw it or a later leaf of its chain. Leaves
// and entries of a chain are compared as they were before the
// retirements the state knows (see orig).
func (s *state) superseded(l leaf, d vclock.Dot) bool {
	p := l.path()
	w, c, seq := s.origLeaf(l, d)
	var buf [2]vclock.Dot
	keys := s.chainKeys(buf[:0], w, c)
	for _, key := range keys {
		x, xs, ok := s.chainLeaf(key, p, "", w, c)
		if ok && (x.Replica != d.Replica || x.Seq > d.Seq) && xs > seq {
			return true
		}
	}
	if len(s.resetDots) == 0 {
		return false
	}
	x, rest := &s.ix, p
	for rest != "" {
		_, r, ok := nextSeg(rest)
		if !ok {
			break
		}
		if x = x.child(p[:len(p)-len(r)]); x == nil {
			break
		}
		rest = r // the path below x's, that of p's entries at x
		for _, rd := range x.ttlDots() {
			rl, _ := s.k.Get(rd)
			if !rl.isReset() {
				continue
			}
			es := s.resetEntries(rl, rd)
			for _, key := range keys {
				e, ok := findEntry(es, rest, key.Replica, key.Seq)
				if !ok {
					continue
				}
				if ew, ec, es := s.orig(e.w, e.c, e.s); ew == w && ec == c && es >= seq {
					return true
				}
			}
		}
	}
	return false
}

// Collecting reset entries.
//
// An entry E = (p, w, c, s, t) of a reset leaf R (dot dR) is needed while
// a leaf of w's chain c at p with a sequence number above s may be live at
// some replica: only such a leaf subtracts it. Such a leaf was made by w
// before w saw R: once w has seen R, w's leaves of chain c up to s are
// gone there (R's own drop, or chainDrops), so an Add by w either starts
// a chain (no live leaf) or continues a leaf above s, made before w saw
// R. The entry goes, at a replica X, when:
//
//  1. dR is in X's version and in every peer's: w has seen R (w's run
//     reports its version among the peers), so every leaf of chain c above
//     s was made before w's report. A peer's version speaks for the run
//     that reported it: a second process under w's name, started from
//     its disk, reports under a writer of its own, while w's run, which
//     may not have seen R, goes on with chain c. Told which run reported
//     each version (Map.CollectVersionsFrom, as the engine does), X
//     takes w as having seen R only if w's own run reported (or w is
//     X's writer, or retired: a writer that goes on after its
//     retirement is the case crdt.Stats.RetiredPastFinal reports);
//  2. X's version covers, for w, the join of every peer's version: X has
//     seen every leaf w made before it reported, w's own report and the
//     versions of the replicas that took in leaves w's run lost in a crash
//     (a restarted replica writes under a new writer, so w's dots above
//     what any report covers were never made);
//  3. X's context holds every dot of chain c up to s (under the names X
//     gives them, after retirements): no leaf of the chain that E covers
//     can enter X's store again, by an op or a join, once R is gone,
//     since neither takes in a dot the context holds. It follows from 1
//     and 2 when w is among the peers (w's version holds s), and from X
//     having no gaps, since X holds dR and so s, which R dropped; it is
//     checked for the others (a writer that no longer reports, as after
//     a restart). Gaps elsewhere do not stop the collection: an op of
//     another writer that every replica refused, or an op that drops a
//     dot its writer never made, leaves a gap that never fills, and
//     would otherwise stop it for good;
//  4. no leaf of chain c above s is live at X: each leaf of the chain
//     above s that X has seen has been dropped there, by a later leaf of
//     the chain or a later delete, whose drop reaches every replica with
//     the op or delta that tells them.
//
// A leaf of the chain above s that X holds past a gap in w's dots is
// live there (4 keeps E) or dropped, as any other; a replica that has not
// seen one of the chain's leaves yet
// will see it with the drops X saw (a delta carries them, and causal
// delivery of ops brings the drop no later than the collection). While
// a replica receives ops out of order, a leaf may count its whole total
// for a while, until the op that drops it arrives.
//
// A reset leaf goes once all its entries can go (one that still needs an
// entry stays whole), and it goes here alone, without a write: reset
// leaves are left out of the map's fingerprint, so that replicas at one
// version that differ only in reset leaves some have collected do not
// count as diverged, and no write has to reach the others, which collect
// by the same rule when they see what this replica saw. A whole state
// sent from here makes its receiver drop the leaf too (the leaf's dot is
// in this replica's context, not in its store): safe, since the chains'
// leaves it was needed for are dropped here, and so there too, by the
// same context. A receiver that already dropped it does not take it back
// from a state that still holds it, for the same reason.

// collectResets removes the reset leaves whose entries are no longer
// needed (see above), own being this replica's version and peers every
// peer's. If runs is not nil, runs[i] is the writer of the run that
// reported peers[i] (empty if unknown), and rule 1 is checked by the
// chain's writer's own report: an entry of a writer w stays unless w is
// this replica's writer, w's run reported one of the versions, or w is
// retired (see [Map.CollectVersionsFrom]). It returns how many it
// removed.
func (s *state) collectResets(own vclock.Clock, peers []vclock.Clock, runs []vclock.ReplicaID) int {
	if len(s.resetDots) == 0 || s.id == "" {
		return 0
	}
	seenAll := func(d vclock.Dot) bool {
		if !own.Contains(d) {
			return false
		}
		for _, v := range peers {
			if !v.Contains(d) {
				return false
			}
		}
		return true
	}
	covered := func(w vclock.ReplicaID) bool {
		for _, v := range peers {
			if v.Get(w) > own.Get(w) {
				return false
			}
		}
		return true
	}
	// reported tells whether w's own run has seen what every version
	// holds: w's run reported one of them, or it is this replica's, or w
	// writes no more (retired).
	reported := func(w vclock.ReplicaID) bool {
		if runs == nil || w == s.id || w.IsRetired() {
			return true
		}
		if _, ok := s.retiredFrom[w]; ok {
			return true
		}
		return slices.Contains(runs, w)
	}
	var due []vclock.Dot
	for d := range s.resetDots {
		if seenAll(d) {
			due = append(due, d)
		}
	}
	slices.SortFunc(due, vclock.Dot.Compare)
	done := 0
	for _, d := range due {
		r, ok := s.k.Get(d)
		if !ok {
			continue
		}
		needed := false
		for e := range entriesIn(r) {
			w, _, _ := s.orig(e.w, e.c, e.s)
			if needed = !reported(w) || !covered(e.w) || !covered(w) || !s.seenChain(e) || s.liveAfter(r.path(), e); needed {
				break
			}
		}
		if needed {
			continue
		}
		s.k.Remove(d)
		done++
	}
	s.resetsGone += uint64(done)
	return done
}

// seenChain reports whether the context holds every dot of the chain of
// entry e up to the sequence number it saw, under the names this replica
// gives them: those of a writer retired since (see Retirement) that are
// within its last renamed dot under the retired writer, the others under
// their own.
func (s *state) seenChain(e resetEntry) bool {
	ctx := s.k.Context()
	lo := e.c
	if to, ok := s.retiredFrom[e.w]; ok {
		for _, r := range s.retiredTo[to] {
			if r.From == e.w && lo <= r.Final {
				if !ctx.ContainsRange(to, r.Base+lo, r.Base+min(r.Final, e.s)) {
					return false
				}
				lo = r.Final + 1
			}
		}
	}
	return ctx.ContainsRange(e.w, lo, e.s)
}

// liveAfter reports whether a leaf of the chain of entry e, of a reset
// leaf at key path q, above the sequence number it saw, is live here
// (compared as before the retirements the state knows: see orig).
func (s *state) liveAfter(q string, e resetEntry) bool {
	w, c, seq := s.orig(e.w, e.c, e.s)
	var buf [2]vclock.Dot
	for _, key := range s.chainKeys(buf[:0], w, c) {
		if _, xs, ok := s.chainLeaf(key, q, e.below, w, c); ok && xs > seq {
			return true
		}
	}
	return false
}

// Settling chains after a join.
//
// A reset entry covers every leaf of its chain up to the sequence number
// it saw, and a chain's leaf every earlier leaf of the chain, but the
// drops they list are only those the replica that made them held: the
// earlier leaves of the chain, dropped elsewhere by chainDrops or taken
// in as dropped (see apply), are in those replicas' contexts with no
// record of a drop, and a join with a replica that still holds one keeps
// it on one side (the kernel trusts the records) and not on the other
// (the context has seen it). So a join of a map of counters, once the
// kernel has joined, drops every leaf it leaves covered by a reset or a
// later leaf of its chain, as apply would: a state holds no covered leaf
// after any join or op, and both sides of a join reach the same store.
// Only the leaves the join added can cover, or be covered: the Watch
// notes those added while the store holds a reset leaf, the reset leaves
// added, and the leaves added beside another leaf of their writer
// (indexUnsettled).

// Chains supersede without records.
//
// A leaf of a chain (p, w, c) covers every earlier leaf of the chain, and
// a reset entry (p, w, c, s) every leaf of the chain up to s: the drop of
// a covered leaf is implied by what covers it. A state holds no covered
// leaf after any op (apply: chainDrops, superseded) or join
// (settleChains), so these drops need no drop record, and get none: the
// leaves chainDrops and settleChains drop never had one, and an increment
// that continues its chain (its op drops the chain's previous leaf alone:
// continues) keeps none either, where it is made (dotkernel.BumpOwnWithin,
// add) or where its op is applied (unless the replica cannot tell that
// the dot it drops is the chain's: see continues). That is one rule: a
// chain's later leaf, or a reset, supersedes its older leaves without a
// record. Every other
// drop keeps its record: a register's overwrite, a set's remove, a
// delete with its reset leaf, an expiry or persist, the write that
// restarts an expired key, a first write that drops nothing. Under a
// steady load of increments the records do not grow and the kernel's
// horizon does not move: a peer behind by any number of increments gets
// a delta (dotkernel.Kernel.DeltaSince), not the whole state.
//
// So the kernel's RecordsAll promises less for a map's kernel: every
// mutation that dropped dots has a record or a dot within the horizon,
// except the drops a chain implies. The kernel's Join, which trusts
// records, may keep a covered leaf; the map's join then drops it. That
// the covered leaf goes everywhere it must rests on two facts.
//
//  1. A context that holds a chain leaf's dot holds the dot of the
//     chain's previous leaf: the local increment minted its dot after
//     it; its op lists it as dropped, which Drop adds to the context (as
//     a ghost if unseen); a join unites contexts; a delta carries the
//     sender's context beyond the receiver's version v, which holds what
//     it does not; a retirement renames both alike. So a replica that
//     has seen a leaf of a chain has seen every earlier one, and never
//     takes one back (neither a join nor an op adds a dot its context
//     holds), except past a gap: a replica that took a leaf's op before
//     the op of the leaf it dropped holds that one's dot as a ghost, and
//     may lack the dots of the chain before it. A join may then bring an
//     older leaf in, but beside what covers it here (the later leaf, or
//     the reset of a delete since, which is not collected while the
//     replica lacks a dot of the chain it covers: see 3 under
//     "Collecting reset entries"), so that the join drops it at once.
//  2. So a replica that holds a leaf x of a chain, after any op or join,
//     has seen no later leaf of the chain and no reset covering x: when
//     it saw one it dropped x (chainDrops and superseded for an op,
//     settleChains for a join), and by 1 x never stayed.
//
// A replica A holding x learns of the chain's later leaves in these ways:
//
//   - By op: applying the later leaf's op, or a delete's, drops x
//     (chainDrops); a leaf that arrives after a later one of its chain is
//     taken in as dropped (superseded). Ops that arrive out of order
//     leave ghosts in the context (1 holds for them): a later leaf whose
//     dot is a ghost is not taken in when its own op arrives.
//   - By a state or a delta of a replica B, joined (Merge, MergeBinary, a
//     whole state from DeltaSince for a version behind the horizon): B
//     has seen a later leaf of x's chain. If B holds one, say z, A has
//     not seen z (2), so z is in B's state and in B's delta for A's
//     version, the join adds it beside x, and settleChains drops x. If
//     B holds none, B dropped the chain's newest leaf it saw by a
//     delete: by a reset leaf R, with a record, whose entry covers x
//     (a delete, the collection of an expired key and the write that
//     restarts an expired key each write one for the counter leaves
//     they drop). A has not seen R (2): if B still holds R, the join adds
//     it and settleChains drops x; B cannot have collected R, which goes
//     only once every replica, A among them, has seen it (see
//     "Collecting reset entries" above). The other way, B joining A's
//     state, B does not take x, its context holding it (1). This rests
//     on every op that drops a chain's leaf or a reset with a record
//     writing the reset that covers it, as a map's ops do: an op crafted
//     to drop one without it breaks it (see "Untrusted peers" in the
//     package documentation, and TestTamperedDropsNeverSilent). A
//     replica that holds x after such an op reaches the version of one
//     that dropped x with other content, a divergence the replication
//     engine counts; a heal (Map.Heal, Map.HealBinary: the kernel's
//     Heal, which trusts no record) drops x there, as every replica that
//     has seen x and does not hold it says (TestTamperedDropsHealed).
//   - By parts of a state or delta (Map.MergeChunkBinary): a store part
//     is joined as a state is, the kernel keying a chain's leaves alike
//     (a later leaf replaces x in place), and settleChains runs after it
//     as after a join, so a part that brings a later leaf, or a reset,
//     drops x; one that brings a leaf covered by what A holds drops it
//     at once. The part's dots are ghosts in A's context until the
//     context parts come, so a lost part leaves A's version claiming
//     nothing the part carried (see parts.go).
//   - Retirement renames a writer's dots up to Final, and the entries
//     of its chains in reset leaves up to Final, one to one: a chain's
//     renamed leaves stay one chain (each leaf's start moves by Base with
//     its dot). A writer retired while it still wrote (a second process
//     under its name) may go on with a chain past Final under its own
//     name, beside the chain's leaves renamed into the retired writer:
//     the state keeps the retirements it applied (state.retired; after a
//     restart the engine hands them back: Map.Renamed), and every
//     comparison of chains above (chainDrops, superseded, settleChains,
//     indexUnsettled, a counter's value, the collection of reset
//     entries) compares leaves and entries as they were before the
//     renaming (orig), so the leaf past Final covers the renamed ones as
//     it covered them before.
//   - Expiry writes nothing: an expired key's counter leaves stay until
//     a write to the key restarts it or a collection deletes it, each
//     with a reset leaf and its record; an increment of an expired key
//     starts a new chain after that reset instead of continuing one.
//
// A leaf settleChains drops is covered in the same sense, and no replica
// that has seen what covers it takes it back (1): its drop is implied as
// an increment's is.

// indexUnsettled is index, during a join of a map of counters: it also
// notes in s.unsettled the leaf l under the dot d if it may cover or be
// covered by another leaf: a reset leaf; a counter leaf while the store
// holds a reset leaf; a counter leaf beside another leaf of its writer,
// or of its writer's retired writer (or, for a leaf of a retired writer,
// of a writer retired into it) by a retirement the state knows.
//
// The Watch (state.watch) takes the common case itself, without a call:
// a counter leaf of a top-level key (its path is its one segment) while
// the store holds no reset leaf and the state knows no retirement, noted
// only beside another leaf of its writer, which node.addKey tells.
func (s *state) indexUnsettled(l leaf, d vclock.Dot) {
	n := s.ix.add(l.path(), d, l.inc(), l.tag != 0)
	switch {
	case l.tag == tagReset:
	case l.tag != 0:
		return
	case len(s.resetDots) > 0:
	case n == nil || !n.multi():
		return
	default:
		if !n.hasOther(d) && (len(s.retired) == 0 || !s.hasRelated(n, d.Replica)) {
			return
		}
	}
	s.unsettled = append(s.unsettled, d)
}

// settleChains drops the leaves that the leaves noted in s.unsettled
// cover or are covered by (see above), and reports whether it dropped
// any.
func (s *state) settleChains() bool {
	if len(s.unsettled) == 0 {
		return false
	}
	var drop []vclock.Dot // keys (unsettled holds keys too: see watch)
	for _, key := range s.unsettled {
		l, d, ok := s.k.GetDot(key)
		switch {
		case !ok:
		case l.isReset():
			for e := range entriesIn(l) {
				w, c, upto := s.orig(e.w, e.c, e.s)
				drop = s.olderLeaves(drop, l.path(), e.below, w, c, upto, true)
			}
		case s.superseded(l, d):
			drop = append(drop, key)
		default:
			w, c, n := s.origLeaf(l, d)
			drop = s.olderLeaves(drop, l.path(), "", w, c, n-1, true)
		}
	}
	if cap(s.unsettled) > 1024 {
		s.unsettled = nil // a big join's note is not kept for the next
	} else {
		clear(s.unsettled)
		s.unsettled = s.unsettled[:0]
	}
	changed := false
	for _, x := range drop {
		if s.k.Remove(x) != nil {
			changed = true
		}
	}
	return changed
}

// continues reports whether op, of a map of counters, writes a leaf
// that continues its writer's chain and drops the chain's previous leaf
// alone (the op of every increment that does not start a chain), so that
// its drop is implied by the leaf and needs no record (see "Chains
// supersede without records" above). The dropped dot must be of the
// writer, within the chain, and, as far as this replica can tell, the
// chain's leaf: held here at the leaf's path in its chain, or seen here
// and no longer held (dropped by a mutation before, which told its own
// drop). An op whose dropped dot this replica has not seen keeps its
// record, as does any op that does not fit: a record is never wrong,
// only the lack of one, if the leaf did not imply the drop.
func (s *state) continues(op Op) bool {
	if op.kind != opWrite || op.leaf.tag != 0 || op.leaf.lg == 0 || op.pre != nil || len(op.dropped) != 1 {
		return false
	}
	x := op.dropped[0]
	c := chainOf(op.leaf, op.dot)
	if x.Replica != op.dot.Replica || x.Seq < c || x.Seq >= op.dot.Seq {
		return false
	}
	// x, if held here as the chain's leaf, is under the chain's key (see
	// leafKey); held under its own dot as its key, it may be another
	// chain's first leaf, or a leaf of another kind.
	for _, key := range [2]vclock.Dot{{Replica: x.Replica, Seq: c}, x} {
		if l, held, ok := s.k.GetDot(key); ok && held == x {
			return l.tag == 0 && l.path() == op.leaf.path() && chainOf(l, x) == c
		}
	}
	if !s.k.Context().Contains(x) {
		return false
	}
	// Seen here, but under neither key: either dropped already (by a
	// delete, a reset, or the chain's own later leaf), or held under
	// another key, as another chain's continued leaf (no map writes an op
	// that drops one; a peer may). A leaf of this chain would be under the
	// chain's key, so one held elsewhere is not the chain's: the op drops
	// it with a record, as any other write's drop, so that a merge with a
	// replica that still holds it drops it there too.
	_, elsewhere := s.k.HolderOf(x)
	return !elsewhere
}
