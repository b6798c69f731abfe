package crdt_test

import (
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
)

// TestAccidentExpiredKeyStaysGoneAfterOlderBackup: a key of an LWW-map is
// put, then expired (or deleted) by one region; every region collects it
// once its expiry has passed; then a region, the one that expired it or
// another, is restored from a backup taken before the expire, which holds
// the key live. The key must not come back anywhere.
func TestAccidentExpiredKeyStaysGoneAfterOlderBackup(t *testing.T) {
	for _, restored := range []crdt.ReplicaID{"r0", "r1"} {
		for _, del := range []bool{false, true} {
			expiredKeyAfterOlderBackup(t, restored, del)
		}
	}
}

func expiredKeyAfterOlderBackup(t *testing.T, restored crdt.ReplicaID, del bool) {
	c := newCluster(t, 5, 3, nil)
	c.older, c.orset = true, true
	for _, id := range c.ids {
		c.crash(id)
		c.nodes[id].saved = nil
		c.start(id, nil, nil)
	}
	update := func(id crdt.ReplicaID, f func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]) {
		t.Helper()
		if err := c.nodes[id].tm.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return f(m), nil }); err != nil {
			t.Fatal(err)
		}
		c.persist(id)
	}
	keys := func(id crdt.ReplicaID) []string {
		var out []string
		c.nodes[id].tm.Read(func(m *lwwmap.Map[string, string]) { out = slices.Sorted(m.Keys()) })
		return out
	}
	rounds := func(n int) {
		for range n {
			c.round()
		}
	}
	update("r0", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put("k", "v") })
	rounds(100)
	c.persist(restored)
	backup := disk{c.nodes[restored].snap, c.nodes[restored].journal}
	update("r0", func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] {
		if del {
			return m.Delete("k")
		}
		return m.Expire("k", time.Minute)
	})
	rounds(100)
	// Past the expiry, a write at every region lets them collect the key.
	c.now.Add(int64(2 * time.Minute))
	for _, id := range c.ids {
		k := "late-" + string(id)
		update(id, func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Put(k, k) })
	}
	rounds(300)
	for _, id := range c.ids {
		c.persist(id) // durable at every region: it may collect
	}
	rounds(100)
	for _, id := range c.ids {
		var pending, collected uint64
		c.nodes[id].tm.Read(func(m *lwwmap.Map[string, string]) { pending, collected = m.Garbage() })
		if pending != 0 || collected == 0 {
			t.Fatalf("%s: %d pending, %d collected: the key was not collected", id, pending, collected)
		}
	}
	c.crash(restored)
	c.nodes[restored].snap, c.nodes[restored].journal = backup.snap, backup.journal
	c.restart(restored)
	if !slices.Contains(keys(restored), "k") {
		t.Fatalf("the backup of %s does not hold the key live: %v", restored, keys(restored))
	}
	rounds(300)
	want := []string{"late-r0", "late-r1", "late-r2"}
	for _, id := range c.ids {
		if got := keys(id); !slices.Equal(got, want) {
			t.Fatalf("restored %s (delete %v): %s holds %v, want %v", restored, del, id, got, want)
		}
	}
	if d := divergences(c); d != 0 {
		t.Fatalf("%d divergences counted", d)
	}
}
