package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
)

// TestDeleteMarkersCollected: once every replica's durable version (that of
// its last saved snapshot) covers the deletes, the engine has every lwwmap drop
// its delete markers, so the state shrinks back instead of growing with
// every key ever deleted.
func TestDeleteMarkersCollected(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(1)
	ctx := context.Background()
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1", "ap-south-1"}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	maps := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{}
	for _, id := range ids {
		clk := clock.New(clock.WithSource(now.Load))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		maps[id], _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
		for _, p := range ids {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		net.Attach(id, r)
		reps[id] = r
	}
	size := func(id crdt.ReplicaID) (n, keys int) {
		maps[id].Read(func(m *lwwmap.Map[string, string]) {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			n, keys = len(b), m.Len()
		})
		return n, keys
	}
	// snapshots saves a snapshot of every replica, as a host that
	// persists its state does; if saving fails (err), nothing new is
	// durable.
	snapshots := func(err error) {
		for _, id := range ids {
			got := reps[id].SaveSnapshot(func([]byte) error { return err })
			if !errors.Is(got, err) {
				t.Fatalf("SaveSnapshot = %v, want %v", got, err)
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

	snapshots(nil)
	for i := range 40 {
		k := fmt.Sprintf("key-%02d", i)
		writer := maps[ids[i%3]]
		_ = writer.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, "v"), nil })
		_ = writer.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Delete(k), nil })
	}
	// Each replica saves its own writes, which lets them leave; no replica
	// has saved the others' deletes yet.
	snapshots(nil)
	rounds(3) // the deletes have spread, but are durable only where made
	withMarkers, keys := size("us-east-1")
	if keys != 0 {
		t.Fatalf("%d keys left after deleting all", keys)
	}
	rounds(20) // anti-entropy rounds: versions known, but not durable ones
	if n, _ := size("us-east-1"); n != withMarkers {
		t.Fatalf("markers collected before any replica persisted the deletes: %d bytes, was %d", n, withMarkers)
	}
	// Snapshots taken but not stored (a copy, a failed save) make nothing
	// durable either.
	for _, id := range ids {
		if _, err := reps[id].Snapshot(); err != nil {
			t.Fatal(err)
		}
	}
	snapshots(errors.New("disk full"))
	rounds(20)
	if n, _ := size("us-east-1"); n != withMarkers {
		t.Fatalf("markers collected after snapshots that were not saved: %d bytes, was %d", n, withMarkers)
	}
	snapshots(nil)
	rounds(20)
	for _, id := range ids {
		n, keys := size(id)
		if keys != 0 || n > withMarkers/4 {
			t.Fatalf("%s: %d keys, state %d bytes; with markers it was %d bytes: markers not collected", id, keys, n, withMarkers)
		}
	}
}
