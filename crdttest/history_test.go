package crdttest_test

import (
	"slices"
	"testing"

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
