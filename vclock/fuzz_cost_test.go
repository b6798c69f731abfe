package vclock_test

import (
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// checkCost runs f, the handling of one input of n bytes, and fails t if it
// costs more than the bounds of package costcheck allow (64 KiB bytes fixed:
// what any decode allocates once, the reader, an empty table, the indexes).
func checkCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	costcheck.Check(t, what, n, 64<<10, f)
}

// interleaved returns a context of one replica with n runs, each one event
// long, at odd (or, if even, even) positions from 2: merged with the other
// parity, every run touches two of the other's.
func interleaved(n int, even bool) vclock.Context {
	var c vclock.Context
	for i := range n {
		s := uint64(2*i + 3)
		if even {
			s++
		}
		c.Add(vclock.Dot{Replica: "a", Seq: s})
	}
	return c
}

// FuzzDecodeCost decodes any input as a clock and as a context, within
// the bounds above, and merges and compares what decodes with contexts
// that have many runs and many replicas.
func FuzzDecodeCost(f *testing.F) {
	odd, even := interleaved(5000, false), interleaved(5000, true)
	b, err := odd.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	var wide vclock.Context
	var clock vclock.Clock
	for i := range 3000 {
		id := vclock.ReplicaID(fmt.Sprint("r", i))
		wide.AddRange(id, 1, uint64(i+1))
		clock.Set(id, uint64(i+1))
	}
	if b, err = wide.MarshalBinary(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	if b, err = clock.MarshalBinary(); err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	sizes := map[*vclock.Context]int{}
	for _, c := range []*vclock.Context{&even, &wide} {
		b, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		sizes[c] = len(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c vclock.Clock
		checkCost(t, "Clock.UnmarshalBinary", costcheck.Weight(data), func() { _ = c.UnmarshalBinary(data) })
		var x vclock.Context
		checkCost(t, "Context.UnmarshalBinary", costcheck.Weight(data), func() { _ = x.UnmarshalBinary(data) })
		for _, base := range []*vclock.Context{&even, &wide} {
			u := base.Clone()
			// Merging touches the receiver too: its size counts.
			checkCost(t, "Context.Merge", costcheck.Weight(data)+sizes[base], func() {
				u.Merge(&x)
				_ = u.Overlaps(&x)
			})
		}
	})
}
