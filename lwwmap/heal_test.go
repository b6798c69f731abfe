package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// TestHealTakesOneOfTwoWritesUnderOneDot: a peer sends two replicas two
// different writes under one dot. With one timestamp, their fingerprints
// agree and their content fingerprints do not; with two, the fingerprints
// differ. Either way merges leave each with its own write for good.
// Healing with each other's states, in either order or at once, leaves
// both with the same one (the later timestamp, then a delete, then the
// value with the greater hash); honest keys stay.
func TestHealTakesOneOfTwoWritesUnderOneDot(t *testing.T) {
	const at = int64(1_800_000_000_000_000_000)
	fixed := func(wall int64) *clock.Clock { return clock.New(clock.WithSource(func() int64 { return wall })) }
	cases := []struct {
		name       string
		one, other func() Op[string, string]
		sameFP     bool
	}{
		{"values", func() Op[string, string] { return New[string, string]("evil", fixed(at)).Put("k", "x") },
			func() Op[string, string] { return New[string, string]("evil", fixed(at)).Put("k", "y") }, true},
		{"put and delete", func() Op[string, string] { return New[string, string]("evil", fixed(at)).Put("k", "x") },
			func() Op[string, string] {
				m := New[string, string]("evil", fixed(at))
				return m.Delete("k")
			}, false},
		{"timestamps", func() Op[string, string] { return New[string, string]("evil", fixed(at)).Put("k", "x") },
			func() Op[string, string] { return New[string, string]("evil", fixed(at+1000)).Put("k", "y") }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o1, o2 := c.one(), c.other()
			if o1.Dot() != o2.Dot() {
				t.Fatalf("dots %v and %v", o1.Dot(), o2.Dot())
			}
			hon := New[string, string]("h", fixed(at)).Put("h", "honest")
			mk := func(id vclock.ReplicaID, op Op[string, string]) *Map[string, string] {
				m := New[string, string](id, fixed(at+2000))
				for _, o := range []Op[string, string]{hon, op} {
					if err := m.Apply(o); err != nil {
						t.Fatal(err)
					}
				}
				return m
			}
			a, b, c3 := mk("a", o1), mk("b", o2), mk("c", o1)
			if (a.Fingerprint() == b.Fingerprint()) != c.sameFP {
				t.Fatalf("fingerprints equal: %v, want %v", a.Fingerprint() == b.Fingerprint(), c.sameFP)
			}
			if a.ContentFingerprint() == b.ContentFingerprint() || a.ContentFingerprint() != c3.ContentFingerprint() {
				t.Fatal("the content fingerprints do not show the two writes")
			}
			am := a.Clone()
			am.Merge(b)
			if am.Equal(a) != true || am.ContentFingerprint() != a.ContentFingerprint() {
				t.Fatal("a merge changed a; the test no longer shows what Heal adds")
			}
			// In parts, as the engine sends a map larger than a
			// message: each heals with the other's whole state cut small.
			pa, pb := a.Clone(), b.Clone()
			for _, x := range [][2]*Map[string, string]{{pa, b}, {pb, a}} {
				parts, _, err := x[1].ChunksBinary(nil, 60)
				if err != nil || len(parts) < 2 {
					t.Fatalf("%d parts: %v", len(parts), err)
				}
				for _, p := range parts {
					if _, err := x[0].HealChunkBinary(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			sa, sb := a.Clone(), b.Clone()
			a.Heal(sb)
			st, err := sa.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := b.HealBinary(st); err != nil {
				t.Fatal(err)
			}
			c3.Heal(b.Clone())
			for _, m := range []*Map[string, string]{a, b, c3, pa, pb} {
				if !m.Equal(a) || m.Fingerprint() != a.Fingerprint() || m.ContentFingerprint() != a.ContentFingerprint() {
					t.Fatalf("%s differs from a after healing", m.ID())
				}
				if v, ok := m.Get("h"); !ok || v != "honest" {
					t.Fatalf("%s lost the honest key", m.ID())
				}
			}
			// Healing again changes nothing.
			if changed, err := a.HealBinary(st); err != nil || a.ContentFingerprint() != b.ContentFingerprint() {
				t.Fatalf("heal again: changed %v, %v", changed, err)
			}
		})
	}
}
