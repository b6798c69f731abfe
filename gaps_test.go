package crdt_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// A replica holding a write received past a gap (a writer's second add
// without its first, as after a restart from an older snapshot) has the
// version of a replica that holds neither: versions count only what came
// without gaps. Their content differs, yet they have not diverged. The
// engine used to compare their fingerprints at that one version and count
// a divergence (and log "replicas diverged") where there was none, so that
// Divergences, the figure meant to reveal real divergence, rose under
// ordinary restarts.
func TestGapIsNoDivergence(t *testing.T) {
	ctx := context.Background()
	// w's two adds; b takes only the second.
	w := orset.New[string]("w")
	w.Add("x")
	second := w.Add("y")
	net := memnet.New(1)
	var now int64 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano()
	ids := []crdt.ReplicaID{"b", "c"}
	rs := map[crdt.ReplicaID]*crdt.Replica{}
	sets := map[crdt.ReplicaID]*crdt.Handle[*orset.Set[string]]{}
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id),
			Clock: clock.New(clock.WithSource(func() int64 { return now })), AntiEntropyTicks: 2})
		if err != nil {
			t.Fatal(err)
		}
		s := orset.New[string](id)
		if id == "b" {
			if err := s.Apply(second); err != nil {
				t.Fatal(err)
			}
		}
		if sets[id], err = crdt.Register(r, "set", s); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		rs[id] = r
		net.Attach(id, r)
	}
	elems := func(id crdt.ReplicaID) (out []string) {
		sets[id].Read(func(s *orset.Set[string]) { out = slices.Sorted(s.All()) })
		return out
	}
	// b holds w's second add without its first: a gap, which Stats shows.
	if b, c := rs["b"].Stats().Uncompared, rs["c"].Stats().Uncompared; b != 1 || c != 0 {
		t.Fatalf("Uncompared before replicating: b %d, c %d; want 1 and 0", b, c)
	}
	for range 20 {
		for _, id := range ids {
			_ = rs[id].Tick(ctx)
		}
		net.DeliverAll(ctx)
		now += int64(time.Millisecond)
	}
	for _, id := range ids {
		if got := elems(id); !slices.Equal(got, []string{"y"}) {
			t.Fatalf("%s holds %v, want [y]", id, got)
		}
		if n := rs[id].Stats().Uncompared; n != 1 {
			t.Fatalf("%s: Uncompared %d, want 1: its set holds a write past a gap", id, n)
		}
		for _, p := range rs[id].Stats().Peers {
			if p.Divergences != 0 {
				t.Fatalf("%s counted %d divergences from %s, which differed only by a write past a gap", id, p.Divergences, p.Peer)
			}
		}
	}
}
