package ormap

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// TestAddRangeCheckWithResets: an increment of a counter that resets
// apply to (deletes seen concurrently with increments) is refused with
// ErrOverflow on the value exactly when the counter's value plus the
// amount leaves an int64, whether the check settles it from a bound of
// what the resets subtract or sums the value. Three replicas increment
// one key by small and edge amounts, delete it, and merge each other's
// states now and then, so that deletes see some increments and not
// others, and subtract totals near the range's ends. An accepted
// increment adds its amount to the value (unless it was saturated), and
// a replica that merges the state reads the same value.
func TestAddRangeCheckWithResets(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		names := []string{"a", "b", "c"}
		ms := make([]*Map[string, *Counter], len(names))
		for i, n := range names {
			ms[i] = New[string, *Counter](vclock.ReplicaID(n))
		}
		for range rapid.IntRange(1, 60).Draw(t, "steps") {
			i := rapid.IntRange(0, len(ms)-1).Draw(t, "replica")
			m := ms[i]
			switch rapid.IntRange(0, 5).Draw(t, "do") {
			case 0:
				m.Delete("k")
			case 1:
				j := rapid.IntRange(0, len(ms)-1).Draw(t, "from")
				st, err := ms[j].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := m.MergeBinary(st); err != nil {
					t.Fatal(err)
				}
			default:
				n := drawAmount(t)
				if n == 0 {
					continue
				}
				before := m.At("k").Value()
				over := (n > 0 && before > math.MaxInt64-n) || (n < 0 && before < math.MinInt64-n)
				err := m.At("k").Add(n).Err()
				after := m.At("k").Value()
				switch {
				case err == nil && over:
					t.Fatalf("%s: %d + %d accepted, value now %d", names[i], before, n, after)
				case err == nil && after != before+n && before != math.MinInt64 && before != math.MaxInt64: // not saturated
					t.Fatalf("%s: %d + %d gives %d", names[i], before, n, after)
				case errors.Is(err, ErrOverflow) && !strings.Contains(err.Error(), "a total of") && !over:
					t.Fatalf("%s: %d + %d refused: %v", names[i], before, n, err)
				case err != nil && !errors.Is(err, ErrOverflow):
					t.Fatalf("%s: %d + %d: %v", names[i], before, n, err)
				case err != nil && after != before:
					t.Fatalf("%s: a refused %d + %d changed the value from %d to %d", names[i], before, n, before, after)
				}
				// A replica that merges the state reads what this one does.
				st, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				fresh := New[string, *Counter]("z")
				if _, err := fresh.MergeBinary(st); err != nil {
					t.Fatal(err)
				}
				if v := fresh.At("k").Value(); v != after {
					t.Fatalf("%s reads %d, a replica that merged its state %d", names[i], after, v)
				}
			}
		}
	})
}
