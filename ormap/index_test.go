package ormap

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"unsafe"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
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
	if got := unsafe.Sizeof(nodeExt{}); got != 96 {
		t.Errorf("a node's extension is %d bytes, want 96 (a size class: see maxExtChunk)", got)
	}
}

// TestJoinExtensionsApart: a join that gives many keys their second dot
// hands each node an extension of its own, from arrays of a few (see
// extChunks): the joined index is the one the store gives, and stays so
// while the keys are incremented, deleted and written again one by one,
// each change reaching its own key only.
func TestJoinExtensionsApart(t *testing.T) {
	x := New[string, *Counter]("x")
	y := New[string, *Counter]("y")
	const n = 300
	for i := range n {
		x.At(fmt.Sprint("k", i)).Add(1)
		y.At(fmt.Sprint("k", i+n/2)).Add(2)
	}
	x.Merge(y)
	check := func(what string) {
		t.Helper()
		if got, want := dumpIndex(&x.s.ix), dumpIndex(rebuiltIndex(x.s)); got != want {
			t.Fatalf("%s: the index differs from the store's", what)
		}
	}
	check("after the join")
	seen := map[*nodeExt]string{}
	for p, c := range x.s.ix.kids().kids.All() {
		if c.ext == nil {
			continue
		}
		if q, ok := seen[c.ext]; ok {
			t.Fatalf("the keys %q and %q share an extension", p, q)
		}
		seen[c.ext] = p
	}
	if len(seen) != n/2 {
		t.Fatalf("%d keys hold two dots, want %d", len(seen), n/2)
	}
	for i := n / 2; i < n; i++ {
		k := fmt.Sprint("k", i)
		switch i % 3 {
		case 0:
			x.At(k).Add(5)
		case 1:
			x.Delete(k)
		default:
			x.Delete(k)
			x.At(k).Add(7)
		}
		check("after a change to " + k)
	}
	for i := range n + n/2 {
		want := int64(0)
		switch {
		case i < n/2:
			want = 1
		case i >= n:
			want = 2
		case i%3 == 0:
			want = 1 + 2 + 5
		case i%3 == 2:
			want = 7
		}
		if got := x.At(fmt.Sprint("k", i)).Value(); got != want {
			t.Fatalf("k%d = %d, want %d", i, got, want)
		}
	}
}

// TestNodeDotIndex: a key's node holding many dots indexes them (see
// dotIndex), and the index always says what a walk of the dots would:
// random adds and drops of dots of a few writers, through bigNode and
// back, each followed by a check of the dots against a model, of
// hasOther for every writer, of the index itself and of the dots it
// keeps of the writer that asks for its own; and the same of a clone of
// the index.
func TestNodeDotIndex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var root node
		p := appendSeg("", "k")
		writers := []vclock.ReplicaID{"a!0", "a!1", "a!2", "b!1"}
		s := &state{} // knows a!1 retired into a!0
		s.noteRetired(vclock.Retirement{From: "a!1", To: "a!0", Final: 5})
		model := map[vclock.Dot]bool{}
		seq := uint64(0)
		check := func(root *node) {
			n := root.lookup(p)
			if len(model) == 0 {
				if n != nil {
					t.Fatalf("an empty key is still indexed")
				}
				return
			}
			got := map[vclock.Dot]bool{}
			for _, d := range n.dots() {
				if got[d] {
					t.Fatalf("dot %v held twice", d)
				}
				got[d] = true
			}
			if !maps.Equal(got, model) {
				t.Fatalf("dots %v, want %v", n.dots(), model)
			}
			if big := n.multi() && len(n.dots()) >= bigNode; big && n.ext.at == nil {
				t.Fatalf("%d dots without an index", len(n.dots()))
			}
			if n.multi() && n.ext.at != nil {
				x := n.ext.at
				if len(x.pos) != len(n.ext.ds) {
					t.Fatalf("index of %d dots for %d", len(x.pos), len(n.ext.ds))
				}
				per := map[vclock.ReplicaID]int{}
				for i, d := range n.ext.ds {
					if x.pos[d] != i {
						t.Fatalf("index puts %v at %d, it is at %d", d, x.pos[d], i)
					}
					per[d.Replica]++
				}
				if !maps.Equal(per, x.per) {
					t.Fatalf("index counts %v per writer, want %v", x.per, per)
				}
			}
			// The dots of one writer, kept by the index while that
			// writer asks (mostly a!0, as the local writer does).
			w := writers[0]
			if rapid.IntRange(0, 9).Draw(t, "ask another") == 0 {
				w = rapid.SampledFrom(writers).Draw(t, "asker")
			}
			if ds, _, ok := n.ownDots(w); ok {
				got, want := map[vclock.Dot]bool{}, map[vclock.Dot]bool{}
				for _, d := range ds {
					got[d] = true
				}
				for d := range model {
					if d.Replica == w {
						want[d] = true
					}
				}
				if len(ds) != len(got) || !maps.Equal(got, want) {
					t.Fatalf("ownDots(%v) = %v, want %v", w, ds, want)
				}
			} else if n.multi() && n.ext.at != nil {
				t.Fatal("ownDots of an indexed node: not indexed")
			}
			for _, w := range writers {
				want := false
				for d := range model {
					want = want || d.Replica != w && s.related(d.Replica, w)
				}
				if got := s.hasRelated(n, w); got != want {
					t.Fatalf("hasRelated(%v) = %v, want %v", w, got, want)
				}
				probe := vclock.Dot{Replica: w, Seq: seq + 1} // held nowhere
				want = false
				for d := range model {
					want = want || d.Replica == w
				}
				if got := n.hasOther(probe); got != want {
					t.Fatalf("hasOther(%v) = %v, want %v", probe, got, want)
				}
				for d := range model {
					if d.Replica != w {
						continue
					}
					others := 0
					for e := range model {
						if e.Replica == w && e != d {
							others++
						}
					}
					if got := n.hasOther(d); got != (others > 0) {
						t.Fatalf("hasOther(%v) = %v with %d other dots of its writer", d, got, others)
					}
					break
				}
			}
		}
		steps := rapid.IntRange(1, 300).Draw(t, "steps")
		grow := rapid.IntRange(20, 90).Draw(t, "grow") // percent of steps that add
		for i := range steps {
			if i == steps/2 {
				grow = 100 - grow // and back
			}
			if len(model) == 0 || rapid.IntRange(0, 99).Draw(t, "op") < grow {
				seq++
				d := vclock.Dot{Replica: rapid.SampledFrom(writers).Draw(t, "writer"), Seq: seq}
				root.add(p, d, 1, false)
				model[d] = true
			} else {
				held := slices.SortedFunc(maps.Keys(model), vclock.Dot.Compare)
				d := rapid.SampledFrom(held).Draw(t, "drop")
				root.remove(p, d, 1, false)
				delete(model, d)
			}
			check(&root)
		}
		c := root.clone()
		check(&c)
	})
}
