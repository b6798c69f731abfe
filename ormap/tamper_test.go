package ormap

import (
	"slices"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// TestTamperedDropsConverge: two writers of a map of counters increment
// and delete a few keys, taking some of each other's ops on the way. The
// second is faulty or hostile: it rewrites the drop lists of some of its
// ops to first leaves of chains either writer made (another key's leaf,
// the other writer's, a later one: what no map writes). Three replicas
// take the ops, some lost, some twice, each in its own order; then the
// honest writer and the replicas merge one another's states, twice. They
// all end equal, with one fingerprint: a crafted op may change what the
// map holds, never make honest replicas hold different things for good.
// (The hostile writer's own state is left out: it holds what its ops
// said before they were rewritten, two ops under one dot, which no merge
// can tell apart.)
//
// The rewritten drops name first leaves only. A crafted drop of a leaf
// that supersedes others (a continued leaf, or a reset) can still leave
// a replica holding a leaf it superseded while others do not, which
// merges keep; the replication engine counts that as a divergence and
// heals it (see "Untrusted peers" in the package documentation, and
// TestTamperedDropsHealed).
func TestTamperedDropsConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		all := tamperedCounterMaps(t, false)
		for _, x := range all[1:] {
			if !x.Equal(all[0]) || x.Fingerprint() != all[0].Fingerprint() || x.ContentFingerprint() != all[0].ContentFingerprint() {
				t.Fatalf("%s and %s differ after merging: %v and %v", x.ID(), all[0].ID(), values(x), values(all[0]))
			}
		}
	})
}

// TestTamperedDropsNeverSilent: as TestTamperedDropsConverge, but the
// rewritten drops may name any leaf either writer made, continued leaves
// and resets among them, and the replicas may then differ for good (see
// "Untrusted peers" in the package documentation). They must never
// differ silently: replicas at one version, without gaps, that hold
// different content have different fingerprints, which is what the
// replication engine compares to count a divergence.
func TestTamperedDropsNeverSilent(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		all := tamperedCounterMaps(t, true)
		for _, x := range all[1:] {
			y := all[0]
			if !x.Version().Equal(y.Version()) || x.HasGaps() || y.HasGaps() {
				t.Fatalf("%s and %s: versions %v and %v, gaps %v and %v after merging every way", x.ID(), y.ID(), x.Version(), y.Version(), x.HasGaps(), y.HasGaps())
			}
			if !x.Equal(y) && x.Fingerprint() == y.Fingerprint() {
				t.Fatalf("%s and %s differ silently: %v and %v, one fingerprint", x.ID(), y.ID(), values(x), values(y))
			}
		}
	})
}

// tamperedCounterMaps runs the writers and replicas of
// TestTamperedDropsConverge and returns the honest ones, merged; anyLeaf
// lets the rewritten drops name any leaf, not only chains' first ones.
func tamperedCounterMaps(t *rapid.T, anyLeaf bool) []*Map[string, *Counter] {
	writers := []*Map[string, *Counter]{New[string, *Counter]("w1"), New[string, *Counter]("w2")}
	key := rapid.SampledFrom([]string{"a", "b", "c"})
	var ops []Op
	var minted []vclock.Dot // every dot a writer minted, in order
	for range rapid.IntRange(1, 30).Draw(t, "steps") {
		w := rapid.IntRange(0, 1).Draw(t, "writer")
		var op Op
		switch rapid.IntRange(0, 5).Draw(t, "what") {
		case 0:
			op = writers[w].Delete(key.Draw(t, "key"))
		case 1:
			if len(ops) > 0 { // take one of the other's ops, as a peer would
				_ = writers[w].Apply(ops[rapid.IntRange(0, len(ops)-1).Draw(t, "take")])
			}
			continue
		default:
			op = writers[w].At(key.Draw(t, "key")).Add(rapid.Int64Range(-3, 3).Draw(t, "n"))
		}
		if op.Err() != nil || op.IsNoop() {
			continue
		}
		if w == 1 && rapid.IntRange(0, 2).Draw(t, "tamper") == 0 {
			// Dots minted before the op: a drop of its own dot or a
			// later one is refused, and would leave every honest
			// replica with a gap.
			var drop []vclock.Dot
			for range rapid.IntRange(0, min(2, len(minted))).Draw(t, "drops") {
				drop = append(drop, rapid.SampledFrom(minted).Draw(t, "drop"))
			}
			slices.SortFunc(drop, vclock.Dot.Compare)
			bad := op
			bad.dropped = slices.Compact(drop)
			if bad.check(op.sh) == nil { // else every replica refuses it: a gap, not a test
				op = bad
			}
		}
		if anyLeaf || (op.kind == opWrite && op.leaf.tag == 0 && op.leaf.lg == 0 && op.pre == nil) {
			minted = append(minted, op.dot) // unless anyLeaf, a chain's first leaf: it implies no drop
		}
		ops = append(ops, op)
	}
	return deliverAndMerge(t, ops, writers[0])
}

// deliverAndMerge gives the ops to three new replicas, each in its own
// order, some lost, some twice (the first gets each at least once, so
// that the honest replicas, merged, hold no gap: the hostile writer's
// state is not merged); then the replicas and the honest writer merge
// one another's states, twice. It returns them, the writer last.
func deliverAndMerge[V Value[V]](t *rapid.T, ops []Op, writer *Map[string, V]) []*Map[string, V] {
	replicas := []*Map[string, V]{New[string, V]("r1"), New[string, V]("r2"), New[string, V]("r3")}
	for i, r := range replicas {
		var in []Op
		for _, op := range ops {
			for range rapid.IntRange(min(i, 1)^1, 2).Draw(t, "copies") { // 0: lost
				in = append(in, op)
			}
		}
		for _, j := range rapid.Permutation(indices(len(in))).Draw(t, "order") {
			// A refused op changes nothing; every replica refuses it alike.
			_ = r.Apply(in[j])
		}
	}
	all := append(replicas, writer)
	for range 2 {
		for _, x := range all {
			for _, y := range all {
				x.Merge(y.Clone())
			}
		}
	}
	return all
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func values(m *Map[string, *Counter]) map[string]int64 {
	out := map[string]int64{}
	for _, k := range []string{"a", "b", "c"} {
		if c, ok := m.Get(k); ok {
			out[k] = c.Value()
		}
	}
	return out
}

// TestTamperedRegisterDropsConverge is TestTamperedDropsConverge for a
// map of registers, whose every drop has a record: the rewritten drops
// may name any dot either writer minted.
func TestTamperedRegisterDropsConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		writers := []*Map[string, *Register[int]]{New[string, *Register[int]]("w1"), New[string, *Register[int]]("w2")}
		key := rapid.SampledFrom([]string{"a", "b", "c"})
		var ops []Op
		var minted []vclock.Dot
		for range rapid.IntRange(1, 30).Draw(t, "steps") {
			w := rapid.IntRange(0, 1).Draw(t, "writer")
			var op Op
			switch rapid.IntRange(0, 3).Draw(t, "what") {
			case 0:
				op = writers[w].Delete(key.Draw(t, "key"))
			case 1:
				if len(ops) > 0 {
					_ = writers[w].Apply(ops[rapid.IntRange(0, len(ops)-1).Draw(t, "take")])
				}
				continue
			default:
				op = writers[w].At(key.Draw(t, "key")).Set(rapid.IntRange(0, 9).Draw(t, "v"))
			}
			if op.Err() != nil || op.IsNoop() {
				continue
			}
			minted = append(minted, op.dot)
			if w == 1 && rapid.IntRange(0, 2).Draw(t, "tamper") == 0 {
				var drop []vclock.Dot
				for range rapid.IntRange(0, 2).Draw(t, "drops") {
					drop = append(drop, rapid.SampledFrom(minted).Draw(t, "drop"))
				}
				slices.SortFunc(drop, vclock.Dot.Compare)
				op.dropped = slices.Compact(drop)
			}
			ops = append(ops, op)
		}
		all := deliverAndMerge(t, ops, writers[0])
		for _, x := range all[1:] {
			if !x.Equal(all[0]) || x.Fingerprint() != all[0].Fingerprint() || x.ContentFingerprint() != all[0].ContentFingerprint() {
				t.Fatalf("%s and %s differ after merging", x.ID(), all[0].ID())
			}
		}
	})
}
