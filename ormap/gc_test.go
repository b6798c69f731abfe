package ormap

import "testing"

func requireGarbage(t *testing.T, m *Map[string, *Counter], pending, collected uint64, what string) {
	t.Helper()
	if p, c := m.Garbage(); p != pending || c != collected {
		t.Fatalf("%s: Garbage() = %d pending, %d collected; want %d, %d", what, p, c, pending, collected)
	}
}

// TestGarbage: deletes are pending until every replica's version counts
// them; CollectBinary then moves them to collected. A delete of a counter
// counts twice: its drop record, and its reset leaf (what it saw of the
// counter's chain).
func TestGarbage(t *testing.T) {
	a, b := New[string, *Counter]("a"), New[string, *Counter]("b")
	for _, k := range []string{"x", "y", "z"} {
		mustApply(t, b, a.At(k).Add(1))
	}
	requireGarbage(t, a, 0, 0, "increments")
	vb, err := b.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, b, a.Delete("x"), a.Delete("y"))
	requireGarbage(t, a, 4, 0, "two deletes")
	requireGarbage(t, b, 4, 0, "two deletes applied")
	if err := a.CollectBinary([][]byte{vb}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 4, 0, "collecting with a version before the deletes")

	va, err := a.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	vb, err = b.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.CollectBinary([][]byte{vb}); err != nil {
		t.Fatal(err)
	}
	if err := b.CollectBinary([][]byte{va}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 0, 4, "collected at a")
	requireGarbage(t, b, 0, 4, "collected at b")
	// The collection also removed the deletes' reset leaves (what they
	// saw of the counters' chains), each replica its own, with no write.
	if a.s.k.Len() != 1 || b.s.k.Len() != 1 || !a.Equal(b) {
		t.Fatalf("%d and %d leaves after collection, want z's", a.s.k.Len(), b.s.k.Len())
	}

	// A restored map starts counting again.
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := New[string, *Counter]("a")
	if err := c.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, c, 0, 0, "restored")
}
