package crdt_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// A set or map holding one element larger than a message to a peer
// cannot be cut into parts for it: the catch-up state fails, and is
// counted (StatesFailed). The failure was counted besides as a message of
// the peer's refused as malformed ("the peer's version is bad"), though
// the peer sent nothing wrong: an operator reading Refused blamed it.
func TestUncuttableElementDoesNotBlameThePeer(t *testing.T) {
	net := memnet.New(7)
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var sets []*crdt.Handle[*orset.Set[string]]
	var maps []*crdt.Handle[*lwwmap.Map[string, string]]
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			t.Fatal(err)
		}
		s, err := crdt.Register(r, "set", orset.New[string](id))
		if err != nil {
			t.Fatal(err)
		}
		m, err := crdt.Register(r, "map", lwwmap.New[string, string](id, r.Clock()))
		if err != nil {
			t.Fatal(err)
		}
		rs, sets, maps = append(rs, r), append(sets, s), append(maps, m)
	}
	for i, r := range rs {
		_ = r.AddPeer(ids[1-i])
		net.Attach(ids[i], r)
	}
	huge := strings.Repeat("x", 3*crdt.MinMessageBytes)
	ctx := context.Background()
	round := func() {
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	// Both replicas hold something first, so that catch-ups go as deltas
	// from the peer's version.
	for i := range 2 {
		_ = sets[i].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(fmt.Sprintf("small-%d", i)), nil })
	}
	for range 20 {
		round()
	}
	if err := sets[0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(huge), nil }); err != nil {
		t.Fatal(err)
	}
	if err := maps[0].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put("k", huge), nil }); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		round()
	}
	ps := rs[0].Stats().Peers[0]
	if ps.StatesFailed == 0 {
		t.Fatalf("StatesFailed 0: want the states that could not be cut counted")
	}
	if len(ps.Refused) != 0 {
		t.Fatalf("refused %v from %s, which sent nothing wrong (StatesFailed %d)", ps.Refused, ps.Peer, ps.StatesFailed)
	}
}
