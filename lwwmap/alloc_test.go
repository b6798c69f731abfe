package lwwmap

import (
	"encoding/binary"
	"errors"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// Regression (issue 9, finding 10): the state decoder sized its map of
// entries by the number of values a group claimed, before decoding any: a
// 1 MiB state whose first entry was bad allocated 32 times its size.
func TestRegressionLWWMapAllocatesBeforeValidation(t *testing.T) {
	n := 1 << 20
	msg := []byte{1, byte(codec.KindMap), 0xa1, 'a',
		0x90,                   // empty causal context
		0x00,                   // base wall time
		0x91,                   // one group
		0xdd, 0, 0, 0, 0, 0x00} // of n values: replica a, then...
	binary.BigEndian.PutUint32(msg[len(msg)-5:], uint32(n))
	for range n {
		msg = append(msg, 0xc1) // ...a byte msgpack never uses
	}
	var err error
	got := costcheck.Allocated(func() { _, err = (&Map[string, string]{}).MergeBinary(msg) })
	if !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("bad first entry: %v, want ErrMalformed", err)
	}
	if limit := uint64(len(msg) / 8); got > limit {
		t.Fatalf("refusing a %d-byte state allocated %d bytes, more than %d", len(msg), got, limit)
	}
}
