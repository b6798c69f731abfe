package crdt_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
)

// TestManyObjectsThroughSmallMessages has a replica with many objects
// catch a new peer up through the smallest messages allowed: the digests
// go in parts and the catch-up in chunks, no message is over the limit,
// and the peer ends up with everything.
func TestManyObjectsThroughSmallMessages(t *testing.T) {
	const objects = 120
	net := memnet.New(7)
	net.Loss = 0.1
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var hs [][]*crdt.Handle[*gset]
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			t.Fatal(err)
		}
		var own []*crdt.Handle[*gset]
		for j := range objects {
			h, err := crdt.Register(r, fmt.Sprintf("object-%03d", j), newGSet(id))
			if err != nil {
				t.Fatal(err)
			}
			own = append(own, h)
		}
		if i == 0 {
			for _, h := range own {
				_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add("an element of some length"), nil })
			}
		}
		rs, hs = append(rs, r), append(hs, own)
	}
	for i, r := range rs {
		_ = r.AddPeer(ids[1-i])
		net.Attach(ids[i], r)
	}
	ctx := context.Background()
	done := func() bool {
		for _, h := range hs[1] {
			n := 0
			h.Read(func(s *gset) { n = len(s.elems) })
			if n != 1 {
				return false
			}
		}
		return true
	}
	for round := 0; !done(); round++ {
		if round == 500 {
			t.Fatalf("not caught up after %d rounds: %+v", round, rs[0].Stats().Peers[0])
		}
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	if got := net.Stats().Largest; got > crdt.MinMessageBytes {
		t.Fatalf("a message of %d bytes; the limit is %d", got, crdt.MinMessageBytes)
	}
	if s := rs[0].Stats().Peers[0]; s.ChunksSent == 0 {
		t.Fatalf("the catch-up went without chunks: %+v", s)
	}
}
