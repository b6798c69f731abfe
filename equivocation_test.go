package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
)

// TestEquivocationCountedAndHealed: a hostile writer sends two different
// writes under one dot, one to h0 and the other to h1 and h2 (a set of
// the same key to different values). The regions hold the same version
// and the same fingerprint (a map's fingerprint hashes a write's dot, not
// its value), and different content, for good: no merge takes a write
// whose dot the receiver has seen. The regions' content fingerprints (see
// crdt.ContentFingerprinter) tell: the divergence is counted, and healed,
// each region dropping the dot (ormap's HealBinary): they end equal,
// with neither write, and count nothing more. The same after a gap that
// never fills (an op every region refused): content entries carry the
// gap hash and are compared across it.
func TestEquivocationCountedAndHealed(t *testing.T) {
	for _, gap := range []bool{false, true} {
		name := map[bool]string{false: "no gap", true: "past a gap"}[gap]
		t.Run(name, func(t *testing.T) {
			g := newGapNet(t, []crdt.ReplicaID{"h0", "h1", "h2"})
			if gap {
				g.refusedEverywhere("k")
			}
			g.write["h0"]("h", "honest")
			for range 10 {
				g.round()
			}
			twin := g.evil.Clone()
			g.evilSet(g.evil, "a", "one", "h0")
			g.evilSet(twin, "a", "two", "h1", "h2")
			v0, fp0, _, val0 := g.state("h0")
			v1, fp1, _, val1 := g.state("h1")
			if v0 != v1 || fp0 != fp1 || val0["a"][0] != "one" || val1["a"][0] != "two" {
				t.Fatalf("the scenario did not come about: versions %s and %s, fingerprints %#x and %#x, %v and %v", v0, v1, fp0, fp1, val0, val1)
			}
			if g.content("h0") == g.content("h1") {
				t.Fatal("equal content fingerprints for different writes")
			}
			for range 40 {
				g.round()
			}
			d := g.divergences()
			for _, pair := range []crdt.ReplicaID{"h0<-h1", "h1<-h0", "h0<-h2", "h2<-h0"} {
				if d[pair] == 0 {
					t.Fatalf("divergence %s not counted: %v", pair, d)
				}
			}
			if d["h1<-h2"] != 0 || d["h2<-h1"] != 0 {
				t.Fatalf("h1 and h2 hold the same write, yet counted a divergence: %v", d)
			}
			for _, id := range g.ids {
				v, fp, _, val := g.state(id)
				if v != v0 || fp != g.fp("h0") || g.content(id) != g.content("h0") {
					t.Fatalf("%s did not converge: %s %#x, %v", id, v, fp, val)
				}
				if len(val["a"]) != 0 || len(val["h"]) != 1 {
					t.Fatalf("%s holds %v: want h alone (the dot evil used twice dropped)", id, val)
				}
			}
			for range 40 {
				g.round()
			}
			if after := g.divergences(); !equalCounts(after, d) {
				t.Fatalf("divergences counted after healing: %v, then %v", d, after)
			}
		})
	}
}

// content returns the content fingerprint of region id's map.
func (g *gapNet) content(id crdt.ReplicaID) (cfp uint64) {
	g.read[id](func(m *registerMap) { cfp = m.ContentFingerprint() })
	return cfp
}

// fp returns the fingerprint of region id's map.
func (g *gapNet) fp(id crdt.ReplicaID) uint64 {
	_, fp, _, _ := g.state(id)
	return fp
}

func equalCounts(a, b map[crdt.ReplicaID]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestEquivocationRolloutOlderRelease: h0 runs a release before content
// fingerprints (it sends no content entries and ignores those it gets),
// h1 and h2 this one. Evil's two writes under one dot go to h0 and h1,
// and to h2. The pair h1, h2 sees the divergence by content and heals,
// dropping the dot; h0, which holds a write h1 and h2 have now dropped,
// then differs from them in its plain fingerprint, and heals the same
// way. Nothing is refused, and all end equal. (A pair of one release and
// the other, alone, cannot tell: the older compares no content.)
func TestEquivocationRolloutOlderRelease(t *testing.T) {
	g := newGapNet(t, []crdt.ReplicaID{"h0", "h1", "h2"}, "h0")
	g.write["h1"]("h", "honest")
	for range 10 {
		g.round()
	}
	twin := g.evil.Clone()
	g.evilSet(g.evil, "a", "one", "h0", "h1")
	g.evilSet(twin, "a", "two", "h2")
	for range 60 {
		g.round()
	}
	d := g.divergences()
	if d["h1<-h2"] == 0 || d["h2<-h1"] == 0 {
		t.Fatalf("h1 and h2 counted no divergence: %v", d)
	}
	v0, fp0, _, _ := g.state("h0")
	for _, id := range g.ids {
		v, fp, _, val := g.state(id)
		if v != v0 || fp != fp0 || len(val["a"]) != 0 || len(val["h"]) != 1 {
			t.Fatalf("%s: %s %#x %v; h0: %s %#x", id, v, fp, val, v0, fp0)
		}
	}
	if err := g.net.LastError(); err != nil {
		t.Fatalf("a message was refused: %v", err)
	}
	for _, id := range g.ids {
		for _, p := range g.r[id].Stats().Peers {
			if p.Peer != "evil" && len(p.Refused) > 0 {
				t.Fatalf("%s refused from %s: %v", id, p.Peer, p.Refused)
			}
		}
	}
}
