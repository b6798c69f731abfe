package lwwmap

import (
	"maps"
	"reflect"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// A merge without a conflict hook takes keys in and overwrites entries by
// paths of its own (takeNew, takeOver); with a hook, through replace. Both
// must leave the same entries, counts, index and fingerprint.
func TestMergeWithoutHookMatchesMergeWithHook(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		a, b := drawState(t, s, "a").Clone(), drawState(t, s, "b")
		if rapid.Bool().Draw(t, "indexed") {
			a.DeltaSince(vclock.Clock{}) // builds the index, which the merge keeps up
		}
		fast, slow := a.Clone(), a.Clone()
		slow.SetConflictHook(func(vclock.Conflict) {})
		fast.Merge(b)
		slow.Merge(b)
		if !maps.Equal(entries(fast), entries(slow)) {
			t.Fatalf("entries differ:\nwithout hook %v\nwith hook    %v", dump(fast), dump(slow))
		}
		if fast.fp != slow.fp || fast.nDel != slow.nDel || fast.maxTS != slow.maxTS || fast.gcN != slow.gcN {
			t.Fatalf("without hook: fp %#x, %d markers, latest %v, %d collected; with hook: %#x, %d, %v, %d",
				fast.fp, fast.nDel, fast.maxTS, fast.gcN, slow.fp, slow.nDel, slow.maxTS, slow.gcN)
		}
		if !maps.Equal(fast.lostTo, slow.lostTo) {
			t.Fatalf("lostTo without hook %v, with hook %v", fast.lostTo, slow.lostTo)
		}
		if !reflect.DeepEqual(fast.ix, slow.ix) {
			t.Fatalf("the indexes differ")
		}
		checkFingerprint(t, fast)
		for _, v := range []vclock.Clock{a.Version(), {}} {
			if d, e := fast.DeltaSince(v), slow.DeltaSince(v); !d.Equal(e) {
				t.Fatalf("the indexes give different deltas since %v", v)
			}
		}
	})
}

// A local write later than every entry, with no marker in the map, takes
// a path of its own (writeLatest). The same ops applied at another
// replica go through replace: both must hold the same entries, bases
// included, and fingerprint. A second writer's ops, applied at both, give
// the writes bases.
func TestLocalWritesMatchTheirOpsApplied(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, false)
		w, o, x := s.reps[0], s.reps[1], &Map[string, int]{}
		if rapid.Bool().Draw(t, "indexed") {
			if err := x.Apply(w.Put("a", -1)); err != nil {
				t.Fatal(err)
			}
			w.DeltaSince(vclock.Clock{}) // builds the index, which the writes keep up
			if !w.ix.Active() {
				t.Fatal("no index built")
			}
		}
		v0 := w.Version()
		n := rapid.IntRange(1, 60).Draw(t, "writes")
		for i := range n {
			k := rapid.SampledFrom(keys).Draw(t, "key")
			var op Op[string, int]
			switch rapid.IntRange(0, 9).Draw(t, "kind") {
			case 0:
				op = w.Delete(k)
			case 1:
				w.Collect(w.clk.Now()) // the markers go: the fast path again
				x.Collect(w.clk.Now())
				continue
			case 2, 3:
				op = o.Put(k, i)
				if err := w.Apply(op); err != nil {
					t.Fatal(err)
				}
			default:
				op = w.Put(k, i)
			}
			if err := x.Apply(op); err != nil {
				t.Fatal(err)
			}
			checkFingerprint(t, w)
		}
		we, xe := entries(w), entries(x)
		if len(we) != len(xe) {
			t.Fatalf("%d entries written, %d applied", len(we), len(xe))
		}
		for k, e := range we {
			f := xe[k]
			if e.wall != f.wall || e.logical != f.logical || e.seq != f.seq || e.base() != f.base() ||
				e.deleted() != f.deleted() || e.v != f.v || w.reps[e.writer()] != x.reps[f.writer()] {
				t.Fatalf("key %q: %+v written, %+v applied", k, e, f)
			}
		}
		if w.Fingerprint() != x.Fingerprint() {
			t.Fatalf("fingerprints %#x written, %#x applied", w.Fingerprint(), x.Fingerprint())
		}
		scan := w.Clone()
		scan.ix = nil // DeltaSince scans the entries
		for _, v := range []vclock.Clock{v0, {}} {
			if d, e := w.DeltaSince(v), scan.DeltaSince(v); !d.Equal(e) {
				t.Fatalf("the delta since %v by the index differs from the one by a scan", v)
			}
		}
	})
}
