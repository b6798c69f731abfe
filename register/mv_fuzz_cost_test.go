package register

import (
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// checkMVCost runs f, the handling of one input of n bytes, and fails t if it
// costs more than the bounds of package costcheck allow (256 KiB bytes fixed:
// what any decode allocates once, the reader, an empty table, the indexes).
func checkMVCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	costcheck.Check(t, what, n, 256<<10, f)
}

// FuzzMVDecodeCost holds every decoding method of an MV, on any input, to
// the allocation and time bounds above.
func FuzzMVDecodeCost(f *testing.F) {
	siblings := NewMV[string]("s")
	for i := range 2000 {
		if err := siblings.Apply(MVOp[string]{dot: vclock.Dot{Replica: vclock.ReplicaID(fmt.Sprint("w", i)), Seq: 1}, v: "v"}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(mustMarshal(f, siblings))
	f.Add(mustMarshal(f, MVOp[string]{dot: vclock.Dot{Replica: "a", Seq: 9}, v: "x", replaced: siblings.dots()}))
	a := NewMV[string]("a")
	f.Add(mustMarshal(f, a.Set("1")))
	f.Add(mustMarshal(f, a))
	f.Add(mustMarshal(f, a.Version()))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MV[string]
		checkMVCost(t, "UnmarshalBinary", costcheck.Weight(data), func() { _ = m.UnmarshalBinary(data) })
		r := NewMV[string]("r")
		r.Set("mine")
		checkMVCost(t, "MergeBinary", costcheck.Weight(data), func() { _, _ = r.MergeBinary(data) })
		checkMVCost(t, "ApplyBinary", costcheck.Weight(data), func() { _, _ = r.ApplyBinary(data) })
		checkMVCost(t, "ApplyBinaryFrom", costcheck.Weight(data), func() { _, _ = r.ApplyBinaryFrom(data, "a") })
		checkMVCost(t, "DeltaSinceBinary", costcheck.Weight(data), func() { _, _ = r.DeltaSinceBinary(data) })
	})
}
