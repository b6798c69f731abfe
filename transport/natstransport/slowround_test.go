package natstransport_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"pgregory.net/rapid"
)

// slowRound is a round in which the replicas in slow take in nothing
// until every message sent to them during it reached their clients: the
// client holds what its pending limits allow and drops the rest, as for
// a replica whose host stalled.
func (c *cluster) slowRound(slow []*node) {
	c.t.Helper()
	holds := make([]chan struct{}, len(slow))
	for i, n := range slow {
		holds[i] = make(chan struct{})
		n.hold.Store(&holds[i])
	}
	for _, n := range c.nodes {
		_ = n.r.Tick(context.Background())
	}
	c.flush()
	for _, n := range slow {
		// The server answers this PING after it passed on every message
		// above; the client reads the answer after it took them in.
		if err := n.c.nc.FlushTimeout(patience); err != nil {
			c.t.Fatalf("flush: %v", err)
		}
	}
	for i, n := range slow {
		n.hold.Store(nil)
		close(holds[i])
	}
	c.marks(slow)
}

// serialRound ticks the replicas one at a time, each once every message
// the one before sent was handed on, so that a slow replica's client
// drops only what one replica sends it at once past its pending limits.
func (c *cluster) serialRound(slow []*node) {
	c.t.Helper()
	for _, n := range c.nodes {
		_ = n.r.Tick(context.Background())
		c.flush()
		c.marks(slow)
	}
}

// marks waits until every message the server holds for the replicas was
// handed on, as barriers does; but a barrier may find a slow replica's
// queue still full, and be dropped. So each barrier names the attempt it
// belongs to, and goes again under a new name until the slow replicas'
// clients took every barrier of an attempt in without dropping one.
func (c *cluster) marks(slow []*node) {
	c.t.Helper()
	c.attempt++
	for try := 0; ; try++ {
		if try == 1000 {
			c.t.Fatalf("the barriers were dropped %d times", try)
		}
		dropped := make([]uint64, len(slow))
		for i, n := range slow {
			dropped[i] = n.t.Stats().SlowConsumer
		}
		k := fmt.Sprintf("%d.%d", c.attempt, try)
		for _, n := range c.nodes {
			if err := c.barrier.nc.Publish(c.prefix+"."+string(n.id)+"."+barrierID, []byte("d"+k)); err != nil {
				c.t.Fatalf("barrier: %v", err)
			}
		}
		if err := c.barrier.nc.Publish(c.prefix+"."+natstransport.GroupToken+"."+barrierID, []byte("g"+k)); err != nil {
			c.t.Fatalf("barrier: %v", err)
		}
		if err := c.barrier.nc.FlushTimeout(patience); err != nil {
			c.t.Fatalf("barrier flush: %v", err)
		}
		lost := false
		for i, n := range slow {
			if err := n.c.nc.FlushTimeout(patience); err != nil {
				c.t.Fatalf("flush: %v", err)
			}
			lost = lost || n.t.Stats().SlowConsumer != dropped[i]
		}
		if lost {
			continue
		}
		for _, n := range c.nodes {
			for seen := 0; seen < 2; {
				if m := await(c.t, n.marks, "a barrier"); m == "d"+k || m == "g"+k {
					seen++ // each comes once
				}
			}
		}
		return
	}
}

// TestConvergenceThroughASlowConsumer runs the convergence property with
// one replica that falls behind in every round: its NATS client holds at
// most a few messages for it on each subscription, or in half the cases
// at most 8 KiB (which the replica's MaxMessageBytes names to its peers),
// and drops the others (Stats.SlowConsumer). The engine sends again what
// was dropped, so the replicas still reach the model's state within a
// bounded number of rounds, with every round as slow as the others, and
// nothing refused. In half the cases the server's max_payload is 4 KiB and
// states are large, so that catch-ups go in many chunks, most of them
// dropped.
func TestConvergenceThroughASlowConsumer(t *testing.T) {
	var dropped, cases uint64
	var mostQuiet int
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		pending := rapid.IntRange(1, 3).Draw(rt, "maxPending")
		small := rapid.Bool().Draw(rt, "smallPayload")
		var opts *server.Options
		var cfg func(*crdt.Config)
		m := newModel()
		if small {
			opts = &server.Options{MaxPayload: 4 << 10}
			cfg = func(c *crdt.Config) { c.MaxLogOps = 2 }
			m.pad = "/" + strings.Repeat("x", 700)
		}
		byBytes := rapid.Bool().Draw(rt, "byBytes")
		c := newClusterWith(rt, n, opts, cfg, func(tc *natstransport.Config) {
			switch {
			case tc.ID != "r0":
			case byBytes:
				tc.MaxPendingBytes = 8 << 10
			default:
				tc.MaxPending = pending
			}
		})
		defer c.close()
		slow := c.nodes[:1]
		for range steps {
			if rapid.Bool().Draw(rt, "round") {
				c.slowRound(slow)
				continue
			}
			change(rt, c.nodes[rapid.IntRange(0, n-1).Draw(rt, "replica")], m)
		}
		const limit = 60
		var diff string
		for i := 0; ; i++ {
			diff = ""
			for _, nd := range c.nodes {
				if diff = m.differs(nd); diff != "" {
					break
				}
			}
			if diff == "" {
				break
			}
			if i == limit {
				rt.Fatalf("no convergence after %d slow rounds (%d messages dropped): %s", limit, c.nodes[0].t.Stats().SlowConsumer, diff)
			}
			c.slowRound(slow)
		}
		dropped += c.nodes[0].t.Stats().SlowConsumer
		// The figures fall back to nothing once the last catch-up asked
		// for is confirmed. A replica asks again every 4*RetransmitTicks
		// (12) rounds, and the slow client may drop the ask, the digest
		// answering it, the catch-up or its acknowledgement, each costing
		// one more wait; so quiet rounds go on until the figures settle,
		// up to ten such waits.
		quiet := 0
		for ; quiet < 120 && (quiet < 15 || c.settled() != ""); quiet++ {
			c.serialRound(slow)
		}
		if why := c.settled(); why != "" {
			rt.Fatalf("the replicas converged, but after %d quiet rounds their figures still say otherwise: %s", quiet, why)
		}
		mostQuiet = max(mostQuiet, quiet)
		cases++
		for _, nd := range c.nodes {
			for _, p := range nd.r.Stats().Peers {
				for reason, k := range p.Refused {
					if reason != crdt.ReasonUnseen {
						rt.Fatalf("%s: %d messages from %s refused as %s (the last error: %v)", nd.id, k, p.Peer, reason, nd.receiveError())
					}
				}
			}
		}
	})
	if dropped == 0 {
		t.Errorf("the slow replica dropped nothing in %d cases", cases)
	}
	t.Logf("%d messages dropped in %d cases; the figures settled within %d quiet rounds", dropped, cases, mostQuiet)
}

// settled reports a figure of the replicas' Stats that still says they
// differ, or "", once they hold the same and a few quiet rounds passed.
func (c *cluster) settled() string {
	for _, n := range c.nodes {
		s := n.r.Stats()
		if s.Uncompared != 0 || s.Equivocations != 0 {
			return fmt.Sprintf("%s: %d objects uncompared, %d equivocations", n.id, s.Uncompared, s.Equivocations)
		}
		for _, p := range s.Peers {
			if p.PendingOps != 0 || p.Lag != 0 || p.CatchingUp || p.AwaitingCatchUp || p.CatchUpChunksLeft != 0 ||
				p.IncomingChunksLeft != 0 || p.Divergences != 0 {
				return fmt.Sprintf("%s: %+v", n.id, p)
			}
		}
	}
	return ""
}
