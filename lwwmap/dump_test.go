package lwwmap

import (
	"fmt"
	"slices"
	"strings"

	"github.com/activeactive/crdt/internal/dotkernel"
)

// dump formats a map's whole state, delete markers included, in a stable
// order, for failure messages.
func dump[K comparable, V any](m *Map[K, V]) string {
	var lines []string
	for k, e := range entries(m) {
		what := fmt.Sprintf("%v", e.v)
		if e.deleted() {
			what = "<deleted>"
		}
		line := fmt.Sprintf("%v=%s @%v %v", k, what, e.ts(), m.dot(&e))
		if b := e.base(); !b.IsZero() {
			line += fmt.Sprintf(" base %v", b)
		}
		lines = append(lines, line)
	}
	slices.Sort(lines)
	return fmt.Sprintf("ctx %s [%s]", m.ctx.String(), strings.Join(lines, "; "))
}

// entries returns a copy of m's entries, delete markers included, as a Go
// map.
func entries[K comparable, V any](m *Map[K, V]) map[K]entry[V] {
	out := make(map[K]entry[V], m.m.Len())
	for k, e := range m.m.All() {
		out[k] = *e
	}
	return out
}

// sameEntry reports whether a and b are the same write with the same
// base and value, whether or not they share their base.
func sameEntry[V comparable](a, b entry[V]) bool {
	if a.base() != b.base() {
		return false
	}
	a.b, b.b = nil, nil
	return a == b
}

// entryOf returns the entry of k in m, zero if none.
func entryOf[K comparable, V any](m *Map[K, V], k K) entry[V] {
	e, _ := m.m.Get(k)
	return e
}

// setEntries makes es the entries of m, as they are: for tests that build
// a state by hand.
func setEntries[K comparable, V any](m *Map[K, V], es map[K]entry[V]) {
	m.m = dotkernel.Table[K, entry[V]]{}
	for k, e := range es {
		m.m.Put(k, e)
	}
}

// checkBases checks that no entry of m points to a zero base: a zero base
// is none, held as nil.
func checkBases[K comparable, V any](t interface {
	Helper()
	Fatalf(string, ...any)
}, m *Map[K, V]) {
	t.Helper()
	for k, e := range m.m.All() {
		if e.b != nil && e.b.IsZero() {
			t.Fatalf("a zero base kept for %v", k)
		}
	}
}
