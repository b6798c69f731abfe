package crdt_test

import (
	"context"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
)

// forgedNet is a few honest replicas over a memnet network, each holding
// one object of type O under one name, all peers of each other and of
// "evil": a peer no replica runs, whose messages the test forges (see
// forgedNet.forge).
type forgedNet[O crdt.Object] struct {
	t   failer
	net *memnet.Network
	ids []crdt.ReplicaID
	r   map[crdt.ReplicaID]*crdt.Replica
	h   map[crdt.ReplicaID]*crdt.Handle[O]
	obj string // the object's name
}

// newForgedNet starts a replica for each of ids on a network of seed 1:
// start gives its Config (its ID and Transport are set here) and the
// object it registers as obj.
func newForgedNet[O crdt.Object](t failer, ids []crdt.ReplicaID, obj string, start func(crdt.ReplicaID) (crdt.Config, O)) *forgedNet[O] {
	t.Helper()
	g := &forgedNet[O]{t: t, net: memnet.New(1), ids: ids, obj: obj,
		r: map[crdt.ReplicaID]*crdt.Replica{}, h: map[crdt.ReplicaID]*crdt.Handle[O]{}}
	for _, id := range ids {
		cfg, o := start(id)
		cfg.ID, cfg.Transport = id, g.net.Transport(id)
		r, err := crdt.NewReplica(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if g.h[id], err = crdt.Register(r, obj, o); err != nil {
			t.Fatal(err)
		}
		for _, p := range append(ids[:len(ids):len(ids)], "evil") {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		g.r[id] = r
		g.net.Attach(id, r)
	}
	return g
}

// rounds ticks every replica and delivers every message, k times over.
func (g *forgedNet[O]) rounds(k int) {
	ctx := context.Background()
	for range k {
		for _, id := range g.ids {
			_ = g.r[id].Tick(ctx)
		}
		g.net.DeliverAll(ctx)
	}
}

// forge sends the replica to a message of evil's first incarnation
// carrying ops, encoded ops of the object under writer w, sequence
// numbers from seq on, and returns what Receive returned.
func (g *forgedNet[O]) forge(to, w crdt.ReplicaID, seq uint64, ops ...[]byte) error {
	g.t.Helper()
	f := crdt.Forgery{From: "evil", To: to, Incarnation: 1, FirstSeq: seq, Writer: w}
	for _, b := range ops {
		f.Ops = append(f.Ops, crdt.ForgedEntry{Object: g.obj, Bytes: b})
	}
	msg, err := crdt.Forge(f)
	if err != nil {
		g.t.Fatal(err)
	}
	return g.r[to].Receive(context.Background(), "evil", msg)
}

// divergences returns the divergences the replicas counted, summed over
// them and their peers.
func (g *forgedNet[O]) divergences() (n uint64) {
	for _, id := range g.ids {
		for _, p := range g.r[id].Stats().Peers {
			n += p.Divergences
		}
	}
	return n
}
