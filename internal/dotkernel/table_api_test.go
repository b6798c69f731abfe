package dotkernel

import (
	"maps"
	"testing"

	"pgregory.net/rapid"
)

// TestTableAPIAgainstMap runs the exported methods of Table (Lookup and
// Insert, updates through Find and All, removals during All, Put, Remove,
// Reserve, Clone) on a table of plain ints and on a Go map, with moves
// spread over inserts so that migrations are under way, and compares them
// after every step, through Numbered and At too.
func TestTableAPIAgainstMap(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		var tab Table[int, int]
		model := map[int]int{}
		keys := rapid.IntRange(1, 300).Draw(t, "keys")
		for range rapid.IntRange(0, 600).Draw(t, "steps") {
			k := rapid.IntRange(0, keys).Draw(t, "k")
			switch rapid.IntRange(0, 9).Draw(t, "op") {
			case 0, 1, 2: // a read and a write through one probe
				v := rapid.Int().Draw(t, "v")
				p, at := tab.Lookup(k)
				mo, me := model[k]
				if (p != nil) != me || (me && *p != mo) {
					t.Fatalf("Lookup(%d): %v, want %v %v", k, p, mo, me)
				}
				if p != nil {
					*p = v
				} else {
					tab.Insert(at, k, v)
				}
				model[k] = v
			case 3:
				v := rapid.Int().Draw(t, "v")
				old, existed := tab.Put(k, v)
				if mo, me := model[k]; existed != me || (me && old != mo) {
					t.Fatalf("Put(%d): %v %v, want %v %v", k, old, existed, mo, me)
				}
				model[k] = v
			case 4:
				old, existed := tab.Remove(k)
				if mo, me := model[k]; existed != me || (me && old != mo) {
					t.Fatalf("Remove(%d): %v %v, want %v %v", k, old, existed, mo, me)
				}
				delete(model, k)
			case 5:
				p := tab.Find(k)
				if mo, me := model[k]; (p != nil) != me || (me && *p != mo) {
					t.Fatalf("Find(%d): %v, want %v %v", k, p, mo, me)
				}
				if p != nil {
					*p++
					model[k]++
				}
			case 6: // remove the odd entries and double the others, in one pass
				for key, e := range tab.All() {
					if *e%2 != 0 {
						tab.Remove(key)
						delete(model, key)
					} else {
						*e *= 2
						model[key] *= 2
					}
				}
			case 7:
				tab.Reserve(rapid.IntRange(0, 2*keys).Draw(t, "reserve"))
			case 8:
				c := tab.Clone()
				c.Put(-1, 1) // the original must not see it
				tab = c.Clone()
				tab.Remove(-1)
			case 9:
				e, ok := tab.Get(k)
				if mo, me := model[k]; ok != me || e != mo {
					t.Fatalf("Get(%d): %v %v, want %v %v", k, e, ok, mo, me)
				}
			}
			if tab.Len() != len(model) {
				t.Fatalf("Len %d, want %d", tab.Len(), len(model))
			}
			checkCounts(t, &tab)
		}
		got := map[int]int{}
		for i, e := range tab.Numbered() {
			if i < 0 || i >= tab.Slots() {
				t.Fatalf("slot number %d of %d", i, tab.Slots())
			}
			k, at := tab.At(i)
			if at != e {
				t.Fatalf("At(%d) is not the entry Numbered gave", i)
			}
			if _, dup := got[k]; dup {
				t.Fatalf("key %d twice", k)
			}
			got[k] = *e
		}
		if !maps.Equal(got, model) {
			t.Fatalf("contents %v, want %v", got, model)
		}
	})
}
