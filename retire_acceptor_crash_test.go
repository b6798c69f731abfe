package crdt_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/memnet"
	"pgregory.net/rapid"
)

// TestAcceptorCrashBeforeSavingItsVotes: two processes under replica ID a
// (a copied disk started twice), each proposing to retire the writer of
// the run both came from, and b, which saves snapshots. b promises and
// accepts the first process's proposal, and crashes before its host saved
// a snapshot holding those votes: it comes back from its last saved
// snapshot, which holds none. Had the votes left b before a snapshot held
// them, the first process would have had its entry agreed, and b, having
// forgotten it, would let the second have a different entry agreed at
// the same place of a's list: the two would differ for good (a ledger
// conflict), each renaming the writer into a different heir. Since b's
// votes leave only once saved, nothing is agreed before the crash, and
// once b saves as documented every replica ends with one list.
func TestAcceptorCrashBeforeSavingItsVotes(t *testing.T) {
	net := memnet.New(7)
	a0 := startAllNode(t, net, "a", "b", nil)
	b := startAllNode(t, net, "b", "a", nil)
	run := roundsOf(net, (*allNode).replica)
	a0.write(t, "t0", 0)
	run(30, a0, b)
	snap0 := savedSnapshot(t, a0.r) // the disk a's two processes start from
	var bd hostDisk
	persist(t, b, &bd)         // b's last saved snapshot before the crash
	b.onSaveNeeded = func() {} // b crashes before its host saves again

	// The first process runs with b, which saves nothing meanwhile.
	a1 := startAllNode(t, net, "a", "b", snap0)
	run(60, a1, b)

	// b crashes, back to its last saved snapshot; the second process
	// runs with it, and b's host now saves when b asks for it.
	b = restoreAll(t, net, "b", "a", bd)
	b.onSaveNeeded = func() { persist(t, b, &bd) }
	a2 := startAllNode(t, net, "a", "b", snap0)
	run(60, a2, b)
	// Both processes run in turn with b.
	takeTurns(net, run, 60, a1, a2, b)
	for name, n := range map[string]*allNode{"a1": a1, "a2": a2, "b": b} {
		if c := n.r.Stats().LedgerConflicts; c != 0 {
			t.Errorf("%s counts %d ledger conflicts", name, c)
		}
	}
	if b.r.Stats().RetiredWriters == 0 {
		t.Error("b retired no writer of a")
	}
}

// Random schedules of the accident above: two processes under a, started
// from one disk, and b, whose host saves when b asks (a snapshot, or a
// journal record) except in drawn stretches, each ended by a crash that
// brings b back to what its disk holds. Whatever the schedule, no two
// replicas ever hold different entries at one place of a ledger, and
// once b's host saves again and one process is left, b and that process
// hold the same writes.
func TestAcceptorCrashBeforeSavingRandomSchedules(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		run := roundsOf(net, (*allNode).replica)
		a0 := startAllNode(t, net, "a", "b", nil)
		b := startAllNode(t, net, "b", "a", nil)
		var bd hostDisk
		saveB := func() { persist(t, b, &bd) }
		b.onSaveNeeded = saveB
		saveB()
		a0.write(t, "t0", 0)
		run(30, a0, b)
		snap0 := savedSnapshot(t, a0.r)
		net.Detach("a")
		nodes := []*allNode{startAllNode(t, net, "a", "b", snap0), startAllNode(t, net, "a", "b", snap0)}
		attached := 1
		written := 1
		for range rapid.IntRange(1, 12).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0:
				attached = rapid.IntRange(0, 1).Draw(rt, "attach")
				net.Attach("a", nodes[attached].r)
			case 1:
				nodes[attached].write(t, fmt.Sprintf("t%d", written), written)
				written++
			case 2:
				// b's host saves nothing for a while, and b crashes.
				b.onSaveNeeded = func() {}
				run(rapid.IntRange(1, 60).Draw(rt, "unsaved rounds"), nodes[attached], b)
				b = restoreAll(t, net, "b", "a", bd)
				b.onSaveNeeded = saveB
			default:
				run(rapid.IntRange(1, 60).Draw(rt, "rounds"), nodes[attached], b)
			}
		}
		takeTurns(net, run, 100, nodes[0], nodes[1], b)
		left := nodes[rapid.IntRange(0, 1).Draw(rt, "left")]
		net.Attach("a", left.r)
		run(200, left, b)
		for name, n := range map[string]*allNode{"a0": a0, "a1": nodes[0], "a2": nodes[1], "b": b} {
			if c := n.r.Stats().LedgerConflicts; c != 0 {
				t.Fatalf("%s counts %d ledger conflicts", name, c)
			}
		}
		if got, want := b.content(), left.content(); got != want {
			t.Fatalf("b and a differ:\nb %s\na %s", got, want)
		}
	})
}

// TestVotesOfATimerHostLeaveAfterItsSave: b's host neither saves when
// asked (Config.OnSaveNeeded) nor after messages; it saves on a timer,
// every seventh round (a journal record, or a snapshot when SaveOps asks
// for one). b's votes on a's proposal to retire the writer of a's
// earlier run wait for the next save, and the writer is retired: a
// persistent replica whose host saves only now and then still helps
// retire writers. It does so too when b crashes now and then between
// saves, coming back from its snapshot and journal (votes restored with
// the snapshot, a vote count that starts again from there), with no
// ledger conflict. While its host saves nothing, b retires none: its
// votes never leave.
func TestVotesOfATimerHostLeaveAfterItsSave(t *testing.T) {
	for _, c := range []struct {
		every, crashEvery int
	}{{7, 0}, {7, 11}, {0, 0}} {
		net := memnet.New(7)
		a0 := startAllNode(t, net, "a", "b", nil)
		b := startAllNode(t, net, "b", "a", nil)
		run := roundsOf(net, (*allNode).replica)
		a0.write(t, "t0", 0)
		run(30, a0, b)
		snap0 := savedSnapshot(t, a0.r)
		var bd hostDisk
		persist(t, b, &bd)         // b is persistent from here on
		b.onSaveNeeded = func() {} // its host does not save when asked
		a1 := startAllNode(t, net, "a", "b", snap0)
		for i := range 300 {
			run(1, a1, b)
			if c.every > 0 && i%c.every == c.every-1 {
				persist(t, b, &bd)
			}
			if c.crashEvery > 0 && i%c.crashEvery == c.crashEvery-1 {
				b = restoreAll(t, net, "b", "a", bd)
				b.onSaveNeeded = func() {}
			}
		}
		retired := b.r.Stats().RetiredWriters
		switch {
		case c.every > 0 && retired == 0:
			t.Errorf("saving every %d rounds, crashing every %d: b retired no writer of a", c.every, c.crashEvery)
		case c.every == 0 && retired != 0:
			t.Errorf("saving nothing, b retired %d writers of a: its votes left unsaved", retired)
		}
		for name, n := range map[string]*allNode{"a": a1, "b": b} {
			if n := n.r.Stats().LedgerConflicts; n != 0 {
				t.Errorf("saving every %d rounds, crashing every %d: %s counts %d ledger conflicts", c.every, c.crashEvery, name, n)
			}
		}
	}
}
