package ormap_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// longResetOp crafts writer's delete, under the dot (writer, k+1), of the
// counter at a key of keyLen bytes, with a reset leaf of k entries: the
// chains of writer starting at 1 to k, each seen at its start.
func longResetOp(t testing.TB, writer vclock.ReplicaID, keyLen, k int) []byte {
	w := codec.NewWriter(codec.KindORMapOp, keyLen+16*k+64)
	w.SetVersion(2)
	w.Array(5) // the dot, the leaf, one dropped dot
	w.Replica(string(writer))
	w.Uint(uint64(k + 1))
	w.Array(1)
	w.Array(3) // false, the entries, the key
	w.Bool(false)
	w.Array(k)
	for i := range k {
		w.Array(4)
		w.String(string(writer))
		w.Uint(uint64(i + 1))
		w.Uint(0)
		w.Int(1)
	}
	w.String(strings.Repeat("k", keyLen))
	w.Replica(string(writer))
	w.Uint(1)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResetLeafCostLinear: a reset leaf holds its key path once, not once
// for each of its entries, so that a delete of a long key with many
// entries costs the sum of the two, not their product, to decode, apply,
// hold and encode again.
func TestResetLeafCostLinear(t *testing.T) {
	writer := vclock.Writer("peer", 1)
	for _, n := range []int{8 << 10, 32 << 10} {
		op := longResetOp(t, writer, n/2, n/2/16)
		m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
		var err error
		costcheck.Check(t, "ApplyBinaryFrom", len(op), 64<<10, func() { _, err = m.ApplyBinaryFrom(op, writer) })
		if err != nil {
			t.Fatalf("op of %d bytes: %v", len(op), err)
		}
		var state []byte
		costcheck.Check(t, "MarshalBinary", len(op), 64<<10, func() { state, err = m.MarshalBinary() })
		if err != nil {
			t.Fatal(err)
		}
		if len(state) > 2*len(op) {
			t.Fatalf("state of %d bytes after an op of %d", len(state), len(op))
		}
		o := ormap.New[string, *ormap.Counter](vclock.Writer("other", 1))
		costcheck.Check(t, "MergeBinary", len(state), 64<<10, func() { _, err = o.MergeBinary(state) })
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestNestedResetCostLinear: in a map of maps of counters, a delete of a
// long outer key with entries of many counters below it costs the sum of
// the key's length and the entries', not their product, to apply, to
// fingerprint, to encode and to merge: the counters' paths are compared
// and found in two parts, the reset's and the entry's, not joined into a
// new string for each entry.
func TestNestedResetCostLinear(t *testing.T) {
	writer := vclock.Writer("p", 1)
	const keyLen, k = 24 << 10, 2500
	w := codec.NewWriter(codec.KindORMapOp, keyLen+24*k+64)
	w.SetVersion(2)
	w.Array(5)
	w.Replica(string(writer))
	w.Uint(uint64(k + 1))
	w.Array(1)
	w.Array(3) // false, the entries, the outer key
	w.Bool(false)
	w.Array(k)
	for i := range k {
		w.Array(5) // the inner key, then the chain
		w.String(fmt.Sprintf("%04d", i))
		w.String(string(writer))
		w.Uint(uint64(i + 1))
		w.Uint(0)
		w.Int(1)
	}
	w.String(strings.Repeat("k", keyLen))
	w.Replica(string(writer))
	w.Uint(1)
	op, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	type nested = ormap.Map[string, *ormap.Counter]
	m := ormap.New[string, *nested](vclock.Writer("me", 1))
	costcheck.Check(t, "ApplyBinaryFrom", len(op), 64<<10, func() { _, err = m.ApplyBinaryFrom(op, writer) })
	if err != nil {
		t.Fatal(err)
	}
	costcheck.Check(t, "ContentFingerprint", len(op), 64<<10, func() { m.ContentFingerprint() })
	var state []byte
	costcheck.Check(t, "MarshalBinary", len(op), 64<<10, func() { state, err = m.MarshalBinary() })
	if err != nil {
		t.Fatal(err)
	}
	o := ormap.New[string, *nested](vclock.Writer("other", 1))
	costcheck.Check(t, "MergeBinary", len(state), 64<<10, func() { _, err = o.MergeBinary(state) })
	if err != nil {
		t.Fatal(err)
	}
	costcheck.Check(t, "ContentFingerprint", len(state), 64<<10, func() { o.ContentFingerprint() })
}
