package ormap

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/activeactive/crdt/vclock"
)

// Retire renames the writer r.From into r.To, its name's retired writer
// (see [vclock.Retirement]): each dot (From, n) with 1 <= n <= r.Final,
// of a write, a delete, an expiry or a persist, in the causal context or
// in a drop record, becomes (To, r.Base+n). The renaming is one-to-one,
// so merging retired maps gives what merging them first and retiring
// after would, and every key, counter, set and register value stays as
// it was; only the order of a register's concurrent values
// ([Register.Values] sorts them by dot) may change. Dots of From above
// r.Final stay under From. r.Base and r.Final count dots, the units of
// [Map.Version], which no longer names From afterwards.
//
// A writer retired while it still writes (a second process under its
// name) may go on with a counter's chain past Final: the map keeps, in
// memory, the retirements it applied, so that such a leaf of From still
// supersedes the chain's older leaves renamed into To (and a delete's
// record of them), as it would have before the renaming. A map restored
// from an encoded state does not know them: see [Map.Renamed].
//
// The replication engine calls Retire on every replica, with the same
// retirements in the same order; a map used without it needs the same
// care. Retire refuses, with an error wrapping [vclock.ErrRetirement], a
// retirement whose Check fails, one of the writer the map itself writes
// as (call [Map.SetWriter] first), and one whose renamed dots would land
// on dots of To the map has already seen; the map is then unchanged. It
// costs a pass over the map's writes and drop records. Retire may only be
// called on a top-level map.
func (m *Map[K, V]) Retire(r vclock.Retirement) error {
	s := m.mustTop("Retire")
	if err := r.Check(); err != nil {
		return err
	}
	if s.id == r.From {
		return fmt.Errorf("%w: the map writes as %q", vclock.ErrRetirement, r.From)
	}
	if err := s.k.Retire(r); err != nil {
		return err
	}
	s.retireResets(r)
	s.noteRetired(r)
	return nil
}

// Renamed tells the map of the retirement r, already applied to its state
// (by [Map.Retire] before the state was encoded), without renaming
// anything. Call it, with every retirement applied to the state, in the
// order applied, after restoring the state with [Map.UnmarshalBinary] into
// a map that did not retire it (as after a restart): a counter's chain
// that its writer continued past r.Final is then still one chain (see
// [Map.Retire]). A retirement the map already knows, or with Final 0, is
// ignored. Renamed refuses, with an error wrapping
// [vclock.ErrRetirement], a retirement whose Check fails. It may only be
// called on a top-level map.
func (m *Map[K, V]) Renamed(r vclock.Retirement) error {
	s := m.mustTop("Renamed")
	if err := r.Check(); err != nil {
		return err
	}
	s.noteRetired(r)
	return nil
}

// noteRetired adds r to the retirements the state knows, unless it knows
// it already or r renames nothing. The retirements are indexed by the
// writer they rename into (sorted by Base: the dots they rename into it
// do not overlap) and by the writer they rename, so that the look-ups of
// a join cost a map look-up and a binary search, however many writers a
// name has had retired (a writer per run of a replica).
func (s *state) noteRetired(r vclock.Retirement) {
	if r.Final == 0 {
		return
	}
	rs := s.retiredTo[r.To]
	i, found := slices.BinarySearchFunc(rs, r.Base, func(o vclock.Retirement, b uint64) int { return cmp.Compare(o.Base, b) })
	if found && rs[i].From == r.From && rs[i].Final == r.Final {
		return
	}
	if s.retiredTo == nil {
		s.retiredTo = map[vclock.ReplicaID][]vclock.Retirement{}
		s.retiredFrom = map[vclock.ReplicaID]vclock.ReplicaID{}
	}
	s.retiredTo[r.To] = slices.Insert(rs, i, r)
	s.retiredFrom[r.From] = r.To
	s.retired = append(s.retired, r)
}

// orig returns the chain, writer w, start c and sequence number n, that
// the leaf (or reset entry) of the chain of w starting at c, at n, was
// before the retirements the state knows: (From, c-Base, n-Base) if w is
// a retirement's To and the chain lies within its renamed dots, itself
// otherwise. Leaves (and entries) of one chain, some renamed and some
// written past Final under From, have the same chain before renaming.
func (s *state) orig(w vclock.ReplicaID, c, n uint64) (vclock.ReplicaID, uint64, uint64) {
	rs := s.retiredTo[w]
	if len(rs) == 0 {
		return w, c, n
	}
	// The last retirement into w whose renamed dots start below c.
	i, _ := slices.BinarySearchFunc(rs, c, func(o vclock.Retirement, c uint64) int {
		if o.Base < c {
			return -1
		}
		return 1
	})
	if i == 0 {
		return w, c, n
	}
	if r := rs[i-1]; n >= c && n-r.Base <= r.Final {
		return r.From, c - r.Base, n - r.Base
	}
	return w, c, n
}

// origLeaf is orig of the counter leaf l under the dot d.
func (s *state) origLeaf(l leaf, d vclock.Dot) (vclock.ReplicaID, uint64, uint64) {
	return s.orig(d.Replica, chainOf(l, d), d.Seq)
}

// related reports whether the writers a and b may hold leaves of one
// chain: a is b, or one is the other's retired writer by a retirement
// the state knows.
func (s *state) related(a, b vclock.ReplicaID) bool {
	if a == b {
		return true
	}
	if to, ok := s.retiredFrom[a]; ok && to == b {
		return true
	}
	to, ok := s.retiredFrom[b]
	return ok && to == a
}

// hasRelated reports whether the node n holds a dot of a writer related
// to w other than w itself: w's retired writer by a retirement the state
// knows, or a writer retired into w.
func (s *state) hasRelated(n *node, w vclock.ReplicaID) bool {
	var x *dotIndex
	if n.ext != nil {
		x = n.ext.at
	}
	if x == nil {
		return slices.ContainsFunc(n.dots(), func(d vclock.Dot) bool {
			return d.Replica != w && s.related(d.Replica, w)
		})
	}
	if to, ok := s.retiredFrom[w]; ok && x.per[to] > 0 {
		return true
	}
	for _, r := range s.retiredTo[w] {
		if x.per[r.From] > 0 {
			return true
		}
	}
	return false
}

// retireResets renames, in the reset leaves, the chains of r.From that r
// renames: an entry (From, c, s) with s <= r.Final (so c <= r.Final too)
// becomes (To, Base+c, Base+s), as the dots of the chain's leaves do; the
// leaves keep their dots. (An entry of a chain of From that starts at or
// below Final and goes on above it keeps From's name: orig tells it is
// the same chain as the renamed entries and leaves of that chain.)
func (s *state) retireResets(r vclock.Retirement) {
	for d := range s.resetDots {
		l, _ := s.k.Get(d)
		es := entriesOf(l, nil)
		changed := false
		for i, e := range es {
			if e.w == r.From && e.s <= r.Final {
				es[i].w, es[i].c, es[i].s = r.To, r.Base+e.c, r.Base+e.s
				changed = true
			}
		}
		if !changed {
			continue
		}
		// The same dot, the same key path, other entries: the index and
		// the fingerprint stay as they are.
		w := s.k.Watch
		s.k.Watch = nil
		s.k.Put(d, resetLeaf(l.path(), mergeEntries(es)), d)
		s.k.Watch = w
	}
}
