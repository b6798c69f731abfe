package crdt_test

import (
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"testing"
	"time"
)

// Hostile input must cost work linear in its size: a fuzz target checks
// each input against these bounds. The multiple covers the decoded form of
// the densest input (an op or a peer entry of a few bytes decodes into a
// struct of a few words) and the object's own decoding; the constant covers
// fixed costs (a replica's maps, buffers grown in steps).
const (
	allocPerByte = 64
	allocFixed   = 1 << 20
	maxInputTime = 50 * time.Millisecond // for inputs up to 64 KiB
)

// checkCost runs f, which must do the same work each time it is called
// (on a fresh replica), and fails t if it allocated more than the bounds
// allow for an input of n bytes, or, for inputs up to 64 KiB, took longer
// than maxInputTime twice in a row (once may be a pause of the machine).
func checkCost(t *testing.T, n int, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(allocPerByte*n+allocFixed); got > limit {
		t.Fatalf("%d bytes of input allocated %d bytes, limit %d", n, got, limit)
	}
	if n > 64<<10 || took <= maxInputTime {
		return
	}
	start = time.Now()
	f()
	if again := time.Since(start); again > maxInputTime {
		t.Fatalf("%d bytes of input took %v, then %v; limit %v", n, took, again, maxInputTime)
	}
}

// resealed returns b with its last four bytes replaced by the CRC-32C of
// the rest, so that a fuzzer's mutations reach the decoder behind the
// checksum instead of stopping at it.
func resealed(b []byte) []byte {
	if len(b) < 6 {
		return b
	}
	out := append([]byte(nil), b...)
	body := out[:len(out)-4]
	binary.BigEndian.PutUint32(out[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	return out
}
