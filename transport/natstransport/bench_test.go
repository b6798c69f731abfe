package natstransport_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// BenchmarkReplicationThroughput measures steady replication between two
// replicas, over the in-memory memnet network and over a NATS server on
// loopback: one replica adds elements to a set, in batches of 64 per
// round; a round ticks both replicas and waits until every message sent
// is handled. ns/op is the cost per op end to end, ops/s its inverse;
// payload-bytes/op counts the message bytes both replicas handed their
// transport (as memnet's and the crdt module's benchmarks do), and, over
// NATS, wire-bytes/op what both clients wrote to the server's sockets:
// the payloads with NATS's framing, subjects, headers and the round's
// PINGs.
func BenchmarkReplicationThroughput(b *testing.B) {
	b.Run("memnet", func(b *testing.B) {
		net := memnet.New(1)
		ids := [2]crdt.ReplicaID{"r0", "r1"}
		var rs [2]*crdt.Replica
		var sets [2]*crdt.Handle[*orset.Set[string]]
		for i, id := range ids {
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id)})
			if err != nil {
				b.Fatal(err)
			}
			sets[i], _ = crdt.Register(r, "set", orset.New[string](id))
			_ = r.AddPeer(ids[1-i])
			net.Attach(id, r)
			rs[i] = r
		}
		round := func() {
			ctx := context.Background()
			_, _ = rs[0].Tick(ctx), rs[1].Tick(ctx)
			net.DeliverAll(ctx)
		}
		converged := func(ops int) bool {
			n := 0
			sets[1].Read(func(s *orset.Set[string]) { n = s.Len() })
			return n == ops
		}
		throughput(b, sets[0], round, converged, func() (uint64, uint64) { return net.Stats().BytesSent, 0 })
	})
	b.Run("nats", func(b *testing.B) {
		c := newCluster(b, 2, nil, nil)
		defer c.close()
		converged := func(ops int) bool {
			n := 0
			c.nodes[1].set.Read(func(s *orset.Set[string]) { n = s.Len() })
			return n == ops
		}
		bytes := func() (payload, wire uint64) {
			for _, n := range c.nodes {
				payload += n.t.Stats().PublishedBytes
				wire += n.c.written.Load()
			}
			return payload, wire
		}
		throughput(b, c.nodes[0].set, c.round, converged, bytes)
	})
}

// throughput runs the benchmark loop: ops on w, a round every 64, and
// rounds at the end until converged(ops). bytes returns the payload and
// wire bytes sent so far (wire 0 if not measured).
func throughput(b *testing.B, w *crdt.Handle[*orset.Set[string]], round func(), converged func(ops int) bool, bytes func() (payload, wire uint64)) {
	for range 10 { // first contact
		round()
	}
	payload0, wire0 := bytes()
	ops := 0
	b.ReportAllocs()
	for b.Loop() {
		ops++
		e := fmt.Sprintf("key-%08d", ops)
		_ = w.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
		if ops%64 == 0 {
			round()
		}
	}
	for i := 0; !converged(ops); i++ {
		if i == 20 {
			b.Fatalf("not converged after %d rounds", i)
		}
		round()
	}
	payload, wire := bytes()
	b.ReportMetric(float64(ops)/b.Elapsed().Seconds(), "ops/s")
	b.ReportMetric(float64(payload-payload0)/float64(ops), "payload-bytes/op")
	if wire > 0 {
		b.ReportMetric(float64(wire-wire0)/float64(ops), "wire-bytes/op")
	}
}

// BenchmarkJoinOverNATS has a new replica join one holding a 1,000,000-
// element set over a NATS server with the default max_payload (1 MiB),
// the replicas' MaxMessageBytes a little below it: the catch-up goes in
// chunks. join-s is the time from the first round to the new replica
// holding every element; largest-msg-bytes the largest message either
// replica received.
func BenchmarkJoinOverNATS(b *testing.B) {
	const n = 1_000_000
	for b.Loop() {
		b.StopTimer()
		var limit int
		c := newCluster(b, 2, nil, func(cfg *crdt.Config) {
			cfg.MaxMessageBytes = 1<<20 - 4096
			cfg.MaxLogOps = 64 // the set's adds leave the log: the new replica catches up by state
			limit = cfg.MaxMessageBytes
		})
		src := c.nodes[0].set
		for lo := 0; lo < n; lo += 1000 {
			err := c.nodes[0].r.Update(func(tx *crdt.Tx) error {
				for i := lo; i < lo+1000; i++ {
					e := fmt.Sprintf("element-%07d", i)
					if err := src.UpdateIn(tx, func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		for rounds := 0; ; rounds++ {
			if rounds == 2000 {
				b.Fatalf("no join after %d rounds", rounds)
			}
			c.round()
			got := 0
			c.nodes[1].set.Read(func(s *orset.Set[string]) { got = s.Len() })
			if got == n {
				break
			}
		}
		took := time.Since(start)
		b.StopTimer()
		largest := max(c.nodes[0].largest.Load(), c.nodes[1].largest.Load())
		if largest > int64(limit) {
			b.Fatalf("a message of %d bytes, over MaxMessageBytes %d", largest, limit)
		}
		var sent uint64
		for _, nd := range c.nodes {
			sent += nd.t.Stats().PublishedBytes
		}
		b.ReportMetric(took.Seconds(), "join-s")
		b.ReportMetric(float64(largest), "largest-msg-bytes")
		var state []byte
		src.Read(func(s *orset.Set[string]) { state, _ = s.MarshalBinary() })
		b.ReportMetric(float64(sent), "published-bytes")
		b.ReportMetric(float64(len(state)), "state-bytes")
		c.close()
		b.StartTimer()
	}
}
