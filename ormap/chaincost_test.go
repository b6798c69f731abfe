package ormap_test

import (
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// chainStartOp crafts writer w's increment by 1 of the counter at key
// "k" under the dot (w, seq), starting a chain of its own.
func chainStartOp(t testing.TB, w vclock.ReplicaID, seq uint64) []byte {
	c := codec.NewWriter(codec.KindORMapOp, 32)
	c.Array(3)
	c.Replica(string(w))
	c.Uint(seq)
	c.Array(2)
	c.String("k")
	c.Int(1)
	b, err := c.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOneKeyManyChainsCostLinear: n leaves of one writer at one key,
// each the start of a chain, cost work linear in n to apply as ops and to
// merge as a state: whether a leaf is covered by another of its chain is
// looked up under the chain's key, not by a walk of the key's leaves.
func TestOneKeyManyChainsCostLinear(t *testing.T) {
	const n = 3000
	w := vclock.Writer("mallory", 1)
	ops := make([][]byte, n)
	size := 0
	for i := range ops {
		ops[i] = chainStartOp(t, w, uint64(i+1))
		size += len(ops[i])
	}
	src := ormap.New[string, *ormap.Counter](vclock.Writer("src", 1))
	costcheck.Check(t, "applying the ops", size, 256<<10, func() {
		for _, op := range ops {
			if _, err := src.ApplyBinaryFrom(op, w); err != nil {
				t.Fatal(err)
			}
		}
	})
	if got := src.At("k").Value(); got != n {
		t.Fatalf("counter k = %d after %d increments of 1", got, n)
	}
	state, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m *ormap.Map[string, *ormap.Counter]
	costcheck.Check(t, "MergeBinary", len(state), 256<<10, func() {
		m = ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
		if _, err := m.MergeBinary(state); err != nil {
			t.Fatal(err)
		}
	})
	if got := m.At("k").Value(); got != n {
		t.Fatalf("counter k = %d after merging a state of %d increments of 1", got, n)
	}
}
