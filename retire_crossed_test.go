package crdt_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// crossedRetirement sets up two processes under replica ID a, started
// from one copy of a crashed run's disk, and replica b, which holds every
// write of the crashed run. The network routes "a" to the process whose
// ballot is higher (hi); the other (lo) still reaches b, and b's answers
// to it go to hi. Both processes propose, at their tenth tick, the
// retirement of the crashed run's writer: b promises hi's ballot and
// refuses lo's prepare, and tells "a" so. No replica has ticked yet.
func crossedRetirement(t *testing.T) (net *memnet.Network, hi, lo, b *allNode) {
	t.Helper()
	net = memnet.New(1)
	crashed := startAllNode(t, net, "a", "b", nil)
	b = startAllNode(t, net, "b", "a", nil)
	crashed.write(t, "a0", 0)
	run := roundsOf(net, (*allNode).replica)
	run(5, crashed, b)
	if !b.names(crashed.r.Writer()) {
		t.Fatalf("b lacks the crashed run's writes: %s", b.content())
	}
	snap := savedSnapshot(t, crashed.r)
	net.Detach("a")
	x := startAllNode(t, net, "a", "b", snap)
	y := startAllNode(t, net, "a", "b", snap)
	hi, lo = x, y
	if y.r.Incarnation() > x.r.Incarnation() {
		hi, lo = y, x
	}
	net.Attach("a", hi.r)
	// b's ticks are counted from here, as the processes' are.
	b = startAllNode(t, net, "b", "a", savedSnapshot(t, b.r))
	return net, hi, lo, b
}

// retiredAtBoth reports whether hi and b have both retired a writer.
func retiredAtBoth(hi, b *allNode) bool {
	return hi.r.Stats().RetiredWriters > 0 && b.r.Stats().RetiredWriters > 0
}

// TestRetireCrossedBySecondProcess: b's refusal of the second process's
// prepare reaches the first process (the two share the name's address)
// and names the first's own ballot. It is no answer to the first's
// prepare: it carries no counts. It replaced b's promise to the first
// while that waited to leave (b keeps one answer per list for "a"), or
// reached the first after the promise and replaced it there; the first
// process then found b's counts different from its own, gave the
// proposal up after 4*RetransmitTicks and let the candidate wait
// 16*AntiEntropyTicks before it proposed it again (160 ticks here; 1,600
// with the defaults).
//
// A proposal starts at a tick that is a multiple of AntiEntropyTicks (10
// in allNode), its prepare goes again every RetransmitTicks (3) for
// 4*RetransmitTicks while unanswered, and each of its two phases then
// takes a round trip, the agreed entry one more message to b: so the
// writer is retired at both within AntiEntropyTicks + 4*RetransmitTicks
// + 4 rounds of the start, whatever prepare crossed it.
func TestRetireCrossedBySecondProcess(t *testing.T) {
	const bound = 10 + 4*3 + 4
	t.Run("refusal in place of the promise", func(t *testing.T) {
		// The processes tick, then b: both prepares reach b in one
		// round, the second process's after the first's, before b
		// answers either, and b's answer reaches the first before it
		// sends anything again.
		net, hi, lo, b := crossedRetirement(t)
		run := roundsOf(net, (*allNode).replica)
		for i := range bound {
			// The second process takes writes all along, so that its
			// prepare rides on each of its messages. Set adds: they
			// change no count of the crashed run's writer.
			if err := lo.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(fmt.Sprintf("t%d", i)), nil }); err != nil {
				t.Fatal(err)
			}
			savedSnapshot(t, lo.r)
			run(1, hi, lo)
			run(1, b)
		}
		if !retiredAtBoth(hi, b) {
			t.Fatalf("after %d rounds, retired writers: first process %d, b %d; want some at both", bound,
				hi.r.Stats().RetiredWriters, b.r.Stats().RetiredWriters)
		}
	})
	t.Run("refusal after the promise", func(t *testing.T) {
		// The first process proposes a round before the second and is
		// paused for two rounds: b's promise to it, then b's refusal of
		// the second's prepare, both reach it before it ticks again.
		net, hi, lo, b := crossedRetirement(t)
		run := roundsOf(net, (*allNode).replica)
		run(9, hi, lo, b)
		run(1, hi, b) // hi proposes
		run(1, lo, b) // b promises to hi; lo proposes
		run(1, lo, b) // b refuses lo's prepare, to "a"
		run(bound-3, hi, lo, b)
		if !retiredAtBoth(hi, b) {
			t.Fatalf("after %d rounds, retired writers: first process %d, b %d; want some at both", bound,
				hi.r.Stats().RetiredWriters, b.r.Stats().RetiredWriters)
		}
	})
}
