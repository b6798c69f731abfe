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
// a replica holding a leaf it superseded while others do not; the
// replication engine counts that as a divergence (see "Untrusted peers"
// in the package documentation).
func TestTamperedDropsConverge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
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
			if op.kind == opWrite && op.leaf.tag == 0 && op.leaf.lg == 0 && op.pre == nil {
				minted = append(minted, op.dot) // a chain's first leaf: it implies no drop
			}
			if w == 1 && rapid.IntRange(0, 2).Draw(t, "tamper") == 0 {
				var drop []vclock.Dot
				for range rapid.IntRange(0, min(2, len(minted))).Draw(t, "drops") {
					drop = append(drop, rapid.SampledFrom(minted).Draw(t, "drop"))
				}
				slices.SortFunc(drop, vclock.Dot.Compare)
				op.dropped = slices.Compact(drop)
			}
			ops = append(ops, op)
		}
		replicas := []*Map[string, *Counter]{New[string, *Counter]("r1"), New[string, *Counter]("r2"), New[string, *Counter]("r3")}
		for _, r := range replicas {
			var in []Op
			for _, op := range ops {
				for range rapid.IntRange(0, 2).Draw(t, "copies") { // 0: lost
					in = append(in, op)
				}
			}
			for _, j := range rapid.Permutation(indices(len(in))).Draw(t, "order") {
				// A refused op changes nothing; every replica refuses it alike.
				_ = r.Apply(in[j])
			}
		}
		all := append(replicas, writers[0])
		for range 2 {
			for _, x := range all {
				for _, y := range all {
					x.Merge(y.Clone())
				}
			}
		}
		for _, x := range all[1:] {
			if !x.Equal(all[0]) || x.Fingerprint() != all[0].Fingerprint() {
				t.Fatalf("%s and %s differ after merging: %v and %v", x.ID(), all[0].ID(), values(x), values(all[0]))
			}
		}
	})
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
		replicas := []*Map[string, *Register[int]]{New[string, *Register[int]]("r1"), New[string, *Register[int]]("r2"), New[string, *Register[int]]("r3")}
		for _, r := range replicas {
			var in []Op
			for _, op := range ops {
				for range rapid.IntRange(0, 2).Draw(t, "copies") {
					in = append(in, op)
				}
			}
			for _, j := range rapid.Permutation(indices(len(in))).Draw(t, "order") {
				_ = r.Apply(in[j])
			}
		}
		all := append(replicas, writers[0])
		for range 2 {
			for _, x := range all {
				for _, y := range all {
					x.Merge(y.Clone())
				}
			}
		}
		for _, x := range all[1:] {
			if !x.Equal(all[0]) || x.Fingerprint() != all[0].Fingerprint() {
				t.Fatalf("%s and %s differ after merging", x.ID(), all[0].ID())
			}
		}
	})
}
