package ormap

import (
	"bytes"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// hostileResetDrop builds the divergence of the package documentation's
// "Untrusted peers": w1 increments "a" twice (w1:1, then w1:2 continuing
// its chain, which drops w1:1 without a record) and deletes it (w1:3, a
// reset leaf covering the chain up to w1:2); a hostile w2 increments "a"
// (w2:1) with its drop list rewritten to [w1:3]. r1 takes w1:1 alone, r2
// the hostile op alone; then r1, r2 and w1 merge one another's states:
// r1 and r2 keep w1:1 (r2 takes it from r1), w1 does not.
func hostileResetDrop(t *testing.T) (r1, r2, w1 *Map[string, *Counter]) {
	t.Helper()
	w1, w2 := New[string, *Counter]("w1"), New[string, *Counter]("w2")
	first := w1.At("a").Add(1)
	w1.At("a").Add(1)
	del := w1.Delete("a")
	bad := w2.At("a").Add(1)
	bad.dropped = []vclock.Dot{del.dot}
	if err := bad.check(bad.sh); err != nil {
		t.Fatalf("the crafted op is refused: %v", err)
	}
	r1, r2 = New[string, *Counter]("r1"), New[string, *Counter]("r2")
	if err := r1.Apply(first); err != nil {
		t.Fatal(err)
	}
	if err := r2.Apply(bad); err != nil {
		t.Fatal(err)
	}
	all := []*Map[string, *Counter]{r1, r2, w1}
	for range 2 {
		for _, x := range all {
			for _, y := range all {
				x.Merge(y.Clone())
			}
		}
	}
	return r1, r2, w1
}

// TestHealCraftedResetDrop: after the merges of hostileResetDrop, r1 and
// r2 read 2 (they keep w1:1, which w1 dropped without a record) and w1
// reads 1, at one version, with different fingerprints: merging again
// changes nothing. A heal merge of w1's state into r1 and r2 drops w1:1;
// then all read 1, with one fingerprint, and further merges keep it so.
func TestHealCraftedResetDrop(t *testing.T) {
	r1, r2, w1 := hostileResetDrop(t)
	if !r1.Version().Equal(w1.Version()) || r1.HasGaps() || w1.HasGaps() {
		t.Fatalf("versions %v and %v, gaps %v and %v", r1.Version(), w1.Version(), r1.HasGaps(), w1.HasGaps())
	}
	if values(r1)["a"] != 2 || values(w1)["a"] != 1 || r1.Fingerprint() == w1.Fingerprint() {
		t.Fatalf("no divergence to heal: r1 %v, w1 %v, fingerprints %x and %x", values(r1), values(w1), r1.Fingerprint(), w1.Fingerprint())
	}
	if values(r2)["a"] != 2 {
		t.Fatalf("r2 reads %v: it took w1:1 from r1", values(r2))
	}
	for _, x := range []*Map[string, *Counter]{r1, r2} {
		if ch, err := x.HealBinary(mustMarshal(t, w1)); err != nil || !ch {
			t.Fatalf("%s HealBinary: changed %v, %v", x.ID(), ch, err)
		}
		w1.Heal(x.Clone())
	}
	for _, x := range []*Map[string, *Counter]{r1, r2} {
		if values(x)["a"] != 1 || !x.Equal(w1) || x.Fingerprint() != w1.Fingerprint() || !x.Version().Equal(w1.Version()) {
			t.Fatalf("%s after healing: %v (fingerprint %x), w1 %v (%x)", x.ID(), values(x), x.Fingerprint(), values(w1), w1.Fingerprint())
		}
	}
	// Later merges, on the fast path again, keep them equal.
	if !r1.s.k.RecordsAll {
		t.Fatal("the heal cleared RecordsAll")
	}
	r1.Merge(r2.Clone())
	w1.Merge(r1.Clone())
	if !r1.Equal(w1) || r1.Fingerprint() != w1.Fingerprint() {
		t.Fatalf("merges after the heal: r1 %v, w1 %v", values(r1), values(w1))
	}
}

// TestTamperedDropsHealed is TestTamperedDropsConverge with the rewritten
// drops naming any leaf either writer made, continued leaves and resets
// among them: after merging, the honest replicas may hold different
// content at one version (see "Untrusted peers" in the package
// documentation). Then every pair whose fingerprints differ at one
// version heal-merges each other's states, as the replication engine does
// once it has counted the divergence, until no pair differs; then all are
// equal, in values, versions and fingerprints, and merging every way
// again changes nothing.
func TestTamperedDropsHealed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		all := tamperedCounterMaps(t, true)
		healAll(t, all)
		for range 2 {
			for _, x := range all {
				for _, y := range all {
					x.Merge(y.Clone())
				}
			}
		}
		for _, x := range all[1:] {
			y := all[0]
			if !x.Equal(y) || x.Fingerprint() != y.Fingerprint() || !x.Version().Equal(y.Version()) {
				t.Fatalf("%s and %s differ after healing and merging: %v and %v", x.ID(), y.ID(), values(x), values(y))
			}
		}
	})
}

// healAll heal-merges, pair by pair, the maps whose fingerprints differ
// at one version, until none do (a heal of two maps at one version leaves
// both with what both hold: a pass may leave a third map to heal with),
// and checks that they end equal.
func healAll(t *rapid.T, all []*Map[string, *Counter]) {
	for pass := 0; ; pass++ {
		healed := false
		for i, x := range all {
			for _, y := range all[i+1:] {
				if !x.Version().Equal(y.Version()) {
					t.Fatalf("%s and %s at versions %v and %v after merging every way", x.ID(), y.ID(), x.Version(), y.Version())
				}
				if x.Fingerprint() == y.Fingerprint() {
					continue
				}
				healed = true
				if budget := rapid.IntRange(0, 300).Draw(t, "parts of"); budget >= 48 {
					// In parts, as the engine sends a map larger than a
					// message: each heals with the other's whole state cut.
					px, _, errX := x.ChunksBinary(nil, budget)
					py, _, errY := y.ChunksBinary(nil, budget)
					if errX == nil && errY == nil && px != nil && py != nil {
						for _, p := range py {
							if _, err := x.HealChunkBinary(p); err != nil {
								t.Fatal(err)
							}
						}
						for _, p := range px {
							if _, err := y.HealChunkBinary(p); err != nil {
								t.Fatal(err)
							}
						}
						if x.Fingerprint() != y.Fingerprint() || !x.Equal(y) {
							t.Fatalf("%s and %s still differ after healing each other in parts of %d bytes: %v and %v", x.ID(), y.ID(), budget, values(x), values(y))
						}
						continue
					}
				}
				xs, ys := marshal(t, x), marshal(t, y)
				if _, err := x.HealBinary(ys); err != nil {
					t.Fatal(err)
				}
				if _, err := y.HealBinary(xs); err != nil {
					t.Fatal(err)
				}
				if x.Fingerprint() != y.Fingerprint() || !x.Equal(y) {
					t.Fatalf("%s and %s still differ after healing each other: %v and %v", x.ID(), y.ID(), values(x), values(y))
				}
			}
		}
		if !healed {
			break
		}
		if pass > len(all) {
			t.Fatalf("still healing after %d passes", pass)
		}
	}
	for _, x := range all[1:] {
		if !x.Equal(all[0]) || x.Fingerprint() != all[0].Fingerprint() || x.ContentFingerprint() != all[0].ContentFingerprint() {
			t.Fatalf("%s and %s differ after healing: %v and %v", x.ID(), all[0].ID(), values(x), values(all[0]))
		}
	}
}

// TestHealHonestIsMerge: on replicas that only ever took honest ops,
// states and deltas, a heal merge of a state or delta gives exactly what
// a merge gives: the values, the fingerprint and the bytes of the state.
// Every drop of an honest history is recorded or implied by what the
// merge takes in, so there is nothing for a heal to drop that a merge
// keeps. (CollectVersions is left out: it collects the reset leaves each
// replica holds on its own, without a record, and a heal with a replica
// that has collected one drops it early, which changes the bytes, not
// what Equal and Fingerprint see.)
func TestHealHonestIsMerge(t *testing.T) {
	t.Run("counters", func(t *testing.T) {
		checkHealHonest(t, func(t *rapid.T, m *Map[string, *Counter]) Op {
			k := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
			if rapid.IntRange(0, 3).Draw(t, "what") == 0 {
				return m.Delete(k)
			}
			return m.At(k).Add(rapid.Int64Range(-3, 3).Draw(t, "n"))
		})
	})
	t.Run("nested", func(t *testing.T) {
		checkHealHonest(t, func(t *rapid.T, m *Map[string, *Map[string, *Counter]]) Op {
			k := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key")
			k2 := rapid.SampledFrom([]string{"x", "y"}).Draw(t, "key2")
			switch rapid.IntRange(0, 4).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				return m.At(k).Delete(k2)
			}
			return m.At(k).At(k2).Add(rapid.Int64Range(1, 3).Draw(t, "n"))
		})
	})
	t.Run("registers", func(t *testing.T) {
		checkHealHonest(t, func(t *rapid.T, m *Map[string, *Register[int]]) Op {
			k := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "key")
			if rapid.IntRange(0, 3).Draw(t, "what") == 0 {
				return m.Delete(k)
			}
			return m.At(k).Set(rapid.IntRange(0, 3).Draw(t, "v"))
		})
	})
}

func checkHealHonest[V Value[V]](t *testing.T, mutate func(t *rapid.T, m *Map[string, V]) Op) {
	rapid.Check(t, func(t *rapid.T) {
		var reps []*Map[string, V]
		for i := range rapid.IntRange(2, 4).Draw(t, "replicas") {
			reps = append(reps, New[string, V](vclock.ReplicaID(fmt.Sprintf("r%d", i))))
		}
		pick := func(label string) *Map[string, V] { return reps[rapid.IntRange(0, len(reps)-1).Draw(t, label)] }
		var ops []Op
		for range rapid.IntRange(0, 40).Draw(t, "steps") {
			x := pick("x")
			switch rapid.IntRange(0, 6).Draw(t, "step") {
			case 0, 1, 2:
				if op := mutate(t, x); op.Err() == nil && !op.IsNoop() {
					ops = append(ops, op)
				}
			case 3:
				if len(ops) > 0 {
					_ = x.Apply(rapid.SampledFrom(ops).Draw(t, "op"))
				}
			case 4:
				x.Merge(pick("y").Clone())
			case 5:
				x.Merge(pick("y").DeltaSince(x.Version()))
			case 6:
				stable := reps[0].Version()
				for _, r := range reps[1:] {
					stable.Meet(r.Version())
				}
				x.Collect(stable)
			}
		}
		x, y := pick("into"), pick("from")
		from := marshal(t, y)
		if rapid.Bool().Draw(t, "delta") {
			from = marshal(t, y.DeltaSince(x.Version()))
		}
		merged, healed := x.Clone(), x.Clone()
		chM, err := merged.MergeBinary(from)
		if err != nil {
			t.Fatal(err)
		}
		chH, err := healed.HealBinary(from)
		if err != nil {
			t.Fatal(err)
		}
		if chM != chH || !merged.Equal(healed) || merged.Fingerprint() != healed.Fingerprint() ||
			!bytes.Equal(marshal(t, merged), marshal(t, healed)) {
			t.Fatalf("merge and heal differ: changed %v and %v, fingerprints %x and %x", chM, chH, merged.Fingerprint(), healed.Fingerprint())
		}
	})
}

// marshal is mustMarshal for a rapid test.
func marshal(t *rapid.T, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
