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
// Dots of From above r.Final (writes of a writer thought finished: a
// second process under its name, a disk restored later) keep their own
// name, in the context and everywhere else, and From stays in the table
// of replicas for them: nothing is lost. A map whose context, table of replicas and drop
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
// rename drop records, to add To to the table when From stays in it, and
// to start the index of dots for [Map.DeltaSince] afresh (built again by
// the next DeltaSince).
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
	m.cfp.Store(nil) // writes renamed: see ContentFingerprintAt
	var above bool
	m.ctx.RangesWithin(r.To, r.Base+1, vclock.MaxSeq, func(uint64, uint64) { above = true })
	if above {
		return fmt.Errorf("%w: %q has dots above the %d retired into it before %q", vclock.ErrRetirement, r.To, r.Base, r.From)
	}
	m.ctx.Retire(r)
	m.retireGone(r)
	if len(m.drops) > 0 {
		m.retireDrops(r)
	}
	if !inTable {
		return nil // no entry nor expire or persist write refers to it
	}

	// The table of replicas. If From keeps writes above Final, it stays,
	// and To is added if new. If not, To takes From's place if it is new;
	// if To is there, From's writes move to To's index and the last
	// replica of the table moves into From's place.
	var keepsFrom bool
	m.ctx.RangesWithin(r.From, 1, vclock.MaxSeq, func(uint64, uint64) { keepsFrom = true })
	hF, hT := m.repH[f], codec.HashString(codec.HashSeed, string(r.To))
	to, hasTo := m.findRep(r.To)
	last := uint32(len(m.reps) - 1)
	swap := hasTo && !keepsFrom
	switch {
	case keepsFrom && !hasTo:
		to = m.intern(r.To)
	case !hasTo || swap && to == last:
		to = f // where To is after the renaming
	}
	rename := func(rep uint32, seq uint64) (uint32, uint64) {
		switch {
		case rep == f && seq <= r.Final:
			return to, r.Base + seq
		case swap && rep == last:
			return f, seq
		}
		return rep, seq
	}
	if len(m.ttl) > 0 {
		m.retireTTL(rename)
	}
	m.retireEntries(func(k K, e *entry[V]) {
		rep, seq := rename(e.writer(), e.seq)
		if e.writer() == f && rep == to && !e.deleted() && !m.expiring(k, e) {
			kh := keyHash(k)
			m.fp += entryHash(kh, hT, e.ts(), seq) - entryHash(kh, hF, e.ts(), e.seq)
		}
		e.rep, e.seq = rep|e.rep&delBit, seq
	})

	switch {
	case swap:
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
	case !hasTo && !keepsFrom:
		m.reps[f], m.repH[f] = r.To, hT
		if m.repIdx != nil {
			delete(m.repIdx, r.From)
			m.repIdx[r.To] = f
		}
	}
	if m.ix != nil {
		m.ix = new(dotkernel.Index[K]) // its dots are renamed: the next DeltaSince rebuilds it
	}
	m.ttlOrd = nil // the same: the next merge that needs it makes it (and the new index carries no order of the entries)
	return nil
}

// retireEntries calls f with every entry of the map, which f may change
// in place but for its key. It is the one place Retire goes through the
// entries.
func (m *Map[K, V]) retireEntries(f func(k K, e *entry[V])) {
	for k, e := range m.m.All() {
		f(k, e)
	}
}

// retireTTL renames the expire and persist writes by rename.
func (m *Map[K, V]) retireTTL(rename func(rep uint32, seq uint64) (uint32, uint64)) {
	m.ttlIx = nil // indexed by the old names
	for _, ws := range m.ttl {
		for i := range ws {
			ws[i].rep, ws[i].seq = rename(ws[i].rep, ws[i].seq)
		}
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

// retireDrops renames the dots of the drop records by r.
func (m *Map[K, V]) retireDrops(r vclock.Retirement) {
	type renamed struct {
		by  vclock.Dot
		rec dropRec[K]
	}
	var moved []renamed
	for by, rec := range m.drops {
		touched := by.Replica == r.From
		for d := range rec.dots.all() {
			touched = touched || d.Replica == r.From
		}
		if !touched {
			continue
		}
		delete(m.drops, by)
		var ds []vclock.Dot
		for d := range rec.dots.all() {
			ds = append(ds, r.Dot(d))
		}
		moved = append(moved, renamed{r.Dot(by), dropRec[K]{rec.key, makeDotList(ds)}})
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

// retireGone renames r.From's newest collected write in m.gone as the
// context renames it: (From, n) with n <= r.Final becomes (To, r.Base+n).
// A newest collected write above r.Final keeps From's name, and the ones
// below it were renamed up to (To, r.Base+r.Final): gone then says so for
// both.
func (m *Map[K, V]) retireGone(r vclock.Retirement) {
	n := m.gone.Get(r.From)
	if n == 0 {
		return
	}
	m.gone.Advance(r.To, r.Base+min(n, r.Final))
	if n <= r.Final {
		m.gone.Set(r.From, 0)
	}
}
