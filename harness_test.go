package crdt_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
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

// twoProcNode is a node of a test of two processes under one replica ID
// "a" (a copied disk started twice) and a replica "b": a replica with
// objects of a few types (allNode, countNode, stockNode).
type twoProcNode interface {
	replica() *crdt.Replica
	// names reports whether the node's objects name writer w.
	names(w vclock.ReplicaID) bool
}

// runUntilRetired runs rounds of ns, one at a time, until b no longer
// names w, and fails t if it still does after 3000. rounds is the
// test's roundsOf.
func runUntilRetired[N twoProcNode](t *testing.T, rounds func(int, ...N), b N, w vclock.ReplicaID, ns ...N) {
	t.Helper()
	for i := 0; b.names(w); i++ {
		if i == 3000 {
			t.Fatalf("%s not retired", w)
		}
		rounds(1, ns...)
	}
}

// takeTurns lets the two processes x and y under "a" run in turn with b,
// k times over: the network routes "a" to x for a round of x and b, then
// to y for a round of y and b.
func takeTurns[N twoProcNode](net *memnet.Network, rounds func(int, ...N), k int, x, y, b N) {
	for range k {
		net.Attach("a", x.replica())
		rounds(1, x, b)
		net.Attach("a", y.replica())
		rounds(1, y, b)
	}
}

// hostileNet is the network of an adversarial property: a memnet network
// of drawn seed and loss, on which the regions' clocks read now, and the
// largest message drawn: small messages, plain, make whole states (a
// catch-up, a heal) go in parts once the objects pass 1 KiB.
type hostileNet struct {
	net                   *memnet.Network
	now                   *atomic.Int64
	maxMsg, compressAbove int
}

// drawHostileNet draws a hostileNet whose clocks start at start.
func drawHostileNet(rt *rapid.T, start time.Time) hostileNet {
	h := hostileNet{now: new(atomic.Int64)}
	h.now.Store(start.UnixNano())
	h.net = memnet.New(rapid.Uint64().Draw(rt, "seed"))
	h.net.Loss = rapid.Float64Range(0, 0.2).Draw(rt, "loss")
	h.maxMsg = rapid.SampledFrom([]int{crdt.MinMessageBytes, 1 << 20}).Draw(rt, "maxMessageBytes")
	if h.maxMsg < 1<<20 {
		h.compressAbove = -1
	}
	return h
}

// config returns the Config of the region id on h, with its clock, which
// reads h.now: anti-entropy every 20 ticks, h's message size.
func (h hostileNet) config(id crdt.ReplicaID) (crdt.Config, *clock.Clock) {
	clk := clock.New(clock.WithSource(h.now.Load))
	return crdt.Config{ID: id, Transport: h.net.Transport(id), Clock: clk, AntiEntropyTicks: 20,
		MaxMessageBytes: h.maxMsg, CompressAbove: h.compressAbove}, clk
}

// round ticks the replicas of ids, in order, delivers every message and
// moves the clocks 5 ms on.
func (h hostileNet) round(ids []crdt.ReplicaID, replica func(crdt.ReplicaID) *crdt.Replica) {
	for _, id := range ids {
		_ = replica(id).Tick(context.Background())
	}
	h.net.DeliverAll(context.Background())
	h.now.Add(int64(5 * time.Millisecond))
}
