package crdt_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/register"
)

// Accident: the host's clock is stepped back across a restart (an NTP
// correction, a VM restored on another host). Restore and Replay used to
// run the replica's own saved timestamps through the skew guard meant for
// peers, and refused its own journal. They take the replica's own data
// whatever the clock says now.
func TestAccidentClockSteppedBackOwnJournalReplays(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	start := func() (*crdt.Replica, *crdt.Handle[*register.LWW[string]]) {
		clk := clock.New(clock.WithSource(now.Load))
		r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		h, err := crdt.Register(r, "title", register.NewLWW[string]("r0", clk))
		if err != nil {
			t.Fatal(err)
		}
		_ = r.AddPeer("r1")
		return r, h
	}
	set := func(h *crdt.Handle[*register.LWW[string]], v string) {
		if err := h.Update(func(l *register.LWW[string]) (crdt.Op, error) { return l.Set(v), nil }); err != nil {
			t.Fatal(err)
		}
	}
	r, h := start()
	disk := &store{}
	set(h, "first")
	if err := r.SaveSnapshot(disk.saveSnapshot); err != nil {
		t.Fatal(err)
	}
	set(h, "second")
	if err := r.SaveOps(disk.appendRecord); err != nil {
		t.Fatal(err)
	}

	now.Add(-int64(2 * time.Hour)) // crash; the clock comes back two hours earlier
	r, h = start()
	if err := r.Restore(disk.snap); err != nil {
		t.Fatal(err)
	}
	for _, rec := range disk.journal {
		if err := r.Replay(rec); err != nil {
			t.Fatalf("Replay of the replica's own record after the clock stepped back: %v", err)
		}
	}
	var got string
	h.Read(func(l *register.LWW[string]) { got, _ = l.Get() })
	if got != "second" {
		t.Fatalf("restored %q, want %q", got, "second")
	}
	// A write made now still orders after everything restored.
	set(h, "third")
	h.Read(func(l *register.LWW[string]) { got, _ = l.Get() })
	if got != "third" {
		t.Fatalf("a write after the restart lost to restored data: %q", got)
	}
}

// Accident: a replica restarts normally, journals writes under its new
// incarnation, crashes, and comes back with a clock stepped back to before
// that restart. Its incarnation used to come from the clock (Replay ignored
// the incarnation of journal records), so it came back under an incarnation
// lower than the one its peers had seen, and they refused it as stale for
// good. Replay now raises the incarnation past every record it replays.
func TestAccidentClockSteppedBackNotStale(t *testing.T) {
	var offset atomic.Int64
	c := newCluster(t, 17, 2, nil)
	c.journal = true
	c.cfg = func(cfg *crdt.Config) {
		if cfg.ID == "r0" {
			cfg.Clock = clock.New(clock.WithSource(func() int64 { return c.now.Load() + offset.Load() }))
		}
	}
	c.crash("r0")
	c.restart("r0") // r0 now persists under its own clock
	c.add("r0", "x")
	c.settle([]string{"x"}, 50)

	// A restart later by r0's clock (within the clocks' maximum offset, so
	// that its incarnation is plausible to r1).
	offset.Store(int64(400 * time.Millisecond))
	c.crash("r0")
	c.restart("r0")
	c.add("r0", "y")
	c.settle([]string{"x", "y"}, 50)

	offset.Store(int64(200 * time.Millisecond)) // the clock is stepped back
	c.crash("r0")
	c.restart("r0")
	c.add("r0", "z")
	c.settle([]string{"x", "y", "z"}, 100)
	if n := refusals(c.nodes["r1"].r)[crdt.ReasonStale]; n != 0 {
		t.Fatalf("r1 refused %d messages of r0 as stale", n)
	}
}

// Accident: a region restarts with an empty disk under its old name (a
// container without its volume) and writes before it hears from its peer.
// Its first write used to reuse the identity (dot) of a write its peer
// already held, so the peer ignored it, and a catch-up from the restarted
// region's version sent nothing: the replicas diverged for good while every
// figure read zero. Now the restarted run writes under a writer of its own,
// and the two converge with no divergence at all.
func TestAccidentEmptyDiskUnderOldName(t *testing.T) {
	c := newCluster(t, 23, 2, nil)
	c.add("r0", "x")
	c.settle([]string{"x"}, 50)
	c.crash("r0")
	c.start("r0", nil, nil) // the data directory is gone
	c.add("r0", "y")
	c.settle([]string{"x", "y"}, 200)
	if d := divergences(c); d != 0 {
		t.Fatalf("%d divergences counted; the runs wrote under different writers", d)
	}
}

// The same accident with a type that ignores the replica's writer (a
// user's type that writes under the bare replica ID): the restarted run
// reuses a dot, and the versions agree while the contents differ. The
// fingerprints in the digests see it: the divergence is counted, and the
// object's whole state is sent, which heals it for a type whose merge can
// (this one's can).
func TestAccidentEmptyDiskUnderOldNameSeenByFingerprints(t *testing.T) {
	c := newCluster(t, 23, 2, nil)
	c.legacy = true
	for _, id := range c.ids {
		c.crash(id)
		c.start(id, nil, nil)
	}
	c.add("r0", "x")
	c.settle([]string{"x"}, 50)
	c.crash("r0")
	c.start("r0", nil, nil)
	c.add("r0", "y")
	c.settle([]string{"x", "y"}, 200)
	if divergences(c) == 0 {
		t.Fatal("the replicas diverged and converged again, but no divergence was counted")
	}
}

func divergences(c *cluster) uint64 {
	var n uint64
	for _, id := range c.ids {
		for _, p := range c.nodes[id].r.Stats().Peers {
			n += p.Divergences
		}
	}
	return n
}

// Every run of a replica writes under a writer of its own: its ID and an
// epoch drawn at the start.
func TestEveryRunHasItsOwnWriter(t *testing.T) {
	seen := map[crdt.ReplicaID]bool{}
	for range 100 {
		r, err := crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: &recorder{}})
		if err != nil {
			t.Fatal(err)
		}
		w := r.Writer()
		if w.Name() != "us-east-1" || seen[w] {
			t.Fatalf("writer %q: name %q, seen before %v", w, w.Name(), seen[w])
		}
		if _, ok := w.Epoch(); !ok {
			t.Fatalf("writer %q has no epoch", w)
		}
		seen[w] = true
	}
	for _, bad := range []crdt.ReplicaID{"", "us east", "a!b"} {
		if _, err := crdt.NewReplica(crdt.Config{ID: bad, Transport: &recorder{}}); !errors.Is(err, crdt.ErrConfig) {
			t.Errorf("NewReplica with ID %q: %v, want ErrConfig", bad, err)
		}
	}
}

// The restart order is NewReplica, Register, AddPeer, Restore, Replay; a
// step out of order is refused with a clear error.
func TestRestartOrderEnforced(t *testing.T) {
	c := newCluster(t, 5, 2, nil)
	c.add("r0", "x")
	snap := c.nodes["r0"].snap
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crdt.Register(r, "s", newGSet("r0")); err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if _, err := crdt.Register(r, "late", newGSet("r0")); !errors.Is(err, crdt.ErrConfig) {
		t.Fatalf("Register after Restore = %v, want ErrConfig", err)
	}
	if err := r.Restore(snap); !errors.Is(err, crdt.ErrNotFresh) {
		t.Fatalf("a second Restore = %v, want ErrNotFresh", err)
	}
	r2, _ := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	_, _ = crdt.Register(r2, "s", newGSet("r0"))
	_ = r2.Tick(context.Background())
	if err := r2.Restore(snap); !errors.Is(err, crdt.ErrNotFresh) {
		t.Fatalf("Restore after a tick = %v, want ErrNotFresh", err)
	}
}
