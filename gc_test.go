package crdt_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// TestStatsGarbage: Stats.GCPending counts the delete records of every
// registered object (an OR-Set's records of removes, an LWW-map's delete
// markers). It rises with deletes, stays up while a replica that has not
// seen them is partitioned away, and falls to zero, with GCCollected rising
// by as much, once every replica has them in a saved snapshot.
func TestStatsGarbage(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(1)
	ctx := context.Background()
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1", "ap-south-1"}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	sets := map[crdt.ReplicaID]*crdt.Handle[*orset.Set[string]]{}
	kvs := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{}
	for _, id := range ids {
		clk := clock.New(clock.WithSource(now.Load))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		if sets[id], err = crdt.Register(r, "tags", orset.New[string](id)); err != nil {
			t.Fatal(err)
		}
		if kvs[id], err = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk)); err != nil {
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
	snapshots := func() {
		for _, id := range ids {
			if err := reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
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
	want := func(id crdt.ReplicaID, pending, collected uint64, what string) {
		t.Helper()
		s := reps[id].Stats()
		if s.GCPending != pending || s.GCCollected != collected {
			t.Fatalf("%s: %s: GCPending %d, GCCollected %d; want %d, %d", id, what, s.GCPending, s.GCCollected, pending, collected)
		}
	}
	update := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Every replica adds and puts: nothing is replaced, nothing pending.
	const n = 10
	for i := range 3 * n {
		id := ids[i%3]
		k := fmt.Sprintf("k%02d", i)
		update(sets[id].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(k), nil }))
		update(kvs[id].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, "v"), nil }))
	}
	rounds(3)
	snapshots()
	rounds(12)
	for _, id := range ids {
		want(id, 0, 0, "adds and puts")
	}

	// ap-south-1 goes away; us-east-1 removes n elements and deletes n
	// keys, which reach eu-west-1 only.
	net.Partition("ap-south-1", "us-east-1")
	net.Partition("ap-south-1", "eu-west-1")
	for i := range n {
		k := fmt.Sprintf("k%02d", i)
		update(sets["us-east-1"].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(k), nil }))
		update(kvs["us-east-1"].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Delete(k), nil }))
	}
	want("us-east-1", 2*n, 0, "deletes made")
	snapshots() // a persistent replica ships only what it saved
	rounds(3)
	want("eu-west-1", 2*n, 0, "deletes received")
	want("ap-south-1", 0, 0, "partitioned away")
	// Saved snapshots and anti-entropy rounds: nothing is collected while
	// a replica has not seen the deletes.
	snapshots()
	rounds(20)
	want("us-east-1", 2*n, 0, "a peer away")
	want("eu-west-1", 2*n, 0, "a peer away")

	// It comes back and takes the deletes in. The others have them in
	// saved snapshots, but it has not saved them: a crash would take them
	// back from it, so neither it nor the others collect them until it has
	// saved them too.
	net.HealAll()
	rounds(12)
	want("ap-south-1", 2*n, 0, "deletes caught up, not saved")
	want("us-east-1", 2*n, 0, "the peer back has not saved the deletes")
	want("eu-west-1", 2*n, 0, "the peer back has not saved the deletes")
	snapshots()
	rounds(20)
	for _, id := range ids {
		want(id, 0, 2*n, "every replica saved the deletes")
	}
}
