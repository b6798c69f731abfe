package orset

import (
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/vclock"
)

// TestMarshalAllocatesAboutItsOutput: a state is encoded into one buffer
// sized once from an exact count of what it takes, and the dots are put
// in order through an array of 4 bytes per place of a window of about a
// sixth of the output: about 1.17 times the output in all. The bound,
// 1.25, leaves room for the allocator's rounding. A bound on the buffer
// below the output (which makes it grow by copying) allocates about twice
// the output; sorting the dots, or copying the elements, more.
func TestMarshalAllocatesAboutItsOutput(t *testing.T) {
	if costcheck.Race {
		t.Skip("the race detector allocates for its own bookkeeping")
	}
	one := New[string]("us-east-1") // one writer's run of adds, a third removed
	for i := range 30_000 {
		one.Add(keyOf(i))
	}
	for i := 0; i < 30_000; i += 3 {
		one.Remove(keyOf(i))
	}
	// Three writers adding overlapping ranges concurrently: the elements
	// added by two or three of them have as many dots.
	three := New[string]("a")
	for _, w := range []struct {
		id     vclock.ReplicaID
		lo, hi int
	}{{"a", 0, 12_000}, {"b", 6_000, 18_000}, {"c", 9_000, 20_000}} {
		s := New[string](w.id)
		for i := w.lo; i < w.hi; i++ {
			s.Add(keyOf(i))
		}
		three.Merge(s)
	}
	for name, s := range map[string]*Set[string]{"one writer": one, "three writers": three} {
		var out []byte
		var err error
		got := costcheck.Allocated(func() { out, err = s.MarshalBinary() })
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes, allocated %d (%.3fx)", name, len(out), got, float64(got)/float64(len(out)))
		if limit := uint64(len(out)) * 125 / 100; got > limit {
			t.Errorf("%s: encoding %d bytes allocated %d, more than %d", name, len(out), got, limit)
		}
	}
}
