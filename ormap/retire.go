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
// retiring after would, and every key, counter, set and register value
// stays as it was; only the order of a register's concurrent values
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
	return s.k.Retire(r)
}
