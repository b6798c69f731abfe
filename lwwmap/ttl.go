package lwwmap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Per-key time to live.
//
// The expiry of a key is kept apart from its value, as a multi-value
// register of the expire and persist writes in force: those that no later
// expire, persist, put or delete of the key has overwritten at a replica
// that had seen them. Each is a write with a dot in the map's causal
// context, so the register merges like every observed-remove structure of
// the module: a write one side holds and the other has seen (its context
// holds the dot) but no longer holds was overwritten there, and goes. Two
// writes still in force were concurrent, and the key takes the longest
// time to live among them: none at all if one of them is a persist.
//
// A write that overwrote expire or persist writes leaves a drop record
// (its dot, the key, the dots it overwrote) until every replica has seen
// it and the writes it overwrote: a delta for a replica that holds the
// overwritten writes, but not the write that overwrote them, carries the
// record, since its causal context would not name the overwritten dots
// (the replica has seen them). The records also stop a write that arrives
// after one that overwrote it (ops travel in any order) from being taken
// in; the overwritten dots do not enter the causal context before their
// own writes arrive, so that those writes' own effects are not lost.

// ErrAbsent is reported by the op [Map.Expire] or [Map.Persist] returns
// for a key that is not present (never written, deleted, or expired): there
// is nothing whose time to live could be set, and the map is unchanged.
var ErrAbsent = errors.New("lwwmap: key not present")

// ErrInvalidTTL is reported by the op [Map.Expire] returns for a time to
// live that is not positive; the map is unchanged. Delete the key instead.
var ErrInvalidTTL = errors.New("lwwmap: time to live not positive")

// The kinds of op besides put and delete.
const (
	opExpire  = 1
	opPersist = 2
)

// dropRec is a drop record: the key of a write that overwrote expire or
// persist writes, and their dots.
type dropRec[K comparable] struct {
	key  K
	dots dotList
}

// recordDrops keeps the drop record of the write by, of k, that
// overwrote drops.
func (m *Map[K, V]) recordDrops(by vclock.Dot, k K, drops dotList) {
	if drops == "" {
		return
	}
	if _, ok := m.drops[by]; ok {
		return
	}
	if m.drops == nil {
		m.drops = make(map[vclock.Dot]dropRec[K])
		m.dropped = make(map[vclock.Dot]int)
	}
	m.drops[by] = dropRec[K]{k, drops}
	for d := range drops.all() {
		m.dropped[d]++
	}
}

// forgetDrops discards the drop record of by.
func (m *Map[K, V]) forgetDrops(by vclock.Dot) {
	rec, ok := m.drops[by]
	if !ok {
		return
	}
	delete(m.drops, by)
	for d := range rec.dots.all() {
		if m.dropped[d]--; m.dropped[d] <= 0 {
			delete(m.dropped, d)
		}
	}
}

// overwritten reports whether a drop record names the write d.
func (m *Map[K, V]) overwritten(d vclock.Dot) bool {
	return m.dropped[d] > 0
}

// ttlWrite is an expire or a persist of a key still in force.
type ttlWrite struct {
	wall    int64  // timestamp, wall part
	logical uint32 // timestamp, logical part
	rep     uint32 // writer's index in Map.reps
	seq     uint64 // the write's dot is (writer, seq)
	at      int64  // wall time the key expires at; 0 for a persist
}

func (t *ttlWrite) ts() clock.Timestamp { return clock.Timestamp{Wall: t.wall, Logical: t.logical} }

// expireAt returns the wall time of ts plus ttl, saturating.
func expireAt(wall int64, ttl time.Duration) int64 {
	if int64(ttl) > math.MaxInt64-wall {
		return math.MaxInt64
	}
	return wall + int64(ttl)
}

// deadline returns the wall time the writes ws make a value written at
// wall time vw expire at, or 0 if they make it never expire: the latest
// expire-at among the expires after vw, or none if one of ws is a persist.
// No writes, no expiry.
//
// An expire whose instant is not after the value's write does not touch
// it: the key had expired, by the clock that stamped the value, when the
// value was written, and the value made a new key. So an expire that one
// replica has collected (see collectExpired) and another still holds
// reads alike at both once a new value is written: the first can name no
// collected write in the new value's drops, and needs not.
func deadline(ws []ttlWrite, vw int64) int64 {
	var at int64
	for i := range ws {
		if ws[i].at == 0 {
			return 0
		}
		if ws[i].at > vw {
			at = max(at, ws[i].at)
		}
	}
	return at
}

// now returns the wall time keys are judged by: the later of the clock's
// physical time and of every timestamp it has issued or taken in. A map
// without a clock judges by the latest timestamp it holds.
func (m *Map[K, V]) now() int64 {
	if m.clk == nil {
		return m.maxTS.Wall
	}
	return max(m.clk.Physical(), m.clk.Last().Wall)
}

// expiredAt reports whether the time to live of k, whose live entry is
// e, has run out at now. The caller checked that m.ttl is not nil.
func (m *Map[K, V]) expiredAt(k K, e *entry[V], now int64) bool {
	ws, ok := m.ttl[k]
	if !ok {
		return false
	}
	at := m.deadlineOf(k, ws, e.wall)
	return at != 0 && now >= at
}

// expiring reports whether the writes in force for k make its live entry
// e expire (an expire after e and no persist among them); then e does not
// count in the fingerprint (see Map.Fingerprint). A key whose writes
// include a persist counts as a key without any: those writes stay until a
// write of the key overwrites them, and the fingerprint changes with that
// write, alike at every replica.
func (m *Map[K, V]) expiring(k K, e *entry[V]) bool {
	if len(m.ttl) == 0 {
		return false
	}
	ws, ok := m.ttl[k]
	return ok && m.deadlineOf(k, ws, e.wall) != 0
}

// deadlineOf is deadline for ws, the writes of k in force, read from
// k's index if it has one.
func (m *Map[K, V]) deadlineOf(k K, ws []ttlWrite, vw int64) int64 {
	if x := m.ttlIx[k]; x != nil {
		return x.deadline(vw)
	}
	return deadline(ws, vw)
}

// ttlIndexFor returns the index of k, whose writes in force are ws,
// making it if ws are many; nil if they are few. Only writers call it.
func (m *Map[K, V]) ttlIndexFor(k K, ws []ttlWrite) *ttlIndex {
	if x := m.ttlIx[k]; x != nil {
		return x
	}
	if len(ws) < ttlIndexed {
		return nil
	}
	m.ttlWork += len(ws)
	x := newTTLIndex(ws)
	if m.ttlIx == nil {
		m.ttlIx = make(map[K]*ttlIndex)
	}
	m.ttlIx[k] = x
	return x
}

// refit keeps the fingerprint right when the writes in force of k, whose
// entry is e (live if live), went from making it expire (had) or not to
// has.
func (m *Map[K, V]) refit(k K, e *entry[V], live, had, has bool) {
	if !live || had == has {
		return
	}
	h := m.hashOf(keyHash(k), e)
	if had {
		m.fp += h // back in the fingerprint
	} else {
		m.fp -= h
	}
}

// addTTL adds w, a write of k the map had not seen, to the writes of k
// in force: at a cost that does not grow with how many k holds.
func (m *Map[K, V]) addTTL(k K, w ttlWrite) {
	old := m.ttl[k]
	x := m.ttlIndexFor(k, old)
	if x == nil {
		m.setTTL(k, append(append(make([]ttlWrite, 0, len(old)+1), old...), w))
		return
	}
	e, live := m.m.Get(k)
	live = live && !e.deleted()
	had := live && x.deadline(e.wall) != 0
	ws := append(old, w) // the map's own slice: no other holds it
	m.ttl[k] = ws
	m.ttlGen++
	x.add(ws)
	m.ttlWork++
	if m.ttlOrd != nil {
		m.ttlOrd.Add(w.rep, w.seq, k)
	}
	m.refit(k, &e, live, had, live && x.deadline(e.wall) != 0)
}

// liveHash returns the share of the entry e of k (whose keyHash is kh) in
// the fingerprint.
func (m *Map[K, V]) liveHash(k K, kh uint64, e *entry[V]) uint64 {
	if e.deleted() || m.expiring(k, e) {
		return 0
	}
	return m.hashOf(kh, e)
}

// setTTL makes ws the writes in force for k (none: delete), keeping the
// fingerprint right.
func (m *Map[K, V]) setTTL(k K, ws []ttlWrite) {
	m.ttlGen++
	m.ttlWork += len(m.ttl[k]) + len(ws)
	if m.ttlOrd != nil {
		m.noteTTL(k, m.ttl[k], ws)
	}
	if e, ok := m.m.Get(k); ok && !e.deleted() {
		m.refit(k, &e, true, m.expiring(k, &e), len(ws) > 0 && deadline(ws, e.wall) != 0)
	}
	if m.ttlIx[k] != nil {
		delete(m.ttlIx, k) // made for the writes ws replace
	}
	if len(ws) == 0 {
		delete(m.ttl, k)
		return
	}
	if m.ttl == nil {
		m.ttl = make(map[K][]ttlWrite)
	}
	m.ttl[k] = ws
}

// noteTTL tells the order of the expire and persist writes that the
// writes of k go from old to ws.
func (m *Map[K, V]) noteTTL(k K, old, ws []ttlWrite) {
	type wdot struct {
		rep uint32
		seq uint64
	}
	if len(old)*len(ws) > 64 { // forged, most likely
		in := func(ws []ttlWrite) map[wdot]bool {
			s := make(map[wdot]bool, len(ws))
			for _, w := range ws {
				s[wdot{w.rep, w.seq}] = true
			}
			return s
		}
		was, is := in(old), in(ws)
		for _, w := range ws {
			if !was[wdot{w.rep, w.seq}] {
				m.ttlOrd.Add(w.rep, w.seq, k)
			}
		}
		for _, w := range old {
			if !is[wdot{w.rep, w.seq}] {
				m.ttlOrd.Dropped()
			}
		}
		return
	}
	for _, w := range ws {
		if !hasWrite(old, w.rep, w.seq) {
			m.ttlOrd.Add(w.rep, w.seq, k)
		}
	}
	for _, w := range old {
		if !hasWrite(ws, w.rep, w.seq) {
			m.ttlOrd.Dropped()
		}
	}
}

// hasWrite reports whether ws holds the write (rep, seq).
func hasWrite(ws []ttlWrite, rep uint32, seq uint64) bool {
	for i := range ws {
		if ws[i].rep == rep && ws[i].seq == seq {
			return true
		}
	}
	return false
}

// holdsTTLWrite reports whether the write (reps[rep], seq) is an expire
// or persist write of k in force.
func (m *Map[K, V]) holdsTTLWrite(rep uint32, seq uint64, k K) bool {
	return hasWrite(m.ttl[k], rep, seq)
}

// makeTTLOrder makes the order of the expire and persist writes, if
// there is none, in one pass over them.
func (m *Map[K, V]) makeTTLOrder() {
	if m.ttlOrd != nil {
		return
	}
	for _, ws := range m.ttl {
		m.seenWork += len(ws)
	}
	m.ttlOrd = dotkernel.NewOrder(func(note func(rep uint32, seq uint64, k K)) {
		for k, ws := range m.ttl {
			for _, w := range ws {
				note(w.rep, w.seq, k)
			}
		}
	})
}

// clearTTL drops the expire and persist writes of k, recording nothing,
// and returns their dots: a local put, delete, expire or persist of k has
// seen them and overwrites them.
func (m *Map[K, V]) clearTTL(k K) dotList {
	ws := m.ttl[k]
	if len(ws) == 0 {
		return ""
	}
	drops := make([]vclock.Dot, len(ws))
	for i := range ws {
		drops[i] = vclock.Dot{Replica: m.reps[ws[i].rep], Seq: ws[i].seq}
	}
	m.setTTL(k, nil)
	return makeDotList(drops)
}

// dropTTL takes in the dots writes of k overwrote, each list those of
// one write: the writes of k that they name leave. It reports whether any
// did. (The caller keeps the drop records, which stop the others from
// coming in later.)
func (m *Map[K, V]) dropTTL(k K, drops ...dotList) bool {
	ws := m.ttl[k]
	if len(ws) == 0 || !slices.ContainsFunc(drops, func(dl dotList) bool { return dl != "" }) {
		return false
	}
	if x := m.ttlIndexFor(k, ws); x != nil {
		return m.dropIndexed(k, ws, x, drops)
	}
	gone := make(map[vclock.Dot]bool)
	for _, dl := range drops {
		for d := range dl.all() {
			gone[d] = true
		}
	}
	m.ttlWork += len(gone) + len(ws)
	kept := ws[:0:0]
	for _, w := range ws {
		if !gone[vclock.Dot{Replica: m.reps[w.rep], Seq: w.seq}] {
			kept = append(kept, w)
		}
	}
	if len(kept) == len(ws) {
		return false
	}
	m.setTTL(k, kept)
	return true
}

// dropIndexed is dropTTL for a key with an index, x: it costs the dots
// dropped, not the writes of k.
func (m *Map[K, V]) dropIndexed(k K, ws []ttlWrite, x *ttlIndex, drops []dotList) bool {
	e, live := m.m.Get(k)
	live = live && !e.deleted()
	had := live && x.deadline(e.wall) != 0
	n := 0
	for _, dl := range drops {
		for d := range dl.all() {
			m.ttlWork++
			rep, ok := m.findRep(d.Replica)
			if !ok {
				continue
			}
			var gone bool
			if ws, gone = x.remove(ws, ttlDot{rep, d.Seq}); gone {
				n++
				if m.ttlOrd != nil {
					m.ttlOrd.Dropped()
				}
			}
		}
	}
	if n == 0 {
		return false
	}
	m.ttlGen++
	if len(ws) == 0 {
		delete(m.ttl, k)
		delete(m.ttlIx, k)
	} else {
		m.ttl[k] = ws
		x.prune(ws)
	}
	m.refit(k, &e, live, had, live && len(ws) > 0 && x.deadline(e.wall) != 0)
	return true
}

// Expire makes k expire ttl after now, by the map's clock, with a write
// stamped by that clock, and returns the write to apply at the other
// replicas. From the moment a replica's clock reaches the write's
// timestamp plus ttl, k is absent there for every reader ([Map.Get],
// [Map.Len], [Map.All], [Map.Keys]); it is then collected like a delete
// marker ([Map.CollectVersions]).
//
// Expire overwrites the expire and persist writes of k this replica has
// seen, whatever their times to live: a later expire can shorten a key's
// life. Among expire writes made concurrently (neither replica had seen
// the other's), the longest time to live wins, and a concurrent
// [Map.Persist] wins over them all. A [Map.Put] or [Map.Delete] of k made
// after seeing the expire clears it, as Redis's SET and DEL do; one made
// concurrently does not, and the value it puts expires with the key,
// unless the value was written at or after the key's expiry (by the
// clock that stamped it): the key had then expired, and the value made
// it anew, untouched by the expire, at every replica alike.
//
// Expire changes nothing and returns an op whose MarshalBinary reports
// the error if k is not present (an error matching [ErrAbsent]), if ttl is
// not positive ([ErrInvalidTTL]), or for the reasons [Map.Put] gives.
// Expire panics on a map without a replica ID or clock (the zero value).
func (m *Map[K, V]) Expire(k K, ttl time.Duration) Op[K, V] {
	if ttl <= 0 {
		return Op[K, V]{key: k, x: opMore{kind: opExpire, ttl: ttl, err: fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)}}
	}
	return m.writeTTL(k, ttl, opExpire)
}

// Persist makes k never expire, with a write stamped by the map's clock,
// and returns the write to apply at the other replicas. It overwrites the
// expire and persist writes of k this replica has seen, and wins over any
// made concurrently: so a persist keeps a key that an expire made
// elsewhere at the same time would have ended, as in Redis Active-Active.
// An [Map.Expire] made after seeing the persist overrides it.
//
// Persisting a key without a time to live still records the persist, for
// the expires that may be under way elsewhere. Like [Map.Expire], Persist
// changes nothing and returns an op carrying the error if k is not
// present, and panics on the zero Map.
func (m *Map[K, V]) Persist(k K) Op[K, V] { return m.writeTTL(k, 0, opPersist) }

// writeTTL makes a local expire (ttl > 0) or persist of k.
func (m *Map[K, V]) writeTTL(k K, ttl time.Duration, kind uint8) Op[K, V] {
	if m.clk == nil || m.id == "" {
		panic("lwwmap: write to a Map made without New")
	}
	op := Op[K, V]{key: k}
	more := opMore{kind: kind, ttl: ttl} // kind is not 0: the op holds it
	ck, err := codec.CanonicalKey(k)
	if err == nil {
		k, op.key = ck, ck
		_, err = codec.HashValue(codec.HashSeed, k)
	}
	if err != nil {
		more.err = &codec.EncodeError{Kind: codec.KindMapTTL, Err: err}
		op.x = more
		return op
	}
	if _, ok := m.Get(k); !ok {
		more.err = fmt.Errorf("%w: %v", ErrAbsent, k)
		op.x = more
		return op
	}
	d := m.ctx.Next(m.id)
	if d.Seq == 0 || d.Seq > vclock.MaxSeq {
		more.err = fmt.Errorf("%w: replica %q has used every sequence number up to %d", ErrNoDot, m.id, vclock.MaxSeq)
		op.x = more
		return op
	}
	ts := m.clk.Now()
	m.ctx.Add(d)
	op.ts, op.dot = ts, d
	more.drops = m.clearTTL(k)
	op.x = more
	m.recordDrops(d, k, more.drops)
	w := ttlWrite{wall: ts.Wall, logical: ts.Logical, rep: m.self, seq: d.Seq}
	if kind == opExpire {
		w.at = expireAt(ts.Wall, ttl)
	}
	m.setTTL(k, []ttlWrite{w})
	if ts.After(m.maxTS) {
		m.maxTS = ts
	}
	return op
}

// applyTTL takes in an expire or persist op, checked, whose dot the map
// has not seen, once the clock took its timestamp in. It reports whether
// the writes in force for the key changed.
func (m *Map[K, V]) applyTTL(op *Op[K, V]) bool {
	m.ctx.Add(op.dot)
	changed := m.dropTTL(op.key, op.drops())
	m.recordDrops(op.dot, op.key, op.drops())
	if m.overwritten(op.dot) {
		return changed // overwritten by a write that came first
	}
	w := ttlWrite{wall: op.ts.Wall, logical: op.ts.Logical, rep: m.intern(op.dot.Replica), seq: op.dot.Seq}
	if op.kind() == opExpire {
		w.at = expireAt(op.ts.Wall, op.ttl())
	}
	m.addTTL(op.key, w)
	if op.ts.After(m.maxTS) {
		m.maxTS = op.ts
	}
	return true
}

// TTL returns how long k has left to live by the map's clock, and whether
// it will expire at all: false for a key without a time to live, a
// persisted one, or one not present.
func (m *Map[K, V]) TTL(k K) (time.Duration, bool) {
	k, ok := codec.LookupKey(k)
	if !ok {
		return 0, false
	}
	e := m.m.Find(k)
	if _, ok := m.Get(k); !ok || m.ttl == nil {
		return 0, false
	}
	at := m.deadlineOf(k, m.ttl[k], e.wall)
	if at == 0 {
		return 0, false
	}
	return time.Duration(at - m.now()), true
}

// mergeTTL merges the expire and persist writes of o into m, before the
// contexts are united; trans maps o's writer indexes to m's, mine and
// theirs describe the contexts of m and o. It returns the number of
// writes both hold (dots both contexts hold, and that mergeWith must not
// take for overwritten ones) and whether any key's writes changed.
func (m *Map[K, V]) mergeTTL(o *Map[K, V], trans []uint32, mine, theirs *limits) (both uint64, changed bool) {
	// The drop records first: the writes they name are not taken in
	// below. A record of a write seen here is taken too: the write may
	// have come in a part of entries (see Map.ChunksBinary), without it;
	// if its drops were applied here, applying them again changes nothing.
	// The records of one key are taken in together: one walk of the
	// key's writes for all of them.
	var drops map[K][]dotList
	for by, rec := range o.drops {
		if _, ok := m.drops[by]; ok {
			continue
		}
		m.recordDrops(by, rec.key, rec.dots)
		if _, ok := m.ttl[rec.key]; ok {
			if drops == nil {
				drops = make(map[K][]dotList)
			}
			drops[rec.key] = append(drops[rec.key], rec.dots)
		}
	}
	for k, dls := range drops {
		if m.dropTTL(k, dls...) {
			changed = true
		}
	}
	type wdot struct {
		rep uint32
		seq uint64
	}
	for k, ows := range o.ttl {
		ws := m.ttl[k]
		var add []ttlWrite
		var here map[wdot]bool // for many writes of one key (forged, most likely)
		if len(ws)*len(ows) > 64 {
			here = make(map[wdot]bool, len(ws))
			for _, w := range ws {
				here[wdot{w.rep, w.seq}] = true
			}
		}
		for _, ow := range ows {
			rep := trans[ow.rep]
			held := here[wdot{rep, ow.seq}]
			for i := 0; here == nil && i < len(ws); i++ {
				if ws[i].rep == rep && ws[i].seq == ow.seq {
					held = true
					break
				}
			}
			switch {
			case held:
				both++
			case mine.has(&m.ctx, o.reps, ow.rep, ow.seq) || m.overwritten(vclock.Dot{Replica: o.reps[ow.rep], Seq: ow.seq}):
				// Seen here and overwritten.
			default:
				ow.rep = rep
				add = append(add, ow)
			}
		}
		if len(add) > 0 {
			m.setTTL(k, append(append([]ttlWrite(nil), ws...), add...))
			changed = true
		}
	}
	if scanSeen {
		if m.dropSeenTTLScan(o, theirs) {
			changed = true
		}
	} else if len(m.ttl) > 0 && !o.ctx.IsEmpty() && m.dropSeenTTL(o) {
		changed = true
	}
	for _, ws := range o.ttl {
		for _, w := range ws {
			if w.ts().After(m.maxTS) {
				m.maxTS = w.ts()
			}
		}
	}
	return both, changed
}

// dropSeenTTLScan is dropSeenTTL by a pass over every key with expire
// or persist writes (theirs describes o's context).
func (m *Map[K, V]) dropSeenTTLScan(o *Map[K, V], theirs *limits) (changed bool) {
	m.seenWork += len(m.ttl)
	for k, ws := range m.ttl {
		ows := o.ttl[k]
		var there map[vclock.Dot]bool
		if len(ws)*len(ows) > 64 {
			there = make(map[vclock.Dot]bool, len(ows))
			for _, ow := range ows {
				there[vclock.Dot{Replica: o.reps[ow.rep], Seq: ow.seq}] = true
			}
		}
		kept := ws[:0:0]
		for _, w := range ws {
			if !theirs.has(&o.ctx, m.reps, w.rep, w.seq) {
				kept = append(kept, w)
				continue
			}
			held := there[vclock.Dot{Replica: m.reps[w.rep], Seq: w.seq}] || there == nil && holdsTTL(ows, o.reps, m.reps[w.rep], w.seq)
			if held {
				kept = append(kept, w)
			} // else seen there and overwritten
		}
		if len(kept) != len(ws) {
			m.setTTL(k, kept)
			changed = true
		}
	}
	return changed
}

// dropSeenTTL drops, for a merge of o, the expire and persist writes of m
// that o has seen and does not hold: o overwrote them. It looks only at
// the writes whose dots o's context holds, found in m's order of them
// (made here, in one pass over them, the first time a merge needs it):
// each is held by o too, or dropped. It reports whether it dropped any.
func (m *Map[K, V]) dropSeenTTL(o *Map[K, V]) bool {
	m.makeTTLOrder()
	type wdot struct {
		rep uint32
		seq uint64
	}
	// For a key with many writes (one per replica that expired it, say),
	// the dots of its writes here and at o, made the first time one is
	// looked up, so that each look-up does not walk them all.
	type held struct{ here, there map[wdot]bool }
	var many map[K]*held
	holds := func(k K, rep uint32, seq uint64) (here, there bool) {
		ws, ows := m.ttl[k], o.ttl[k]
		if len(ws)+len(ows) <= 16 {
			m.ttlWork += len(ws) + len(ows)
			return hasWrite(ws, rep, seq), holdsTTL(ows, o.reps, m.reps[rep], seq)
		}
		h := many[k]
		if h == nil {
			h = &held{here: make(map[wdot]bool, len(ws)), there: make(map[wdot]bool, len(ows))}
			for _, w := range ws {
				h.here[wdot{w.rep, w.seq}] = true
			}
			for _, ow := range ows {
				if r, ok := m.findRep(o.reps[ow.rep]); ok {
					h.there[wdot{r, ow.seq}] = true
				}
			}
			if many == nil {
				many = make(map[K]*held)
			}
			many[k] = h
			m.ttlWork += len(ws) + len(ows)
		}
		m.ttlWork++
		return h.here[wdot{rep, seq}], h.there[wdot{rep, seq}]
	}
	var gone map[K][]wdot
	for rg := range o.ctx.Ranges() {
		rep, ok := m.findRep(rg.Replica)
		if !ok {
			continue // m holds no write of a writer it does not know
		}
		m.ttlOrd.Range(rep, rg.Lo, rg.Hi, func(seq uint64, k K) bool {
			m.seenWork++
			here, there := holds(k, rep, seq)
			if !here {
				return false // stale
			}
			if there {
				return true
			}
			if gone == nil {
				gone = make(map[K][]wdot)
			}
			gone[k] = append(gone[k], wdot{rep, seq})
			return false // dropped below
		})
	}
	for k, ds := range gone {
		drop := make(map[wdot]bool, len(ds))
		for _, d := range ds {
			drop[d] = true
		}
		ws := m.ttl[k]
		kept := ws[:0:0]
		for _, w := range ws {
			if !drop[wdot{w.rep, w.seq}] {
				kept = append(kept, w)
			}
		}
		m.setTTL(k, kept)
	}
	return len(gone) > 0
}

// holdsTTL reports whether ws, whose writer indexes refer to reps, holds
// the write (id, seq).
func holdsTTL(ws []ttlWrite, reps []vclock.ReplicaID, id vclock.ReplicaID, seq uint64) bool {
	for i := range ws {
		if ws[i].seq == seq && reps[ws[i].rep] == id {
			return true
		}
	}
	return false
}

// ttlDelta adds to the delta d, made by DeltaSince for a replica that has
// seen seen[i] writes of each m.reps[i], the expire and persist writes that
// replica lacks.
func (m *Map[K, V]) ttlDelta(d *Map[K, V], v vclock.Clock, seen []uint64) {
	for by, rec := range m.drops {
		if by.Seq > v.Get(by.Replica) {
			d.recordDrops(by, rec.key, rec.dots)
		}
	}
	for k, ws := range m.ttl {
		var add []ttlWrite
		for _, w := range ws {
			if w.seq > seen[w.rep] {
				add = append(add, w)
				if w.ts().After(d.maxTS) {
					d.maxTS = w.ts()
				}
			}
		}
		if len(add) > 0 {
			d.setTTL(k, add)
		}
	}
}

// collectExpired drops the keys whose time to live has run out by
// gone(expire-at) and whose writes every replica has seen, by
// stable(rep, seq, ts) for the entry and each expire and persist write. It
// tells the index of the entries it drops if indexed (CollectVersions has
// raised the index's floors past them). It returns the number of keys
// dropped.
//
// Of the other keys' writes in force it drops, once stable, the expires
// that can no longer end a value: those not after the live entry's write,
// and, at a key without a live entry, those whose instant is gone. A
// value written from now on is stamped at or after gone's instant, and
// every replica reads such an expire as not touching it (see deadline),
// whether it still holds the expire or not. It keeps every persist, and
// every expire still to come: a replica that dropped one could not name it
// in the drops of a later write of the key, and a replica that still
// holds it would keep it in force against that write (a persist would win
// over the later expire, or an expire would end the later value).
func (m *Map[K, V]) collectExpired(indexed bool, gone func(at int64) bool, stable func(rep uint32, seq uint64, ts clock.Timestamp) bool) int {
	n := 0
	for k, ws := range m.ttl {
		e, ok := m.m.Get(k)
		live := ok && !e.deleted()
		if live {
			if at := m.deadlineOf(k, ws, e.wall); at != 0 && gone(at) && stable(e.writer(), e.seq, e.ts()) && allStable(ws, stable) {
				m.collectedTTL(ws)
				m.collected(e.writer(), e.seq)
				m.noteCollected(e.ts())
				m.setTTL(k, nil) // the entry is live: it comes back into the fingerprint
				m.m.Remove(k)
				m.fp -= m.hashOf(keyHash(k), &e)
				m.forgetLost(k)
				if indexed {
					m.noteGone(&e)
				} else {
					m.ix.Order().Dropped()
				}
				n++
				continue
			}
		}
		var kept []ttlWrite
		for i, w := range ws {
			spent := w.at != 0 && ((live && w.at <= e.wall) || (!live && gone(w.at)))
			if spent && stable(w.rep, w.seq, w.ts()) {
				if kept == nil {
					kept = append(make([]ttlWrite, 0, len(ws)), ws[:i]...)
				}
				m.collected(w.rep, w.seq)
				continue
			}
			if kept != nil {
				kept = append(kept, w)
			}
		}
		if kept != nil {
			m.setTTL(k, kept)
		}
	}
	m.gcN += uint64(n)
	return n
}

// seenWall returns the latest wall time of a write this map holds (an
// entry, or an expire or persist write) that every replica has seen, by
// upTo (the writes of each writer every replica has seen, by its index),
// or 0 if none: every replica's clock has passed it.
func (m *Map[K, V]) seenWall(upTo []uint64) int64 {
	var w int64
	for _, e := range m.m.All() {
		if e.wall > w && e.seq <= upTo[e.writer()] {
			w = e.wall
		}
	}
	for _, ws := range m.ttl {
		for i := range ws {
			if ws[i].wall > w && ws[i].seq <= upTo[ws[i].rep] {
				w = ws[i].wall
			}
		}
	}
	return w
}

// allStable reports whether every write of ws is stable.
func allStable(ws []ttlWrite, stable func(rep uint32, seq uint64, ts clock.Timestamp) bool) bool {
	for i := range ws {
		if !stable(ws[i].rep, ws[i].seq, ws[i].ts()) {
			return false
		}
	}
	return true
}

// collectedTTL notes the expire and persist writes ws as collected.
func (m *Map[K, V]) collectedTTL(ws []ttlWrite) {
	for i := range ws {
		m.collected(ws[i].rep, ws[i].seq)
	}
}

// expiredHeld returns the number of keys with a live entry whose time to
// live has run out at now: held until collected.
func (m *Map[K, V]) expiredHeld(now int64) int {
	n := 0
	for k, ws := range m.ttl {
		if e, ok := m.m.Get(k); ok && !e.deleted() {
			if at := m.deadlineOf(k, ws, e.wall); at != 0 && now >= at {
				n++
			}
		}
	}
	return n
}

// collectDrops discards the drop records of the writes every replica has
// seen, by seen.
func (m *Map[K, V]) collectDrops(seen vclock.Clock) {
	for by, rec := range m.drops {
		if by.Seq > seen.Get(by.Replica) {
			continue
		}
		all := true
		for d := range rec.dots.all() {
			if d.Seq > seen.Get(d.Replica) {
				all = false
				break
			}
		}
		if all {
			m.gone.Advance(by.Replica, by.Seq)
			for d := range rec.dots.all() {
				m.gone.Advance(d.Replica, d.Seq)
			}
			m.forgetDrops(by)
		}
	}
}

// cloneTTL returns a copy of ttl that shares no memory with it.
func cloneTTL[K comparable](ttl map[K][]ttlWrite) map[K][]ttlWrite {
	if ttl == nil {
		return nil
	}
	c := make(map[K][]ttlWrite, len(ttl))
	for k, ws := range ttl {
		c[k] = append([]ttlWrite(nil), ws...)
	}
	return c
}

// equalTTL reports whether m and o hold the same expire and persist
// writes.
func (m *Map[K, V]) equalTTL(o *Map[K, V]) bool {
	eq, _ := m.equalTTLWork(o)
	return eq
}

// equalTTLWork is equalTTL, also returning how many expire and persist
// writes it looked at, for the tests that bound that work (a reader
// cannot count in the map: readers may run at once).
func (m *Map[K, V]) equalTTLWork(o *Map[K, V]) (equal bool, work int) {
	if len(m.ttl) != len(o.ttl) {
		return false, 0
	}
	var byDot map[ttlDotID]int // reused across keys
	for k, ws := range m.ttl {
		ows, ok := o.ttl[k]
		if !ok || len(ows) != len(ws) {
			return false, work
		}
		same := func(w, ow *ttlWrite) bool {
			return ow.seq == w.seq && ow.wall == w.wall && ow.logical == w.logical && ow.at == w.at && o.reps[ow.rep] == m.reps[w.rep]
		}
		if len(ws) <= ttlEqualWalk {
			for i := range ws {
				found := false
				for j := range ows {
					work++
					if same(&ws[i], &ows[j]) {
						found = true
						break
					}
				}
				if !found {
					return false, work
				}
			}
			continue
		}
		// Many writes: find each of o's by its dot (a key holds one
		// write per dot), not by a walk of them all.
		if byDot == nil {
			byDot = make(map[ttlDotID]int, len(ows))
		} else {
			clear(byDot)
		}
		for j := range ows {
			work++
			byDot[ttlDotID{o.reps[ows[j].rep], ows[j].seq}] = j
		}
		for i := range ws {
			work++
			j, ok := byDot[ttlDotID{m.reps[ws[i].rep], ws[i].seq}]
			if !ok || !same(&ws[i], &ows[j]) {
				return false, work
			}
		}
	}
	return true, work
}

// ttlEqualWalk is the number of expire and persist writes of a key up to
// which equalTTL matches them by a walk, not by a table of their dots (a
// variable for the tests, which match every key by its table).
var ttlEqualWalk = 8

// ttlDotID names an expire or persist write by its writer's ID, the same
// in every map, and its sequence number.
type ttlDotID struct {
	id  vclock.ReplicaID
	seq uint64
}

// readNow returns m.now() for a map with times to live, and 0 (unused)
// for one without.
func (m *Map[K, V]) readNow() int64 {
	if m.ttl == nil {
		return 0
	}
	return m.now()
}

// dotList holds dots in a string, so that an [Op] stays comparable with
// ==: each dot is its replica ID's length and bytes, then its sequence
// number, as unsigned varints.
type dotList string

func makeDotList(ds []vclock.Dot) dotList {
	if len(ds) == 0 {
		return ""
	}
	var b []byte
	for _, d := range ds {
		b = binary.AppendUvarint(b, uint64(len(d.Replica)))
		b = append(b, d.Replica...)
		b = binary.AppendUvarint(b, d.Seq)
	}
	return dotList(b)
}

// all iterates over the dots of l, which makeDotList made.
func (l dotList) all() iter.Seq[vclock.Dot] {
	return func(yield func(vclock.Dot) bool) {
		s := string(l)
		for len(s) > 0 {
			n, k := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
			s = s[k:]
			id := vclock.ReplicaID(s[:n])
			s = s[n:]
			seq, k := binary.Uvarint([]byte(s[:min(len(s), binary.MaxVarintLen64)]))
			s = s[k:]
			if !yield(vclock.Dot{Replica: id, Seq: seq}) {
				return
			}
		}
	}
}

// ttlDots returns a context of exactly the dots of m's expire and persist
// writes and of its drop records' writes.
func (m *Map[K, V]) ttlDots() vclock.Context {
	var c vclock.Context
	for _, ws := range m.ttl {
		for _, w := range ws {
			c.Add(vclock.Dot{Replica: m.reps[w.rep], Seq: w.seq})
		}
	}
	for by := range m.drops {
		c.Add(by)
	}
	return c
}

func ptr[T any](x T) *T { return &x }

// ttlParts cuts m's expire and persist writes and drop records into parts
// (partTTL) of at most limit bytes, calling emit with each. A part holds
// no entries, so it must be merged after every entries part: its context
// names the writes of its drop records, which may be entries. The writes
// in force of one key go in one part with the records of those writes: a
// part whose context named one of them without holding it would drop it.
// When they do not fit in one, each goes in a part of its own with its
// own records.
func (m *Map[K, V]) ttlParts(limit int, emit func(byte, *Map[K, V]) (int, error)) error {
	type unit struct {
		k    K
		ws   []ttlWrite
		recs []vclock.Dot
	}
	at := map[K]int{}
	var units []unit
	get := func(k K) *unit {
		i, ok := at[k]
		if !ok {
			i = len(units)
			at[k] = i
			units = append(units, unit{k: k})
		}
		return &units[i]
	}
	for k, ws := range m.ttl {
		u := get(k)
		u.ws = append(u.ws, ws...)
	}
	for by, rec := range m.drops {
		if holdsTTL(m.ttl[rec.key], m.reps, by.Replica, by.Seq) {
			u := get(rec.key)
			u.recs = append(u.recs, by)
		} else {
			// Not a write in force: a part of its own.
			units = append(units, unit{k: rec.key, recs: []vclock.Dot{by}})
		}
	}
	var flush func([]unit) error
	flush = func(group []unit) error {
		p := &Map[K, V]{reps: m.reps, repH: m.repH, repIdx: m.repIdx}
		for _, u := range group {
			if len(u.ws) > 0 {
				p.setTTL(u.k, u.ws)
			}
			for _, w := range u.ws {
				p.ctx.Add(vclock.Dot{Replica: m.reps[w.rep], Seq: w.seq})
			}
			for _, by := range u.recs {
				rec := m.drops[by]
				p.recordDrops(by, rec.key, rec.dots)
				p.ctx.Add(by)
			}
		}
		n, err := emit(partTTL, p)
		if err != nil {
			return err
		}
		if n > limit {
			if len(group) > 1 {
				return errors.Join(flush(group[:len(group)/2]), flush(group[len(group)/2:]))
			}
			u := group[0]
			if len(u.ws) < 2 {
				return errPartTooLarge
			}
			// Concurrent writes in force of one key, too many for one
			// part: each goes in a part of its own with its records. Its
			// context names only its own dot, so it drops none of the
			// others at the receiver.
			var errs []error
			for _, w := range u.ws {
				d := vclock.Dot{Replica: m.reps[w.rep], Seq: w.seq}
				one := unit{k: u.k, ws: []ttlWrite{w}}
				for _, by := range u.recs {
					if by == d {
						one.recs = append(one.recs, by)
					}
				}
				errs = append(errs, flush([]unit{one}))
			}
			return errors.Join(errs...)
		}
		return nil
	}
	per := max(1, (limit-64)/64)
	for i := 0; i < len(units); i += per {
		if err := flush(units[i:min(len(units), i+per)]); err != nil {
			return err
		}
	}
	return nil
}
