package counter

import (
	"fmt"
	"math"
	"slices"

	"github.com/activeactive/crdt/vclock"
)

// Events returns the number of changes the entry of writer id records, as
// far as this counter knows: the sum of its totals (increments,
// decrements, and every total of rights taken up, given or asked for).
// Every change a writer makes raises one of them, and no merge lowers
// any, so a writer's entries are ordered by it, and two entries of one
// writer with the same count are the same entry. It is the unit of a
// [vclock.Retirement]'s Base and Final for a Bounded (see [Bounded.Retire]).
// It saturates at math.MaxUint64.
func (b *Bounded) Events(id vclock.ReplicaID) uint64 {
	e := b.e[id]
	if e == nil {
		return 0
	}
	return e.events()
}

func (e *bEntry) events() uint64 {
	s := addSat(e.p, e.n)
	for _, rs := range [][]Rights{e.in, e.out, e.ask} {
		for _, r := range rs {
			s = addSat(s, r.Total)
		}
	}
	return s
}

// Retire renames the finished writer r.From into r.To, its name's retired
// writer (see vclock.Retirement). r.Final is From's last count of
// [Bounded.Events], as the replication engine agreed on it; r.Base and
// r.Heir are not used (To's entry is not a run of events, and nobody
// inherits rights).
//
// To's entry absorbs From's, whatever From's count: increments,
// decrements, and rights taken up from and given to each replica add up,
// as for [PN.Retire]. The value does not change. The rights From held
// unused stay with To, counted in the value, where nobody can spend them,
// like the rights of an earlier run after a restart (see
// [Bounded.SetWriter]): the engine retires a writer once every replica
// holds its events up to Final, but its process may still be running (a
// second process under the same name, cut off), and whatever another
// writer inherited from it, it could sell as well. Rights given to From
// that it had not taken up stay in transit to To, likewise. Rights given
// between two runs of one name (by a release that passed a retired
// writer's rights to an heir) cancel out in To's entry (what was not taken
// up stays with To).
//
// From's entry beyond r.Final (changes of a writer thought finished that
// no other replica took in before the retirement) is absorbed all the
// same: To's entry then holds more than at the other replicas, and a
// merge, which keeps the larger of each total, carries the rest to them.
// That holds for one retirement; To's totals are sums over every writer
// retired into it, and when two successive retirements each leave such
// changes at different replicas, the larger of the two replicas' sums is
// below their join and the merged counter misses some of them: a
// decrement missed reads high, an increment missed reads low. What is
// missed is bounded: at most the events of From past r.Final that the
// installing replicas held, summed over every install (in the units of
// [Bounded.Events], which are those of the value); the replicas still
// converge, and every value stays at or above the floor (no right is
// spent twice: what To holds, nobody spends). The replication engine
// counts those installs and events (crdt.Stats.RetiredPastFinal and
// RetiredPastFinalEvents). Unlike [G.Retire] and [PN.Retire], Retire
// cannot keep the rest under From's name: that would take, agreed with
// r.Final, each of From's totals (every total of rights per replica),
// and the rest alone may spend more rights than it gained (the rights
// From held at r.Final are in To's part), which no entry may; and the
// other entries' totals with From, renamed into To's, would count its
// rights taken up past r.Final twice. An older entry of From (a replica
// restored from an older state) makes To's entry smaller than elsewhere, and a
// merge with a replica that absorbed the last entry brings it up to date.
// Should To's entry spend more than it gained (an older state that lacks
// part of a run retired before, whose rights another run took up), To's
// entry is dropped: the value may fall, never below the floor (every other
// entry still holds what it holds), and the same merge repairs it; so is
// an entry of To left empty (rights two runs gave each other, cancelled
// out). In every case the other entries' totals of rights given to, taken
// up from or asked of From become totals of To.
//
// Retire fails with an error wrapping [vclock.ErrRetirement], changing
// nothing, if r.Check fails, if the counter counts as From, or if an entry
// would take totals past [MaxBoundedTotal]. A
// counter that neither holds nor names From is left as it is. Retire
// takes one pass over the entries and allocates the lists of the entries
// it changes (entries share their lists with ops, so none is changed in
// place).
func (b *Bounded) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	if b.id == r.From {
		return fmt.Errorf("%w: the counter counts as %q", vclock.ErrRetirement, r.From)
	}
	from := b.e[r.From]
	// The entries that change, made anew, and checked before anything
	// changes.
	var next []*bEntry
	to := b.e[r.To]
	if to == nil {
		to = &bEntry{id: r.To}
	}
	nt := *to
	nt.in, nt.out, nt.ask = renameRights(to.in, r), renameRights(to.out, r), renameRights(to.ask, r)
	if from != nil {
		nt.p, nt.n = nt.p+from.p, nt.n+from.n // each below 2⁶², checked below
		nt.in = addRights(nt.in, renameRights(from.in, r))
		nt.out = addRights(nt.out, renameRights(from.out, r))
	}
	// Rights To gave itself (one run to a later one of its name) leave
	// both of its lists.
	nt.in, nt.out, nt.ask = dropRights(nt.in, r.To), dropRights(nt.out, r.To), dropRights(nt.ask, r.To)
	changedTo := from != nil || !slices.Equal(nt.in, to.in) || !slices.Equal(nt.out, to.out) || !slices.Equal(nt.ask, to.ask)
	dropTo := false
	if changedTo {
		gained, spent := nt.totals()
		switch {
		case nt.p == 0 && nt.n == 0 && len(nt.in)+len(nt.out)+len(nt.ask) == 0:
			dropTo = b.e[r.To] != nil // nothing left: rights it gave itself cancelled out
		case gained.hi != 0 || gained.lo > MaxBoundedTotal:
			return fmt.Errorf("%w: retiring %q would take %q past %d rights", vclock.ErrRetirement, r.From, r.To, uint64(MaxBoundedTotal))
		case spent.hi != 0 || spent.lo > gained.lo:
			// An older state lacking part of a run retired before:
			// rights one run took from another cancel out without what
			// the other gave. Nothing of To's is kept here.
			dropTo = b.e[r.To] != nil
		default:
			next = append(next, &nt)
		}
	}
	for id, e := range b.e {
		if id == r.From || id == r.To || !names(e, r.From) {
			continue
		}
		ne := &bEntry{id: id, p: e.p, n: e.n, in: renameRights(e.in, r), out: renameRights(e.out, r), ask: renameRights(e.ask, r)}
		next = append(next, ne)
	}
	if from == nil && len(next) == 0 && !dropTo {
		return nil
	}
	for _, e := range next {
		op := e.op()
		if why := op.invalid(); why != "" {
			return fmt.Errorf("%w: retiring %q would leave %s", vclock.ErrRetirement, r.From, why)
		}
	}
	if from != nil {
		b.fp -= from.h
		delete(b.e, r.From)
	}
	if dropTo {
		b.fp -= b.e[r.To].h
		delete(b.e, r.To)
	}
	for _, e := range next {
		b.put(e)
	}
	b.own = b.e[b.id]
	b.revalue()
	return nil
}

// names reports whether e's lists name id.
func names(e *bEntry, id vclock.ReplicaID) bool {
	for _, rs := range [][]Rights{e.in, e.out, e.ask} {
		if _, ok := slices.BinarySearchFunc(rs, id, byReplica); ok {
			return true
		}
	}
	return false
}

// renameRights returns rs with r.From's total added to r.To's, in a new
// list; rs itself if it does not name r.From. (In an ask list the sum is
// a request nobody answers: To makes no transfers.)
func renameRights(rs []Rights, r vclock.Retirement) []Rights {
	i, ok := slices.BinarySearchFunc(rs, r.From, byReplica)
	if !ok {
		return rs
	}
	moved := rs[i].Total
	out := make([]Rights, 0, len(rs))
	out = append(out, rs[:i]...)
	out = append(out, rs[i+1:]...)
	return addRights(out, []Rights{{Replica: r.To, Total: moved}})
}

// addRights returns the sum of the totals of a and b, replica by replica,
// in a new list (or a itself if b is empty). A sum past math.MaxUint64
// saturates; the entry is then refused by its check.
func addRights(a, b []Rights) []Rights {
	if len(b) == 0 {
		return a
	}
	return combineRights(a, b, func(x, y uint64) uint64 {
		if s := x + y; s >= x {
			return s
		}
		return math.MaxUint64
	})
}

// totals returns what e's replica gained (increments and rights taken up)
// and spent (decrements and rights given).
func (e *bEntry) totals() (gained, spent u128) {
	gained, spent = gained.add(e.p), spent.add(e.n)
	for _, r := range e.in {
		gained = gained.add(r.Total)
	}
	for _, r := range e.out {
		spent = spent.add(r.Total)
	}
	return gained, spent
}

// dropRights returns rs without id's total (rs itself if it has none).
func dropRights(rs []Rights, id vclock.ReplicaID) []Rights {
	i, ok := slices.BinarySearchFunc(rs, id, byReplica)
	if !ok {
		return rs
	}
	out := make([]Rights, 0, len(rs)-1)
	return append(append(out, rs[:i]...), rs[i+1:]...)
}

// Writers returns, for each writer the counter holds an entry of, its
// count of [Bounded.Events]: the units of a retirement's Final. The
// replication engine reads it (through crdt.WriterCounter) to agree that
// every replica holds a writer's last entry before it retires the writer.
func (b *Bounded) Writers() vclock.Clock {
	var c vclock.Clock
	for id, e := range b.e {
		c.Set(id, e.events())
	}
	return c
}
