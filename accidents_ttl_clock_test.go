package crdt_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// steppedRegions is two regions over memnet, us-east-1 and eu-west-1,
// on one driven time; east's clock reads that time plus skew, which a
// test sets to step it.
type steppedRegions struct {
	t          *testing.T
	now, skew  atomic.Int64
	net        *memnet.Network
	east, west crdt.ReplicaID
	reps       map[crdt.ReplicaID]*crdt.Replica
}

// newSteppedRegions starts the two regions, east offering its digest
// every eastEvery ticks and west every westEvery; register registers
// each region's objects.
func newSteppedRegions(t *testing.T, eastEvery, westEvery int, register func(id crdt.ReplicaID, clk *clock.Clock, r *crdt.Replica) error) *steppedRegions {
	g := &steppedRegions{t: t, net: memnet.New(1), east: "us-east-1", west: "eu-west-1", reps: map[crdt.ReplicaID]*crdt.Replica{}}
	g.now.Store(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range []crdt.ReplicaID{g.east, g.west} {
		src, every, other := g.now.Load, westEvery, g.east
		if id == g.east {
			src, every, other = func() int64 { return g.now.Load() + g.skew.Load() }, eastEvery, g.west
		}
		clk := clock.New(clock.WithSource(src))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: g.net.Transport(id), Clock: clk, AntiEntropyTicks: every})
		if err != nil {
			t.Fatal(err)
		}
		if err := register(id, clk, r); err != nil {
			t.Fatal(err)
		}
		if err := r.AddPeer(other); err != nil {
			t.Fatal(err)
		}
		g.net.Attach(id, r)
		g.reps[id] = r
	}
	return g
}

// rounds ticks both regions and delivers everything, n times, 10 ms
// apart.
func (g *steppedRegions) rounds(n int) {
	for range n {
		for _, id := range []crdt.ReplicaID{g.east, g.west} {
			_ = g.reps[id].Tick(context.Background())
		}
		g.net.DeliverAll(context.Background())
		g.now.Add(int64(10 * time.Millisecond))
	}
}

// snapshots has both regions save a snapshot (the engine collects
// against saved versions).
func (g *steppedRegions) snapshots() {
	for _, r := range g.reps {
		if err := r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
			g.t.Fatal(err)
		}
	}
}

// noDivergence fails the test if a region counted a divergence.
func (g *steppedRegions) noDivergence() {
	for _, id := range []crdt.ReplicaID{g.east, g.west} {
		for _, p := range g.reps[id].Stats().Peers {
			if p.Divergences != 0 {
				g.t.Errorf("%s counted %d divergences with %s", id, p.Divergences, p.Peer)
			}
		}
	}
}

// A region whose wall clock is stepped forward two hours, then back,
// finds a key with an hour to live expired and collects it; meanwhile the
// other region, on the right time, persists the key well before its
// expiry. The persist is a write that wins over the expiry, so by the
// right time the key never expires; the early expiry at one region (its
// clock error, which the package doc allows for) must not outlive the
// step and turn into the key's loss or a lasting difference.
func TestAccidentClockSteppedForwardCollectsNoExpiredKey(t *testing.T) {
	kv := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{}
	g := newSteppedRegions(t, 1, 1000, func(id crdt.ReplicaID, clk *clock.Clock, r *crdt.Replica) (err error) {
		kv[id], err = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
		return err
	})
	east, west, now, skew, rounds, snapshots := g.east, g.west, &g.now, &g.skew, g.rounds, g.snapshots
	update := func(id crdt.ReplicaID, f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
		t.Helper()
		if err := kv[id].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
	}
	get := func(id crdt.ReplicaID) (v string, ok bool) {
		kv[id].Read(func(m *lwwmap.Map[string, string]) { v, ok = m.Get("k") })
		return
	}
	collected := func(id crdt.ReplicaID) (n uint64) {
		kv[id].Read(func(m *lwwmap.Map[string, string]) { _, n = m.Garbage() })
		return n
	}

	snapshots()
	update(west, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	update(west, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Expire("k", time.Hour) })
	snapshots()
	rounds(3)
	snapshots()
	rounds(3)

	skew.Store(int64(2 * time.Hour)) // NTP steps east's clock forward
	rounds(3)
	snapshots()
	rounds(3)
	skew.Store(0) // and back
	t.Logf("east collected %d, holds k: %v", collected(east), func() bool { _, ok := get(east); return ok }())
	rounds(20)
	if _, ok := get(west); !ok {
		t.Errorf("eu-west-1 lost k %v before its expiry by its own clock, after us-east-1's clock was stepped forward", 50*time.Minute)
	}

	// Ten minutes into the key's hour, by the right time, west persists it.
	now.Add(int64(10 * time.Minute))
	update(west, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Persist("k") })
	for range 5 {
		snapshots()
		rounds(20)
	}
	now.Add(int64(3 * time.Hour)) // east's clock has long caught up
	for range 5 {
		snapshots()
		rounds(20)
	}
	for _, id := range []crdt.ReplicaID{east, west} {
		if v, ok := get(id); !ok || v != "v" {
			t.Errorf("%s: k = %q, %v; want the persisted value v", id, v, ok)
		}
	}
	g.noDivergence()
}

// TestAccidentClockSteppedForwardCollectsNoOrMapKey is the accident
// above for an ormap.Map, whose writes carry no timestamps: us-east-1,
// its clock stepped two hours forward and then back, must not collect
// eu-west-1's key with an hour to live, for its collection is a delete
// that would remove the key at eu-west-1 too, fifty minutes before its
// expiry there.
func TestAccidentClockSteppedForwardCollectsNoOrMapKey(t *testing.T) {
	kv := map[crdt.ReplicaID]*crdt.Handle[*ormap.Map[string, *ormap.Register[string]]]{}
	g := newSteppedRegions(t, 1, 1, func(id crdt.ReplicaID, clk *clock.Clock, r *crdt.Replica) (err error) {
		m := ormap.New[string, *ormap.Register[string]](id)
		m.SetClock(clk)
		kv[id], err = crdt.Register(r, "kv", m)
		return err
	})
	east, west, rounds, snapshots := g.east, g.west, g.rounds, g.snapshots
	update := func(id crdt.ReplicaID, f func(m *ormap.Map[string, *ormap.Register[string]]) ormap.Op) {
		t.Helper()
		if err := kv[id].Update(func(m *ormap.Map[string, *ormap.Register[string]]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
	}
	has := func(id crdt.ReplicaID) (ok bool) {
		kv[id].Read(func(m *ormap.Map[string, *ormap.Register[string]]) { ok = m.Has("k") })
		return
	}

	snapshots()
	update(west, func(m *ormap.Map[string, *ormap.Register[string]]) ormap.Op { return m.At("k").Set("v") })
	update(west, func(m *ormap.Map[string, *ormap.Register[string]]) ormap.Op { return m.Expire("k", time.Hour) })
	for range 3 {
		snapshots()
		rounds(3)
	}
	if !has(east) || !has(west) {
		t.Fatalf("k not at both regions before the step: east %v, west %v", has(east), has(west))
	}

	g.skew.Store(int64(2 * time.Hour)) // NTP steps east's clock forward
	for range 3 {
		snapshots()
		rounds(3)
	}
	g.skew.Store(0) // and back
	for range 3 {
		snapshots()
		rounds(10)
	}
	if !has(west) {
		t.Errorf("eu-west-1 lost k %v before its expiry by its own clock, after us-east-1's clock was stepped forward", 50*time.Minute)
	}
	g.now.Add(int64(3 * time.Hour)) // past the expiry by every clock
	for range 5 {
		snapshots()
		rounds(10)
	}
	for _, id := range []crdt.ReplicaID{east, west} {
		if has(id) {
			t.Errorf("%s: k still read after its expiry", id)
		}
		// Collected, not only hidden: a map without a clock, which
		// expires nothing, reads what the state holds.
		var state []byte
		kv[id].Read(func(m *ormap.Map[string, *ormap.Register[string]]) { state, _ = m.MarshalBinary() })
		plain := ormap.New[string, *ormap.Register[string]]("reader")
		if _, err := plain.MergeBinary(state); err != nil {
			t.Fatal(err)
		}
		if plain.Has("k") {
			t.Errorf("%s: k not collected three hours after its expiry", id)
		}
	}
	g.noDivergence()
}
