package dotkernel

import (
	"fmt"

	"github.com/activeactive/crdt/vclock"
)

// CheckOp says what is wrong with the dots of an op that mints dot and
// drops the dots dropped, or returns "" if nothing is: dot and every
// dropped dot must name an event (a valid dot within vclock.MaxSeq), a
// remove must drop something, an op cannot drop a dot its own replica
// minted at or after dot, and, if sorted, the dropped dots must be in
// increasing order without repeats.
func CheckOp(dot vclock.Dot, dropped []vclock.Dot, remove, sorted bool) string {
	if !dot.Valid() || dot.Seq > vclock.MaxSeq {
		return fmt.Sprintf("dot %v names no event", dot)
	}
	if remove && len(dropped) == 0 {
		return fmt.Sprintf("remove %v drops nothing", dot)
	}
	for i, d := range dropped {
		switch {
		case !d.Valid() || d.Seq > vclock.MaxSeq:
			return fmt.Sprintf("dropped dot %v names no event", d)
		case d.Replica == dot.Replica && d.Seq >= dot.Seq:
			return fmt.Sprintf("%v drops the later dot %v", dot, d)
		case sorted && i > 0 && dropped[i-1].Compare(d) >= 0:
			return fmt.Sprintf("dropped dots out of order at %v", d)
		}
	}
	return ""
}
