package dotkernel

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// orderModel is what an Order must answer: per replica, the live dots
// with their keys, and the dots that were added and have gone (whose
// references may be stale).
type orderModel struct {
	live []map[uint64]int // by replica: seq -> key
	once []map[uint64]int // by replica: every dot ever added, its last key
}

func newOrderModel(reps int) *orderModel {
	m := &orderModel{}
	for range reps {
		m.live = append(m.live, map[uint64]int{})
		m.once = append(m.once, map[uint64]int{})
	}
	return m
}

func (m *orderModel) add(rep uint32, seq uint64, key int) {
	m.live[rep][seq] = key
	m.once[rep][seq] = key
}

func (m *orderModel) isLive(rep uint32, seq uint64, key int) bool {
	k, ok := m.live[rep][seq]
	return ok && k == key
}

// checkOrder checks the layout of o and that it references every live
// dot of m, and nothing that was never added.
func checkOrder(t *rapid.T, o *Order[int], m *orderModel) {
	n := 0
	for r, l := range o.logs {
		var prev uint64
		for b, blk := range l.blocks {
			if len(blk) == 0 || len(blk) > blockLen {
				t.Fatalf("replica %d block %d: %d references", r, b, len(blk))
			}
			for i, ref := range blk {
				if (b > 0 || i > 0) && ref.seq <= prev {
					t.Fatalf("replica %d block %d: seq %d after %d", r, b, ref.seq, prev)
				}
				prev = ref.seq
				if k, ok := m.once[r][ref.seq]; !ok || k != ref.key {
					t.Fatalf("replica %d: reference (%d, %d) never added", r, ref.seq, ref.key)
				}
				n++
			}
		}
	}
	if n != o.Refs() {
		t.Fatalf("Refs %d, holds %d", o.Refs(), n)
	}
	for r := range m.live {
		for seq, key := range m.live[r] {
			found := false
			if r < len(o.logs) {
				l := &o.logs[r]
				if len(l.blocks) > 0 {
					blk := l.blocks[l.find(seq)]
					i := searchRefs(blk, seq)
					found = i < len(blk) && blk[i] == dotRef[int]{seq: seq, key: key}
				}
			}
			if !found {
				t.Fatalf("live dot (%d, %d) of key %d not referenced", r, seq, key)
			}
		}
	}
}

func TestOrderModel(t *testing.T) {
	defer func(s int) { compactSlack = s }(compactSlack)
	compactSlack = 4
	const reps = 3
	rapid.Check(t, func(t *rapid.T) {
		m := newOrderModel(reps)
		var o *Order[int]
		build := func() {
			o = NewOrder(func(note func(rep uint32, seq uint64, key int)) {
				for r := range m.live {
					for seq, key := range m.live[r] {
						note(uint32(r), seq, key)
					}
				}
			})
		}
		build()
		next := make([]uint64, reps) // the next sequence number to append
		drop := func(rep uint32, seq uint64) {
			delete(m.live[rep], seq)
			o.Dropped()
		}
		anyLive := func(t *rapid.T, rep uint32) (uint64, bool) {
			seqs := slices.Sorted(maps.Keys(m.live[rep]))
			if len(seqs) == 0 {
				return 0, false
			}
			return seqs[rapid.IntRange(0, len(seqs)-1).Draw(t, "i")], true
		}
		t.Repeat(map[string]func(*rapid.T){
			"append": func(t *rapid.T) {
				rep := uint32(rapid.IntRange(0, reps-1).Draw(t, "rep"))
				for range rapid.IntRange(1, 600).Draw(t, "n") {
					next[rep] += uint64(rapid.IntRange(1, 3).Draw(t, "gap"))
					key := int(next[rep] % 97)
					m.add(rep, next[rep], key)
					o.Add(rep, next[rep], key)
				}
			},
			"insert": func(t *rapid.T) {
				rep := uint32(rapid.IntRange(0, reps-1).Draw(t, "rep"))
				seq := rapid.Uint64Range(1, next[rep]+5).Draw(t, "seq")
				if _, ok := m.live[rep][seq]; ok {
					return // a live dot is added once
				}
				key := rapid.IntRange(0, 96).Draw(t, "key")
				m.add(rep, seq, key)
				o.Add(rep, seq, key)
				next[rep] = max(next[rep], seq)
			},
			"drop": func(t *rapid.T) {
				rep := uint32(rapid.IntRange(0, reps-1).Draw(t, "rep"))
				for range rapid.IntRange(1, 300).Draw(t, "n") {
					if seq, ok := anyLive(t, rep); ok {
						drop(rep, seq)
					}
				}
			},
			"range": func(t *rapid.T) {
				rep := uint32(rapid.IntRange(0, reps-1).Draw(t, "rep"))
				lo := rapid.Uint64Range(0, next[rep]+2).Draw(t, "lo")
				hi := rapid.Uint64Range(lo, next[rep]+2).Draw(t, "hi")
				dropSome := rapid.Bool().Draw(t, "dropSome")
				var seen []uint64
				o.Range(rep, lo, hi, func(seq uint64, key int) bool {
					if seq < lo || seq > hi {
						t.Fatalf("Range(%d, %d, %d) visited %d", rep, lo, hi, seq)
					}
					if n := len(seen); n > 0 && seen[n-1] >= seq {
						t.Fatalf("Range visited %d after %d", seq, seen[n-1])
					}
					seen = append(seen, seq)
					if !m.isLive(rep, seq, key) {
						return false
					}
					if dropSome && seq%2 == 0 {
						drop(rep, seq) // as a merge drops what it finds
						return false
					}
					return true
				})
				var want []uint64
				for seq := range m.live[rep] {
					if seq >= lo && seq <= hi {
						want = append(want, seq)
					}
				}
				slices.Sort(want)
				got := slices.DeleteFunc(slices.Clone(seen), func(s uint64) bool { _, ok := m.live[rep][s]; return !ok })
				if dropSome {
					want = slices.DeleteFunc(want, func(s uint64) bool { return s%2 == 0 })
					got = slices.DeleteFunc(got, func(s uint64) bool { return s%2 == 0 })
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Range(%d, %d, %d): live %v, want %v", rep, lo, hi, got, want)
				}
				// Nothing stale is left within the range: a second query
				// visits the live dots only.
				again := 0
				o.Range(rep, lo, hi, func(seq uint64, key int) bool {
					if !m.isLive(rep, seq, key) {
						t.Fatalf("Range(%d, %d, %d) again: stale (%d, %d)", rep, lo, hi, seq, key)
					}
					again++
					return true
				})
				if live := len(want); again != live {
					t.Fatalf("Range(%d, %d, %d) again: %d visits, %d live", rep, lo, hi, again, live)
				}
			},
			"compact": func(t *rapid.T) {
				if o.Due() || rapid.Bool().Draw(t, "anyway") {
					o.Compact(func(rep uint32, seq uint64, key int) bool { return m.isLive(rep, seq, key) })
					live := 0
					for r := range m.live {
						live += len(m.live[r])
					}
					if o.Refs() != live {
						t.Fatalf("after Compact: %d references, %d live", o.Refs(), live)
					}
				}
			},
			"rebuild": func(t *rapid.T) {
				build()
			},
			"": func(t *rapid.T) {
				checkOrder(t, o, m)
			},
		})
	})
}

// TestOrderRangeVisitsStaleOnce checks that the stale references a query
// meets are removed, so that queries over a store whose dots all went
// cost what the dots cost once.
func TestOrderRangeVisitsStaleOnce(t *testing.T) {
	o := NewOrder(func(note func(uint32, uint64, string)) {
		for i := range 10_000 {
			note(0, uint64(i+1), fmt.Sprint(i))
		}
	})
	dead := func(uint64, string) bool { return false }
	o.Range(0, 1, 10_000, dead)
	if o.Visits() != 10_000 || o.Refs() != 0 {
		t.Fatalf("first query: %d visits, %d references left", o.Visits(), o.Refs())
	}
	for range 100 {
		o.Range(0, 1, 10_000, dead)
	}
	if o.Visits() != 10_000 {
		t.Fatalf("later queries visited %d more", o.Visits()-10_000)
	}
}
