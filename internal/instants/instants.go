// Package instants checks that replicas of a set or map whose elements or
// keys are instants (time.Time) converge, whichever of its forms each
// instant was made in. It is for the tests of orset and lwwmap only.
//
// A time.Time compares by its location and its monotonic reading as well
// as its instant: one instant made in UTC, in another zone or with a
// monotonic reading is three different Go values, and an element or key
// must be one whatever form it came in, and whichever replica encoded it.
package instants

import (
	"time"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// Replica is what [Converge] needs of a replica of the type under test
// (R is the type itself): *orset.Set[time.Time] and
// *lwwmap.Map[time.Time, V] are such replicas.
type Replica[R any] interface {
	ID() vclock.ReplicaID                               // the replica's ID
	Len() int                                           // its number of elements or keys
	Fingerprint() uint64                                // its content fingerprint
	Equal(o R) bool                                     // whether it holds the same content as o
	MarshalBinary() ([]byte, error)                     // its whole state, encoded
	MergeBinary(state []byte) (changed bool, err error) // joins an encoded state into it
	ApplyBinary(op []byte) (changed bool, err error)    // applies an encoded op
}

// Writes are the writes [Converge] makes: Add adds (or puts) the instant
// at replica r in step step of the schedule, and Remove removes (or
// deletes) it; each returns the op encoded, which the other replicas are
// sent, or nil for an op to send nobody. Tick, if not nil, runs at the
// start of every step (to move the replicas' clocks, drawing from t).
type Writes[R any] struct {
	Add    func(r R, at time.Time, step int) ([]byte, error) // adds or puts at
	Remove func(r R, at time.Time) ([]byte, error)           // removes or deletes at
	Tick   func(t *rapid.T)                                  // moves the clocks; may be nil
}

// Converge runs a random schedule of up to 30 steps over replicas: at a
// drawn replica, an add or a remove of one of three instants a second
// apart from base, each drawn in one of its forms (as it is, in UTC, in
// zone, without a monotonic reading), its op queued for every other
// replica; the ops one replica queued for another, delivered in order;
// or one replica's state merged into another. Then every queue is
// delivered, and it fails t unless every replica holds at most three
// elements, and all hold the same: equal sizes, fingerprints and
// contents. what names the elements in its messages ("keys").
func Converge[R Replica[R]](t *rapid.T, base time.Time, zone *time.Location, replicas []R, w Writes[R], what string) {
	queue := map[[2]int][][]byte{}
	send := func(from int, b []byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if b == nil {
			return
		}
		for to := range replicas {
			if to != from {
				queue[[2]int{from, to}] = append(queue[[2]int{from, to}], b)
			}
		}
	}
	flush := func(from, to int) {
		for _, b := range queue[[2]int{from, to}] {
			if _, err := replicas[to].ApplyBinary(b); err != nil {
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
	for step := range rapid.IntRange(1, 30).Draw(t, "steps") {
		if w.Tick != nil {
			w.Tick(t)
		}
		i := rapid.IntRange(0, len(replicas)-1).Draw(t, "replica")
		j := rapid.IntRange(0, len(replicas)-1).Draw(t, "other")
		switch rapid.IntRange(0, 3).Draw(t, "action") {
		case 0:
			b, err := w.Add(replicas[i], instant(), step)
			send(i, b, err)
		case 1:
			b, err := w.Remove(replicas[i], instant())
			send(i, b, err)
		case 2:
			if i != j {
				flush(i, j)
			}
		case 3:
			st, err := replicas[i].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := replicas[j].MergeBinary(st); err != nil {
				t.Fatal(err)
			}
		}
	}
	for from := range replicas {
		for to := range replicas {
			if from != to {
				flush(from, to)
			}
		}
	}
	for _, r := range replicas {
		if r.Len() > 3 {
			t.Fatalf("%s holds %d %s of 3 instants", r.ID(), r.Len(), what)
		}
	}
	for i := 1; i < len(replicas); i++ {
		a, b := replicas[0], replicas[i]
		if a.Len() != b.Len() || a.Fingerprint() != b.Fingerprint() || !a.Equal(b) {
			t.Fatalf("%s and %s differ: %d and %d %s, fingerprints %x and %x", a.ID(), b.ID(), a.Len(), b.Len(), what, a.Fingerprint(), b.Fingerprint())
		}
	}
}
