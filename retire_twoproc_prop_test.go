package crdt_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
	"pgregory.net/rapid"
)

// Two processes under replica ID a (a copied disk started twice) and a
// replica b, over random schedules: writes at any of the three, the
// network routing a to one process or the other, rounds in which either
// process may run, so that retirements of each process's writer are
// agreed while the other, or the writer itself, goes on. Once both
// processes have run in turn long enough and one has stopped, b and the
// one left hold every write of all three, and the G and PN read the sums
// of every change.
func TestTwoProcessesUnderOneNameRandomSchedules(t *testing.T) {
	var retired, past int
	defer func() { t.Logf("writers retired %d, installed past Final %d", retired, past) }()
	rapid.Check(t, func(rt *rapid.T) {
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		first := startAllNode(t, net, "a", "b", nil)
		b := startAllNode(t, net, "b", "a", nil)
		nodes := []*allNode{first, nil, b}
		attached := 0
		var tags []string
		var g, pn int64
		write := func(i int) {
			tag := fmt.Sprintf("t%d", len(tags))
			nodes[i].write(t, tag, len(tags))
			tags = append(tags, tag)
			g++
			if len(tags)%2 == 1 {
				pn += 2
			} else {
				pn--
			}
		}
		write(0)
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0:
				i := rapid.IntRange(0, 2).Draw(rt, "writer")
				if nodes[i] != nil {
					write(i)
				}
			case 1:
				attached, _ = reroute(t, rt, net, nodes)
			default:
				randomRounds(rt, net, nodes, attached, func() {})
			}
		}
		// Both run in turn, then one stops.
		run := roundsOf(net, (*allNode).replica)
		left := settleTwoProcesses(rt, net, nodes, run)
		got, want := b.content(), left.content()
		if got != want {
			rt.Fatalf("b and a differ:\nb %s\na %s", got, want)
		}
		for _, tag := range tags {
			if !containsTag(got, tag) {
				rt.Fatalf("b lacks %s: %s", tag, got)
			}
		}
		if tail := fmt.Sprintf("counter %d, G %d, PN %d", g, g, pn); !strings.HasSuffix(got, tail) {
			rt.Fatalf("b holds %s, want %s", got, tail)
		}
		var n int
		b.set.Read(func(s *orset.Set[string]) { n = s.Len() })
		if n != len(tags) {
			rt.Fatalf("b's set holds %d elements, want %d", n, len(tags))
		}
		retired += b.r.Stats().RetiredWriters
		for _, n := range nodes[:2] {
			if n != nil {
				past += int(n.r.Stats().RetiredPastFinal)
			}
		}
	})
}

// TestTwoProcessesUnderOneNameClockCheckOff is
// TestTwoProcessesUnderOneNameRandomSchedules with the clocks' maximum
// offset off, so that no message of either process is refused as stale
// by time: a process the network does not reach hears no newer clock
// reading, and a rule that refused its messages as older than the other
// process's would lose its writes once the other stopped.
func TestTwoProcessesUnderOneNameClockCheckOff(t *testing.T) {
	defer func(f func() *clock.Clock) { allNodeClock = f }(allNodeClock)
	allNodeClock = func() *clock.Clock {
		return clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }), clock.WithMaxOffset(0))
	}
	TestTwoProcessesUnderOneNameRandomSchedules(t)
}

// setTags returns the tags n's set holds.
func setTags(n *allNode) map[string]bool {
	out := map[string]bool{}
	n.set.Read(func(s *orset.Set[string]) {
		for i := range 200 {
			if tag := fmt.Sprintf("t%d", i); s.Contains(tag) {
				out[tag] = true
			}
		}
	})
	return out
}

// TestTwoProcessesAndOlderBackupsRandomSchedules is
// TestTwoProcessesUnderOneNameRandomSchedules with one more accident:
// either process may crash and come back from one of its older
// snapshots, taken before retirements its peers agreed since. Writes
// that never left a crashed process may be lost, but nothing b held:
// b's set never loses a tag, and once everything settles b and the
// process left agree, and every object counts exactly the writes the
// set holds (each write adds a tag, an ormap and a G increment, and
// +2 or -1 to the PN).
func TestTwoProcessesAndOlderBackupsRandomSchedules(t *testing.T) {
	t.Run("snapshots", func(t *testing.T) { twoProcessesAndOlderBackups(t, false) })
	t.Run("b journals", func(t *testing.T) { twoProcessesAndOlderBackups(t, true) })
}

func twoProcessesAndOlderBackups(t *testing.T, journaled bool) {
	rapid.Check(t, func(rt *rapid.T) {
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		ctx := context.Background()
		first := startAllNode(t, net, "a", "b", nil)
		b := startAllNode(t, net, "b", "a", nil)
		nodes := []*allNode{first, nil, b}
		attached := 0
		written := 0
		held := map[string]bool{}
		var saveB func()
		write := func(i int) {
			if i == 2 {
				nodes[i].writeOnly(t, fmt.Sprintf("t%d", written), written)
				saveB()
			} else {
				nodes[i].write(t, fmt.Sprintf("t%d", written), written)
			}
			written++
		}
		check := func() {
			now := setTags(b)
			for tag := range held {
				if !now[tag] {
					t.Fatalf("b lost %s: %s", tag, b.content())
				}
			}
			held = now
		}
		// b keeps a journal; its saved tags are those it held at its
		// last save, which a crash never loses.
		var bd hostDisk
		var saved map[string]bool
		saveB = func() {
			persist(t, b, &bd)
			saved = setTags(b)
		}
		b.onSaveNeeded = saveB // b's host saves onto its disk when b asks
		saveB()
		write(0)
		for range rapid.IntRange(1, 40).Draw(rt, "steps") {
			switch rapid.IntRange(0, 5).Draw(rt, "action") {
			case 5:
				if !journaled {
					continue
				}
				// b crashes and comes back from its snapshot and journal.
				b = restoreAll(t, net, "b", "a", bd)
				b.onSaveNeeded = saveB
				nodes[2] = b
				now := setTags(b)
				for tag := range saved {
					if !now[tag] {
						t.Fatalf("b restarted without %s, which it had saved: %s", tag, b.content())
					}
				}
				held = now
				continue
			case 0:
				i := rapid.IntRange(0, 2).Draw(rt, "writer")
				if nodes[i] != nil {
					write(i)
				}
			case 1:
				var started bool
				if attached, started = reroute(t, rt, net, nodes); started {
					continue
				}
			case 2:
				// A process crashes and comes back from an older snapshot.
				i := rapid.IntRange(0, 1).Draw(rt, "crash")
				old := nodes[i]
				if old == nil || len(old.snaps) == 0 {
					continue
				}
				snap := old.snaps[rapid.IntRange(0, len(old.snaps)-1).Draw(rt, "backup")]
				nodes[i] = startAllNode(t, net, "a", "b", snap)
				nodes[i].snaps = old.snaps
				if i != attached {
					net.Attach("a", nodes[attached].r)
				}
			default:
				randomRounds(rt, net, nodes, attached, saveB)
			}
			check()
		}
		run := func(k int, ns ...*allNode) {
			for range k {
				for _, n := range ns {
					_ = n.r.Tick(ctx)
				}
				net.DeliverAll(ctx)
				saveB()
				check()
			}
		}
		left := settleTwoProcesses(rt, net, nodes, run)
		got, want := b.content(), left.content()
		if got != want {
			sb, sa := b.r.Stats(), left.r.Stats()
			t.Fatalf("b and a differ:\nb %s\na %s\nb: retired %d, ledger conflicts %d, waits %d; a: retired %d, conflicts %d, waits %d",
				got, want, sb.RetiredWriters, sb.LedgerConflicts, sb.Peers[0].LedgerWaits, sa.RetiredWriters, sa.LedgerConflicts, sa.Peers[0].LedgerWaits)
		}
		tags := setTags(b)
		var pn int64
		for tag := range tags {
			var i int
			fmt.Sscanf(tag, "t%d", &i)
			if i%2 == 0 {
				pn += 2
			} else {
				pn--
			}
		}
		if tail := fmt.Sprintf("counter %d, G %d, PN %d", len(tags), len(tags), pn); !strings.HasSuffix(got, tail) {
			t.Fatalf("b holds %s, want %s", got, tail)
		}
	})
}

// reroute is a step of a random schedule of the two processes under
// "a", nodes[0] and nodes[1] (nil until it starts): it starts the second
// from the first's disk, attached to the network, and reports it
// started; or, once both run, routes "a" to one of them, drawn. It
// returns the index of the process attached.
func reroute(t *testing.T, rt *rapid.T, net *memnet.Network, nodes []*allNode) (attached int, started bool) {
	if nodes[1] == nil {
		nodes[1] = startAllNode(t, net, "a", "b", savedSnapshot(t, nodes[0].r))
		return 1, true
	}
	attached = rapid.IntRange(0, 1).Draw(rt, "attach")
	net.Attach("a", nodes[attached].r)
	return attached, false
}

// randomRounds is a step of a random schedule of nodes (the two
// processes under "a" and b, as for settleTwoProcesses): a drawn number
// of rounds in which b and the process attached tick, and the other too
// if drawn so, each round delivering every message, then calling after.
func randomRounds(rt *rapid.T, net *memnet.Network, nodes []*allNode, attached int, after func()) {
	ctx := context.Background()
	both := rapid.Bool().Draw(rt, "both run")
	for range rapid.IntRange(1, 30).Draw(rt, "rounds") {
		for i, n := range nodes {
			if n != nil && (i == attached || i == 2 || both) {
				_ = n.r.Tick(ctx)
			}
		}
		net.DeliverAll(ctx)
		after()
	}
}

// settleTwoProcesses lets the two processes under "a", nodes[0] and
// nodes[1] (nil if there is no second), run in turn with b, nodes[2],
// each attached to the network while it runs, then one of them, drawn,
// alone with b until everything settles; it returns that one. run ticks
// the nodes given and delivers, k times.
func settleTwoProcesses(rt *rapid.T, net *memnet.Network, nodes []*allNode, run func(k int, ns ...*allNode)) *allNode {
	b := nodes[2]
	if nodes[1] != nil {
		takeTurns(net, run, 150, nodes[0], nodes[1], b)
	}
	left := nodes[rapid.IntRange(0, 1).Draw(rt, "left")]
	if left == nil {
		left = nodes[0]
	}
	net.Attach("a", left.r)
	run(300, left, b)
	return left
}
