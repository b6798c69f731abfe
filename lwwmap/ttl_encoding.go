package lwwmap

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// The encodings of times to live (see encoding.go for the rest).
//
// A state whose keys have expire or persist writes in force, or that
// holds drop records, ends, after its groups of entries, with one more
// array of two: the groups of those writes, and the drop records.
//
// The groups, one per writing replica in increasing order of replica ID,
// are each an array of the replica followed by its writes in increasing
// order of sequence number, each as five values:
//
//	sequence number minus the previous write's (at least 1; the first
//	    write's counts from 0)
//	wall time minus the previous write's (the first write's counts from
//	    0), signed
//	logical part of the timestamp
//	key
//	time to live in nanoseconds: expire-at minus the wall time; 0 for a
//	    persist
//
// The drop records, in increasing order of their writes' replica IDs and
// then sequence numbers, are each an array of the write's replica and
// sequence number, the key, then the replica and sequence number of each
// write it overwrote (at least one), in the order it recorded them.
//
// A state without any of either has no such array, so it encodes exactly
// as before times to live existed; one that has them never has both
// parts empty.

const ttlWriteFields = 5

// putDots writes ds as an array of replica indexes and sequence numbers.
func putDots(w *codec.Writer, ds dotList) {
	n := 0
	for range ds.all() {
		n++
	}
	w.Array(2 * n)
	for d := range ds.all() {
		wire.PutDot(w, d)
	}
}

// getDots reads a non-empty array written by putDots, refusing the dot
// self among them.
func getDots(r *codec.Reader, self vclock.Dot) []vclock.Dot {
	n := r.ArrayLen()
	if r.Err() != nil {
		return nil
	}
	if n == 0 || n%2 != 0 {
		r.Fail("array of %d values for overwritten dots, want a positive even number", n)
		return nil
	}
	ds := make([]vclock.Dot, 0, min(n/2, 64))
	for range n / 2 {
		d := wire.GetDot(r)
		if r.Err() != nil {
			return nil
		}
		if d == self {
			r.Fail("write %v overwrites itself", d)
			return nil
		}
		ds = append(ds, d)
	}
	return ds
}

// marshalTTL encodes a checked expire or persist op.
func (op Op[K, V]) marshalTTL() ([]byte, error) {
	w := codec.NewWriter(codec.KindMapTTL, 32)
	w.Array(ttlFields)
	wire.PutDot(w, op.dot)
	wire.PutTimestamp(w, op.ts)
	codec.PutValue(w, op.key)
	w.Uint(uint64(op.ttl()))
	putDots(w, op.drops()) // an empty array if it overwrote none
	return w.Bytes()
}

// decodeTTLOp decodes an expire or persist op from r, a reader of a
// codec.KindMapTTL message.
func decodeTTLOp[K comparable, V any](r *codec.Reader) (Op[K, V], error) {
	var op Op[K, V]
	if n := r.ArrayLen(); r.Err() == nil && n != ttlFields {
		r.Fail("%v with %d fields, want %d", r.Kind(), n, ttlFields)
	}
	op.dot = wire.GetDot(r)
	op.ts = wire.GetTimestamp(r)
	op.key = getKey[K](r, false)
	ttl := r.Uint()
	if r.Err() == nil && ttl > math.MaxInt64 {
		r.Fail("time to live %d out of range", ttl)
	}
	var x opMore
	x.ttl = time.Duration(ttl)
	x.kind = opExpire
	if ttl == 0 {
		x.kind = opPersist
	}
	if n := r.ArrayLen(); r.Err() == nil && n > 0 {
		drops := make([]vclock.Dot, 0, min(n/2, 64))
		if n%2 != 0 {
			r.Fail("array of %d values for overwritten dots, want an even number", n)
		}
		for i := 0; i < n/2 && r.Err() == nil; i++ {
			d := wire.GetDot(r)
			if r.Err() == nil && d == op.dot {
				r.Fail("write %v overwrites itself", d)
			}
			drops = append(drops, d)
		}
		x.drops = makeDotList(drops)
	}
	op.setMore(x)
	if err := r.Done(); err != nil {
		return Op[K, V]{}, err
	}
	return op, nil
}

// putTTL writes the array of the expire and persist writes in force of
// m, if it has any.
func (m *Map[K, V]) putTTL(w *codec.Writer) {
	if len(m.ttl) == 0 && len(m.drops) == 0 {
		return
	}
	w.Array(2)
	defer m.putDrops(w)
	type item struct {
		k K
		w ttlWrite
	}
	var items []item
	for k, ws := range m.ttl {
		for _, tw := range ws {
			items = append(items, item{k, tw})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(m.reps[a.w.rep], m.reps[b.w.rep]); c != 0 {
			return c
		}
		return cmp.Compare(a.w.seq, b.w.seq)
	})
	groups := 0
	for i := range items {
		if i == 0 || items[i].w.rep != items[i-1].w.rep {
			groups++
		}
	}
	putKey := codec.PutValueOf[K]()
	w.Array(groups)
	for i := 0; i < len(items); {
		j := i
		for j < len(items) && items[j].w.rep == items[i].w.rep {
			j++
		}
		w.Array(1 + ttlWriteFields*(j-i))
		w.Replica(string(m.reps[items[i].w.rep]))
		var prevSeq uint64
		var prevWall int64
		for _, it := range items[i:j] {
			w.Uint(it.w.seq - prevSeq)
			w.Int(it.w.wall - prevWall)
			w.Uint(uint64(it.w.logical))
			putKey(w, it.k)
			var ttl uint64
			if it.w.at != 0 {
				ttl = uint64(it.w.at - it.w.wall)
			}
			w.Uint(ttl)
			prevSeq, prevWall = it.w.seq, it.w.wall
		}
		i = j
	}
}

// putDrops writes the drop records of m.
func (m *Map[K, V]) putDrops(w *codec.Writer) {
	bys := slices.SortedFunc(maps.Keys(m.drops), func(a, b vclock.Dot) int {
		if c := cmp.Compare(a.Replica, b.Replica); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	putKey := codec.PutValueOf[K]()
	w.Array(len(bys))
	for _, by := range bys {
		rec := m.drops[by]
		n := 0
		for range rec.dots.all() {
			n++
		}
		w.Array(3 + 2*n)
		wire.PutDot(w, by)
		putKey(w, rec.key)
		for d := range rec.dots.all() {
			wire.PutDot(w, d)
		}
	}
}

// getTTL reads the array putTTL writes into out, a state being decoded
// whose entries and causal context are already in, checking every
// invariant.
func getTTL[K comparable, V any](r *codec.Reader, out *Map[K, V]) {
	if n := r.ArrayLen(); r.Err() == nil && n != 2 {
		r.Fail("array of %d values after the entries, want 2", n)
	}
	groups := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	defer func() {
		if r.Err() == nil {
			getDrops(r, out, groups == 0)
		}
	}()
	// The writes of each key, put in force once all are read: putting
	// each in as it comes would look at those before it every time.
	var got map[K][]ttlWrite
	var prevID string
	for g := 0; g < groups && r.Err() == nil; g++ {
		n := r.ArrayLen()
		if r.Err() == nil && (n < 1+ttlWriteFields || (n-1)%ttlWriteFields != 0) {
			r.Fail("group of %d values of expire and persist writes", n)
		}
		id := r.Replica()
		if r.Err() != nil {
			return
		}
		if g > 0 && id <= prevID {
			r.Fail("group of expire and persist writes of replica %q out of order", id)
			return
		}
		prevID = id
		rep := out.intern(vclock.ReplicaID(id))
		var prevSeq uint64
		var prevWall int64
		for range (n - 1) / ttlWriteFields {
			ds, dw, lg := r.Uint(), r.Int(), r.Uint()
			k := getKey[K](r, false)
			ttl := r.Uint()
			if r.Err() != nil {
				return
			}
			tw := ttlWrite{rep: rep, seq: prevSeq + ds}
			switch {
			case ds == 0 || tw.seq < prevSeq:
				r.Fail("sequence numbers of expire and persist writes of replica %q not increasing", id)
			case dw > 0 && prevWall > math.MaxInt64-dw, prevWall+dw <= 0:
				r.Fail("wall time out of range in an expire or persist write of replica %q", id)
			case lg > math.MaxUint32:
				r.Fail("logical time %d out of range", lg)
			case ttl > uint64(math.MaxInt64-(prevWall+dw)):
				r.Fail("time to live %d out of range", ttl)
			}
			if r.Err() != nil {
				return
			}
			tw.wall, tw.logical = prevWall+dw, uint32(lg)
			if ttl != 0 {
				tw.at = tw.wall + int64(ttl)
			}
			if !out.ctx.Contains(vclock.Dot{Replica: vclock.ReplicaID(id), Seq: tw.seq}) {
				r.Fail("expire or persist write %s:%d outside the causal context", id, tw.seq)
				return
			}
			if _, err := codec.HashValue(codec.HashSeed, k); err != nil {
				r.Fail("key %v: %v", k, err)
				return
			}
			// A key may hold two writes of one replica: the later made
			// after the earlier was overwritten, by a write not yet
			// received here.
			if e, ok := out.m.Get(k); ok && e.writer() == rep && e.seq == tw.seq {
				r.Fail("write %s:%d both an entry and an expire or persist", id, tw.seq)
				return
			}
			if got == nil {
				got = make(map[K][]ttlWrite)
			}
			got[k] = append(got[k], tw)
			if ts := tw.ts(); ts.After(out.maxTS) {
				out.maxTS = ts
			}
			prevSeq, prevWall = tw.seq, tw.wall
		}
	}
	for k, ws := range got {
		out.setTTL(k, ws)
	}
}

// getDrops reads the drop records putDrops writes into out; noWrites says
// the array of expire and persist writes was empty, and then this one
// must not be.
func getDrops[K comparable, V any](r *codec.Reader, out *Map[K, V], noWrites bool) {
	n := r.ArrayLen()
	if r.Err() == nil && n == 0 && noWrites {
		r.Fail("no expire or persist writes and no drop records")
	}
	var prev vclock.Dot
	for i := 0; i < n && r.Err() == nil; i++ {
		fields := r.ArrayLen()
		if r.Err() == nil && (fields < 5 || fields%2 == 0) {
			r.Fail("drop record of %d values", fields)
		}
		by := wire.GetDot(r)
		k := getKey[K](r, false)
		if r.Err() != nil {
			return
		}
		if i > 0 && (by.Replica < prev.Replica || by.Replica == prev.Replica && by.Seq <= prev.Seq) {
			r.Fail("drop record of %v out of order", by)
			return
		}
		prev = by
		if !out.ctx.Contains(by) {
			r.Fail("drop record of %v outside the causal context", by)
			return
		}
		if _, err := codec.HashValue(codec.HashSeed, k); err != nil {
			r.Fail("key %v: %v", k, err)
			return
		}
		ds := make([]vclock.Dot, 0, min((fields-3)/2, 64))
		for range (fields - 3) / 2 {
			d := wire.GetDot(r)
			if r.Err() != nil {
				return
			}
			if d == by {
				r.Fail("write %v overwrites itself", by)
				return
			}
			ds = append(ds, d)
		}
		out.recordDrops(by, k, makeDotList(ds))
	}
}
