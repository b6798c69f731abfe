package crdt_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
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
			if after := g.divergences(); !maps.Equal(after, d) {
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

// TestEquivocationSetHealed: the same with an OR-Set and a multi-value
// register. A set's fingerprint hashes each element with its dot, so the
// two adds under one dot (one element to each region) show without
// content fingerprints; a register's hashes the dots alone, so its two
// sets under one dot show in its content fingerprint only. Before they
// were crdt.Healers, the regions counted the set's divergence at every
// digest and sent each other whole states for good, each keeping its own
// element, and never saw the register's; now they heal, holding neither.
func TestEquivocationSetHealed(t *testing.T) {
	healed := []string{"honest"} // neither of evil's writes
	t.Run("orset", func(t *testing.T) {
		equivocationHealed(t, 300, func(id crdt.ReplicaID) *orset.Set[string] { return orset.New[string](id) },
			func(s *orset.Set[string], v string) ([]byte, error) { return s.Add(v).MarshalBinary() },
			func(s *orset.Set[string]) []string { return slices.Collect(s.All()) }, healed)
	})
	t.Run("mv", func(t *testing.T) {
		// A register is one value: it has no parts.
		equivocationHealed(t, 0, func(id crdt.ReplicaID) *register.MV[string] { return register.NewMV[string](id) },
			func(m *register.MV[string], v string) ([]byte, error) { return m.Set(v).MarshalBinary() },
			func(m *register.MV[string]) []string { return m.Values() }, healed)
	})
	// A map of registers, whose TestEquivocationCountedAndHealed case
	// fits a message: here it takes several.
	t.Run("ormap", func(t *testing.T) {
		equivocationHealed(t, 100, func(id crdt.ReplicaID) *ormap.Map[string, *ormap.Register[string]] {
			return ormap.New[string, *ormap.Register[string]](id)
		},
			func(m *ormap.Map[string, *ormap.Register[string]], v string) ([]byte, error) {
				key := "k"
				if v != "x" && v != "y" {
					key = v
				}
				return m.At(key).Set(v).MarshalBinary()
			},
			func(m *ormap.Map[string, *ormap.Register[string]]) (vs []string) {
				for _, r := range m.All() {
					vs = append(vs, r.Values()...)
				}
				return vs
			}, healed)
	})
	// An LWW-map keeps one of the two writes on both sides: the later
	// (evil's second write reads the clock later), or by its value.
	t.Run("lwwmap", func(t *testing.T) {
		equivocationHealed(t, 120, func(id crdt.ReplicaID) *lwwmap.Map[string, string] {
			return lwwmap.New[string, string](id, clock.New())
		},
			func(m *lwwmap.Map[string, string], v string) ([]byte, error) {
				key := "k"
				if v == "honest" {
					key = "h"
				} else if strings.HasPrefix(v, "fill-") {
					key = v
				}
				return m.Put(key, v).MarshalBinary()
			},
			func(m *lwwmap.Map[string, string]) []string {
				return slices.Collect(maps.Values(maps.Collect(m.All())))
			},
			[]string{"honest", "y"})
	})
}

func equivocationHealed[O crdt.Object](t *testing.T, fill int, make func(crdt.ReplicaID) O, write func(O, string) ([]byte, error), values func(O) []string, want []string) {
	t.Run("whole", func(t *testing.T) { equivocationHealedIn(t, 0, make, write, values, want) })
	if fill > 0 {
		// An object larger than a message, after fill writes: the
		// states that heal go in parts.
		t.Run("parts", func(t *testing.T) { equivocationHealedIn(t, fill, make, write, values, want) })
	}
}

// equivocationHealedIn is equivocationHealed with fill writes of h0
// before evil's (values "fill-00" on, which values leaves out), and, if
// fill is above 0, messages of crdt.MinMessageBytes, sent plain: a state
// of the object takes several.
func equivocationHealedIn[O crdt.Object](t *testing.T, fill int, make func(crdt.ReplicaID) O, write func(O, string) ([]byte, error), values func(O) []string, want []string) {
	ids := []crdt.ReplicaID{"h0", "h1"}
	g := newForgedNet(t, ids, "s", func(id crdt.ReplicaID) (crdt.Config, O) {
		cfg := crdt.Config{AntiEntropyTicks: 5}
		if fill > 0 {
			cfg.MaxMessageBytes, cfg.CompressAbove = crdt.MinMessageBytes, -1
		}
		return cfg, make(id)
	})
	objs := g.h
	round := func() { g.rounds(1) }
	for i := range fill + 1 {
		v := "honest"
		if i < fill {
			v = fmt.Sprintf("fill-%02d", i)
		}
		if err := objs["h0"].Update(func(o O) (crdt.Op, error) {
			b, err := write(o, v)
			if err != nil {
				return nil, err
			}
			return rawOp(b), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		round()
	}
	if fill > 0 {
		objs["h0"].Read(func(o O) {
			if b, err := o.MarshalBinary(); err != nil || len(b) < 3*crdt.MinMessageBytes/2 {
				t.Fatalf("a state of %d bytes (%v): want several messages", len(b), err)
			}
		})
	}
	w := vclock.Writer("evil", 9)
	for i, v := range []string{"x", "y"} {
		b, err := write(make(w), v) // the same dot each time
		if err != nil {
			t.Fatal(err)
		}
		if err := g.forge(ids[i], w, 1, b); err != nil {
			t.Fatal(err)
		}
	}
	look := func(id crdt.ReplicaID) (vs []string) {
		objs[id].Read(func(o O) { vs = values(o) })
		vs = slices.DeleteFunc(vs, func(v string) bool { return strings.HasPrefix(v, "fill-") })
		slices.Sort(vs)
		return vs
	}
	if v0 := look("h0"); !slices.Contains(v0, "x") {
		t.Fatalf("h0 holds %v, without evil's x", v0)
	}
	for range 40 {
		round()
	}
	counted := g.divergences()
	if counted == 0 {
		t.Fatal("no divergence counted")
	}
	v0, v1 := look("h0"), look("h1")
	if !slices.Equal(v0, want) || !slices.Equal(v1, v0) {
		t.Fatalf("h0 holds %v, h1 %v", v0, v1)
	}
	for range 40 {
		round()
	}
	if n := g.divergences(); n != counted {
		t.Fatalf("divergences counted after healing: %d, then %d", counted, n)
	}
}

// rawOp is an encoded op, shipped as it is.
type rawOp []byte

func (o rawOp) MarshalBinary() ([]byte, error) { return o, nil }
