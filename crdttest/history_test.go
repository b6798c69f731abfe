package crdttest_test

import (
	"slices"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
)

// history builds a history from the Seen lists alone.
func history(seen ...[]int) crdttest.History[string] {
	h := make(crdttest.History[string], len(seen))
	for i, s := range seen {
		h[i] = crdttest.Event[string]{Index: i, Seen: s}
	}
	return h
}

func TestHistory(t *testing.T) {
	// 0 and 1 concurrent; 2 saw 0; 3 saw 2 only (it applied 2's op); 4
	// saw everything.
	h := history(nil, nil, []int{0}, []int{2}, []int{0, 1, 2, 3})
	for _, tc := range []struct {
		i, j       int
		saw, hb, c bool
	}{
		{0, 1, false, false, true},
		{0, 2, true, true, false},
		{0, 3, false, true, false}, // through 2
		{2, 3, true, true, false},
		{1, 3, false, false, true},
		{3, 4, true, true, false},
		{1, 4, true, true, false},
		{4, 0, false, false, false},
		{2, 2, false, false, false},
		{0, 9, false, false, true},
	} {
		if got := h.Saw(tc.i, tc.j); got != tc.saw {
			t.Errorf("Saw(%d, %d) = %v, want %v", tc.i, tc.j, got, tc.saw)
		}
		if got := h.HappenedBefore(tc.i, tc.j); got != tc.hb {
			t.Errorf("HappenedBefore(%d, %d) = %v, want %v", tc.i, tc.j, got, tc.hb)
		}
		if tc.j < len(h) && tc.i != tc.j {
			if got := h.Concurrent(tc.i, tc.j); got != tc.c {
				t.Errorf("Concurrent(%d, %d) = %v, want %v", tc.i, tc.j, got, tc.c)
			}
		}
	}
	all := func(crdttest.Event[string]) bool { return true }
	if got := h.Maximal(all); !slices.Equal(got, []int{4}) {
		t.Errorf("Maximal(all) = %v, want [4]", got)
	}
	notLast := func(e crdttest.Event[string]) bool { return e.Index < 4 }
	if got := h.Maximal(notLast); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Maximal(not 4) = %v, want [1 3]", got)
	}
}

func TestLastWrite(t *testing.T) {
	// 0 and 1 concurrent, 1 later by the clock; 2 saw 0 and is earlier by
	// the clock than both; 3 is concurrent with all, at 1's time, from a
	// smaller replica.
	h := history(nil, nil, []int{0}, nil)
	h[0].Time, h[0].Replica = clock.Timestamp{Wall: 10}, "b"
	h[1].Time, h[1].Replica = clock.Timestamp{Wall: 20}, "b"
	h[2].Time, h[2].Replica = clock.Timestamp{Wall: 5}, "c"
	h[3].Time, h[3].Replica = clock.Timestamp{Wall: 20}, "a"
	upTo := func(n int) func(crdttest.Event[string]) bool {
		return func(e crdttest.Event[string]) bool { return e.Index <= n }
	}
	for n, want := range []int{0, 1, 1, 3} {
		if got := h.LastWrite(upTo(n)); got != want {
			t.Errorf("LastWrite of events 0..%d = %d, want %d", n, got, want)
		}
	}
	// 2 overwrote 0 though its clock read earlier: without 1 and 3, 2.
	if got := h.LastWrite(func(e crdttest.Event[string]) bool { return e.Index == 0 || e.Index == 2 }); got != 2 {
		t.Errorf("LastWrite of 0 and 2 = %d, want 2", got)
	}
	if got := h.LastWrite(func(crdttest.Event[string]) bool { return false }); got != -1 {
		t.Errorf("LastWrite of none = %d, want -1", got)
	}
}
