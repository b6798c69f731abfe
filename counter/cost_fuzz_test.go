package counter

import (
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// checkCost runs decode, which decodes data, and fails if it costs more
// than the bounds of package costcheck allow (64 KiB fixed allowance: a
// reader, an error and small maps).
func checkCost(t *testing.T, data []byte, decode func()) {
	t.Helper()
	costcheck.Check(t, "decoding", costcheck.Weight(data), 64<<10, decode)
}

// bigG returns a G of many replicas, encoded: a large valid seed.
func bigG(n int) *G {
	g := &G{}
	for i := range n {
		g.Apply(GOp{Replica: vclock.ReplicaID(fmt.Sprintf("r%05d", i)), Count: uint64(i + 1)})
	}
	return g
}

func costSeeds(f *testing.F) {
	g := bigG(3000)
	c := &PN{}
	for _, e := range g.e {
		c.Apply(PNOp{Replica: e.id, P: e.n, N: 1})
	}
	v := g.Version()
	for _, m := range []interface{ MarshalBinary() ([]byte, error) }{g, c, sampleG(), samplePN(), GOp{"a", 1}, PNOp{"a", 1, 2}, v} {
		b, err := m.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
}

func FuzzGStateCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewG("x").MergeBinary(data) })
	})
}

func FuzzPNStateCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewPN("x").MergeBinary(data) })
	})
}

func FuzzGOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewG("x").ApplyBinaryFrom(data, "a") })
	})
}

func FuzzPNOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = NewPN("x").ApplyBinary(data) })
	})
}

func FuzzCounterVersionCost(f *testing.F) {
	costSeeds(f)
	g := bigG(100)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() { _, _ = g.DeltaSinceBinary(data) })
	})
}
