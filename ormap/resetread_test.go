package ormap_test

import (
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// TestResetReadCostLinear: reading a counter costs work linear in its
// leaves and the entries of the reset leaves at its key, not their
// product: a leaf's entry is looked up among those of its chain. A peer's
// state of n chains at one key and a delete of the key with n entries
// (of chains of its own, which cover none of those leaves) would
// otherwise make every read, and every Add, cost n².
func TestResetReadCostLinear(t *testing.T) {
	const leaves, entries = 3000, 3300
	w := vclock.Writer("m", 1)
	src := ormap.New[string, *ormap.Counter](vclock.Writer("src", 1))
	for i := range leaves {
		if _, err := src.ApplyBinaryFrom(chainStartOp(t, w, uint64(i+1)), w); err != nil {
			t.Fatal(err)
		}
	}
	state, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	// w's delete of "k", under the dot (w, last), dropping (w, last-1),
	// with the entries of w's chains after the leaves', each seen at its
	// start.
	last := uint64(leaves + entries + 2)
	b := codec.NewWriter(codec.KindORMapOp, 16*entries+64)
	b.SetVersion(2)
	b.Array(5)
	b.Replica(string(w))
	b.Uint(last)
	b.Array(1)
	b.Array(3)
	b.Bool(false)
	b.Array(entries)
	for i := range entries {
		b.Array(4)
		b.String(string(w))
		b.Uint(uint64(leaves + i + 1))
		b.Uint(0)
		b.Int(1)
	}
	b.String("k")
	b.Replica(string(w))
	b.Uint(last - 1)
	op, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
	if _, err := m.MergeBinary(state); err != nil {
		t.Fatal(err)
	}
	if _, err := m.ApplyBinaryFrom(op, w); err != nil {
		t.Fatal(err)
	}
	var v int64
	costcheck.Check(t, "Value", len(state)+len(op), 256<<10, func() { v = m.At("k").Value() })
	if v != leaves {
		t.Errorf("counter k = %d, want %d: the delete saw none of its leaves", v, leaves)
	}
}

// TestResetOpsCostLinear: the reset leaves at a key are read once for
// all the ops that come to it, not once for each: a peer's delete of a
// key with n entries (of chains of its own) followed by n increments of
// the key, each starting a chain, costs work linear in n to apply.
func TestResetOpsCostLinear(t *testing.T) {
	const entries, incs = 3300, 1500
	w := vclock.Writer("m", 1)
	// w's delete of "k", under the dot (w, 2), dropping (w, 1), with the
	// entries of w's chains after the increments'.
	b := codec.NewWriter(codec.KindORMapOp, 16*entries+64)
	b.SetVersion(2)
	b.Array(5)
	b.Replica(string(w))
	b.Uint(2)
	b.Array(1)
	b.Array(3)
	b.Bool(false)
	b.Array(entries)
	for i := range entries {
		b.Array(4)
		b.String(string(w))
		b.Uint(uint64(incs + i + 3))
		b.Uint(0)
		b.Int(1)
	}
	b.String("k")
	b.Replica(string(w))
	b.Uint(1)
	reset, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	ops := [][]byte{reset}
	size := len(reset)
	for i := range incs {
		op := chainStartOp(t, w, uint64(i+3))
		ops = append(ops, op)
		size += len(op)
	}
	m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
	costcheck.Check(t, "applying the ops", size, 256<<10, func() {
		for _, op := range ops {
			if _, err := m.ApplyBinaryFrom(op, w); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := m.At("k").Value(); got != incs {
		t.Errorf("counter k = %d, want %d: the delete saw none of the increments", got, incs)
	}
}
