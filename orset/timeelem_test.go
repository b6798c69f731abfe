package orset

import (
	"errors"
	"testing"
	"time"

	"github.com/activeactive/crdt/codec"
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
		queue := map[[2]int][][]byte{}
		send := func(from int, op Op[time.Time]) {
			if op.Err() != nil {
				t.Fatal(op.Err())
			}
			b, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			for to := range sets {
				if to != from {
					queue[[2]int{from, to}] = append(queue[[2]int{from, to}], b)
				}
			}
		}
		flush := func(from, to int) {
			for _, b := range queue[[2]int{from, to}] {
				if _, err := sets[to].ApplyBinary(b); err != nil {
					t.Fatal(err)
				}
			}
			delete(queue, [2]int{from, to})
		}
		instant := func() time.Time {
			tm := base.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "instant")) * time.Second)
			switch rapid.IntRange(0, 3).Draw(t, "form") {
			case 1:
				tm = tm.UTC()
			case 2:
				tm = tm.In(zone)
			case 3:
				tm = tm.Round(0)
			}
			return tm
		}
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, len(sets)-1).Draw(t, "replica")
			j := rapid.IntRange(0, len(sets)-1).Draw(t, "other")
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0:
				send(i, sets[i].Add(instant()))
			case 1:
				if op := sets[i].Remove(instant()); !op.IsNoop() {
					send(i, op)
				}
			case 2:
				if i != j {
					flush(i, j)
				}
			case 3:
				st, err := sets[i].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sets[j].MergeBinary(st); err != nil {
					t.Fatal(err)
				}
			}
		}
		for from := range sets {
			for to := range sets {
				if from != to {
					flush(from, to)
				}
			}
		}
		for _, s := range sets {
			if s.Len() > 3 {
				t.Fatalf("%s holds %d elements of 3 instants", s.ID(), s.Len())
			}
		}
		for i := 1; i < len(sets); i++ {
			a, b := sets[0], sets[i]
			if a.Len() != b.Len() || a.Fingerprint() != b.Fingerprint() || !a.Equal(b) {
				t.Fatalf("%s and %s differ: %d and %d elements, fingerprints %x and %x", a.ID(), b.ID(), a.Len(), b.Len(), a.Fingerprint(), b.Fingerprint())
			}
		}
	})
}
