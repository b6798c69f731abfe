package ormap

import (
	"slices"

	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// SetConflictHook makes the map call f whenever taking in writes leaves
// one of its registers holding a value it did not hold before beside at
// least one other: concurrent writes to the register met, and it now
// holds siblings, as register.MV reports them. The report's Key is the
// register's key path, a []any of the keys from the top-level map down
// (one key for a Map[K, *Register[T]]); its Siblings list every value the
// register holds, each with its writer and sequence number, in the order
// of [Register.Values]. Lost and Won are zero: nothing is discarded.
// Counters and sets merge without conflict and are never reported. nil
// (the default) reports nothing, and then the map does no work for
// reports.
//
// [Map.Apply], [Map.Merge], [Map.ApplyBinary], [Map.ApplyBinaryFrom] and
// [Map.MergeBinary] report; a local [Register.Set] replaces every value
// it sees and never does, nor does [Map.UnmarshalBinary]. A write taken
// in twice changes nothing the second time, so it is never reported
// twice; a third concurrent value joining two siblings is reported again,
// with all three. A register under a key that has expired (see
// [Map.Expire]) is not reported.
//
// f is called during the method, once the map holds its new state, before
// the method returns; f must not use the map. SetConflictHook implements
// crdt.ConflictReporter, and panics on a nested map.
func (m *Map[K, V]) SetConflictHook(f func(vclock.Conflict)) {
	s := m.mustTop("SetConflictHook")
	if s.sh.kind != kindRegister {
		f = nil // nothing to report: keep every path free of the work
	}
	s.hook = f
}

// noteAdded is called by the kernel's watch for a dot that entered the
// store during a join while a hook is set: the dot's register may now
// hold siblings.
func (s *state) noteAdded(path string, d vclock.Dot) {
	s.added = append(s.added, addedDot{path, d})
}

type addedDot struct {
	path string
	dot  vclock.Dot
}

// join joins k into the state's store, and reports the registers that
// the join made hold siblings.
func (s *state) join(k *dotkernel.Kernel[vclock.Dot, leaf]) bool {
	return s.joinBy(k.Len(), func() bool { return s.k.Join(k) })
}

// heal is join through the kernel's Heal (see Map.HealBinary): the same
// steps after the kernel's join (settling chains, reporting siblings), so
// that a heal gives what a join gives wherever the two kernels agree.
func (s *state) heal(k *dotkernel.Kernel[vclock.Dot, leaf]) bool {
	return s.joinBy(k.Len(), func() bool { return s.k.Heal(k) })
}

// joinPart is join of a part of a state or delta cut by the kernel's
// Split (see Map.MergeChunkBinary): the same steps after the kernel's
// JoinPart (HealPart if heal is set), so that a chain's leaf that a part
// brings covers, or is covered by, what the store holds, as after a join.
func (s *state) joinPart(kind dotkernel.PartKind, k *dotkernel.Kernel[vclock.Dot, leaf], heal bool) bool {
	if heal {
		return s.joinBy(k.Len(), func() bool { return s.k.HealPart(kind, k) })
	}
	return s.joinBy(k.Len(), func() bool { return s.k.JoinPart(kind, k) })
}

// joinBy is join, with kernelJoin the kernel's join of a store of n
// keys: Join, Heal or JoinPart. Nested maps are views of the top-level
// state's one kernel: a heal there heals them all.
func (s *state) joinBy(n int, kernelJoin func() bool) bool {
	if 2*n >= s.k.Len() {
		// The join costs about as much as moving every key of the
		// index: if the table of the top-level keys grows, it moves
		// them at once, so that the look-ups that follow probe one
		// array, not the old one too.
		s.ix.kidsAtOnce(true)
		defer s.ix.kidsAtOnce(false)
	}
	if s.sh.kind == kindCounter {
		s.settling = true
		changed := kernelJoin()
		s.settling = false
		s.exts = extChunks{} // the next join starts small
		return s.settleChains() || changed
	}
	if s.hook == nil {
		return kernelJoin()
	}
	s.added = s.added[:0]
	s.noting = true
	changed := kernelJoin()
	s.noting = false
	added := s.added
	s.added = nil
	slices.SortFunc(added, func(a, b addedDot) int {
		if a.path < b.path {
			return -1
		}
		if a.path > b.path {
			return 1
		}
		return 0
	})
	for i, a := range added {
		if i > 0 && added[i-1].path == a.path {
			continue // one report per register
		}
		s.reportFresh(a.path, func(d vclock.Dot) bool {
			for _, b := range added[i:] {
				if b.path != a.path {
					return false
				}
				if b.dot == d {
					return true
				}
			}
			return false
		})
	}
	return changed
}

// reportFresh reports the register at path p if it holds siblings of
// which one is fresh.
func (s *state) reportFresh(p string, fresh func(vclock.Dot) bool) {
	n := s.find(p)
	if n == nil || len(n.dots()) < 2 {
		return
	}
	if !slices.ContainsFunc(n.dots(), fresh) {
		return
	}
	ds := slices.Clone(n.dots())
	slices.SortFunc(ds, vclock.Dot.Compare)
	sib := make([]vclock.Write, len(ds))
	for i, d := range ds {
		l, _ := s.k.Get(d)
		sib[i] = vclock.Write{Writer: d.Replica, Seq: d.Seq, Value: s.sh.val.val(l.val())}
	}
	s.hook(vclock.Conflict{Key: s.keyPathOf(p), Siblings: sib})
}

// keyPathOf returns the keys of the key path p, outermost first.
func (s *state) keyPathOf(p string) []any {
	out := make([]any, 0, len(s.sh.segs))
	for _, c := range s.sh.segs {
		seg, rest, ok := nextSeg(p)
		if !ok {
			break
		}
		out = append(out, c.val(seg))
		p = rest
	}
	return out
}
