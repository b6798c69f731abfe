package lwwmap

import (
	"fmt"
	"slices"
	"strings"
)

// dump formats a map's whole state, delete markers included, in a stable
// order, for failure messages.
func dump[K comparable, V any](m *Map[K, V]) string {
	var lines []string
	for k, e := range m.m {
		what := fmt.Sprintf("%v", e.v)
		if e.deleted() {
			what = "<deleted>"
		}
		lines = append(lines, fmt.Sprintf("%v=%s @%v %v", k, what, e.ts(), m.dot(&e)))
	}
	slices.Sort(lines)
	return fmt.Sprintf("ctx %s [%s]", m.ctx.String(), strings.Join(lines, "; "))
}
