package register

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A register that took a writer's second write without its first has a
// gap: its version leaves the second out, and HasGaps says so until the
// first arrives.
func TestMVHasGaps(t *testing.T) {
	w := NewMV[string]("w")
	first, second := w.Set("a"), w.Set("b")
	m := NewMV[string]("m")
	if m.HasGaps() {
		t.Fatal("an empty register has gaps")
	}
	if err := m.Apply(second); err != nil {
		t.Fatal(err)
	}
	if !m.HasGaps() {
		t.Fatal("after the second write alone: no gaps reported")
	}
	if err := m.Apply(first); err != nil {
		t.Fatal(err)
	}
	if m.HasGaps() || !m.Version().Equal(w.Version()) || m.Fingerprint() != w.Fingerprint() {
		t.Fatalf("with both writes: gaps %v, version %v (want %v)", m.HasGaps(), m.Version(), w.Version())
	}
}

// TestMVEqualVersionsWithoutGapsHoldEqualContent: registers take one
// another's writes late, twice, out of order, and whole states now and
// then; whenever two of them are at one version and neither has gaps,
// they hold the same content and the same fingerprint. The replication
// engine counts a divergence exactly when this fails, so it must not fail
// for replicas that did nothing wrong.
func TestMVEqualVersionsWithoutGapsHoldEqualContent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		regs := make([]*MV[string], len(ids))
		inbox := make([][]MVOp[string], len(ids)) // writes each replica has yet to take
		for i, id := range ids {
			regs[i] = NewMV[string](id)
		}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			i := rapid.IntRange(0, len(ids)-1).Draw(t, "replica")
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0, 1:
				op := regs[i].Set(rapid.SampledFrom([]string{"x", "y"}).Draw(t, "value"))
				for j := range ids {
					if j != i {
						inbox[j] = append(inbox[j], op)
					}
				}
			case 2:
				if len(inbox[i]) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(inbox[i])-1).Draw(t, "op")
				if err := regs[i].Apply(inbox[i][k]); err != nil {
					t.Fatal(err)
				}
				if !rapid.Bool().Draw(t, "again") {
					inbox[i] = append(inbox[i][:k], inbox[i][k+1:]...)
				}
			case 3:
				regs[i].Merge(regs[rapid.IntRange(0, len(ids)-1).Draw(t, "from")])
			}
			for a := range regs {
				for b := range a {
					x, y := regs[a], regs[b]
					if x.HasGaps() || y.HasGaps() || !x.Version().Equal(y.Version()) {
						continue
					}
					if !x.Equal(y) || x.Fingerprint() != y.Fingerprint() {
						t.Fatalf("%s and %s at version %v without gaps differ: %v / %v", ids[a], ids[b], x.Version(), x.Values(), y.Values())
					}
				}
			}
		}
	})
}
