package dotkernel

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// partElements is the size of a part in the units JoinPart's cost is
// stated in: its keys and their dots, its records and their dropped dots,
// the runs of its context and of its ghosts.
func partElements(p *kern) int {
	n := 0
	for key, e := range p.m.all {
		n += 1 + p.numDots(key, e)
	}
	for _, r := range p.liveRecords() {
		n += 1 + len(r.Dropped)
	}
	for range p.ctx.Ranges() {
		n++
	}
	return n + p.ghosts.spans()
}

// bigKernel returns a state of replica "a" (and a little of "b") with n
// keys added in order, every 7th removed, every 11th added again (so its
// context has runs of dots it no longer holds, and drop records), and a
// cap on records (low enough, say, that the oldest were discarded: a
// horizon).
func bigKernel(n, maxRecords int) *kern {
	k := &kern{RecordsAll: true, MaxRecords: maxRecords}
	add := func(id vclock.ReplicaID, key string) {
		d := k.Mint(id)
		k.Record(d, key, k.Put(key, unit{}, d))
	}
	remove := func(id vclock.ReplicaID, key string) {
		if dropped := k.Remove(key); dropped != nil {
			k.Record(k.Mint(id), key, dropped)
		}
	}
	for i := range n {
		add("a", fmt.Sprintf("key-%06d", i))
		if i%7 == 3 {
			remove("a", fmt.Sprintf("key-%06d", i-2))
		}
		if i%11 == 5 {
			add("a", fmt.Sprintf("key-%06d", i-4))
		}
		if i%50 == 0 {
			add("b", fmt.Sprintf("b-%06d", i))
		}
	}
	return k
}

// splitParts cuts k as Split does, keeping each part and its kind.
func splitParts(t *testing.T, k *kern, full bool, budget int) (parts []Part[string, unit], ordered int) {
	t.Helper()
	ordered, err := k.Split(full, budget, func(key string, _ unit) int { return len(key) + 2 }, func(p Part[string, unit]) (int, error) {
		parts = append(parts, p)
		return budget / 2, nil // every part is taken as made
	})
	if err != nil {
		t.Fatal(err)
	}
	return parts, ordered
}

// joinCosts merges parts into k (the store parts in a random order, the
// others in theirs) and checks that each merge's work is within a
// constant of the part's size.
func joinCosts(t *testing.T, k *kern, parts []Part[string, unit], ordered int, rng *rand.Rand) (maxRatio float64) {
	t.Helper()
	order := rng.Perm(ordered)
	for i := ordered; i < len(parts); i++ {
		order = append(order, i)
	}
	for _, i := range order {
		p := parts[i]
		if why := p.K.CheckPart(p.Kind); why != "" {
			t.Fatalf("part %d: %s", i, why)
		}
		n := partElements(p.K)
		k.JoinPart(p.Kind, p.K)
		if bound := 4*n + 4; k.steps > bound {
			t.Fatalf("part %d of %d (kind %d, %d elements) took %d steps: more than %d", i, len(parts), p.Kind, n, k.steps, bound)
		}
		maxRatio = max(maxRatio, float64(k.steps)/float64(n))
	}
	return maxRatio
}

// Every part of a large state or delta is merged at a cost bounded by a
// constant times its own size, the last context part too: no part clears
// every ghost of the catch-up, or goes through the receiver's store. (A
// removed part naming dots the receiver's context holds is the exception
// JoinPart documents, and is not exercised here.) The merged parts equal
// the whole.
func TestJoinPartCostBoundedByPart(t *testing.T) {
	const n = 20_000
	rng := rand.New(rand.NewPCG(1, 2))
	sender := bigKernel(n, n/20)
	if sender.horizon.IsZero() || len(sender.liveRecords()) == 0 {
		t.Fatal("the sender should have a horizon and records")
	}

	t.Run("full state to a new replica", func(t *testing.T) {
		parts, ordered := splitParts(t, sender, true, 4096)
		recv := &kern{RecordsAll: true}
		r := joinCosts(t, recv, parts, ordered, rng)
		t.Logf("%d parts, at most %.2f steps per element", len(parts), r)
		sameBig(t, recv, sender)
		if g := recv.Ghosts(); len(g) > 0 {
			t.Fatalf("%d ghosts left", len(g))
		}
		if !recv.Version().Equal(sender.Version()) {
			t.Fatalf("version %v, want %v", recv.Version(), sender.Version())
		}
	})

	t.Run("full state to a replica with a state of its own", func(t *testing.T) {
		parts, ordered := splitParts(t, sender, true, 4096)
		recv := &kern{RecordsAll: true}
		for i := range 500 {
			d := recv.Mint("c")
			recv.Put(fmt.Sprintf("c-%d", i), unit{}, d)
		}
		want := recv.Clone()
		want.Join(sender.Clone())
		joinCosts(t, recv, parts, ordered, rng)
		sameBig(t, recv, want)
	})

	t.Run("delta to a replica that fell behind", func(t *testing.T) {
		sender := bigKernel(n, n)
		old := bigKernel(n/2, n) // the same history, cut short
		d := sender.DeltaSince(old.Version())
		if !d.horizon.LessOrEqual(old.Version()) || len(d.liveRecords()) == 0 {
			t.Fatal("want a delta with records")
		}
		parts, ordered := splitParts(t, d, false, 4096)
		recv := old.Clone()
		want := old.Clone()
		want.Join(d.Clone())
		joinCosts(t, recv, parts, ordered, rng)
		sameBig(t, recv, want)
	})
}

// The last part used to clear every ghost of the catch-up at once. A
// context part of one run now clears the one run of ghosts the store
// parts left within it, whatever their number of dots.
func TestContextPartClearsARunAtOnce(t *testing.T) {
	k := &kern{RecordsAll: true}
	for i := range 100_000 {
		d := k.Mint("a")
		k.Put(fmt.Sprintf("%d", i), unit{}, d)
	}
	parts, ordered := splitParts(t, k, true, 1<<16)
	recv := &kern{RecordsAll: true}
	for _, p := range parts[:ordered] {
		recv.JoinPart(p.Kind, p.K)
	}
	if got := recv.ghosts.count(); got != 100_000 {
		t.Fatalf("%d ghosts after the store parts, want 100000", got)
	}
	if v := recv.Version(); v.Get("a") != 0 {
		t.Fatalf("version %v claims ghosts", v)
	}
	last := parts[len(parts)-1]
	if last.Kind != PartContext || len(parts) != ordered+1 {
		t.Fatalf("%d parts after %d store parts, the last of kind %d: want one context part", len(parts)-ordered, ordered, last.Kind)
	}
	recv.JoinPart(last.Kind, last.K)
	if recv.steps > 4 {
		t.Fatalf("the context part took %d steps", recv.steps)
	}
	if !recv.ghosts.isEmpty() || recv.Version().Get("a") != 100_000 {
		t.Fatalf("after the context part: %d ghosts, version %v", recv.ghosts.count(), recv.Version())
	}
}

// sameBig fails unless got equals want, saying how without listing them.
func sameBig(t *testing.T, got, want *kern) {
	t.Helper()
	if !got.Equal(want, unitEq) {
		t.Fatalf("the parts merged differ from the whole: %d keys, context %d runs, %d ghosts; want %d keys, %d runs, %d ghosts",
			got.Len(), len(slices.Collect(got.ctx.Ranges())), got.ghosts.count(), want.Len(), len(slices.Collect(want.ctx.Ranges())), want.ghosts.count())
	}
}

// A horizon that does not fit a part is refused with ErrPartTooLarge, as a
// key or a drop record that does not is: a caller that drops a part over
// its limit (as orset's does) would otherwise send a catch-up without it,
// and no error would say so.
func TestSplitRefusesAHorizonTooLarge(t *testing.T) {
	k := bigKernel(2000, 64)
	if k.horizon.IsZero() {
		t.Fatal("the kernel should have a horizon")
	}
	const budget = 4096
	sawHorizon := false
	_, err := k.Split(true, budget, func(key string, _ unit) int { return len(key) + 2 }, func(p Part[string, unit]) (int, error) {
		if !p.K.horizon.IsZero() {
			sawHorizon = true
			return budget + 1, nil // the horizon's part, as if too large
		}
		return budget / 2, nil
	})
	if !sawHorizon {
		t.Fatal("no part carried the horizon")
	}
	if !errors.Is(err, ErrPartTooLarge) {
		t.Fatalf("Split with a horizon part over the budget: %v, want ErrPartTooLarge", err)
	}
}
