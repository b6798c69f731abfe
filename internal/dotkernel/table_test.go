package dotkernel

import (
	"fmt"
	"maps"
	"math/bits"
	"testing"

	"pgregory.net/rapid"
)

// TestTableAgainstMap runs random puts, removes, look-ups, reservations
// and clones on a table and on a Go map, and compares them after every
// step. Keys come from a small range, so removes and re-adds collide and
// leave deleted marks behind.
func TestTableAgainstMap(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		// Spread moves (every growth a migration, by doubling), or all
		// at once (by powers of four, as a small table grows).
		bulkGroups = 0
		if rapid.Bool().Draw(t, "atOnce") {
			bulkGroups = 1 << 14
		}
		var tab table[int, int]
		model := map[int]int{}
		keys := rapid.IntRange(1, 300).Draw(t, "keys")
		steps := rapid.IntRange(0, 600).Draw(t, "steps")
		for range steps {
			k := rapid.IntRange(0, keys).Draw(t, "k")
			switch rapid.IntRange(0, 10).Draw(t, "op") {
			case 10: // a read and a write through one probe
				v := rapid.Int().Draw(t, "v")
				old, at, existed := tab.lookup(k)
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("lookup(%d): %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				tab.setAt(at, existed, k, entry[int]{v: v})
				model[k] = v
			case 0, 1, 2, 3:
				v := rapid.Int().Draw(t, "v")
				old, existed := tab.put(k, entry[int]{v: v})
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("put(%d): old %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				model[k] = v
			case 4, 5, 6:
				old, existed := tab.remove(k)
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("remove(%d): old %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				delete(model, k)
			case 7:
				e, ok := tab.get(k)
				mo, me := model[k]
				if ok != me || (ok && e.v != mo) {
					t.Fatalf("get(%d): %v %v, want %v %v", k, e.v, ok, mo, me)
				}
			case 8:
				tab.reserve(rapid.IntRange(0, 2*keys).Draw(t, "reserve"))
			case 9:
				c := tab.clone()
				c.put(-1, entry[int]{v: 1}) // the original must not see it
				tab = c.clone()
				tab.remove(-1)
			}
			if tab.len() != len(model) {
				t.Fatalf("len %d, want %d", tab.len(), len(model))
			}
			checkCounts(t, &tab)
		}
		got := map[int]int{}
		for k, e := range tab.all {
			if _, dup := got[k]; dup {
				t.Fatalf("key %d twice", k)
			}
			got[k] = e.v
		}
		if !maps.Equal(got, model) {
			t.Fatalf("contents %v, want %v", got, model)
		}
	})
}

func TestTableIterateWhileRemoving(t *testing.T) {
	var tab table[string, int]
	for i := range 1000 {
		tab.put(fmt.Sprint(i), entry[int]{v: i})
	}
	seen := 0
	for k, e := range tab.all {
		seen++
		if e.v%2 == 0 {
			tab.remove(k)
		} else {
			tab.put(k, entry[int]{v: -e.v})
		}
	}
	if seen != 1000 || tab.len() != 500 {
		t.Fatalf("visited %d, %d left", seen, tab.len())
	}
	for k, e := range tab.all {
		if e.v >= 0 {
			t.Fatalf("%s kept %d", k, e.v)
		}
	}
}

func TestTableMatchers(t *testing.T) {
	// A group: empty, deleted, full with tags 0x00, 0x7f, 0x05 and 0x05,
	// empty, deleted.
	ctrl := []uint8{ctrlEmpty, ctrlDeleted, 0x00, 0x7f, 0x05, 0x05, ctrlEmpty, ctrlDeleted}
	var w uint64
	for i, c := range ctrl {
		w |= uint64(c) << (8 * i)
	}
	bytesOf := func(m uint64) []int {
		var out []int
		for i := range 8 {
			if m>>(8*i+7)&1 == 1 {
				out = append(out, i)
			}
		}
		return out
	}
	if got := fmt.Sprint(bytesOf(matchEmpty(w))); got != "[0 6]" {
		t.Errorf("empty: %s", got)
	}
	if got := fmt.Sprint(bytesOf(matchFree(w))); got != "[0 1 6 7]" {
		t.Errorf("free: %s", got)
	}
	if got := fmt.Sprint(bytesOf(matchTag(w, 0x05))); got != "[4 5]" {
		t.Errorf("tag 5: %s", got)
	}
	if got := fmt.Sprint(bytesOf(matchTag(w, 0x7f))); got != "[3]" {
		t.Errorf("tag 0x7f: %s", got)
	}
}

// TestTableDuringMigration grows a table past its limit and then, while
// the old array's keys are still being moved, runs random look-ups,
// reads-then-writes, replacements, removals, reservations, clones and
// iterations against a Go map, checking after every step that no key is
// in both arrays, the counts add up, and no insert moved more than
// one group of keys.
func TestTableDuringMigration(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of random steps on one goroutine")
	}
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		var tab table[int, int]
		model := map[int]int{}
		// Fill, then add keys until the table starts to grow.
		fill := rapid.IntRange(10, 2000).Draw(t, "fill")
		for k := range fill {
			tab.put(k, entry[int]{v: k})
			model[k] = k
		}
		for limit := 2*fill + 16; tab.oldCtrl == nil; fill++ {
			if fill == limit {
				t.Fatalf("%d keys and no migration began", fill)
			}
			tab.put(fill, entry[int]{v: fill})
			model[fill] = fill
		}
		steps := rapid.IntRange(1, 400).Draw(t, "steps")
		for range steps {
			k := rapid.IntRange(0, fill+fill/2).Draw(t, "k")
			before := tab.n - tab.oldN
			var arr *uint64
			if len(tab.ctrl) > 0 {
				arr = &tab.ctrl[0]
			}
			inserted := false
			switch rapid.IntRange(0, 7).Draw(t, "op") {
			case 0, 1:
				v := rapid.Int().Draw(t, "v")
				old, existed := tab.put(k, entry[int]{v: v})
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("put(%d): old %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				inserted = !existed
				model[k] = v
			case 2:
				v := rapid.Int().Draw(t, "v")
				old, at, existed := tab.lookup(k)
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("lookup(%d): %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				tab.setAt(at, existed, k, entry[int]{v: v})
				inserted = !existed
				model[k] = v
			case 3, 4:
				old, existed := tab.remove(k)
				mo, me := model[k]
				if existed != me || (existed && old.v != mo) {
					t.Fatalf("remove(%d): old %v %v, want %v %v", k, old.v, existed, mo, me)
				}
				delete(model, k)
			case 5:
				e, ok := tab.get(k)
				mo, me := model[k]
				if ok != me || (ok && e.v != mo) {
					t.Fatalf("get(%d): %v %v, want %v %v", k, e.v, ok, mo, me)
				}
			case 6:
				tab.reserve(rapid.IntRange(0, 3*fill).Draw(t, "reserve"))
			case 7:
				c := tab.clone()
				c.put(-1, entry[int]{v: 1}) // the original must not see it
				if _, ok := tab.get(-1); ok {
					t.Fatalf("a clone's put reached the original")
				}
				tab = c.clone()
				tab.remove(-1)
				delete(model, -1)
			}
			if inserted {
				moved := tab.n - tab.oldN
				if len(tab.ctrl) > 0 && arr == &tab.ctrl[0] {
					moved -= before
				}
				if moved > 1+groupSize {
					t.Fatalf("one insert moved %d keys into the new array", moved-1)
				}
			}
			checkTable(t, &tab, model)
		}
	})
}

// TestTableMigrates: a table growing by inserts alone moves to each new
// array over the inserts that follow, not at once, and holds every key
// throughout, with removals of keys still in the old array.
func TestTableMigrates(t *testing.T) {
	if testing.Short() {
		t.Skip("grows a table key by key to 5,000 keys, checking each step")
	}
	spreadMoves(t)
	var tab table[int, int]
	model := map[int]int{}
	sawOld := 0
	for k := range 5000 {
		before := tab.n - tab.oldN
		var arr *uint64
		if len(tab.ctrl) > 0 {
			arr = &tab.ctrl[0]
		}
		tab.put(k, entry[int]{v: k})
		model[k] = k
		moved := tab.n - tab.oldN
		if arr == &tab.ctrl[0] {
			moved -= before
		}
		if moved > 1+groupSize {
			t.Fatalf("inserting key %d moved %d keys into the new array", k, moved-1)
		}
		if tab.oldCtrl != nil {
			sawOld++
			if k%7 == 0 {
				tab.remove(k / 2) // most likely still in the old array
				delete(model, k/2)
			}
			checkTable(t, &tab, model)
		}
	}
	if sawOld == 0 {
		t.Fatal("5000 inserts never left keys in an old array")
	}
	checkTable(t, &tab, model)
}

// spreadMoves makes tables of any size move their keys over inserts, as
// large ones do, until the test ends.
func spreadMoves(t *testing.T) {
	old := bulkGroups
	bulkGroups = 0
	t.Cleanup(func() { bulkGroups = old })
}

// checkTable compares tab with model: counts, look-ups of every key of
// the model and iteration, and that no key is in both arrays.
func checkTable(t interface{ Fatalf(string, ...any) }, tab *table[int, int], model map[int]int) {
	if tab.len() != len(model) {
		t.Fatalf("len %d, want %d", tab.len(), len(model))
	}
	if tab.oldCtrl != nil {
		old := 0
		for g, w := range tab.oldCtrl {
			for m := ^w & msb; m != 0; m &= m - 1 {
				old++
				key := tab.oldSlots[g*groupSize+bits.TrailingZeros64(m)/8].key
				if i, _, ok := tab.findHashed(key, tab.hash(key)); ok {
					t.Fatalf("key %d in both arrays (slot %d of the new)", key, i)
				}
			}
		}
		if old != tab.oldN {
			t.Fatalf("%d keys in the old array, counted %d", old, tab.oldN)
		}
	} else if tab.oldN != 0 {
		t.Fatalf("no old array but %d keys in it", tab.oldN)
	}
	checkCounts(t, tab)
	got := map[int]int{}
	for k, e := range tab.all {
		if _, dup := got[k]; dup {
			t.Fatalf("key %d twice", k)
		}
		got[k] = e.v
	}
	if !maps.Equal(got, model) {
		t.Fatalf("iteration gives %d keys, want %d (or values differ)", len(got), len(model))
	}
	for k, v := range model {
		if e, ok := tab.get(k); !ok || e.v != v {
			t.Fatalf("get(%d): %v %v, want %v", k, e.v, ok, v)
		}
	}
}

// checkCounts checks the new array's counts against its control bytes:
// its keys (n less the old array's), its deleted marks (dead), and the
// empty slots inserts may still fill before it grows (left), which claim
// tests in place of the load.
func checkCounts[K comparable, E any](t interface{ Fatalf(string, ...any) }, tab *Table[K, E]) {
	full, deleted := 0, 0
	for _, w := range tab.ctrl {
		for i := range groupSize {
			switch c := uint8(w >> (8 * i)); {
			case c == ctrlDeleted:
				deleted++
			case c&0x80 == 0:
				full++
			}
		}
	}
	if full != tab.n-tab.oldN || deleted != tab.dead || tab.left != len(tab.ctrl)*7-full-deleted || tab.left < 0 {
		t.Fatalf("%d full and %d deleted slots of %d groups; counted %d, %d, %d left", full, deleted, len(tab.ctrl), tab.n-tab.oldN, tab.dead, tab.left)
	}
}

// TestJoinMakesRoomOnce: a join that brings many keys into a small table
// sizes it once for them (groupsFor of the keys), where growing by
// doubling would end at the next power of two; a join that brings none
// of them (the other side's dots all seen here) leaves the table alone.
func TestJoinMakesRoomOnce(t *testing.T) {
	var o kern
	for i := range 1000 {
		d := o.Mint("b")
		o.Put(fmt.Sprint(i), unit{}, d)
	}
	var k kern
	k.Join(&o)
	if k.Len() != 1000 || len(k.m.ctrl) != groupsFor(1000) {
		t.Fatalf("after the join: %d keys in %d groups, want 1000 in %d", k.Len(), len(k.m.ctrl), groupsFor(1000))
	}
	// A replica that has seen every dot of o and dropped the keys: the
	// join brings nothing, and its one-key table does not grow.
	var seen kern
	seen.Join(&o)
	for i := range 1000 {
		seen.Remove(fmt.Sprint(i))
	}
	seen.m = table[string, unit]{} // a small table again, for the keys left (none)
	d := seen.Mint("a")
	seen.Put("x", unit{}, d)
	seen.Join(&o)
	if seen.Len() != 1 || len(seen.m.ctrl) != 1 {
		t.Fatalf("after a join bringing nothing: %d keys in %d groups, want 1 in 1", seen.Len(), len(seen.m.ctrl))
	}
}

// TestGrowAtOnce: a table told to grow at once moves every key when it
// grows, whatever its size, and never probes an old array; after
// GrowAtOnce(false), a large table spreads its moves again. The rehash
// that moves the keys at once leaves a table like a built one.
func TestGrowAtOnce(t *testing.T) {
	spreadMoves(t)
	var tab table[int, int]
	model := map[int]int{}
	tab.GrowAtOnce(true)
	for k := range 3000 {
		tab.put(k, entry[int]{v: k})
		model[k] = k
		if tab.oldCtrl != nil {
			t.Fatalf("insert %d left keys in an old array", k)
		}
		if k%7 == 0 {
			tab.remove(k / 2)
			delete(model, k/2)
		}
	}
	checkTable(t, &tab, model)
	tab.GrowAtOnce(false)
	sawOld := false
	for k := 3000; k < 20000; k++ {
		tab.put(k, entry[int]{v: k})
		model[k] = k
		sawOld = sawOld || tab.oldCtrl != nil
	}
	if !sawOld {
		t.Fatal("with GrowAtOnce(false), 17000 inserts never left keys in an old array")
	}
	checkTable(t, &tab, model)
}

// TestAddIsInsert: Add of the place Lookup found, then setting the entry
// through the pointer it returns, leaves the table Insert would have,
// while the table grows and migrates and keys are removed.
func TestAddIsInsert(t *testing.T) {
	spreadMoves(t)
	var a, b Table[int, entry[int]]
	model := map[int]int{}
	for k := range 5000 {
		key := k * 7 % 4099 // repeats: some keys are found
		if e, p := a.Lookup(key); e == nil {
			a.Add(p, key).v = k
		} else {
			e.v = k
		}
		if e, p := b.Lookup(key); e == nil {
			b.Insert(p, key, entry[int]{v: k})
		} else {
			e.v = k
		}
		model[key] = k
		if k%4 == 0 { // deleted marks, where Lookup's place may fall
			a.Remove(key / 3)
			b.Remove(key / 3)
			delete(model, key/3)
		}
	}
	checkTable(t, &a, model)
	checkTable(t, &b, model)
}

// TestFullAtVisitsWhatAllVisits: a pass over the slot numbers that reads
// the full ones with At sees the keys and entries All yields, during a
// migration too.
func TestFullAtVisitsWhatAllVisits(t *testing.T) {
	spreadMoves(t)
	var tab Table[int, entry[int]]
	sawOld := false
	for k := range 3000 {
		tab.Put(k, entry[int]{v: k})
		if k%5 == 0 {
			tab.Remove(k / 3)
		}
		sawOld = sawOld || tab.oldCtrl != nil
		if k%97 != 0 {
			continue
		}
		want := map[int]int{}
		for key, e := range tab.All() {
			want[key] = e.v
		}
		got := map[int]int{}
		for i := range tab.Slots() {
			if tab.Full(i) {
				key, e := tab.At(i)
				got[key] = e.v
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("after %d inserts: Full and At give %d keys, All %d", k+1, len(got), len(want))
		}
	}
	if !sawOld {
		t.Fatal("no migration seen")
	}
}

// wide is an entry that makes a slot large enough for the table to keep
// its keys' hashes (see keepHashes).
type wide struct {
	v int
	_ [7]int64
}

// TestKeptHashesPlaceKeys: a table of wide slots keeps the high half of
// each key's hash, and the keys it moves by them, at once or over a
// migration, stay where look-ups find them; the kept halves are the
// keys' hashes'.
func TestKeptHashesPlaceKeys(t *testing.T) {
	if !keepHashes[int, wide]() || keepHashes[int, int]() {
		t.Fatal("keepHashes: wide slots should keep hashes, small ones not")
	}
	for _, spread := range []bool{false, true} {
		if spread {
			spreadMoves(t)
		}
		var tab Table[int, wide]
		model := map[int]int{}
		sawOld := false
		for k := range 6000 {
			tab.Put(k, wide{v: k})
			model[k] = k
			if k%3 == 0 {
				tab.Remove(k / 2)
				delete(model, k/2)
			}
			sawOld = sawOld || tab.oldCtrl != nil
		}
		if spread && !sawOld {
			t.Fatal("no migration seen")
		}
		if tab.Len() != len(model) {
			t.Fatalf("len %d, want %d", tab.Len(), len(model))
		}
		for k, v := range model {
			if e, ok := tab.Get(k); !ok || e.v != v {
				t.Fatalf("get(%d): %v %v, want %v", k, e.v, ok, v)
			}
		}
		for _, a := range []struct {
			ctrl  []uint64
			slots []slot[int, wide]
			hi    []uint32
		}{{tab.ctrl, tab.slots, tab.hi}, {tab.oldCtrl, tab.oldSlots, tab.oldHi}} {
			for g, w := range a.ctrl {
				for m := ^w & msb; m != 0; m &= m - 1 {
					i := g*groupSize + bitsIndex(m)
					if h := tab.hash(a.slots[i].key); a.hi[i] != uint32(h>>32) || uint8(w>>(uint(bits.TrailingZeros64(m))&^7)) != uint8(h&0x7f) {
						t.Fatalf("key %d: kept %#x and tag %#x, hash %#x", a.slots[i].key, a.hi[i], uint8(w>>(uint(bits.TrailingZeros64(m))&^7)), h)
					}
				}
			}
		}
	}
}
