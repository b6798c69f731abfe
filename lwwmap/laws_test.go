package lwwmap

import (
	"maps"
	"slices"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// merged returns a fresh map holding the join of the given states.
func merged(states ...*Map[string, int]) *Map[string, int] {
	out := &Map[string, int]{}
	for _, s := range states {
		out.Merge(s)
	}
	return out
}

func drawState(t *rapid.T, s *sim, label string) *Map[string, int] {
	pool := append(append([]*Map[string, int]{{}}, s.reps...), s.snapshots...)
	return pool[rapid.IntRange(0, len(pool)-1).Draw(t, label)]
}

func TestMergeIsASemilattice(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		a, b, c := drawState(t, s, "a"), drawState(t, s, "b"), drawState(t, s, "c")

		if ab, ba := merged(a, b), merged(b, a); !ab.Equal(ba) {
			t.Fatalf("not commutative:\na⊔b = %v\nb⊔a = %v", dump(ab), dump(ba))
		}
		if l, r := merged(merged(a, b), c), merged(a, merged(b, c)); !l.Equal(r) {
			t.Fatalf("not associative:\n(a⊔b)⊔c = %v\na⊔(b⊔c) = %v", dump(l), dump(r))
		}
		aa := a.Clone()
		aa.Merge(a.Clone())
		if !aa.Equal(a) {
			t.Fatalf("not idempotent:\na⊔a = %v\na = %v", dump(aa), dump(a))
		}
		// Merging a state into one that already holds it changes nothing.
		ab := merged(a, b)
		before := ab.Clone()
		ab.Merge(b)
		if !ab.Equal(before) {
			t.Fatalf("merging b again changed a⊔b")
		}
		// The join holds what each side holds: visible contents agree
		// with the model of the union of what both saw.
		var seen []write
		for _, w := range s.writes {
			if a.ctx.Contains(w.dot) || b.ctx.Contains(w.dot) {
				seen = append(seen, w)
			}
		}
		if s.collected == 0 {
			if got, want := contents(merged(a, b)), model(seen); !maps.Equal(got, want) {
				t.Fatalf("a⊔b shows %v, the model of what a and b saw %v", got, want)
			}
		}
	})
}

func TestOpsInAnyOrderWithDuplicatesEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, false)
		s.run()
		ops := rapid.Permutation(s.ops).Draw(t, "order")
		for _, i := range rapid.SliceOfN(rapid.IntRange(0, max(len(s.ops)-1, 0)), 0, 10).Draw(t, "duplicates") {
			if len(s.ops) > 0 {
				ops = append(ops, s.ops[i])
			}
		}
		ops = rapid.Permutation(ops).Draw(t, "order with duplicates")
		got := New[string, int]("observer", clock.New(clock.WithSource(s.time.source(0)), clock.WithMaxOffset(0)))
		for _, op := range ops {
			if err := got.Apply(op); err != nil {
				t.Fatalf("Apply(%v): %v", op, err)
			}
		}
		want := merged(s.reps...)
		if !got.Equal(want) {
			t.Fatalf("ops applied in any order:\n%v\nmerged states:\n%v", dump(got), dump(want))
		}
		if g, w := contents(got), model(s.writes); !maps.Equal(g, w) {
			t.Fatalf("ops applied show %v, the model %v", g, w)
		}
	})
}

func TestDeltaSincePlusMergeEqualsFullMerge(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		// Once markers have been collected, a full merge can also drop a
		// marker the receiver still holds whose dot the sender has seen
		// (the sender collected it); a delta leaves it for the receiver to
		// collect. The two then agree on everything but that marker.
		same := (*Map[string, int]).Equal
		if s.collected > 0 {
			same = equivalent[string, int]
		}
		n := len(s.reps)
		from := rapid.IntRange(0, n-1).Draw(t, "from")
		to := rapid.IntRange(0, n-1).Draw(t, "to")
		vs := s.versions[to]
		v := vs[rapid.IntRange(0, len(vs)-1).Draw(t, "version")]

		full := s.reps[to].Clone()
		full.Merge(s.reps[from])

		viaDelta := s.reps[to].Clone()
		delta := s.reps[from].DeltaSince(v)
		viaDelta.Merge(delta)
		if !same(viaDelta, full) {
			t.Fatalf("delta since %v:\n%v\nmerged gives\n%v\nfull merge gives\n%v", v, dump(delta), dump(viaDelta), dump(full))
		}

		// The same through the byte-level interface the engine uses.
		vb, err := s.reps[to].VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		db, err := s.reps[from].DeltaSinceBinary(vb)
		if err != nil {
			t.Fatal(err)
		}
		viaBytes := s.reps[to].Clone()
		if _, err := viaBytes.MergeBinary(db); err != nil {
			t.Fatal(err)
		}
		if !same(viaBytes, full) {
			t.Fatalf("delta through bytes:\n%v\nfull merge gives\n%v", dump(viaBytes), dump(full))
		}
		// A delta holds no entry the version has seen, unless the
		// version has not seen every write the sender collected: then it
		// is the sender's whole state.
		if !s.reps[from].gone.LessOrEqual(v) {
			wb, err := s.reps[from].MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if b, err := delta.MarshalBinary(); err != nil || !slices.Equal(b, wb) {
				t.Fatalf("delta since %v, below the collected %v, is not the whole state", v, s.reps[from].gone)
			}
			return
		}
		for _, e := range entries(delta) {
			if v.Contains(delta.dot(&e)) {
				t.Fatalf("delta since %v holds the entry of dot %v", v, delta.dot(&e))
			}
		}
	})
}

func TestReplicasConvergeToTheModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, false)
		s.run()
		s.settle()
		want := model(s.writes)
		for i, m := range s.reps {
			if got := contents(m); !maps.Equal(got, want) {
				t.Fatalf("replica %d shows %v, the model %v", i, got, want)
			}
			if !m.Equal(s.reps[0]) {
				t.Fatalf("replica %d and replica 0 differ:\n%v\n%v", i, dump(m), dump(s.reps[0]))
			}
			if m.Len() != len(want) {
				t.Fatalf("replica %d: Len %d, want %d", i, m.Len(), len(want))
			}
		}
	})
}

func TestCollectAtAStablePointKeepsConvergence(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, true)
		s.run()
		s.settle()
		// Collect everywhere once more, now that everything is known.
		for _, m := range s.reps {
			s.collected += m.Collect(s.stable())
		}
		want := model(s.writes)
		v := s.reps[0].Version()
		for i, m := range s.reps {
			if got := contents(m); !maps.Equal(got, want) {
				t.Fatalf("replica %d shows %v, the model %v (%d markers collected)", i, got, want, s.collected)
			}
			if !m.Version().Equal(v) {
				t.Fatalf("replica %d has version %v, replica 0 %v", i, m.Version(), v)
			}
		}
		// Late duplicates of any ops, in any order, change nothing anywhere.
		late := rapid.Permutation(s.ops).Draw(t, "late duplicates")
		for i, m := range s.reps {
			for _, op := range late {
				if err := m.Apply(op); err != nil {
					t.Fatal(err)
				}
				if got := contents(m); !maps.Equal(got, want) {
					t.Fatalf("after a late duplicate of %v replica %d shows %v, the model %v", op.Dot(), i, got, want)
				}
			}
		}
	})
}

// equivalent reports whether a and b have the same causal context and the
// same live entries, whatever delete markers each still holds.
func equivalent[K comparable, V any](a, b *Map[K, V]) bool {
	if a.Len() != b.Len() || !a.ctx.Equal(&b.ctx) {
		return false
	}
	for k, e := range entries(a) {
		if e.deleted() {
			continue
		}
		oe, ok := b.m.Get(k)
		if !ok || oe.deleted() || e.ts() != oe.ts() || a.dot(&e) != b.dot(&oe) {
			return false
		}
	}
	return true
}

// The module's law harness (package crdttest) run on Map through its
// exported API, with a naive model of per-key last-writer-wins.

var lawKeys = []string{"k0", "k1", "k2", "k3"}

// lawDecodeClock is the clock of maps the harness only decodes into: a
// fixed physical time and no offset check, so decoding never depends on
// the time the test runs at.
func lawDecodeClock() *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return 1 }), clock.WithMaxOffset(0))
}

func mapLawType() crdttest.Type[*Map[string, int], Op[string, int]] {
	type (
		m  = Map[string, int]
		op = Op[string, int]
	)
	return crdttest.Type[*m, op]{
		Name: "lwwmap.Map",
		New:  func(id crdt.ReplicaID, clk *clock.Clock) *m { return New[string, int](id, clk) },
		Mutate: func(t *rapid.T, x *m) op {
			k := rapid.SampledFrom(lawKeys).Draw(t, "key")
			if rapid.IntRange(0, 2).Draw(t, "delete") == 0 {
				return x.Delete(k)
			}
			return x.Put(k, rapid.IntRange(0, 9).Draw(t, "v"))
		},
		Apply:      func(x *m, o op) error { return x.Apply(o) },
		Merge:      func(dst, src *m) { dst.Merge(src) },
		Clone:      (*m).Clone,
		Equal:      func(a, b *m) bool { return a.Equal(b) },
		Version:    func(x *m) vclock.Clock { return x.Version() },
		DeltaSince: func(x *m, v vclock.Clock) *m { return x.DeltaSince(v) },
		CollectVersions: func(x *m, peers []vclock.Clock) int {
			return x.CollectVersions(peers)
		},
		Chunks: func(x *m, version []byte, max int) ([][]byte, int, error) {
			return x.ChunksBinary(version, max)
		},
		MergeChunk: func(x *m, part []byte) error {
			_, err := x.MergeChunkBinary(part)
			return err
		},
		MarshalState: func(x *m) ([]byte, error) {
			return x.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*m, error) {
			x := New[string, int]("decoded", lawDecodeClock())
			return x, x.UnmarshalBinary(b)
		},
		MarshalOp: func(o op) ([]byte, error) { return o.MarshalBinary() },
		UnmarshalOp: func(b []byte) (op, error) {
			var o op
			return o, o.UnmarshalBinary(b)
		},
		Value: func(x *m) any { return maps.Collect(x.All()) },
		Model: mapLawModel,
	}
}

// mapLawModel: for each key, of the writes to it that happened before no
// other write to it, the one with the greatest timestamp, the smaller
// replica ID winning an exact tie; the key is absent if that write is a
// delete. The causal order comes from the history, not from the
// timestamps, so a write made after seeing another must win whatever the
// clocks say.
func mapLawModel(h crdttest.History[Op[string, int]]) any { return lwwValues(h) }

func TestMapHarnessLaws(t *testing.T) { crdttest.Run(t, mapLawType()) }
