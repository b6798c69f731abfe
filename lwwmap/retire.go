package lwwmap

import (
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Retire renames the finished writer r.From into r.To, its name's retired
// writer (see vclock.Retirement): every dot (From, n) with n <= r.Final
// becomes (To, r.Base+n) in the causal context, in the entries (puts and
// delete markers), in the expire and persist writes in force and in the
// drop records, and From leaves the map's table of replicas. r.Base and
// r.Final count dots, the units of [Map.Version]. The renaming is one to
// one, so merges, deltas and collection mean after it what they meant
// before; the version follows vclock.Clock.Retire.
//
// Dots of From above r.Final name writes no replica took in before the
// writer was retired (a disk restored later): they leave the context, and
// their writes leave the map, with the keys they held (the writes they
// overwrote are gone). A map whose context, table of replicas and drop
// records do not name From is left as it is.
//
// Every write keeps its timestamp, so the conflict rule orders the same
// writes the same way, except on a tie of timestamps: a renamed write
// compares as To, which sorts before every live writer of its name, and
// between two writes of one writer the later dot wins, so between two
// renamed writes of the same timestamp the one of the run retired later
// wins. The rule is the same at every replica, which applies the same
// retirements in the same order: replicas holding equal states hold equal
// states after Retire, and merges of retired states converge.
// Retire(x ⊔ y) = Retire(x) ⊔ Retire(y) holds unless x and y hold, for one
// key, two writes of one name with the same timestamp.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails, if the map writes as From, or if the context
// holds dots of To above r.Base (dots of a writer not yet retired). It
// takes one pass over the entries, and one over the expire and persist
// writes and the drop records if there are any. It allocates only to
// rename drop records, and to start the index of dots for [Map.DeltaSince]
// afresh (built again by the next DeltaSince).
func (m *Map[K, V]) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	f, inTable := m.findRep(r.From)
	seen := inTable
	m.ctx.RangesWithin(r.From, 1, vclock.MaxSeq, func(uint64, uint64) { seen = true })
	if !seen && len(m.drops) > 0 {
		seen = m.dropsName(r.From) // a record can name writes the map never took in
	}
	if !seen {
		return nil
	}
	if m.id == r.From {
		return fmt.Errorf("%w: the map writes as %q", vclock.ErrRetirement, r.From)
	}
	var above bool
	m.ctx.RangesWithin(r.To, r.Base+1, vclock.MaxSeq, func(uint64, uint64) { above = true })
	if above {
		return fmt.Errorf("%w: %q has dots above the %d retired into it before %q", vclock.ErrRetirement, r.To, r.Base, r.From)
	}
	m.ctx.Retire(r)
	if len(m.drops) > 0 {
		m.retireDrops(r)
	}
	if !inTable {
		return nil // no entry nor expire or persist write refers to it
	}

	// The table of replicas: To takes From's place if it is new; if not,
	// From's writes move to To's index, and the last replica of the table
	// moves into From's place.
	hF, hT := m.repH[f], codec.HashString(codec.HashSeed, string(r.To))
	to, hasTo := m.findRep(r.To)
	last := uint32(len(m.reps) - 1)
	if !hasTo || to == last {
		to = f // where To is after the move
	}
	rename := func(rep uint32, seq uint64) (uint32, uint64, bool) {
		switch {
		case rep == f && seq > r.Final:
			return 0, 0, false
		case rep == f:
			return to, r.Base + seq, true
		case hasTo && rep == last:
			return f, seq, true
		}
		return rep, seq, true
	}
	if len(m.ttl) > 0 {
		m.retireTTL(rename)
	}
	m.retireEntries(func(k K, e *entry[V]) bool {
		was := e.writer()
		rep, seq, keep := rename(was, e.seq)
		if was != f {
			e.rep = rep | e.rep&delBit
			return true
		}
		var old uint64
		if !e.deleted() && !m.hasTTL(k) {
			kh := keyHash(k)
			old = entryHash(kh, hF, e.ts(), e.seq)
			if keep {
				m.fp += entryHash(kh, hT, e.ts(), seq)
			}
		}
		m.fp -= old
		if !keep {
			if e.deleted() {
				m.nDel--
			}
			m.forgetLost(k)
			return false
		}
		e.rep, e.seq = rep|e.rep&delBit, seq
		return true
	})

	if hasTo {
		if m.self == last {
			m.self = f
		}
		m.reps[f], m.repH[f] = m.reps[last], m.repH[last]
		m.reps, m.repH = m.reps[:last], m.repH[:last]
		if m.repIdx != nil {
			delete(m.repIdx, r.From)
			if f != last {
				m.repIdx[m.reps[f]] = f
			}
		}
	} else {
		m.reps[f], m.repH[f] = r.To, hT
		if m.repIdx != nil {
			delete(m.repIdx, r.From)
			m.repIdx[r.To] = f
		}
	}
	if m.ix != nil {
		m.ix = new(dotkernel.Index[K]) // its dots are renamed: the next DeltaSince rebuilds it
	}
	return nil
}

// retireEntries calls f with every entry of the map, which f may change
// in place but for its key; the entry leaves the map if f returns false.
// It is the one place Retire goes through the entries.
func (m *Map[K, V]) retireEntries(f func(k K, e *entry[V]) bool) {
	for k, e := range m.m {
		if f(k, &e) {
			m.m[k] = e
		} else {
			delete(m.m, k)
		}
	}
}

// retireTTL renames the expire and persist writes by rename, which
// reports false for a write that leaves.
func (m *Map[K, V]) retireTTL(rename func(rep uint32, seq uint64) (uint32, uint64, bool)) {
	for k, ws := range m.ttl {
		gone := 0
		for _, w := range ws {
			if _, _, keep := rename(w.rep, w.seq); !keep {
				gone++
			}
		}
		if gone == 0 {
			for i := range ws {
				ws[i].rep, ws[i].seq, _ = rename(ws[i].rep, ws[i].seq)
			}
			continue
		}
		kept := make([]ttlWrite, 0, len(ws)-gone)
		for _, w := range ws {
			if rep, seq, keep := rename(w.rep, w.seq); keep {
				w.rep, w.seq = rep, seq
				kept = append(kept, w)
			}
		}
		m.setTTL(k, kept) // none left: the entry is back in the fingerprint
	}
}

// dropsName reports whether a drop record names a write of id, as its own
// or as one it overwrote.
func (m *Map[K, V]) dropsName(id vclock.ReplicaID) bool {
	for by, rec := range m.drops {
		if by.Replica == id {
			return true
		}
		for d := range rec.dots.all() {
			if d.Replica == id {
				return true
			}
		}
	}
	return false
}

// retireDrops renames the dots of the drop records by r: a record of a
// write of From above r.Final leaves, and so do the dots above r.Final a
// record names.
func (m *Map[K, V]) retireDrops(r vclock.Retirement) {
	type renamed struct {
		by  vclock.Dot
		rec dropRec[K]
	}
	var moved []renamed
	for by, rec := range m.drops {
		touched := by.Replica == r.From
		for d := range rec.dots.all() {
			if d.Replica == r.From {
				touched = true
				break
			}
		}
		if !touched {
			continue
		}
		delete(m.drops, by)
		nb, ok := r.Dot(by)
		if !ok {
			continue
		}
		var ds []vclock.Dot
		for d := range rec.dots.all() {
			if nd, ok := r.Dot(d); ok {
				ds = append(ds, nd)
			}
		}
		if len(ds) > 0 {
			moved = append(moved, renamed{nb, dropRec[K]{rec.key, makeDotList(ds)}})
		}
	}
	for _, x := range moved {
		m.drops[x.by] = x.rec
	}
	clear(m.dropped)
	for _, rec := range m.drops {
		for d := range rec.dots.all() {
			m.dropped[d]++
		}
	}
}
