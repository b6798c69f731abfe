package ormap

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// dumpIndex writes down everything the index below root holds, node by
// node in the order of their paths: the dots of values and of expiries,
// the sums, the counts, and how the children are held; and any child not
// keyed by its parent's path and one more segment.
func dumpIndex(root *node) string {
	var lines []string
	var walk func(n *node, p string)
	walk = func(n *node, p string) {
		ds := slices.SortedFunc(slices.Values(n.dots()), vclock.Dot.Compare)
		ts := slices.SortedFunc(slices.Values(n.ttlDots()), vclock.Dot.Compare)
		below := uint32(0)
		if x := n.ttl(); x != nil {
			below = x.below
		}
		lines = append(lines, fmt.Sprintf("%x dots=%v ttl=%v lo=%d hi=%d live=%d below=%d kids=%d many=%v",
			p, ds, ts, n.lo, n.hi, n.live, below, n.numKids(), n.multi()))
		n.eachKid(func(q string, c *node) bool {
			if !strings.HasPrefix(q, p) || countSegs(q[len(p):]) != 1 {
				lines = append(lines, fmt.Sprintf("%x: a child keyed %x", p, q))
			}
			walk(c, q)
			return true
		})
	}
	walk(root, "")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// rebuiltIndex returns the index adopt builds from the store of s.
func rebuiltIndex(s *state) *node {
	var fresh node
	for d, l := range s.k.All() {
		fresh.add(l.path(), d, l.inc(), l.tag != 0)
	}
	return &fresh
}

// TestCloneCopiesIndex: Clone copies the index rather than building it
// from the store; the copy must be the index the store gives, and share
// nothing with the original that a change to either could reach.
func TestCloneCopiesIndex(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		clk := clock.New()
		m := New[string, *Map[int, *Counter]]("a")
		m.SetClock(clk)
		keys := rapid.IntRange(1, 30).Draw(t, "keys") // past maxFew, into a table
		mutate := func(m *Map[string, *Map[int, *Counter]], label string) {
			for range rapid.IntRange(0, 150).Draw(t, label) {
				k := fmt.Sprint(rapid.IntRange(0, keys).Draw(t, "key"))
				k2 := rapid.IntRange(0, 12).Draw(t, "key2")
				switch rapid.IntRange(0, 9).Draw(t, "what") {
				case 0:
					m.Delete(k)
				case 1:
					m.At(k).Delete(k2)
				case 2:
					m.Expire(k, time.Hour)
				case 3:
					m.At(k).Persist(k2)
				default:
					m.At(k).At(k2).Add(rapid.Int64Range(-5, 5).Draw(t, "n"))
				}
			}
		}
		mutate(m, "ops")
		want := dumpIndex(&m.s.ix)
		if got := dumpIndex(rebuiltIndex(m.s)); got != want {
			t.Fatalf("the watched index differs from the store's:\n%s\nwant\n%s", got, want)
		}
		c := m.Clone()
		if got := dumpIndex(&c.s.ix); got != want {
			t.Fatalf("the clone's index differs:\n%s\nwant\n%s", got, want)
		}
		mutate(c, "clone ops")
		if got := dumpIndex(&m.s.ix); got != want {
			t.Fatalf("changing the clone changed the original's index:\n%s\nwant\n%s", got, want)
		}
		if got, want := dumpIndex(&c.s.ix), dumpIndex(rebuiltIndex(c.s)); got != want {
			t.Fatalf("the clone's index, after changes, differs from its store's:\n%s\nwant\n%s", got, want)
		}
		mutate(m, "more ops")
		if got, want := dumpIndex(&m.s.ix), dumpIndex(rebuiltIndex(m.s)); got != want {
			t.Fatalf("the original's index, after changes, differs from its store's:\n%s\nwant\n%s", got, want)
		}
	})
}

// TestJoinGrowsIndexAtOnce: a join about as large as the map grows the
// table of its top-level keys by moving every key at once (so that its
// look-ups probe one array), and leaves the index the store gives. The
// table is large enough to move its keys over the inserts that follow
// otherwise: x's 60,000 keys fill 16,384 groups, which the join doubles.
func TestJoinGrowsIndexAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds maps of 120,000 keys")
	}
	x := New[string, *Counter]("x")
	y := New[string, *Counter]("y")
	for i := range 60_000 {
		x.At(fmt.Sprint("x", i)).Add(1)
		y.At(fmt.Sprint("y", i)).Add(2)
	}
	y.At("x7").Add(3)
	x.Merge(y)
	kids := x.s.ix.kids()
	if kids == nil || !kids.big || kids.kids.Len() != 120_000 {
		t.Fatalf("the root has %d children, want 120000 in a table", x.s.ix.numKids())
	}
	// Doubling from one group gives a power of two of slots; an old
	// array still being drained would add half as many again.
	if n := kids.kids.Slots(); n&(n-1) != 0 {
		t.Errorf("the root's table holds %d slots: it is still moving keys", n)
	}
	if got, want := dumpIndex(&x.s.ix), dumpIndex(rebuiltIndex(x.s)); got != want {
		t.Fatal("the joined index differs from the store's")
	}
	if got := x.At("x7").Value(); got != 4 {
		t.Fatalf("x7 = %d, want 4", got)
	}
}
