package codec_test

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/activeactive/crdt/internal/costcheck"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// Regression (issue 9, finding 10): a replica table that claimed many IDs
// had its slice and its set of seen IDs sized by the claim, before any ID
// was read; a repeat at the tenth ID of a 1 MiB table then cost more than
// twenty times the input.
func TestRegressionReplicaTableAllocatesBeforeValidation(t *testing.T) {
	n := 1 << 18
	var ids bytes.Buffer
	for i := range n {
		s := fmt.Sprintf("%03x", i%9) // a repeat at the tenth ID
		ids.WriteByte(0xa0 | byte(len(s)))
		ids.WriteString(s)
	}
	msg := append([]byte{1, byte(codec.KindG), 0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, ids.Bytes()...)
	var err error
	got := costcheck.Allocated(func() { err = codec.NewReader(msg, codec.KindG, codec.Limits{}).Err() })
	if !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("table with a repeat: %v, want ErrMalformed", err)
	}
	// A few IDs read, a reader and an error: far below the input's size.
	if limit := uint64(len(msg) / 8); got > limit {
		t.Fatalf("refusing a %d-byte table allocated %d bytes, more than %d", len(msg), got, limit)
	}
}
