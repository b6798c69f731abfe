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

// TestExpiredKeysCollectedByTheEngine: two regions replicate an lwwmap
// over memnet; a key given a time to live in one region disappears from
// both once their clocks pass its expiry, is counted as pending garbage,
// and is collected at both (their saved snapshots cover the expire), but
// not before it expires; a key persisted in the other region stays.
func TestExpiredKeysCollectedByTheEngine(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(1)
	ctx := context.Background()
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	kv := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{}
	for _, id := range ids {
		clk := clock.New(clock.WithSource(now.Load))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		if kv[id], err = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk)); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		net.Attach(id, r)
		reps[id] = r
	}
	rounds := func(n int) {
		for range n {
			for _, id := range ids {
				_ = reps[id].Tick(ctx)
			}
			net.DeliverAll(ctx)
			now.Add(int64(10 * time.Millisecond))
		}
	}
	snapshots := func() {
		for _, id := range ids {
			if err := reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	update := func(id crdt.ReplicaID, f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
		t.Helper()
		if err := kv[id].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
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
	}
}
