package vclock_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/vclock"
)

// The cost bounds FuzzDecodeCost holds every input to.
//
// Allocation: at most 64 bytes per byte of input, plus 64 KB. A context
// entry takes 48 bytes for at least 3 bytes of input, a run 16 bytes for
// at least 2, a clock entry 24 for at least 2, each doubled at most while
// the slices grow, and the reader's replica table a string header and the
// string for each ID: under 40 bytes per byte. Merging and comparing add
// at most a copy. 64 fails a decoder that allocates for counts the input
// does not bear out, or quadratically.
//
// Time: no input of up to 64 KB may take more than 50 ms, a hundred times
// what the linear code needs: it only catches quadratic work, such as
// merging interleaved runs one by one (1.45 s for 734 KB before).
const (
	vcAllocPerByte = 64
	vcAllocFixed   = 64 << 10
	vcMaxTimed     = 64 << 10
	vcMaxTime      = 50 * time.Millisecond
)

func checkCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if b := after.TotalAlloc - before.TotalAlloc; b > vcAllocPerByte*uint64(n)+vcAllocFixed {
		t.Fatalf("%s of %d bytes allocated %d bytes, over %d per byte", what, n, b, vcAllocPerByte)
	}
	if n <= vcMaxTimed && took > vcMaxTime*timeFactor {
		t.Fatalf("%s of %d bytes took %v", what, n, took)
	}
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
		checkCost(t, "Clock.UnmarshalBinary", len(data), func() { _ = c.UnmarshalBinary(data) })
		var x vclock.Context
		checkCost(t, "Context.UnmarshalBinary", len(data), func() { _ = x.UnmarshalBinary(data) })
		for _, base := range []*vclock.Context{&even, &wide} {
			u := base.Clone()
			// Merging touches the receiver too: its size counts.
			checkCost(t, "Context.Merge", len(data)+sizes[base], func() {
				u.Merge(&x)
				_ = u.Overlaps(&x)
			})
		}
	})
}
