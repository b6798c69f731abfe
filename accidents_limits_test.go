package crdt_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
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
	round := roundOf(ids, reps, net, &now)
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
	want := counts(ref)
	for _, id := range ids {
		if d := cmp.Diff(want, hitsOf(maps[id])); d != "" {
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

// TestAccidentBroadcastToManyRegions: a run of ops due to many peers at
// once goes as one broadcast, which names each recipient with its
// acknowledgement: with 32 peers of 24-byte names, the entries take
// about a kilobyte. Messages of 4 KiB, and runs of ops that fill all
// but their header (MaxBatchBytes set just under MaxMessageBytes; or left
// at its default, a quarter of 1 MiB, while the peers name 4 KiB in their
// digests): each broadcast goes to as many peers as it fits, and the
// others get the run by Send. No message is made over a limit, and with
// no digests (anti-entropy off) every peer gets every write through its
// ops.
//
// Before, the broadcast to all of them was made over the smallest
// limit, never sent (counted in Stats.Oversize), and made again at every
// tick: the peers got nothing more.
func TestAccidentBroadcastToManyRegions(t *testing.T) {
	for _, tc := range []struct {
		name        string
		senderLimit int // the writer's MaxMessageBytes
		senderBatch int // its MaxBatchBytes
	}{
		{"set", 4 << 10, 4<<10 - 1},
		{"named", 1 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var now atomic.Int64
			now.Store(time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC).UnixNano())
			net := memnet.New(13)
			ids := []crdt.ReplicaID{"ap-south-1-node-00"}
			for i := range 32 {
				ids = append(ids, crdt.ReplicaID(fmt.Sprintf("eu-west-1-zone-b-cell-%02d", i)))
			}
			reps, maps := hitsRegions(t, ids, &now, func(id crdt.ReplicaID) crdt.Config {
				c := crdt.Config{Transport: net.BroadcastTransport(id), MaxMessageBytes: 4 << 10, AntiEntropyTicks: -1, CompressAbove: -1}
				if id == ids[0] {
					c.MaxMessageBytes, c.MaxBatchBytes = tc.senderLimit, tc.senderBatch
				}
				return c
			})
			for _, id := range ids {
				net.Attach(id, reps[id])
			}
			round := roundOf(ids, reps, net, &now)
			for range 5 {
				round()
			}
			if tc.name == "named" {
				// The peers' limits come with their digests.
				for _, p := range reps[ids[0]].Stats().Peers {
					if p.MessageLimit != 4<<10 {
						t.Fatalf("%s: limit %d before the writes, want the 4 KiB its digest names", p.Peer, p.MessageLimit)
					}
				}
			}
			key := strings.Repeat("k", 200)
			for i := range 300 {
				addHit(t, maps[ids[0]], fmt.Sprintf("%s-%04d", key, i))
			}
			for range 100 {
				round()
			}
			st := reps[ids[0]].Stats()
			if st.Oversize != 0 {
				t.Fatalf("%d messages made over a limit", st.Oversize)
			}
			if st.Broadcasts == 0 {
				t.Fatal("no broadcast sent: the test does not group runs of ops")
			}
			if !sameHits(maps) {
				t.Fatal("the peers do not hold every write")
			}
			for _, p := range st.Peers {
				if p.PendingOps != 0 {
					t.Fatalf("%s: %d ops pending", p.Peer, p.PendingOps)
				}
			}
			t.Logf("%d broadcasts; largest message %d bytes", st.Broadcasts, net.Stats().Largest)
		})
	}
}

// roundOf returns a round of the regions ids: each replica ticks, every
// message is delivered, and now moves on a millisecond.
func roundOf(ids []crdt.ReplicaID, reps map[crdt.ReplicaID]*crdt.Replica, net *memnet.Network, now *atomic.Int64) func() {
	return func() {
		ctx := context.Background()
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		net.DeliverAll(ctx)
		now.Add(int64(time.Millisecond))
	}
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
// (its chunks lost on the way), or at any of the ticks before its first
// chunk, while the engine copies the map and cuts the copy for 64 KiB
// messages: the engine reads the limit at every tick, cuts the catch-up
// (or the copy) again to fit, and names the new limit to eu-west-1 in its
// digests. Nothing is ever handed to the transport larger than it takes,
// nothing is counted over a limit, and the regions converge.
func TestAccidentTransportLimitLowered(t *testing.T) {
	t.Run("mid-catch-up", func(t *testing.T) {
		// About 300 KB: a catch-up in chunks of 64 KiB.
		lowerBusLimit(t, 20_000, true, func(_ int, east *crdt.Replica) bool {
			return east.Stats().Peers[0].CatchUpChunksLeft > 1
		})
	})
	for at := range 6 {
		t.Run(fmt.Sprintf("round-%d", at), func(t *testing.T) {
			// About 75 KB, more than a message: copied, then cut.
			lowerBusLimit(t, 5_000, false, func(round int, _ *crdt.Replica) bool { return round == at })
		})
	}
}

// lowerBusLimit runs TestAccidentTransportLimitLowered with a map of keys
// counters, lowering the limit after the round for which lower first
// returns true, and losing what us-east-1 sent in that round if lose.
func lowerBusLimit(t *testing.T, keys int, lose bool, lower func(round int, east *crdt.Replica) bool) {
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
	for i := range keys {
		addHit(t, maps["us-east-1"], fmt.Sprintf("page-%05d", i))
	}
	lowered := false
	for round := range 400 {
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		if !lowered && lower(round, reps["us-east-1"]) {
			if lose {
				net.PartitionOneWay("us-east-1", "eu-west-1")
				net.DeliverAll(ctx)
				net.Heal("us-east-1", "eu-west-1")
			}
			east.n.Store(4 << 10)
			lowered = true
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
		got := hitsOf(h)
		if first == nil {
			first = got
		} else if !cmp.Equal(first, got) {
			return false
		}
	}
	return len(first) > 0
}

// counts returns the value of each key's counter in m.
func counts(m *ormap.Map[string, *ormap.Counter]) map[string]int64 {
	out := map[string]int64{}
	for k, c := range m.All() {
		out[k] = c.Value()
	}
	return out
}

// hitsOf returns the value of each key's counter in h.
func hitsOf(h hitsMap) map[string]int64 {
	var out map[string]int64
	h.Read(func(m *ormap.Map[string, *ormap.Counter]) { out = counts(m) })
	return out
}

// proxyTransport is a Transport through a proxy that refuses a message
// larger than n bytes, as an HTTP proxy answers 413 to a request over its
// body limit: the Send fails with an error wrapping crdt.ErrTooLarge.
type proxyTransport struct {
	crdt.Transport
	n       int
	refused atomic.Int64
	largest atomic.Int64 // the largest message handed to it
}

func (t *proxyTransport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if n := int64(len(msg)); n > t.largest.Load() {
		t.largest.Store(n)
	}
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
	w := newProxyRegions(t, 8<<10)
	w.round()
	w.net.Partition("us-east-1", "eu-west-1")
	for i := range 5000 {
		w.write("us-east-1", i)
	}
	w.round()
	w.net.Heal("us-east-1", "eu-west-1")
	w.settle(200)
	if w.proxies["us-east-1"].refused.Load() == 0 {
		t.Fatal("the proxy refused nothing: the test sends nothing over its limit")
	}
	// Both write on, in runs of 300 ops between rounds.
	for i := range 1200 {
		w.write(w.ids[i%2], 5000+i)
		if i%300 == 299 {
			w.round()
		}
	}
	w.settle(100)
	for _, id := range w.ids {
		if w.refusing[id] > 10 {
			t.Fatalf("the proxy refused %s's messages in %d rounds, more than the ten halvings from 1 MiB to 1 KiB", id, w.refusing[id])
		}
	}
	for _, id := range w.ids {
		t.Logf("the proxy refused %d of %s's messages, in %d rounds; it sends its peer messages of up to %d bytes", w.proxies[id].refused.Load(), id, w.refusing[id], w.reps[id].Stats().Peers[0].MessageLimit)
	}
}

// TestAccidentProxyLimitRaisedAgain: the proxy of
// TestAccidentProxyRefusesLargeMessages stays at 8 KiB for a while, then
// the operator raises its limit to 1 MiB again. While it stays, the
// regions try larger messages at most once in a thousand ticks, and each
// try costs at most two refused messages: the regions keep converging,
// and the bound on their messages stays within four times what the proxy
// takes. Once it is raised, the bound doubles every thousand ticks while
// the writes go on and fill it, past 64 KiB, and 5,000 new keys go in
// messages larger than that. (It grows only while the messages fill more
// than half of it.)
//
// Before, the bound stayed for the life of the replicas.
func TestAccidentProxyLimitRaisedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("14,000 ticks, on one goroutine")
	}
	w := newProxyRegions(t, 8<<10)
	for i := range 3000 {
		w.write(w.ids[i%2], i)
	}
	w.settle(100)
	refused := map[crdt.ReplicaID]int64{}
	for _, id := range w.ids {
		refused[id] = w.proxies[id].refused.Load()
		if refused[id] == 0 {
			t.Fatalf("the proxy refused none of %s's messages: the test sends nothing over its limit", id)
		}
	}
	// 4,000 ticks at 8 KiB, with 1,000 writes from each region every
	// 100, more than one message takes: each region may try larger
	// messages four times, each costing at most two refusals.
	burst := func(i int) {
		if i%100 == 0 {
			for j := range 2000 {
				w.write(w.ids[j%2], (i*20+j)%6000)
			}
		}
	}
	for i := range 4000 {
		burst(i)
		w.round()
	}
	w.settle(100)
	for _, id := range w.ids {
		if got := w.proxies[id].refused.Load() - refused[id]; got > 8 {
			t.Fatalf("the proxy refused %d of %s's messages in 4,000 ticks once its bound was found, more than two in a thousand", got, id)
		}
		if got := w.reps[id].Stats().Peers[0].MessageLimit; got >= 32<<10 {
			t.Fatalf("%s sends messages of up to %d bytes through a proxy that takes 8 KiB", id, got)
		}
		t.Logf("%s: %d messages refused in 4,000 ticks at 8 KiB; its messages are bounded at %d bytes", id, w.proxies[id].refused.Load()-refused[id], w.reps[id].Stats().Peers[0].MessageLimit)
	}

	for _, id := range w.ids {
		w.proxies[id].n = 1 << 20
	}
	grown := func() bool {
		for _, id := range w.ids {
			if w.reps[id].Stats().Peers[0].MessageLimit <= 64<<10 {
				return false
			}
		}
		return true
	}
	ticks := 0
	for ; ticks < 10_000 && !grown(); ticks++ {
		burst(ticks)
		w.round()
	}
	w.settle(100)
	for _, id := range w.ids {
		if got := w.reps[id].Stats().Peers[0].MessageLimit; got <= 64<<10 {
			t.Fatalf("%s sends messages of up to %d bytes 10,000 ticks after the proxy takes 1 MiB again", id, got)
		}
	}
	t.Logf("the bounds grew past 64 KiB in %d ticks", ticks)
	w.proxies["us-east-1"].largest.Store(0)
	for i := range 5000 {
		w.write("us-east-1", 100_000+i)
	}
	w.settle(100)
	if got := w.proxies["us-east-1"].largest.Load(); got <= 64<<10 {
		t.Fatalf("5,000 new keys went to eu-west-1 in messages of at most %d bytes, want some over 64 KiB", got)
	}
}

// TestAccidentProxyRefusedALargeValue: a proxy between the regions takes
// 64 KiB for a while (an operator's mistake, soon undone), and refuses
// the run of ops carrying a 70 KiB element of a set, so that us-east-1
// sends eu-west-1 messages of about half that from then on. The proxy is
// fixed, and a 40 KiB element is written: too large for the bound, its
// op goes to a catch-up, which cannot cut an element smaller either, so
// no message fills the bound. The bound grows back all the same, because
// it held something back, and eu-west-1 gets both elements.
//
// Before, the bound grew back only while messages filled it, and the
// elements never arrived.
func TestAccidentProxyRefusedALargeValue(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(17)
	ids := []crdt.ReplicaID{"eu-west-1", "us-east-1"}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	sets := map[crdt.ReplicaID]*crdt.Handle[*orset.Set[string]]{}
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), CompressAbove: -1,
			Clock: clock.New(clock.WithSource(now.Load))})
		if err != nil {
			t.Fatal(err)
		}
		if sets[id], err = crdt.Register(r, "big", orset.New[string](id)); err != nil {
			t.Fatal(err)
		}
		if err := r.AddPeer(ids[1-i]); err != nil {
			t.Fatal(err)
		}
		net.Attach(id, r)
		reps[id] = r
	}
	round := roundOf(ids, reps, net, &now)
	add := func(n int, fill string) {
		if err := sets["us-east-1"].Update(func(s *orset.Set[string]) (crdt.Op, error) {
			return s.Add(strings.Repeat(fill, n)), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	held := func() int {
		n := 0
		sets["eu-west-1"].Read(func(s *orset.Set[string]) { n = s.Len() })
		return n
	}
	for range 5 {
		round()
	}
	net.MaxBytes = 64 << 10
	add(70<<10, "a")
	round()
	if net.Stats().TooLarge == 0 {
		t.Fatal("the proxy refused nothing: the test sends nothing over its limit")
	}
	net.MaxBytes = 0
	add(40<<10, "b")
	rounds := 0
	for ; rounds < 5000 && held() < 2; rounds++ {
		round()
	}
	if got := held(); got != 2 {
		p := reps["us-east-1"].Stats().Peers[0]
		t.Fatalf("eu-west-1 holds %d of the 2 elements after 5,000 rounds: messages to it of up to %d bytes, %d ops pending, awaiting a catch-up %v", got, p.MessageLimit, p.PendingOps, p.AwaitingCatchUp)
	}
	t.Logf("eu-west-1 holds both elements %d rounds after the proxy was fixed", rounds)
}

// proxyRegions is two regions that write a map of counters through
// proxies that refuse messages over a limit (see proxyTransport), driven
// round by round.
type proxyRegions struct {
	t        *testing.T
	now      atomic.Int64
	net      *memnet.Network
	ids      []crdt.ReplicaID
	reps     map[crdt.ReplicaID]*crdt.Replica
	maps     map[crdt.ReplicaID]hitsMap
	proxies  map[crdt.ReplicaID]*proxyTransport
	refusing map[crdt.ReplicaID]int // rounds in which the proxy refused the region's messages
}

// newProxyRegions sets up eu-west-1 and us-east-1, attached, each behind
// a proxy that takes n bytes, with MaxMessageBytes at its default.
func newProxyRegions(t *testing.T, n int) *proxyRegions {
	w := &proxyRegions{
		t:        t,
		net:      memnet.New(9),
		ids:      []crdt.ReplicaID{"eu-west-1", "us-east-1"},
		proxies:  map[crdt.ReplicaID]*proxyTransport{},
		refusing: map[crdt.ReplicaID]int{},
	}
	w.now.Store(time.Date(2026, 12, 5, 11, 0, 0, 0, time.UTC).UnixNano())
	w.reps, w.maps = hitsRegions(t, w.ids, &w.now, func(id crdt.ReplicaID) crdt.Config {
		w.proxies[id] = &proxyTransport{Transport: w.net.Transport(id), n: n}
		return crdt.Config{Transport: w.proxies[id], MaxLogOps: 64, AntiEntropyTicks: 10, CompressAbove: -1}
	})
	for _, id := range w.ids {
		w.net.Attach(id, w.reps[id])
	}
	return w
}

// round ticks each region, then delivers every message.
func (w *proxyRegions) round() {
	ctx := context.Background()
	for _, id := range w.ids {
		before := w.proxies[id].refused.Load()
		_ = w.reps[id].Tick(ctx)
		if w.proxies[id].refused.Load() > before {
			w.refusing[id]++
		}
	}
	w.net.DeliverAll(ctx)
	w.now.Add(int64(time.Millisecond))
}

// write increments key i's counter in region id.
func (w *proxyRegions) write(id crdt.ReplicaID, i int) {
	addHit(w.t, w.maps[id], fmt.Sprintf("page-%05d", i))
}

// settle runs rounds until the regions hold the same counters, failing
// the test if they do not within n.
func (w *proxyRegions) settle(n int) {
	w.t.Helper()
	for i := 0; i < n && !sameHits(w.maps); i++ {
		w.round()
	}
	if !sameHits(w.maps) {
		w.t.Fatalf("no convergence after %d rounds", n)
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
