package orset

import (
	"errors"
	"testing"
	"time"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/instants"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// An element holding a pointer compares by the pointer's address (and a
// time.Time beside it by its monotonic reading, since such a struct was
// taken as it is): the copy a peer decodes was another element with the
// same bytes. Replica a, having added it, then merged b's state, which
// held b's copy, and held two elements where b and c held one, with equal
// fingerprints. Such an element is refused.
func TestPointerElementRefused(t *testing.T) {
	type event struct {
		At   time.Time
		Note *string
	}
	e := event{At: time.Now()}
	a, b, c := New[event]("a"), New[event]("b"), New[event]("c")
	op := a.Add(e)
	if errors.Is(op.Err(), codec.ErrKey) {
		if a.Len() != 0 || a.Version().Len() != 0 {
			t.Errorf("a refused add changed the set: %d elements, version %v", a.Len(), a.Version())
		}
		return
	}
	deliver := func(op Op[event], to ...*Set[event]) {
		b, err := op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range to {
			if _, err := s.ApplyBinary(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	deliver(op, b)
	st, _ := a.MarshalBinary()
	if _, err := c.MergeBinary(st); err != nil {
		t.Fatal(err)
	}
	var got event
	for x := range b.All() {
		got = x
	}
	deliver(b.Add(got), a, c)
	deliver(a.Add(e), b, c)
	sa, _ := a.MarshalBinary()
	sb, _ := b.MarshalBinary()
	b.MergeBinary(sa)
	a.MergeBinary(sb)
	t.Fatalf("Add of an element holding a pointer: %v, want ErrKey; after the exchange a holds %d elements, b %d, c %d; fingerprints equal: %v",
		op.Err(), a.Len(), b.Len(), c.Len(), a.Fingerprint() == b.Fingerprint() && b.Fingerprint() == c.Fingerprint())
}

// Replicas adding and removing instants, each made in any of its forms
// (with a monotonic reading, in UTC, in another zone), and exchanging ops
// and states in any order, converge: equal sizes, fingerprints and
// contents, one element per instant.
func TestTimeElementsConverge(t *testing.T) {
	base := time.Now()
	zone := time.FixedZone("z", 5400)
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		sets := make([]*Set[time.Time], len(ids))
		for i, id := range ids {
			sets[i] = New[time.Time](id)
		}
		instants.Converge(t, base, zone, sets, instants.Writes[*Set[time.Time]]{
			Add: func(s *Set[time.Time], at time.Time, _ int) ([]byte, error) {
				op := s.Add(at)
				if op.Err() != nil {
					return nil, op.Err()
				}
				return op.MarshalBinary()
			},
			Remove: func(s *Set[time.Time], at time.Time) ([]byte, error) {
				op := s.Remove(at)
				if op.IsNoop() {
					return nil, nil
				}
				if op.Err() != nil {
					return nil, op.Err()
				}
				return op.MarshalBinary()
			},
		}, "elements")
	})
}
