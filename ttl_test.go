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
