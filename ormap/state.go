package ormap

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// leafKind says what the leaves of a map's values are.
type leafKind uint8

const (
	kindCounter  leafKind = iota + 1 // a dot holds an increment
	kindRegister                     // a dot holds a written value
	kindSet                          // a dot supports a set element (the path's last segment)
)

// shape describes the leaves of a map type: the codecs of the segments
// of their key paths, outermost first (a set's element is the last), what
// a leaf holds, and the codec of register values.
type shape struct {
	segs []segCodec
	kind leafKind
	val  segCodec
}

// leaf is what one dot of a map's store holds. Every write makes a leaf
// under a dot of its own, so a dot's leaf never changes.
//
// A leaf is 32 bytes, and the dot store's slot of one 64, because the key
// path and a register's value share a string.
type leaf struct {
	// pv is the key path, segment by segment (see appendSeg); in the
	// leaf of a register value, it is that value's segment as one more
	// segment, then the key path.
	pv  string
	n   int64  // a counter increment; an expiry's time, wall part
	lg  uint32 // an expiry's time, logical part
	tag ttlTag // what the leaf is: a value's write, an expiry or a persist
	reg bool   // pv starts with a register value
}

// regLeaf returns the leaf of a register value: the segment v at key
// path p.
func regLeaf(p, v string) leaf {
	var b strings.Builder
	b.Grow(binary.MaxVarintLen64 + len(v) + len(p))
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:binary.PutUvarint(n[:], uint64(len(v)))])
	b.WriteString(v)
	b.WriteString(p)
	return leaf{pv: b.String(), reg: true}
}

// path returns the key path of the leaf.
func (l leaf) path() string {
	if !l.reg {
		return l.pv
	}
	_, rest, _ := nextSeg(l.pv)
	return rest
}

// val returns the segment of a register value's leaf, or "".
func (l leaf) val() string {
	if !l.reg {
		return ""
	}
	v, _, _ := nextSeg(l.pv)
	return v
}

// state is what a top-level map and all the maps and values nested in it
// share: the replica ID, the dot store with its causal context, and the
// index of the store by key path.
type state struct {
	id vclock.ReplicaID
	k  dotkernel.Kernel[vclock.Dot, leaf]
	ix node
	// cfp caches the content fingerprint (see contentFingerprint).
	cfp atomic.Pointer[contentFP]
	// resetsGone counts the reset leaves collectResets removed, for
	// Garbage, since the state was made or replaced (adopt).
	resetsGone uint64
	// resetDots are the dots of the reset leaves in the store (see
	// chain.go): while there are none, a counter's value is the sum its
	// node holds.
	resetDots map[vclock.Dot]struct{}
	resetFP   uint64 // what they add to the kernel's fingerprint
	lim       codec.Limits
	sh        *shape

	// parsed holds the entries of the reset leaves that ops and joins
	// have looked up, by the leaves' dots (see resetEntries).
	parsed map[vclock.Dot]parsedReset

	clk  *clock.Clock   // see Map.SetClock
	ttls map[string]int // the key paths with expiries or persists: how many

	hook   func(vclock.Conflict) // see Map.SetConflictHook
	noting bool                  // a join with a hook is under way: note the dots added
	added  []addedDot            // the dots added by that join

	// settling says a join of a map of counters is under way: the
	// Watch notes in unsettled the dots it adds that may cover, or be
	// covered by, other leaves of a chain (see settleChains).
	settling  bool
	unsettled []vclock.Dot
	exts      extChunks // the node extensions of that join

	// retired are the retirements applied to the map's state with a
	// Final above 0, in order (see Map.Retire and Map.Renamed): with
	// them a counter leaf of a writer that went on past Final still
	// covers its chain's leaves renamed into the retired writer.
	retired []vclock.Retirement
	// retiredTo and retiredFrom index retired (see noteRetired).
	retiredTo   map[vclock.ReplicaID][]vclock.Retirement
	retiredFrom map[vclock.ReplicaID]vclock.ReplicaID

	// paths is what is left of the block that the key paths of new
	// top-level keys are cut from (see keepPath): never shared with
	// another state, and never written where a path was cut.
	paths []byte
	// dropped is the block that the drop lists of continued increments'
	// ops are cut from (see oneDot), and dropAt the first of its dots not
	// yet cut: never shared with another state, and never written below
	// dropAt. An index, not a slice moved on, so that a cut writes no
	// pointer into the state.
	dropped []vclock.Dot
	dropAt  int

	// ownWork counts the dots that increments have looked at to find
	// the writer's newest chain at their key, and to check that the
	// counter stays in range where resets apply (see state.fits), for
	// the tests that bound that work.
	ownWork int
}

// dropBlock is the number of dots in the blocks oneDot cuts from: the
// size the kernel's own block of drop lists has (dotkernel's newDots).
const dropBlock = 128

// oneDot returns a list of the one dot d for an op to hand out, cut from
// a block shared with other ops' lists: an increment costs no allocation
// of its own (one of a slice of one dot costs about as much as the rest
// of the kernel's work). The list's capacity is its length, so appending
// to it never writes into another's.
func (s *state) oneDot(d vclock.Dot) []vclock.Dot {
	i := s.dropAt
	if i >= len(s.dropped) {
		s.dropped, i = make([]vclock.Dot, dropBlock), 0
	}
	s.dropped[i] = d
	s.dropAt = i + 1
	return s.dropped[i : i+1 : i+1]
}

// pathBlock is the size of the blocks that keepPath cuts key paths
// from: a block stays allocated as long as one of its paths does, so
// it is small, for a map whose keys come and go (at worst, a key that
// outlives the others of its block holds the block's 256 bytes, not
// its own 16); and one allocation serves about 20 keys of 10 bytes.
const pathBlock = 256

// keepPath returns a copy of the key path p for the index and the store
// to keep, cut from a block shared with other keys' paths: a new key
// costs no allocation of its own. A long path has an allocation of its
// own.
//
// A path that topPath built at the head of the block is taken where it
// is, without a copy.
func (s *state) keepPath(p string) string {
	if p == "" {
		return ""
	}
	if s.atHead(p) {
		return s.takeHead(len(p))
	}
	if len(p) > len(s.paths) {
		if len(p) > pathBlock/8 {
			return strings.Clone(p)
		}
		s.paths = make([]byte, pathBlock)
	}
	n := copy(s.paths, p)
	out := unsafe.String(&s.paths[0], n)
	s.paths = s.paths[n:]
	return out
}

// atHead reports whether p was built at the head of the block of paths
// (by topPath) and is not kept yet. Its address alone is compared, so
// that p, which may be a stack buffer's, does not escape.
func (s *state) atHead(p string) bool {
	return len(p) <= len(s.paths) && unsafe.StringData(p) == unsafe.SliceData(s.paths)
}

// takeHead keeps the n bytes at the head of the block of paths, where
// topPath built a path, and returns them.
func (s *state) takeHead(n int) string {
	out := unsafe.String(unsafe.SliceData(s.paths), n)
	s.paths = s.paths[n:]
	return out
}

// topPath returns the key path of the top-level key whose segment is
// seg, built where keepPath would copy it to, at the head of the state's
// block of paths, or false if it is too long for the block (then a
// topPathBuf on the caller's stack takes it). The path is not kept:
// until keepPath takes it, the next write may build another over it, so
// it is for a look-up only. A new key's path is then kept where it was
// built, without the copy a path built on the stack costs.
func (s *state) topPath(seg string) (string, bool) {
	n := 1 + len(seg) // a uvarint of one byte, then seg
	if n > pathBlock/8 {
		return "", false
	}
	if n > len(s.paths) {
		s.paths = make([]byte, pathBlock)
	}
	b := s.paths[:n]
	b[0] = byte(len(seg))
	copy(b[1:], seg)
	return unsafe.String(&b[0], n), true
}

func newState(id vclock.ReplicaID, sh shape) *state {
	s := &state{id: id, sh: &sh}
	s.k.RecordsAll = true
	s.k.KeyOf = leafKey
	s.watch()
	return s
}

// leafKey is the key of the leaf l under the dot d in a state's store
// (the kernel's KeyOf): d itself, except for a counter leaf that
// continues a chain, whose key is the chain's first dot. So a chain's
// leaves, one after another, share one key, and an increment continues
// its chain's entry in place (dotkernel.BumpOwnWithin) instead of removing one
// entry and inserting another. A key holds one dot, the chain's newest:
// a chain's later leaf covers its earlier ones (see chain.go). A leaf
// whose lg is not below its sequence number (only a hostile state has
// one, and decoding refuses it) keeps its dot as its key.
func leafKey(d vclock.Dot, l leaf) vclock.Dot {
	if l.lg == 0 || l.tag != 0 || l.reg || uint64(l.lg) >= d.Seq {
		return d
	}
	return vclock.Dot{Replica: d.Replica, Seq: d.Seq - uint64(l.lg)}
}

// watch makes the kernel keep the index up to date.
//
// The index holds the store's keys, not its dots: for every leaf but a
// continued counter leaf the two are the same, and a continued leaf's key
// is its chain's first dot (leafKey), which stays the same as the chain
// goes on, so an increment leaves the index's entry as it is. What needs
// a key's dot (an op's drops, a reset entry, comparing a chain's leaves)
// reads it from the store with the leaf (dotkernel.Kernel.GetDot).
//
// It also lets a heal tell the leaves of one dot apart (SameValue): a
// dot's leaf never changes, so two replicas that hold one dot with
// different leaves were told two different writes under it.
func (s *state) watch() {
	s.k.SameValue = func(a, b leaf) bool { return a == b }
	s.k.Watch = func(d vclock.Dot, l leaf, _ vclock.Dot, added bool) {
		if added && s.settling && l.tag == 0 && !l.reg && len(s.sh.segs) == 1 && len(s.resetDots) == 0 && len(s.retired) == 0 {
			// A join's counter leaf of a top-level key, with no reset
			// leaf or retirement to compare it with: indexUnsettled's
			// common case, without its call (see there).
			if s.ix.addKey(l.pv, d, l.n, &s.exts) {
				s.unsettled = append(s.unsettled, d)
			}
			return
		}
		if l.tag != 0 {
			s.noteLeaf(l, d, added)
		}
		if added {
			if s.settling {
				s.indexUnsettled(l, d)
			} else {
				s.index(l, d)
			}
			if s.noting {
				s.noteAdded(l.path(), d)
			}
		} else {
			s.ix.remove(l.path(), d, l.inc(), l.tag != 0)
		}
	}
}

// adopt makes k the state's store, with an index built from it.
func (s *state) adopt(k *dotkernel.Kernel[vclock.Dot, leaf]) {
	s.k = *k
	s.ix = node{}
	s.resetDots, s.resetFP, s.resetsGone, s.parsed = nil, 0, 0, nil
	s.ttls = nil
	if len(s.sh.segs) == 1 && k.Len() > 0 { // one key per leaf
		s.ix.reserveKids(k.Len())
	}
	for d, l := range s.k.All() {
		if l.tag != 0 {
			s.noteLeaf(l, d, true)
		}
		s.index(l, d)
	}
	s.watch()
}

// copyOf makes the state's store and index copies of those of o, as
// adopt of a clone of o's store would, without building the index anew.
func (s *state) copyOf(o *state) {
	s.k = *o.k.Clone()
	s.ix = o.ix.clone()
	s.resetDots, s.resetFP, s.resetsGone, s.parsed = maps.Clone(o.resetDots), o.resetFP, o.resetsGone, nil
	s.ttls = maps.Clone(o.ttls)
	s.retired = slices.Clone(o.retired)
	s.retiredTo, s.retiredFrom = nil, nil
	if len(o.retired) > 0 {
		s.retiredTo = make(map[vclock.ReplicaID][]vclock.Retirement, len(o.retiredTo))
		for to, rs := range o.retiredTo {
			s.retiredTo[to] = slices.Clone(rs)
		}
		s.retiredFrom = maps.Clone(o.retiredFrom)
	}
	s.watch()
}

// index adds the leaf l under the dot d to the index.
func (s *state) index(l leaf, d vclock.Dot) {
	s.ix.add(l.path(), d, l.inc(), l.tag != 0)
}

func (s *state) mustWrite(what string) {
	if s.id == "" {
		panic("ormap: " + what + " on a Map made without New")
	}
}

// write makes a new leaf l that replaces the dots in drop, and returns
// its op. drop may be nil (a counter increment drops nothing).
func (s *state) write(what string, l leaf, drop []vclock.Dot) Op {
	s.mustWrite(what)
	if q, ok := s.expiredPrefix(l.path()); ok && l.tag == 0 {
		// The key has expired here: the write starts it afresh. (Expire
		// and Persist do nothing to an expired key: they checked, before
		// Expire read the clock, which may have moved past an expiry.)
		// Its reset leaves stay: they only take from counter chains what
		// deletes saw of them, and nothing would carry their entries on.
		under := s.withoutResets(s.ix.lookup(q).under(nil))
		if es := s.entries(q, under); len(es) > 0 {
			return s.restart(what, q, l, mergeDots(drop, under), es)
		}
		drop = mergeDots(drop, under)
	}
	if len(drop) == 0 {
		// Nothing to drop first (a counter's increment, a new key's
		// first write): mint and put in one step, which fails without
		// changing anything.
		d, err := dotkernel.MintOwn(&s.k, s.id, l)
		if err != nil {
			return Op{err: fmt.Errorf("ormap: %s: %w", what, err)}
		}
		return Op{kind: opWrite, dot: d, leaf: l, sh: s.sh}
	}
	if _, err := s.k.Next(s.id); err != nil {
		return Op{err: fmt.Errorf("ormap: %s: %w", what, err)}
	}
	drop = s.dropAll(drop)
	d := s.k.Mint(s.id)
	s.k.PutNew(d, l, d) // d was just minted: the store cannot hold it
	s.k.Record(d, d, drop)
	return Op{kind: opWrite, dot: d, leaf: l, dropped: drop, sh: s.sh}
}

// addCounter is Counter.Add of n to the counter whose key path is p or,
// if top, whose top-level key's segment is p, its op set in *op, which is
// zero (written in place, not copied out through each call); err is why
// the counter's key could not be encoded, or nil. Counter.Add and Add,
// which makes no view, both come here, one call each.
//
// An add of n, not 0, to a top-level key looks the key up in the index
// once, with its path built at the head of the state's block of paths
// (topPath; on the stack if it is long): if the map holds it, the leaf
// takes the path the index holds (no new string); a new key keeps the
// path where it was built. A new key's dot goes
// into the index where the look-up found its place, without a look-up of
// its own, and a continued chain keeps its key there (see watch): the
// kernel does not tell the index (see dotkernel.MintOwnUnwatched and
// dotkernel.BumpOwnWithin). Keys whose path does not fit the buffer, and
// maps with expiries or resets (whose values and writes need more), take
// add's way.
func (s *state) addCounter(p string, top bool, err error, n int64, op *Op) {
	s.mustWrite("Counter.Add")
	switch {
	case err != nil:
		*op = Op{err: err}
		return
	case n == 0:
		*op = Op{kind: opNoop, sh: s.sh}
		return
	case !top:
		*op = s.add(p, n)
		return
	}
	seg := p
	var buf topPathBuf
	tmp, ok := s.topPath(seg)
	if !ok {
		tmp, ok = buf.path(seg)
	}
	if !ok || len(s.ttls) != 0 || len(s.resetDots) != 0 {
		*op = s.add(appendSeg("", seg), n)
		return
	}
	c, p, at := s.ix.lookupKid(tmp)
	var last vclock.Dot // the key of the writer's newest chain (see watch)
	if c == nil {
		// The leaf's own path, not scratch bytes: taken where topPath
		// built it, without a call, or copied.
		if s.atHead(tmp) {
			p = s.takeHead(len(tmp))
		} else {
			p = s.keepPath(tmp)
		}
	} else {
		multi := c.multi()
		if !multi {
			// One dot, the rule for a key one replica increments: no
			// loop over a slice.
			if d := c.one[0]; d.Seq != 0 && s.isWriter(d.Replica) {
				last = d
			}
		} else {
			// A writer's newer chain starts after its older ones' last
			// leaves: the greatest key is the newest chain's.
			ds, walked, own := c.ownDots(s.id)
			if !own {
				ds = c.ext.ds
			}
			s.ownWork += walked + len(ds)
			for _, d := range ds {
				if d.Seq > last.Seq && (own || s.isWriter(d.Replica)) {
					last = d
				}
			}
		}
		if cur := c.sum(); (n > 0 && cur > math.MaxInt64-n) || (n < 0 && cur < math.MinInt64-n) {
			*op = Op{err: fmt.Errorf("%w: %d + %d", ErrOverflow, cur, n)}
			return
		}
		if last.Seq != 0 {
			// The new leaf continues the writer's newest chain in the
			// chain's own entry of the store, which keeps its key, so the
			// index keeps its entry too, and c gains the increment. The op
			// drops the chain's previous leaf (without a record: the new
			// leaf implies it). Done here, not in a function of its own:
			// the call cost about 20 instructions an increment.
			if multi && !s.chainFits(p, last, n, op) {
				return
			}
			// One call checks the chain's length and mints: a dot past
			// maxChainGap from last starts a new chain, and BumpOwnWithin
			// then changes nothing.
			v, old, d, err := dotkernel.BumpOwnWithin(&s.k, s.id, last, maxChainGap)
			if err != nil {
				if err == dotkernel.ErrPastGap {
					*op = s.add(p, n) // a new chain
					return
				}
				*op = Op{err: fmt.Errorf("ormap: Counter.Add: %w", err)}
				return
			}
			// The store holds d with old's leaf until it is updated here,
			// before any other call of the kernel (see BumpOwn).
			v.n += n
			v.lg = uint32(d.Seq - last.Seq)
			l := *v
			c.addInc(n)
			op.kind, op.dot, op.leaf, op.dropped, op.sh, op.inc = opWrite, d, l, s.oneDot(old), s.sh, n // op is zero
			return
		}
	}
	l := leaf{pv: p, n: n}
	d, err := dotkernel.MintOwnUnwatched(&s.k, s.id, l)
	if err != nil {
		*op = Op{err: fmt.Errorf("ormap: Counter.Add: %w", err)}
		return
	}
	// The index takes d where the look-up found the key or its place.
	s.ix.count(false)
	if c == nil {
		s.ix.addKid(at, p).newKey(d, n)
	} else {
		c.count(false)
		c.addHere(d, n, false)
	}
	op.kind, op.dot, op.leaf, op.sh, op.inc = opWrite, d, l, s.sh, n // op is zero
}

// isWriter reports whether r is the state's replica ID. The writer's own
// dots share the bytes of its ID, mostly: it compares lengths and
// addresses before bytes.
func (s *state) isWriter(r vclock.ReplicaID) bool {
	return len(r) == len(s.id) && (unsafe.StringData(string(r)) == unsafe.StringData(string(s.id)) || r == s.id)
}

// chainFits is addCounter's check of the total of the writer's chain
// under key, at a top-level key whose node holds several dots (so that
// the node's sum, checked before, is not the chain's): if adding n passes
// the range, or the store does not hold key, it sets *op, which is zero,
// and returns false.
func (s *state) chainFits(p string, key vclock.Dot, n int64, op *Op) bool {
	prev, ok := s.k.Get(key)
	if !ok {
		*op = s.add(p, n) // cannot happen: the index holds the store's keys
		return false
	}
	if (n > 0 && prev.n > math.MaxInt64-n) || (n < 0 && prev.n < math.MinInt64-n) {
		*op = Op{err: fmt.Errorf("%w: a total of %d + %d", ErrOverflow, prev.n, n)}
		return false
	}
	return true
}

// remove drops the dots in drop and returns the op that does so
// everywhere, or a no-op if drop is empty.
func (s *state) remove(what, path string, drop []vclock.Dot) Op {
	s.mustWrite(what)
	if len(drop) == 0 {
		return Op{kind: opNoop, leaf: leaf{pv: path}, sh: s.sh}
	}
	if _, err := s.k.Next(s.id); err != nil {
		return Op{err: fmt.Errorf("ormap: %s: %w", what, err)}
	}
	drop = s.dropAll(drop)
	d := s.k.Mint(s.id)
	s.k.Record(d, d, drop)
	return Op{kind: opRemove, dot: d, leaf: leaf{pv: path}, dropped: drop, sh: s.sh}
}

// dropAll removes the keys of drop (as the index holds them: see watch)
// from the store and returns the dots they held, sorted, in drop's array:
// what an op lists and a record keeps are dots. drop must not alias the
// index.
func (s *state) dropAll(drop []vclock.Dot) []vclock.Dot {
	var more []vclock.Dot // a key's dots past its first (none in a map's store)
	j := 0                // the first dot of drop[i] goes to drop[j], j <= i
	for _, x := range drop {
		if ds := s.k.Remove(x); len(ds) > 0 {
			drop[j] = ds[0]
			j++
			more = append(more, ds[1:]...)
		}
	}
	drop = append(drop[:j], more...)
	if len(drop) > 1 {
		slices.SortFunc(drop, vclock.Dot.Compare)
	}
	return drop
}

// dotsAt returns a copy of the dots at exactly path p.
func (s *state) dotsAt(p string) []vclock.Dot {
	if n := s.ix.find(p); n != nil {
		return slices.Clone(n.dots())
	}
	return nil
}

// dotsUnder returns the dots at or below path p, those of expiries and
// persists included.
func (s *state) dotsUnder(p string) []vclock.Dot {
	if n := s.ix.lookup(p); n != nil {
		return n.under(nil)
	}
	return nil
}

// apply applies op and reports whether the store changed.
func (s *state) apply(op Op) (bool, error) {
	if err := op.check(s.sh); err != nil {
		return false, err
	}
	if op.kind == opNoop || s.k.Applied(op.dot) {
		return false, nil
	}
	changed := false
	dropped := op.dropped
	implied := false // the op continues a chain: its drops go without a record
	if s.sh.kind == kindCounter {
		dropped = s.chainDrops(op)
		implied = s.continues(op)
	}
	for i, x := range dropped {
		// The index and the store hold keys (see watch): the chain's
		// previous leaf, which a continued leaf's op drops, is under the
		// chain's key; any other dot is found by the kernel under the dot
		// itself or through the order of its dots (dotkernel.Kernel.Drop).
		key := x
		if implied {
			key = leafKey(op.dot, op.leaf)
		}
		if s.k.Drop(key, dropped[i:i+1]) {
			changed = true
		}
	}
	if op.preLeaf().isReset() {
		pd := op.preDot()
		s.k.Record(pd, pd, dropped)
		if s.k.Insert(pd, *op.pre, pd, nil) {
			changed = true
		}
	} else if !implied {
		s.k.Record(op.dot, op.dot, dropped)
	}
	if op.kind == opWrite && op.leaf.tag == 0 && s.sh.kind == kindCounter && s.superseded(op.leaf, op.dot) {
		s.k.Observe(op.dot) // what it adds, a later leaf here holds
		return changed, nil
	}
	if op.kind == opWrite || op.leaf.isReset() {
		key := leafKey(op.dot, op.leaf)
		if s.k.Insert(key, op.leaf, op.dot, nil) {
			changed = true
			if s.hook != nil {
				s.reportFresh(op.leaf.path(), func(d vclock.Dot) bool { return d == key })
			}
		}
	} else {
		s.k.Observe(op.dot)
	}
	return changed, nil
}

// checkLeaf reports why l does not fit the shape sh, or nil.
func (sh *shape) checkLeaf(l leaf) error {
	if l.isReset() {
		return sh.checkReset(l)
	}
	if l.tag != 0 {
		return sh.checkTTL(l)
	}
	if n := countSegs(l.path()); n != len(sh.segs) {
		return fmt.Errorf("%w: a key path of %d segments, want %d", ErrInvalidOp, n, len(sh.segs))
	}
	if (sh.kind != kindCounter && (l.n != 0 || l.lg != 0)) || (sh.kind != kindRegister && l.reg) || (sh.kind == kindRegister && !l.reg) {
		return fmt.Errorf("%w: a value of another type", ErrInvalidOp)
	}
	return nil
}

// mergeDots returns the dots of a and b, without repeats. a may be
// modified.
func mergeDots(a, b []vclock.Dot) []vclock.Dot {
	for _, d := range b {
		if !slices.Contains(a, d) {
			a = append(a, d)
		}
	}
	return a
}

// checkTTL reports why the expiry or persist leaf l does not fit the
// shape sh, or nil.
func (sh *shape) checkTTL(l leaf) error {
	if n := countSegs(l.path()); n < 1 || n > sh.levels() {
		return fmt.Errorf("%w: an expiry of a key path of %d segments, want 1 to %d", ErrInvalidOp, n, sh.levels())
	}
	switch {
	case l.tag != tagExpire && l.tag != tagPersist:
		return fmt.Errorf("%w: a leaf of kind %d", ErrInvalidOp, l.tag)
	case l.reg || (l.tag == tagPersist && (l.n != 0 || l.lg != 0)):
		return fmt.Errorf("%w: an expiry with a value", ErrInvalidOp)
	}
	return nil
}
