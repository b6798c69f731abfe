package lwwmap

import "testing"

func requireGarbage(t *testing.T, m *Map[string, string], pending, collected uint64, what string) {
	t.Helper()
	if p, c := m.Garbage(); p != pending || c != collected {
		t.Fatalf("%s: %s: Garbage() = %d pending, %d collected; want %d, %d", m.ID(), what, p, c, pending, collected)
	}
}

func versionOf(t *testing.T, m *Map[string, string]) []byte {
	t.Helper()
	b, err := m.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGarbage: delete markers are pending until every replica's version
// counts them; collection moves them to collected, and so does a merge
// with a replica that collected them first. A marker a later put replaces
// is not collected.
func TestGarbage(t *testing.T) {
	ft := &fakeTime{now: 1000 * ms}
	a, b := region("a", ft, 0), region("b", ft, 0)
	for _, k := range []string{"w", "x", "y", "z"} {
		mustApply(t, b, a.Put(k, "1"))
	}
	requireGarbage(t, a, 0, 0, "puts")
	vb := versionOf(t, b) // before the deletes
	ft.now += ms
	mustApply(t, b, a.Delete("x"), a.Delete("y"), a.Delete("z"))
	requireGarbage(t, a, 3, 0, "three deletes")
	requireGarbage(t, b, 3, 0, "three deletes applied")

	if err := a.CollectBinary([][]byte{vb}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 3, 0, "collecting with a version before the deletes")
	if err := a.CollectBinary([][]byte{{0xc1}}); err == nil {
		t.Fatal("CollectBinary took a malformed version")
	}
	requireGarbage(t, a, 3, 0, "after a malformed version")

	// A put of z replaces its marker: pending falls, nothing is collected.
	ft.now += ms
	mustApply(t, b, a.Put("z", "2"))
	requireGarbage(t, a, 2, 0, "a put over a marker")
	requireGarbage(t, b, 2, 0, "a put over a marker applied")

	if err := a.CollectBinary([][]byte{versionOf(t, b)}); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, a, 0, 2, "collected")
	c := a.Clone()
	requireGarbage(t, c, 0, 2, "clone")

	// b has not collected; a's whole state shows the markers gone there.
	b.Merge(a)
	requireGarbage(t, b, 0, 2, "merged the state of a replica that collected")

	// Collect by a stable timestamp counts too.
	ft.now += ms
	mustApply(t, b, a.Delete("w"))
	requireGarbage(t, a, 1, 2, "a fourth delete")
	ft.now += ms
	if n := a.Collect(a.clk.Now()); n != 1 {
		t.Fatalf("Collect dropped %d markers, want 1", n)
	}
	requireGarbage(t, a, 0, 3, "collected by timestamp")
	requireGarbage(t, c, 0, 2, "the clone is independent")

	// A map restored from its saved state starts counting again.
	requireGarbage(t, b, 1, 2, "before saving")
	st, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	requireGarbage(t, b, 1, 0, "restored")
}
