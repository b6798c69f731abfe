package crdt_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// sent is a message as it left a replica.
type sent struct {
	from, to crdt.ReplicaID
	msg      []byte
}

// tap is a Transport that keeps a copy of every message it sends.
type tap struct {
	crdt.Transport
	from crdt.ReplicaID
	log  *[]sent
}

func (t tap) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	*t.log = append(*t.log, sent{t.from, to, slices.Clone(msg)})
	return t.Transport.Send(ctx, to, msg)
}

// Accident: a network device (or an attacker) delivers again, an hour
// later, every message two regions ever exchanged, in reverse order and
// then in order: ops of an element removed since, acknowledgements, digests,
// catch-ups, messages of a run that ended in a crash. Nothing comes back
// from the dead, nothing is lost, and the regions go on converging.
func TestAccidentMessagesReplayedAnHourLater(t *testing.T) {
	var log []sent
	w := &world{t: t, ids: []crdt.ReplicaID{"a", "b"}, runs: map[crdt.ReplicaID][]*run{}}
	w.net = newWorld(t).net // a network of its own, seeded
	w.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	w.cfg = func(cfg *crdt.Config) { cfg.AntiEntropyTicks = 10 }
	w.wrap = func(from crdt.ReplicaID, tr crdt.Transport) crdt.Transport { return tap{tr, from, &log} }
	for _, id := range w.ids {
		w.start(id, nil)
	}
	a, b := w.latest("a"), w.latest("b")
	w.add(a, "x")
	w.add(a, "y")
	w.add(b, "z")
	w.settle([]string{"x", "y", "z"})
	if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove("x"), nil }); err != nil {
		t.Fatal(err)
	}
	w.save(a)
	w.settle([]string{"y", "z"})
	w.crash(a)
	a = w.start("a", a.saves[len(a.saves)-1])
	w.add(a, "w")
	w.settle([]string{"w", "y", "z"})
	for i := 0; w.latest("a").r.Stats().RetiredWriters == 0 || w.latest("b").r.Stats().RetiredWriters == 0; i++ {
		if i == 500 {
			t.Fatal("the finished run's writer was not retired")
		}
		w.round() // until the finished run's writer is retired
	}
	w.settle([]string{"w", "y", "z"})

	w.now.Add(int64(time.Hour))
	old := slices.Clone(log)
	replay := func(m sent) {
		_ = w.latest(m.to).r.Receive(context.Background(), m.from, m.msg)
	}
	for i := len(old) - 1; i >= 0; i-- {
		replay(old[i])
	}
	for _, m := range old {
		replay(m)
	}
	for _, id := range w.ids {
		if got := elems(w.latest(id)); !slices.Equal(got, []string{"w", "y", "z"}) {
			t.Fatalf("%s holds %v after %d old messages were delivered again, want [w y z]", id, got, 2*len(old))
		}
	}
	w.add(w.latest("a"), "v")
	w.add(w.latest("b"), "u")
	w.settle([]string{"u", "v", "w", "y", "z"})
	for _, id := range w.ids {
		st := w.latest(id).r.Stats()
		for _, p := range st.Peers {
			if p.Divergences != 0 {
				t.Fatalf("%s counted %d divergences with %s", id, p.Divergences, p.Peer)
			}
		}
		if st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Fatalf("%s: %d ledger conflicts, %d failed retirements", id, st.LedgerConflicts, st.RetireFailures)
		}
	}
	t.Logf("replayed %d messages; a: %+v", 2*len(old), w.latest("a").r.Stats())
}

// Accident: a catch-up in chunks is cut off half-way by restarts, of the
// receiver and then of the sender, while the sender removes elements; and
// a faulty network delivers again, at every tick, twenty of the messages
// sent so far, chosen at random: chunks of the catch-ups given up, and
// messages of the runs that ended. A message of an earlier run used to
// make the receiver start over with its peer (as for a restart), so the
// catch-up never ended and the receiver stayed empty; it is now refused as
// stale (counted), none brings back an element removed since, and the
// receiver ends with the sender's set.
func TestAccidentChunkedCatchUpRestartedAndInterleaved(t *testing.T) {
	var log []sent
	w := &world{t: t, ids: []crdt.ReplicaID{"a", "b"}, runs: map[crdt.ReplicaID][]*run{}}
	w.net = memnet.New(47)
	w.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	w.cfg = func(cfg *crdt.Config) {
		cfg.MaxMessageBytes, cfg.CompressAbove, cfg.AntiEntropyTicks = 4096, -1, 10
	}
	w.wrap = func(from crdt.ReplicaID, tr crdt.Transport) crdt.Transport { return tap{tr, from, &log} }
	w.start("b", nil)
	a := w.start("a", nil)
	var want []string
	if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) {
		for i := range 1500 {
			e := fmt.Sprintf("element-%05d", i)
			s.Add(e)
			want = append(want, e)
		}
		return nil, nil // too large for a message: b catches up by digest
	}); err != nil {
		t.Fatal(err)
	}
	w.save(a)
	halfway := func() {
		t.Helper()
		for i := 0; ; i++ {
			p := w.latest("a").r.Stats().Peers[0]
			if p.CatchUpChunksLeft > 0 && p.CatchUpChunksLeft <= p.CatchUpChunks/2 {
				return
			}
			if i == 500 {
				t.Fatalf("no catch-up in chunks half-way: %+v", p)
			}
			w.round()
		}
	}
	remove := func(from, to int) {
		a := w.latest("a")
		if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) {
			var op crdt.Op
			for i := from; i < to; i++ {
				op = s.Remove(want[i])
			}
			return op, nil
		}); err != nil {
			t.Fatal(err)
		}
		w.save(a)
	}
	halfway()
	w.crash(w.latest("b"))
	w.start("b", nil) // the receiver restarts, having saved nothing of it
	remove(0, 100)
	halfway()
	w.crash(w.latest("a"))
	w.start("a", w.latest("a").saves[len(w.latest("a").saves)-1])
	remove(100, 200)

	rng := rand.New(rand.NewPCG(47, 1))
	old := slices.Clone(log)
	for i := 0; ; i++ {
		rng.Shuffle(len(old), func(i, j int) { old[i], old[j] = old[j], old[i] })
		for _, m := range old[:min(len(old), 20)] {
			_ = w.latest(m.to).r.Receive(context.Background(), m.from, m.msg)
		}
		w.round()
		if got := elems(w.latest("b")); slices.Equal(got, want[200:]) && !w.latest("a").r.Stats().Peers[0].AwaitingCatchUp {
			break
		}
		if i == 1000 {
			t.Fatalf("b holds %d elements, want %d: %+v", len(elems(w.latest("b"))), len(want)-200, w.latest("a").r.Stats().Peers[0])
		}
	}
	for range 50 { // and the old chunks keep coming
		for _, m := range old[:min(len(old), 20)] {
			_ = w.latest(m.to).r.Receive(context.Background(), m.from, m.msg)
		}
		w.round()
	}
	for _, id := range w.ids {
		if got := elems(w.latest(id)); !slices.Equal(got, want[200:]) {
			t.Fatalf("%s holds %d elements, want the %d not removed", id, len(got), len(want)-200)
		}
	}
	if n := refusals(w.latest("a").r)[crdt.ReasonStale] + refusals(w.latest("b").r)[crdt.ReasonStale]; n == 0 {
		t.Fatal("no message of an earlier run was refused as stale")
	}
}

// Accident: a second process is started under b's name by mistake, from a
// copy of its data, runs beside it for a while and is stopped; its
// messages (of a run with a higher incarnation than the real one's) are
// then delivered again, twenty at every tick, while b catches up in
// chunks on a large set. Taken, each made a start over with b once more,
// and the catch-up never ended; refused as stale, they change nothing.
func TestAccidentStoppedDuplicateReplayed(t *testing.T) {
	var log []sent
	w := &world{t: t, ids: []crdt.ReplicaID{"a", "b"}, runs: map[crdt.ReplicaID][]*run{}}
	w.net = memnet.New(59)
	w.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	w.cfg = func(cfg *crdt.Config) {
		cfg.MaxMessageBytes, cfg.CompressAbove, cfg.AntiEntropyTicks = 4096, -1, 10
	}
	w.wrap = func(from crdt.ReplicaID, tr crdt.Transport) crdt.Transport { return tap{tr, from, &log} }
	a, b := w.start("a", nil), w.start("b", nil)
	w.add(b, "before")
	w.settle([]string{"before"})
	dup := w.start("b", b.saves[len(b.saves)-1]) // attached in b's place
	w.add(dup, "dup")
	for range 20 {
		w.round()
	}
	w.crash(dup)
	w.runs["b"] = slices.DeleteFunc(w.runs["b"], func(g *run) bool { return g == dup })
	w.net.Attach("b", b.r)
	var dupMsgs []sent
	for _, m := range log {
		if m.from == "b" {
			dupMsgs = append(dupMsgs, m) // b's and its duplicate's
		}
	}
	want := []string{"before", "dup"}
	if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) {
		for i := range 1500 {
			e := fmt.Sprintf("element-%05d", i)
			s.Add(e)
			want = append(want, e)
		}
		return nil, nil // too large for a message: b catches up by digest
	}); err != nil {
		t.Fatal(err)
	}
	w.save(a)
	slices.Sort(want)
	rng := rand.New(rand.NewPCG(59, 1))
	for i := 0; ; i++ {
		rng.Shuffle(len(dupMsgs), func(i, j int) { dupMsgs[i], dupMsgs[j] = dupMsgs[j], dupMsgs[i] })
		for _, m := range dupMsgs[:min(len(dupMsgs), 20)] {
			_ = a.r.Receive(context.Background(), m.from, m.msg)
		}
		w.round()
		if slices.Equal(elems(b), want) && slices.Equal(elems(a), want) && !a.r.Stats().Peers[0].AwaitingCatchUp {
			break
		}
		if i == 1000 {
			t.Fatalf("b holds %d elements, a %d, want %d: %+v", len(elems(b)), len(elems(a)), len(want), a.r.Stats().Peers[0])
		}
	}
	if n := refusals(a.r)[crdt.ReasonStale]; n == 0 {
		t.Fatal("no message of the stopped duplicate was refused as stale")
	}
}

// Accident: a message of a run that is over (its region crashed for good
// before its peers took it) is delivered late to a region that restarted
// since, before anything else of that region's: the region takes the run's
// write, which no other region will ever be sent by the run. It must serve
// the others a catch-up, as when a peer restarts, or the regions differ for
// good with nothing pending (here with no periodic anti-entropy).
func TestAccidentDeadRunReplayedToRestartedRegion(t *testing.T) {
	var log []sent
	on := true
	c := newCluster(t, 97, 3, func(cfg *crdt.Config) {
		cfg.AntiEntropyTicks = -1
		if cfg.ID == "r2" {
			cfg.Transport = recording{cfg.Transport, cfg.ID, &log, &on}
		}
	})
	c.settle([]string{}, 50)
	c.net.Partition("r2", "r0")
	c.net.Partition("r2", "r1")
	c.add("r2", "a")
	c.round()
	c.crash("r2") // for good
	c.crash("r1")
	c.restart("r1")
	for range 50 {
		c.round()
	}
	for _, m := range log {
		if m.to == "r1" {
			_ = c.nodes["r1"].r.Receive(context.Background(), m.from, m.msg)
		}
	}
	if !slices.Contains(c.elems("r1"), "a") {
		t.Fatalf("r1 did not take the late message's write: %v", c.elems("r1"))
	}
	for i := 0; !slices.Contains(c.elems("r0"), "a"); i++ {
		if i == 100 {
			t.Fatalf("r0 lacks what r1 took from r2's run that is over: r0 %v, r1 %v", c.elems("r0"), c.elems("r1"))
		}
		c.round()
	}
}
