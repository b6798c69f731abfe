package natstransport_test

import (
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/nats-io/nats-server/v2/server"
	"pgregory.net/rapid"
)

// TestConvergenceAcrossMaxPayloadChanges runs the convergence property
// while an operator restarts the NATS server several times, each time
// with another max_payload (4 KiB, 16 KiB or the 1 MiB default), so that
// catch-ups in chunks cut for one limit are under way when the limit
// falls or rises. Nothing is lost: the replicas reach the model's state,
// nothing is refused or too large for the server, and after quiet rounds
// no figure says they differ.
func TestConvergenceAcrossMaxPayloadChanges(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		payloads := []int32{4 << 10, 16 << 10, 0}
		m := newModel()
		m.pad = "/" + strings.Repeat("y", 600)
		c := newCluster(rt, n, &server.Options{MaxPayload: rapid.SampledFrom(payloads).Draw(rt, "payload")},
			func(cfg *crdt.Config) { cfg.MaxLogOps = 2 })
		defer c.close()
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for range steps {
			switch rapid.IntRange(0, 5).Draw(rt, "what") {
			case 0:
				if c.up {
					c.stopServer()
					c.srv.opts.MaxPayload = rapid.SampledFrom(payloads).Draw(rt, "payload")
				} else {
					c.startServer()
				}
			case 1, 2:
				c.round()
			default:
				change(rt, c.nodes[rapid.IntRange(0, n-1).Draw(rt, "replica")], m)
			}
		}
		if !c.up {
			c.startServer()
		}
		c.settle(m, 60)
		for range 15 {
			c.round()
		}
		if why := c.settled(); why != "" {
			rt.Fatalf("the replicas converged, but their figures still say otherwise: %s", why)
		}
		for _, nd := range c.nodes {
			for _, p := range nd.r.Stats().Peers {
				for reason, k := range p.Refused {
					if reason != crdt.ReasonUnseen {
						rt.Fatalf("%s: %d messages from %s refused as %s (the last error: %v)", nd.id, k, p.Peer, reason, nd.receiveError())
					}
				}
			}
			if s := nd.r.Stats(); s.Oversize != 0 {
				rt.Fatalf("%s: %d messages over its limit not sent", nd.id, s.Oversize)
			}
			if s := nd.t.Stats(); s.TooLarge != 0 {
				rt.Fatalf("%s: %d messages too large for the server", nd.id, s.TooLarge)
			}
		}
	})
}
