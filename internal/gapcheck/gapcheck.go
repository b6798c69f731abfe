// Package gapcheck checks the rule the replication engine's divergence
// count rests on, for the data types that report gaps (orset, lwwmap,
// ormap, register.MV): two replicas at one version, neither with gaps,
// hold the same content and the same fingerprint, whatever order they
// took ops and states in. It is for those packages' tests only.
package gapcheck

import (
	"fmt"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// Replica is what [EqualContent] needs of a replica of the type under
// test, R, whose ops are of type O.
type Replica[R, O any] interface {
	Version() vclock.Clock // the version vector
	HasGaps() bool         // whether it holds updates past a gap
	Equal(o R) bool        // whether it holds the same content as o
	Fingerprint() uint64   // its content fingerprint
	Apply(op O) error      // applies an op of another replica
	Merge(o R)             // joins o's whole state into it
}

// Type is what [EqualContent] knows of the type under test besides its
// methods.
type Type[R, O any] struct {
	// Write makes a write at replicas[i], drawing what it writes from t,
	// and reports whether the op goes to the other replicas (not if it
	// is a no-op).
	Write func(t *rapid.T, i int) (op O, send bool)
	// Tick, if not nil, runs at the start of every step (to move the
	// replicas' clocks, drawing from t).
	Tick func(t *rapid.T)
	// Same, if not nil, is what else two replicas at one version without
	// gaps must have alike, besides Equal and Fingerprint.
	Same func(x, y R) bool
	// Show, if not nil, describes a replica's content for a failure.
	Show func(x R) string
}

// EqualContent runs a random schedule of up to 60 steps over replicas,
// named ids: at a drawn replica, a write (twice as likely as either
// other action), its op queued for every other replica; an op of its
// queue taken, out of order, and kept to be taken again if so drawn; or
// the state of a drawn replica merged. After every step it fails t if
// two replicas at one version, neither with gaps, differ.
func EqualContent[R Replica[R, O], O any](t *rapid.T, ids []vclock.ReplicaID, replicas []R, ty Type[R, O]) {
	inbox := make([][]O, len(ids)) // ops each replica has yet to take
	for range rapid.IntRange(1, 60).Draw(t, "steps") {
		if ty.Tick != nil {
			ty.Tick(t)
		}
		i := rapid.IntRange(0, len(ids)-1).Draw(t, "replica")
		switch rapid.IntRange(0, 3).Draw(t, "action") {
		case 0, 1:
			op, send := ty.Write(t, i)
			for j := range ids {
				if j != i && send {
					inbox[j] = append(inbox[j], op)
				}
			}
		case 2:
			if len(inbox[i]) == 0 {
				continue
			}
			k := rapid.IntRange(0, len(inbox[i])-1).Draw(t, "op")
			if err := replicas[i].Apply(inbox[i][k]); err != nil {
				t.Fatal(err)
			}
			if !rapid.Bool().Draw(t, "again") {
				inbox[i] = append(inbox[i][:k], inbox[i][k+1:]...)
			}
		case 3:
			replicas[i].Merge(replicas[rapid.IntRange(0, len(ids)-1).Draw(t, "from")])
		}
		for a := range replicas {
			for b := range a {
				x, y := replicas[a], replicas[b]
				if x.HasGaps() || y.HasGaps() || !x.Version().Equal(y.Version()) {
					continue
				}
				if !x.Equal(y) || x.Fingerprint() != y.Fingerprint() || (ty.Same != nil && !ty.Same(x, y)) {
					var content string
					if ty.Show != nil {
						content = fmt.Sprintf(": %s / %s", ty.Show(x), ty.Show(y))
					}
					t.Fatalf("%s and %s at version %v without gaps differ%s", ids[a], ids[b], x.Version(), content)
				}
			}
		}
	}
}
