package register

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/gapcheck"
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
		for i, id := range ids {
			regs[i] = NewMV[string](id)
		}
		gapcheck.EqualContent(t, ids, regs, gapcheck.Type[*MV[string], MVOp[string]]{
			Write: func(t *rapid.T, i int) (MVOp[string], bool) {
				return regs[i].Set(rapid.SampledFrom([]string{"x", "y"}).Draw(t, "value")), true
			},
			Show: func(r *MV[string]) string { return fmt.Sprint(r.Values()) },
		})
	})
}
