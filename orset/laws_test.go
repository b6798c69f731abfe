package orset

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
)

func merged(a, b *Set[string]) *Set[string] {
	c := a.Clone()
	c.Merge(b)
	return c
}

func TestMergeLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 3, 4, 40)
		pick := func(name string) *Set[string] {
			return w.sets[rapid.IntRange(0, len(w.sets)-1).Draw(t, name)]
		}
		a, b, c := pick("a"), pick("b"), pick("c")
		requireEqual(t, merged(a, b), merged(b, a), "commutative")
		requireEqual(t, merged(merged(a, b), c), merged(a, merged(b, c)), "associative")
		requireEqual(t, merged(a, a), a, "idempotent")
		requireEqual(t, merged(merged(a, b), b), merged(a, b), "absorbing")
	})
}

// TestOpsInAnyOrderEqualMergedStates applies every op of a history to a
// fresh set, in an order rapid picks, with repeats, and checks that it
// ends in the state the replicas reach by merging their states.
func TestOpsInAnyOrderEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 40)
		all := &Set[string]{}
		for _, s := range w.sets {
			all.Merge(s)
		}
		order := rapid.Permutation(w.ops).Draw(t, "order")
		dups := rapid.SliceOfN(rapid.IntRange(0, max(len(w.ops)-1, 0)), 0, len(w.ops)).Draw(t, "dups")
		viaBytes := rapid.Bool().Draw(t, "bytes")
		got := &Set[string]{}
		apply := func(op Op[string]) {
			if viaBytes {
				if _, err := got.ApplyBinary(mustMarshal(t, op)); err != nil {
					t.Fatal(err)
				}
			} else if err := got.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		for i, op := range order {
			apply(op)
			if i < len(dups) {
				apply(order[dups[i]])
			}
		}
		requireEqual(t, got, all, "ops in any order")
	})
}

func TestDeltaSincePlusMergeEqualsMerge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 40)
		for i, recv := range w.sets {
			for j, send := range w.sets {
				d := send.DeltaSince(recv.Version())
				requireEqual(t, merged(recv, d), merged(recv, send), fmt.Sprintf("delta r%d→r%d", j, i))
				// The same through the engine's byte interface.
				v := mustMarshal(t, recv.Version())
				db, err := send.DeltaSinceBinary(v)
				if err != nil {
					t.Fatal(err)
				}
				got := recv.Clone()
				if _, err := got.MergeBinary(db); err != nil {
					t.Fatal(err)
				}
				requireEqual(t, got, merged(recv, send), "delta bytes")
			}
		}
	})
}

// TestConvergesToModel runs 2 to 5 replicas over a network that loses,
// duplicates and reorders ops, states and deltas, then has them exchange
// their states reliably; they must all end in one state whose elements are
// the naive model's.
func TestConvergesToModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 5, 60)
		w.exchange(t)
		for i, s := range w.sets {
			requireEqual(t, s, w.sets[0], fmt.Sprintf("r%d against r0", i))
		}
		if got, want := sorted(w.sets[0]), w.m.value(); !slices.Equal(got, want) {
			t.Fatalf("elements %v, model says %v", got, want)
		}
	})
}

// TestDeliveredOpsMatchModel delivers every op still in flight (no state
// exchange at all) and checks the elements against the model: ops alone
// converge.
func TestDeliveredOpsMatchModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld(t, 2, 4)
		steps := rapid.IntRange(0, 40).Draw(t, "steps")
		for range steps {
			i := rapid.IntRange(0, len(w.sets)-1).Draw(t, "i")
			e := rapid.SampledFrom(elems).Draw(t, "elem")
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0:
				op := w.sets[i].Add(e)
				w.broadcast(t, i, op, w.m.add(i, e))
			case 1:
				know := w.m.remove(i, e)
				if op := w.sets[i].Remove(e); !op.IsNoop() {
					w.broadcast(t, i, op, know)
				}
			case 2:
				if len(w.net) > 0 {
					k := rapid.IntRange(0, len(w.net)-1).Draw(t, "msg")
					m := w.net[k]
					w.net = slices.Delete(w.net, k, k+1)
					w.deliver(t, m)
				}
			}
		}
		for _, k := range rapid.Permutation(w.net).Draw(t, "rest") {
			w.deliver(t, k)
		}
		want := w.m.value()
		for i, s := range w.sets {
			if got := sorted(s); !slices.Equal(got, want) {
				t.Fatalf("r%d holds %v, model says %v", i, got, want)
			}
			requireEqual(t, s, w.sets[0], "ops only")
		}
	})
}

func TestCollectChangesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 40)
		stable := w.sets[0].Version()
		for _, s := range w.sets[1:] {
			stable.Meet(s.Version())
		}
		for _, s := range w.sets {
			before := s.Clone()
			s.Collect(stable)
			requireEqual(t, s, before, "collect")
			for _, r := range s.k.Records() {
				if stable.Contains(r.Dot) {
					t.Fatalf("record %v kept, stable %v", r.Dot, stable)
				}
			}
		}
		for _, recv := range w.sets {
			for _, send := range w.sets {
				requireEqual(t, merged(recv, send.DeltaSince(recv.Version())), merged(recv, send), "delta after collect")
			}
		}
	})
}

func TestRoundTrips(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 40)
		for _, s := range w.sets {
			b := mustMarshal(t, s)
			got := New[string]("x")
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			requireEqual(t, got, s, "state round trip")
			if got.ID() != "x" {
				t.Fatal("UnmarshalBinary changed the replica ID")
			}
			if again := mustMarshal(t, got); !slices.Equal(again, b) {
				t.Fatalf("state re-encodes differently:\n% x\n% x", b, again)
			}
		}
		for _, op := range w.ops {
			b := mustMarshal(t, op)
			var got Op[string]
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("%v: %v", op, err)
			}
			if got.kind != op.kind || got.elem != op.elem || got.dot != op.dot || !slices.Equal(got.drops(), op.drops()) {
				t.Fatalf("op round trip: got %v %v, want %v %v", got, got.drops(), op, op.drops())
			}
			if again := mustMarshal(t, got); !slices.Equal(again, b) {
				t.Fatalf("op re-encodes differently")
			}
		}
	})
}

func TestRoundTripOtherElementTypes(t *testing.T) {
	type point struct{ X, Y int }
	p := New[point]("a")
	p.Add(point{1, 2})
	p.Add(point{3, 4})
	p.Remove(point{1, 2})
	var q Set[point]
	if err := q.UnmarshalBinary(mustMarshal(t, p)); err != nil {
		t.Fatal(err)
	}
	if !q.Equal(p) || !q.Contains(point{3, 4}) || q.Contains(point{1, 2}) {
		t.Fatal("struct elements lost")
	}
	n := New[int64]("a")
	for _, v := range []int64{-1 << 40, -5, 0, 200, 1 << 40} {
		n.Add(v)
	}
	var m Set[int64]
	if err := m.UnmarshalBinary(mustMarshal(t, n)); err != nil {
		t.Fatal(err)
	}
	if !m.Equal(n) {
		t.Fatal("int64 elements lost")
	}
}

// The module's law harness (package crdttest) run on Set through its
// exported API, with a naive model of add-wins observed-remove.

func setLawType() crdttest.Type[*Set[int], Op[int]] {
	return crdttest.Type[*Set[int], Op[int]]{
		Name: "orset.Set",
		New:  func(id crdt.ReplicaID, _ *clock.Clock) *Set[int] { return New[int](id) },
		Mutate: func(t *rapid.T, s *Set[int]) Op[int] {
			e := rapid.IntRange(0, 4).Draw(t, "elem")
			if rapid.Bool().Draw(t, "remove") {
				return s.Remove(e)
			}
			return s.Add(e)
		},
		Apply:      func(s *Set[int], op Op[int]) error { return s.Apply(op) },
		Merge:      func(dst, src *Set[int]) { dst.Merge(src) },
		Clone:      (*Set[int]).Clone,
		Equal:      func(a, b *Set[int]) bool { return a.Equal(b) },
		Version:    func(s *Set[int]) vclock.Clock { return s.Version() },
		DeltaSince: func(s *Set[int], v vclock.Clock) *Set[int] { return s.DeltaSince(v) },
		CollectVersions: func(s *Set[int], peers []vclock.Clock) int {
			stable := s.Version()
			for _, v := range peers {
				stable.Meet(v)
			}
			return s.Collect(stable)
		},
		Chunks: func(s *Set[int], version []byte, max int) ([][]byte, int, error) {
			return s.ChunksBinary(version, max)
		},
		MergeChunk: func(s *Set[int], part []byte) error {
			_, err := s.MergeChunkBinary(part)
			return err
		},
		MarshalState: func(s *Set[int]) ([]byte, error) {
			return s.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*Set[int], error) {
			s := New[int]("decoded")
			return s, s.UnmarshalBinary(b)
		},
		MarshalOp: func(op Op[int]) ([]byte, error) { return op.MarshalBinary() },
		UnmarshalOp: func(b []byte) (Op[int], error) {
			var op Op[int]
			return op, op.UnmarshalBinary(b)
		},
		Value: func(s *Set[int]) any { return slices.Sorted(s.All()) },
		Model: setLawModel,
	}
}

// setLawModel: an element is in the set if some add of it was observed by
// no remove of it.
//
// What a remove observed is what its replica knew of when it made it. With
// ops delivered out of causal order that is more than the events the
// replica saw itself (History.Saw): an op also tells its receiver which
// earlier adds of its element its replica knew of (a remove, those it
// deletes; an add, those it replaces), so a replica that applied a remove
// of x knows the adds of x that remove observed, even if it never received
// them. It is less than the causal past (History.HappenedBefore): a
// replica that applied an add of y has not observed the add of x that the
// add of y's replica had seen. So knowledge is computed here, event by
// event: the events the replica saw, plus, for each of those, the adds of
// the same element that its replica knew of.
func setLawModel(h crdttest.History[Op[int]]) any {
	isAdd := func(i int) bool { return !h[i].Op.IsRemove() }
	knew := make([]map[int]bool, len(h))
	for i := range h {
		k := map[int]bool{}
		for _, p := range h[i].Seen {
			k[p] = true
			if h[p].Op.IsNoop() {
				continue // a remove of an absent element tells nothing
			}
			for q := range knew[p] {
				if isAdd(q) && h[q].Op.Elem() == h[p].Op.Elem() {
					k[q] = true
				}
			}
		}
		knew[i] = k
	}
	in := map[int]bool{}
	for j := range h {
		if !isAdd(j) {
			continue
		}
		e := h[j].Op.Elem()
		observed := false
		for w := range h {
			if !isAdd(w) && !h[w].Op.IsNoop() && h[w].Op.Elem() == e && knew[w][j] {
				observed = true
				break
			}
		}
		if !observed {
			in[e] = true
		}
	}
	out := []int{}
	for e := range in {
		out = append(out, e)
	}
	slices.Sort(out)
	return out
}

func TestSetHarnessLaws(t *testing.T) { crdttest.Run(t, setLawType()) }
