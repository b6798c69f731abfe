package crdt_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
)

// TestRestoreOlderBackupAfterCollection: a region comes back from a backup
// older than the durable version its peer collected delete markers with.
// The backup holds a key the peer has since deleted and forgotten the
// marker of; the peer's catch-up must remove it. A delta since the
// backup's version holds neither the marker nor the dot of the key's
// write, so the key used to come back, at the peer's version, with nothing
// pending, and stayed without anti-entropy rounds.
func TestRestoreOlderBackupAfterCollection(t *testing.T) {
	var now int64 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	net := memnet.New(3)
	ids := []crdt.ReplicaID{"a", "b"}
	type node struct {
		r  *crdt.Replica
		kv *crdt.Handle[*lwwmap.Map[string, string]]
	}
	nodes := map[crdt.ReplicaID]*node{}
	start := func(id crdt.ReplicaID, snap []byte, antiEntropy int) *node {
		clk := clock.New(clock.WithSource(func() int64 { return now }))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: antiEntropy})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{r: r}
		n.kv, _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
		for _, p := range ids {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		if snap != nil {
			if err := r.Restore(snap); err != nil {
				t.Fatal(err)
			}
		}
		nodes[id] = n
		net.Attach(id, r)
		return n
	}
	save := func(n *node) []byte {
		var out []byte
		if err := n.r.SaveSnapshot(func(b []byte) error { out = b; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	content := func(n *node) map[string]string {
		var out map[string]string
		n.kv.Read(func(m *lwwmap.Map[string, string]) { out = maps.Collect(m.All()) })
		return out
	}
	round := func() {
		for _, id := range ids {
			_ = nodes[id].r.Tick(context.Background())
		}
		net.DeliverAll(context.Background())
		now += int64(10 * time.Millisecond)
	}
	update := func(n *node, f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
		t.Helper()
		if err := n.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
		save(n)
	}
	// settle runs rounds until nothing is pending anywhere; it fails if
	// the regions differ then.
	settle := func(what string) {
		t.Helper()
		for range 300 {
			busy := net.Pending() != 0
			for _, id := range ids {
				for _, p := range nodes[id].r.Stats().Peers {
					if p.PendingOps != 0 || p.AwaitingCatchUp {
						busy = true
					}
				}
			}
			if !busy {
				if a, b := content(nodes["a"]), content(nodes["b"]); !maps.Equal(a, b) {
					t.Fatalf("%s: a holds %v, b holds %v, with nothing pending", what, a, b)
				}
				return
			}
			round()
		}
		t.Fatalf("%s: still busy after 300 rounds", what)
	}

	a, b := start("a", nil, 2), start("b", nil, 2)
	save(a)
	save(b)
	update(a, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	settle("put")
	backup := save(b) // holds k
	update(a, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Delete("k") })
	settle("delete")
	save(b)
	// Anti-entropy rounds carry the durable versions: both collect.
	for i := 0; ; i++ {
		if i == 300 {
			t.Fatal("the delete marker was never collected")
		}
		round()
		var pendA, pendB uint64
		nodes["a"].kv.Read(func(m *lwwmap.Map[string, string]) { pendA, _ = m.Garbage() })
		nodes["b"].kv.Read(func(m *lwwmap.Map[string, string]) { pendB, _ = m.Garbage() })
		if pendA == 0 && pendB == 0 {
			break
		}
	}
	// b comes back from the backup, with no anti-entropy rounds after.
	start("b", backup, -1)
	if got := content(nodes["b"]); got["k"] != "v" {
		t.Fatalf("the backup holds %v, want k", got)
	}
	settle("restore of b from the backup")
	if got := content(nodes["b"]); len(got) != 0 {
		t.Fatalf("b holds %v after the restore; k was deleted", got)
	}
}
