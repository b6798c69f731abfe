package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// TestEngineHealsCraftedResetDrop is the divergence of "Untrusted peers"
// in the ormap package documentation, through the engine. h0 increments
// "a" (all three regions take it), then, cut off from h1, increments it
// again (continuing its chain, which drops the first leaf without a
// record) and deletes it (a reset covering the chain). A hostile peer
// increments "a" with its drop list rewritten to the reset, and sends it
// to h2 alone. h1 learns of h0's later writes and of the hostile drop
// from h2's state, before h0's ops reach it: it keeps h0's first leaf,
// which h0 and h2 have dropped, and reads 2 where they read 1, at the
// same version. The engine counts the divergence and heals it (each side
// sends its whole state, merged with HealBinary): the regions end equal,
// reading 1, and count no divergence after.
//
// The same again after the hostile peer has left every region with a gap
// in its writes that never fills: an op every region refuses (it drops
// its own dot), then one every region takes, beside the refused one
// ("gap") or dropping it ("ghost": the regions hold the refused dot as
// seen and dropped, never applied). The regions then compare the map's
// fingerprints across the gap (see crdt.GapHasher); were they not to, the
// divergence would go uncounted and unhealed.
func TestEngineHealsCraftedResetDrop(t *testing.T) {
	for _, mode := range []string{"", "gap", "ghost"} {
		t.Run("after="+mode, func(t *testing.T) { testEngineHealsCraftedResetDrop(t, mode) })
	}
}

func testEngineHealsCraftedResetDrop(t *testing.T, mode string) {
	ids := []crdt.ReplicaID{"h0", "h1", "h2"}
	g := newForgedNet(t, ids, "cnt", func(id crdt.ReplicaID) (crdt.Config, *counterMap) {
		return crdt.Config{AntiEntropyTicks: 5}, ormap.New[string, *ormap.Counter](id)
	})
	regions, maps, net := g.r, g.h, g.net
	round := func() { g.rounds(1) }
	value := func(id crdt.ReplicaID) (n int64, version string, fp uint64) {
		maps[id].Read(func(m *counterMap) {
			c, _ := m.Get("a")
			n, version, fp = c.Value(), m.Version().String(), m.Fingerprint()
		})
		return n, version, fp
	}
	var made [][]byte // h0's ops, for the hostile peer to learn
	write := func(f func(m *counterMap) ormap.Op) {
		if err := maps["h0"].Update(func(m *counterMap) (crdt.Op, error) {
			op := f(m)
			b, err := op.MarshalBinary()
			made = append(made, b)
			return op, err
		}); err != nil {
			t.Fatal(err)
		}
	}

	evilWriter := vclock.Writer("evil", 9)
	evil := ormap.New[string, *ormap.Counter](evilWriter)
	seq := uint64(1) // evil's next message's first op
	send := func(to crdt.ReplicaID, op []byte) (taken bool) {
		t.Helper()
		before := regions[to].Stats().Peers
		_ = g.forge(to, evilWriter, seq, op)
		return opsApplied(regions[to].Stats().Peers, "evil") > opsApplied(before, "evil")
	}
	if mode != "" {
		first := evil.At("z").Add(1)
		b, err := first.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		key := "y" // beside the refused op
		if mode == "ghost" {
			key = "z" // continuing its chain: drops the refused op's dot
		}
		next, err := evil.At(key).Add(1).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if send(id, withDrops(b, []vclock.Dot{first.Dot()})) {
				t.Fatalf("%s took an op that drops its own dot", id)
			}
		}
		seq++
		for _, id := range ids {
			if !send(id, next) {
				t.Fatalf("%s refused evil's op on %q", id, key)
			}
		}
		seq++
		for range 10 {
			round()
		}
		for _, id := range ids {
			maps[id].Read(func(m *counterMap) {
				if !m.HasGaps() {
					t.Fatalf("%s: no gap left by the refused op", id)
				}
			})
		}
	}
	write(func(m *counterMap) ormap.Op { return m.At("a").Add(1) })
	for range 3 {
		round()
	}
	net.Partition("h0", "h1")
	write(func(m *counterMap) ormap.Op { return m.At("a").Add(1) })
	write(func(m *counterMap) ormap.Op { return m.Delete("a") })
	for range 3 {
		round()
	}

	// The hostile peer learns h0's ops, increments "a" and rewrites the
	// op to drop h0's reset, which h2 has seen, so h2 takes it.
	var reset vclock.Dot
	for _, b := range made {
		op, err := evil.DecodeOp(b)
		if err != nil {
			t.Fatal(err)
		}
		if op.IsRemove() {
			reset = op.Dot()
		}
		if err := evil.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	b, err := evil.At("a").Add(1).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.forge("h2", evilWriter, seq, withDrops(b, []vclock.Dot{reset})); err != nil {
		t.Fatal(err)
	}
	if n, _, _ := value("h2"); n != 1 {
		t.Fatalf("h2 reads %d after the hostile op, want 1", n)
	}

	// h1 learns of it all from h2's state; then the link heals.
	for range 20 {
		round()
	}
	net.HealAll()
	divergences := g.divergences
	agree := func() bool {
		n0, v0, f0 := value(ids[0])
		for _, id := range ids[1:] {
			if n, v, f := value(id); n != n0 || v != v0 || f != f0 {
				return false
			}
		}
		return true
	}
	for i := 0; i < 200 && !(agree() && divergences() > 0); i++ {
		round()
	}
	if divergences() == 0 {
		t.Fatal("no divergence counted: the test no longer shows what a heal mends")
	}
	if !agree() {
		for _, id := range ids {
			n, v, f := value(id)
			t.Logf("%s: a=%d version %s fingerprint %x", id, n, v, f)
		}
		t.Fatal("the regions did not converge")
	}
	if n, _, _ := value("h1"); n != 1 {
		t.Fatalf("the regions agree on a=%d, want 1", n)
	}
	seen := divergences()
	for range 60 {
		round()
	}
	if !agree() || divergences() != seen {
		t.Fatalf("after agreeing: agree %v, divergences %d, then %d", agree(), seen, divergences())
	}
}

// opsApplied returns how many ops of peer id the stats say were applied.
func opsApplied(peers []crdt.PeerStats, id crdt.ReplicaID) uint64 {
	for _, p := range peers {
		if p.Peer == id {
			return p.OpsApplied
		}
	}
	return 0
}
