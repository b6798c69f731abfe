package lwwmap

import (
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"slices"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// checkCost runs decode, which decodes data, and fails if it costs more
// than the bounds of package costcheck allow (64 KiB fixed allowance: a
// reader, an error and small maps).
func checkCost(t *testing.T, data []byte, decode func()) {
	t.Helper()
	costcheck.Check(t, "decoding", costcheck.Weight(data), 64<<10, decode)
}

// costSeeds adds the usual seeds and a large state of many small entries,
// one per replica, the costliest shape per input byte.
func costSeeds(f *testing.F) {
	states, ops, versions := seeds()
	big := bigState()
	bv := bigVersion()
	for _, b := range slices.Concat(states, ops, versions, [][]byte{big, big[:len(big)/2], bv}) {
		f.Add(b)
	}
}

func bigMap() *Map[string, string] {
	m := &Map[string, string]{}
	for i := range 2000 {
		id := vclock.ReplicaID(fmt.Sprintf("r%04d", i))
		m.Apply(Op[string, string]{key: fmt.Sprint(i), value: "v", ts: clock.Timestamp{Wall: int64(i + 1)}, dot: vclock.Dot{Replica: id, Seq: 1}})
	}
	return m
}

func bigState() []byte {
	b, err := bigMap().MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}

func bigVersion() []byte {
	b, _ := bigMap().Version().MarshalBinary()
	return b
}

// costTarget is a map with some content, whose clock accepts any
// timestamp.
func costTarget() *Map[string, string] {
	m := New[string, string]("target", clock.New(clock.WithMaxOffset(0)))
	m.Put("keep", "me")
	return m
}

func FuzzStateCost(f *testing.F) {
	costSeeds(f)
	// Parts of a state, cut small, and parts of removed dots.
	src, _, _ := sample()
	for _, v := range [][]byte{nil, {}} {
		if v != nil {
			v, _ = src.Version().MarshalBinary()
		}
		parts, _, err := src.ChunksBinary(v, 100)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range parts {
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := costTarget()
		checkCost(t, data, func() { _, _ = m.MergeBinary(data) })
		m = costTarget()
		checkCost(t, data, func() { _, _ = m.MergeChunkBinary(data) })
		m = costTarget()
		checkCost(t, data, func() { _, _ = m.HealChunkBinary(data) })
	})
}

func FuzzOpCost(f *testing.F) {
	costSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := costTarget()
		checkCost(t, data, func() { _, _ = m.ApplyBinaryFrom(data, "us-east-1") })
	})
}

func FuzzVersionCost(f *testing.F) {
	costSeeds(f)
	m, _, _ := sample()
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() {
			_, _ = m.DeltaSinceBinary(data)
			_ = m.Clone().CollectBinary([][]byte{data})
		})
	})
}
