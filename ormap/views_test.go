package ormap

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestCounterViews: each view At hands out is a view of its own key,
// distinct from every other, also when readers take them at the same
// time (run with -race), and views of one key see each other's writes.
func TestCounterViews(t *testing.T) {
	m := New[string, *Counter]("a")
	const keys = 100
	for i := range keys {
		m.At(fmt.Sprint(i)).Add(int64(i + 1))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			seen := map[*Counter]bool{}
			views := make([]*Counter, keys)
			for i := range keys {
				c := m.At(fmt.Sprint(i))
				if seen[c] {
					errs <- fmt.Errorf("view of key %d handed out twice", i)
					return
				}
				seen[c] = true
				views[i] = c
			}
			for i, c := range views { // read after all were made
				if got := c.Value(); got != int64(i+1) {
					errs <- fmt.Errorf("view of key %d reads %d, want %d", i, got, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a, b := m.At("1"), m.At("1")
	if a == b {
		t.Fatal("two calls of At returned one view")
	}
	a.Add(1)
	if b.Value() != 3 || a.Value() != 3 {
		t.Fatalf("views of one key read %d and %d, want 3", a.Value(), b.Value())
	}
}

// TestTopCounterMatchesPathView: the counter of a top-level key, which At
// hands out with the key's segment only (Add looks the key up once and
// takes the index's own path, the index taking the dot where the look-up
// found it), does what a view of the whole key path does: the same ops,
// the same state, values and index, through deletes, merges with another
// replica, views kept across other writes, keys too long for the buffer
// and more keys than a node keeps in a slice.
func TestTopCounterMatchesPathView(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fast := New[string, *Counter]("a")
		slow := New[string, *Counter]("a")
		other := New[string, *Counter]("b")
		long := strings.Repeat("k", 70)
		keyOf := func(i int) string {
			if i%17 == 16 {
				return fmt.Sprint(long, i)
			}
			return fmt.Sprint("k", i)
		}
		nkeys := rapid.IntRange(1, 60).Draw(t, "keys")
		var kept []*Counter
		var keptKeys []string
		var mid vclock.Clock
		for range rapid.IntRange(0, 300).Draw(t, "steps") {
			if rapid.IntRange(0, 20).Draw(t, "mid") == 0 {
				mid = slow.Version()
			}
			k := keyOf(rapid.IntRange(0, nkeys-1).Draw(t, "key"))
			pathView := (*Counter)(nil).view(slow.s, appendSeg("", k))
			switch rapid.IntRange(0, 9).Draw(t, "what") {
			case 0:
				a, b := fast.Delete(k), slow.Delete(k)
				sameOps(t, a, b)
			case 1:
				other.At(k).Add(rapid.Int64Range(-3, 3).Draw(t, "n"))
				fast.Merge(other)
				slow.Merge(other)
			case 2:
				kept = append(kept, fast.At(k))
				keptKeys = append(keptKeys, k)
			case 3:
				if len(kept) > 0 {
					i := rapid.IntRange(0, len(kept)-1).Draw(t, "kept")
					n := rapid.Int64Range(-3, 3).Draw(t, "n")
					sameOps(t, kept[i].Add(n), (*Counter)(nil).view(slow.s, appendSeg("", keptKeys[i])).Add(n))
				}
			default:
				n := rapid.Int64Range(-3, 3).Draw(t, "n")
				sameOps(t, fast.At(k).Add(n), pathView.Add(n))
			}
			if got, want := fast.At(k).Value(), pathView.Value(); got != want {
				t.Fatalf("%s reads %d, want %d", k, got, want)
			}
			if got, want := fast.Has(k), slow.s.find(appendSeg("", k)) != nil; got != want {
				t.Fatalf("Has(%s) = %v, want %v", k, got, want)
			}
		}
		if !fast.Equal(slow) || fast.Fingerprint() != slow.Fingerprint() {
			t.Fatal("the maps differ")
		}
		sameBytes(t, "the states", fast, slow)
		sameBytes(t, "the deltas", fast.DeltaSince(mid), slow.DeltaSince(mid))
		for i := range nkeys {
			k := keyOf(i)
			if got, want := fast.At(k).Value(), slow.At(k).Value(); got != want {
				t.Fatalf("%s reads %d, want %d", k, got, want)
			}
		}
		want := dumpIndex(&slow.s.ix)
		if got := dumpIndex(&fast.s.ix); got != want {
			t.Fatalf("the index differs:\n%s\nwant\n%s", got, want)
		}
		if got := dumpIndex(rebuiltIndex(fast.s)); got != want {
			t.Fatalf("the index differs from the store's:\n%s\nwant\n%s", got, want)
		}
	})
}

// sameBytes fails t unless the maps a and b encode alike.
func sameBytes(t *rapid.T, what string, a, b *Map[string, *Counter]) {
	ab, aerr := a.MarshalBinary()
	bb, berr := b.MarshalBinary()
	if aerr != nil || berr != nil || string(ab) != string(bb) {
		t.Fatalf("%s encode differently (%v, %v)", what, aerr, berr)
	}
}

// sameOps fails t unless a and b encode alike.
func sameOps(t *rapid.T, a, b Op) {
	ab, aerr := a.MarshalBinary()
	bb, berr := b.MarshalBinary()
	if (aerr == nil) != (berr == nil) || string(ab) != string(bb) {
		t.Fatalf("ops %v (%v) and %v (%v) differ", a, aerr, b, berr)
	}
}

// TestTopCounterNoPathString: reading the counter of a top-level key,
// and adding to one the map holds, make no string of the key's path: the
// look-ups use one built on the stack, and the write takes the index's.
func TestTopCounterNoPathString(t *testing.T) {
	m := New[string, *Counter]("a")
	for i := range 20 {
		m.At(fmt.Sprint("key-", i)).Add(1)
	}
	c := m.At("key-7")
	if n := testing.AllocsPerRun(100, func() { c.Value() }); n != 0 {
		t.Errorf("Value makes %v allocations, want none", n)
	}
	if n := testing.AllocsPerRun(100, func() { m.Has("key-7") }); n != 0 {
		t.Errorf("Has makes %v allocations, want none", n)
	}
	// An add continues the key's chain: it allocates the list of the one
	// dot it drops (the chain's previous leaf), which its drop record
	// keeps, and the record; no string.
	if n := testing.AllocsPerRun(100, func() { c.Add(1) }); n > 2 {
		t.Errorf("Add makes %v allocations, want at most two", n)
	}
	if got := c.Value(); got != 102 {
		t.Fatalf("key-7 reads %d, want 102", got)
	}
}

// TestNewKeyPathsKeepTheirBytes: the key paths of new top-level keys are
// cut from blocks shared by many keys (state.keepPath); each key must
// keep its own bytes, through blocks filled to the end, paths too long
// for a block, and a clone whose new keys must not be cut from its
// original's block.
func TestNewKeyPathsKeepTheirBytes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := New[string, *Counter]("a")
		want := map[string]int64{}
		var b *Map[string, *Counter]
		var wantB map[string]int64
		for i := range rapid.IntRange(1, 400).Draw(t, "keys") {
			k := fmt.Sprint(strings.Repeat("k", rapid.IntRange(0, 40).Draw(t, "len")), i)
			n := rapid.Int64Range(1, 9).Draw(t, "n")
			a.At(k).Add(n)
			want[k] += n
			if b != nil {
				kb := "b" + k
				b.At(kb).Add(n)
				wantB[kb] += n
			}
			if b == nil && rapid.IntRange(0, 30).Draw(t, "clone") == 0 {
				b = a.Clone()
				wantB = maps.Clone(want)
			}
		}
		sameCounters(t, a, want)
		if b != nil {
			sameCounters(t, b, wantB)
		}
	})
}

// sameCounters fails t unless m holds exactly the counters of want.
func sameCounters(t *rapid.T, m *Map[string, *Counter], want map[string]int64) {
	got := map[string]int64{}
	for k, c := range m.All() {
		got[k] = c.Value()
	}
	if !maps.Equal(got, want) {
		t.Fatalf("the map holds %v, want %v", got, want)
	}
	for k, n := range want {
		if v := m.At(k).Value(); v != n || !m.Has(k) {
			t.Fatalf("%q reads %d (present: %v), want %d", k, v, m.Has(k), n)
		}
	}
}
