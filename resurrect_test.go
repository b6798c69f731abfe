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
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
)

// TestRestoreOlderBackupAfterCollection: a region comes back from a backup
// older than the durable version its peer collected delete markers (and
// the OR-Set and the OR-Map their records of removals) with. The backup
// holds a key, an element and a counter the peer has since deleted and
// forgotten the marker or record of; the peer's catch-up must remove them. A delta since the backup's
// version holds neither the marker nor the dot of the key's write, so the
// key used to come back, at the peer's version, with nothing pending, and
// stayed without anti-entropy rounds.
//
// The module's maps and sets also guard themselves (they record how far
// they have collected); rset, a host's collector that keeps no such
// record, is guarded by the engine alone: by its memory of the versions
// the peer reported here, and in
// TestRestoreOlderBackupAfterCollectionSenderRestarted by the restored
// replica's own versions, taken as reported by every peer. Each test fails
// on rset without its guard.
func TestRestoreOlderBackupAfterCollection(t *testing.T) {
	restoreOlderBackupAfterCollection(t, false)
}

// TestRestoreOlderBackupAfterCollectionSenderRestarted is
// TestRestoreOlderBackupAfterCollection with the collecting region
// restarted from its snapshot before the other comes back: it then holds
// nothing in memory of the versions the other reported, and the maps and
// sets must know from their own saved state that a version below their
// collection gets the whole state.
func TestRestoreOlderBackupAfterCollectionSenderRestarted(t *testing.T) {
	restoreOlderBackupAfterCollection(t, true)
}

func restoreOlderBackupAfterCollection(t *testing.T, restartSender bool) {
	var now int64 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	net := memnet.New(3)
	ids := []crdt.ReplicaID{"a", "b"}
	type node struct {
		r   *crdt.Replica
		kv  *crdt.Handle[*lwwmap.Map[string, string]]
		set *crdt.Handle[*orset.Set[string]]
		om  *crdt.Handle[*ormap.Map[string, *ormap.Counter]]
		rs  *crdt.Handle[*rset]
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
		n.set, _ = crdt.Register(r, "set", orset.New[string](id))
		n.om, _ = crdt.Register(r, "om", ormap.New[string, *ormap.Counter](id))
		n.rs, _ = crdt.Register(r, "rs", newRSet(id))
		attachRestored(t, net, r, snap, ids...)
		nodes[id] = n
		return n
	}
	save := func(n *node) []byte {
		var out []byte
		if err := n.r.SaveSnapshot(func(b []byte) error { out = b; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	// content returns the map's entries and, under "set:", the set's
	// elements.
	content := func(n *node) map[string]string {
		var out map[string]string
		n.kv.Read(func(m *lwwmap.Map[string, string]) { out = maps.Collect(m.All()) })
		n.set.Read(func(s *orset.Set[string]) {
			for e := range s.All() {
				out["set:"+e] = ""
			}
		})
		n.om.Read(func(m *ormap.Map[string, *ormap.Counter]) {
			for k := range m.Keys() {
				out["om:"+k] = ""
			}
		})
		n.rs.Read(func(s *rset) {
			for _, e := range s.Elems() {
				out["rs:"+e] = ""
			}
		})
		return out
	}
	pending := func(n *node) uint64 {
		var kv, set, om, rs uint64
		n.kv.Read(func(m *lwwmap.Map[string, string]) { kv, _ = m.Garbage() })
		n.set.Read(func(s *orset.Set[string]) { set, _ = s.Garbage() })
		n.om.Read(func(m *ormap.Map[string, *ormap.Counter]) { om, _ = m.Garbage() })
		n.rs.Read(func(s *rset) { rs, _ = s.Garbage() })
		return kv + set + om + rs
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
	setUpdate := func(n *node, f func(s *orset.Set[string]) orset.Op[string]) {
		t.Helper()
		if err := n.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return f(s), nil }); err != nil {
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
	omUpdate := func(n *node, f func(m *ormap.Map[string, *ormap.Counter]) ormap.Op) {
		t.Helper()
		if err := n.om.Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
		save(n)
	}
	rsUpdate := func(n *node, f func(s *rset) crdt.Op) {
		t.Helper()
		if err := n.rs.Update(func(s *rset) (crdt.Op, error) { return f(s), nil }); err != nil {
			t.Fatal(err)
		}
		save(n)
	}
	update(a, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	setUpdate(a, func(s *orset.Set[string]) orset.Op[string] { return s.Add("e") })
	omUpdate(a, func(m *ormap.Map[string, *ormap.Counter]) ormap.Op { return m.At("c").Add(1) })
	rsUpdate(a, func(s *rset) crdt.Op { return s.Add("x") })
	settle("put")
	backup := save(b) // holds k and e
	update(a, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Delete("k") })
	setUpdate(a, func(s *orset.Set[string]) orset.Op[string] { return s.Remove("e") })
	omUpdate(a, func(m *ormap.Map[string, *ormap.Counter]) ormap.Op { return m.Delete("c") })
	rsUpdate(a, func(s *rset) crdt.Op { return s.Remove("x") })
	settle("delete")
	save(b)
	// Anti-entropy rounds carry the durable versions: both collect.
	for i := 0; ; i++ {
		if i == 300 {
			t.Fatal("the delete marker was never collected")
		}
		round()
		if pending(nodes["a"]) == 0 && pending(nodes["b"]) == 0 {
			break
		}
	}
	if restartSender {
		start("a", save(nodes["a"]), -1)
	}
	// b comes back from the backup, with no anti-entropy rounds after.
	start("b", backup, -1)
	if got := content(nodes["b"]); len(got) != 4 {
		t.Fatalf("the backup holds %v, want k, e, c and x", got)
	}
	settle("restore of b from the backup")
	if got := content(nodes["b"]); len(got) != 0 {
		t.Fatalf("b holds %v after the restore; k and e were deleted", got)
	}
	// Once b is back at a's version, a restart from its latest snapshot
	// gets deltas again.
	full := func() uint64 {
		for _, p := range nodes["a"].r.Stats().Peers {
			if p.Peer == "b" {
				return p.FullStates
			}
		}
		t.Fatal("a has no peer b")
		return 0
	}
	before := full()
	if before == 0 && !restartSender {
		// (A restarted a knows nothing of b's earlier versions: the
		// map's and the set's own deltas are their whole states.)
		t.Fatal("a sent b no whole state after the restore")
	}
	start("b", save(nodes["b"]), -1)
	settle("restart of b")
	if after := full(); after != before {
		t.Fatalf("a sent b %d whole states after a restart from its latest snapshot", after-before)
	}
}

// TestCollectWaitsForOwnSave: a replica collects a delete marker only once
// its own saved snapshot holds it, as well as every peer's. It collected
// on its peers' durable versions alone: a whole state it sent then made a
// peer drop the marker too, and a crash took it back to a snapshot with
// the deleted key, which no replica could delete again (TestEngineModel,
// 2 regions with accidents).
func TestCollectWaitsForOwnSave(t *testing.T) {
	var now int64 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	net := memnet.New(9)
	ids := []crdt.ReplicaID{"a", "b"}
	kvs := map[crdt.ReplicaID]*crdt.Handle[*lwwmap.Map[string, string]]{}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	for _, id := range ids {
		clk := clock.New(clock.WithSource(func() int64 { return now }))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 2})
		if err != nil {
			t.Fatal(err)
		}
		kvs[id], _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
		for _, p := range ids {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		reps[id] = r
		net.Attach(id, r)
	}
	save := func(id crdt.ReplicaID) {
		if err := reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	round := func() {
		for _, id := range ids {
			_ = reps[id].Tick(context.Background())
		}
		net.DeliverAll(context.Background())
		now += int64(10 * time.Millisecond)
	}
	markers := func(id crdt.ReplicaID) uint64 {
		var n uint64
		kvs[id].Read(func(m *lwwmap.Map[string, string]) { n, _ = m.Garbage() })
		return n
	}
	write := func(f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
		t.Helper()
		if err := kvs["a"].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
		save("a")
	}
	save("a")
	save("b")
	write(func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	for range 10 {
		round()
	}
	save("b") // holds k
	write(func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Delete("k") })
	for range 30 {
		round()
	}
	if markers("b") != 1 {
		t.Fatalf("b holds %d delete markers before it saves the delete; want 1", markers("b"))
	}
	save("b")
	for range 30 {
		round()
	}
	if markers("a") != 0 || markers("b") != 0 {
		t.Fatalf("once both saved the delete, a holds %d markers, b %d; want 0", markers("a"), markers("b"))
	}
}
