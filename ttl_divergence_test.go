package crdt_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/vclock"
)

// TestExpiringKeyDivergenceCounted: a peer sends h0 a put of key a and
// an expire of it in an hour, and h1, under the same two dots, the put
// and a delete. The regions hold one version and one fingerprint (an
// expiring key, like a deleted one, is left out of it), and h0 reads a
// for an hour where h1 reads nothing. The content fingerprints left
// expiring keys out too: no divergence was counted, and the regions read
// differently until the key expired (for a TTL of a year, a year). The
// content fingerprint at the digest's time now counts the key: the
// divergence is counted and the regions end reading alike.
func TestExpiringKeyDivergenceCounted(t *testing.T) {
	expiringKeyDivergence(t, clock.DefaultMaxOffset, time.Millisecond)
}

// TestExpiringKeyDivergenceCountedOverASlowLink is
// TestExpiringKeyDivergenceCounted between regions on two continents:
// clocks kept within 20 ms of each other (the maximum offset the regions
// are configured with) and every message 80 ms in flight. A content
// entry names the wall time of its digest, which is a message's latency
// behind the receiver's clock when it arrives; one further than twice the
// maximum offset from the receiver's clock was never compared, so no
// divergence was ever counted over such a link.
func TestExpiringKeyDivergenceCountedOverASlowLink(t *testing.T) {
	expiringKeyDivergence(t, 20*time.Millisecond, 80*time.Millisecond)
}

// expiringKeyDivergence runs TestExpiringKeyDivergenceCounted with
// clocks of maximum offset off and every message latency in flight.
func expiringKeyDivergence(t *testing.T, off, latency time.Duration) {
	t.Helper()
	var now int64 = 1_795_000_000_000_000_000
	src := func() int64 { return now }
	ids := []crdt.ReplicaID{"h0", "h1"}
	g := newForgedNet(t, ids, "kv", func(id crdt.ReplicaID) (crdt.Config, *lwwmap.Map[string, string]) {
		clk := clock.New(clock.WithSource(src), clock.WithMaxOffset(off))
		return crdt.Config{Clock: clk, AntiEntropyTicks: 5}, lwwmap.New[string, string](id, clk)
	})
	kv := g.h
	ctx := context.Background()
	// A round ticks every region and delivers what they sent a
	// message's latency later.
	round := func() {
		for _, id := range ids {
			_ = g.r[id].Tick(ctx)
		}
		now += int64(latency)
		g.net.DeliverAll(ctx)
	}
	if err := kv["h0"].Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put("h", "honest"), nil }); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		round()
	}
	w := vclock.Writer("evil", 9)
	for i, last := range []func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string]{
		func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Expire("a", time.Hour) },
		func(m *lwwmap.Map[string, string]) lwwmap.Op[string, string] { return m.Delete("a") },
	} {
		evil := lwwmap.New[string, string](w, clock.New(clock.WithSource(src), clock.WithMaxOffset(off)))
		var ops [][]byte
		for _, op := range []lwwmap.Op[string, string]{evil.Put("a", "x"), last(evil)} {
			b, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, b)
		}
		if err := g.forge(ids[i], w, 1, ops...); err != nil {
			t.Fatal(err)
		}
	}
	read := func(id crdt.ReplicaID) (out map[string]string, v vclock.Clock, fp uint64) {
		kv[id].Read(func(m *lwwmap.Map[string, string]) { out, v, fp = maps.Collect(m.All()), m.Version(), m.Fingerprint() })
		return out, v, fp
	}
	r0, v0, fp0 := read("h0")
	r1, v1, fp1 := read("h1")
	if !v0.Equal(v1) || fp0 != fp1 || r0["a"] != "x" || len(r1) != 1 {
		t.Fatalf("the scenario did not come about: %v %v %#x, %v %v %#x", r0, v0, fp0, r1, v1, fp1)
	}
	for range 40 {
		round()
	}
	divergences := g.divergences()
	r0, v0, _ = read("h0")
	r1, v1, _ = read("h1")
	if divergences == 0 || !maps.Equal(r0, r1) {
		t.Fatalf("%d divergences counted; h0 reads %v at %v, h1 %v at %v", divergences, r0, v0, r1, v1)
	}
	t.Logf("%d divergences counted; both read %v", divergences, r0)
}
