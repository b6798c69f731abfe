package crdt_test

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
)

// checkCost runs f, which must do the same work each time it is called
// (on a fresh replica), and fails t if it costs more than the bounds of
// package costcheck allow for an input of n bytes. The fixed allowance, 1
// MiB, covers the replica f builds inside the measurement.
func checkCost(t *testing.T, n int, f func()) {
	t.Helper()
	costcheck.Check(t, "handling", n, 1<<20, f)
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
