package crdt_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// pair is two replicas sharing one orset over a memnet network.
type pair struct {
	net  *memnet.Network
	r    [2]*crdt.Replica
	sets [2]*crdt.Handle[*orset.Set[string]]
}

func newPair(tb testing.TB, cfg func(*crdt.Config)) *pair {
	p := &pair{net: memnet.New(1)}
	ids := [2]crdt.ReplicaID{"us-east-1", "eu-west-1"}
	for i, id := range ids {
		c := crdt.Config{ID: id, Transport: p.net.Transport(id), Clock: testClock()}
		if cfg != nil {
			cfg(&c)
		}
		r, err := crdt.NewReplica(c)
		if err != nil {
			tb.Fatal(err)
		}
		p.sets[i], _ = crdt.Register(r, "set", orset.New[string](id))
		_ = r.AddPeer(ids[1-i])
		p.net.Attach(id, r)
		p.r[i] = r
	}
	return p
}

func (p *pair) round() {
	ctx := context.Background()
	_ = p.r[0].Tick(ctx)
	_ = p.r[1].Tick(ctx)
	p.net.DeliverAll(ctx)
}

func (p *pair) converged() bool {
	for _, r := range p.r {
		for _, ps := range r.Stats().Peers {
			// A catch-up in chunks counts once acknowledged: until then
			// its sender may send a chunk again.
			if ps.PendingOps != 0 || ps.AwaitingCatchUp || ps.CatchUpChunksLeft != 0 {
				return false
			}
		}
	}
	eq := false
	p.sets[0].Read(func(a *orset.Set[string]) {
		p.sets[1].Read(func(b *orset.Set[string]) { eq = a.Len() == b.Len() && a.Equal(b) })
	})
	return eq
}

// settle runs rounds until the pair converges and returns how many it took.
func (p *pair) settle(tb testing.TB, limit int) int {
	for i := range limit {
		if p.converged() {
			return i
		}
		p.round()
	}
	tb.Fatalf("no convergence after %d rounds", limit)
	return limit
}

func key(i int) string { return fmt.Sprintf("key-%06d", i) }

// fill adds n elements, key(0) to key(n-1), to the first replica's set, as
// one op (the last add's; the peer catches up on the rest by digest).
func (p *pair) fill(n int) {
	_ = p.sets[0].Update(func(s *orset.Set[string]) (crdt.Op, error) {
		for i := range n - 1 {
			s.Add(key(i))
		}
		return s.Add(key(n - 1)), nil
	})
}

// BenchmarkCatchUp measures what a partition costs once it heals: two
// replicas share a 100,000-element set, are cut apart, each makes 100
// changes (50 adds, 50 removes), and the link comes back. It reports the
// bytes sent from the heal until both are equal again, and the rounds it
// took, beside the size of the full state. With the default op log the
// changes travel as ops; with a log of 16 ops they have fallen out of it,
// and the replicas catch up by digest.
func BenchmarkCatchUp(b *testing.B) {
	for _, bc := range []struct {
		name   string
		maxLog int
	}{{"oplog", 0}, {"digest", 16}} {
		b.Run(bc.name, func(b *testing.B) {
			p := newPair(b, func(c *crdt.Config) {
				c.MaxLogOps = bc.maxLog
				c.AntiEntropyTicks = -1
			})
			const n = 100_000
			p.fill(n)
			p.settle(b, 100)
			var full int
			p.sets[0].Read(func(s *orset.Set[string]) {
				state, _ := s.MarshalBinary()
				full = len(state)
			})

			next := n
			var bytes, rounds, cycles float64
			b.ReportAllocs()
			for b.Loop() {
				p.net.Partition("us-east-1", "eu-west-1")
				for side := range 2 {
					for j := range 100 {
						_ = p.sets[side].Update(func(s *orset.Set[string]) (crdt.Op, error) {
							if j%2 == 0 {
								next++
								return s.Add(key(next)), nil
							}
							// Remove an element both sides hold.
							return s.Remove(key((next*7 + j*13 + side) % n)), nil
						})
					}
					p.round() // the changes are sent into the cut link
				}
				p.net.HealAll()
				before := p.net.Stats().BytesSent
				rounds += float64(p.settle(b, 200))
				bytes += float64(p.net.Stats().BytesSent - before)
				cycles++
			}
			b.ReportMetric(bytes/cycles, "bytes/heal")
			b.ReportMetric(rounds/cycles, "rounds/heal")
			b.ReportMetric(float64(full), "fullstate-bytes")
		})
	}
}

// BenchmarkReplicationThroughput measures steady replication: one replica
// adds elements, in batches of 64 per round, and the far replica applies
// them. ns/op is the cost per op end to end (local update, encoding,
// in-memory network, decoding and applying at the far replica, and the
// acknowledgement); bytes/op is what crossed the network per op.
func BenchmarkReplicationThroughput(b *testing.B) {
	p := newPair(b, nil)
	p.settle(b, 10)
	before := p.net.Stats().BytesSent
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		ops++
		_ = p.sets[0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(key(ops)), nil })
		if ops%64 == 0 {
			p.round()
		}
	}
	p.settle(b, 20)
	b.ReportMetric(float64(p.net.Stats().BytesSent-before)/float64(ops), "bytes/op")
}

// BenchmarkFanOut measures one replica replicating to four peers, with
// and without a broadcasting transport: ops are made in batches of 64 per
// round, each batch journaled (SaveOps, to a store that keeps nothing)
// before the round, as a persisting host does. msgs/op and bytes/op count
// what every replica handed its transport (a broadcast counts once),
// acknowledgements included.
func BenchmarkFanOut(b *testing.B) {
	for _, bcast := range []bool{false, true} {
		name := "unicast"
		if bcast {
			name = "broadcast"
		}
		b.Run(name, func(b *testing.B) {
			c := newClusterBroadcast(b, 1, 5, func(cfg *crdt.Config) { cfg.AntiEntropyTicks = -1 }, bcast)
			c.settle([]string{}, 20)
			before := c.net.Stats()
			w, r0 := c.nodes["r0"].set, c.nodes["r0"].r
			discard := func([]byte) error { return nil }
			ops := 0
			b.ReportAllocs()
			for b.Loop() {
				ops++
				e := key(ops)
				_ = w.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
				if ops%64 == 0 {
					if err := r0.SaveOps(discard); err != nil {
						b.Fatal(err)
					}
					c.round()
				}
			}
			if err := r0.SaveOps(discard); err != nil {
				b.Fatal(err)
			}
			for range 20 {
				c.round()
			}
			for _, id := range c.ids {
				if n := len(c.elems(id)); n != ops {
					b.Fatalf("%s holds %d elements, want %d", id, n, ops)
				}
			}
			after := c.net.Stats()
			b.ReportMetric(float64(after.Sent-before.Sent)/float64(ops), "msgs/op")
			b.ReportMetric(float64(after.BytesSent-before.BytesSent)/float64(ops), "bytes/op")
		})
	}
}

// BenchmarkSaveUpdate measures what persisting one update costs a replica
// holding a 100,000-element set: a journal record of its op (SaveOps)
// against a whole snapshot (SaveSnapshot), its states compressed (the
// default) or plain (Config.CompressAbove negative). bytes/save is what
// the host is handed to write.
func BenchmarkSaveUpdate(b *testing.B) {
	for _, c := range []struct {
		name          string
		journal       bool
		compressAbove int
	}{{"journal", true, 0}, {"snapshot", false, 0}, {"snapshot-plain", false, -1}} {
		journal := c.journal
		b.Run(c.name, func(b *testing.B) {
			p := newPair(b, func(cfg *crdt.Config) { cfg.CompressAbove = c.compressAbove })
			const n = 100_000
			p.fill(n)
			r := p.r[0]
			var written, saves int
			save := func(rec []byte) error { written += len(rec); saves++; return nil }
			if err := r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
				b.Fatal(err)
			}
			next := n
			b.ReportAllocs()
			for b.Loop() {
				next++
				_ = p.sets[0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(key(next)), nil })
				var err error
				if journal {
					err = r.SaveOps(save)
				} else {
					err = r.SaveSnapshot(save)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			if saves == 0 {
				b.Fatal("nothing saved")
			}
			b.ReportMetric(float64(written)/float64(saves), "bytes/save")
		})
	}
}
