package ormap_test

import (
	"testing"

	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// Two successive retirements of one name, each writer having counted
// past its Final at a different replica: a counter's increments are
// dots, renamed one by one, and those above Final keep their writer's
// name, so the merged replicas count every increment (a G or PN's total
// per writer would lose the smaller excess).
func TestRetiredPastFinalTwiceKeepsEveryIncrement(t *testing.T) {
	type m = ormap.Map[string, *ormap.Counter]
	value := func(x *m) int64 {
		c, _ := x.Get("k")
		return c.Value()
	}
	w1, w2 := vclock.Writer("a", 1), vclock.Writer("a", 2)
	p1, p2 := ormap.New[string, *ormap.Counter](w1), ormap.New[string, *ormap.Counter](w2)
	x, y := ormap.New[string, *ormap.Counter](vclock.Writer("b", 1)), ormap.New[string, *ormap.Counter](vclock.Writer("c", 1))
	inc := func(p *m, k int) {
		for range k {
			p.At("k").Add(1)
		}
	}
	inc(p1, 5)
	x.Merge(p1)
	y.Merge(p1)
	r1 := vclock.Retirement{From: w1, To: vclock.Retired("a"), Final: 5}
	inc(p1, 2) // past Final, reaches x only
	x.Merge(p1)
	for _, r := range []*m{x, y} {
		if err := r.Retire(r1); err != nil {
			t.Fatal(err)
		}
	}
	inc(p2, 3)
	x.Merge(p2)
	y.Merge(p2)
	r2 := vclock.Retirement{From: w2, To: vclock.Retired("a"), Base: 5, Final: 3}
	inc(p2, 1) // past Final, reaches y only
	y.Merge(p2)
	for _, r := range []*m{x, y} {
		if err := r.Retire(r2); err != nil {
			t.Fatal(err)
		}
	}
	x.Merge(y)
	y.Merge(x)
	if value(x) != 11 || value(y) != 11 || !x.Equal(y) {
		t.Fatalf("values %d and %d, equal %v; want 11 at both", value(x), value(y), x.Equal(y))
	}
}
