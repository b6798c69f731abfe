package lwwmap

import (
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"sync/atomic"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// delBit marks a delete marker in entry.rep; the other bits are the index of
// the writing replica in Map.reps.
const (
	delBit  = 1 << 31
	repMask = delBit - 1
)

// entry is the winning write of one key. It is kept lean: the writer is an
// index into the map's table of replica IDs, the delete flag shares its
// word, and the write's base, which a map written by one replica never
// has, is held by pointer.
type entry[V any] struct {
	wall    int64  // timestamp, wall part
	logical uint32 // timestamp, logical part
	rep     uint32 // writer's index in Map.reps, | delBit for a delete marker
	seq     uint64 // the write's dot is (writer, seq)
	// b is the write's base (see Map.SetConflictHook), nil for none (a
	// zero base). What it points to is never changed: entries copied
	// from one map to another, or a clone, share it.
	b *clock.Timestamp
	v V // zero for a delete marker
}

func (e *entry[V]) ts() clock.Timestamp { return clock.Timestamp{Wall: e.wall, Logical: e.logical} }
func (e *entry[V]) deleted() bool       { return e.rep&delBit != 0 }
func (e *entry[V]) writer() uint32      { return e.rep & repMask }

// base returns the write's base; zero for none.
func (e *entry[V]) base() clock.Timestamp {
	if e.b == nil {
		return clock.Timestamp{}
	}
	return *e.b
}

// baseRef returns b as an entry holds it: nil for a zero one, which is
// none.
func baseRef(b clock.Timestamp) *clock.Timestamp {
	if b.IsZero() {
		return nil
	}
	p := new(clock.Timestamp) // allocated here only: &b would move b to the heap first
	*p = b
	return p
}

// baseAfter is baseRef for a write over old that has the base b: it
// shares old's if that is b, as for a writer's writes of a key in turn.
func baseAfter[V any](b clock.Timestamp, old *entry[V]) *clock.Timestamp {
	if old.b != nil && *old.b == b {
		return old.b
	}
	return baseRef(b)
}

// Map is a map whose keys are last-writer-wins registers, with deletes.
//
// Conflict rule: for each key the write with the later timestamp wins, on an
// exact timestamp tie the write of the replica with the smaller ID wins, and
// a [Map.Delete] is a write of "absent" ordered the same way.
//
// Each write is stamped with a timestamp from the replica's hybrid logical
// clock, the replica's ID, and a dot (the replica's n-th write) recorded in
// the map's causal context. Taking in a remote write advances the clock past
// its timestamp, so a write made after seeing another always wins over it,
// whatever the wall clocks say. The dots make every way of taking writes in
// idempotent and let [Map.DeltaSince] send only what a peer lacks. A deleted
// key leaves a delete marker until it is causally stable and collected
// ([Map.CollectVersions], [Map.Collect]).
//
// The zero value is an empty map with no replica ID and no clock. It can be
// read, compared, cloned, merged into, applied to and decoded into (it then
// advances no clock and refuses no skewed timestamp), but it cannot write:
// [Map.Put] and [Map.Delete] panic on it. Use [New] for a replica that
// writes.
//
// A Map is not safe for concurrent use: guard it as you would a Go map. It
// must not be copied after first use; use [Map.Clone].
type Map[K comparable, V any] struct {
	id   vclock.ReplicaID
	self uint32 // index of id in reps
	clk  *clock.Clock

	reps   []vclock.ReplicaID          // the replicas entries refer to, by index
	repH   []uint64                    // hash of each ID of reps, for entryHash
	repIdx map[vclock.ReplicaID]uint32 // index of reps, built once it grows

	ctx   vclock.Context               // every write seen
	ctxAt vclock.Hint                  // where id's entry of ctx was last found; checked before use
	m     dotkernel.Table[K, entry[V]] // the winning write of each key, live or deleted
	nDel  int                          // delete markers in m
	gcN   uint64                       // delete markers collected (see gc.go)
	late  uint64                       // see LateWrites (gc.go)
	// gone holds, per writer, the newest write that this map, or a map
	// whose state it merged, has collected (see collected and takeGone): a
	// replica whose version does not reach it may hold what the collected
	// writes overwrote, and is sent the whole state, not a delta (see
	// DeltaSince).
	gone    vclock.Clock
	goneTop []uint64                  // by writer, what a collection in progress collected
	maxTS   clock.Timestamp           // no entry of m is later
	fp      uint64                    // wrapping sum of hashOf the live entries of m
	cfp     atomic.Pointer[contentFP] // the content fingerprint, cached (see ContentFingerprint)
	ttlGen  uint64                    // counts the changes of ttl, for cfp
	lim     codec.Limits              // for the decoders; zero fields take the defaults

	hook func(vclock.Conflict) // see SetConflictHook
	// lostTo holds, for a key whose entry is this writer's own, the latest
	// write of another writer that lost to it here: a write seen, that the
	// base of this writer's next write of the key must name. Only
	// concurrent writes put keys in it.
	lostTo map[K]clock.Timestamp
	// collTS is the latest timestamp of a put or delete this replica has
	// collected (a delete marker, an expired key's entry), nil if none:
	// the base of this writer's writes of absent keys (see
	// SetConflictHook), and what LateWrites counts against. Entries share
	// it; a later one replaces it. SnapshotBinary saves it; the states
	// sent to peers do not carry it.
	collTS *clock.Timestamp

	// ttl holds, for each key with a time to live, its expire and
	// persist writes in force (see ttl.go); nil until the map first
	// takes one.
	ttl map[K][]ttlWrite
	// drops holds the drop records of writes that overwrote expire or
	// persist writes, by the dot of the write, until every replica has
	// seen it (see ttl.go).
	drops   map[vclock.Dot]dropRec[K]
	dropped map[vclock.Dot]int // the dots the records of drops name, counted

	// ix finds the keys of m by the dots of their entries, for
	// DeltaSince. It is made with m (writers are exclusive; DeltaSince,
	// which readers may call at the same time, cannot make it), and built
	// by the first DeltaSince that needs it. A map without one (never
	// written to) scans m.
	ix *dotkernel.Index[K]
	// ix also carries (Index.Order) the dots of the entries of m in
	// order, per writer, for a merge that must find the entries whose
	// write the other side has seen and overwritten (see dropSeen). There
	// is none until the first such merge; Retire and UnmarshalBinary drop
	// it, and clones, deltas and decoded maps start without one.
	//
	// ttlOrd does the same for the expire and persist writes of ttl (see
	// mergeTTL).
	ttlOrd *dotkernel.Order[K]
	// ttlIx indexes the writes of the keys of ttl that hold many (see
	// ttl_index.go); made by writers as they need it.
	ttlIx map[K]*ttlIndex
	// seenWork counts the entries that merges have looked at to find
	// those, for the tests that bound that work.
	seenWork int
	// ttlWork counts the expire and persist writes that decoding and
	// merging have looked at, for the tests that bound that work.
	ttlWork int
}

// New returns an empty map that writes as replica id, stamping its writes
// with clk. Every data type of one replica process should share one clock.
//
// New panics if id is empty or clk is nil: both are programming errors, not
// conditions to handle at run time.
func New[K comparable, V any](id vclock.ReplicaID, clk *clock.Clock) *Map[K, V] {
	if id == "" {
		panic("lwwmap: New with an empty replica ID")
	}
	if clk == nil {
		panic("lwwmap: New with a nil clock")
	}
	m := &Map[K, V]{id: id, clk: clk}
	m.self = m.intern(id)
	return m
}

// ID returns the replica ID the map writes as; empty for the zero Map.
func (m *Map[K, V]) ID() vclock.ReplicaID { return m.id }

// SetWriter makes the map write as w from now on: its next put or delete
// takes the first dot of w it has not seen.
// The replication engine calls it when the map is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (m *Map[K, V]) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		m.id = w
		m.self = m.intern(w)
	}
}

// reserve makes room for n more replicas in m's tables, so that interning
// them allocates once.
func (m *Map[K, V]) reserve(n int) {
	m.reps = slices.Grow(m.reps, n)
	m.repH = slices.Grow(m.repH, n)
	if m.repIdx == nil && len(m.reps)+n > 16 {
		m.repIdx = make(map[vclock.ReplicaID]uint32, len(m.reps)+n)
		for j, r := range m.reps {
			m.repIdx[r] = uint32(j)
		}
	}
}

// intern returns the index of id in m.reps, adding it if needed.
func (m *Map[K, V]) intern(id vclock.ReplicaID) uint32 {
	if m.repIdx != nil {
		if i, ok := m.repIdx[id]; ok {
			return i
		}
	} else {
		for i, r := range m.reps {
			if r == id {
				return uint32(i)
			}
		}
	}
	i := uint32(len(m.reps))
	m.reps = append(m.reps, id)
	m.repH = append(m.repH, codec.HashString(codec.HashSeed, string(id)))
	switch {
	case m.repIdx != nil:
		m.repIdx[id] = i
	case len(m.reps) > 16:
		m.repIdx = make(map[vclock.ReplicaID]uint32, 2*len(m.reps))
		for j, r := range m.reps {
			m.repIdx[r] = uint32(j)
		}
	}
	return i
}

func (m *Map[K, V]) dot(e *entry[V]) vclock.Dot {
	return vclock.Dot{Replica: m.reps[e.writer()], Seq: e.seq}
}

// newer reports whether a orders after b in LWW order: the later timestamp,
// then the smaller replica ID. Two writes of one replica never share a
// timestamp; should corrupt input make them, the higher sequence number
// wins, so the order stays total and merges stay commutative.
func (m *Map[K, V]) newer(a, b *entry[V]) bool {
	if a.wall != b.wall {
		return a.wall > b.wall
	}
	if a.logical != b.logical {
		return a.logical > b.logical
	}
	if ra, rb := a.writer(), b.writer(); ra != rb {
		return m.reps[ra] < m.reps[rb]
	}
	return a.seq > b.seq
}

// put makes e the entry of k if it orders after the current one, keeping
// the counts right, and reports whether the visible content changed.
// kh is keyHash(k). e is a write the map has not seen before.
func (m *Map[K, V]) put(k K, kh uint64, e entry[V]) bool {
	m.makeIndex()
	slot, at := m.m.Lookup(k)
	return m.replace(k, kh, e, slot, at, true)
}

// replace is put for a caller that has already looked up the current
// entry of k in the table: slot, or if nil the place at where k goes,
// with no change to the table since. fresh says whether e is a write the
// map had not seen before, which a conflict hook is told of if it loses.
func (m *Map[K, V]) replace(k K, kh uint64, e entry[V], slot *entry[V], at dotkernel.Place, fresh bool) bool {
	ok := slot != nil
	if ok && !m.newer(&e, slot) {
		if slot.writer() == m.self && e.writer() != m.self {
			m.noteLost(k, e.ts())
		}
		if m.hook != nil && fresh {
			m.report(k, &e, slot)
		}
		return false
	}
	if len(m.lostTo) > 0 {
		delete(m.lostTo, k) // e is foreign, or a local write that used it
	}
	if m.hook != nil && ok {
		m.report(k, slot, &e)
	}
	var oldE entry[V]
	old := &oldE
	if ok {
		oldE = *slot
		*slot = e
	} else {
		m.m.Insert(at, k, e)
	}
	m.noteEntry(k, &e)
	if ok {
		m.noteGone(old)
	}
	if ts := e.ts(); ts.After(m.maxTS) {
		m.maxTS = ts
	}
	if ok {
		if old.deleted() {
			m.nDel--
		}
		m.fp -= m.liveHash(k, kh, old)
	}
	if e.deleted() {
		m.nDel++
	}
	m.fp += m.liveHash(k, kh, &e)
	return (ok && !old.deleted()) || !e.deleted()
}

// write makes the local write *op names: a put of op.value at op.key, or a
// delete of op.key if op.del. It checks first that the key and value can
// be encoded and that a dot can be minted; if not, it changes nothing (the
// clock is not read) and makes *op an op carrying the error, which its
// MarshalBinary and [Map.Apply] report. Otherwise it fills in the op's
// timestamp, dot, base and drops. The key, value and flag are read from
// *op where they are needed rather than passed, so that write's frame
// keeps no copy of them.
func (m *Map[K, V]) write(op *Op[K, V]) {
	if m.clk == nil || m.id == "" {
		panic("lwwmap: write to a Map made without New")
	}
	var kh uint64
	var err error
	if ks, ok := any(op.key).(string); ok {
		kh = codec.HashString(codec.HashSeed, ks) // what HashValue does, sooner
	} else if k, kerr := codec.CanonicalKey(op.key); kerr != nil {
		err = kerr // a NaN, which no look-up would ever find
	} else {
		op.key = k // a floating-point zero as +0
		kh, err = codec.HashValue(codec.HashSeed, op.key)
	}
	if _, ok := any(op.value).(string); !ok && err == nil && !op.del {
		// A string always encodes; another value is held as peers decode
		// it (see codec.HeldValue), or its content fingerprint would
		// differ from theirs for good.
		op.value, err = codec.HeldValue(op.value)
	}
	if err != nil {
		m.failed(op, err)
		return
	}
	d := vclock.Dot{Replica: m.id, Seq: m.ctx.TryAddNext(m.id, &m.ctxAt)} // inlined; within MaxSeq
	if d.Seq == 0 {
		d = m.ctx.AddNextHint(m.id, &m.ctxAt) // changes nothing if no dot is left
		if d.Seq == 0 || d.Seq > vclock.MaxSeq {
			m.failed(op, nil)
			return
		}
	}
	ts := m.clk.Now()
	op.ts, op.dot = ts, d
	if len(m.ttl) > 0 {
		// A put or delete clears the expiry it has seen.
		if drops := m.clearTTL(op.key); drops != "" {
			op.x = opMore{drops: drops}
			m.recordDrops(d, op.key, drops)
		}
	}
	if m.nDel == 0 && !op.del && ts.After(m.maxTS) {
		// The common case: the write is later than every entry, and no
		// marker can be overwritten. A new key's entry is written in the
		// slot its one probe found.
		m.makeIndex()
		e, at := m.m.Lookup(op.key)
		if e != nil {
			m.writeLatest(op, kh, e)
			return
		}
		e = m.m.Add(at, op.key)
		e.wall, e.logical, e.rep, e.seq, e.v = ts.Wall, ts.Logical, m.self, d.Seq, op.value
		if m.collTS != nil {
			e.b, op.base = m.collTS, *m.collTS
		}
		if len(m.lostTo) > 0 {
			delete(m.lostTo, op.key)
		}
		m.maxTS = ts
		if m.ix.Hears() { // noteEntry and hashOf, spelled out: no calls
			if m.ix.Active() {
				m.ix.Add(m.self, d.Seq, op.key)
			}
			if o := m.ix.Order(); o != nil && m.orderTakes(o) {
				o.Add(m.self, d.Seq, op.key)
			}
		}
		m.fp += entryHash(kh, m.repH[m.self], ts, d.Seq)
	} else {
		op.base = m.writeAny(op.key, kh, op.value, op.del, ts, d.Seq)
	}
}

// failed makes *op, a write of its key that changed nothing, carry why:
// its key or value could not be encoded (err), or, if err is nil, no dot
// was left. Apart from write, so that write's frame holds none of this.
func (m *Map[K, V]) failed(op *Op[K, V], err error) {
	if err != nil {
		kind := codec.KindMapPut
		if op.del {
			kind = codec.KindMapDelete
		}
		err = &codec.EncodeError{Kind: kind, Err: err}
	} else {
		err = fmt.Errorf("%w: replica %q has used every sequence number up to %d", ErrNoDot, m.id, vclock.MaxSeq)
	}
	*op = Op[K, V]{key: op.key, value: op.value, del: op.del, x: opMore{err: err}}
}

// writeLatest makes the local put op (all but its base, which it sets)
// over e, the live entry of its key, in the common case: the write is
// later than every entry, and no marker can be overwritten. kh is
// keyHash(op.key).
func (m *Map[K, V]) writeLatest(op *Op[K, V], kh uint64, e *entry[V]) {
	k, ts := op.key, op.ts
	old := *e
	b := m.baseOver(k, &old)
	op.base = b
	*e = entry[V]{wall: ts.Wall, logical: ts.Logical, rep: m.self, seq: op.dot.Seq, b: baseAfter(b, &old), v: op.value}
	if len(m.lostTo) > 0 {
		delete(m.lostTo, k)
	}
	m.maxTS = ts
	if m.ix.Hears() { // noteEntry and noteGone, spelled out
		if m.ix.Active() {
			// The fingerprint needs the entry overwritten, so the
			// index is told which one it was.
			m.ix.Add(m.self, e.seq, k)
			m.ix.Dropped(old.writer(), old.seq)
		}
		if o := m.ix.Order(); o != nil && m.orderTakes(o) {
			o.Add(m.self, e.seq, k)
			o.Dropped()
		}
	}
	// hashOf twice, spelled out; no markers: old is live.
	m.fp += entryHash(kh, m.repH[m.self], ts, e.seq) - entryHash(kh, m.repH[old.writer()], old.ts(), old.seq)
	m.tidy()
}

// writeAny makes the local write of k at ts, with sequence number seq: a
// put of v, or a delete. kh is keyHash(k). It returns the write's base.
func (m *Map[K, V]) writeAny(k K, kh uint64, v V, del bool, ts clock.Timestamp, seq uint64) clock.Timestamp {
	m.makeIndex()
	slot, at := m.m.Lookup(k)
	e := entry[V]{wall: ts.Wall, logical: ts.Logical, rep: m.self, seq: seq, v: v}
	if slot != nil {
		e.b = baseAfter(m.baseOver(k, slot), slot)
	} else {
		e.b = m.collTS
	}
	if del {
		e.rep |= delBit
	}
	m.replace(k, kh, e, slot, at, true)
	m.tidy()
	return e.base()
}

// baseOver returns the base of a local write of k over its entry old:
// the latest write of another writer seen here, overwritten directly or
// through this writer's own.
func (m *Map[K, V]) baseOver(k K, old *entry[V]) clock.Timestamp {
	if old.writer() != m.self {
		return old.ts()
	}
	b := old.base()
	if lt, ok := m.lostTo[k]; ok && lt.After(b) {
		b = lt
	}
	return b
}

// SetConflictHook makes the map call f with a report of each write it
// discards for a concurrent one; nil (the default) reports nothing, and
// then the map does no work for reports.
//
// Every write carries its base: the timestamp of the latest write of the
// key by another writer that its writer had seen, whether it overwrote
// that write or the write lost there to one of its own. A write of a key
// absent at its writer takes as its base the latest put or delete, of any
// key, that its writer has collected ([Map.CollectVersions],
// [Map.Collect]) or dropped in a merge because its sender had collected
// it (zero if none): every write as old as that one had been seen when it
// was collected, so a replica that has not collected it yet, and still
// holds it or an older write of the key, takes the new write as made
// after them. The writes that lost are kept in memory only: after a
// restart from a saved state, the base of a write of a key present names
// the latest write overwritten. What was collected is kept in the map's
// snapshot ([Map.SnapshotBinary]): restored from one, the map bases its
// writes of absent keys on it as before; restored from a state of
// [Map.MarshalBinary] (what peers are sent), or from an older release's
// snapshot, it names no base for them until it collects again.
//
// A replica has seen a write of a key when the write reached it as a
// write of that key: as an op (one delivered again included, which
// changes nothing else), as an entry of a state or delta merged, or as
// what the writer of such a write had seen of the key. A write known only
// from a causal context is not seen: a state or delta that names its dot
// but holds a later write of the key (say this replica's own, which won
// over it at a third replica) tells that it was made, not of which key. A
// write of the key made after that does not cover it, and its replica
// reports it lost to that write, though the dot was in the context.
//
// Whenever two writes of one key meet here and one is discarded (the
// key's entry displaced by a write taken in, or a write taken in that
// loses to the entry, by [Map.Apply], [Map.Merge], [Map.ApplyBinary],
// [Map.ApplyBinaryFrom] or [Map.MergeBinary], deltas included, or a local
// [Map.Put] or [Map.Delete]), the discarded write is reported as
// [vclock.Conflict].Lost, with the kept one as Won and the key as Key,
// unless
//   - both have the same writer (one run of one replica writes in
//     sequence), or
//   - the kept write's base is not earlier than the discarded write (its
//     writer had seen the discarded write, or a later one).
//
// A delete is a write like a put: Deleted marks it, and its Value is nil.
// A write whose dot is already in the causal context changes nothing but
// what this replica is known to have seen, so a write delivered again, by
// an op or in a state, is never reported again. Keys dropped by a merge because the other side had seen
// and overwritten them are not reported: that is not a conflict.
//
// So when two replicas write one key concurrently, the replica whose
// write lost reports it once, when the winner reaches it, and a write made
// after seeing another reports nothing. The replica whose write won
// reports the loser too if the lost write reaches it, as an op or in a
// state that still holds it; it cannot if it learns of the lost write only
// from the causal context of a state sent after the losing side had
// already replaced it (a context says that a write was seen, not of which
// key). Exchanging ops, both sides report; catching up by state, the
// winning side may not.
//
// With two writers the rule is exact, for seen as defined above: the base
// is then always a write of the other writer, and a writer's writes are
// made in order. With three or
// more, the base summarizes every other writer by one timestamp, and a
// write is taken as seen whenever the kept write's writer had seen any
// later write of the key: a write of A concurrent with a write b of B is
// not reported if B had seen a later write of C (a false negative). Not
// even A's replica may hear of it: if b reaches A before C's write does,
// b displaces A's write unreported, and C's write, arriving late, loses
// to b, which had seen it. There
// are no false positives short of clock skew, a restart (which forgets
// the writes that lost to this replica's own, so a peer may report one of
// them as lost again, to this replica's next write; and, unless the map
// was restored from its snapshot, what this replica collected, so a peer
// that has not collected a write yet may report it lost to this
// replica's next write of its key) or forged bases. A
// local write that loses, which happens only while the key holds a write
// whose timestamp the clock refused as too far ahead (taken in by
// [Map.Merge]), is reported: it is discarded
// though made later.
//
// Reports are not persisted: after a restart from an older state, writes
// taken in again may be reported again. [Map.UnmarshalBinary] replaces
// the state and reports nothing; a [Map.Clone] has no hook.
//
// f is called during the method that discarded the write, before it
// returns; f must not use the map.
func (m *Map[K, V]) SetConflictHook(f func(vclock.Conflict)) { m.hook = f }

// noteCollected records that a put or delete stamped ts has been
// collected here.
func (m *Map[K, V]) noteCollected(ts clock.Timestamp) {
	if m.collTS == nil || ts.After(*m.collTS) {
		m.collTS = baseRef(ts)
	}
}

// noteLost records that a write of another writer, at ts, lost to this
// writer's own entry of k.
func (m *Map[K, V]) noteLost(k K, ts clock.Timestamp) {
	if m.lostTo == nil {
		m.lostTo = make(map[K]clock.Timestamp)
	}
	if lt, ok := m.lostTo[k]; !ok || ts.After(lt) {
		m.lostTo[k] = ts
	}
}

// seenAgain takes note of a put or delete op of another writer whose dot
// the map had seen, when the key's entry is this writer's own: the map may
// have known the dot only from a causal context (of a state whose entry of
// the key was this writer's later write), not as a write of the key. The
// op shows it to be one, so this writer's next write of the key names it
// in its base, as it would had the op come first. The content is not
// touched: a write seen before is ignored.
func (m *Map[K, V]) seenAgain(op *Op[K, V]) {
	if m.id == "" || op.dot.Replica == m.id {
		return
	}
	if old := m.m.Find(op.key); old != nil && old.writer() == m.self {
		m.noteLost(op.key, op.ts)
	}
}

// forgetLost drops what lostTo holds for k, a key that leaves the map.
func (m *Map[K, V]) forgetLost(k K) {
	if len(m.lostTo) > 0 {
		delete(m.lostTo, k)
	}
}

// report tells the hook that the write lost of key k was discarded for
// won, unless they were not concurrent. The caller checked that a hook is
// set.
func (m *Map[K, V]) report(k K, lost, won *entry[V]) {
	if lost.writer() == won.writer() || !won.base().Before(lost.ts()) {
		return
	}
	m.hook(vclock.Conflict{Key: k, Lost: m.described(lost), Won: m.described(won)})
}

// described returns the write e for a conflict report.
func (m *Map[K, V]) described(e *entry[V]) vclock.Write {
	w := vclock.Write{Writer: m.reps[e.writer()], Time: e.ts(), Seq: e.seq, Deleted: e.deleted()}
	if !e.deleted() {
		w.Value = e.v
	}
	return w
}

// keyHash returns the hash of k for entryHash. Every key in a map was
// hashed without error when it came in, so no error can occur here.
func keyHash[K comparable](k K) uint64 {
	if s, ok := any(k).(string); ok {
		return codec.HashString(codec.HashSeed, s) // what HashValue does, sooner
	}
	h, _ := codec.HashValue(codec.HashSeed, k)
	return h
}

// hashOf returns entryHash of the entry e of the key whose keyHash is kh.
// Entries do not keep their hash: recomputing it when an entry comes or
// goes costs less than the memory it would take.
func (m *Map[K, V]) hashOf(kh uint64, e *entry[V]) uint64 {
	return entryHash(kh, m.repH[e.writer()], e.ts(), e.seq)
}

// twinWins reports whether e, a write under the same dot as old with
// other content (no honest writer makes one), takes old's place in a
// heal: the later timestamp, then a delete marker, then the value with
// the greater hash, so that both sides of a heal keep the same one. Equal
// writes do not win.
func (m *Map[K, V]) twinWins(e, old *entry[V]) bool {
	if c := e.ts().Compare(old.ts()); c != 0 {
		return c > 0
	}
	if e.deleted() != old.deleted() {
		return e.deleted()
	}
	if e.deleted() {
		return false
	}
	return valueHash(e.v) > valueHash(old.v)
}

// takeTwin puts e, a write under the dot of k's entry slot that wins
// over it (see twinWins), in slot's place: the dot is the same, so the
// index and the order of dots stay as they are.
func (m *Map[K, V]) takeTwin(k K, slot *entry[V], e entry[V]) {
	kh := keyHash(k)
	m.forgetLost(k)
	if slot.deleted() {
		m.nDel--
	}
	m.fp -= m.liveHash(k, kh, slot)
	*slot = e
	if e.deleted() {
		m.nDel++
	}
	m.fp += m.liveHash(k, kh, slot)
	m.cfp.Store(nil) // the fingerprint may not have changed
	if ts := e.ts(); ts.After(m.maxTS) {
		m.maxTS = ts
	}
}

// valueHash hashes a value for [Map.ContentFingerprint] and twinWins, as
// codec.HashValue does (a value that cannot be encoded hashes as nothing).
func valueHash[V any](v V) uint64 {
	h, _ := codec.HashValue(codec.HashSeed, v)
	return h
}

// entryHash is the hash of one write, for [Map.Fingerprint]: of its key
// (kh, from codec.HashValue), its writer (wh, the hash of its ID), its
// timestamp and its sequence number.
func entryHash(kh, wh uint64, ts clock.Timestamp, seq uint64) uint64 {
	// The writer's share and the key's are combined through a product by
	// an odd constant, so that swapping them changes the result; so are
	// the timestamp's parts and the sequence number.
	w := codec.Mix(uint64(ts.Wall)*0x9e3779b97f4a7c15 ^ uint64(ts.Logical) ^ seq*0xd6e8feb86659fd93)
	return codec.Mix(kh ^ wh*0xbf58476d1ce4e5b9 ^ w)
}

// makeIndex makes the index of a map that is about to take entries: a
// map with entries has an index.
func (m *Map[K, V]) makeIndex() {
	if m.ix == nil {
		m.ix = new(dotkernel.Index[K])
	}
}

// noteEntry tells the index that e is now the entry of k. Every path by
// which an entry enters m calls it, except decoding, which makes a new
// map.
func (m *Map[K, V]) noteEntry(k K, e *entry[V]) {
	if m.ix.Hears() {
		if m.ix.Active() {
			m.ix.Add(e.writer(), e.seq, k)
		}
		if o := m.ix.Order(); o != nil && m.orderTakes(o) {
			o.Add(e.writer(), e.seq, k)
		}
	}
}

// noteGone tells the index that e is no longer an entry of m.
func (m *Map[K, V]) noteGone(e *entry[V]) {
	if m.ix.Hears() {
		if m.ix.Active() {
			m.ix.Dropped(e.writer(), e.seq)
		}
		m.ix.Order().Dropped()
	}
}

// tidy compacts the index if it holds many stale references. Writers call
// it last.
func (m *Map[K, V]) tidy() {
	if m.ix.Due() {
		m.ix.Compact(m.holds)
	}
	if o := m.ix.Order(); o.Due() {
		o.Compact(m.holds)
	}
	if m.ttlOrd.Due() {
		m.ttlOrd.Compact(m.holdsTTLWrite)
	}
}

// holds reports whether the entry of k is the write (reps[rep], seq).
func (m *Map[K, V]) holds(rep uint32, seq uint64, k K) bool {
	e := m.m.Find(k)
	return e != nil && e.writer() == rep && e.seq == seq
}

// Put sets k to v with a write stamped by the map's clock, and returns the
// write to apply at the other replicas. A floating-point zero in k is
// written as +0 (see [codec.CanonicalKey]): −0 and +0 are one key. A v
// holding interfaces is held as peers decode it (see [codec.HeldValue]):
// Put("k", 5) in a Map[string, any] reads back an int8 5, here as
// everywhere.
//
// If k or v cannot be encoded (a func value in a Map[string, any], say), k
// holds a NaN (not equal to itself, so that no look-up could find it: an
// error matching [codec.ErrKey]), or the replica has used every sequence
// number (see [vclock.MaxSeq]), Put changes nothing and returns an op whose MarshalBinary reports the error
// (a [*codec.EncodeError], or one matching [ErrNoDot]) and which
// [Map.Apply] refuses. Check Put's result by encoding it, as you must to
// ship it anyway.
//
// The write wins locally, because the clock has been advanced past every
// write the map has taken in; the one exception is a write taken in by
// [Map.Merge] whose timestamp the clock refused as too far ahead: it keeps
// winning until the clock catches up with it.
//
// Put panics on a map without a replica ID or clock (the zero value).
func (m *Map[K, V]) Put(k K, v V) Op[K, V] {
	op := Op[K, V]{key: k, value: v} // here, where Put is inlined: not through a pointer
	m.write(&op)
	return op
}

// Delete removes k with a write of "absent" stamped by the map's clock, and
// returns the write to apply at the other replicas. The delete orders
// against puts by the same rule as puts among themselves: a put of k with a
// later timestamp, made anywhere, brings k back; an earlier one, even one
// this replica has not seen yet, stays deleted. Deleting a key that is not
// present still records the delete, for that reason.
//
// The map keeps a delete marker for k until it is collected (see
// [Map.CollectVersions]). Delete panics on a map without a replica ID or
// clock (the zero value). Like [Map.Put], if k cannot be encoded or no
// sequence number is left, Delete changes nothing and returns an op whose
// MarshalBinary reports the error.
func (m *Map[K, V]) Delete(k K) Op[K, V] {
	op := Op[K, V]{key: k, del: true}
	m.write(&op)
	return op
}

// Get returns the value of k and whether k is present. A key holding
// interfaces is looked up in the form the map holds it in (see
// [codec.CanonicalKey]): Get(1) finds the 1 a Map[any, V] holds as an
// int8.
func (m *Map[K, V]) Get(k K) (V, bool) {
	k, ok := codec.LookupKey(k)
	if !ok {
		var zero V
		return zero, false
	}
	e := m.m.Find(k)
	if e == nil || e.deleted() || (m.ttl != nil && m.expiredAt(k, e, m.now())) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Len returns the number of keys present (delete markers and expired keys
// not counted).
func (m *Map[K, V]) Len() int {
	n := m.m.Len() - m.nDel
	if len(m.ttl) > 0 {
		n -= m.expiredHeld(m.now())
	}
	return n
}

// All iterates over the keys present and their values. The order is
// unspecified and may differ between calls. The map must not be changed
// during the iteration.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		now := m.readNow()
		for k, e := range m.m.All() {
			if !e.deleted() && (m.ttl == nil || !m.expiredAt(k, e, now)) && !yield(k, e.v) {
				return
			}
		}
	}
}

// Keys iterates over the keys present. The order is unspecified and may
// differ between calls. The map must not be changed during the iteration.
func (m *Map[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		now := m.readNow()
		for k, e := range m.m.All() {
			if !e.deleted() && (m.ttl == nil || !m.expiredAt(k, e, now)) && !yield(k) {
				return
			}
		}
	}
}

// Apply takes in a write made at another replica (or this one). It wins if
// it orders after the key's current write. An op whose dot the map has
// already seen is ignored, so applying an op twice, late, or in any order
// relative to others is harmless, and replicas that took in the same ops
// hold the same state.
//
// Apply refuses, with an error matching [ErrInvalidOp] and no change, an op
// with a zero timestamp, an empty replica ID, a zero sequence number, or a
// delete carrying a value. If the map's clock refuses the op's timestamp as
// too far ahead of local time, Apply returns that error (matching
// [clock.ErrClockSkew]) and changes nothing, the clock included: keep the op
// and apply it again later.
func (m *Map[K, V]) Apply(op Op[K, V]) error {
	_, err := m.apply(op)
	return err
}

func (m *Map[K, V]) apply(op Op[K, V]) (bool, error) {
	if err := op.check(); err != nil {
		return false, err
	}
	if m.ctx.Contains(op.dot) {
		if op.kind() == 0 {
			m.seenAgain(&op)
		}
		return false, nil
	}
	if m.clk != nil {
		if _, err := m.clk.Update(op.ts); err != nil {
			return false, wrapSkew(op.dot, err)
		}
	}
	kh, err := codec.HashValue(codec.HashSeed, op.key)
	if err != nil {
		return false, fmt.Errorf("%w: key of write %v: %v", ErrInvalidOp, op.dot, err)
	}
	if op.kind() != 0 {
		return m.applyTTL(&op), nil
	}
	m.noteLate(op.key, op.del, op.ts)
	m.ctx.Add(op.dot)
	drops := op.drops()
	ttlChanged := len(drops) > 0 && m.dropTTL(op.key, drops)
	m.recordDrops(op.dot, op.key, drops)
	rep := m.intern(op.dot.Replica)
	e := entry[V]{wall: op.ts.Wall, logical: op.ts.Logical, rep: rep, seq: op.dot.Seq,
		b: baseRef(op.base), v: op.value}
	if op.del {
		e.rep |= delBit
	}
	changed := m.put(op.key, kh, e)
	m.tidy()
	return changed || ttlChanged, nil
}

// Merge sets m to the join of m and o. For a key both hold, the write that
// orders later is kept. A key only one side holds is kept, unless the other
// side has seen its write (its causal context holds the write's dot) and so
// must have overwritten it with a delete marker it has since collected. The
// expire and persist writes of each key join the same way, by their dots
// (see [Map.Expire]). The causal contexts are united.
//
// Merge is commutative, associative and idempotent, and never fails. A nil
// o, or m itself, changes nothing.
//
// Merge trusts its argument: it advances the clock past o's latest
// timestamp and, if the clock refuses that timestamp as too far ahead, merges
// anyway. Bytes from the network should go through [Map.MergeBinary], which
// refuses a skewed state.
func (m *Map[K, V]) Merge(o *Map[K, V]) {
	if o == nil || o == m {
		return
	}
	m.merge(o)
	if m.clk != nil && !o.maxTS.IsZero() {
		_, _ = m.clk.Update(o.maxTS) // a refusal is ignored: see the doc comment
	}
}

// Heal merges o into m as [Map.Merge] does and, where both hold one key's
// write under one dot with different content, keeps on both sides the
// one with the later timestamp, then a delete, then the value with the
// greater hash. No honest writer makes two writes under one dot; a peer
// that sent two replicas one each leaves them differing for good, since
// a merge keeps the write it has: [Map.ContentFingerprint] shows it, and
// a heal with each other's states ends it, whichever heals first. A nil
// o changes nothing.
func (m *Map[K, V]) Heal(o *Map[K, V]) {
	if o == nil || o == m {
		return
	}
	m.join(o, true, true)
	if m.clk != nil && !o.maxTS.IsZero() {
		_, _ = m.clk.Update(o.maxTS) // a refusal is ignored, as in Merge
	}
}

// merge joins o into m and reports whether the visible content changed.
func (m *Map[K, V]) merge(o *Map[K, V]) bool { return m.mergeWith(o, true) }

// mergeWith merges o into m; if scan is false, o is known to name in its
// context only the dots of its entries, and the pass looking for keys of
// m that o has seen overwritten is skipped.
func (m *Map[K, V]) mergeWith(o *Map[K, V], scan bool) bool { return m.join(o, scan, false) }

// join is mergeWith, and with heal set, the merge of [Map.Heal]: where m
// and o hold one key's write under one dot with different content (a
// peer sent each a different write under that dot), the one that twinWins
// picks stays on both sides.
func (m *Map[K, V]) join(o *Map[K, V], scan, heal bool) bool {
	changed := false
	if !o.gone.IsZero() {
		defer m.takeGone(o.gone) // once the context has grown
	}
	// Translate o's replica indices into m's, and precompute, per replica,
	// how far each context is compact, so that most membership tests are a
	// comparison.
	trans := make([]uint32, len(o.reps))
	if len(o.reps) > 16 {
		m.reserve(len(o.reps))
	}
	for i, id := range o.reps {
		trans[i] = m.intern(id)
	}
	mine := contextLimits(&m.ctx, o.reps)
	theirs := contextLimits(&o.ctx, m.reps)
	// shared counts the dots both contexts hold. If every one of them is
	// the dot of an entry of m whose key o also holds, no key only m holds
	// can have been seen by o, and the pass that looks for such keys is
	// skipped: merging a delta into a large map costs the delta's size.
	shared := intersectSize(&m.ctx, &o.ctx)
	var sharedSeen uint64
	if len(o.ttl) > 0 || len(m.ttl) > 0 || len(o.drops) > 0 {
		both, ttlChanged := m.mergeTTL(o, trans, &mine, &theirs)
		sharedSeen += both
		changed = changed || ttlChanged
	}
	if o.m.Len() > 0 {
		m.makeIndex()
		if 2*o.m.Len() >= m.m.Len() {
			// The merge costs about as much as moving m's keys:
			// if the table grows, it moves them at once.
			m.m.GrowAtOnce(true)
			defer m.m.GrowAtOnce(false)
		}
		m.makeRoom(o, &mine)
	}
	var seen []int // slots of o: see takeSeen
	for i, n := 0, o.m.Slots(); i < n; i++ {
		if !o.m.Full(i) {
			continue
		}
		k, oe := o.m.At(i)
		rep := trans[oe.writer()] | oe.rep&delBit
		old, at := m.m.Lookup(k)
		ok := old != nil
		if !ok {
			if mine.has(&m.ctx, o.reps, oe.writer(), oe.seq) {
				continue // seen here and overwritten by a collected marker
			}
			if m.collTS != nil && !oe.deleted() && !oe.ts().After(*m.collTS) {
				m.late++ // see LateWrites
			}
			if m.hook == nil {
				// What replace does, without copying the entry twice.
				if m.takeNew(k, at, oe, rep) {
					changed = true
				}
				continue
			}
		} else {
			if shared > 0 && theirs.has(&o.ctx, m.reps, old.writer(), old.seq) {
				sharedSeen++
			}
			if old.writer() == rep&repMask && old.seq == oe.seq {
				if heal {
					ne := *oe
					ne.rep = rep
					if m.twinWins(&ne, old) {
						m.takeTwin(k, old, ne)
						changed = true
					}
				}
				continue // the same write
			}
		}
		ne := *oe
		ne.rep = rep
		if ok && m.newer(&ne, old) {
			if mine.has(&m.ctx, o.reps, oe.writer(), oe.seq) {
				// Seen here, yet newer than k's entry: decided after
				// the pass (see takeSeen).
				seen = append(seen, i)
				continue
			}
			if m.hook == nil {
				if m.takeOver(k, old, &ne) {
					changed = true
				}
				continue
			}
		}
		fresh := m.hook != nil && !mine.has(&m.ctx, o.reps, oe.writer(), oe.seq)
		if m.replace(k, keyHash(k), ne, old, at, fresh) {
			changed = true
		}
	}
	if len(seen) > 0 && m.takeSeen(o, trans, seen) {
		changed = true
	}
	if scan && sharedSeen < shared && m.dropSeen(o, &theirs) {
		changed = true
	}
	m.ctx.Merge(&o.ctx)
	if o.maxTS.After(m.maxTS) {
		m.maxTS = o.maxTS
	}
	m.tidy()
	return changed
}

// dropSeen drops, for a merge of o (theirs describes its context), the
// entries of m whose write o has seen, for keys o does not hold: o
// overwrote them with a delete marker it has since collected. It looks
// only at the entries of m whose dots o's context holds, found in m's
// order of its dots (made here, in one pass over m, the first time a
// merge needs it): each is of a key o holds, or dropped, so that the work
// is within o's size plus the entries dropped (each paid for by the write
// that made it). It reports whether the visible content changed.
func (m *Map[K, V]) dropSeen(o *Map[K, V], theirs *limits) bool {
	if scanSeen {
		return m.dropSeenScan(o, theirs)
	}
	ord := m.makeOrder()
	changed := false
	for rg := range o.ctx.Ranges() {
		rep, ok := m.findRep(rg.Replica)
		if !ok {
			continue // no entry of m is of a writer m does not know
		}
		ord.Range(rep, rg.Lo, rg.Hi, func(seq uint64, k K) bool {
			m.seenWork++
			e := m.m.Find(k)
			if e == nil || e.writer() != rep || e.seq != seq {
				return false // stale
			}
			if o.m.Find(k) != nil {
				return true
			}
			if m.dropEntry(k, e) {
				changed = true
			}
			return false
		})
	}
	return changed
}

// orderTakes reports whether o, m's order of its dots, takes another
// reference; once it is idle (it has taken as many since its last query
// as m has keys, see dotkernel.Order.Idle) m lets it go instead, and the
// next merge that needs it makes it again. Every write keeps an order up
// to date, which costs a put of an existing key about 84% more (1,477
// instructions against 803): kept for the map's life after one merge that
// made it, it would cost more than making it again for each such merge.
func (m *Map[K, V]) orderTakes(o *dotkernel.Order[K]) bool {
	if o.Idle(m.m.Len()) {
		m.ix.SetOrder(nil)
		return false
	}
	return true
}

// makeOrder returns m's order of its dots, which its index carries,
// making it first, in one pass over m, if there is none.
func (m *Map[K, V]) makeOrder() *dotkernel.Order[K] {
	m.makeIndex()
	if ord := m.ix.Order(); ord != nil {
		return ord
	}
	m.seenWork += m.m.Len()
	ord := dotkernel.NewOrder(func(note func(rep uint32, seq uint64, k K)) {
		for k, e := range m.m.All() {
			note(e.writer(), e.seq, k)
		}
	})
	m.ix.SetOrder(ord)
	return ord
}

// dropEntry drops e, the entry of k, whose write another replica has seen
// and overwritten, and reports whether the visible content changed.
func (m *Map[K, V]) dropEntry(k K, e *entry[V]) bool {
	m.forgetLost(k)
	m.noteGone(e)
	m.noteCollected(e.ts()) // collected where it came from
	changed := false
	if e.deleted() {
		m.nDel--
		m.gcN++ // collected where it came from
	} else {
		m.fp -= m.liveHash(k, keyHash(k), e)
		changed = true
	}
	m.m.Remove(k) // e is not used after
	return changed
}

// dropSeenScan is dropSeen by a pass over every entry of m.
func (m *Map[K, V]) dropSeenScan(o *Map[K, V], theirs *limits) bool {
	changed := false
	m.seenWork += m.m.Len()
	for k, e := range m.m.All() {
		if !theirs.has(&o.ctx, m.reps, e.writer(), e.seq) {
			continue
		}
		if o.m.Find(k) != nil {
			continue
		}
		if m.dropEntry(k, e) {
			changed = true
		}
	}
	return changed
}

// scanSeen makes merges find the entries the other side has seen and
// overwritten by a pass over every entry, as they did before maps kept an
// order of their dots. Tests set it, to hold the two to the same result.
var scanSeen = false

// takeSeen takes, for a merge of o, the entries of o in the slots seen:
// writes whose dots m has seen, yet newer than the entries of their keys
// in m. In a map whose writers never issued a dot twice, that happens
// only after a retirement renamed a writer and so changed who wins a tie
// of timestamps, and the write is taken as any newer one. A write whose
// dot m holds for another key (a dot issued twice: see UnmarshalBinary)
// is not: taking it would leave two keys with one dot, which no encoding
// can express (see ErrSharedDot). It is ignored, as Apply ignores an op
// whose dot it has seen. The keys of m holding those dots are found in
// m's order of its dots (made, in one pass over m, by the first merge
// that needs it): a look-up per write.
func (m *Map[K, V]) takeSeen(o *Map[K, V], trans []uint32, seen []int) bool {
	type dot struct {
		rep uint32
		seq uint64
	}
	dotOf := func(i int) (K, *entry[V], dot) {
		k, oe := o.m.At(i)
		return k, oe, dot{trans[oe.writer()], oe.seq}
	}
	want := make(map[dot]bool, len(seen))
	for _, i := range seen {
		_, _, d := dotOf(i)
		want[d] = true
	}
	held := make(map[dot]bool, len(seen)) // the dots of seen that keys of m hold
	if scanSeen {
		m.seenWork += m.m.Len()
		for _, e := range m.m.All() {
			if d := (dot{e.writer(), e.seq}); want[d] {
				held[d] = true
			}
		}
	} else {
		ord := m.makeOrder()
		for d := range want {
			ord.Range(d.rep, d.seq, d.seq, func(seq uint64, k K) bool {
				m.seenWork++
				live := m.holds(d.rep, seq, k)
				held[d] = held[d] || live
				return live
			})
		}
	}
	changed := false
	for _, i := range seen {
		k, oe, d := dotOf(i)
		old, at := m.m.Lookup(k) // again: the table may have grown since
		if held[d] || old == nil {
			continue
		}
		ne := *oe
		ne.rep = d.rep | oe.rep&delBit
		if m.hook == nil {
			changed = m.takeOver(k, old, &ne) || changed
		} else {
			changed = m.replace(k, keyHash(k), ne, old, at, false) || changed
		}
		held[d] = true // o itself may hold it for another key
	}
	return changed
}

// takeNew is replace for a merge that adds k, absent from m, at the place
// at, with the entry oe of another map whose writer is m's rep (with the
// delete bit), when there is no conflict hook to tell.
func (m *Map[K, V]) takeNew(k K, at dotkernel.Place, oe *entry[V], rep uint32) bool {
	e := m.m.Add(at, k)
	*e = *oe
	e.rep = rep
	if len(m.lostTo) > 0 {
		delete(m.lostTo, k)
	}
	if m.ix.Hears() { // noteEntry, spelled out
		if m.ix.Active() {
			m.ix.Add(rep&repMask, e.seq, k)
		}
		if o := m.ix.Order(); o != nil && m.orderTakes(o) {
			o.Add(rep&repMask, e.seq, k)
		}
	}
	ts := e.ts()
	if ts.After(m.maxTS) {
		m.maxTS = ts
	}
	if e.deleted() {
		m.nDel++
		return false
	}
	if !m.expiring(k, e) { // hashOf, spelled out
		m.fp += entryHash(keyHash(k), m.repH[rep&repMask], ts, e.seq)
	}
	return true
}

// takeOver is replace for a merge that replaces old, the entry of k, by
// ne, which orders after it, when there is no conflict hook to tell. The
// key is hashed only if the fingerprint changes.
func (m *Map[K, V]) takeOver(k K, old, ne *entry[V]) bool {
	if len(m.lostTo) > 0 {
		delete(m.lostTo, k)
	}
	prev := *old
	*old = *ne
	if m.ix.Hears() { // noteEntry and noteGone, spelled out
		if m.ix.Active() {
			m.ix.Add(ne.writer(), ne.seq, k)
			m.ix.Dropped(prev.writer(), prev.seq)
		}
		if o := m.ix.Order(); o != nil && m.orderTakes(o) {
			o.Add(ne.writer(), ne.seq, k)
			o.Dropped()
		}
	}
	if ts := ne.ts(); ts.After(m.maxTS) {
		m.maxTS = ts
	}
	if len(m.ttl) != 0 {
		if ws, ok := m.ttl[k]; ok {
			// Each entry's share in the fingerprint, if any: the new
			// entry may be written after an expire that ended the old.
			kh := keyHash(k)
			if !prev.deleted() {
				if m.deadlineOf(k, ws, prev.wall) == 0 {
					m.fp -= m.hashOf(kh, &prev)
				}
			} else {
				m.nDel--
			}
			if !ne.deleted() {
				if m.deadlineOf(k, ws, ne.wall) == 0 {
					m.fp += m.hashOf(kh, ne)
				}
			} else {
				m.nDel++
			}
			return !prev.deleted() || !ne.deleted()
		}
	}
	switch {
	case !prev.deleted() && !ne.deleted():
		kh := keyHash(k) // hashOf twice, spelled out
		m.fp += entryHash(kh, m.repH[ne.writer()], ne.ts(), ne.seq) - entryHash(kh, m.repH[prev.writer()], prev.ts(), prev.seq)
		return true
	case prev.deleted() && ne.deleted():
		return false
	case prev.deleted():
		m.nDel--
		m.fp += m.hashOf(keyHash(k), ne)
		return true
	default:
		m.nDel++
		m.fp -= m.hashOf(keyHash(k), &prev)
		return true
	}
}

// makeRoom grows m's table, before a merge of o, to hold every key o may
// bring, when that may take more than one doubling (a state taken in by a
// new or small replica): growing once moves each key once, growing by
// doubling up to twice. The keys o may bring are those whose write m has
// not seen (mine describes m's context); a table that one doubling at
// most will fit is left to grow as it goes.
func (m *Map[K, V]) makeRoom(o *Map[K, V], mine *limits) {
	if m.m.Len()+o.m.Len() <= m.m.Slots()*7/4 {
		return
	}
	fresh := 0
	for _, e := range o.m.All() {
		if !mine.has(&m.ctx, o.reps, e.writer(), e.seq) {
			fresh++
		}
	}
	m.m.Reserve(m.m.Len() + fresh)
}

// limits holds, for each replica of a table, the count up to which a
// context holds all of its events.
type limits struct {
	upTo    []uint64
	compact bool // the context holds nothing beyond upTo
}

func contextLimits(ctx *vclock.Context, reps []vclock.ReplicaID) limits {
	v := ctx.Version()
	l := limits{upTo: make([]uint64, len(reps)), compact: ctx.IsCompact()}
	for i, id := range reps {
		l.upTo[i] = v.Get(id)
	}
	return l
}

// has reports whether ctx, described by l, holds the dot (reps[rep], seq).
// Replicas added to reps after l was made count as unseen beyond the
// context's runs.
func (l *limits) has(ctx *vclock.Context, reps []vclock.ReplicaID, rep uint32, seq uint64) bool {
	if int(rep) < len(l.upTo) && seq <= l.upTo[rep] {
		return true
	}
	if l.compact && int(rep) < len(l.upTo) {
		return false
	}
	return ctx.Contains(vclock.Dot{Replica: reps[rep], Seq: seq})
}

// intersectSize returns the number of dots a and b both hold, saturating
// at the largest uint64. It walks b's runs and looks up a's runs within
// each, so merging a small delta or part (b) into a large map (a) costs
// the delta's runs, not the map's.
func intersectSize(a, b *vclock.Context) uint64 {
	if a.IsEmpty() || b.IsEmpty() {
		return 0
	}
	var n uint64
	over := false
	for rg := range b.Ranges() {
		a.RangesWithin(rg.Replica, rg.Lo, rg.Hi, func(lo, hi uint64) {
			if add := hi - lo + 1; add == 0 || n+add < n {
				over = true
			} else {
				n += add
			}
		})
		if over {
			return ^uint64(0)
		}
	}
	return n
}

// Version returns the map's version: for each replica, the number of its
// writes seen without a gap. Hand it to a peer's [Map.DeltaSince].
func (m *Map[K, V]) Version() vclock.Clock { return m.ctx.Version() }

// DeltaSince returns a map holding what a replica whose version is v lacks:
// the entries (writes and delete markers) whose dot v has not seen, and the
// part of the causal context v has not seen. Merging it into a replica
// whose version was v (or later) has the same effect as merging the whole
// of m, but for one thing: a delete marker the receiver still holds and m
// has collected stays until the receiver collects it too. The delta also
// holds the expire and persist writes v has not seen and the drop records
// of writes v has not seen (see [Map.Expire]), found by a pass over the
// keys that have a time to live. The delta shares
// m's clock and has no replica ID: it is for merging and encoding, not for
// writing.
//
// A replica whose version v has not seen every write this map has
// collected ([Map.CollectVersions], [Map.Collect]: delete markers, expired
// keys, drop records) is sent the whole state instead, since a delta
// would not tell it to drop what those writes overwrote: such a replica
// was restored from a backup older than what it reported when the writes
// were collected, or is new. The map keeps, per writer, the newest write
// it has collected, and takes in the same from every state it merges, so
// that the rule holds at every replica and after a restart from
// [Map.MarshalBinary]'s bytes.
//
// The entries are found through an index of the map by dot, at a cost
// that grows with the delta (plus a step per replica), not with the map.
// The first call, and a call for a version below the index's floors
// (older than every version asked about since the last
// [Map.CollectVersions]), scan the map instead, and build or extend the
// index on the way. DeltaSince may run at the same time as other readers:
// it locks the index.
func (m *Map[K, V]) DeltaSince(v vclock.Clock) *Map[K, V] {
	if !m.gone.IsZero() && !m.gone.LessOrEqual(v) {
		return m.whole()
	}
	return m.deltaSince(v)
}

// deltaSince is DeltaSince for a version that has seen every collected
// write.
func (m *Map[K, V]) deltaSince(v vclock.Clock) *Map[K, V] {
	d := m.deltaEntries(v)
	if (len(m.ttl) > 0 || len(m.drops) > 0) && !d.ctx.IsEmpty() {
		if d.reps == nil {
			d.reps, d.repH, d.repIdx = slices.Clone(m.reps), slices.Clone(m.repH), maps.Clone(m.repIdx)
		}
		seen := make([]uint64, len(m.reps))
		for i, id := range m.reps {
			seen[i] = v.Get(id)
		}
		m.ttlDelta(d, v, seen)
	}
	return d
}

// whole returns a copy of m's whole state for DeltaSince: no replica ID,
// m's clock.
func (m *Map[K, V]) whole() *Map[K, V] {
	d := m.Clone()
	d.id, d.self, d.lostTo, d.collTS = "", 0, nil, nil
	return d
}

// collected notes that the write (rep, seq) has left the map by
// collection: a replica that has not seen it may hold what it overwrote,
// and DeltaSince sends such a replica the whole state, whose context
// tells it what to drop.
func (m *Map[K, V]) collected(rep uint32, seq uint64) {
	if n := int(rep) + 1 - len(m.goneTop); n > 0 {
		m.goneTop = append(m.goneTop, make([]uint64, n)...)
	}
	m.goneTop[rep] = max(m.goneTop[rep], seq)
}

// takeGone adds the collected writes of a state merged in, g, to m.gone,
// each only as far as m has seen every write of its writer up to it: a
// peer's list cannot make m send whole states for writes beyond what m
// has seen. The caller has merged the state's context.
func (m *Map[K, V]) takeGone(g vclock.Clock) {
	for id, n := range g.All() {
		if n = min(n, m.ctx.Prefix(id)); n > 0 {
			m.gone.Advance(id, n)
		}
	}
}

// flushCollected moves what collected noted into m.gone: once per
// collection, not once per write collected.
func (m *Map[K, V]) flushCollected() {
	for rep, n := range m.goneTop {
		if n > 0 {
			m.gone.Advance(m.reps[rep], n)
		}
	}
	m.goneTop = m.goneTop[:0]
}

// deltaEntries is DeltaSince but for the expire and persist writes.
func (m *Map[K, V]) deltaEntries(v vclock.Clock) *Map[K, V] {
	d := &Map[K, V]{clk: m.clk, ctx: m.ctx.Since(v)}
	if d.ctx.IsEmpty() {
		return d
	}
	d.reps = slices.Clone(m.reps)
	d.repH = slices.Clone(m.repH)
	d.repIdx = maps.Clone(m.repIdx)
	d.ix = new(dotkernel.Index[K])
	seen := make([]uint64, len(m.reps))
	for i, id := range m.reps {
		seen[i] = v.Get(id)
	}
	if m.ix != nil && m.ix.Since(seen, func(rep uint32, seq uint64, k K) {
		if e := m.m.Find(k); e != nil && e.writer() == rep && e.seq == seq {
			d.take(k, e)
		}
	}) {
		return d
	}
	scan := func(note func(rep uint32, seq uint64, k K)) {
		for k, e := range m.m.All() {
			if e.seq > seen[e.writer()] {
				d.take(k, e)
				note(e.writer(), e.seq, k)
			}
		}
	}
	if m.ix == nil {
		scan(func(uint32, uint64, K) {})
	} else {
		m.ix.Rebuild(seen, scan)
	}
	return d
}

// take adds the entry e of k to a delta being built, once.
func (m *Map[K, V]) take(k K, e *entry[V]) {
	slot, at := m.m.Lookup(k)
	if slot != nil {
		return
	}
	m.m.Insert(at, k, *e)
	if e.deleted() {
		m.nDel++
	} else {
		m.fp += m.hashOf(keyHash(k), e)
	}
	if ts := e.ts(); ts.After(m.maxTS) {
		m.maxTS = ts
	}
}

// Collect drops the delete markers whose timestamp is before stable and
// returns how many it dropped. The dots of their writes stay in the causal
// context, so a late copy of a write the marker overwrote is still
// recognised and ignored.
//
// The caller computes stable, and must make sure that every replica has
// applied every write timestamped before stable, and that no replica can
// still make one (every replica's clock has passed stable), and that both
// stay true: no replica may come back from a snapshot older than what it
// had applied when it counted towards stable. One way to compute stable:
// each replica sends, with its version, a reading of its clock taken after the writes that version
// counts; a replica's timestamps grow with its sequence numbers, so whoever
// has applied that version of replica p has applied every write of p before
// the reading, and p can make no more. The minimum of these readings over
// every pair of replicas is a stable point.
//
// Then no write older than a collected marker can arrive anywhere anymore,
// and each replica holds the marker or a later write of its key, so
// dropping it cannot bring the key back. Collecting sooner can, even once
// every replica has seen the delete itself: a put of the key older than the
// delete but still in flight to this replica would find neither marker nor
// dot here, and make the key reappear at this replica only.
func (m *Map[K, V]) Collect(stable clock.Timestamp) int {
	defer m.flushCollected()
	expired := 0
	if len(m.ttl) > 0 {
		expired = m.collectExpired(true, func(at int64) bool { return at < stable.Wall },
			func(_ uint32, _ uint64, ts clock.Timestamp) bool { return ts.Before(stable) })
	}
	if m.nDel == 0 {
		m.tidy()
		return expired
	}
	n := 0
	for k, e := range m.m.All() {
		if e.deleted() && e.ts().Before(stable) {
			m.forgetLost(k)
			m.noteGone(e)
			m.collected(e.writer(), e.seq)
			m.noteCollected(e.ts())
			m.m.Remove(k)
			n++
		}
	}
	m.nDel -= n
	m.gcN += uint64(n)
	m.tidy()
	return n + expired
}

// CollectVersions drops the delete markers every replica has seen, judging
// by peers, a recent version (from [Map.Version]) of every other replica,
// and returns how many it dropped. It drops nothing unless this map has
// seen everything each of those versions counts; then it drops every marker
// that all of them count.
//
// That is enough, without any timestamp: a peer whose version counts a
// marker has taken the delete in, and its clock with it, so its later
// writes order after the delete; the writes it made before are counted by
// its version, so this map has seen them all, and a late copy of any of
// them is recognised by its dot and ignored. (That holds of the run that
// reported the version, not of another process under its replica ID: see
// [Map.LateWrites].) peers must be every other replica there is; a
// replica that joins later must start from a copy of a current state.
// With no peers, every marker this map's version counts is dropped. Old
// versions are safe, only less effective. Like [Map.Collect], it never
// changes the visible content.
//
// The versions must be durable: a peer must not come back, after a crash,
// from a snapshot older than a version it reported. Such a peer has lost the
// delete, and its restarted clock may run behind the delete's timestamp:
// a put it then makes wins over a marker that is gone, against the conflict
// rule. Persist a replica's state before reporting its version. (The
// replication engine reports, for collection, only the versions of each
// replica's last saved snapshot.)
//
// An expired key goes too once every replica has seen its writes and a
// write stamped at or after its expiry (with no peers, once this map's
// clock has reached the expiry): no replica's clock is then short of the
// expiry, so none can still persist or write the key before it. This
// map's clock alone does not decide, since a clock stepped forward and
// back has passed expiries that the others have not.
//
// The writes every replica has seen are also what no peer will ask a delta
// for again: CollectVersions stops indexing them for [Map.DeltaSince].
func (m *Map[K, V]) CollectVersions(peers []vclock.Clock) int {
	defer m.flushCollected()
	if m.nDel == 0 && !m.ix.Active() && len(m.ttl) == 0 && len(m.drops) == 0 {
		return 0
	}
	own := m.ctx.Version()
	seen := own.Clone()
	for _, v := range peers {
		if !v.LessOrEqual(own) {
			return 0 // a peer has seen writes this map has not: not yet
		}
		seen.Meet(v)
	}
	upTo := make([]uint64, len(m.reps))
	for i, id := range m.reps {
		upTo[i] = seen.Get(id)
	}
	m.ix.Raise(upTo)
	if len(m.drops) > 0 {
		m.collectDrops(seen)
	}
	expired := 0
	if len(m.ttl) > 0 {
		// An instant is gone once this map's clock has reached it and
		// every replica's clock is past it: every replica has taken in a
		// write stamped at or after it (its version counts one, and a
		// replica takes in the timestamps of the writes it takes in).
		// Then no replica can still persist, expire or write the key by
		// a timestamp before the instant: each reads the key as expired
		// from there on, whatever its wall clock says now. This map's
		// own clock alone is not enough: stepped forward and back, it
		// has passed an expiry that the others have not, and a persist
		// they make before it must still find the key.
		now, seenWall, known := m.now(), int64(0), false
		expired = m.collectExpired(false, func(at int64) bool {
			if now < at {
				return false
			}
			if len(peers) == 0 {
				return true // this map's clock is the only one
			}
			if !known {
				seenWall, known = m.seenWall(upTo), true
			}
			return seenWall >= at
		}, func(rep uint32, seq uint64, _ clock.Timestamp) bool { return seq <= upTo[rep] })
	}
	if m.nDel == 0 {
		return expired
	}
	n := 0
	for k, e := range m.m.All() {
		if e.deleted() && e.seq <= upTo[e.writer()] {
			m.collected(e.writer(), e.seq)
			m.noteCollected(e.ts())
			m.m.Remove(k) // at or below the index's floor: not referenced
			m.ix.Order().Dropped()
			m.forgetLost(k)
			n++
		}
	}
	m.nDel -= n
	m.gcN += uint64(n)
	return n + expired
}

// Clone returns an independent copy of m with the same replica ID and
// clock. Values are copied as Go assigns them: memory they refer to is
// shared. Do not write to both a map and its clone: they would issue the
// same dots for different writes.
func (m *Map[K, V]) Clone() *Map[K, V] {
	return &Map[K, V]{
		id:     m.id,
		self:   m.self,
		clk:    m.clk,
		reps:   slices.Clone(m.reps),
		repH:   slices.Clone(m.repH),
		repIdx: maps.Clone(m.repIdx),
		ctx:    m.ctx.Clone(),
		m:      m.m.Clone(),
		nDel:   m.nDel,
		gcN:    m.gcN,
		late:   m.late,
		gone:   m.gone.Clone(),
		maxTS:  m.maxTS,
		fp:     m.fp,
		lim:    m.lim,
		ix:     m.ix.Clone(),
		// ord is not copied: the clone makes its own when it needs it.
		lostTo:  maps.Clone(m.lostTo),
		collTS:  m.collTS,
		ttl:     cloneTTL(m.ttl),
		drops:   maps.Clone(m.drops),
		dropped: maps.Clone(m.dropped),
	}
}

// Equal reports whether m and o hold the same state: the same causal
// context, and for every key the same winning write (timestamp, replica and
// sequence number) and whether it is a delete, and the same expire and
// persist writes in force for every key (not the drop records they leave,
// which replicas discard at different moments). Values are not compared: a
// write is unique by its dot and timestamp (a replica never issues a dot
// twice and IDs are never reused), so the same write means the same value.
// Replica IDs and clocks are not compared; a nil o is an empty state.
func (m *Map[K, V]) Equal(o *Map[K, V]) bool {
	if o == nil {
		o = &Map[K, V]{}
	}
	if m.m.Len() != o.m.Len() || m.nDel != o.nDel || !m.ctx.Equal(&o.ctx) {
		return false
	}
	for k, e := range m.m.All() {
		oe := o.m.Find(k)
		if oe == nil || e.wall != oe.wall || e.logical != oe.logical || e.seq != oe.seq ||
			e.deleted() != oe.deleted() || m.reps[e.writer()] != o.reps[oe.writer()] {
			return false
		}
	}
	return m.equalTTL(o)
}

// Fingerprint returns a hash of the map's visible content: for every key
// present, the key and the write that set it (its timestamp, writer and
// sequence number). Two maps that are [Map.Equal] have the same
// fingerprint, whatever order their writes and merges came in, and maps
// whose content differs almost surely have different ones.
//
// Left out, because replicas legitimately hold them for different times:
// delete markers (collected at different moments), the causal context
// (compare versions for that), the index, the replica ID and the clock.
// Values are left out as [Map.Equal] leaves them out: a write is unique by
// its dot and timestamp, unless a peer sent two different writes under one
// ([Map.ContentFingerprint] tells those apart). So are the keys that will
// expire (see [Map.Expire]): replicas hide an expiring key at different
// moments, by their own clocks, and collect it at different moments. A
// persisted key counts. The hash is the same in every process and on
// every machine; it is kept up to date with every change, so Fingerprint
// costs nothing.
func (m *Map[K, V]) Fingerprint() uint64 { return m.fp }

// ContentFingerprint returns a hash of the map's visible content with its
// values: what [Map.Fingerprint] hashes, each write with its value. The
// fingerprint leaves values out, a write being unique by its dot and
// timestamp; a peer that sent two replicas two different values under
// one dot and timestamp leaves them with equal fingerprints and different
// content fingerprints. Like the fingerprint, it leaves out the keys that
// will expire; [Map.ContentFingerprintAt] does not. It implements
// crdt.ContentFingerprinter: the replication engine compares it with a
// peer's, counts a difference as a divergence, and heals it with
// [Map.HealBinary].
//
// It costs a pass over the map, hashing every value, when the map has
// changed since the last call (as the fingerprint, the size and the
// expire and persist writes tell), and nothing otherwise. Several readers
// may call it at once.
func (m *Map[K, V]) ContentFingerprint() uint64 { return m.ContentFingerprintAt(math.MaxInt64) }

// ContentFingerprintAt is [Map.ContentFingerprint] with, besides, every
// key that will expire after the wall time wall (in nanoseconds since
// the Unix epoch): its write, its value and the instant it expires at.
// No replica can have collected such a key while a replica's clock reads
// wall (see [Map.CollectVersions]), so two replicas at one version that
// hold different such keys (a peer sent each its own writes under one
// writer: a value for an hour, or a year, at one, another value, another
// expiry or no key at the other) differ in it, where the fingerprint and
// the content fingerprint, leaving expiring keys out, agree. It costs what
// ContentFingerprint does, and a pass again when a key's expiry falls
// between wall and the wall of the last call.
func (m *Map[K, V]) ContentFingerprintAt(wall int64) uint64 {
	// Computed again when the fingerprint, the size or the expire and
	// persist writes changed, or a heal replaced a value (takeTwin),
	// which is all that changes a value, or when the keys that expire
	// after wall are not those of the last call. A write that replaces
	// an expiring key's (which the fingerprint leaves out) comes with a
	// dot: the number of writes seen tells.
	fp, n, gen, seen := m.fp, m.m.Len(), m.ttlGen, m.seenCount()
	if c := m.cfp.Load(); c != nil && c.fp == fp && c.n == n && c.gen == gen && c.seen == seen && c.from <= wall && wall < c.until {
		return c.sum
	}
	var sum uint64
	from, until := int64(math.MinInt64), int64(math.MaxInt64)
	for k, e := range m.m.All() {
		if e.deleted() {
			continue
		}
		at := int64(0)
		if len(m.ttl) > 0 {
			if ws, ok := m.ttl[k]; ok {
				at = m.deadlineOf(k, ws, e.wall)
			}
		}
		switch {
		case at == 0:
			sum += codec.Mix(m.hashOf(keyHash(k), e) ^ codec.Mix(valueHash(e.v)))
		case wall < at:
			until = min(until, at)
			sum += codec.Mix(m.hashOf(keyHash(k), e) ^ codec.Mix(valueHash(e.v)^codec.Mix(uint64(at))))
		default:
			from = max(from, at)
		}
	}
	m.cfp.Store(&contentFP{fp: fp, sum: sum, n: n, gen: gen, seen: seen, from: from, until: until})
	return sum
}

// seenCount returns how many writes the map has seen: the size of its
// causal context, which grows with every write it takes in.
func (m *Map[K, V]) seenCount() uint64 {
	var n uint64
	for r := range m.ctx.Ranges() {
		n += r.Hi - r.Lo + 1
	}
	return n
}

// ContentFingerprintNow returns [Map.ContentFingerprintAt] the map's
// current wall time, as its clock tells it (the later of the clock's
// physical time and of every timestamp it has issued or taken in), and
// that time. The replication engine sends both in its digests, and a
// peer compares its own content fingerprint at that time with it.
func (m *Map[K, V]) ContentFingerprintNow() (cfp uint64, wall int64) {
	wall = m.now()
	return m.ContentFingerprintAt(wall), wall
}

// contentFP is a content fingerprint, the fingerprint, size, generation
// of expire and persist writes and number of writes seen of the map it
// was computed for, and the wall times from and until which it holds:
// the latest expiry it left out and the earliest it counted.
type contentFP struct {
	fp, sum, gen, seen uint64
	n                  int
	from, until        int64
}

// HasGaps reports whether the map holds writes that its [Map.Version]
// leaves out, received past a gap in their writer's sequence (as after a
// restart from an older snapshot). Two maps at one version hold the
// same content, and so the same [Map.Fingerprint], if they hold the
// same writes past it: none, or those [Map.GapHash] names alike; the
// replication engine compares fingerprints only then.
func (m *Map[K, V]) HasGaps() bool { return !m.ctx.IsCompact() }

// GapHash returns a hash of the writes the map holds past its
// [Map.Version] (0 if none), the same on every machine and whatever order
// they arrived in, and true. Two maps at one version with equal gap
// hashes have seen the same writes, so the replication engine compares
// their fingerprints even across a gap.
func (m *Map[K, V]) GapHash() (uint64, bool) { return m.ctx.GapHash(), true }

// SetLimits sets the limits the decoding methods of m apply to their input
// ([Map.UnmarshalBinary], [Map.MergeBinary], [Map.ApplyBinary],
// [Map.ApplyBinaryFrom], [Map.CollectBinary], and the version given to
// [Map.DeltaSinceBinary]). Zero fields, as in the zero Map, mean the values
// of [codec.DefaultLimits].
func (m *Map[K, V]) SetLimits(l codec.Limits) { m.lim = l }
