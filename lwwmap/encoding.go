package lwwmap

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// The encodings.
//
// An op (codec.KindMapPut for a put, codec.KindMapDelete for a delete) is
// written in the layout of format version 3, a short sequence of values
// after the header, not an array, its integers as unsigned LEB128 varints
// (codec.Writer.Uvarint), not msgpack:
//
//	sequence number of the dot times 8, plus 1 if the logical part
//	    follows, plus 2 if a base follows, plus 4 if the wall time is in
//	    nanoseconds
//	wall time: in milliseconds if it is a whole number of them (what the
//	    system clock gives, see clock.New), else in nanoseconds
//	logical part, only if not zero
//	key, in msgpack (codec.PutValue)
//	value, in msgpack, for a put only
//	for a write with a base (see Map.SetConflictHook): the write's wall
//	    time minus the base's in nanoseconds, signed (zigzag: twice the
//	    difference, or minus twice it minus one if negative), and the
//	    base's logical part
//
// The header is the short one of format version 3 (see codec.Writer): one
// byte for the kind and the length of the dot's replica ID, then its bytes,
// the replica table of one ID; an ID of more than 31 bytes takes the long
// header. The dot's replica needs no index, and an op inside an engine
// message can leave it out (codec.OmitReplica). Every value has one
// encoding: shortest varints, a wall time in nanoseconds only if it is not
// a whole number of milliseconds. Version 3 exists to make the op small:
// a put of a short key at a whole millisecond by a writer of a 5-byte ID
// takes 5 bytes less than in version 2, about 17 in all, 12 inside an
// engine message.
//
// Versions 2 and 1 are still read. Version 2 is the same sequence with
// msgpack integers: the sequence number; the wall time times 4, plus 1 if
// the logical part follows, plus 2 if a base follows; the logical part if
// not zero; key; value; the base's wall time subtracted from the write's,
// as a msgpack integer, and its logical part. A build that reads only
// versions 1 and 2 refuses an op of version 3 whole, with codec.ErrVersion
// (the engine counts it as of an unknown version); the engine still brings
// it the writes, in catch-up states, until it is upgraded.
//
// A write whose sequence number is 2^61 or more, too large to be
// multiplied by 8, is written in the layout of version 1, which the
// decoder still reads: an array of the dot (replica index, sequence
// number), the timestamp (wall, logical), the key and, for a put, the
// value: six fields for a put, five for a delete; a write with a base ends
// with two more, the base's wall and logical parts (ops written before
// bases existed have none). A put or delete that overwrote expire or
// persist writes of its key (see ttl.go) is also written in the layout of
// version 1, and ends with one more field, after the base if any: the
// array of their dots, each as its replica index and sequence number.
//
// An expire or persist op (codec.KindMapTTL) is an array of seven fields:
// the dot, the timestamp, the key, the time to live in nanoseconds (0 for
// a persist), and the array of the dots of the expire and persist writes
// it overwrote.
//
// A state (codec.KindMap) is the causal context, a base wall time, and an
// array of groups, one per writing replica in increasing order of replica
// ID. A group is an array of the replica (an index in the message's replica
// table) followed by its entries in increasing order of sequence number,
// each as four or five values:
//
//	sequence number minus the previous entry's (at least 1; the first
//	    entry's counts from 0)
//	wall time minus the previous entry's (the first entry's counts from the
//	    base, the smallest wall time of the message), signed
//	tag: the logical part of the timestamp times two, plus one for a
//	    delete, plus 2^33 if the entry has a base
//	key
//	value, for a put only
//	for an entry with a base: its wall time subtracted from the entry's,
//	    signed, and its logical part
//
// A replica's writes have increasing timestamps, so the differences are
// small: an entry costs about five bytes beside its key and value. Every
// state has exactly one encoding, so encoding is deterministic.
//
// A state of a map that has collected writes (see Map.DeltaSince) is
// written in the layout of format version 2: the same, with one more value
// after the groups, a version vector (vclock.Clock.Encode) of the newest
// collected write of each writer, never empty. Version 1 is still written
// for every other state, and read.
//
// A snapshot (Map.SnapshotBinary) of a map that has collected a put or a
// delete is written in the layout of format version 3: that of version 2,
// its vector possibly empty, followed by the timestamp (wall time, a
// positive integer, and logical part) of the latest write the map
// collected (see Map.LateWrites). Every other snapshot is written as
// MarshalBinary writes the state. MarshalBinary, and so every state sent
// to a peer, never writes version 3: a build that reads versions 1 and 2
// only takes every state this one sends.

const (
	putFields    = 6
	deleteFields = 5
	ttlFields    = 7
	baseFields   = 2 // more, for a write with a base
	baseTag      = 1 << 33
)

// Flags of an op's wall time in the layout of version 2.
const (
	opLogical = 1 << iota // the logical part follows
	opBase                // a base follows
	opFlags   = 2         // bits the flags take
)

// Flags of an op's sequence number in the layout of version 3.
const (
	op3Logical = 1 << iota // the logical part follows
	op3Base                // a base follows
	op3Nanos               // the wall time is in nanoseconds
	op3Flags   = 3         // bits the flags take
	// maxOp3Seq bounds the sequence numbers the layout of version 3
	// carries.
	maxOp3Seq = math.MaxUint64 >> op3Flags
	// nsPerMs: wall times in milliseconds are multiplied by it.
	nsPerMs = int64(time.Millisecond)
)

// MarshalBinary encodes the op, in the layout of format version 3 (see
// the package's encodings), or in that of version 1 for a write that
// version 3 cannot carry. The zero op, or any op that names no write,
// cannot be encoded: the error matches [ErrInvalidOp].
func (op Op[K, V]) MarshalBinary() ([]byte, error) {
	if err := op.check(); err != nil {
		return nil, err
	}
	if op.kind() != 0 {
		return op.marshalTTL()
	}
	if op.dot.Seq > maxOp3Seq || len(op.drops()) > 0 {
		return op.marshalV1()
	}
	kind := codec.KindMapPut
	if op.del {
		kind = codec.KindMapDelete
	}
	w := codec.NewWriter(kind, 32)
	w.SetVersion(3)
	w.Table(string(op.dot.Replica))
	tag := op.dot.Seq << op3Flags
	wall := uint64(op.ts.Wall) // positive: op.check
	if op.ts.Wall%nsPerMs == 0 {
		wall = uint64(op.ts.Wall / nsPerMs)
	} else {
		tag |= op3Nanos
	}
	if op.ts.Logical != 0 {
		tag |= op3Logical
	}
	if !op.base.IsZero() {
		tag |= op3Base
	}
	w.Uvarint(tag)
	w.Uvarint(wall)
	if op.ts.Logical != 0 {
		w.Uvarint(uint64(op.ts.Logical))
	}
	codec.PutValue(w, op.key)
	if !op.del {
		codec.PutValue(w, op.value)
	}
	if !op.base.IsZero() {
		d := op.ts.Wall - op.base.Wall // both positive: no overflow
		w.Uvarint(uint64(d<<1) ^ uint64(d>>63))
		w.Uvarint(uint64(op.base.Logical))
	}
	return w.Bytes()
}

// marshalV1 encodes the op in the layout of format version 1.
func (op Op[K, V]) marshalV1() ([]byte, error) {
	kind, n := codec.KindMapPut, putFields
	if op.del {
		kind, n = codec.KindMapDelete, deleteFields
	}
	if !op.base.IsZero() {
		n += baseFields
	}
	if len(op.drops()) > 0 {
		n++
	}
	w := codec.NewWriter(kind, 32)
	w.Array(n)
	wire.PutDot(w, op.dot)
	wire.PutTimestamp(w, op.ts)
	codec.PutValue(w, op.key)
	if !op.del {
		codec.PutValue(w, op.value)
	}
	if !op.base.IsZero() {
		wire.PutTimestamp(w, op.base)
	}
	if len(op.drops()) > 0 {
		putDots(w, op.drops())
	}
	return w.Bytes()
}

// UnmarshalBinary decodes a put or a delete encoded by [Op.MarshalBinary]
// into op. On error op is unchanged and the error is a [*codec.DecodeError].
func (op *Op[K, V]) UnmarshalBinary(data []byte) error {
	o, err := decodeOp[K, V](data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = o
	return nil
}

// decodeOp decodes a put or a delete within lim, refusing a sequence
// number above vclock.MaxSeq.
func decodeOp[K comparable, V any](data []byte, lim codec.Limits) (Op[K, V], error) {
	var op Op[K, V]
	r := codec.NewReader(data, codec.KindMapPut, lim)
	if err := r.Err(); errors.Is(err, codec.ErrKind) {
		if rd := codec.NewReader(data, codec.KindMapDelete, lim); !errors.Is(rd.Err(), codec.ErrKind) {
			r = rd
			op.del = true
		} else if rt := codec.NewReader(data, codec.KindMapTTL, lim); !errors.Is(rt.Err(), codec.ErrKind) {
			return decodeTTLOp[K, V](rt)
		}
	}
	if r.Err() == nil && r.Version() >= 2 {
		if r.Version() >= 3 {
			getOpV3(r, &op)
		} else {
			getOpV2(r, &op)
		}
		if err := r.Done(); err != nil {
			return Op[K, V]{}, err
		}
		return op, nil
	}
	want := putFields
	if op.del {
		want = deleteFields
	}
	n := r.ArrayLen()
	if r.Err() == nil && (n < want || n > want+baseFields+1) {
		r.Fail("%v with %d fields, want %d to %d", r.Kind(), n, want, want+baseFields+1)
	}
	op.dot = wire.GetDot(r)
	if r.Err() == nil && op.dot.Seq > vclock.MaxSeq {
		r.Fail("sequence number %d beyond %d", op.dot.Seq, uint64(vclock.MaxSeq))
	}
	op.ts = wire.GetTimestamp(r)
	op.key = getKey[K](r, false)
	if !op.del {
		op.value = codec.GetValue[V](r)
	}
	if n >= want+baseFields {
		op.base = wire.GetTimestamp(r)
	}
	if (n-want)%2 == 1 {
		if ds := makeDotList(getDots(r, op.dot)); ds != "" {
			op.x = opMore{drops: ds}
		}
	}
	if err := r.Done(); err != nil {
		return Op[K, V]{}, err
	}
	return op, nil
}

// opWriter returns the writer of an op of version 2 or 3: its replica
// table's one ID.
func opWriter(r *codec.Reader) (vclock.ReplicaID, bool) {
	ids := r.Replicas()
	if len(ids) != 1 {
		r.Fail("op whose replica table has %d entries, want its writer alone", len(ids))
		return "", false
	}
	return vclock.ReplicaID(ids[0]), true
}

// getOpV2 reads the body of an op in the layout of format version 2,
// every integer in its shortest form.
func getOpV2[K comparable, V any](r *codec.Reader, op *Op[K, V]) {
	writer, ok := opWriter(r)
	if !ok {
		return
	}
	seq := r.CanonicalUint()
	tag := r.CanonicalUint()
	if r.Err() != nil {
		return
	}
	if seq == 0 || seq > vclock.MaxSeq {
		r.Fail("sequence number %d, not from 1 to %d", seq, uint64(vclock.MaxSeq))
		return
	}
	op.dot = vclock.Dot{Replica: writer, Seq: seq}
	op.ts.Wall = int64(tag >> opFlags)
	if op.ts.Wall == 0 {
		r.Fail("timestamp with wall time 0")
		return
	}
	if tag&opLogical != 0 {
		op.ts.Logical = logicalPart(r, r.CanonicalUint())
	}
	getKeyValue(r, op)
	if tag&opBase != 0 {
		d := r.CanonicalInt()
		setBase(r, op, d, r.CanonicalUint())
	}
}

// logicalPart checks an op's logical part l, read from r, which is written
// only if it is not zero.
func logicalPart(r *codec.Reader, l uint64) uint32 {
	if r.Err() == nil && (l == 0 || l > math.MaxUint32) {
		r.Fail("timestamp logical part %d, not from 1 to 2^32-1", l)
	}
	return uint32(l)
}

// getKey reads a key, in its one form if canon (see
// codec.GetCanonicalValue), and holds it to its one form as a key (see
// codec.CanonicalKey): a key holding a NaN, which no look-up could ever
// find, is refused; one holding −0 is taken as +0, as the writers make
// it.
func getKey[K comparable](r *codec.Reader, canon bool) K {
	var k K
	if canon {
		k = codec.GetCanonicalValue[K](r)
	} else {
		k = codec.GetValue[K](r)
	}
	if r.Err() != nil {
		return k
	}
	c, err := codec.CanonicalKey(k)
	if err != nil {
		r.Fail("key %v: %v", k, err)
		var zero K
		return zero
	}
	return c
}

// getKeyValue reads an op's key and, for a put, its value.
func getKeyValue[K comparable, V any](r *codec.Reader, op *Op[K, V]) {
	op.key = getKey[K](r, true)
	if !op.del {
		op.value = codec.GetCanonicalValue[V](r)
	}
}

// setBase checks the base of an op, read from r as its wall time's
// distance d before the write's and its logical part l, and sets it.
func setBase[K comparable, V any](r *codec.Reader, op *Op[K, V], d int64, l uint64) {
	if r.Err() != nil {
		return
	}
	// The base's wall time, op.ts.Wall - d, must be positive; the test is
	// written so that it cannot overflow.
	if d >= op.ts.Wall || (d < 0 && op.ts.Wall > math.MaxInt64+d) {
		r.Fail("base %d ns before a write at %d", d, op.ts.Wall)
		return
	}
	if l > math.MaxUint32 {
		r.Fail("base logical part %d out of range", l)
		return
	}
	op.base = clock.Timestamp{Wall: op.ts.Wall - d, Logical: uint32(l)}
}

// getOpV3 reads the body of an op in the layout of format version 3, every
// integer a varint in its shortest form.
func getOpV3[K comparable, V any](r *codec.Reader, op *Op[K, V]) {
	writer, ok := opWriter(r)
	if !ok {
		return
	}
	tag := r.CanonicalUvarint()
	wall := r.CanonicalUvarint()
	if r.Err() != nil {
		return
	}
	seq := tag >> op3Flags
	if seq == 0 {
		r.Fail("sequence number 0")
		return
	}
	op.dot = vclock.Dot{Replica: writer, Seq: seq}
	switch {
	case wall == 0:
		r.Fail("timestamp with wall time 0")
		return
	case tag&op3Nanos == 0 && wall > math.MaxInt64/uint64(nsPerMs):
		r.Fail("wall time of %d ms beyond 2^63-1 ns", wall)
		return
	case tag&op3Nanos == 0:
		op.ts.Wall = int64(wall) * nsPerMs
	case wall > math.MaxInt64:
		r.Fail("wall time of %d ns beyond 2^63-1", wall)
		return
	case wall%uint64(nsPerMs) == 0:
		r.Fail("wall time of %d ns, a whole number of milliseconds, not in its shortest form", wall)
		return
	default:
		op.ts.Wall = int64(wall)
	}
	if tag&op3Logical != 0 {
		op.ts.Logical = logicalPart(r, r.CanonicalUvarint())
	}
	getKeyValue(r, op)
	if tag&op3Base != 0 {
		z := r.CanonicalUvarint()
		setBase(r, op, int64(z>>1)^-int64(z&1), r.CanonicalUvarint())
	}
}

// item is an entry of the table and its key.
type item[K comparable, V any] struct {
	k K
	e *entry[V]
}

type sortKey struct {
	seq  uint64
	rank uint32 // of the writer's ID among the map's replicas
	i    uint32 // index in the items being sorted
}

// MarshalBinary encodes the map's state: its entries, delete markers
// included, and its causal context; not its replica ID or clock. The
// encoding is deterministic. It fails only if a key or value cannot be
// encoded (a [*codec.EncodeError]).
//
// The message is built in one buffer, sized once. The entries are put in
// their order (writer ID, then sequence number) without a sort, from the
// numbers of their slots in the table, placed by dot: each entry's place
// is its dot's among the dots of the causal context, and a pass over the
// table puts the slot numbers whose places fall in a window into an array
// (4 bytes a place, a tenth of the output or less), which the writing
// then walks; a pass per window. When the map's entries are fewer than
// half the dots the context holds (most writes overwritten), most places
// would be holes: the first pass marks each dot in a bitmap, and an
// entry's place is its rank among the marks instead. When the entries are
// a small part of the dots, the bitmap too would cost more than the
// entries, and they are sorted instead.
func (m *Map[K, V]) MarshalBinary() ([]byte, error) { return m.marshal(nil) }

// SnapshotBinary encodes the map's state as [Map.MarshalBinary] does, and
// with it the timestamp of the latest write the map collected, which
// [Map.LateWrites] and the bases of its writes of absent keys (see
// [Map.SetConflictHook]) go by: the state to save on this replica's disk,
// for [Map.UnmarshalBinary] (or, into a map just made, [Map.MergeBinary])
// to read back after a restart. A map that has collected nothing encodes
// exactly as with MarshalBinary. The replication engine saves its
// snapshots with it (crdt.Snapshotter).
//
// What a map collected is its own knowledge, so it is not in the states
// sent to peers (MarshalBinary, [Map.DeltaSince]); a snapshot is written
// in a layout (format version 3 of the state) that a build reading only
// versions 1 and 2 refuses with codec.ErrVersion.
func (m *Map[K, V]) SnapshotBinary() ([]byte, error) { return m.marshal(m.collTS) }

// marshal is MarshalBinary, writing coll, unless nil, as the latest write
// collected (see putGone).
func (m *Map[K, V]) marshal(coll *clock.Timestamp) ([]byte, error) {
	w := codec.NewWriter(codec.KindMap, 0)
	w.Table(m.ctx.ReplicaIDs()...) // the table ctx.Encode makes
	m.ctx.Encode(w)
	p, ok := m.planEntries()
	if !ok {
		return m.marshalSorted(w, coll)
	}
	w.Int(p.base)
	w.Grow(p.size)
	w.Array(len(p.order))
	if m.m.Len() == 0 {
		m.putGone(w, coll)
		m.putTTL(w)
		return w.Bytes()
	}
	putKey, putVal := codec.PutValueOf[K](), codec.PutValueOf[V]()
	// The groups take the places in turn: writer order[g] ends where
	// order[g+1] starts.
	g, end, written := -1, 0, 0
	var prevSeq uint64
	var prevWall int64
	var batch [placeBatch]item[K, V]
	slots := make([]uint32, p.window())
	for wlo := 0; wlo < p.places; wlo += len(slots) {
		win := slots[:min(len(slots), p.places-wlo)]
		m.fill(&p, wlo, win)
		for lo := 0; lo < len(win); lo += placeBatch {
			// Read the batch's keys first, so that their loads from memory
			// overlap rather than wait one after another.
			nb := 0
			for _, s := range win[lo:min(lo+placeBatch, len(win))] {
				if s != 0 {
					batch[nb].k, batch[nb].e = m.m.At(int(s - 1))
					nb++
				}
			}
			for _, it := range batch[:nb] {
				if written == end {
					g++
					rep := p.order[g]
					end += p.cnt[rep]
					w.Array(1 + 4*p.cnt[rep] + p.puts[rep] + baseFields*p.bases[rep])
					w.Replica(string(m.reps[rep]))
					prevSeq, prevWall = 0, p.base
				}
				written++
				putEntry(w, it.k, it.e, prevSeq, prevWall, putKey, putVal)
				prevSeq, prevWall = it.e.seq, it.e.wall
			}
		}
	}
	if written != m.m.Len() {
		// Two entries took one place, sharing a dot.
		return nil, m.sharedDotError()
	}
	m.putGone(w, coll)
	m.putTTL(w)
	return w.Bytes()
}

// ErrSharedDot is returned by [Map.MarshalBinary] for a map in which two
// keys hold writes with the same dot, which no encoding can express (a
// dot names one write). No write, op, merge or decoding makes such a map,
// even when a writer issued a dot twice (a map restored from an older
// state than its last and written to under the same replica ID: see
// [Map.UnmarshalBinary]); the encoder checks all the same, so that no map
// is ever written as bytes that no decoder accepts.
var ErrSharedDot = errors.New("lwwmap: two keys hold writes with the same dot")

// sharedDotError returns an error naming two keys of m whose writes share
// a dot, wrapping ErrSharedDot; if no two do, an error saying that an
// entry was not where its dot places it.
func (m *Map[K, V]) sharedDotError() error {
	type dot struct {
		rep uint32
		seq uint64
	}
	seen := make(map[dot]K, m.m.Len())
	for k, e := range m.m.All() {
		d := dot{e.writer(), e.seq}
		if k0, ok := seen[d]; ok {
			return fmt.Errorf("%w: keys %v and %v, dot %s:%d", ErrSharedDot, k0, k, m.reps[d.rep], d.seq)
		}
		seen[d] = k
	}
	return errors.New("lwwmap: an entry's dot is outside the causal context")
}

// The window of places of the encoder: a place (4 bytes) per placeShare
// bytes of the bound on the output, so that the window's array takes a
// tenth of the output at most, but at least placeMin places, and a
// quarter of the places, so that tiny entries do not take a pass over the
// table each few bytes of output. Variables so that tests can take
// several windows of small maps.
var (
	placeShare = 40
	placeMin   = 1024
	maxWindows = 4
)

// window returns the number of places of the encoder's window for p.
func (p *entryPlan) window() int {
	return min(p.places, max(placeMin, p.size/placeShare, (p.places+maxWindows-1)/maxWindows))
}

// placeBatch is the number of places of the slot array whose entries the
// encoder reads ahead of writing them.
const placeBatch = 32

// putEntry writes the entry e of key k, after one whose sequence number
// and wall time were prevSeq and prevWall, its key with putKey and its
// value with putVal.
func putEntry[K comparable, V any](w *codec.Writer, k K, e *entry[V], prevSeq uint64, prevWall int64, putKey func(*codec.Writer, K), putVal func(*codec.Writer, V)) {
	w.Uint(e.seq - prevSeq)
	w.Int(e.wall - prevWall)
	tag := uint64(e.logical) << 1
	if e.deleted() {
		tag |= 1
	}
	if b := e.b; b != nil && b.Wall != 0 {
		tag |= baseTag
	}
	w.Uint(tag)
	putKey(w, k)
	if !e.deleted() {
		putVal(w, e.v)
	}
	if b := e.b; b != nil && b.Wall != 0 {
		w.Int(e.wall - b.Wall)
		w.Uint(uint64(b.Logical))
	}
}

// entryPlan places the map's entries in their encoding order: see
// [Map.MarshalBinary].
type entryPlan struct {
	order []uint32 // writer indexes with entries, by ID
	cnt   []int    // per writer index: its entries
	puts  []int    // per writer index: its entries that are not delete markers
	bases []int    // per writer index: its entries with a base
	base  int64    // the smallest wall time
	size  int      // a bound on the bytes of the groups

	places int      // a place per dot of the context, or per entry if byRank
	byRank bool     // an entry's place is its dot's rank among the marks
	start  []uint64 // per writer index: the place (or mark) of its sequence number 1
	marks  []uint64 // if byRank: a bit per dot, set for the entries'
	ranks  []uint32 // per word of marks: the bits set in the words before
}

// fill puts into win the numbers of the slots, plus one, of the entries
// whose places are lo to lo+len(win)-1, each at its place less lo, and
// zeros where there is none: a pass over m's table.
func (m *Map[K, V]) fill(p *entryPlan, lo int, win []uint32) {
	clear(win)
	for i, e := range m.m.Numbered() {
		c := p.start[e.writer()] + e.seq - 1
		if p.byRank {
			word := p.marks[c>>6]
			c = uint64(p.ranks[c>>6]) + uint64(bits.OnesCount64(word&(1<<(c&63)-1)))
		}
		if c >= uint64(lo) && c-uint64(lo) < uint64(len(win)) {
			win[c-uint64(lo)] = uint32(i) + 1
		}
	}
}

// placeByDot is how many dots per entry of the context the array of
// slots placed by dot may take; beyond, they are placed by rank.
const placeByDot = 2

// planEntries goes once through the map: it counts the entries of each
// writer, bounds the bytes of the encoding and, if the entries are placed
// by rank, marks their dots. It returns false, having done nothing, if the
// marks would take more memory than the entries themselves.
func (m *Map[K, V]) planEntries() (entryPlan, bool) {
	nr := len(m.reps)
	p := entryPlan{cnt: make([]int, nr), puts: make([]int, nr), bases: make([]int, nr)}
	byID := make([]uint32, nr)
	for i := range byID {
		byID[i] = uint32(i)
	}
	slices.SortFunc(byID, func(a, b uint32) int { return cmp.Compare(m.reps[a], m.reps[b]) })
	top := make([]uint64, nr) // per writer index: its highest dot in the context
	for rg := range m.ctx.Ranges() {
		if i, ok := m.findRep(rg.Replica); ok {
			top[i] = max(top[i], rg.Hi)
		}
	}
	p.start = make([]uint64, nr)
	span := uint64(0)
	for _, i := range byID {
		p.start[i] = span
		span += top[i]
	}
	n := m.m.Len()
	if span/64 > uint64(n) || span >= math.MaxUint32 || m.m.Slots() >= math.MaxUint32 {
		return p, false
	}
	p.places = int(span)
	if p.byRank = span > placeByDot*uint64(n); p.byRank {
		p.marks = make([]uint64, span/64+1)
		p.places = n
	}
	minWall := int64(math.MaxInt64)
	maxWall := make([]int64, nr) // per writer index: the latest wall time of its entries
	keyLen, valLen := lenOf[K](), lenOf[V]()
	for i, e := range m.m.Numbered() {
		r := e.writer()
		if e.seq == 0 || e.seq > top[r] {
			return p, false // outside the context: cannot be, but is not worth a panic
		}
		if p.byRank {
			c := p.start[r] + e.seq - 1
			p.marks[c>>6] |= 1 << (c & 63)
		}
		p.cnt[r]++
		k, _ := m.m.At(i)
		tag := uint64(e.logical)<<1 | 1
		b := e.b
		if b != nil && b.Wall != 0 {
			tag |= baseTag
		}
		n := codec.UintLen(tag) + keyLen(k)
		if !e.deleted() {
			p.puts[r]++
			n += valLen(e.v)
		}
		if b != nil && b.Wall != 0 {
			// The base: a wall time step and a logical part.
			p.bases[r]++
			n += intLen(max(e.wall-b.Wall, b.Wall-e.wall)) + codec.UintLen(uint64(b.Logical))
		}
		p.size += n
		minWall, maxWall[r] = min(minWall, e.wall), max(maxWall[r], e.wall)
	}
	if p.byRank {
		// The rank of a dot is the number of marks before it: counted
		// per word first.
		p.ranks = make([]uint32, len(p.marks))
		total := 0
		for i, word := range p.marks {
			p.ranks[i] = uint32(total)
			total += bits.OnesCount64(word)
		}
	}
	if n > 0 {
		p.base = minWall
	}
	// A writer's timestamps grow with its sequence numbers, so its wall
	// time steps add up to its latest wall time less the base (a state
	// where they do not, which only a forged one can be, grows the buffer
	// as it is written); its sequence number steps add up to at most its
	// highest.
	for _, i := range byID {
		if n := p.cnt[i]; n > 0 {
			p.order = append(p.order, i)
			u := uint64(n)
			p.size += 5 + 9 + int(stepsLen(u, top[i])+stepsLen(u, uint64(maxWall[i]-p.base)))
		}
	}
	p.size += 5 + 9
	return p, true
}

// findRep returns the index of id in m.reps, if it is there.
func (m *Map[K, V]) findRep(id vclock.ReplicaID) (uint32, bool) {
	if m.repIdx != nil {
		i, ok := m.repIdx[id]
		return i, ok
	}
	for i, r := range m.reps {
		if r == id {
			return uint32(i), true
		}
	}
	return 0, false
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

// stepsLen bounds the bytes codec.Writer.Uint (or codec.Writer.Int, for
// steps that are not negative) takes for u steps that add up to at most
// sum: one byte each, one more from 1<<7, one more from 1<<8, two more
// from 1<<16 and four more from 1<<32, and at most sum>>b steps can
// reach 1<<b.
func stepsLen(u, sum uint64) uint64 {
	return u + min(u, sum>>7) + min(u, sum>>8) + 2*min(u, sum>>16) + 4*min(u, sum>>32)
}

// intLen returns the bytes codec.Writer.Int takes for any integer between
// -d and d.
func intLen(d int64) int {
	switch {
	case d < 32:
		return 1
	case d < 1<<7:
		return 2
	case d < 1<<15:
		return 3
	case d < 1<<31:
		return 5
	}
	return 9
}

// marshalSorted writes the map's entries, after the context w holds, by
// sorting them: for a map whose entries are sparse among its dots. coll
// is marshal's.
func (m *Map[K, V]) marshalSorted(w *codec.Writer, coll *clock.Timestamp) ([]byte, error) {
	w.Grow(64 + 24*m.m.Len())
	putKey, putVal := codec.PutValueOf[K](), codec.PutValueOf[V]()

	// Order the writers by ID, and the entries by writer, then sequence
	// number.
	byID := make([]uint32, len(m.reps))
	for i := range byID {
		byID[i] = uint32(i)
	}
	slices.SortFunc(byID, func(a, b uint32) int { return cmp.Compare(m.reps[a], m.reps[b]) })
	rank := make([]uint32, len(m.reps))
	for r, i := range byID {
		rank[i] = uint32(r)
	}
	// Sort small (rank, seq, index) records rather than the items
	// themselves: moving 16 bytes per swap.
	items := make([]item[K, V], 0, m.m.Len())
	order := make([]sortKey, 0, m.m.Len())
	base := int64(math.MaxInt64)
	for k, e := range m.m.All() {
		order = append(order, sortKey{seq: e.seq, rank: rank[e.writer()], i: uint32(len(items))})
		items = append(items, item[K, V]{k, e})
		base = min(base, e.wall)
	}
	if len(items) == 0 {
		base = 0
	}
	slices.SortFunc(order, func(a, b sortKey) int {
		if a.rank != b.rank {
			return cmp.Compare(a.rank, b.rank)
		}
		return cmp.Compare(a.seq, b.seq)
	})
	w.Int(base)
	groups := 0
	for i := range order {
		if i == 0 || order[i].rank != order[i-1].rank {
			groups++
		}
	}
	w.Array(groups)
	for i := 0; i < len(order); {
		rank := order[i].rank
		j, n := i, 1
		for ; j < len(order) && order[j].rank == rank; j++ {
			n += 4
			if e := items[order[j].i].e; !e.deleted() {
				n++
			}
			if b := items[order[j].i].e.b; b != nil && b.Wall != 0 {
				n += baseFields
			}
		}
		w.Array(n)
		w.Replica(string(m.reps[byID[rank]]))
		prevSeq, prevWall := uint64(0), base
		for x, o := range order[i:j] {
			it := &items[o.i]
			if x > 0 && it.e.seq == prevSeq {
				return nil, m.sharedDotError()
			}
			putEntry(w, it.k, it.e, prevSeq, prevWall, putKey, putVal)
			prevSeq, prevWall = it.e.seq, it.e.wall
		}
		i = j
	}
	m.putGone(w, coll)
	m.putTTL(w)
	return w.Bytes()
}

// putGone writes m.gone after the entries, and after it coll unless nil:
// in the layout of format version 3 if coll is not nil, else in that of
// version 2 if the map has collected any write, else in that of version
// 1, which has neither.
func (m *Map[K, V]) putGone(w *codec.Writer, coll *clock.Timestamp) {
	if coll != nil {
		w.SetVersion(3)
		m.gone.Encode(w)
		wire.PutTimestamp(w, *coll)
		return
	}
	if m.gone.IsZero() {
		return
	}
	w.SetVersion(2)
	m.gone.Encode(w)
}

// getGone reads what putGone wrote, for a state of format version 2 or 3,
// and checks that each of its writes is in the context, and in version 2
// that there is one at least (version 1 is for states without any). In
// version 3 it reads the latest write collected into out.collTS: a
// timestamp with a positive wall time; whether its time can be believed
// is for the caller, which knows the clock, to judge (see checkCollected).
func getGone[K comparable, V any](r *codec.Reader, out *Map[K, V]) {
	if r.Err() != nil || r.Version() < 2 {
		return
	}
	g := vclock.DecodeClock(r)
	if r.Err() != nil {
		return
	}
	if g.IsZero() && r.Version() == 2 {
		r.Fail("empty list of collected writes in a state of version 2")
		return
	}
	for id, n := range g.All() {
		if !out.ctx.Contains(vclock.Dot{Replica: id, Seq: n}) {
			r.Fail("collected write %s:%d outside the causal context", id, n)
			return
		}
	}
	out.gone = g
	if r.Version() >= 3 {
		if ts := wire.GetTimestamp(r); r.Err() == nil {
			out.collTS = &ts
		}
	}
}

// checkCollected refuses, with an error wrapping [clock.ErrClockSkew], a
// state o whose latest collected write is later than every entry of o
// and than every timestamp the map's clock holds, and more than the
// clock's maximum offset ahead of its physical time: what a replica
// collects it has taken in, by that same bound (a peer's write), or
// issued, and its clock, restored with the state, has passed it since.
// Taken in, such a timestamp would make every put of an absent key that
// the other replicas stamp until their clocks reach it count as late
// (see [Map.LateWrites]), and would be the base of this replica's writes
// of absent keys, stamped before it. A map without a clock takes any.
func (m *Map[K, V]) checkCollected(o *Map[K, V]) error {
	if o.collTS == nil || m.clk == nil || !o.collTS.After(o.maxTS) {
		return nil
	}
	if err := m.clk.Check(*o.collTS); err != nil {
		return fmt.Errorf("lwwmap: latest collected write of the state: %w", err)
	}
	return nil
}

// decodeState decodes a state written by [Map.MarshalBinary], checking
// every invariant before returning it.
//
// Its work is linear in len(data), and it allocates only for what it has
// decoded: the map of entries grows with them rather than being sized by a
// count the input claims.
func decodeState[K comparable, V any](data []byte, lim codec.Limits) (*Map[K, V], error) {
	r := codec.NewReader(data, codec.KindMap, lim)
	out := &Map[K, V]{ctx: vclock.DecodeContext(r), ix: new(dotkernel.Index[K])}
	if r.Err() == nil {
		checkContext(r, &out.ctx)
	}
	base := r.Int()
	groups := r.ArrayLen()
	if r.Err() == nil && groups > 16 && groups <= len(r.Replicas()) {
		// Each group is a different replica of the message's table.
		out.reserve(groups)
	}
	if r.Err() == nil && base < 0 {
		r.Fail("negative base wall time %d", base)
	}
	minWall := int64(math.MaxInt64)
	var prevID string
	for g := 0; g < groups && r.Err() == nil; g++ {
		n := r.ArrayLen()
		if r.Err() == nil && n < 5 {
			r.Fail("group of %d values, want at least 5", n)
		}
		id := r.Replica()
		if r.Err() != nil {
			break
		}
		if g > 0 && id <= prevID {
			r.Fail("group of replica %q out of order", id)
			break
		}
		prevID = id
		rep := out.intern(vclock.ReplicaID(id))
		prevSeq, prevWall := uint64(0), base
		for left := n - 1; left > 0 && r.Err() == nil; {
			if left < 4 {
				r.Fail("entry cut short: %d values left in its group", left)
				break
			}
			ds := r.Uint()
			dw := r.Int()
			tag := r.Uint()
			k := getKey[K](r, false)
			left -= 4
			e := entry[V]{rep: rep}
			if tag&1 != 0 {
				e.rep |= delBit
			} else if left == 0 {
				r.Fail("put entry without a value")
				break
			} else {
				e.v = codec.GetValue[V](r)
				left--
			}
			var bdw int64
			var blog uint64
			hasBase := tag&baseTag != 0
			if hasBase {
				if left < baseFields {
					r.Fail("entry cut short: no room for its base")
					break
				}
				bdw, blog = r.Int(), r.Uint()
				left -= baseFields
				tag &^= baseTag
			}
			if r.Err() != nil {
				break
			}
			e.seq = prevSeq + ds
			switch {
			case ds == 0 || e.seq < prevSeq:
				r.Fail("sequence numbers of replica %q not increasing", id)
			case dw > 0 && prevWall > math.MaxInt64-dw, prevWall+dw <= 0:
				r.Fail("wall time out of range in an entry of replica %q", id)
			case tag>>1 > math.MaxUint32:
				r.Fail("logical time %d out of range", tag>>1)
			}
			if r.Err() != nil {
				break
			}
			e.wall, e.logical = prevWall+dw, uint32(tag>>1)
			if hasBase {
				switch {
				case blog > math.MaxUint32:
					r.Fail("base logical time %d out of range", blog)
				case bdw < 0 && e.wall > math.MaxInt64+bdw, e.wall-bdw <= 0:
					r.Fail("base wall time out of range in an entry of replica %q", id)
				}
				if r.Err() != nil {
					break
				}
				e.b = &clock.Timestamp{Wall: e.wall - bdw, Logical: uint32(blog)}
			}
			if !out.ctx.Contains(vclock.Dot{Replica: vclock.ReplicaID(id), Seq: e.seq}) {
				r.Fail("entry %s:%d outside the causal context", id, e.seq)
				break
			}
			slot, at := out.m.Lookup(k)
			if slot != nil {
				r.Fail("key %v twice", k)
				break
			}
			kh, err := codec.HashValue(codec.HashSeed, k)
			if err != nil {
				r.Fail("key %v: %v", k, err)
				break
			}
			out.m.Insert(at, k, e)
			if e.deleted() {
				out.nDel++
			} else {
				out.fp += out.hashOf(kh, &e)
			}
			if ts := e.ts(); ts.After(out.maxTS) {
				out.maxTS = ts
			}
			minWall = min(minWall, e.wall)
			prevSeq, prevWall = e.seq, e.wall
		}
	}
	if r.Err() == nil {
		switch {
		case out.m.Len() == 0 && base != 0:
			r.Fail("base wall time %d in a state without entries", base)
		case out.m.Len() > 0 && base != minWall:
			r.Fail("base wall time %d is not the smallest, %d", base, minWall)
		}
	}
	getGone(r, out)
	if r.Err() == nil && r.Remaining() > 0 {
		getTTL(r, out)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return out, nil
}

// UnmarshalBinary replaces the map's state with one encoded by
// [Map.MarshalBinary], keeping its replica ID and clock, and advances the
// clock past the decoded timestamps without the skew check
// ([clock.Clock.Restore]): the bytes are trusted as this replica's own
// saved state, whose timestamps its next writes must follow even if the
// host's clock was stepped back since. To take in another replica's state
// use [Map.MergeBinary].
//
// Restore only the latest state this replica saved: after an older one it
// would issue again the dots of the writes it made since, and the other
// replicas, having seen those dots, would ignore the new writes.
//
// A state written by [Map.SnapshotBinary] also brings back the latest
// write the map had collected, for [Map.LateWrites] and the bases of its
// writes (see [Map.SetConflictHook]); the clock is advanced past it too,
// without the skew check, as for the entries. A state of an older release
// brings back nothing collected.
//
// On error the map is unchanged and the error is a [*codec.DecodeError].
func (m *Map[K, V]) UnmarshalBinary(data []byte) error {
	o, err := decodeState[K, V](data, m.lim)
	if err != nil {
		return err
	}
	if m.clk != nil && !o.maxTS.IsZero() {
		m.clk.Restore(o.maxTS) // its own time: see the doc comment
	}
	if m.clk != nil && o.collTS != nil {
		m.clk.Restore(*o.collTS) // the clock had passed it
	}
	m.reps, m.repH, m.repIdx, m.ctx, m.m, m.nDel, m.maxTS, m.fp, m.ix = o.reps, o.repH, o.repIdx, o.ctx, o.m, o.nDel, o.maxTS, o.fp, o.ix
	m.ttl, m.drops, m.dropped, m.gone = o.ttl, o.drops, o.dropped, o.gone
	m.ttlGen++
	m.ttlOrd = nil // o.ix, a new index, carries no order of the entries
	m.ttlIx = nil
	m.lostTo, m.collTS = nil, o.collTS
	m.gcN, m.late = 0, 0
	if m.id != "" {
		m.self = m.intern(m.id)
	}
	return nil
}

// MergeBinary decodes a state or delta encoded by [Map.MarshalBinary] (of
// a map or of a [Map.DeltaSince]) and merges it in, like [Map.Merge]. It
// reports whether the visible content (the keys present and their values)
// changed.
//
// Unlike Merge it refuses, changing nothing, a state carrying a timestamp
// the clock finds too far ahead of local time: the error matches
// [clock.ErrClockSkew], and the state should be offered again later. A
// decoding error is a [*codec.DecodeError].
//
// A state written by [Map.SnapshotBinary] (the replication engine
// restores its snapshots by merging them into maps just made) brings the
// latest write its map collected, which this map takes as collected here
// too: it goes by the later of the two. That is right of any such state,
// whoever made it. Its context holds every write its map had seen when it
// collected, and so every write a run stamped before it: the run whose
// version the collection relied on had made those before it took the
// collected write in, and reported them with it, and what it wrote after
// is stamped later. Once merged, this map has seen them all too; a put it
// has not seen, stamped before, is late here as it is there (see
// [Map.LateWrites]), and this map's writes of absent keys may name it as
// their base. A state sent to a peer never carries it (see
// [Map.MarshalBinary], [Map.DeltaSince]).
func (m *Map[K, V]) MergeBinary(state []byte) (changed bool, err error) {
	return m.mergeBinary(state, false)
}

// mergeBinary is MergeBinary, and with heal set, HealBinary.
func (m *Map[K, V]) mergeBinary(state []byte, heal bool) (changed bool, err error) {
	o, err := decodeState[K, V](state, m.lim)
	if err != nil {
		return false, err
	}
	if err := m.checkCollected(o); err != nil {
		return false, err
	}
	if m.clk != nil {
		// Update refuses a skewed timestamp without changing the clock,
		// and every other timestamp of o (its latest collected write
		// included, checked above) is earlier or taken: nothing is
		// changed unless everything will be.
		t := o.maxTS
		if o.collTS != nil && o.collTS.After(t) {
			t = *o.collTS
		}
		if !t.IsZero() {
			if _, err := m.clk.Update(t); err != nil {
				return false, fmt.Errorf("lwwmap: merge: %w", err)
			}
		}
	}
	changed = m.join(o, true, heal)
	if o.collTS != nil {
		m.noteCollected(*o.collTS) // see MergeBinary
	}
	return changed, nil
}

// HealBinary decodes a state encoded by [Map.MarshalBinary] and merges it
// in with [Map.Heal], with the checks and errors of [Map.MergeBinary]. It
// reports whether the visible content changed. It implements
// crdt.Healer: the replication engine merges a peer's state with it while
// that peer's digest shows the map diverged.
func (m *Map[K, V]) HealBinary(state []byte) (changed bool, err error) {
	return m.mergeBinary(state, true)
}

// ApplyBinary decodes an op encoded by [Op.MarshalBinary] and applies it
// like [Map.Apply]. It reports whether the visible content changed. A
// decoding error is a [*codec.DecodeError].
func (m *Map[K, V]) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeOp[K, V](op, m.lim)
	if err != nil {
		return false, err
	}
	return m.apply(o)
}

// ApplyBinaryFrom is [Map.ApplyBinary] for an op received from replica
// from: it refuses, changing nothing, an op whose dot is not from's, with
// an error wrapping [vclock.ErrForeignWrite]. An op is one write and brings
// one dot into the causal context, so a peer that can only send ops through
// ApplyBinaryFrom can add to the context only dots of its own: it cannot
// make this map take another replica's writes as seen, and so cannot make
// it ignore or drop them, nor make this replica's own next dot overflow.
//
// What remains: a peer can fabricate dots of its own out of order (a
// sequence number far ahead of its real writes). Its entry in
// [Map.Version] then stops at the gap until the writes in between arrive,
// so catching up with it resends more than needed, and a real write of
// that peer with a dot it already fabricated is ignored here. It hurts only
// its own writes. The dots of the expire and persist writes an op
// overwrote may be any replica's (they are what from had seen), but one of
// another replica that this map has not seen yet is refused, with an
// error wrapping [vclock.ErrUnseen], until it has. States taken in by [Map.MergeBinary] relay other
// replicas' writes and dots and are trusted as such: accept them only from
// replicas that are trusted to relay faithfully.
func (m *Map[K, V]) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeOp[K, V](op, m.lim)
	if err != nil {
		return false, err
	}
	if !o.dot.Replica.WritesFor(from) {
		return false, fmt.Errorf("lwwmap: write %v received from %q: %w", o.dot, from, vclock.ErrForeignWrite)
	}
	for d := range o.drops().all() {
		if d.Replica.Name() != from.Name() && !m.ctx.Contains(d) {
			return false, fmt.Errorf("lwwmap: write %v received from %q overwrites %v: %w", o.dot, from, d, vclock.ErrUnseen)
		}
	}
	return m.apply(o)
}

// CollectBinary decodes the versions of every peer, encoded by
// [Map.VersionBinary], and calls [Map.CollectVersions] with them. If any
// version fails to decode it returns the [*codec.DecodeError] and drops
// nothing. The replication engine calls it once it holds a durable version
// (that of the peer's last saved snapshot) from every peer.
func (m *Map[K, V]) CollectBinary(peerVersions [][]byte) error {
	peers := make([]vclock.Clock, len(peerVersions))
	for i, b := range peerVersions {
		v, err := decodeVersion(b, m.lim)
		if err != nil {
			return err
		}
		peers[i] = v
	}
	m.CollectVersions(peers)
	return nil
}

// VersionBinary encodes [Map.Version] as a [vclock.Clock].
func (m *Map[K, V]) VersionBinary() ([]byte, error) {
	return m.ctx.Version().MarshalBinary()
}

// DeltaSinceBinary decodes a version encoded by [Map.VersionBinary] and
// returns [Map.DeltaSince] of it, encoded by [Map.MarshalBinary]. A
// decoding error is a [*codec.DecodeError].
func (m *Map[K, V]) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := decodeVersion(version, m.lim)
	if err != nil {
		return nil, err
	}
	return m.DeltaSince(v).MarshalBinary()
}

// checkContext records a problem on r if ctx holds a dot whose sequence
// number is above vclock.MaxSeq: no replica makes that many writes, and
// taking such a dot in would leave its replica no sequence number to write
// with.
func checkContext(r *codec.Reader, ctx *vclock.Context) {
	for rg := range ctx.Ranges() {
		if rg.Hi > vclock.MaxSeq {
			r.Fail("causal context holds event %d of replica %q, beyond %d", rg.Hi, rg.Replica, uint64(vclock.MaxSeq))
			return
		}
	}
}

// decodeVersion decodes a [vclock.Clock] message, as its UnmarshalBinary
// does, but within lim, and refusing a count above vclock.MaxSeq.
func decodeVersion(data []byte, lim codec.Limits) (vclock.Clock, error) {
	r := codec.NewReader(data, codec.KindClock, lim)
	v := vclock.DecodeClock(r)
	if r.Err() == nil {
		ids, k := r.Replicas(), 0
		for id, n := range v.All() {
			if n > vclock.MaxSeq {
				r.Fail("version counts %d events of replica %q, beyond %d", n, id, uint64(vclock.MaxSeq))
				break
			}
			if k >= len(ids) || ids[k] != string(id) {
				break
			}
			k++
		}
		if r.Err() == nil && (k != len(ids) || k != v.Len()) {
			r.Fail("replica table is not the version's replicas in order")
		}
	}
	if err := r.Done(); err != nil {
		return vclock.Clock{}, err
	}
	return v, nil
}
