package crdt_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
)

// ttlRegions is two regions, us-east-1 and eu-west-1, replicating an
// LWW-map "kv" over memnet, on one manual time.
type ttlRegions struct {
	t    *testing.T
	now  atomic.Int64
	net  *memnet.Network
	ids  []crdt.ReplicaID
	reps map[crdt.ReplicaID]*crdt.Replica
	kv   map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]
}

func newTTLRegions(t *testing.T) *ttlRegions { return newTTLRegionsEvery(t, 5, 5) }

// newTTLRegionsEvery is newTTLRegions with us-east-1 sending a digest
// every east ticks and eu-west-1 every west ticks.
func newTTLRegionsEvery(t *testing.T, east, west int) *ttlRegions {
	g := &ttlRegions{
		t:    t,
		net:  memnet.New(1),
		ids:  []crdt.ReplicaID{"us-east-1", "eu-west-1"},
		reps: map[crdt.ReplicaID]*crdt.Replica{},
		kv:   map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{},
	}
	g.now.Store(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range g.ids {
		clk := clock.New(clock.WithSource(g.now.Load))
		every := east
		if id == "eu-west-1" {
			every = west
		}
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: g.net.Transport(id), Clock: clk, AntiEntropyTicks: every})
		if err != nil {
			t.Fatal(err)
		}
		if g.kv[id], err = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk)); err != nil {
			t.Fatal(err)
		}
		for _, p := range g.ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		g.net.Attach(id, r)
		g.reps[id] = r
	}
	return g
}

// rounds runs n rounds of a tick of each of the regions given (every
// region if none), a delivery of every message, and 10ms.
func (g *ttlRegions) rounds(n int, only ...crdt.ReplicaID) {
	if len(only) == 0 {
		only = g.ids
	}
	for range n {
		for _, id := range only {
			_ = g.reps[id].Tick(context.Background())
		}
		g.net.DeliverAll(context.Background())
		g.now.Add(int64(10 * time.Millisecond))
	}
}

// snapshots has every region save a snapshot.
func (g *ttlRegions) snapshots() {
	for _, id := range g.ids {
		if err := g.reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
			g.t.Fatal(err)
		}
	}
}

// update makes the write f returns at region id.
func (g *ttlRegions) update(id crdt.ReplicaID, f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
	g.t.Helper()
	if err := g.kv[id].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
		g.t.Fatalf("%s: %v", id, err)
	}
}

// TestExpiredKeysCollectedByTheEngine: two regions replicate an lwwmap
// over memnet; a key given a time to live in one region disappears from
// both once their clocks pass its expiry, is counted as pending garbage,
// and is collected at both (their saved snapshots cover the expire), but
// not before it expires; a key persisted in the other region stays.
func TestExpiredKeysCollectedByTheEngine(t *testing.T) {
	g := newTTLRegions(t)
	ids, kv, reps := g.ids, g.kv, g.reps
	rounds, snapshots, update := g.rounds, g.snapshots, g.update
	now := &g.now
	type view struct {
		session, cart bool
		pending, gone uint64
		keys          int
	}
	look := func(id crdt.ReplicaID) (v view) {
		kv[id].Read(func(m *lwwmap.Map[string, string]) {
			_, v.session = m.Get("session")
			_, v.cart = m.Get("cart")
			v.pending, v.gone = m.Garbage()
			v.keys = m.Len()
		})
		return v
	}

	snapshots()
	update("us-east-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("session", "token") })
	update("us-east-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("cart", "book") })
	snapshots() // a replica that saves snapshots ships only what it saved
	rounds(3)
	update("us-east-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] {
		return m.Expire("session", time.Second)
	})
	update("us-east-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] {
		return m.Expire("cart", time.Second)
	})
	snapshots()
	rounds(3)
	update("eu-west-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Persist("cart") })
	snapshots()
	rounds(3)
	snapshots() // each has saved the other's writes: durable versions cover all
	rounds(20)
	for _, id := range ids {
		if v := look(id); !v.session || !v.cart {
			t.Fatalf("%s before expiry: %+v", id, v)
		}
	}
	if v := look("eu-west-1"); v.gone != 0 || v.pending != 0 {
		t.Fatalf("garbage before expiry: %+v", v)
	}
	now.Add(int64(time.Second)) // past the expiry, by both clocks
	for _, id := range ids {
		v := look(id)
		if v.session || !v.cart || v.keys != 1 || v.pending != 1 {
			t.Fatalf("%s after expiry: %+v, want only the persisted cart, one pending", id, v)
		}
	}
	if st := reps["us-east-1"].Stats(); st.GCPending == 0 {
		t.Fatalf("Stats.GCPending = 0 with an expired key held")
	}
	rounds(20)
	if v := look("us-east-1"); v.pending != 1 || v.gone != 0 {
		t.Fatalf("collected before every region's clock was shown past the expiry: %+v", v)
	}
	// A write stamped after the expiry, once both have saved it, shows
	// that no region can still persist the session before its expiry.
	update("eu-west-1", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("tick", "1") })
	snapshots()
	rounds(20)
	snapshots()
	rounds(20)
	for _, id := range ids {
		v := look(id)
		if v.session || !v.cart || v.pending != 0 || v.gone != 1 {
			t.Fatalf("%s after snapshots: %+v, want the session collected and the cart kept", id, v)
		}
	}
	if st := reps["eu-west-1"].Stats(); st.GCCollected == 0 || st.GCPending != 0 {
		t.Fatalf("Stats: %d pending, %d collected; want 0 and at least 1", st.GCPending, st.GCCollected)
	}
}

// TestTTLConvergesOverAFaultyNetwork: three regions put, delete, expire
// and persist keys over a network that loses, repeats, delays and
// reorders messages, with a partition for a while; once healed, every
// region shows the same keys with the same values and times to live.
func TestTTLConvergesOverAFaultyNetwork(t *testing.T) {
	for seed := range uint64(4) {
		var now atomic.Int64
		now.Store(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano())
		net := memnet.New(seed)
		net.Loss, net.Duplicate, net.Reorder, net.MaxDelay = 0.2, 0.1, true, 3
		ctx := context.Background()
		ids := []crdt.ReplicaID{"us-east-1", "eu-west-1", "ap-south-1"}
		reps := map[crdt.ReplicaID]*crdt.Replica{}
		kv := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, int]]{}
		for _, id := range ids {
			clk := clock.New(clock.WithSource(now.Load))
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 3})
			if err != nil {
				t.Fatal(err)
			}
			kv[id], _ = crdt.Register(r, "kv", lwwmap.New[string, int](id, clk))
			for _, p := range ids {
				if p != id {
					_ = r.AddPeer(p)
				}
			}
			net.Attach(id, r)
			reps[id] = r
		}
		round := func() {
			for _, id := range ids {
				_ = reps[id].Tick(ctx)
			}
			net.DeliverAll(ctx)
			now.Add(int64(time.Millisecond))
		}
		keys := []string{"a", "b", "c"}
		expires := 0
		x := seed
		next := func(n int) int { x = x*6364136223846793005 + 1442695040888963407; return int(x>>33) % n }
		for step := range 300 {
			if step == 100 {
				net.Partition("us-east-1", "eu-west-1")
			}
			if step == 200 {
				net.HealAll()
			}
			id, k := ids[next(3)], keys[next(3)]
			_ = kv[id].Update(func(m *lwwmap.Map[string, int]) (crdt.Op, error) {
				_, present := m.Get(k)
				switch a := next(6); {
				case a == 0:
					return m.Delete(k), nil
				case a <= 2 || !present:
					return m.Put(k, step), nil
				case a <= 4:
					expires++
					return m.Expire(k, time.Duration(1+next(200))*time.Millisecond), nil
				default:
					return m.Persist(k), nil
				}
			})
			round()
		}
		net.Loss, net.Duplicate, net.MaxDelay = 0, 0, 0
		for range 30 {
			round()
		}
		type state struct {
			v   int
			ttl time.Duration
			ok  bool
		}
		var first map[string]state
		var firstBytes []byte
		for _, id := range ids {
			got := map[string]state{}
			kv[id].Read(func(m *lwwmap.Map[string, int]) {
				b, err := m.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if firstBytes == nil {
					firstBytes = b
				} else if !bytes.Equal(b, firstBytes) {
					t.Errorf("seed %d: %s holds another state than %s", seed, id, ids[0])
				}
				for _, k := range keys {
					v, ok := m.Get(k)
					ttl, _ := m.TTL(k)
					got[k] = state{v, ttl, ok}
				}
			})
			if first == nil {
				first = got
			} else if fmt.Sprint(got) != fmt.Sprint(first) {
				t.Fatalf("seed %d: %s shows %v, %s shows %v", seed, id, got, ids[0], first)
			}
		}
		if expires < 20 || net.Stats().Dropped == 0 {
			t.Fatalf("seed %d: %d expires, %d messages lost: the run tested little", seed, expires, net.Stats().Dropped)
		}
		for _, id := range ids {
			for _, p := range reps[id].Stats().Peers {
				if p.Divergences != 0 {
					t.Errorf("seed %d: %s counted %d divergences with %s", seed, id, p.Divergences, p.Peer)
				}
			}
		}
	}
}

// TestAccidentPersistCollectedInOneRegionFirst: regions collect at their
// own moments. A key is persisted; us-east-1, which sends a digest every
// tick, learns first that both regions have saved the persist, then
// expires the key. Both must drop the key at its expiry, and count no
// divergence.
//
// Before, us-east-1 dropped the persist when it collected it: its expire
// could not name it, and eu-west-1, which still held it, would have kept
// the key for good (a persist wins over an expire not known to come after
// it; the LWW-map's TestPersistKeptUntilOverwritten). The engine caught
// it only because the collection also changed us-east-1's fingerprint:
// it counted divergences and healed them by state exchanges.
func TestAccidentPersistCollectedInOneRegionFirst(t *testing.T) {
	g := newTTLRegionsEvery(t, 1, 1000)
	east := crdt.ReplicaID("us-east-1")
	g.snapshots()
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Expire("k", time.Hour) })
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Persist("k") })
	g.snapshots() // a region that saves snapshots ships what it saved
	g.rounds(3)
	g.snapshots() // both durable versions now hold the persist
	g.rounds(3)   // us-east-1 hears of eu-west-1's first
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Expire("k", time.Second) })
	g.snapshots()
	g.rounds(10)
	g.now.Add(int64(2 * time.Second))
	for range 3 {
		for _, id := range g.ids {
			var present bool
			g.kv[id].Read(func(m *lwwmap.Map[string, string]) { _, present = m.Get("k") })
			if present {
				t.Fatalf("%s still shows k after its expiry", id)
			}
		}
		g.snapshots()
		g.rounds(20)
	}
	g.noDivergence()
}

// noDivergence fails the test if a region counted a divergence.
func (g *ttlRegions) noDivergence() {
	g.t.Helper()
	for _, id := range g.ids {
		for _, p := range g.reps[id].Stats().Peers {
			if p.Divergences != 0 {
				g.t.Fatalf("%s counted %d divergences with %s", id, p.Divergences, p.Peer)
			}
		}
	}
}

// TestAccidentKeyPutAgainAfterOneRegionCollectedIt: a key expires;
// us-east-1, which sends a digest every tick, learns first that both
// regions have saved the expire, collects the key, and puts it again.
// eu-west-1 still holds the expired key and its expire when the put
// arrives: both must show the new value, and count no divergence.
// (Before, eu-west-1 kept the old expire in force against the new value:
// it showed the key absent until a digest showed the fingerprints differ
// and a state exchange healed it.)
func TestAccidentKeyPutAgainAfterOneRegionCollectedIt(t *testing.T) {
	g := newTTLRegionsEvery(t, 1, 1000)
	east, west := crdt.ReplicaID("us-east-1"), crdt.ReplicaID("eu-west-1")
	g.snapshots()
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Expire("k", time.Second) })
	g.snapshots()
	g.rounds(3)
	g.snapshots()
	g.now.Add(int64(2 * time.Second))
	// A write stamped after the expiry, saved at both, shows every
	// region's clock past it.
	g.update(west, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("tick", "1") })
	g.snapshots()
	g.rounds(3)
	g.snapshots()
	g.rounds(3)
	collected := func(id crdt.ReplicaID) (n uint64) {
		g.kv[id].Read(func(m *lwwmap.Map[string, string]) { _, n = m.Garbage() })
		return n
	}
	if collected(east) != 1 || collected(west) != 0 {
		t.Fatalf("collected %d at %s, %d at %s: want the key collected at the first only", collected(east), east, collected(west), west)
	}
	g.update(east, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "w") })
	g.snapshots()
	g.rounds(3)
	for _, id := range g.ids {
		var v string
		g.kv[id].Read(func(m *lwwmap.Map[string, string]) { v, _ = m.Get("k") })
		if v != "w" {
			t.Fatalf("%s shows k = %q after the put reached it, want w", id, v)
		}
	}
	if collected(west) != 0 {
		t.Fatalf("%s collected before it took the put in: the case is not the one meant", west)
	}
	g.rounds(30)
	g.noDivergence()
}
