package ormap

import (
	"slices"
	"testing"
	"unsafe"

	"github.com/activeactive/crdt/vclock"
)

// TestNodeDots: a node holds its first dot itself and moves to a slice
// of its own for more, and back when one is left, without losing or
// repeating a dot on the way; the sums and counts follow.
func TestNodeDots(t *testing.T) {
	var root node
	p := appendSeg("", "k")
	d := func(i uint64) vclock.Dot { return vclock.Dot{Replica: "A", Seq: i} }
	want := []vclock.Dot{}
	check := func(sum int64) {
		t.Helper()
		n := root.lookup(p)
		if len(want) == 0 {
			if n != nil || !root.empty() || root.numKids() != 0 {
				t.Fatalf("an empty key is still indexed")
			}
			return
		}
		got := slices.SortedFunc(slices.Values(n.dots()), vclock.Dot.Compare)
		if !slices.Equal(got, want) || n.sum() != sum || root.live != uint32(len(want)) {
			t.Fatalf("dots %v sum %d live %d, want %v sum %d", got, n.sum(), root.live, want, sum)
		}
		if (len(want) == 1) == n.multi() {
			t.Fatalf("%d dots, held in a slice: %v", len(want), n.multi())
		}
	}
	for i := uint64(1); i <= 5; i++ {
		root.add(p, d(i), int64(i), false)
		want = append(want, d(i))
		check(int64(i * (i + 1) / 2))
	}
	for _, i := range []uint64{3, 1, 5, 2} {
		root.remove(p, d(i), int64(i), false)
		want = slices.DeleteFunc(want, func(x vclock.Dot) bool { return x == d(i) })
		var sum int64
		for _, x := range want {
			sum += int64(x.Seq)
		}
		check(sum)
	}
	root.add(p, d(6), 6, false)
	want = append(want, d(6))
	check(10)
	root.remove(p, d(4), 4, false)
	root.remove(p, d(6), 6, false)
	want = nil
	check(0)
}

// TestLayout keeps the sizes the heap figures of BENCHMARKS.md rest on,
// on 64-bit machines: a leaf of 32 bytes (with its dot and the packed
// dot, a slot of the store's table is 64) and an index node of 48 (with
// its segment, a slot of its parent's table is 64).
func TestLayout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit machines")
	}
	if got := unsafe.Sizeof(leaf{}); got != 32 {
		t.Errorf("leaf is %d bytes, want 32", got)
	}
	if got := unsafe.Sizeof(node{}); got != 48 {
		t.Errorf("node is %d bytes, want 48", got)
	}
	if got := unsafe.Sizeof(kid{}); got != 64 {
		t.Errorf("a child's slot is %d bytes, want 64", got)
	}
}
