package ormap

import (
	"math"
	"math/bits"
	"slices"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// node is one key path in the index of a map's store: the dots of the
// leaves whose path ends here, the longer paths below it, and the sum of
// the counter increments held here. The index is kept up to date by the
// kernel's Watch, so reading a value costs a walk down its path.
//
// What a node calls dots are the store's keys (see state.watch): a leaf's
// dot, except for a counter leaf that continues a chain, whose key is the
// chain's first dot (leafKey). An increment that continues a chain leaves
// its node's key as it is; a reader that needs the dot itself (an op's
// drop, a reset entry, a comparison of a chain's leaves) reads it with the
// leaf (dotkernel.Kernel.GetDot).
//
// A node is 48 bytes, so that with its key path it fills a slot of 64
// bytes, one cache line, in its parent's table: what a node has only
// sometimes (a second dot, children, expiries) is behind one pointer.
type node struct {
	one  [1]vclock.Dot // the dot, while there is one (a zero Seq: none)
	ext  *nodeExt      // nil while the node has at most one dot and nothing below it
	lo   uint64        // the sum of the increments here, as a 96-bit integer
	hi   int32         // (no store holds the 2^32 increments that would pass it)
	live uint32        // dots of values at or below this node (no store holds 2^32)
}

// nodeExt is what a node holds besides its first dot, when it has more:
// the dots, once there are more than one (in buf while they fit: one
// allocation for the second dot of a key, not two); the longer paths
// (none for every key of a map of counters or registers, and for a set's
// elements); the expiries and persists at or below it (none in a map
// that never expires anything).
type nodeExt struct {
	ds  []vclock.Dot // the dots, while there are more than one; else nil
	buf [2]vclock.Dot
	ch  *children
	x   *nodeTTL
	at  *dotIndex // once ds holds bigNode dots: where each is, whose they are
}

// bigNode is the number of dots from which a node indexes them (see
// dotIndex). A key holds one dot per writer that wrote it concurrently
// (per chain, for a counter), a handful in an honest map; but a state can
// carry a key written by thousands of writers, and without the index
// every dot added or dropped there would cost a walk of all the others.
const bigNode = 32

// dotIndex indexes the dots of a node that holds many (see bigNode):
// where each is in the node's slice, and how many each writer has, so
// that dropping a dot, and asking whether a writer has another, cost a
// look-up, not a walk. Once a writer has asked for its own dots there
// (ownDots: the local writer, whose increments continue its newest
// chain), it keeps them too, so that the next increment finds them
// without a walk of every writer's.
type dotIndex struct {
	pos map[vclock.Dot]int
	per map[vclock.ReplicaID]int
	// ownOf is the writer whose dots own holds, "" while none has asked.
	ownOf vclock.ReplicaID
	own   []vclock.Dot
}

// index builds the dot index of e from e.ds.
func (e *nodeExt) index() {
	x := &dotIndex{pos: make(map[vclock.Dot]int, 2*len(e.ds)), per: map[vclock.ReplicaID]int{}}
	for i, d := range e.ds {
		x.pos[d] = i
		x.per[d.Replica]++
	}
	e.at = x
}

// kids returns the longer paths below n, or nil.
func (n *node) kids() *children {
	if n.ext == nil {
		return nil
	}
	return n.ext.ch
}

// ttl returns the expiries and persists at or below n, or nil.
func (n *node) ttl() *nodeTTL {
	if n.ext == nil {
		return nil
	}
	return n.ext.x
}

// more returns the extension of n, making it if n has none.
func (n *node) more() *nodeExt {
	if n.ext == nil {
		n.ext = new(nodeExt)
	}
	return n.ext
}

// trim drops the extension of n if it holds nothing.
func (n *node) trim() {
	if e := n.ext; e != nil && e.ds == nil && e.ch == nil && e.x == nil {
		n.ext = nil
	}
}

// multi reports whether n holds its dots in its extension.
func (n *node) multi() bool { return n.ext != nil && n.ext.ds != nil }

// children are the longer paths below a node, each by its whole key
// path: a prefix of the path of the leaves below it, which the index
// holds without a copy, and which a view of the key can take as its own
// path (see Counter).
//
// The child nodes are held in place, in the slice or the table, not
// each in an allocation of its own: a new key costs no allocation in the
// index but its share of the table's growth, and one probe of the table,
// not a look-up and then an insert. A pointer to a child is therefore
// valid only until the next child is added to the same node (adding
// moves nodes, when the slice or the table grows) or, for the slice, the
// next is removed; the index hands them out only for the length of a
// walk that adds no child to the node it came from.
type children struct {
	few  []kid                         // while there are at most maxFew
	kids dotkernel.Table[string, node] // once there are more
	big  bool                          // kids is in use, few is not
}

// nodeTTL is what a node of a map that expires keys holds of expiries
// and persists (see Map.Expire).
type nodeTTL struct {
	dots  []vclock.Dot // those of the key whose path ends at the node
	below uint32       // those at or below the node
}

// dots returns the dots of the leaves whose path ends at n (not those of
// expiries and persists), in unspecified order. The slice is the node's:
// the caller must not modify it, nor keep it past the next change.
func (n *node) dots() []vclock.Dot {
	switch {
	case n.multi():
		return n.ext.ds
	case n.one[0].Seq == 0:
		return nil
	}
	return n.one[:]
}

// addDot adds the dot d to the dots of n. A node holds its first dot
// itself, and all of them in its extension once there are more: the
// node of a key with one write (a counter incremented once, a register,
// a set element) has no room for a slice header too.
func (n *node) addDot(d vclock.Dot) {
	switch {
	case n.multi():
		e := n.ext
		e.ds = append(e.ds, d)
		switch {
		case e.at != nil:
			x := e.at
			x.pos[d] = len(e.ds) - 1
			x.per[d.Replica]++
			if x.ownOf != "" && d.Replica == x.ownOf {
				x.own = append(x.own, d)
			}
		case len(e.ds) >= bigNode:
			e.index()
		}
	case n.one[0].Seq == 0:
		n.one[0] = d
	default:
		e := n.more()
		e.buf = [2]vclock.Dot{n.one[0], d}
		e.ds = e.buf[:]
		n.one[0] = vclock.Dot{}
	}
}

// dropDot removes the dot d from the dots of n, if it is there.
func (n *node) dropDot(d vclock.Dot) {
	if !n.multi() {
		if n.one[0] == d {
			n.one[0] = vclock.Dot{}
		}
		return
	}
	e := n.ext
	var ds []vclock.Dot
	if e.at != nil {
		ds = e.dropIndexed(d)
	} else {
		ds = removeDot(e.ds, d)
	}
	if len(ds) == 1 {
		n.one[0], e.ds, e.buf = ds[0], nil, [2]vclock.Dot{}
		n.trim()
		return
	}
	e.ds = ds
}

// dropIndexed removes d from e.ds, which e.at indexes, as removeDot
// would, and returns what is left; the index goes once fewer than half
// of bigNode dots are left.
func (e *nodeExt) dropIndexed(d vclock.Dot) []vclock.Dot {
	x := e.at
	i, ok := x.pos[d]
	if !ok {
		return e.ds
	}
	last := len(e.ds) - 1
	if i != last {
		e.ds[i] = e.ds[last]
		x.pos[e.ds[i]] = i
	}
	e.ds[last] = vclock.Dot{}
	delete(x.pos, d)
	if x.per[d.Replica]--; x.per[d.Replica] == 0 {
		delete(x.per, d.Replica)
	}
	if x.ownOf != "" && d.Replica == x.ownOf {
		x.own = removeDot(x.own, d)
	}
	if last < bigNode/2 {
		e.at = nil
	}
	return e.ds[:last]
}

// ownDots returns the dots of writer w at n, and true, if n indexes its
// dots; nil and false if it does not, and the caller walks n.dots(). The
// first call for w walks the node's dots once (walked says how many it
// looked at); later ones cost nothing while w asks (see dotIndex). The
// slice is the index's: the caller must not modify it, nor keep it past
// the next change of n.
func (n *node) ownDots(w vclock.ReplicaID) (ds []vclock.Dot, walked int, ok bool) {
	if n.ext == nil || n.ext.at == nil {
		return nil, 0, false
	}
	x := n.ext.at
	if x.ownOf != w {
		x.ownOf, x.own = w, x.own[:0]
		if x.per[w] > 0 {
			walked = len(n.ext.ds)
			for _, d := range n.ext.ds {
				if d.Replica == w {
					x.own = append(x.own, d)
				}
			}
		}
	}
	return x.own, walked, true
}

// hasOther reports whether n holds a dot of d's writer other than d.
func (n *node) hasOther(d vclock.Dot) bool {
	if !n.multi() {
		x := n.one[0]
		return x.Seq != 0 && x.Seq != d.Seq && x.Replica == d.Replica
	}
	if x := n.ext.at; x != nil {
		c := x.per[d.Replica]
		if _, here := x.pos[d]; here {
			c--
		}
		return c > 0
	}
	for _, x := range n.ext.ds {
		// A writer's dots differ in their sequence numbers: d itself
		// is passed over without a look at the replica.
		if x.Seq != d.Seq && x.Replica == d.Replica {
			return true
		}
	}
	return false
}

// ttlDots returns the dots of the expiries and persists of the key whose
// path ends at n.
func (n *node) ttlDots() []vclock.Dot {
	if x := n.ttl(); x != nil {
		return x.dots
	}
	return nil
}

// empty reports whether no dot is at or below n.
func (n *node) empty() bool { return n.live == 0 && (n.ttl() == nil || n.ext.x.below == 0) }

// kid is a child of a node: its key path (that of the node, then one
// more segment) and its node.
type kid struct {
	p string
	n node
}

// maxFew is how many children a node keeps in a slice before a table: a
// small table costs hundreds of bytes, and nested maps, sets and carts
// mostly have a few keys.
const maxFew = 8

// child returns the child of n whose key path is p, or nil.
func (n *node) child(p string) *node {
	c := n.kids()
	if c == nil {
		return nil
	}
	if c.big {
		return c.kids.Find(p)
	}
	for i := range c.few {
		if c.few[i].p == p {
			return &c.few[i].n
		}
	}
	return nil
}

// lookupChild returns the child of n whose key path is p, or nil and where
// [node.insertChild] puts it: one probe of the table for both.
func (n *node) lookupChild(p string) (*node, dotkernel.Place) {
	c := n.kids()
	if c == nil {
		return nil, dotkernel.Place{}
	}
	if c.big {
		return c.kids.Lookup(p)
	}
	for i := range c.few {
		if c.few[i].p == p {
			return &c.few[i].n, dotkernel.Place{}
		}
	}
	return nil, dotkernel.Place{}
}

// lookupKid is lookupChild, returning also the child's key path as the
// index holds it, if n has the child: a string a view of the key can keep
// as its own path, where p may be built in a buffer that is reused.
func (n *node) lookupKid(p string) (*node, string, dotkernel.Place) {
	c := n.kids()
	if c == nil {
		return nil, "", dotkernel.Place{}
	}
	if c.big {
		k, x, at := c.kids.LookupKey(p)
		return x, k, at
	}
	for i := range c.few {
		if c.few[i].p == p {
			return &c.few[i].n, c.few[i].p, dotkernel.Place{}
		}
	}
	return nil, "", dotkernel.Place{}
}

// insertChild makes x the child of n whose key path is p, which n has
// not; at is what lookupChild of p returned, n not having changed since.
func (n *node) insertChild(at dotkernel.Place, p string, x node) {
	c := n.kids()
	if c == nil {
		c = new(children)
		n.more().ch = c
	}
	switch {
	case c.big:
		c.kids.Insert(at, p, x)
	case len(c.few) < maxFew:
		c.few = append(c.few, kid{p, x})
	default:
		c.kids.Reserve(maxFew + 1)
		for _, k := range c.few {
			c.kids.Put(k.p, k.n)
		}
		c.kids.Put(p, x)
		c.few, c.big = nil, true
	}
}

// addKid is insertChild of an empty node, which it returns, in place,
// for the caller to fill: the node is not built apart and then copied
// in. The pointer is valid until the next child is added to n.
func (n *node) addKid(at dotkernel.Place, p string) *node {
	c := n.kids()
	if c == nil {
		c = new(children)
		n.more().ch = c
	}
	switch {
	case c.big:
		return c.kids.Add(at, p)
	case len(c.few) < maxFew:
		c.few = append(c.few, kid{p: p})
		return &c.few[len(c.few)-1].n
	}
	n.insertChild(at, p, node{}) // into a table, with those of the slice
	return c.kids.Find(p)
}

// newKey makes n, a node that addKid has just made, hold the one dot d
// of a value with increment inc: count and addHere for a node that holds
// nothing yet, without their tests (one dot, no extension, a sum of inc,
// sign-extended to 96 bits).
func (n *node) newKey(d vclock.Dot, inc int64) {
	n.one[0] = d
	n.lo, n.hi = uint64(inc), int32(inc>>63)
	n.live = 1
}

// reserveKids makes room for k children of n at once, when n has none.
func (n *node) reserveKids(k int) {
	if n.kids() == nil && k > maxFew {
		c := &children{big: true}
		c.kids.Reserve(k)
		n.more().ch = c
	}
}

// kidsAtOnce makes the table of n's children, if n has one, grow by
// moving every child at once while on is true (see
// dotkernel.Table.GrowAtOnce), for a batch of inserts about as large as
// the table.
func (n *node) kidsAtOnce(on bool) {
	if c := n.kids(); c != nil && c.big {
		c.kids.GrowAtOnce(on)
	}
}

// dropChild removes the child of n whose key path is p.
func (n *node) dropChild(p string) {
	c := n.kids()
	if c == nil {
		return
	}
	if c.big {
		c.kids.Remove(p)
		return
	}
	for i := range c.few {
		if c.few[i].p == p {
			last := len(c.few) - 1
			c.few[i] = c.few[last]
			c.few[last] = kid{}
			c.few = c.few[:last]
			return
		}
	}
}

// numKids returns the number of children of n.
func (n *node) numKids() int {
	c := n.kids()
	switch {
	case c == nil:
		return 0
	case c.big:
		return c.kids.Len()
	}
	return len(c.few)
}

// eachKid calls f with each child of n and its key path, in unspecified
// order, until f returns false. It reports whether f never did. f must
// not add or remove children of n.
func (n *node) eachKid(f func(p string, c *node) bool) bool {
	c := n.kids()
	if c == nil {
		return true
	}
	if c.big {
		for p, x := range c.kids.All() {
			if !f(p, x) {
				return false
			}
		}
		return true
	}
	for i := range c.few {
		if !f(c.few[i].p, &c.few[i].n) {
			return false
		}
	}
	return true
}

// eachAt calls f with each node depth segments below n, whose path is
// p, and its path.
func (n *node) eachAt(p string, depth int, f func(p string, x *node)) {
	if depth == 0 {
		f(p, n)
		return
	}
	n.eachKid(func(cp string, c *node) bool {
		c.eachAt(cp, depth-1, f)
		return true
	})
}

// find returns the node of path p, or nil if no value's dot is at or
// below it.
func (n *node) find(p string) *node {
	if n = n.lookup(p); n == nil || n.live == 0 {
		return nil
	}
	return n
}

// lookup returns the node of path p, or nil if no dot is at or below it.
func (n *node) lookup(p string) *node {
	for rest := p; rest != ""; {
		_, r, ok := nextSeg(rest)
		if !ok {
			return nil
		}
		if n = n.child(p[:len(p)-len(r)]); n == nil {
			return nil
		}
		rest = r
	}
	if n.empty() {
		return nil
	}
	return n
}

// add indexes the dot d of a leaf at path p, with increment inc; ttl
// says the leaf is an expiry or a persist. It returns the node of p, or
// nil if it made the nodes of more than p's last segment (then d is p's
// only dot). The node is valid until the next change to the index.
func (n *node) add(p string, d vclock.Dot, inc int64, ttl bool) *node {
	for rest := p; ; {
		n.count(ttl)
		_, r, ok := nextSeg(rest)
		if !ok {
			break
		}
		q := p[:len(p)-len(r)]
		c, at := n.lookupChild(q)
		if c == nil {
			// A new key: its node, and those of the rest of the path,
			// are built before they go in, so that the key costs one
			// probe of n's children.
			if r == "" { // the end of the path: newPath, in place
				c = n.addKid(at, q)
				c.count(ttl)
				c.addHere(d, inc, ttl)
				return c
			}
			n.insertChild(at, q, newPath(p, r, d, inc, ttl))
			return nil
		}
		n, rest = c, r
	}
	n.addHere(d, inc, ttl)
	return n
}

// addKey is add for a leaf of a top-level key of a map whose key paths
// have one segment, p being the whole path: the key is n's child p, found
// with one probe, without splitting p into segments. The leaf is a
// value's, not an expiry's or a persist's. A key's second dot takes its
// node's extension from exts. It reports whether the key held another
// dot of d's writer before (see indexUnsettled), found among the dots it
// looks at anyway: none for a new key, the one for a key of one dot.
func (n *node) addKey(p string, d vclock.Dot, inc int64, exts *extChunks) (same bool) {
	n.live++
	c, at := n.lookupChild(p)
	switch {
	case c == nil:
		c = n.addKid(at, p)
	case c.multi():
		same = c.hasOther(d)
	case c.one[0].Seq != 0:
		x := c.one[0]
		same = x.Seq != d.Seq && x.Replica == d.Replica
		if c.ext == nil {
			c.ext = exts.take()
		}
	}
	c.live++
	c.addDot(d)
	c.addInc(inc)
	return same
}

// extChunks hands out node extensions from arrays of a few, for a join
// that gives many keys their second dot (two replicas' counters meeting):
// one allocation for up to maxExtChunk extensions, not one each. The
// arrays grow from 1 to maxExtChunk extensions, so that a join that makes
// few leaves few unused; an array stays alive while one of its extensions
// does, which bounds what a node that drops back to one dot leaves behind
// at maxExtChunk - 1 unused extensions per array still in use.
type extChunks struct {
	free []nodeExt // what is left of the last array
	next int       // the size of the array after it
}

// maxExtChunk is the most extensions one array of extChunks holds: 16 of
// 96 bytes, 1,536 bytes, a size the allocator has (as it has 768, 384
// and 192), where 32 would be rounded up to 3,072.
const maxExtChunk = 16

// take returns a zero extension.
func (a *extChunks) take() *nodeExt {
	if len(a.free) == 0 {
		a.next = min(max(2*a.next, 1), maxExtChunk)
		a.free = make([]nodeExt, a.next)
	}
	e := &a.free[0]
	a.free = a.free[1:]
	return e
}

// newPath returns the node of a path that is not indexed yet, holding
// just the dot d of a leaf at path p, rest being the part of p below the
// node, as add would make it.
func newPath(p, rest string, d vclock.Dot, inc int64, ttl bool) node {
	var x node
	x.count(ttl)
	_, r, ok := nextSeg(rest)
	if !ok {
		x.addHere(d, inc, ttl)
		return x
	}
	x.more().ch = &children{few: []kid{{p[:len(p)-len(r)], newPath(p, r, d, inc, ttl)}}}
	return x
}

// addHere adds the dot d, with increment inc, to the dots of the key
// whose path ends at n; ttl is as for add.
func (n *node) addHere(d vclock.Dot, inc int64, ttl bool) {
	if ttl {
		n.ext.x.dots = append(n.ext.x.dots, d)
		return
	}
	n.addDot(d)
	n.addInc(inc)
}

// count counts one more dot at or below n: a value's or, if ttl, an
// expiry's or a persist's.
func (n *node) count(ttl bool) {
	if !ttl {
		n.live++
		return
	}
	e := n.more()
	if e.x == nil {
		e.x = new(nodeTTL)
	}
	e.x.below++
}

// remove takes the dot d of a leaf at path p, with increment inc, out of
// the index, and prunes the nodes left empty; ttl is as for add.
func (n *node) remove(p string, d vclock.Dot, inc int64, ttl bool) {
	n.removeBelow(p, p, d, inc, ttl)
}

// removeBelow is remove for the node n, at the start of rest, the part
// of p below it.
func (n *node) removeBelow(p, rest string, d vclock.Dot, inc int64, ttl bool) {
	if !ttl {
		n.live--
	} else if x := n.ext.x; x != nil {
		if x.below--; x.below == 0 && len(x.dots) == 0 {
			n.ext.x = nil
			n.trim()
		}
	}
	_, r, ok := nextSeg(rest)
	if !ok {
		if ttl {
			if x := n.ttl(); x != nil {
				if x.dots = removeDot(x.dots, d); x.below == 0 {
					n.ext.x = nil
					n.trim()
				}
			}
			return
		}
		n.dropDot(d)
		n.subInc(inc) // not addInc(-inc): -math.MinInt64 is itself
		return
	}
	q := p[:len(p)-len(r)]
	c := n.child(q)
	if c == nil {
		return // cannot happen: every removed dot was added
	}
	c.removeBelow(p, r, d, inc, ttl)
	if c.empty() {
		n.dropChild(q)
	}
}

// removeDot removes d from ds, in place, not keeping the order.
func removeDot(ds []vclock.Dot, d vclock.Dot) []vclock.Dot {
	if i := slices.Index(ds, d); i >= 0 {
		last := len(ds) - 1
		ds[i] = ds[last]
		ds[last] = vclock.Dot{}
		ds = ds[:last]
	}
	return ds
}

func (n *node) addInc(inc int64) {
	var carry uint64
	n.lo, carry = bits.Add64(n.lo, uint64(inc), 0)
	ext := int32(0)
	if inc < 0 {
		ext = -1
	}
	n.hi += ext + int32(carry)
}

// sum returns the sum of the increments at n, saturated to the range of
// an int64.
func (n *node) sum() int64 {
	switch {
	case n == nil:
		return 0
	case n.hi == 0 && n.lo <= math.MaxInt64:
		return int64(n.lo)
	case n.hi == -1 && n.lo > math.MaxInt64:
		return int64(n.lo)
	case n.hi < 0:
		return math.MinInt64
	}
	return math.MaxInt64
}

// under appends every dot at or below n to out, those of expiries and
// persists included.
func (n *node) under(out []vclock.Dot) []vclock.Dot {
	out = append(out, n.dots()...)
	out = append(out, n.ttlDots()...)
	n.eachKid(func(_ string, c *node) bool {
		out = c.under(out)
		return true
	})
	return out
}

// clone returns a copy of the index below n that shares nothing with it
// that either may change: the nodes, their dots, their children and
// their expiries are copied. Copying the index of a map is cheaper than
// building one from the store: no key is hashed, no path is split.
func (n *node) clone() node {
	c := *n
	if n.ext == nil {
		return c
	}
	e := new(nodeExt)
	if n.ext.ds != nil {
		e.ds = append(e.buf[:0], n.ext.ds...)
	}
	if x := n.ext.x; x != nil {
		e.x = &nodeTTL{dots: slices.Clone(x.dots), below: x.below}
	}
	if n.ext.ch != nil {
		e.ch = n.ext.ch.clone()
	}
	if n.ext.at != nil {
		e.index()
	}
	c.ext = e
	return c
}

func (ch *children) clone() *children {
	c := &children{big: ch.big}
	if !ch.big {
		c.few = make([]kid, len(ch.few), cap(ch.few))
		for i := range ch.few {
			c.few[i] = kid{ch.few[i].p, ch.few[i].n.clone()}
		}
		return c
	}
	c.kids = ch.kids.Clone()
	for _, x := range c.kids.All() {
		if x.ext != nil {
			*x = x.clone()
		}
	}
	return c
}
