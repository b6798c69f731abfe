package ormap

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// The wire format.
//
// A state (kind codec.KindORMap) is a dot kernel, as the internal
// dotkernel package encodes it, whose keys are dots, each written as an
// array [replica, sequence number] equal to the dot it is under, and
// whose values are leaves. A leaf is an array: the keys of its key path,
// outermost first, each written by codec.PutValue (a set's element is the
// last), then for a counter its increment (a non-zero integer) and for a
// register its value (by codec.PutValue). A set element has no further
// field. The number of keys is fixed by the map's type.
//
// An op (kind codec.KindORMapOp) is an array: empty for a no-op;
// otherwise the op's replica and sequence number, the leaf it writes or
// nil for a delete, then each dropped dot's replica and sequence number,
// sorted. The replica table is the op's replica, then the replicas of the
// dropped dots in order of first appearance.
//
// An expiry or a persist of a key (see Map.Expire) is a leaf too, written
// as an array of one field, which no write of a value is (those have at
// least two: a key and a value or set element): an array of the time,
// then the keys of the key's path, outermost first. The time is an array
// [wall, logical] of the expiry's hybrid logical clock time (a signed and
// an unsigned integer), or nil for a persist. Maps that never expire
// anything write nothing new, so their encodings are unchanged.
//
// Format version 2 adds two forms for counters (see chain.go), and a state
// or op is written in version 2 only if it holds one of them; otherwise it
// is written as in version 1. A counter leaf that continues its writer's
// chain (that is not the chain's first) has one more field after its
// total: its sequence number less that of the chain's first leaf, from 1
// to 2^32-1. Its total may be 0. A reset leaf, which a delete of counters
// writes, is an array of one field, as an expiry is, that field being an
// array of false (where an expiry has its time, or nil), an array of the
// entries, then the keys of the deleted key's path, outermost first. An
// entry is an array: the keys of a counter's path below the deleted key,
// the writer of the chain (a string), the chain's first sequence number
// c, the sequence number of the leaf the delete saw less c, and that
// leaf's total. Entries are sorted by the counter's key path (as the map
// holds it: each key's length as a uvarint, then the key's bytes), the
// writer and c, without repeats. An op that deletes with a reset has its
// reset leaf where a plain delete has nil. A write that finds its key
// expired, and resets the chains it drops, is an array of one field more:
// its dot, its leaf, then the reset leaf of the key, written under the
// dot before the op's, then the dropped dots.

func putDotKey(w *codec.Writer, d vclock.Dot) {
	w.Array(2)
	w.Replica(string(d.Replica))
	w.Uint(d.Seq)
}

func getDotKey(r *codec.Reader) vclock.Dot {
	if n := r.CanonicalArrayLen(1); r.Err() == nil && n != 2 {
		r.Fail("key with %d fields, want 2", n)
		return vclock.Dot{}
	}
	return dotkernel.GetDot(r)
}

func (sh *shape) fields() int {
	if sh.kind == kindSet {
		return len(sh.segs)
	}
	return len(sh.segs) + 1
}

// needsV2 reports whether the leaf l is written in a form of format
// version 2: a counter leaf that continues a chain, or a reset leaf.
func (l leaf) needsV2() bool { return l.lg != 0 && l.tag == 0 || l.isReset() }

func (sh *shape) putLeaf(w *codec.Writer, l leaf) {
	if l.isReset() {
		sh.putReset(w, l)
		return
	}
	if l.tag != 0 {
		sh.putTTL(w, l)
		return
	}
	if l.lg != 0 {
		w.Array(sh.fields() + 1)
	} else {
		w.Array(sh.fields())
	}
	p := l.path()
	for _, c := range sh.segs {
		seg, rest, _ := nextSeg(p)
		c.put(w, seg)
		p = rest
	}
	switch sh.kind {
	case kindCounter:
		w.Int(l.n)
		if l.lg != 0 {
			w.Uint(uint64(l.lg))
		}
	case kindRegister:
		sh.val.put(w, l.val())
	}
}

func (sh *shape) getLeaf(r *codec.Reader) leaf {
	n := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return leaf{}
	}
	if n == 1 {
		return sh.getTTL(r)
	}
	chained := sh.kind == kindCounter && n == sh.fields()+1 && r.Version() >= 2
	if n != sh.fields() && !chained {
		r.Fail("value with %d fields, want %d", n, sh.fields())
		return leaf{}
	}
	var buf [4]string
	segs := buf[:0]
	size := 0
	for _, c := range sh.segs {
		seg := c.get(r)
		if r.Err() != nil {
			return leaf{}
		}
		segs = append(segs, seg)
		size += len(seg) + binary.MaxVarintLen64
	}
	var l leaf
	var v string
	if sh.kind == kindRegister {
		// A register's value goes first (see leaf), in the one string.
		if v = sh.val.get(r); r.Err() != nil {
			return leaf{}
		}
		size += len(v) + binary.MaxVarintLen64
		l.reg = true
	}
	var b strings.Builder
	b.Grow(size)
	var u [binary.MaxVarintLen64]byte
	if l.reg {
		b.Write(u[:binary.PutUvarint(u[:], uint64(len(v)))])
		b.WriteString(v)
	}
	for _, seg := range segs {
		b.Write(u[:binary.PutUvarint(u[:], uint64(len(seg)))])
		b.WriteString(seg)
	}
	l.pv = b.String()
	switch sh.kind {
	case kindCounter:
		l.n = r.CanonicalInt()
		if chained {
			g := r.CanonicalUint()
			if r.Err() == nil && (g == 0 || g > maxChainGap) {
				r.Fail("counter chain started %d sequence numbers before its leaf", g)
			}
			l.lg = uint32(g)
		} else if r.Err() == nil && l.n == 0 {
			r.Fail("counter increment of 0")
		}
	}
	return l
}

// MarshalBinary encodes the whole state of the map.
func (m *Map[K, V]) MarshalBinary() ([]byte, error) {
	return encodeState(&m.readTop("MarshalBinary").k, m.shape())
}

// encodeState encodes the store k of a map of shape sh: a whole state, a
// delta, or a part of either.
func encodeState(k *dotkernel.Kernel[vclock.Dot, leaf], sh *shape) ([]byte, error) {
	w := codec.NewWriter(codec.KindORMap, 32+24*k.Len())
	v2 := false
	k.Encode(w, putDotKey, func(w *codec.Writer, l leaf) {
		v2 = v2 || l.needsV2()
		sh.putLeaf(w, l)
	})
	if v2 {
		w.SetVersion(2) // the header is written last
	}
	return w.Bytes()
}

// decodeState decodes and checks a state of shape sh.
func decodeState(data []byte, sh *shape, lim codec.Limits) (*dotkernel.Kernel[vclock.Dot, leaf], error) {
	r := codec.NewReader(data, codec.KindORMap, lim)
	// Each leaf is written under its dot; the store keys it by leafKey (a
	// continued counter leaf under its chain's first dot), and of two
	// leaves of one chain keeps the later, as a join does.
	k := dotkernel.DecodeKeyed(r, getDotKey, sh.getLeaf, leafKey)
	if r.Err() == nil {
		v2 := false
		for key, l := range k.All() {
			ds := k.Dots(key)
			if len(ds) != 1 || leafKey(ds[0], l) != key {
				r.Fail("value under key %v supported by dots %v", key, ds)
				break
			}
			if l.tag == 0 && uint64(l.lg) >= ds[0].Seq {
				r.Fail("counter leaf %v in a chain that starts before sequence number 1", ds[0])
				break
			}
			v2 = v2 || l.needsV2()
		}
		if r.Err() == nil && r.Version() >= 2 && !v2 {
			r.Fail("a state of format version 2 without a leaf of that version")
		}
	}
	k.CheckContextTable(r)
	if err := r.Done(); err != nil {
		return nil, err
	}
	k.RecordsAll = true
	return k, nil
}

// UnmarshalBinary replaces the map's state with one encoded by
// [Map.MarshalBinary]. It keeps the replica ID and the limits. On error
// the map is unchanged.
func (m *Map[K, V]) UnmarshalBinary(data []byte) error {
	s := m.mustTop("UnmarshalBinary")
	k, err := decodeState(data, s.sh, s.lim)
	if err != nil {
		return err
	}
	k.MaxRecords = s.k.MaxRecords
	s.adopt(k)
	return nil
}

// MergeBinary decodes a state or delta encoded by [Map.MarshalBinary]
// and merges it in, as [Map.Merge] does. It reports whether the set of
// writes the map holds changed. On error the map is unchanged.
func (m *Map[K, V]) MergeBinary(state []byte) (changed bool, err error) {
	s := m.mustTop("MergeBinary")
	k, err := decodeState(state, s.sh, s.lim)
	if err != nil {
		return false, err
	}
	return s.join(k), nil
}

// HealBinary decodes a state encoded by [Map.MarshalBinary] and merges it
// in as [Map.Heal] does, without trusting its drop records, within the
// same limits and checks as [Map.MergeBinary]. It reports whether the set
// of writes the map holds changed. On error the map is unchanged. It
// implements crdt.Healer: the replication engine calls it for a state
// sent after the two replicas' fingerprints differed at one version.
func (m *Map[K, V]) HealBinary(state []byte) (changed bool, err error) {
	s := m.mustTop("HealBinary")
	k, err := decodeState(state, s.sh, s.lim)
	if err != nil {
		return false, err
	}
	return s.heal(k), nil
}

// ApplyBinary decodes an op encoded by [Op.MarshalBinary] and applies it,
// as [Map.Apply] does. It reports whether the map's writes changed.
func (m *Map[K, V]) ApplyBinary(op []byte) (changed bool, err error) {
	s := m.mustTop("ApplyBinary")
	o, err := decodeOp(op, s.sh, s.lim)
	if err != nil {
		return false, err
	}
	return s.apply(o)
}

// ApplyBinaryFrom is [Map.ApplyBinary] for an op received from replica
// from: it refuses, wrapping [vclock.ErrForeignWrite], an op whose own dot
// is another replica's, and, wrapping [vclock.ErrUnseen], one that drops
// another replica's write this map has not seen, by listing it or by a
// reset entry that says its delete saw it. On error the map is unchanged.
func (m *Map[K, V]) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	s := m.mustTop("ApplyBinaryFrom")
	o, err := decodeOp(op, s.sh, s.lim)
	if err != nil {
		return false, err
	}
	if o.kind != opNoop && !o.dot.Replica.WritesFor(from) {
		return false, fmt.Errorf("ormap: op %v received from %q: %w", o.dot, from, vclock.ErrForeignWrite)
	}
	for _, d := range o.dropped {
		if d.Replica.Name() != from.Name() && !s.k.Context().Contains(d) {
			return false, fmt.Errorf("ormap: op %v received from %q drops %v: %w", o.dot, from, d, vclock.ErrUnseen)
		}
	}
	if err := s.checkEntriesSeen(o, from); err != nil {
		return false, err
	}
	return s.apply(o)
}

// checkEntriesSeen returns an error wrapping [vclock.ErrUnseen] if a
// reset entry of op, received from replica from, names a leaf of another
// replica's chain that this map has not seen. An entry says its delete saw
// the chain's leaves up to its sequence number and drops them here
// (chainDrops, superseded), as a listed drop does: a sender that made the
// entry itself held that leaf and lists it, and one that carried it
// forward from a reset leaf it dropped lists that reset leaf, whose own
// op or join brought the leaf's dot to any replica that has seen it.
func (s *state) checkEntriesSeen(op Op, from vclock.ReplicaID) error {
	for _, r := range [2]leaf{op.leaf, op.preLeaf()} {
		if !r.isReset() {
			continue
		}
		for e := range entriesIn(r) {
			d := vclock.Dot{Replica: e.w, Seq: e.s}
			if e.w.Name() != from.Name() && !s.k.Context().Contains(d) {
				return fmt.Errorf("ormap: op %v received from %q resets a chain up to %v: %w", op.dot, from, d, vclock.ErrUnseen)
			}
		}
	}
	return nil
}

// DecodeOp decodes an op encoded by [Op.MarshalBinary] for a map of this
// type, within the map's limits, without applying it.
func (m *Map[K, V]) DecodeOp(data []byte) (Op, error) {
	s := m.readTop("DecodeOp")
	return decodeOp(data, m.shape(), s.lim)
}

// VersionBinary encodes the map's version ([Map.Version]).
func (m *Map[K, V]) VersionBinary() ([]byte, error) { return m.Version().MarshalBinary() }

// DeltaSinceBinary decodes a version encoded by [Map.VersionBinary] and
// returns [Map.DeltaSince] of it, encoded.
func (m *Map[K, V]) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := vclock.UnmarshalClock(version, m.readTop("DeltaSinceBinary").lim)
	if err != nil {
		return nil, err
	}
	return m.DeltaSince(v).MarshalBinary()
}

// CollectBinary decodes the versions of every peer, as [Map.VersionBinary]
// encodes them, and calls [Map.CollectVersions] with them. If one fails to
// decode it returns the error and collects nothing.
func (m *Map[K, V]) CollectBinary(peerVersions [][]byte) error {
	peers, err := m.peerVersions("CollectBinary", peerVersions)
	if err != nil {
		return err
	}
	m.CollectVersions(peers)
	return nil
}

// CollectBinaryAt is [Map.CollectBinary] for a caller that knows a time
// every peer's clock has reached: it calls [Map.CollectVersionsAt]. The
// replication engine calls it (see crdt.ClockCollector).
func (m *Map[K, V]) CollectBinaryAt(peerVersions [][]byte, peersAt clock.Timestamp) error {
	peers, err := m.peerVersions("CollectBinaryAt", peerVersions)
	if err != nil {
		return err
	}
	m.CollectVersionsAt(peers, peersAt)
	return nil
}

// CollectBinaryFrom is [Map.CollectBinaryAt] for a caller that also knows
// the writer of the run that reported each version (runs[i] for
// peerVersions[i], empty if unknown): it calls [Map.CollectVersionsFrom].
// The replication engine calls it (see crdt.RunCollector). It returns an
// error, and collects nothing, if a version does not decode or runs is
// not as long as peerVersions.
func (m *Map[K, V]) CollectBinaryFrom(peerVersions [][]byte, runs []vclock.ReplicaID, peersAt clock.Timestamp) error {
	if len(runs) != len(peerVersions) {
		return fmt.Errorf("ormap: CollectBinaryFrom: %d runs for %d versions", len(runs), len(peerVersions))
	}
	peers, err := m.peerVersions("CollectBinaryFrom", peerVersions)
	if err != nil {
		return err
	}
	m.CollectVersionsFrom(peers, runs, peersAt)
	return nil
}

// peerVersions decodes the encoded versions of CollectBinary.
func (m *Map[K, V]) peerVersions(what string, peerVersions [][]byte) ([]vclock.Clock, error) {
	s := m.mustTop(what)
	peers := make([]vclock.Clock, len(peerVersions))
	for i, b := range peerVersions {
		v, err := vclock.UnmarshalClock(b, s.lim)
		if err != nil {
			return nil, err
		}
		peers[i] = v
	}
	return peers, nil
}

// MarshalBinary encodes the op, for [Map.ApplyBinary] at another
// replica. It fails for an op that [Map.Apply] would refuse.
func (op Op) MarshalBinary() ([]byte, error) {
	if err := op.check(op.sh); err != nil {
		return nil, err
	}
	if op.kind == opNoop {
		w := codec.NewWriter(codec.KindORMapOp, 8)
		w.Array(0)
		return w.Bytes()
	}
	w := codec.NewWriter(codec.KindORMapOp, 32+len(op.leaf.pv)+10*len(op.dropped))
	if op.kind == opWrite || op.leaf.isReset() {
		if op.leaf.needsV2() {
			w.SetVersion(2)
		}
	}
	pre := op.preLeaf().isReset()
	if pre {
		w.SetVersion(2)
		w.Array(4 + 2*len(op.dropped))
	} else {
		w.Array(3 + 2*len(op.dropped))
	}
	w.Replica(string(op.dot.Replica))
	w.Uint(op.dot.Seq)
	if op.kind == opWrite || op.leaf.isReset() {
		op.sh.putLeaf(w, op.leaf)
	} else {
		w.Nil()
	}
	if pre {
		op.sh.putLeaf(w, *op.pre)
	}
	for _, d := range op.dropped {
		w.Replica(string(d.Replica))
		w.Uint(d.Seq)
	}
	return w.Bytes()
}

func decodeOp(data []byte, sh *shape, lim codec.Limits) (Op, error) {
	r := codec.NewReader(data, codec.KindORMapOp, lim)
	op := getOp(r, sh)
	if err := r.Done(); err != nil {
		return Op{}, err
	}
	return op, nil
}

func getOp(r *codec.Reader, sh *shape) Op {
	n := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return Op{}
	}
	if n == 0 {
		if len(r.Replicas()) != 0 {
			r.Fail("no-op with a replica table")
		}
		return Op{kind: opNoop, sh: sh}
	}
	pre := n >= 4 && n%2 == 0 && r.Version() >= 2 // a write with a reset before it
	if n < 3 || ((n-3)%2 != 0 && !pre) {
		r.Fail("op with %d fields", n)
		return Op{}
	}
	op := Op{kind: opWrite, sh: sh}
	op.dot = dotkernel.GetDot(r)
	if r.Err() != nil {
		return Op{}
	}
	if r.IsNil() {
		op.kind = opRemove
	} else {
		op.leaf = sh.getLeaf(r)
		if r.Err() != nil {
			return Op{}
		}
		if op.leaf.isReset() {
			op.kind = opRemove // a delete that resets counter chains
		}
		if op.leaf.tag == 0 && uint64(op.leaf.lg) >= op.dot.Seq {
			r.Fail("counter leaf %v in a chain that starts before sequence number 1", op.dot)
			return Op{}
		}
	}
	if pre {
		if op.kind != opWrite || op.leaf.tag != 0 || op.dot.Seq < 2 {
			r.Fail("a reset before an op that is not a value's write")
			return Op{}
		}
		p := sh.getLeaf(r)
		op.pre = &p
		if r.Err() == nil && !p.isReset() {
			r.Fail("a write with a reset before it that is not a reset")
		}
		if r.Err() != nil {
			return Op{}
		}
		if !strings.HasPrefix(op.leaf.path(), op.pre.path()) {
			r.Fail("a reset before a write not under its key")
			return Op{}
		}
		n-- // the rest as for an op without it
	} else if r.Version() >= 2 && !op.leaf.needsV2() {
		r.Fail("an op of format version 2 without a leaf of that version")
		return Op{}
	}
	table := []vclock.ReplicaID{op.dot.Replica}
	inTable := map[vclock.ReplicaID]struct{}{op.dot.Replica: {}}
	if n > 3 {
		op.dropped = make([]vclock.Dot, 0, (n-3)/2)
	}
	for range (n - 3) / 2 {
		d := dotkernel.GetDot(r)
		if r.Err() != nil {
			return Op{}
		}
		if k := len(op.dropped); k > 0 && op.dropped[k-1].Compare(d) >= 0 {
			r.Fail("dropped dot %v out of order", d)
			return Op{}
		}
		if d.Replica == op.dot.Replica && d.Seq >= op.dot.Seq-boolSeq(pre) {
			r.Fail("%v drops the later dot %v", op.dot, d)
			return Op{}
		}
		if _, ok := inTable[d.Replica]; !ok {
			inTable[d.Replica] = struct{}{}
			table = append(table, d.Replica)
		}
		op.dropped = append(op.dropped, d)
	}
	if r.Err() != nil {
		return Op{}
	}
	if op.kind == opRemove && len(op.dropped) == 0 {
		r.Fail("remove %v drops nothing", op.dot)
		return Op{}
	}
	if !dotkernel.TableIs(r, table) {
		r.Fail("replica table %q, want %q", r.Replicas(), table)
		return Op{}
	}
	return op
}

func boolSeq(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// levels returns the number of map keys in the key path of a value: the
// segments, less a set's element.
func (sh *shape) levels() int {
	if sh.kind == kindSet {
		return len(sh.segs) - 1
	}
	return len(sh.segs)
}

// putTTL writes an expiry or persist leaf.
func (sh *shape) putTTL(w *codec.Writer, l leaf) {
	w.Array(1)
	j := countSegs(l.path())
	w.Array(1 + j)
	if l.tag == tagPersist {
		w.Nil()
	} else {
		w.Array(2)
		w.Int(l.n)
		w.Uint(uint64(l.lg))
	}
	p := l.path()
	for _, c := range sh.segs[:j] {
		seg, rest, _ := nextSeg(p)
		c.put(w, seg)
		p = rest
	}
}

// getTTL reads the field of an expiry, persist or reset leaf, the array
// around it read.
func (sh *shape) getTTL(r *codec.Reader) leaf {
	n := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return leaf{}
	}
	if r.Version() >= 2 && r.IsFalse() {
		return sh.getReset(r, n)
	}
	if n < 2 || n-1 > sh.levels() {
		r.Fail("expiry with %d fields, want 2 to %d", n, 1+sh.levels())
		return leaf{}
	}
	l := leaf{tag: tagPersist}
	if !r.IsNil() {
		if m := r.CanonicalArrayLen(1); r.Err() == nil && m != 2 {
			r.Fail("expiry time with %d fields, want 2", m)
		}
		l.tag = tagExpire
		l.n = r.CanonicalInt()
		lg := r.CanonicalUint()
		if r.Err() == nil && lg > math.MaxUint32 {
			r.Fail("expiry time with logical part %d", lg)
		}
		l.lg = uint32(lg)
	}
	var b []byte
	for _, c := range sh.segs[:n-1] {
		seg := c.get(r)
		if r.Err() != nil {
			return leaf{}
		}
		b = binary.AppendUvarint(b, uint64(len(seg)))
		b = append(b, seg...)
	}
	if r.Err() != nil {
		return leaf{}
	}
	l.pv = string(b)
	return l
}

// putReset writes a reset leaf: an array of one field, as an expiry is,
// that field being an array of false (where an expiry has its time or
// nil), the entries, then the keys of the deleted key's path, outermost
// first. Each entry is an array: the keys of its counter's path below the
// deleted key, the chain's writer (a string), the chain's start c, the
// sequence number of the leaf the delete saw less c, and that leaf's
// total.
func (sh *shape) putReset(w *codec.Writer, l leaf) {
	w.Array(1)
	q := l.path()
	j := countSegs(q)
	w.Array(2 + j)
	w.Bool(false)
	w.Array(countEntries(l))
	for e := range entriesIn(l) {
		w.Array(len(sh.segs) - j + 4)
		p := e.below
		for _, c := range sh.segs[j:] {
			seg, rest, _ := nextSeg(p)
			c.put(w, seg)
			p = rest
		}
		w.String(string(e.w))
		w.Uint(e.c)
		w.Uint(e.s - e.c)
		w.Int(e.t)
	}
	p := q
	for _, c := range sh.segs[:j] {
		seg, rest, _ := nextSeg(p)
		c.put(w, seg)
		p = rest
	}
}

// getReset reads the rest of a reset leaf whose inner array has n
// fields, its false read, and checks it whole.
func (sh *shape) getReset(r *codec.Reader, n int) leaf {
	j := n - 2
	if sh.kind != kindCounter || j < 1 || j > sh.levels() {
		r.Fail("reset with %d fields in a map of %d levels of %v", n, sh.levels(), sh.kind)
		return leaf{}
	}
	k := r.CanonicalArrayLen(1)
	if r.Err() != nil {
		return leaf{}
	}
	if k == 0 {
		r.Fail("reset without entries")
		return leaf{}
	}
	es := make([]resetEntry, 0, k)
	for range k {
		if m := r.CanonicalArrayLen(1); r.Err() == nil && m != len(sh.segs)-j+4 {
			r.Fail("reset entry with %d fields, want %d", m, len(sh.segs)-j+4)
		}
		var b []byte
		for _, c := range sh.segs[j:] {
			seg := c.get(r)
			if r.Err() != nil {
				return leaf{}
			}
			b = binary.AppendUvarint(b, uint64(len(seg)))
			b = append(b, seg...)
		}
		var e resetEntry
		e.w = vclock.ReplicaID(r.CanonicalString())
		e.c = r.CanonicalUint()
		g := r.CanonicalUint()
		e.t = r.CanonicalInt()
		if r.Err() != nil {
			return leaf{}
		}
		if e.s = e.c + g; e.s < e.c {
			r.Fail("reset entry past the last sequence number")
			return leaf{}
		}
		e.below = string(b)
		es = append(es, e)
	}
	var q []byte
	for _, c := range sh.segs[:j] {
		seg := c.get(r)
		if r.Err() != nil {
			return leaf{}
		}
		q = binary.AppendUvarint(q, uint64(len(seg)))
		q = append(q, seg...)
	}
	l := resetLeaf(string(q), es)
	if err := sh.checkReset(l); err != nil {
		r.Fail("%v", err)
		return leaf{}
	}
	return l
}
