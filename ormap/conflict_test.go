package ormap

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/activeactive/crdt/vclock"
)

// hooked returns a map of registers that records its conflict reports.
func hooked[K comparable, V Value[V]](id vclock.ReplicaID) (*Map[K, V], *[]vclock.Conflict) {
	m := New[K, V](id)
	got := new([]vclock.Conflict)
	m.SetConflictHook(func(c vclock.Conflict) { *got = append(*got, c) })
	return m, got
}

func sib(w vclock.ReplicaID, seq uint64, v any) vclock.Write {
	return vclock.Write{Writer: w, Seq: seq, Value: v}
}

// TestConflictReportOnApply: two replicas write one register at once;
// each, taking in the other's op, reports the two siblings with their
// writers under the key, once, however often the op arrives.
func TestConflictReportOnApply(t *testing.T) {
	a, ga := hooked[string, *Register[string]]("A")
	b, gb := hooked[string, *Register[string]]("B")
	x := a.At("title").Set("ann") // A:1
	y := b.At("title").Set("bob") // B:1
	if len(*ga)+len(*gb) != 0 {
		t.Fatal("a local write was reported")
	}
	mustApply(t, a, y, y)
	mustApply(t, b, x, x)
	want := []vclock.Conflict{{Key: []any{"title"}, Siblings: []vclock.Write{sib("A", 1, "ann"), sib("B", 1, "bob")}}}
	if d := cmp.Diff(want, *ga); d != "" {
		t.Errorf("A's reports (-want +got):\n%s", d)
	}
	if d := cmp.Diff(want, *gb); d != "" {
		t.Errorf("B's reports (-want +got):\n%s", d)
	}

	// A write that saw both siblings replaces them: no report anywhere.
	z := a.At("title").Set("cat") // A:2, drops A:1 and B:1
	mustApply(t, b, z)
	if len(*ga) != 1 || len(*gb) != 1 {
		t.Fatalf("a write that replaced the siblings was reported: A %v, B %v", *ga, *gb)
	}

	// A third replica's concurrent write joins the value at A: reported
	// again, with both values held.
	c := New[string, *Register[string]]("C")
	w := c.At("title").Set("dan") // C:1, saw nothing
	mustApply(t, a, w)
	want2 := vclock.Conflict{Key: []any{"title"}, Siblings: []vclock.Write{sib("A", 2, "cat"), sib("C", 1, "dan")}}
	if d := cmp.Diff(want2, (*ga)[len(*ga)-1]); len(*ga) != 2 || d != "" {
		t.Errorf("A's reports after C's write: %v (-want +got):\n%s", *ga, d)
	}
}

// TestConflictReportOnMerge: states and deltas report as ops do, with the
// key path of a nested register, and a state taken in twice is reported
// once. UnmarshalBinary replaces the state and reports nothing.
func TestConflictReportOnMerge(t *testing.T) {
	a, ga := hooked[string, *Map[int, *Register[string]]]("A")
	b := New[string, *Map[int, *Register[string]]]("B")
	a.At("ann").At(7).Set("x")
	a.At("ann").At(8).Set("same") // A:2, a key only A writes
	b.At("ann").At(7).Set("y")
	b.At("bob").At(1).Set("z") // no conflict: only B wrote it
	bs := mustMarshal(t, b)

	c := a.Clone()
	c.SetConflictHook(func(vclock.Conflict) { t.Error("a clone kept the hook") })
	c.SetConflictHook(nil)

	a.Merge(b)
	a.Merge(b)
	if _, err := a.MergeBinary(bs); err != nil {
		t.Fatal(err)
	}
	want := []vclock.Conflict{{Key: []any{"ann", 7}, Siblings: []vclock.Write{sib("A", 1, "x"), sib("B", 1, "y")}}}
	if d := cmp.Diff(want, *ga); d != "" {
		t.Errorf("reports (-want +got):\n%s", d)
	}

	// The delta path, at a fresh replica that saw A's write only.
	d, gd := hooked[string, *Map[int, *Register[string]]]("D")
	d.Merge(c)
	if len(*gd) != 0 {
		t.Fatalf("merging one value reported %v", *gd)
	}
	if _, err := d.MergeBinary(mustMarshal(t, b.DeltaSince(d.Version()))); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, *gd); diff != "" {
		t.Errorf("delta reports (-want +got):\n%s", diff)
	}

	// Decoding a state with siblings replaces the map: no report.
	e, ge := hooked[string, *Map[int, *Register[string]]]("E")
	if err := e.UnmarshalBinary(mustMarshal(t, a)); err != nil {
		t.Fatal(err)
	}
	if len(*ge) != 0 {
		t.Errorf("UnmarshalBinary reported %v", *ge)
	}
}

// TestConflictHookOnOtherValues: counters and sets never conflict, and a
// map of them takes a hook and never calls it.
func TestConflictHookOnOtherValues(t *testing.T) {
	a, ga := hooked[string, *Counter]("A")
	b := New[string, *Counter]("B")
	mustApply(t, a, b.At("k").Add(1))
	a.At("k").Add(2)
	a.Merge(b)
	s, gs := hooked[string, *Set[int]]("A")
	u := New[string, *Set[int]]("B")
	s.At("k").Add(1)
	mustApply(t, s, u.At("k").Add(1), u.At("k").Add(2))
	if len(*ga)+len(*gs) != 0 {
		t.Errorf("reports on counters %v, sets %v", *ga, *gs)
	}
}

// TestConflictHookOnNestedPanics: the hook belongs to the top-level map.
func TestConflictHookOnNestedPanics(t *testing.T) {
	m := New[string, *Map[string, *Register[int]]]("A")
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	m.At("x").SetConflictHook(func(vclock.Conflict) {})
}
