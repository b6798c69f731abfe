package dotkernel

import (
	"slices"
	"strings"

	"github.com/activeactive/crdt/vclock"
)

// ghostSet holds the ghost dots of a kernel (see the package documentation)
// as runs of consecutive sequence numbers per replica, so that a run of
// ghosts, however long, costs one span to keep, to find and to clear: the
// store parts of a large catch-up bring their dots in as ghosts in a few
// runs, and the context part that settles them clears each run at once.
// The zero ghostSet is empty and ready to use.
type ghostSet struct {
	m map[vclock.ReplicaID][]gspan // spans sorted, disjoint, not adjacent; no empty slices
}

// gspan is the run of sequence numbers lo to hi, inclusive.
type gspan struct{ lo, hi uint64 }

func (g *ghostSet) isEmpty() bool { return len(g.m) == 0 }

// firstAbove returns the index of the first span of ss that ends at or
// after seq.
func firstAbove(ss []gspan, seq uint64) int {
	i, _ := slices.BinarySearchFunc(ss, seq, func(s gspan, q uint64) int {
		if s.hi < q {
			return -1
		}
		return 1
	})
	return i
}

// contains reports whether d is a ghost.
func (g *ghostSet) contains(d vclock.Dot) bool {
	ss := g.m[d.Replica]
	if len(ss) == 0 {
		return false
	}
	i := firstAbove(ss, d.Seq)
	return i < len(ss) && ss[i].lo <= d.Seq
}

// add makes d a ghost.
func (g *ghostSet) add(d vclock.Dot) { g.addRange(d.Replica, d.Seq, d.Seq) }

// addRange makes the events lo to hi (1 <= lo <= hi) of replica id
// ghosts, and returns how many spans it touched: one when the run goes at
// the end or extends the last span (the usual case, dots arriving in
// order), else the spans it merged with, after a binary search.
func (g *ghostSet) addRange(id vclock.ReplicaID, lo, hi uint64) int {
	if lo == 0 || lo > hi {
		return 0
	}
	if g.m == nil {
		g.m = make(map[vclock.ReplicaID][]gspan)
	}
	ss := g.m[id]
	if n := len(ss); n == 0 || ss[n-1].hi < lo-1 {
		g.m[id] = append(ss, gspan{lo, hi})
		return 1
	} else if ss[n-1].lo <= lo {
		ss[n-1].hi = max(ss[n-1].hi, hi)
		return 1
	}
	// The first span that ends at or after lo-1 may touch the run.
	i := firstAbove(ss, lo-1)
	j := i
	for j < len(ss) && ss[j].lo-1 <= hi {
		lo, hi = min(lo, ss[j].lo), max(hi, ss[j].hi)
		j++
	}
	g.m[id] = slices.Replace(ss, i, j, gspan{lo, hi})
	return max(1, j-i)
}

// addRuns makes the runs of replica id ghosts: runs are sorted and
// disjoint. It returns a step per run, as addRange does. Runs from the
// last span on (a catch-up's parts merged in order) are added at the end;
// others are merged with the spans in one copy of them, where adding each
// would move every span after it (a part merged out of order, or a peer
// sending a catch-up's parts last first, made that quadratic in the
// runs). The copy, like those moves, is memory moved, not steps.
func (g *ghostSet) addRuns(id vclock.ReplicaID, runs []gspan) int {
	if len(runs) == 0 {
		return 0
	}
	ss := g.m[id]
	if n := len(ss); len(runs) <= 4 || n == 0 || runs[0].lo >= ss[n-1].lo {
		steps := 0
		for _, r := range runs {
			steps += g.addRange(id, r.lo, r.hi)
		}
		return steps
	}
	out := make([]gspan, 0, len(ss)+len(runs))
	push := func(s gspan) {
		if n := len(out); n > 0 && s.lo-1 <= out[n-1].hi {
			out[n-1].hi = max(out[n-1].hi, s.hi)
			return
		}
		out = append(out, s)
	}
	i, j := 0, 0
	for i < len(ss) || j < len(runs) {
		if j == len(runs) || (i < len(ss) && ss[i].lo < runs[j].lo) {
			push(ss[i])
			i++
		} else {
			push(runs[j])
			j++
		}
	}
	g.m[id] = out
	return len(runs)
}

// removeRange makes the events lo to hi of replica id no longer ghosts,
// and returns how many spans it touched.
func (g *ghostSet) removeRange(id vclock.ReplicaID, lo, hi uint64) int {
	ss := g.m[id]
	if len(ss) == 0 || lo > hi {
		return 0
	}
	i := firstAbove(ss, lo)
	j := i
	for j < len(ss) && ss[j].lo <= hi {
		j++
	}
	if i == j {
		return 0
	}
	var keep [2]gspan
	n := 0
	if ss[i].lo < lo {
		keep[n] = gspan{ss[i].lo, lo - 1}
		n++
	}
	if ss[j-1].hi > hi {
		keep[n] = gspan{hi + 1, ss[j-1].hi}
		n++
	}
	if i == 0 && n <= j {
		// From the front, as a catch-up's context parts settle the
		// ghosts run after run: the spans left are cut off the slice,
		// not moved to its start, so that settling a catch-up of many
		// runs costs a step per run, not a move of every run after it.
		ss = ss[j-n:]
		copy(ss, keep[:n])
	} else {
		ss = slices.Replace(ss, i, j, keep[:n]...)
	}
	if len(ss) == 0 {
		delete(g.m, id)
		if len(g.m) == 0 {
			g.m = nil
		}
	} else {
		g.m[id] = ss
	}
	return j - i
}

// remove makes d no longer a ghost.
func (g *ghostSet) remove(d vclock.Dot) { g.removeRange(d.Replica, d.Seq, d.Seq) }

// within calls f for every run of ghosts of replica id within lo to hi,
// clipped to it, in order, and returns how many it called f for.
func (g *ghostSet) within(id vclock.ReplicaID, lo, hi uint64, f func(lo, hi uint64)) int {
	ss := g.m[id]
	n := 0
	for i := firstAbove(ss, lo); i < len(ss) && ss[i].lo <= hi; i++ {
		f(max(lo, ss[i].lo), min(hi, ss[i].hi))
		n++
	}
	return n
}

// lowest returns the lowest ghost of replica id, if it has any.
func (g *ghostSet) lowest(id vclock.ReplicaID) (uint64, bool) {
	ss := g.m[id]
	if len(ss) == 0 {
		return 0, false
	}
	return ss[0].lo, true
}

// spans returns the number of runs held.
func (g *ghostSet) spans() int {
	n := 0
	for _, ss := range g.m {
		n += len(ss)
	}
	return n
}

// count returns the number of ghost dots.
func (g *ghostSet) count() uint64 {
	var n uint64
	for _, ss := range g.m {
		for _, s := range ss {
			n += s.hi - s.lo + 1
		}
	}
	return n
}

// replicas returns the replicas with ghosts, sorted.
func (g *ghostSet) replicas() []vclock.ReplicaID {
	ids := make([]vclock.ReplicaID, 0, len(g.m))
	for id := range g.m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b vclock.ReplicaID) int { return strings.Compare(string(a), string(b)) })
	return ids
}

// all calls f for every ghost dot, sorted by [vclock.Dot.Compare], until
// f returns false.
func (g *ghostSet) all(f func(vclock.Dot) bool) {
	for _, id := range g.replicas() {
		for _, s := range g.m[id] {
			for seq := s.lo; ; seq++ {
				if !f(vclock.Dot{Replica: id, Seq: seq}) {
					return
				}
				if seq == s.hi {
					break
				}
			}
		}
	}
}

func (g *ghostSet) clone() ghostSet {
	if len(g.m) == 0 {
		return ghostSet{}
	}
	c := ghostSet{m: make(map[vclock.ReplicaID][]gspan, len(g.m))}
	for id, ss := range g.m {
		c.m[id] = slices.Clone(ss)
	}
	return c
}

func (g *ghostSet) equal(o *ghostSet) bool {
	if len(g.m) != len(o.m) {
		return false
	}
	for id, ss := range g.m {
		if !slices.Equal(ss, o.m[id]) {
			return false
		}
	}
	return true
}
