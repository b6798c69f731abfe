package dotkernel

import (
	"cmp"
	"math/bits"
	"runtime"
	"slices"
	"unsafe"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// The encoding of a kernel, inside a message body, is one msgpack array of
// three to six fields:
//
//	[0] context   the causal context, as vclock.Context.Encode writes it
//	[1] keys      the number of present keys
//	[2] store     an array with one group per replica that has dots in the
//	              store, in increasing order of replica ID; a group is an
//	              array: the replica, then for each of its dots in
//	              increasing order of sequence number, the difference from
//	              the previous dot's sequence number (from 0 for the first),
//	              the key and, if the type has values, the value
//	[3] records   the drop records, oldest first, each an array: the
//	              mutation's replica and sequence number, the key, then
//	              each dropped dot's replica and sequence number, sorted
//	[4] horizon   the horizon, as vclock.Clock.Encode writes it
//	[5] ghosts    an array of the ghost dots, sorted, each as its replica
//	              and sequence number
//
// The optional fields 3 to 5 are written up to the last one that is not
// empty, and no further.
//
// A dot whose predecessor in its group is the previous event of the same
// replica (the usual case: one replica added a run of keys) costs one
// byte. A key supported by several dots appears once per dot, in each
// dot's group.

// Encode writes k into a message being built. putKey writes a key as
// exactly one msgpack value, or is nil when keys are written as
// codec.PutValue writes them (which lets Encode write string keys
// without a call per key); putVal writes a value as exactly one msgpack
// value, or is nil when the values carry nothing (a set's struct{}), in
// which case no value is written. The bytes depend only on what k holds
// and on the order of its records, never on map iteration order.
//
// The message is built in one buffer, sized once: Encode bounds what it
// will write before writing it (exactly, for keys and values of the types
// codec.PutValue writes itself), and streams the store into it in its
// order without sorting or copying the keys (see storePlan). A set's
// store dense in its causal context is measured in the same pass that
// orders it, into a buffer sized from an estimate, which grows once more
// in the rare case it falls short (see encodeSet). Called first
// in a message, it declares the causal context's replicas as the message's
// table, which they become anyway, so that the header goes in front of the
// body without a copy.
func (k *Kernel[K, V]) Encode(w *codec.Writer, putKey func(*codec.Writer, K), putVal func(*codec.Writer, V)) {
	strKeys := false
	if putKey == nil {
		putKey = codec.PutValueOf[K]()
		var probe K
		_, strKeys = any(&probe).(*string)
	}
	first := w.Len() == 0
	var ids []string
	repLen := 5 // a replica's index in a table of any size below 2³²
	if first {
		// The table will be the context's replicas, which include every
		// replica a record names.
		ids = k.ctx.ReplicaIDs()
		repLen = codec.UintLen(uint64(len(ids)))
	}
	nrecs, recBytes := k.liveRecordsLen(repLen)
	fields := 3
	switch {
	case !k.ghosts.isEmpty():
		fields = 6
	case !k.horizon.IsZero():
		fields = 5
	case nrecs > 0:
		fields = 4
	}
	if first {
		w.Table(ids...)
	}
	w.Array(fields)
	k.ctx.Encode(w)
	w.Uint(uint64(k.m.len()))
	rest := recBytes + 24*(k.horizon.Len()+int(min(k.ghosts.count(), 1<<20))) + 32
	if !strKeys || putVal != nil || !k.encodeSet(w, rest) {
		p := k.planStore(putVal != nil, strKeys)
		w.Grow(p.size + rest)
		k.encodeStore(w, &p, putKey, putVal, strKeys)
	}
	if fields >= 4 {
		w.Array(nrecs)
		var buf [1]vclock.Dot
		for i := range k.recs.len() {
			r := k.recs.get(i, &buf)
			if k.horizon.Contains(r.Dot) {
				continue // see liveRecords
			}
			w.Array(3 + 2*len(r.Dropped))
			w.Replica(string(r.Dot.Replica))
			w.Uint(r.Dot.Seq)
			putKey(w, r.Key)
			for _, d := range r.Dropped {
				w.Replica(string(d.Replica))
				w.Uint(d.Seq)
			}
		}
	}
	if fields >= 5 {
		k.horizon.Encode(w)
	}
	if fields == 6 {
		ghosts := k.Ghosts()
		w.Array(2 * len(ghosts))
		for _, g := range ghosts {
			w.Replica(string(g.Replica))
			w.Uint(g.Seq)
		}
	}
}

// guessLen is what a key or value of a type codec.ValueLen cannot measure
// is assumed to take; a larger one grows the buffer as it is written.
const guessLen = 16

// lenOf returns a function that gives the bytes codec.PutValue takes for
// a value of type T, or guessLen.
func lenOf[T any]() func(T) int {
	measure := codec.ValueLenOf[T]()
	return func(v T) int {
		if n, ok := measure(v); ok {
			return n
		}
		return guessLen
	}
}

// liveRecordsLen returns the number of records liveRecords would return
// and a bound on the bytes Encode writes for them, given a bound on the
// bytes of a replica's index in the message's table: exact but for the
// indexes and keys codec.ValueLen cannot measure.
func (k *Kernel[K, V]) liveRecordsLen(repLen int) (n, size int) {
	keyLen := lenOf[K]()
	var buf [1]vclock.Dot
	for i := range k.recs.len() {
		r := k.recs.get(i, &buf)
		if k.horizon.Contains(r.Dot) {
			continue
		}
		n++
		size += codec.ArrayLen(3+2*len(r.Dropped)) + repLen + codec.UintLen(r.Dot.Seq) + keyLen(r.Key)
		for _, d := range r.Dropped {
			size += repLen + codec.UintLen(d.Seq)
		}
	}
	return n, size + 5
}

// storePlan is how Encode streams the store in its order: by replica ID,
// then by sequence number. Each dot gets a coordinate: the replicas with
// dots in the store are laid end to end in order of ID, each over the span
// of its sequence numbers from its lowest to its highest. Walking the
// coordinates in increasing order is walking the store in its encoding
// order, and when the dots are dense (a replica's run of adds, with some
// removed) that walk needs no sort: one pass over the table puts the slot
// of each dot of a window of coordinates at its place in an array, and the
// array is read in order. The array is kept to about a sixth of the
// output by taking the coordinates in a few windows, a pass over the table
// each; sparse dots, whose span would take more passes, are sorted
// instead. A set's store (string keys, no values) whose span fits puts
// the array in the buffer's own room, past what it writes, and takes the
// whole span in one pass (see encodeStrings). The dots of a key with
// several dots are read from Kernel.more
// in each pass and put in place like the others: nothing is allocated for
// them.
type storePlan struct {
	order []uint32 // replica indexes with dots in the store, by ID
	cnt   []int    // per replica index: its dots in the store
	lo    []uint64 // per replica index: its lowest sequence number
	hi    []uint64 // per replica index: its highest
	base  []uint64 // per replica index: the coordinate of lo
	off   []uint64 // per replica index: base - lo, the coordinate of seq 0 (modulo 2⁶⁴)
	span  uint64   // the coordinates in all
	dots  int      // the dots in all
	size  int      // a bound on the bytes the store takes
}

// placed is a dot, by its coordinate, and the table slot of its key.
type placed struct {
	c    uint64
	slot uint32
}

// planStore goes once through the store: it counts the dots of each
// replica, finds their span, and bounds the bytes of the encoding.
// With strKeys, K is string and keys are measured as codec.PutValue
// writes strings, without a call per key.
func (k *Kernel[K, V]) planStore(vals, strKeys bool) storePlan {
	spans := make([]repSpan, len(k.reps))
	note := func(rep uint32, seq uint64) { spans[rep].note(seq) }
	kv := 0 // bytes of keys and values, once per dot
	keyLen, valLen := lenOf[K](), lenOf[V]()
	t := &k.m
	for _, a := range t.arrays() {
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0; m &= m - 1 {
				i := g*groupSize + bits.TrailingZeros64(m)/8
				s := &a.slots[i]
				var n int
				if strKeys {
					n = strLen(len(*any(&s.key).(*string)))
				} else {
					n = keyLen(s.key)
				}
				if vals {
					n += valLen(s.e.v)
				}
				if s.e.single() {
					note(s.e.rep(), s.e.seq())
					kv += n
					continue
				}
				for _, d := range k.more[s.key] {
					note(k.repOf(d), d.Seq)
					kv += n
				}
			}
		}
	}
	return k.planOf(spans, kv)
}

// repSpan is a replica's count of dots and their span, while counting.
type repSpan struct {
	cnt    int
	lo, hi uint64
}

func (sp *repSpan) note(seq uint64) {
	if sp.cnt == 0 || seq < sp.lo {
		sp.lo = seq
	}
	sp.hi = max(sp.hi, seq)
	sp.cnt++
}

// planOf makes the plan of a store whose replicas (by index) have the
// given counts and spans, and whose keys and values take kv bytes once
// per dot. Each replica's coordinates start where the previous one's
// end.
func (k *Kernel[K, V]) planOf(spans []repSpan, kv int) storePlan {
	nr := len(spans)
	p := storePlan{cnt: make([]int, nr), lo: make([]uint64, nr), hi: make([]uint64, nr), base: make([]uint64, nr), off: make([]uint64, nr)}
	for i, sp := range spans {
		p.cnt[i], p.lo[i], p.hi[i] = sp.cnt, sp.lo, sp.hi
		if sp.cnt > 0 {
			p.order = append(p.order, uint32(i))
		}
	}
	slices.SortFunc(p.order, func(a, b uint32) int { return cmp.Compare(k.reps[a], k.reps[b]) })
	p.size = 5 + kv
	for _, r := range p.order {
		p.base[r] = p.span
		p.off[r] = p.span - p.lo[r]
		p.span += p.hi[r] - p.lo[r] + 1
		n, hi := uint64(p.cnt[r]), p.hi[r]
		p.dots += int(n)
		// A step of 128 or more takes 2 or 3 bytes, one of 2¹⁶ or more 5,
		// one of 2³² or more 9; the steps add up to at most hi.
		steps := n + 2*min(n, hi>>7) + 2*min(n, hi>>16) + 4*min(n, hi>>32)
		p.size += 5 + 9 + int(steps)
	}
	return p
}

// strLen returns the bytes codec.PutValue writes for a string of n bytes:
// its shortest header, then the bytes.
func strLen(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	}
	return 5 + n
}

// window returns how many coordinates the placing array covers at once:
// at 4 bytes each, about a sixth of the output (two passes for a replica's
// run of adds).
func (p *storePlan) window() uint64 { return uint64(max(4096, p.size/24)) }

func (p *storePlan) coord(rep uint32, seq uint64) uint64 { return p.off[rep] + seq }

// touchBatch is how many slots encodeStore touches ahead of writing them.
const touchBatch = 64

// maxWindows is how many passes over the table Encode makes, at most, to
// put the dots in order; beyond that it sorts them.
const maxWindows = 8

func (k *Kernel[K, V]) encodeStore(w *codec.Writer, p *storePlan, putKey func(*codec.Writer, K), putVal func(*codec.Writer, V), strKeys bool) {
	strOnly := strKeys && putVal == nil // a set's store: a step and a string per dot
	stride := 2
	if putVal != nil {
		stride = 3
	}
	w.Array(len(p.order))
	if p.dots == 0 {
		return
	}
	// With KeyOf set, each dot is written where its key goes (see
	// Kernel.KeyOf): the bytes of the same store keyed by its dots.
	dotKey := k.KeyOf != nil
	var putDot func(*codec.Writer, vclock.Dot) // putKey, for K = vclock.Dot
	if dotKey {
		var isDot bool
		if putDot, isDot = any(putKey).(func(*codec.Writer, vclock.Dot)); !isDot {
			panic("dotkernel: Encode of a kernel with KeyOf needs vclock.Dot keys")
		}
	}
	// emit writes the dot of coordinate c, whose key is in slot, after
	// the group header if it is the first of its replica.
	g, end, prev, off := -1, uint64(0), uint64(0), uint64(0)
	var rep uint32
	emit := func(c uint64, slot uint32) {
		for c >= end {
			g++
			rep = p.order[g]
			end = p.base[rep] + p.hi[rep] - p.lo[rep] + 1
			off = p.off[rep]
			w.Array(1 + stride*p.cnt[rep])
			w.Replica(string(k.reps[rep]))
			prev = 0
		}
		seq := c - off
		s := k.m.slotAt(int(slot))
		if strOnly {
			w.UintString(seq-prev, *any(&s.key).(*string))
			prev = seq
			return
		}
		w.Uint(seq - prev)
		prev = seq
		if dotKey {
			// Typed once above: a conversion through any per dot cost
			// about 13 instructions a key.
			putDot(w, vclock.Dot{Replica: k.reps[rep], Seq: seq})
		} else {
			putKey(w, s.key)
		}
		if putVal != nil {
			putVal(w, s.e.v)
		}
	}
	if strOnly && k.encodeStrings(w, p) {
		return
	}
	win := p.window()
	if (p.span+win-1)/win > maxWindows {
		k.emitSorted(p, emit)
		return
	}
	win = min(win, p.span)
	pos := make([]uint32, win) // slot+1 of the dot of each coordinate of the window, or 0
	t := &k.m
	var sink uint64 // where the touches go (encoding only reads: no field of k may take them)
	for lo := uint64(0); lo < p.span; lo += win {
		n := min(win, p.span-lo)
		k.placeSlots(p, pos, lo, n)
		// The slots are read in no order, each likely a cache miss in a
		// large table; touching a batch of them first lets those misses
		// overlap instead of following one another.
		for at := uint64(0); at < n; at += touchBatch {
			batch := pos[at:min(n, at+touchBatch)]
			for _, s := range batch {
				if s != 0 {
					sink += t.slotAt(int(s - 1)).e.d
				}
			}
			for j, s := range batch {
				if s != 0 {
					emit(lo+at+uint64(j), s-1)
				}
			}
		}
		clear(pos)
	}
	runtime.KeepAlive(sink)
}

// placeSlots puts in pos the number, plus one, of the table slot of each
// dot of the store whose coordinate c is in [lo, lo+n), at pos[c-lo]: one
// pass over the table.
func (k *Kernel[K, V]) placeSlots(p *storePlan, pos []uint32, lo, n uint64) {
	for _, a := range k.m.arrays() {
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0; m &= m - 1 {
				i := g*groupSize + bits.TrailingZeros64(m)/8
				e := a.slots[i].e
				if !e.single() {
					for _, d := range k.more[a.slots[i].key] {
						if j := p.coord(k.repOf(d), d.Seq) - lo; j < n {
							pos[j] = uint32(a.base+i) + 1
						}
					}
					continue
				}
				if j := p.off[e.rep()] + e.seq() - lo; j < n {
					pos[j] = uint32(a.base+i) + 1
				}
			}
		}
	}
}

// stringPlace is what writeStrings bounds a dot's bytes by, beyond its
// key's: a step (9 bytes at most), a string header (5) and the header of
// a group the dot may begin (an array header and a replica's index, 5
// bytes each).
const stringPlace = 9 + 5 + 10

// encodeStrings is encodeStore for a set's store (string keys, no
// values) when the slot numbers of the whole span fit, 4 bytes a
// coordinate, in the room left after the bound Encode grew the buffer by
// (keys of about 2 bytes or more, for a dense store). It places them at
// the end of that room, in one pass over the table and with nothing
// allocated, then writes the entries (see writeStrings). It reports
// false, having written nothing, if the span does not fit.
func (k *Kernel[K, V]) encodeStrings(w *codec.Writer, p *storePlan) bool {
	pos, posAt, ok := roomFor(w, p.span)
	if !ok {
		return false
	}
	k.placeSlots(p, pos, 0, p.span)
	k.writeStrings(w, p, pos, posAt, true)
	return true
}

// roomFor returns an array of n slot numbers, cleared, at the end of the
// room w has left, and where it starts in the body; false if it does not
// fit.
func roomFor(w *codec.Writer, n uint64) (pos []uint32, posAt int, ok bool) {
	room := w.Room()
	if n > uint64(len(room)/4) || len(room) < 8 {
		return nil, 0, false
	}
	at := len(room) - 4*int(n)
	at -= int((uintptr(unsafe.Pointer(&room[0])) + uintptr(at)) % 4) // aligned for uint32
	if at < 0 {
		return nil, 0, false
	}
	pos = unsafe.Slice((*uint32)(unsafe.Pointer(&room[at])), n) // slot+1 of the dot of each coordinate, or 0
	clear(pos)
	return pos, w.Len() + at, true
}

// encodeSet is Encode's store for a set (string keys, no values) in one
// pass over the table, when the store is dense in its causal context: its
// coordinates are those of the context's span of each replica, known
// before the pass, so that the pass that counts the dots and bounds the
// bytes also places their slot numbers, in the room of a buffer grown by
// an estimate of the bytes (from the keys of the first slots). If the
// estimate falls short the buffer grows again once the bound is known.
// rest is the bound on what Encode writes after the store. It reports
// false, having written nothing, when the context's span is too sparse
// for the room, or a dot lies outside it.
func (k *Kernel[K, V]) encodeSet(w *codec.Writer, rest int) bool {
	nr := len(k.reps)
	t := &k.m
	if nr == 0 || t.len() == 0 {
		return false
	}
	// The context's span of each replica of the table, laid end to end
	// in order of ID (the context's order).
	reps := make([]setRep, nr)
	span := uint64(0)
	{
		var id vclock.ReplicaID
		var lo, hi uint64
		var index map[vclock.ReplicaID]int
		if nr > 8 {
			index = make(map[vclock.ReplicaID]int, nr)
			for r, rid := range k.reps {
				index[rid] = r
			}
		}
		flush := func() {
			if id == "" {
				return
			}
			r, ok := -1, false
			if index != nil {
				r, ok = index[id]
			} else {
				r = slices.Index(k.reps, id)
				ok = r >= 0
			}
			if ok {
				reps[r].off, reps[r].top = span-lo, hi
			}
			span += hi - lo + 1
		}
		for rg := range k.ctx.Ranges() {
			if rg.Replica != id {
				flush()
				id, lo = rg.Replica, rg.Lo
			}
			hi = rg.Hi
		}
		flush()
	}
	dots := t.len()
	for _, ds := range k.more {
		dots += len(ds) - 1
	}
	// The bytes of a dot, estimated from the first keys in the table (in
	// no particular order of theirs): a step of one byte, and the key.
	sample, sampled := 0, 0
	for _, a := range t.arrays() {
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0 && sampled < 256; m &= m - 1 {
				i := g*groupSize + bits.TrailingZeros64(m)/8
				sample += 1 + strLen(len(*any(&a.slots[i].key).(*string)))
				sampled++
			}
			if sampled == 256 {
				break
			}
		}
	}
	est := dots*sample/sampled + dots*sample/sampled/16 + 14*nr + 64
	if span > uint64(est/4) {
		return false // sparse: the plan and windows of encodeStore
	}
	w.Grow(est + rest)
	pos, posAt, ok := roomFor(w, span)
	if !ok {
		return false
	}
	kv, outside := 0, false
	for _, a := range t.arrays() {
		slots := a.slots
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0; m &= m - 1 {
				i := g*groupSize + bits.TrailingZeros64(m)/8
				s := &slots[i]
				n := len(keyString(&s.key)) + 1
				if n > 32 {
					n = strLen(n - 1)
				}
				slot := uint32(a.base+i) + 1
				if e := s.e; e.single() {
					sr, seq := &reps[e.rep()], e.seq()
					sr.cnt++
					kv += n
					if j := sr.off + seq; seq <= sr.top && j < uint64(len(pos)) {
						pos[j] = slot
					} else {
						outside = true
					}
					continue
				}
				for _, d := range k.more[s.key] {
					sr := &reps[k.repOf(d)]
					sr.cnt++
					kv += n
					if j := sr.off + d.Seq; d.Seq <= sr.top && j < uint64(len(pos)) {
						pos[j] = slot
					} else {
						outside = true
					}
				}
			}
		}
	}
	if outside {
		return false // not in the context: a state no kernel reaches, encoded the usual way
	}
	spans := make([]repSpan, nr)
	off := make([]uint64, nr)
	for r, sr := range reps {
		off[r] = sr.off
		if sr.cnt > 0 {
			// The context's span: the group ends where the next replica's
			// coordinates begin, and its steps add up to at most top.
			spans[r] = repSpan{cnt: sr.cnt, lo: sr.top - uint64(sr.cnt) + 1, hi: sr.top}
		}
	}
	p := k.planOf(spans, kv)
	p.off, p.span = off, span
	inPlace := true
	if room := len(w.Room()); p.size+rest > room {
		// The estimate fell short: a larger buffer, the slot numbers
		// staying where they are, out of its way.
		w.Grow(p.size + rest)
		inPlace = false
	}
	w.Array(len(p.order))
	k.writeStrings(w, &p, pos, posAt, inPlace)
	return true
}

// setRep is what encodeSet keeps of a replica: the coordinate of its
// sequence number 0, the highest the context holds, and the count of its
// dots in the store.
type setRep struct {
	off, top uint64
	cnt      int
}

// writeStrings writes a set's store whose dots' slot numbers (plus one)
// pos holds by coordinate, in order of coordinate, each short step and
// key by index. If inPlace, pos is in the room of w at body offset posAt:
// the entries written move towards the slot numbers not yet read, and
// before a batch could reach them (keys much longer early in the span
// than later) the slot numbers left are copied out of the way.
func (k *Kernel[K, V]) writeStrings(w *codec.Writer, p *storePlan, pos []uint32, posAt int, inPlace bool) {
	t := &k.m
	n := len(pos)
	buf, base, o := w.Room(), w.Len(), 0     // the next byte goes to buf[o], at base+o in the body
	g, end, prev := -1, uint64(0), uint64(0) // prev: the coordinate of the group's last dot
	var keys [touchBatch]string
	for lo := 0; lo < n; lo += touchBatch {
		batch := pos[lo:min(n, lo+touchBatch)]
		// Read the batch's keys, their slots in no order and each likely
		// a cache miss in a large table, so that the misses overlap, and
		// bound what the batch writes.
		bound := stringPlace * len(batch)
		for j, s := range batch {
			if s != 0 {
				key := keyString(&t.slotAt(int(s - 1)).key)
				keys[j&(touchBatch-1)] = key
				bound += len(key)
			}
		}
		if inPlace && base+o+bound > posAt+4*lo {
			rest := make([]uint32, n)
			copy(rest[lo:], pos[lo:])
			pos, inPlace = rest, false
			batch = pos[lo:min(n, lo+touchBatch)]
		}
		for j := 0; ; j++ {
			j, prev, o = putShort(batch, &keys, j, uint64(lo), end, prev, buf, o)
			if j == len(batch) {
				break
			}
			// A dot that begins a group, or whose step or key is long.
			c := uint64(lo + j)
			w.Commit(o)
			for c >= end {
				g++
				rep := p.order[g]
				end = p.off[rep] + p.hi[rep] + 1
				prev = p.off[rep]
				w.Array(1 + 2*p.cnt[rep])
				w.Replica(string(k.reps[rep]))
			}
			w.UintString(c-prev, keys[j&(touchBatch-1)])
			prev = c
			buf, base, o = w.Room(), w.Len(), 0
		}
	}
	w.Commit(o)
}

// putShort writes into buf from o the dots of batch from j on, the
// first at coordinate c0 and the keys in keys, as long as each is below
// end and takes a step of one byte and a key shorter than 32 bytes, in
// room that buf has; prev is the coordinate of the dot written before.
// It returns where it stopped (len(batch) at the end of the batch), the
// coordinate of the last dot written, and where the next byte goes.
func putShort(batch []uint32, keys *[touchBatch]string, j int, c0, end, prev uint64, buf []byte, o int) (int, uint64, int) {
	for ; j < len(batch); j++ {
		if batch[j] == 0 {
			continue
		}
		c := c0 + uint64(j)
		key := keys[j&(touchBatch-1)]
		m := o + 2 + len(key)
		if c >= end || c-prev >= 0x80 || len(key) >= 32 || m > len(buf) {
			break
		}
		b := buf[o:m]
		b[0] = byte(c - prev)
		b[1] = 0xa0 | byte(len(key))
		copy(b[2:], key)
		o, prev = m, c
	}
	return j, prev, o
}

// keyString returns the string a key of a type whose underlying type is
// string holds: for K of which strKeys holds.
func keyString[K any](key *K) string { return *(*string)(unsafe.Pointer(key)) }

// emitSorted emits every dot of the store in order of coordinate, having
// sorted them: for dots too sparse for the windows of encodeStore.
func (k *Kernel[K, V]) emitSorted(p *storePlan, emit func(c uint64, slot uint32)) {
	all := make([]placed, 0, p.dots)
	t := &k.m
	for _, a := range t.arrays() {
		for g, cw := range a.ctrl {
			for m := ^cw & msb; m != 0; m &= m - 1 {
				i := g*groupSize + bits.TrailingZeros64(m)/8
				slot := uint32(a.base + i)
				if e := a.slots[i].e; e.single() {
					all = append(all, placed{p.coord(e.rep(), e.seq()), slot})
					continue
				}
				for _, d := range k.more[a.slots[i].key] {
					all = append(all, placed{p.coord(k.repOf(d), d.Seq), slot})
				}
			}
		}
	}
	slices.SortFunc(all, func(a, b placed) int { return cmp.Compare(a.c, b.c) })
	for _, d := range all {
		emit(d.c, d.slot)
	}
}

// Decode reads a kernel written by [Kernel.Encode]. getKey and getVal read
// what putKey and putVal wrote; getVal is nil exactly when putVal was. It
// checks everything before returning: the context and horizon are in their
// canonical form, every stored dot is in the context and supports one key,
// groups and sequence numbers are in increasing order, the key count is
// right, and every record is well formed, unique, beyond the horizon, and
// within the context. (A dropped dot may still be in the store: merging
// states whose histories disagree can leave it so.) On any problem it
// records it on r and
// returns nil. The result's MaxRecords is 0 (the default) and its
// RecordsAll false: the caller sets them.
func Decode[K comparable, V any](r *codec.Reader, getKey func(*codec.Reader) K, getVal func(*codec.Reader) V) *Kernel[K, V] {
	return decodeKernel(r, getKey, getVal, nil, true)
}

// DecodeKeyed is [Decode] for a kernel whose keys are derived from its
// dots and values (see [Kernel.KeyOf]): the key written with each dot
// must be the dot itself (K is vclock.Dot), and the entry is kept under
// keyOf(dot, value). Of two dots of one key, the later is kept with its
// value, as a join keeps it. The result's KeyOf is keyOf.
func DecodeKeyed[K comparable, V any](r *codec.Reader, getKey func(*codec.Reader) K, getVal func(*codec.Reader) V, keyOf func(vclock.Dot, V) K) *Kernel[K, V] {
	return decodeKernel(r, getKey, getVal, keyOf, true)
}

// DecodeWithoutRecords is [Decode] for a type that keeps no drop records
// (register.MV): a kernel with records or a horizon is refused as soon as
// they are met, before anything is allocated for them.
func DecodeWithoutRecords[K comparable, V any](r *codec.Reader, getKey func(*codec.Reader) K, getVal func(*codec.Reader) V) *Kernel[K, V] {
	return decodeKernel(r, getKey, getVal, nil, false)
}

func decodeKernel[K comparable, V any](r *codec.Reader, getKey func(*codec.Reader) K, getVal func(*codec.Reader) V, keyOf func(vclock.Dot, V) K, records bool) *Kernel[K, V] {
	fields := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return nil
	}
	if fields < 3 || fields > 6 {
		r.Fail("dot store with %d fields, want 3 to 6", fields)
		return nil
	}
	k := &Kernel[K, V]{ctx: vclock.DecodeContext(r), KeyOf: keyOf}
	nkeys := r.CanonicalUint()
	if r.Err() != nil {
		return nil
	}
	if nkeys > uint64(r.Remaining()) || nkeys > uint64(r.Limits().MaxItems) {
		r.Fail("dot store claims %d keys in %d bytes", nkeys, r.Remaining())
		return nil
	}
	if !decodeStore(r, k, int(nkeys), getKey, getVal) {
		return nil
	}
	if !records && fields >= 4 {
		if n := r.CanonicalArrayLen(1); r.Err() == nil && (n != 0 || fields < 6) {
			r.Fail("drop records in a dot store that keeps none")
		}
		if fields >= 5 {
			if h := r.CanonicalArrayLen(1); r.Err() == nil && h != 0 {
				r.Fail("a horizon in a dot store that keeps no drop records")
			}
		}
		if r.Err() != nil {
			return nil
		}
	} else if fields >= 4 {
		decodeRecords(r, k, getKey)
		if r.Err() != nil {
			return nil
		}
		if fields == 4 && k.recs.len() == 0 {
			r.Fail("empty drop records written last")
			return nil
		}
	}
	if records && fields >= 5 {
		k.horizon = vclock.DecodeClock(r)
		if r.Err() != nil {
			return nil
		}
		if fields == 5 && k.horizon.IsZero() {
			r.Fail("empty horizon written last")
			return nil
		}
		for i := range k.recs.len() {
			if d := k.recs.dotAt(i); k.horizon.Contains(d) {
				r.Fail("drop record %v within the horizon %v", d, k.horizon)
				return nil
			}
		}
	}
	if fields == 6 && !decodeGhosts(r, k) {
		return nil
	}
	k.ix, k.rix = new(Index[K]), new(Index[uint64])
	// A dot may be both in the store and among the dropped ones. A
	// consistent history never leaves one so, but merging states whose
	// histories disagree (a replica ID reused, a peer gone wrong) can, and
	// the decoder accepts every state the kernel can reach: a replica must
	// always be able to restore its own snapshot.
	return k
}

func decodeStore[K comparable, V any](r *codec.Reader, k *Kernel[K, V], nkeys int, getKey func(*codec.Reader) K, getVal func(*codec.Reader) V) bool {
	stride := 2
	if getVal != nil {
		stride = 3
	}
	ngroups := r.CanonicalArrayLen(2 + stride)
	if r.Err() != nil {
		return false
	}
	// Reserve room for the keys claimed, but no more than the input can
	// hold at 8 bytes a key: a count the input does not bear out must not
	// allocate. A state of smaller keys grows the table as it goes.
	k.m.reserve(min(nkeys, r.Remaining()/8))
	prevID := vclock.ReplicaID("")
	batch := make([]pendingKey[K, V], 0, 16)
	ndots := 0
	for g := range ngroups {
		n := r.CanonicalArrayLen(1)
		if r.Err() != nil {
			return false
		}
		if n < 1+stride || (n-1)%stride != 0 {
			r.Fail("dot store group with %d fields", n)
			return false
		}
		id := vclock.ReplicaID(r.CanonicalReplica())
		if r.Err() != nil {
			return false
		}
		if g > 0 && id <= prevID {
			r.Fail("replica %q out of order in dot store", id)
			return false
		}
		prevID = id
		rep := k.repIndex(id)
		compact := k.ctx.Prefix(id) // dots up to it are in the context
		seq := uint64(0)
		for range (n - 1) / stride {
			delta := r.CanonicalUint()
			key := getKey(r)
			var v V
			if getVal != nil {
				v = getVal(r)
			}
			if r.Err() != nil {
				return false
			}
			if delta == 0 || seq+delta < seq || seq+delta > vclock.MaxSeq {
				r.Fail("sequence number step %d after %d for replica %q", delta, seq, id)
				return false
			}
			seq += delta
			d := vclock.Dot{Replica: id, Seq: seq}
			if seq > compact && !k.ctx.Contains(d) {
				r.Fail("stored dot %v not in the causal context", d)
				return false
			}
			if k.KeyOf != nil {
				if any(key) != any(d) {
					r.Fail("dot %v written with the key %v, not itself", d, key)
					return false
				}
				key = k.KeyOf(d, v)
			}
			ndots++
			w, _ := packed(rep, seq)
			batch = append(batch, pendingKey[K, V]{key: key, e: entry[V]{v: v, d: w}, d: d})
			if len(batch) == cap(batch) {
				k.insertBatch(batch)
				batch = batch[:0]
			}
		}
	}
	k.insertBatch(batch)
	if k.KeyOf != nil {
		// Keys written are dots, one each; two dots of one derived key
		// (a hostile state) keep the later one.
		if ndots != nkeys {
			r.Fail("dot store holds %d dots, claims %d keys", ndots, nkeys)
			return false
		}
		return true
	}
	if k.m.len() != nkeys {
		r.Fail("dot store holds %d keys, claims %d", k.m.len(), nkeys)
		return false
	}
	return true
}

// decodeRecords reads the drop records into k. It allocates as records
// arrive, not for the count claimed.
func decodeRecords[K comparable, V any](r *codec.Reader, k *Kernel[K, V], getKey func(*codec.Reader) K) {
	n := r.CanonicalArrayLen(6)
	if r.Err() != nil || n == 0 {
		return
	}
	k.recIdx = make(map[vclock.Dot]struct{})
	for range n {
		m := r.CanonicalArrayLen(1)
		if r.Err() != nil {
			return
		}
		if m < 5 || m%2 != 1 {
			r.Fail("drop record with %d fields", m)
			return
		}
		d := GetDot(r)
		key := getKey(r)
		if r.Err() != nil {
			return
		}
		if !k.ctx.Contains(d) {
			r.Fail("drop record %v not in the causal context", d)
			return
		}
		if _, dup := k.recIdx[d]; dup {
			r.Fail("drop record %v twice", d)
			return
		}
		rec := Record[K]{Dot: d, Key: key, Dropped: make([]vclock.Dot, 0, (m-3)/2)}
		for range (m - 3) / 2 {
			x := GetDot(r)
			if r.Err() != nil {
				return
			}
			switch {
			case !mayDrop(d, x):
				r.Fail("drop record %v drops the later dot %v", d, x)
				return
			case !k.ctx.Contains(x):
				r.Fail("dot %v dropped by %v not in the causal context", x, d)
				return
			case len(rec.Dropped) > 0 && rec.Dropped[len(rec.Dropped)-1].Compare(x) >= 0:
				r.Fail("dots dropped by %v out of order at %v", d, x)
				return
			}
			rec.Dropped = append(rec.Dropped, x)
		}
		k.recIdx[d] = struct{}{}
		k.recMax.Advance(d.Replica, d.Seq)
		k.recs.appendDecoded(rec)
		k.repIndex(d.Replica) // every record's replica is in the table
	}
}

// decodeGhosts reads the ghost dots into k: sorted, in the context, not
// the dot of a drop record (a recorded mutation was applied).
func decodeGhosts[K comparable, V any](r *codec.Reader, k *Kernel[K, V]) bool {
	n := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return false
	}
	if n == 0 || n%2 != 0 {
		r.Fail("ghost dots written as %d values", n)
		return false
	}
	prev := vclock.Dot{}
	for range n / 2 {
		g := GetDot(r)
		if r.Err() != nil {
			return false
		}
		switch {
		case prev.Valid() && prev.Compare(g) >= 0:
			r.Fail("ghost dot %v out of order", g)
			return false
		case !k.ctx.Contains(g):
			r.Fail("ghost dot %v not in the causal context", g)
			return false
		}
		if _, rec := k.recIdx[g]; rec {
			r.Fail("ghost dot %v has a drop record", g)
			return false
		}
		k.ghosts.add(g)
		prev = g
	}
	return true
}

// pendingKey is a decoded key waiting to go into the store. The entry's
// word is 0 if the dot does not fit it.
type pendingKey[K comparable, V any] struct {
	key K
	e   entry[V]
	d   vclock.Dot
	h   uint64
}

// insertBatch puts decoded keys into the store. Each key lands in a
// random place of a large table, a likely cache miss; hashing the batch
// and touching each key's slot first lets those misses overlap instead of
// following one another.
func (k *Kernel[K, V]) insertBatch(batch []pendingKey[K, V]) {
	if len(batch) == 0 {
		return
	}
	if k.m.ctrl == nil {
		k.m.init(1)
	}
	var sink uint64
	for i := range batch {
		batch[i].h = k.m.hashW(batch[i].key)
		sink += k.m.touch(batch[i].h).d
	}
	k.m.sink = sink
	if k.KeyOf != nil {
		// Derived keys: of two dots of one key, the later stays.
		for _, p := range batch {
			e, ok := k.m.get(p.key)
			switch {
			case !ok:
				k.m.set(p.key, k.single(p.key, p.e.v, p.d))
			case k.holds(p.key, e, p.d) || !k.takeKeyed(p.key, e, p.e.v, p.d, k.repIndex(p.d.Replica)):
				continue
			}
			k.fpAdd(p.key, p.e.v, p.d)
		}
		return
	}
	for _, p := range batch {
		k.fpAdd(p.key, p.e.v, p.d)
		if old, ok := k.m.putHashed(p.key, p.e, p.h); ok {
			k.m.set(p.key, k.addDot(p.key, old, p.d)) // a further dot of a key seen before
		} else if p.e.d == 0 {
			k.m.set(p.key, k.single(p.key, p.e.v, p.d))
		}
	}
}

// GetDot reads a dot written by wire.PutDot, in its canonical form, and
// refuses a sequence number above [vclock.MaxSeq]: no decoder may let a
// peer bring a replica's own next dot past it.
func GetDot(r *codec.Reader) vclock.Dot {
	d := wire.GetDotCanonical(r)
	if r.Err() == nil && d.Seq > vclock.MaxSeq {
		r.Fail("dot %v above the largest sequence number", d)
		return vclock.Dot{}
	}
	return d
}

// CheckContextTable fails r unless the message's replica table is exactly
// the replicas of k's causal context, in order: the one table a state
// whose replicas all appear in its context is encoded with.
func (k *Kernel[K, V]) CheckContextTable(r *codec.Reader) {
	if r.Err() != nil {
		return
	}
	var ids []vclock.ReplicaID
	for rg := range k.Context().Ranges() {
		if len(ids) == 0 || ids[len(ids)-1] != rg.Replica {
			ids = append(ids, rg.Replica)
		}
	}
	if !TableIs(r, ids) {
		r.Fail("replica table %q is not the causal context's replicas in order", r.Replicas())
	}
}

// TableIs reports whether the message's replica table is exactly ids, in
// order.
func TableIs(r *codec.Reader, ids []vclock.ReplicaID) bool {
	t := r.Replicas()
	if len(t) != len(ids) {
		return false
	}
	for i, id := range ids {
		if t[i] != string(id) {
			return false
		}
	}
	return true
}
