package crdt_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// olderGapMap is a map of registers as a replica of a release before gap
// hashes (and content fingerprints) replicates it: its GapHash is not the
// one a [crdt.GapHasher] has, nor its ContentFingerprint a
// [crdt.ContentFingerprinter]'s, so the engine neither sends a gap or
// content entry for it nor compares a peer's with it, which is what such
// a release does with every object (it reads those entries as the digest
// entries of objects it does not have). The envelope decoder did not
// change: it reads every message either release sends.
type olderGapMap struct {
	*registerMap
}

// GapHash shadows the map's, with another signature.
func (olderGapMap) GapHash() {}

// ContentFingerprint shadows the map's, with another signature.
func (olderGapMap) ContentFingerprint() {}

// gapNet is a few honest regions, each holding a map of registers "reg",
// and a hostile peer "evil" that sends them ops of its own writer.
type gapNet struct {
	t       *testing.T
	net     *memnet.Network
	now     atomic.Int64
	ids     []crdt.ReplicaID
	r       map[crdt.ReplicaID]*crdt.Replica
	read    map[crdt.ReplicaID]func(func(*registerMap))
	write   map[crdt.ReplicaID]func(key, value string)
	evil    *registerMap // evil's map, under its writer
	evilSeq uint64       // the next sequence number of evil's messages
}

// newGapNet starts regions ids; those in older run the map as an older
// release does (see olderGapMap).
func newGapNet(t *testing.T, ids []crdt.ReplicaID, older ...crdt.ReplicaID) *gapNet {
	g := &gapNet{t: t, net: memnet.New(1), ids: ids, r: map[crdt.ReplicaID]*crdt.Replica{},
		read:  map[crdt.ReplicaID]func(func(*registerMap)){},
		write: map[crdt.ReplicaID]func(string, string){},
		evil:  ormap.New[string, *ormap.Register[string]](vclock.Writer("evil", 9)), evilSeq: 1}
	g.now.Store(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: g.net.Transport(id), Clock: clock.New(clock.WithSource(g.now.Load)), AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		m := ormap.New[string, *ormap.Register[string]](id)
		if slices.Contains(older, id) {
			h, err := crdt.Register(r, "reg", olderGapMap{m})
			if err != nil {
				t.Fatal(err)
			}
			g.read[id] = func(f func(*registerMap)) { h.Read(func(o olderGapMap) { f(o.registerMap) }) }
			g.write[id] = func(k, v string) {
				if err := h.Update(func(o olderGapMap) (crdt.Op, error) { op := o.At(k).Set(v); return op, op.Err() }); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			h, err := crdt.Register(r, "reg", m)
			if err != nil {
				t.Fatal(err)
			}
			g.read[id] = h.Read
			g.write[id] = func(k, v string) {
				if err := h.Update(func(m *registerMap) (crdt.Op, error) { op := m.At(k).Set(v); return op, op.Err() }); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, p := range append(slices.Clone(ids), "evil") {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		g.r[id] = r
		g.net.Attach(id, r)
	}
	return g
}

// send sends evil's op b to the region to, as the next message of evil,
// and reports whether the region applied it.
func (g *gapNet) send(to crdt.ReplicaID, b []byte) bool {
	msg, err := crdt.Forge(crdt.Forgery{From: "evil", To: to, Incarnation: 1, FirstSeq: g.evilSeq, Ops: []crdt.ForgedEntry{{Object: "reg", Bytes: b}}})
	if err != nil {
		g.t.Fatal(err)
	}
	g.evilSeq++
	var before uint64
	for _, p := range g.r[to].Stats().Peers {
		if p.Peer == "evil" {
			before = p.OpsApplied
		}
	}
	_ = g.r[to].Receive(context.Background(), "evil", msg)
	for _, p := range g.r[to].Stats().Peers {
		if p.Peer == "evil" {
			return p.OpsApplied > before
		}
	}
	return false
}

// refusedEverywhere makes evil's next op (a set of key) and sends it to
// every region in a form every replica refuses: dropping its own dot.
// Nobody will ever hold it, so every later op of evil's sits past a gap.
func (g *gapNet) refusedEverywhere(key string) {
	op := g.evil.At(key).Set("refused")
	b, err := op.MarshalBinary()
	if err != nil {
		g.t.Fatal(err)
	}
	bad := withDrops(b, []vclock.Dot{op.Dot()})
	for _, id := range g.ids {
		if g.send(id, bad) {
			g.t.Fatalf("%s took an op that drops its own dot", id)
		}
	}
}

// evilSet makes evil's next op on m (evil's map, or a copy of it) and
// sends it to the regions given, which must take it.
func (g *gapNet) evilSet(m *registerMap, key, value string, to ...crdt.ReplicaID) {
	op := m.At(key).Set(value)
	b, err := op.MarshalBinary()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, id := range to {
		if !g.send(id, b) {
			g.t.Fatalf("%s refused evil's op %v", id, op.Dot())
		}
	}
}

// evilDelete is evilSet for a delete of key.
func (g *gapNet) evilDelete(m *registerMap, key string, to ...crdt.ReplicaID) {
	op := m.Delete(key)
	b, err := op.MarshalBinary()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, id := range to {
		if !g.send(id, b) {
			g.t.Fatalf("%s refused evil's op %v", id, op.Dot())
		}
	}
}

func (g *gapNet) round() {
	for _, id := range g.ids {
		_ = g.r[id].Tick(context.Background())
	}
	g.net.DeliverAll(context.Background())
	g.now.Add(int64(5 * time.Millisecond))
}

// divergences returns the divergences each region counted, by peer.
func (g *gapNet) divergences() map[crdt.ReplicaID]uint64 {
	out := map[crdt.ReplicaID]uint64{}
	for _, id := range g.ids {
		for _, p := range g.r[id].Stats().Peers {
			if p.Divergences > 0 {
				out[id+"<-"+p.Peer] += p.Divergences
			}
		}
	}
	return out
}

func (g *gapNet) state(id crdt.ReplicaID) (version string, fp uint64, gaps bool, values map[string][]string) {
	g.read[id](func(m *registerMap) {
		version, fp, gaps, values = m.Version().String(), m.Fingerprint(), m.HasGaps(), registerValues(m)
	})
	return
}

// TestGapHiddenDivergenceCounted: a hostile writer sends an op every
// replica refuses, then ops that are taken, so that every honest replica
// holds its later writes past a gap that never fills, for good. It then
// writes two different ops under one dot, one to each honest region (a
// set of a new key to one, a delete of a key both hold to the other): the
// two hold the same version and the same writes past it (the same
// context), and different content. That must be counted as a divergence,
// as it would be without the gap. Before gap hashes the engine compared
// no fingerprint of an object with gaps, and the divergence went
// uncounted (the regions then heal to the delete's side: the other's
// write is lost without a word).
//
// (Two sets under one dot would not show in the fingerprints, which hash
// a register's dot, not its key or value, which the dot names: the
// content fingerprints tell those apart, see
// TestEquivocationCountedAndHealed.)
func TestGapHiddenDivergenceCounted(t *testing.T) { gapDivergenceCounted(t, "a") }

// gapDivergenceCounted runs TestGapHiddenDivergenceCounted with evil's
// op after the refused one on key, then the delete on key: "k" (the
// refused op's key) leaves a ghost for a gap, any other key a gap.
func gapDivergenceCounted(t *testing.T, key string) {
	g := newGapNet(t, []crdt.ReplicaID{"h0", "h1"})
	g.refusedEverywhere("k")
	g.evilSet(g.evil, key, "taken", "h0", "h1")
	twin := g.evil.Clone() // evil's map as it is, to write a second op under the next dot
	g.evilSet(g.evil, "b", "one", "h0")
	g.evilDelete(twin, key, "h1")
	v0, fp0, gaps0, val0 := g.state("h0")
	v1, fp1, gaps1, val1 := g.state("h1")
	if v0 != v1 || !gaps0 || !gaps1 || fp0 == fp1 {
		t.Fatalf("the scenario did not come about: versions %s and %s, gaps %v and %v, fingerprints %#x and %#x, %v and %v",
			v0, v1, gaps0, gaps1, fp0, fp1, val0, val1)
	}
	for range 40 {
		g.round()
	}
	d := g.divergences()
	if d["h0<-h1"] == 0 || d["h1<-h0"] == 0 {
		t.Fatalf("divergence past a gap not counted: %v (h0 %v, h1 %v)", d, val0, val1)
	}
	for _, id := range g.ids {
		if st := g.r[id].Stats(); st.Uncompared != 1 {
			t.Fatalf("%s: Uncompared = %d, want 1 (the map holds writes past a gap)", id, st.Uncompared)
		}
	}
}

// TestGapSameGapsAgree: honest regions holding the same writes past the
// same gap, and the same content, compare fingerprints and count no
// divergence, whatever the order the writes came in.
func TestGapSameGapsAgree(t *testing.T) {
	g := newGapNet(t, []crdt.ReplicaID{"h0", "h1", "h2"})
	g.refusedEverywhere("k")
	g.evilSet(g.evil, "a", "x", "h2", "h0")
	g.evilSet(g.evil, "b", "y", "h1", "h0")
	g.write["h1"]("c", "z")
	for range 40 {
		g.round()
	}
	if d := g.divergences(); len(d) > 0 {
		t.Fatalf("divergences counted between replicas holding the same writes: %v", d)
	}
	v0, fp0, gaps0, _ := g.state("h0")
	for _, id := range g.ids[1:] {
		v, fp, gaps, _ := g.state(id)
		if v != v0 || fp != fp0 || !gaps || !gaps0 {
			t.Fatalf("%s: %s %#x gaps %v; h0: %s %#x gaps %v", id, v, fp, gaps, v0, fp0, gaps0)
		}
	}
}

// TestGapDifferentGapsNotCompared: regions at one version that hold
// different writes past it hold different content without having
// diverged; no divergence may be counted while the writes spread. Each
// region holds one of evil's writes past the gap, the other's not.
func TestGapDifferentGapsNotCompared(t *testing.T) {
	g := newGapNet(t, []crdt.ReplicaID{"h0", "h1"})
	g.refusedEverywhere("k")
	// Both writes past the gap; each region gets one, so that they sit
	// at one version (evil's entry 0) with different writes past it.
	g.evilSet(g.evil, "a", "x", "h0")
	g.evilSet(g.evil, "b", "y", "h1") // the next dot, on h1 only
	v0, fp0, _, _ := g.state("h0")
	v1, fp1, _, _ := g.state("h1")
	if v0 != v1 || fp0 == fp1 {
		t.Fatalf("the scenario did not come about: versions %s and %s, fingerprints %#x and %#x", v0, v1, fp0, fp1)
	}
	for range 40 {
		g.round()
		if d := g.divergences(); len(d) > 0 {
			t.Fatalf("divergences counted between replicas holding different writes past a gap: %v", d)
		}
	}
	_, fp0, _, val0 := g.state("h0")
	_, fp1, _, val1 := g.state("h1")
	if fp0 != fp1 {
		t.Fatalf("did not converge: %v and %v", val0, val1)
	}
}

// TestGapRolloutOlderRelease: a region of an older release (which sends
// no gap entries and ignores those it gets) and a region of this one
// holding writes past a gap that the older lacks at first: neither counts
// a divergence, messages flow both ways without a refusal, and the two
// converge, then keep replicating new writes.
func TestGapRolloutOlderRelease(t *testing.T) {
	for _, older := range []crdt.ReplicaID{"h0", "h1"} {
		g := newGapNet(t, []crdt.ReplicaID{"h0", "h1"}, older)
		newer := crdt.ReplicaID("h0")
		if older == newer {
			newer = "h1"
		}
		// The newer region holds writes past a gap, the older none at
		// first: at one version, with different content. Were the newer
		// to send its fingerprint in the object's entry, the older would
		// compare it with its own, and count a divergence.
		g.refusedEverywhere("k")
		g.evilSet(g.evil, "a", "x", newer)
		g.evilSet(g.evil, "b", "y", newer)
		for range 40 {
			g.round()
			if d := g.divergences(); len(d) > 0 {
				t.Fatalf("older %s: divergences %v", older, d)
			}
		}
		g.write["h0"]("new0", "v0")
		g.write["h1"]("new1", "v1")
		for range 40 {
			g.round()
		}
		_, fp0, _, val0 := g.state("h0")
		_, fp1, _, val1 := g.state("h1")
		if fp0 != fp1 || len(val0["new1"]) == 0 || len(val1["new0"]) == 0 || len(val1["b"]) == 0 {
			t.Fatalf("older %s: did not replicate: h0 %v, h1 %v", older, val0, val1)
		}
		if d := g.divergences(); len(d) > 0 {
			t.Fatalf("older %s: divergences %v", older, d)
		}
		if err := g.net.LastError(); err != nil {
			t.Fatalf("older %s: a message was refused: %v", older, err)
		}
		for _, id := range g.ids {
			for _, p := range g.r[id].Stats().Peers {
				if p.Peer != "evil" && len(p.Refused) > 0 {
					t.Fatalf("older %s: %s refused from %s: %v", older, id, p.Peer, p.Refused)
				}
			}
		}
	}
}

// TestGapGhostDivergenceCounted is TestGapHiddenDivergenceCounted with
// a ghost for a gap: evil's next op after the refused one overwrites the
// same key, so it drops the refused op's dot, which every honest replica
// then holds as seen and dropped but never applied (a ghost), for good.
// Replicas that hold the same ghosts have applied the same writes, so a
// divergence behind them must be counted too.
func TestGapGhostDivergenceCounted(t *testing.T) { gapDivergenceCounted(t, "k") }
