package natstransport_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
	"github.com/nats-io/nats-server/v2/server"
	"pgregory.net/rapid"
)

// TestConvergenceOverNATS runs the engine's convergence property over a
// real NATS server: two or three replicas make random changes to a set,
// a map and a counter while the test drives rounds, and the server is
// stopped and started again at a random point, losing whatever was in
// flight and failing the sends made while it is down. Once the server is
// back, every replica reaches the naive model's state within a bounded
// number of rounds.
//
// In half the cases the server's max_payload is 4 KiB, the replicas' op
// logs short, and elements are long: catch-ups then go in chunks, each
// within the server's limit, whether the replicas' MaxMessageBytes is
// 2 KiB or left at its default, the transport's limit then bounding
// the messages (see Transport.MaxMessageBytes).
func TestConvergenceOverNATS(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		stopAt := rapid.IntRange(0, steps).Draw(rt, "stopAt")
		downFor := rapid.IntRange(0, 6).Draw(rt, "downFor")
		small := rapid.Bool().Draw(rt, "smallPayload")
		var opts *server.Options
		var cfg func(*crdt.Config)
		m := newModel()
		if small {
			opts = &server.Options{MaxPayload: 4 << 10}
			maxMsg := rapid.SampledFrom([]int{2 << 10, 0}).Draw(rt, "maxMessageBytes")
			cfg = func(c *crdt.Config) { c.MaxMessageBytes, c.MaxLogOps = maxMsg, 2 }
			m.pad = "/" + strings.Repeat("x", 700)
		}
		c := newCluster(rt, n, opts, cfg)
		defer c.close()

		for step := range steps {
			if step == stopAt {
				c.stopServer()
			}
			if !c.up && step >= stopAt+downFor {
				c.startServer()
			}
			if rapid.Bool().Draw(rt, "round") {
				c.round()
				continue
			}
			nd := c.nodes[rapid.IntRange(0, n-1).Draw(rt, "replica")]
			change(rt, nd, m)
		}
		if !c.up {
			c.startServer()
		}
		// After a restart the lost messages go out again after
		// RetransmitTicks (3) rounds; a few round trips more suffice.
		c.settle(m, 30)
		// And the figures that say the replicas differ fall back to
		// nothing within a few quiet rounds.
		for range 15 {
			c.round()
		}
		if why := c.settled(); why != "" {
			rt.Fatalf("the replicas converged, but their figures still say otherwise: %s", why)
		}
		for _, nd := range c.nodes {
			// The one refusal NATS may cause: an op that drops a dot of a
			// third replica that has not arrived yet (NATS orders the
			// messages of one sender only). The engine refuses it and
			// its sender sends it again (see vclock.ErrUnseen).
			unseen := uint64(0)
			for _, p := range nd.r.Stats().Peers {
				for reason, n := range p.Refused {
					if reason != crdt.ReasonUnseen {
						rt.Fatalf("%s: %d messages from %s refused as %s (the last error: %v)", nd.id, n, p.Peer, reason, nd.receiveError())
					}
					unseen += n
				}
			}
			if s := nd.t.Stats(); s.ReceiveErrors > unseen || s.TooLarge != 0 {
				rt.Fatalf("%s: %d messages refused, %d of them ops that came before what they drop (the last error: %v); %d too large for the server",
					nd.id, s.ReceiveErrors, unseen, nd.receiveError(), s.TooLarge)
			}
			if s := nd.r.Stats(); s.Oversize != 0 {
				rt.Fatalf("%s: %d messages over MaxMessageBytes not sent", nd.id, s.Oversize)
			}
		}
	})
}

// change makes one random local change at nd, and records it in m.
func change(rt *rapid.T, nd *node, m *model) {
	k := rapid.IntRange(0, 3).Draw(rt, "k")
	own := fmt.Sprintf("%s/%d%s", nd.id, k, m.pad)
	var err error
	switch rapid.IntRange(0, 5).Draw(rt, "change") {
	case 0:
		err = nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(own), nil })
		m.set[own] = true
	case 1:
		err = nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(own), nil })
		m.set[own] = false
	case 2:
		shared := fmt.Sprintf("shared/%d%s", k, m.pad)
		err = nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(shared), nil })
		m.set[shared] = true
	case 3:
		v := rapid.IntRange(-100, 100).Draw(rt, "value")
		err = nd.kv.Update(func(mp *lwwmap.Map[string, int]) (crdt.Op, error) { return mp.Put(own, v), nil })
		m.kv[own] = v
	case 4:
		err = nd.kv.Update(func(mp *lwwmap.Map[string, int]) (crdt.Op, error) { return mp.Delete(own), nil })
		delete(m.kv, own)
	case 5:
		d := int64(rapid.IntRange(-5, 5).Draw(rt, "delta"))
		err = nd.count.Update(func(c *counter.PN) (crdt.Op, error) {
			op, err := c.Add(d)
			return op, err
		})
		m.count += d
	}
	if err != nil {
		rt.Fatalf("%s: local change: %v", nd.id, err)
	}
}
