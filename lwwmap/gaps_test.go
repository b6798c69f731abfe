package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// A map that took a writer's second write without its first has a gap:
// its version leaves the second out, and HasGaps says so until the first
// arrives.
func TestHasGaps(t *testing.T) {
	var now int64 = 1
	clk := clock.New(clock.WithSource(func() int64 { return now }))
	w := New[string, string]("w", clk)
	first, second := w.Put("a", "1"), w.Delete("a")
	m := New[string, string]("m", clk)
	if m.HasGaps() {
		t.Fatal("an empty map has gaps")
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
