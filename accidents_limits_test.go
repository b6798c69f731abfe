package crdt_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// TestAccidentMessageLimitsDiffer: the regions do not agree on
// MaxMessageBytes (an operator lowered it in one region first, in a
// rolling change of the setting; or the region's bus carries smaller
// messages). eu-west-1 takes messages of at most 1 KiB, the others of
// 1 MiB, and us-east-1 writes a map of counters far larger than 1 KiB
// before eu-west-1 first hears from it, in runs of ops of tens of
// kilobytes. eu-west-1 refuses the first large messages, and its digest
// names its limit: from then on its peers send it nothing larger, so it
// refuses nothing more while every region keeps writing, and all hold
// every write at the end, with nothing pending and no divergence.
//
// Before limits were named in digests, eu-west-1 refused every run of
// ops and every catch-up us-east-1 sent, for good.
func TestAccidentMessageLimitsDiffer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		broadcast bool // a transport that sends one message to several peers
		compress  int  // Config.CompressAbove
	}{
		{"plain", false, -1},
		{"compressed", false, 0},
		{"broadcast", true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testMessageLimitsDiffer(t, tc.broadcast, tc.compress)
		})
	}
}

func testMessageLimitsDiffer(t *testing.T, broadcast bool, compress int) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(11)
	ids := []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1"}
	limit := map[crdt.ReplicaID]int{"ap-south-1": 1 << 20, "eu-west-1": crdt.MinMessageBytes, "us-east-1": 1 << 20}
	ref := ormap.New[string, *ormap.Counter]("ref")
	reps, maps := hitsRegions(t, ids, &now, func(id crdt.ReplicaID) crdt.Config {
		tr := net.Transport(id)
		if broadcast {
			tr = net.BroadcastTransport(id)
		}
		return crdt.Config{Transport: tr, AntiEntropyTicks: 20, MaxMessageBytes: limit[id], CompressAbove: compress}
	})
	ctx := context.Background()
	round := func() {
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		net.DeliverAll(ctx)
		now.Add(int64(time.Millisecond))
	}
	write := func(id crdt.ReplicaID, i int) {
		if err := maps[id].Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
			op := m.At(fmt.Sprintf("page-%04d", i%700)).Add(int64(i%5 + 1))
			if err := ref.Apply(op); err != nil {
				t.Fatalf("reference: %v", err)
			}
			return op, op.Err()
		}); err != nil {
			t.Fatal(err)
		}
	}
	tooLarge := func() uint64 {
		n := uint64(0)
		for _, p := range reps["eu-west-1"].Stats().Peers {
			n += p.Refused[crdt.ReasonTooLarge]
		}
		return n
	}

	// us-east-1 writes 600 keys before anyone hears from it: its first
	// messages carry them all.
	for i := range 600 {
		write("us-east-1", i)
	}
	for _, id := range ids {
		net.Attach(id, reps[id])
	}
	for range 40 {
		round()
	}
	refused := tooLarge()
	if refused == 0 {
		t.Fatal("eu-west-1 refused no message as too large: the test does not send it any")
	}
	for _, id := range []crdt.ReplicaID{"ap-south-1", "us-east-1"} {
		for _, p := range reps[id].Stats().Peers {
			if want := min(limit[id], limit[p.Peer]); p.MessageLimit != want {
				t.Fatalf("%s sends %s messages of up to %d bytes, want %d", id, p.Peer, p.MessageLimit, want)
			}
		}
	}
	// Every region writes, in bursts of 40 between rounds.
	for i := range 400 {
		write(ids[i%3], 600+i)
		if i%40 == 39 {
			round()
		}
	}
	for range 60 {
		round()
	}
	if got := tooLarge(); got != refused {
		t.Fatalf("eu-west-1 refused %d more messages as too large once its peers knew its limit", got-refused)
	}
	want := map[string]int64{}
	for k, c := range ref.All() {
		want[k] = c.Value()
	}
	for _, id := range ids {
		got := map[string]int64{}
		maps[id].Read(func(m *ormap.Map[string, *ormap.Counter]) {
			for k, c := range m.All() {
				got[k] = c.Value()
			}
		})
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s (-reference +region):\n%s", id, d)
		}
		st := reps[id].Stats()
		if st.Oversize != 0 {
			t.Fatalf("%s made %d messages over its limit", id, st.Oversize)
		}
		for _, p := range st.Peers {
			if p.PendingOps != 0 || p.AwaitingCatchUp || p.Divergences != 0 {
				t.Fatalf("%s to %s: %d ops pending, awaiting a catch-up %v, %d divergences", id, p.Peer, p.PendingOps, p.AwaitingCatchUp, p.Divergences)
			}
		}
	}
	t.Logf("eu-west-1 refused %d messages as too large before its peers knew its limit", refused)
}

// limitedTransport is a Transport that carries messages of at most n
// bytes, a limit that may change while it runs (a bus whose servers set
// it): it tells the engine so (crdt.Limiter), and refuses a larger
// message, counting it.
type limitedTransport struct {
	crdt.Transport
	n        atomic.Int64
	tooLarge atomic.Int64
}

func (t *limitedTransport) MaxMessageBytes() int { return int(t.n.Load()) }

func (t *limitedTransport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if n := t.n.Load(); int64(len(msg)) > n {
		t.tooLarge.Add(1)
		return fmt.Errorf("%d bytes for a transport of %d", len(msg), n)
	}
	return t.Transport.Send(ctx, to, msg)
}

// TestAccidentTransportLimitLowered: us-east-1's bus carries messages of
// 64 KiB while its MaxMessageBytes is left at 1 MiB, and the operator
// lowers the bus's limit to 4 KiB in the middle of a catch-up in chunks
// (its chunks lost on the way): the engine reads the limit at every tick,
// cuts the catch-up again to fit, and names the new limit to eu-west-1 in
// its digests. Nothing is ever handed to the transport larger than it
// takes, nothing is counted over a limit, and the regions converge.
func TestAccidentTransportLimitLowered(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(5)
	ids := []crdt.ReplicaID{"eu-west-1", "us-east-1"}
	east := &limitedTransport{Transport: net.Transport("us-east-1")}
	east.n.Store(64 << 10)
	reps, maps := hitsRegions(t, ids, &now, func(id crdt.ReplicaID) crdt.Config {
		var tr crdt.Transport = net.Transport(id)
		if id == "us-east-1" {
			tr = east
		}
		return crdt.Config{Transport: tr, MaxLogOps: 8, AntiEntropyTicks: 10, CompressAbove: -1}
	})
	for _, id := range ids {
		net.Attach(id, reps[id])
	}
	ctx := context.Background()
	for i := range 20_000 { // about 300 KB: a catch-up in chunks of 64 KiB
		addHit(t, maps["us-east-1"], fmt.Sprintf("page-%05d", i))
	}
	lowered := false
	for round := range 400 {
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		if !lowered && reps["us-east-1"].Stats().Peers[0].CatchUpChunksLeft > 1 {
			// The chunks just sent are lost, and the bus's limit falls.
			net.PartitionOneWay("us-east-1", "eu-west-1")
			net.DeliverAll(ctx)
			net.Heal("us-east-1", "eu-west-1")
			east.n.Store(4 << 10)
			lowered = true
			continue
		}
		net.DeliverAll(ctx)
		now.Add(int64(time.Millisecond))
		if lowered && round%10 == 0 && sameHits(maps) && reps["eu-west-1"].Stats().Peers[0].MessageLimit == 4<<10 {
			break
		}
	}
	if !lowered {
		t.Fatal("no catch-up in chunks was ever under way: the test lowers no limit in the middle of one")
	}
	if !sameHits(maps) {
		t.Fatal("the regions differ after 400 rounds")
	}
	if n := east.tooLarge.Load(); n != 0 {
		t.Fatalf("%d messages handed to the transport larger than it takes", n)
	}
	for _, id := range ids {
		st := reps[id].Stats()
		if st.Oversize != 0 {
			t.Fatalf("%s: %d messages over its limit", id, st.Oversize)
		}
		if p := st.Peers[0]; p.MessageLimit != 4<<10 || p.SendErrors != 0 {
			t.Fatalf("%s sends %s messages of up to %d bytes (want %d), %d send errors", id, p.Peer, p.MessageLimit, 4<<10, p.SendErrors)
		}
	}
}

// sameHits reports whether every region's map holds the same counters.
func sameHits(maps map[crdt.ReplicaID]hitsMap) bool {
	var first map[string]int64
	for _, h := range maps {
		got := map[string]int64{}
		h.Read(func(m *ormap.Map[string, *ormap.Counter]) {
			for k, c := range m.All() {
				got[k] = c.Value()
			}
		})
		if first == nil {
			first = got
		} else if !cmp.Equal(first, got) {
			return false
		}
	}
	return len(first) > 0
}

// proxyTransport is a Transport through a proxy that refuses a message
// larger than n bytes, as an HTTP proxy answers 413 to a request over its
// body limit: the Send fails with an error wrapping crdt.ErrTooLarge.
type proxyTransport struct {
	crdt.Transport
	n       int
	refused atomic.Int64
}

func (t *proxyTransport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if len(msg) > t.n {
		t.refused.Add(1)
		return fmt.Errorf("proxy answered 413 to %d bytes: %w", len(msg), crdt.ErrTooLarge)
	}
	return t.Transport.Send(ctx, to, msg)
}

// TestAccidentProxyRefusesLargeMessages: the operator puts a proxy
// between the regions whose body limit (8 KiB here; 1 MiB is a common
// default) is below MaxMessageBytes, left at 1 MiB. us-east-1 writes a map
// of about 75 KB while eu-west-1 is away, so that it catches up by digest,
// then both write on. Each message the proxy refuses makes the sender
// send that peer messages of at most half its size: runs of ops and
// catch-ups go in messages the proxy takes after a few rounds with
// refusals (at most one per halving from 1 MiB to 1 KiB, ten), and the
// regions converge.
//
// Before, the engine sent the same message again at every tick: the
// regions never converged.
func TestAccidentProxyRefusesLargeMessages(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(9)
	ids := []crdt.ReplicaID{"eu-west-1", "us-east-1"}
	proxies := map[crdt.ReplicaID]*proxyTransport{}
	reps, maps := hitsRegions(t, ids, &now, func(id crdt.ReplicaID) crdt.Config {
		proxies[id] = &proxyTransport{Transport: net.Transport(id), n: 8 << 10}
		return crdt.Config{Transport: proxies[id], MaxLogOps: 64, AntiEntropyTicks: 10, CompressAbove: -1}
	})
	for _, id := range ids {
		net.Attach(id, reps[id])
	}
	ctx := context.Background()
	refusing := map[crdt.ReplicaID]int{} // rounds in which the proxy refused the region's messages
	round := func() {
		for _, id := range ids {
			before := proxies[id].refused.Load()
			_ = reps[id].Tick(ctx)
			if proxies[id].refused.Load() > before {
				refusing[id]++
			}
		}
		net.DeliverAll(ctx)
		now.Add(int64(time.Millisecond))
	}
	write := func(id crdt.ReplicaID, i int) { addHit(t, maps[id], fmt.Sprintf("page-%05d", i)) }
	round()
	net.Partition("us-east-1", "eu-west-1")
	for i := range 5000 {
		write("us-east-1", i)
	}
	round()
	net.Heal("us-east-1", "eu-west-1")
	for i := 0; i < 200 && !sameHits(maps); i++ {
		round()
	}
	if !sameHits(maps) {
		t.Fatal("no convergence after 200 rounds")
	}
	if proxies["us-east-1"].refused.Load() == 0 {
		t.Fatal("the proxy refused nothing: the test sends nothing over its limit")
	}
	// Both write on, in runs of 300 ops between rounds.
	for i := range 1200 {
		write(ids[i%2], 5000+i)
		if i%300 == 299 {
			round()
		}
	}
	for i := 0; i < 100 && !sameHits(maps); i++ {
		round()
	}
	if !sameHits(maps) {
		t.Fatal("no convergence after the writes that followed")
	}
	for _, id := range ids {
		if refusing[id] > 10 {
			t.Fatalf("the proxy refused %s's messages in %d rounds, more than the ten halvings from 1 MiB to 1 KiB", id, refusing[id])
		}
	}
	for _, id := range ids {
		t.Logf("the proxy refused %d of %s's messages, in %d rounds; it sends its peer messages of up to %d bytes", proxies[id].refused.Load(), id, refusing[id], reps[id].Stats().Peers[0].MessageLimit)
	}
}

// hitsMap is a region's OR-Map of counters in these tests.
type hitsMap = *crdt.Handle[*ormap.Map[string, *ormap.Counter]]

// hitsRegions makes a replica for each of ids, every one a peer of every
// other, each with an OR-Map of counters registered as "hits", configured
// by cfg(id) with a clock that reads now. They are not attached.
func hitsRegions(t *testing.T, ids []crdt.ReplicaID, now *atomic.Int64, cfg func(crdt.ReplicaID) crdt.Config) (map[crdt.ReplicaID]*crdt.Replica, map[crdt.ReplicaID]hitsMap) {
	t.Helper()
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	maps := map[crdt.ReplicaID]hitsMap{}
	for _, id := range ids {
		c := cfg(id)
		c.ID, c.Clock = id, clock.New(clock.WithSource(now.Load))
		r, err := crdt.NewReplica(c)
		if err != nil {
			t.Fatal(err)
		}
		if maps[id], err = crdt.Register(r, "hits", ormap.New[string, *ormap.Counter](id)); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		reps[id] = r
	}
	return reps, maps
}

// addHit increments the counter of key in h.
func addHit(t *testing.T, h hitsMap, key string) {
	t.Helper()
	if err := h.Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
		op := m.At(key).Add(1)
		return op, op.Err()
	}); err != nil {
		t.Fatal(err)
	}
}
