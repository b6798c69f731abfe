package crdt_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// world is replicas holding one real OR-Set over memnet, for the operators'
// accidents: several runs of one region may exist at once.
type world struct {
	t   *testing.T
	net *memnet.Network
	now atomic.Int64
	ids []crdt.ReplicaID
	// runs holds every run ever started, by region, newest last.
	runs map[crdt.ReplicaID][]*run
	// wrap, if set, wraps the transport of every run started.
	wrap func(from crdt.ReplicaID, t crdt.Transport) crdt.Transport
	// cfg, if set, changes the configuration of every run started.
	cfg func(*crdt.Config)
}

type run struct {
	r   *crdt.Replica
	set *crdt.Handle[*orset.Set[string]]
	// saves holds every snapshot this run saved, oldest first.
	saves [][]byte
	up    bool
}

func newWorld(t *testing.T, ids ...crdt.ReplicaID) *world {
	w := &world{t: t, net: memnet.New(7), ids: ids, runs: map[crdt.ReplicaID][]*run{}}
	w.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range ids {
		w.start(id, nil)
	}
	return w
}

// start begins a new run of region id from snap (nil: an empty disk),
// saves a snapshot as a persisting host does at once, and attaches the run
// to the network in place of any earlier run.
func (w *world) start(id crdt.ReplicaID, snap []byte) *run {
	w.t.Helper()
	g := w.begin(id, snap)
	w.save(g)
	return g
}

// begin is start for a host that does not save through SaveSnapshot.
func (w *world) begin(id crdt.ReplicaID, snap []byte) *run {
	w.t.Helper()
	tr := w.net.Transport(id)
	if w.wrap != nil {
		tr = w.wrap(id, tr)
	}
	g := &run{up: true}
	cfg := crdt.Config{ID: id, Transport: tr,
		Clock: clock.New(clock.WithSource(w.now.Load)), AntiEntropyTicks: -1,
		OnSaveNeeded: func() { w.save(g) }} // a vote on a retirement waits for a save
	if w.cfg != nil {
		w.cfg(&cfg)
	}
	r, err := crdt.NewReplica(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	g.r = r
	g.set, _ = crdt.Register(r, "set", orset.New[string](id))
	attachRestored(w.t, w.net, r, snap, w.ids...)
	w.runs[id] = append(w.runs[id], g)
	return g
}

func (w *world) save(g *run) {
	w.t.Helper()
	if err := g.r.SaveSnapshot(func(b []byte) error { g.saves = append(g.saves, b); return nil }); err != nil {
		w.t.Fatal(err)
	}
}

// latest returns the newest run of region id.
func (w *world) latest(id crdt.ReplicaID) *run { rs := w.runs[id]; return rs[len(rs)-1] }

// add adds e at run g and saves, as a host does before acknowledging.
func (w *world) add(g *run, e string) {
	w.t.Helper()
	if err := g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
		w.t.Fatal(err)
	}
	w.save(g)
}

func (w *world) round() {
	for _, rs := range w.runs {
		for _, g := range rs {
			if g.up {
				_ = g.r.Tick(context.Background())
			}
		}
	}
	w.net.DeliverAll(context.Background())
	w.now.Add(int64(10 * time.Millisecond))
}

func elems(g *run) []string {
	var out []string
	g.set.Read(func(s *orset.Set[string]) { out = slices.Sorted(s.All()) })
	return out
}

// settle runs rounds until the newest run of every region holds want; it
// fails if some round shows replicas that differ while no figure says so.
func (w *world) settle(want []string) {
	w.t.Helper()
	for range 300 {
		done, busy := true, false
		for _, id := range w.ids {
			g := w.latest(id)
			if !slices.Equal(elems(g), want) {
				done = false
			}
			for _, p := range g.r.Stats().Peers {
				if p.PendingOps != 0 || p.AwaitingCatchUp {
					busy = true
				}
			}
		}
		if done && !busy {
			return
		}
		if !done && !busy && w.net.Pending() == 0 {
			w.t.Fatalf("replicas differ (%v) while every figure reads zero", w.dump())
		}
		w.round()
	}
	for _, id := range w.ids {
		w.t.Logf("%s: %+v", id, w.latest(id).r.Stats())
	}
	w.t.Fatalf("no convergence on %v: %v", want, w.dump())
}

func (w *world) dump() map[crdt.ReplicaID][]string {
	out := map[crdt.ReplicaID][]string{}
	for _, id := range w.ids {
		out[id] = elems(w.latest(id))
	}
	return out
}

func (w *world) crash(g *run) { g.up = false }

// Accident 2: a region restores an older snapshot (a backup, or a store
// that fell back to its previous transaction) and writes at once, while its
// peer is unreachable. Its new writes must not take the identities of the
// writes the lost newer state had shipped: both survive, with every write
// acknowledged before and after.
func TestAccidentOlderSnapshot(t *testing.T) {
	w := newWorld(t, "a", "b")
	a := w.latest("a")
	w.add(a, "x")
	old := a.saves[len(a.saves)-1]
	w.add(a, "y") // acknowledged, and reaches b
	w.settle([]string{"x", "y"})
	w.crash(a)
	w.net.Partition("a", "b")
	a = w.start("a", old) // the older copy of the data directory
	w.add(a, "z")
	w.add(w.latest("b"), "q")
	w.net.HealAll()
	w.settle([]string{"q", "x", "y", "z"})
}

// Accident 3: a host persists with Snapshot (not SaveSnapshot), so the
// replica ships ops its host has not saved; it crashes and restores the
// last snapshot. Its next add used to reuse the dot of a shipped add: a=[y],
// b=[x], with nothing pending anywhere.
func TestAccidentSnapshotThenRestore(t *testing.T) {
	w := newWorld(t, "a", "b")
	w.crash(w.latest("a"))
	a := w.begin("a", nil) // this host persists with Snapshot alone
	snap, err := a.r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("x"), nil }); err != nil {
		t.Fatal(err)
	}
	w.settle([]string{"x"})
	w.crash(a)
	a = w.start("a", snap)
	w.add(a, "y")
	w.settle([]string{"x", "y"})
}

// Accident 4: a second process is started under a region's ID by mistake
// and runs beside the real one for a while, both taking writes; then it is
// stopped. The real region used to be refused as a stale incarnation for
// good, and after a restart the regions differed for good.
func TestAccidentTwoProcessesUnderOneID(t *testing.T) {
	w := newWorld(t, "a", "b")
	real := w.latest("a")
	w.add(real, "x")
	w.settle([]string{"x"})
	dup := w.start("a", real.saves[len(real.saves)-1]) // the same data, copied
	w.net.Attach("a", real.r)                          // b's messages still reach the real one
	for i, e := range []string{"d1", "d2", "d3"} {
		w.add(dup, e)
		w.add(real, []string{"r1", "r2", "r3"}[i])
		w.round()
	}
	w.crash(dup) // the operator stops the duplicate
	w.runs["a"] = slices.DeleteFunc(w.runs["a"], func(g *run) bool { return g == dup })
	w.add(real, "after")
	w.settle([]string{"after", "d1", "d2", "d3", "r1", "r2", "r3", "x"})
	// A restart of the real region changes nothing.
	w.crash(real)
	w.runs["a"] = nil
	w.start("a", real.saves[len(real.saves)-1])
	w.settle([]string{"after", "d1", "d2", "d3", "r1", "r2", "r3", "x"})
}
