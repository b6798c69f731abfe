// Package costcheck holds the bounds that the fuzz targets hold every
// decoder of untrusted input to: work linear in the input, whatever it
// claims. It is for tests only.
//
// Allocation: at most [AllocPerByte] bytes per byte of input, plus a fixed
// allowance each caller states (a reader, an empty table, a replica built
// inside the measurement). The densest honest inputs cost about 50 bytes
// per byte (an lwwmap state of one small entry per replica, decoded and
// merged into an empty map: 49; an element with many dots of one writer: 28;
// counters: 8); 64 leaves room for them and fails a decoder that allocates
// for counts the input does not bear out, or in proportion to the square of
// anything.
//
// Time: no input of up to [MaxTimed] bytes may take more than [MaxTime],
// stretched under the race detector: about a hundred times what a linear
// decoder needs for the largest such input, so it only catches work
// quadratic in the input.
package costcheck

import (
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/codec"
)

// The bounds.
const (
	AllocPerByte = 64
	MaxTimed     = 64 << 10
	MaxTime      = 50 * time.Millisecond
)

// Check runs f, the handling of one input of n bytes, and fails t if f
// allocated more than AllocPerByte*n+fixed bytes (an eighth more under the
// race detector, whose bookkeeping allocates too), or if n is at most
// MaxTimed and f took longer than the time bound three times running. f
// must be safe to run again on the same input (decoding into a fresh value,
// or merging, which is idempotent): a slow run is timed again before it
// fails, so that a pause of a loaded machine is not taken for quadratic
// work.
func Check(t testing.TB, what string, n int, fixed uint64, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, (AllocPerByte*uint64(n)+fixed)*raceAlloc/8; got > limit {
		t.Fatalf("%s of %d bytes allocated %d bytes, more than %d", what, n, got, limit)
	}
	limit := MaxTime * raceFactor
	if n > MaxTimed {
		return
	}
	for range 2 {
		if took <= limit {
			return
		}
		start = time.Now()
		f()
		took = time.Since(start)
	}
	if took > limit {
		t.Fatalf("%s of %d bytes took %v three times running, more than %v", what, n, took, limit)
	}
}

// Weight returns the length an input counts for in [Check]: its own; or,
// for a compressed message (codec.KindCompressed), its own plus the length
// of the plain message it claims to hold, at most codec.MaxRatio times its
// own: a reader decompresses it, up to that length, and decodes what it
// holds, so its cost is linear in that length.
func Weight(data []byte) int {
	if !codec.IsCompressed(data) {
		return len(data)
	}
	r := codec.NewReader(data, codec.KindCompressed, codec.Limits{})
	r.Uint() // the plain message's kind
	plain := r.Uint()
	if r.Err() != nil {
		return len(data)
	}
	return len(data) + int(min(plain, codec.MaxRatio*uint64(len(data))))
}

// Race reports whether the race detector is on: it allocates for its own
// bookkeeping, so allocation counts are not comparable under it.
const Race = raceFactor != 1

// Allocated returns the bytes f allocates on the heap, after a collection
// so that earlier garbage does not count.
func Allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
