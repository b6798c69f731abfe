package crdt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
)

// Accident: an object registered under a name longer than a message can
// carry (a key or a document used as a name). Register took it, updates
// succeeded, and the op never left: neither in a run of ops nor in a
// digest (which left the entry out), so the peer never had it while the
// only figure was a growing lag. Register now refuses such a name, and a
// name at the bound replicates.
func TestAccidentHugeObjectName(t *testing.T) {
	const limit = crdt.MinMessageBytes
	net := memnet.New(3)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	replica := func(id, peer crdt.ReplicaID) *crdt.Replica {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), MaxMessageBytes: limit,
			Clock: clock.New(clock.WithSource(func() int64 { return now }))})
		if err != nil {
			t.Fatal(err)
		}
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return r
	}
	a, b := replica("a", "b"), replica("b", "a")
	if _, err := crdt.Register(a, strings.Repeat("n", limit/4+1), newGSet("a")); !errors.Is(err, crdt.ErrConfig) {
		t.Fatalf("Register of a name over a quarter of a message = %v, want ErrConfig", err)
	}
	name := strings.Repeat("n", limit/4)
	ha, err := crdt.Register(a, name, newGSet("a"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := crdt.Register(b, name, newGSet("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Update(func(s *gset) (crdt.Op, error) { return s.Add("x"), nil }); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		_, _ = a.Tick(context.Background()), b.Tick(context.Background())
		net.DeliverAll(context.Background())
		now += int64(10 * time.Millisecond)
	}
	if got := elemsOf(hb); len(got) != 1 {
		t.Fatalf("b holds %v of the object named at the bound, want [x] (last error %v)", got, net.LastError())
	}
}

// Accident: a rolling deploy adds an object ("t"): for a while one region
// registers it and the other does not. The old region refuses what it
// cannot place (unknown object, counted) while the objects both have keep
// replicating both ways; once it is upgraded, restarting from its snapshot
// with "t" registered, "t" reaches it too.
func TestAccidentRollingDeployAddsAnObject(t *testing.T) {
	net := memnet.New(67)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	type region struct {
		r    *crdt.Replica
		s, t *crdt.Handle[*gset]
	}
	start := func(id, peer crdt.ReplicaID, withT bool, snap []byte) *region {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), AntiEntropyTicks: 10,
			Clock: clock.New(clock.WithSource(func() int64 { return now }))})
		if err != nil {
			t.Fatal(err)
		}
		g := &region{r: r}
		g.s, _ = crdt.Register(r, "s", newGSet(id))
		if withT {
			g.t, _ = crdt.Register(r, "t", newGSet(id))
		}
		attachRestored(t, net, r, snap, peer)
		return g
	}
	add := func(h *crdt.Handle[*gset], e string) {
		if err := h.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
	}
	newer, older := start("a", "b", true, nil), start("b", "a", false, nil)
	rounds := func(n int) {
		for range n {
			_, _ = newer.r.Tick(context.Background()), older.r.Tick(context.Background())
			net.DeliverAll(context.Background())
			now += int64(10 * time.Millisecond)
		}
	}
	add(newer.t, "t1")
	add(newer.s, "s1")
	add(older.s, "s2")
	rounds(50)
	for name, g := range map[string]*region{"a": newer, "b": older} {
		if got := elemsOf(g.s); !slices.Equal(got, []string{"s1", "s2"}) {
			t.Fatalf("%s holds %v in s while the deploy rolls, want [s1 s2]", name, got)
		}
	}
	if n := refusals(older.r)[crdt.ReasonUnknownObject]; n == 0 {
		t.Fatal("the region without t refused nothing as an unknown object")
	}
	snap, err := older.r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	older = start("b", "a", true, snap) // upgraded
	add(older.t, "t2")
	if err := older.r.SaveSnapshot(func([]byte) error { return nil }); err != nil { // as a restored host saves before it acknowledges
		t.Fatal(err)
	}
	rounds(100)
	for name, g := range map[string]*region{"a": newer, "b": older} {
		if got := elemsOf(g.t); !slices.Equal(got, []string{"t1", "t2"}) {
			t.Fatalf("%s holds %v in t after the deploy, want [t1 t2]", name, got)
		}
		if got := elemsOf(g.s); !slices.Equal(got, []string{"s1", "s2"}) {
			t.Fatalf("%s holds %v in s after the deploy, want [s1 s2]", name, got)
		}
	}
}

// Accident: the regions' peer lists disagree (r1 was never told of r2,
// while r2 and r0 list everyone). r1 refuses r2's messages (unknown peer,
// counted), r2 shows its writes waiting for r1, and r2's writes still
// reach r1 through r0: nothing diverges while the figures say what is
// wrong.
func TestAccidentPeerListsDisagree(t *testing.T) {
	c := newCluster(t, 71, 3, nil)
	c.nodes["r1"].r.RemovePeer("r2")
	c.add("r2", "from-r2")
	c.add("r1", "from-r1")
	c.add("r0", "from-r0")
	for range 200 {
		c.round()
	}
	for _, id := range c.ids {
		if got := c.elems(id); !slices.Equal(got, []string{"from-r0", "from-r1", "from-r2"}) {
			t.Fatalf("%s holds %v", id, got)
		}
	}
	if n := refusals(c.nodes["r1"].r)[crdt.ReasonUnknownPeer]; n == 0 {
		t.Fatal("r1 counted no message from r2, which it does not list")
	}
	for _, p := range c.nodes["r2"].r.Stats().Peers {
		if p.Peer == "r1" && p.PendingOps == 0 {
			t.Fatal("r2 shows nothing waiting for r1, which refuses it")
		}
	}
}
