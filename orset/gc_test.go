package orset

import "testing"

func requireGarbage(t *testing.T, s *Set[string], pending, collected uint64, what string) {
	t.Helper()
	if p, c := s.Garbage(); p != pending || c != collected {
		t.Fatalf("%s: Garbage() = %d pending, %d collected; want %d, %d", what, p, c, pending, collected)
	}
}

func versionBytes(t *testing.T, s *Set[string]) []byte {
	t.Helper()
	b, err := s.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGarbage: removes are pending until every replica's version counts
// them; CollectBinary then moves them to collected, on each replica.
func TestGarbage(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	apply := func(s *Set[string], op Op[string]) {
		t.Helper()
		if err := s.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []string{"x", "y", "z"} {
		apply(b, a.Add(e))
	}
	requireGarbage(t, a, 0, 0, "adds of new elements")
	vb := versionBytes(t, b) // b has seen the adds, not the removes
	for _, e := range []string{"x", "y"} {
		apply(b, a.Remove(e))
	}
	requireGarbage(t, a, 2, 0, "two removes")
	requireGarbage(t, b, 2, 0, "two removes applied")

	// b's old version does not count the removes: nothing is collected.
	if err := a.CollectBinary([][]byte{vb}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 2, 0, "collecting with a version before the removes")

	// A bad version discards nothing.
	if err := a.CollectBinary([][]byte{{0xc1}}); err == nil {
		t.Fatal("CollectBinary took a malformed version")
	}
	requireGarbage(t, a, 2, 0, "after a malformed version")

	if err := a.CollectBinary([][]byte{versionBytes(t, b)}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 0, 2, "collected at a")
	if err := b.CollectBinary([][]byte{versionBytes(t, a)}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, b, 0, 2, "collected at b")

	// A third remove, seen only by a, waits.
	op := a.Remove("z")
	requireGarbage(t, a, 1, 2, "a third remove")
	if n := a.Collect(b.Version()); n != 0 {
		t.Fatalf("Collect discarded %d records b has not seen", n)
	}
	apply(b, op)
	stable := a.Version()
	stable.Meet(b.Version())
	if n := a.Collect(stable); n != 1 {
		t.Fatalf("Collect discarded %d, want 1", n)
	}
	requireGarbage(t, a, 0, 3, "the third remove collected")

	// A set restored from a's state starts counting again; a clone does not.
	c := New[string]("a")
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, c, 0, 0, "restored")
	requireGarbage(t, a.Clone(), 0, 3, "clone")
}
