package crdt_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
)

func TestDbg2(t *testing.T) {
	c := newCluster(t, 1, 2, func(cfg *crdt.Config) {
		cfg.MaxLogOps = 4
		cfg.MaxMessageBytes = crdt.MinMessageBytes
	})
	c.net.Partition(c.ids[0], c.ids[1])
	for i := range 30 {
		c.add(c.ids[0], fmt.Sprintf("element-with-some-length-%03d", i))
	}
	c.net.HealAll()
	for i := range 12 {
		c.round()
		s := c.nodes[c.ids[0]].r.Stats().Peers[0]
		s1 := c.nodes[c.ids[1]].r.Stats().Peers[0]
		t.Logf("round %d: r1 has %d; r0->r1 chunks %d/%d sent %d await %v; r1 in left %d refused %v", i, len(c.elems(c.ids[1])), s.CatchUpChunksLeft, s.CatchUpChunks, s.ChunksSent, s.AwaitingCatchUp, s1.IncomingChunksLeft, s1.Refused)
	}
}
