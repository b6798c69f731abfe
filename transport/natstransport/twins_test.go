package natstransport_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/transport/natstransport"
	"pgregory.net/rapid"
)

// twin adds to c a second process under the ID of c.nodes[i], with its
// own connection, transport and replica: both subscribe to the same
// subjects, and each gets every message for the ID.
func (c *cluster) twin(i int) *node {
	c.t.Helper()
	id := c.nodes[i].id
	nd := &node{id: id, c: connect(c.t, c.srv.url()), barriers: make(chan struct{}, 64), marks: make(chan string, 1024)}
	tr, err := natstransport.New(nd.c.nc, natstransport.Config{Prefix: c.prefix, ID: id})
	if err != nil {
		c.t.Fatalf("New: %v", err)
	}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: tr})
	if err != nil {
		c.t.Fatalf("NewReplica: %v", err)
	}
	nd.t, nd.r = tr, r
	nd.set, _ = crdt.Register(r, "set", orset.New[string](id))
	nd.kv, _ = crdt.Register(r, "map", lwwmap.New[string, int](id, r.Clock()))
	nd.count, _ = crdt.Register(r, "count", counter.NewPN(id))
	for _, peer := range c.ids {
		if peer != id {
			if err := r.AddPeer(peer); err != nil {
				c.t.Fatalf("AddPeer: %v", err)
			}
		}
	}
	if err := tr.Listen(nd); err != nil {
		c.t.Fatalf("Listen: %v", err)
	}
	c.nodes = append(c.nodes, nd)
	c.flush()
	return nd
}

// stop stops the process nd, as an operator stops a duplicate: its
// transport and connection are closed, and it leaves c.nodes.
func (c *cluster) stop(nd *node) {
	_ = nd.t.Close()
	nd.c.nc.Close()
	c.nodes = slices.DeleteFunc(c.nodes, func(x *node) bool { return x == nd })
}

// TestTwoProcessesUnderOneID runs a second process under a replica's ID
// by mistake beside the other replicas, on one NATS server: each of the
// two gets every message for the ID, and writes under a writer of its
// own; the replicas tick in random orders. Then the operator stops the
// duplicate. Every write of the others survives everywhere, and so does
// every write of the duplicate that a peer acknowledged; the remaining
// processes converge, and their figures settle.
func TestTwoProcessesUnderOneID(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		c := newCluster(rt, n, nil, nil)
		defer c.close()
		dup := c.twin(rapid.IntRange(0, n-1).Draw(rt, "twin"))
		m := newModel()
		type dupWrite struct {
			elem string
			seq  uint64
		}
		var dupWrites []dupWrite
		round := func() {
			order := rapid.Permutation(c.nodes).Draw(rt, "order")
			for _, nd := range order {
				_ = nd.r.Tick(context.Background())
				c.flush()
				c.marks(nil)
			}
		}
		steps := rapid.IntRange(1, 40).Draw(rt, "steps")
		for step := range steps {
			if rapid.Bool().Draw(rt, "round") {
				round()
				continue
			}
			i := rapid.IntRange(0, len(c.nodes)-1).Draw(rt, "process")
			nd := c.nodes[i]
			var err error
			change := rapid.IntRange(0, 2).Draw(rt, "change")
			if nd == dup {
				change = 0
			}
			switch change {
			case 0:
				e := fmt.Sprintf("%s.%d/%d", nd.id, i, step)
				err = nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
				if nd == dup {
					dupWrites = append(dupWrites, dupWrite{e, nd.r.Stats().Seq})
				} else {
					m.set[e] = true
				}
			case 1:
				k := fmt.Sprintf("%s.%d/%d", nd.id, i, step)
				err = nd.kv.Update(func(mp *lwwmap.Map[string, int]) (crdt.Op, error) { return mp.Put(k, step), nil })
				m.kv[k] = step
			case 2:
				err = nd.count.Update(func(cn *counter.PN) (crdt.Op, error) { return cn.Add(1) })
				m.count++
			}
			if err != nil {
				rt.Fatalf("%s: %v", nd.id, err)
			}
		}
		// The duplicate's writes a peer acknowledged must survive it;
		// the others may or may not.
		var acked uint64
		for _, p := range dup.r.Stats().Peers {
			acked = max(acked, dup.r.Stats().Seq-p.PendingOps)
		}
		maybe := map[string]bool{}
		for _, w := range dupWrites {
			if w.seq <= acked {
				m.set[w.elem] = true
			} else {
				maybe[w.elem] = true
			}
		}
		c.stop(dup)
		const limit = 40
		for i := 0; ; i++ {
			diff := ""
			for _, nd := range c.nodes {
				if diff = m.differsBut(nd, maybe); diff != "" {
					break
				}
			}
			if diff == "" {
				break
			}
			if i == limit {
				for _, nd := range c.nodes {
					rt.Logf("%s: %+v", nd.id, nd.r.Stats())
				}
				rt.Fatalf("no convergence after %d rounds: %s", limit, diff)
			}
			round()
		}
		// A peer that heard the duplicate asks the others for digests
		// again (see crdt.PeerStats.AwaitingCatchUp), at most every 12
		// ticks: quiet rounds enough for two requests.
		for range 30 {
			round()
		}
		var first []string
		for i, nd := range c.nodes {
			var elems []string
			nd.set.Read(func(s *orset.Set[string]) { elems = slices.Sorted(s.All()) })
			if i == 0 {
				first = elems
			} else if !slices.Equal(elems, first) {
				rt.Fatalf("%s holds %v, %s %v", nd.id, elems, c.nodes[0].id, first)
			}
		}
		if why := c.settled(); why != "" {
			rt.Fatalf("the replicas converged, but their figures still say otherwise: %s", why)
		}
	})
}

// differsBut is differs, but for the elements of maybe, which n may hold
// or not.
func (m *model) differsBut(n *node, maybe map[string]bool) string {
	mm := *m
	mm.set = maps.Clone(m.set)
	var elems []string
	n.set.Read(func(s *orset.Set[string]) { elems = slices.Collect(s.All()) })
	for _, e := range elems {
		if maybe[e] {
			mm.set[e] = true
		}
	}
	return mm.differs(n)
}
