package counter

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

func mergedG(gs ...*G) *G {
	out := &G{}
	for _, g := range gs {
		out.Merge(g)
	}
	return out
}

func mergedPN(cs ...*PN) *PN {
	out := &PN{}
	for _, c := range cs {
		out.Merge(c)
	}
	return out
}

func TestGMergeLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genG(t, "a"), genG(t, "b"), genG(t, "c")
		ab := a.Clone()
		ab.Merge(b)
		gInvariant(t, ab)
		ba := b.Clone()
		ba.Merge(a)
		sameG(t, ab, ba) // commutative

		abc := ab.Clone()
		abc.Merge(c)
		bc := b.Clone()
		bc.Merge(c)
		a_bc := a.Clone()
		a_bc.Merge(bc)
		sameG(t, abc, a_bc) // associative

		aa := a.Clone()
		aa.Merge(a.Clone())
		sameG(t, aa, a) // idempotent

		// The join against a naive model: per replica, the larger total.
		for _, id := range pool {
			want := max(total(a, id), total(b, id))
			if got := total(ab, id); got != want {
				t.Fatalf("merged total of %s = %d, want max(%d, %d)", id, got, total(a, id), total(b, id))
			}
		}
		// Merging never changes the argument.
		b2 := b.Clone()
		a.Clone().Merge(b)
		sameG(t, b, b2)
	})
}

// total is the naive lookup of a replica's total in g.
func total(g *G, id crdt.ReplicaID) uint64 {
	for _, e := range g.e {
		if e.id == id {
			return e.n
		}
	}
	return 0
}

func TestPNMergeLaws(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := genPN(t, "a"), genPN(t, "b"), genPN(t, "c")
		ab := a.Clone()
		ab.Merge(b)
		pnInvariant(t, ab)
		ba := b.Clone()
		ba.Merge(a)
		samePN(t, ab, ba)

		abc := ab.Clone()
		abc.Merge(c)
		bc := b.Clone()
		bc.Merge(c)
		a_bc := a.Clone()
		a_bc.Merge(bc)
		samePN(t, abc, a_bc)

		aa := a.Clone()
		aa.Merge(a.Clone())
		samePN(t, aa, a)

		for _, id := range pool {
			pa, na := totals(a, id)
			pb, nb := totals(b, id)
			p, n := totals(ab, id)
			if p != max(pa, pb) || n != max(na, nb) {
				t.Fatalf("merged totals of %s = %d, %d; want %d, %d", id, p, n, max(pa, pb), max(na, nb))
			}
		}
	})
}

func totals(c *PN, id crdt.ReplicaID) (p, n uint64) {
	for _, e := range c.e {
		if e.id == id {
			return e.p, e.n
		}
	}
	return 0, 0
}

func TestGDeltaSinceLaw(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := genG(t, "a"), genG(t, "b")
		d := a.DeltaSince(b.Version())
		gInvariant(t, d)
		got := b.Clone()
		got.Merge(d)
		want := b.Clone()
		want.Merge(a)
		sameG(t, got, want)
		// Only what b lacks.
		for _, e := range d.e {
			if e.n <= total(b, e.id) {
				t.Fatalf("delta holds %s:%d, which b (%d) already has", e.id, e.n, total(b, e.id))
			}
		}
	})
}

func TestPNDeltaSinceLaw(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Versions summarise states only for what replicas can produce:
		// each replica's totals move along its one history.
		h := pnHistories(t)
		a, b := pnFromHistories(t, h, "a"), pnFromHistories(t, h, "b")
		d := a.DeltaSince(b.Version())
		pnInvariant(t, d)
		got := b.Clone()
		got.Merge(d)
		want := b.Clone()
		want.Merge(a)
		samePN(t, got, want)
		for _, e := range d.e {
			p, n := totals(b, e.id)
			if e.p <= p && e.n <= n {
				t.Fatalf("delta holds %+v, which b (%d, %d) already has", e, p, n)
			}
		}
	})
}

// replicaIDs returns the IDs of n replicas.
func replicaIDs(n int) []crdt.ReplicaID {
	ids := make([]crdt.ReplicaID, n)
	for i := range ids {
		ids[i] = crdt.ReplicaID(fmt.Sprintf("r%d", i))
	}
	return ids
}

// deliverShuffled draws a delivery order for ops: every op at least once,
// some twice, in any order.
func deliverShuffled[O any](t *rapid.T, ops []O) []O {
	out := append([]O(nil), ops...)
	for k, op := range ops {
		if rapid.IntRange(0, 3).Draw(t, fmt.Sprintf("dup %d", k)) == 0 {
			out = append(out, op)
		}
	}
	return rapid.Permutation(out).Draw(t, "order")
}

func TestGOpsEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := replicaIDs(rapid.IntRange(1, 4).Draw(t, "replicas"))
		reps := make([]*G, len(ids))
		for i, id := range ids {
			reps[i] = NewG(id)
		}
		var ops []GOp
		for k := range rapid.IntRange(0, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, len(reps)-1).Draw(t, fmt.Sprintf("who %d", k))
			if rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("merge %d", k)) == 0 {
				reps[i].Merge(reps[rapid.IntRange(0, len(reps)-1).Draw(t, fmt.Sprintf("from %d", k))])
				continue
			}
			op, err := reps[i].Inc(rapid.Uint64Range(0, 50).Draw(t, fmt.Sprintf("n %d", k)))
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		got := &G{}
		for _, op := range deliverShuffled(t, ops) {
			if err := got.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		gInvariant(t, got)
		sameG(t, got, mergedG(reps...))
	})
}

func TestPNOpsEqualMergedStates(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := replicaIDs(rapid.IntRange(1, 4).Draw(t, "replicas"))
		reps := make([]*PN, len(ids))
		for i, id := range ids {
			reps[i] = NewPN(id)
		}
		var ops []PNOp
		for k := range rapid.IntRange(0, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, len(reps)-1).Draw(t, fmt.Sprintf("who %d", k))
			if rapid.IntRange(0, 4).Draw(t, fmt.Sprintf("merge %d", k)) == 0 {
				reps[i].Merge(reps[rapid.IntRange(0, len(reps)-1).Draw(t, fmt.Sprintf("from %d", k))])
				continue
			}
			op, err := reps[i].Add(rapid.Int64Range(-50, 50).Draw(t, fmt.Sprintf("d %d", k)))
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op)
		}
		got := &PN{}
		for _, op := range deliverShuffled(t, ops) {
			if err := got.Apply(op); err != nil {
				t.Fatal(err)
			}
		}
		pnInvariant(t, got)
		samePN(t, got, mergedPN(reps...))
	})
}

// The module's law harness (package crdttest) run on G and PN through
// their exported API, with the naive model of a counter: the sum of every
// increment ever made, whatever got delivered how.

// gLawOp is a G op with the increment that made it, for the model (the op
// itself carries the replica's new total, not the increment).
type gLawOp struct {
	op GOp
	n  uint64
}

func gLawType() crdttest.Type[*G, gLawOp] {
	return crdttest.Type[*G, gLawOp]{
		Name: "counter.G",
		New:  func(id crdt.ReplicaID, _ *clock.Clock) *G { return NewG(id) },
		Mutate: func(t *rapid.T, g *G) gLawOp {
			n := rapid.Uint64Range(0, 5).Draw(t, "n")
			op, err := g.Inc(n)
			if err != nil {
				t.Fatalf("Inc(%d): %v", n, err)
			}
			return gLawOp{op, n}
		},
		Apply:      func(g *G, o gLawOp) error { return g.Apply(o.op) },
		Merge:      func(dst, src *G) { dst.Merge(src) },
		Clone:      (*G).Clone,
		Equal:      func(a, b *G) bool { return a.Equal(b) },
		Version:    func(g *G) vclock.Clock { return g.Version() },
		DeltaSince: func(g *G, v vclock.Clock) *G { return g.DeltaSince(v) },
		Chunks: func(g *G, version []byte, max int) ([][]byte, int, error) {
			return g.ChunksBinary(version, max)
		},
		MergeChunk: func(g *G, part []byte) error {
			_, err := g.MergeChunkBinary(part)
			return err
		},
		MarshalState: func(g *G) ([]byte, error) {
			return g.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*G, error) {
			g := NewG("decoded")
			return g, g.UnmarshalBinary(b)
		},
		MarshalOp: func(o gLawOp) ([]byte, error) { return o.op.MarshalBinary() },
		UnmarshalOp: func(b []byte) (gLawOp, error) {
			var o gLawOp
			return o, o.op.UnmarshalBinary(b)
		},
		Value: func(g *G) any { return g.Value() },
		Model: func(h crdttest.History[gLawOp]) any {
			var sum uint64
			for _, e := range h {
				sum += e.Op.n
			}
			return sum
		},
	}
}

// pnLawOp is a PN op with the change that made it, for the model.
type pnLawOp struct {
	op PNOp
	d  int64
}

func pnLawType() crdttest.Type[*PN, pnLawOp] {
	return crdttest.Type[*PN, pnLawOp]{
		Name: "counter.PN",
		New:  func(id crdt.ReplicaID, _ *clock.Clock) *PN { return NewPN(id) },
		Mutate: func(t *rapid.T, c *PN) pnLawOp {
			d := rapid.Int64Range(-5, 5).Draw(t, "d")
			op, err := c.Add(d)
			if err != nil {
				t.Fatalf("Add(%d): %v", d, err)
			}
			return pnLawOp{op, d}
		},
		Apply:      func(c *PN, o pnLawOp) error { return c.Apply(o.op) },
		Merge:      func(dst, src *PN) { dst.Merge(src) },
		Clone:      (*PN).Clone,
		Equal:      func(a, b *PN) bool { return a.Equal(b) },
		Version:    func(c *PN) vclock.Clock { return c.Version() },
		DeltaSince: func(c *PN, v vclock.Clock) *PN { return c.DeltaSince(v) },
		Chunks: func(c *PN, version []byte, max int) ([][]byte, int, error) {
			return c.ChunksBinary(version, max)
		},
		MergeChunk: func(c *PN, part []byte) error {
			_, err := c.MergeChunkBinary(part)
			return err
		},
		MarshalState: func(c *PN) ([]byte, error) {
			return c.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*PN, error) {
			c := NewPN("decoded")
			return c, c.UnmarshalBinary(b)
		},
		MarshalOp: func(o pnLawOp) ([]byte, error) { return o.op.MarshalBinary() },
		UnmarshalOp: func(b []byte) (pnLawOp, error) {
			var o pnLawOp
			return o, o.op.UnmarshalBinary(b)
		},
		Value: func(c *PN) any { return c.Value() },
		Model: func(h crdttest.History[pnLawOp]) any {
			var sum int64
			for _, e := range h {
				sum += e.Op.d
			}
			return sum
		},
	}
}

func TestGHarnessLaws(t *testing.T) { crdttest.Run(t, gLawType()) }

func TestPNHarnessLaws(t *testing.T) { crdttest.Run(t, pnLawType()) }
