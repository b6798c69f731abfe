package ormap

import (
	"fmt"

	"github.com/activeactive/crdt/vclock"
)

// Retire renames the finished writer r.From into r.To, its name's retired
// writer (see [vclock.Retirement]): each dot (From, n) with 1 <= n <=
// r.Final, of a write, a delete, an expiry or a persist, in the causal
// context or in a drop record, becomes (To, r.Base+n). The renaming is
// one-to-one, so merging retired maps gives what merging them first and
// retiring after would (for a finished writer: one that wrote nothing
// past Final, as the engine retires them; a counter's increments by a
// writer that went on past Final would be split there into two chains,
// whose leaves no longer replace one another), and every key, counter,
// set and register value stays as it was; only the order of a register's
// concurrent values
// ([Register.Values] sorts them by dot) may change. Dots of From above
// r.Final stay under From. r.Base and r.Final count dots, the units of
// [Map.Version], which no longer names From afterwards.
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
	return nil
}

// retireResets renames, in the reset leaves, the chains of r.From that r
// renames: an entry (From, c, s) with s <= r.Final (so c <= r.Final too)
// becomes (To, Base+c, Base+s), as the dots of the chain's leaves do; the
// leaves keep their dots. (A chain of From that starts at or below Final
// and goes on above it, which a finished writer does not make, would be
// split by the renaming.)
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
