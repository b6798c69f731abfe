package crdt_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// crossedLeaving sets up a group of a, b and c in which c wrote x0 after
// a's run crashed, and reached only b with it; then every replica removed
// c (RemovePeer). Two processes under replica ID a start from one copy of
// the crashed run's disk: they hold c back (they heard from it) and hold
// no writer of c, so both propose, at their tenth tick, that c has left.
// b holds c's writer, which it has not sent to a yet: it must not agree
// that c has left before that writer is retired. The network routes "a"
// to the process whose ballot is higher (hi); the other (lo) still
// reaches b, and b's answers to it go to hi. No replica has ticked yet.
func crossedLeaving(t *testing.T) (net *memnet.Network, hi, lo, b *allNode, x0 string) {
	t.Helper()
	net = memnet.New(1)
	crashed := startAllNode(t, net, "a", "b", nil)
	b = startAllNode(t, net, "b", "a", nil)
	c := startAllNode(t, net, "c", "a", nil)
	for _, add := range []struct {
		n  *allNode
		id crdt.ReplicaID
	}{{crashed, "c"}, {b, "c"}, {c, "b"}} {
		if err := add.n.r.AddPeer(add.id); err != nil {
			t.Fatal(err)
		}
	}
	run := roundsOf(net, (*allNode).replica)
	run(5, crashed, b, c) // each hears from the others; nobody writes
	crashed.r.RemovePeer("c")
	snap := savedSnapshot(t, crashed.r)
	net.Detach("a")
	c.write(t, "x0", 0)
	run(5, b, c)
	if !b.names(c.r.Writer()) {
		t.Fatalf("b lacks c's write: %s", b.content())
	}
	b.r.RemovePeer("c")
	net.Detach("c")
	if got := b.r.Stats().RemovedHolding; got != 1 {
		t.Fatalf("b holds back %d removed peers, want 1 (c)", got)
	}
	x := startAllNode(t, net, "a", "b", snap)
	y := startAllNode(t, net, "a", "b", snap)
	hi, lo = x, y
	if y.r.Incarnation() > x.r.Incarnation() {
		hi, lo = y, x
	}
	net.Attach("a", hi.r)
	for _, n := range []*allNode{hi, lo} {
		if n.names(c.r.Writer()) || n.r.Stats().RemovedHolding != 1 {
			t.Fatalf("process of a: names c's writer %v, holds back %d removed peers; want false, 1",
				n.names(c.r.Writer()), n.r.Stats().RemovedHolding)
		}
	}
	// b's ticks are counted from here, as the processes' are.
	b = startAllNode(t, net, "b", "a", savedSnapshot(t, b.r))
	return net, hi, lo, b, c.content()
}

// TestLeavingCrossedBySecondProcess: both processes of a propose that
// the removed replica c has left, at the same tick; b promises the higher
// ballot, with the counts of c's writer it still holds (a has none, so
// the proposer does not agree), and refuses the lower, telling "a" so.
// Unmarked (before refusedCounts), the refusal carried no counts: taken
// by the process of the higher ballot for b's answer (in place of b's
// promise not sent yet, or after it), it read as "b holds no writer of
// c", the proposal's own counts, and the group agreed that c has left
// while b held c's writer, unretired: c's last reported versions stopped
// holding collection back a round after the proposal.
//
// The leaving must wait for the retirement of c's writer, which releases c
// too: the proposal of the leaving starts at tick AntiEntropyTicks (10 in
// allNode), is given up 4*RetransmitTicks (12) later, by which time a has
// c's writer from b; the next round (tick 30) proposes its retirement,
// agreed and installed at both within 4 rounds (two round trips, and the
// agreed entry to b). So within 3*AntiEntropyTicks + 4 rounds both a and b
// have retired c's writer and hold nothing of c back, and at no round
// does b stop holding c back before it has retired c's writer.
func TestLeavingCrossedBySecondProcess(t *testing.T) {
	const bound = 3*10 + 4
	check := func(t *testing.T, hi, lo, b *allNode, x0 string, rounds int, round func(i int)) {
		t.Helper()
		for i := 9; i < rounds; i++ {
			round(i)
			if s := b.r.Stats(); s.RemovedHolding == 0 && s.RetiredWriters == 0 {
				t.Fatalf("round %d: b agreed that c has left while it holds c's writer, unretired (retired writers 0)", i)
			}
		}
		for _, n := range []struct {
			name string
			n    *allNode
		}{{"first process of a", hi}, {"b", b}} {
			s := n.n.r.Stats()
			if s.RemovedHolding != 0 || s.RetiredWriters == 0 || s.LedgerConflicts != 0 {
				t.Errorf("%s after %d rounds: holds back %d removed peers, retired %d writers, %d ledger conflicts; want 0, some, 0",
					n.name, rounds, s.RemovedHolding, s.RetiredWriters, s.LedgerConflicts)
			}
			if got := n.n.content(); !containsTag(got, "x0") {
				t.Errorf("%s lost c's write: %s (c held %s)", n.name, got, x0)
			}
		}
		if s := lo.r.Stats(); s.LedgerConflicts != 0 {
			t.Errorf("second process of a: %d ledger conflicts, want 0", s.LedgerConflicts)
		}
	}
	t.Run("refusal in place of the promise", func(t *testing.T) {
		// b stays still until the prepares: they reach it in one round,
		// the second process's after the first's, before b answers
		// either, and b's answer reaches the first before it sends
		// anything again.
		net, hi, lo, b, x0 := crossedLeaving(t)
		run := roundsOf(net, (*allNode).replica)
		run(9, hi, lo)
		check(t, hi, lo, b, x0, bound, func(i int) {
			if i >= 9+3 {
				// The second process is stopped. (While both send to
				// b every round, b's data for "a", c's write among it,
				// does not reach the first process: that is not what
				// this test is about.)
				run(1, hi)
				run(1, b)
				return
			}
			// The second process takes writes for three rounds, so that
			// its prepare rides on each of its messages.
			if err := lo.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(fmt.Sprintf("t%d", i)), nil }); err != nil {
				t.Fatal(err)
			}
			savedSnapshot(t, lo.r)
			run(1, hi, lo)
			run(1, b)
		})
	})
	t.Run("refusal after the promise", func(t *testing.T) {
		// The first process proposes a round before the second and is
		// paused for two rounds: b's promise to it, then b's refusal of
		// the second's prepare, both reach it before it ticks again.
		net, hi, lo, b, x0 := crossedLeaving(t)
		run := roundsOf(net, (*allNode).replica)
		run(9, hi, lo)
		steps := []func(){
			func() { run(1, hi, b) }, // hi proposes
			func() { run(1, lo, b) }, // b promises to hi; lo proposes
			func() { run(1, lo, b) }, // b refuses lo's prepare, to "a"
		}
		// The first process misses two rounds.
		check(t, hi, lo, b, x0, bound+2, func(i int) {
			if i-9 < len(steps) {
				steps[i-9]()
				return
			}
			run(1, hi, lo, b)
		})
	})
}
