package counter

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// chainState returns the state of a counter of floor 0 holding n entries:
// replica i increments by 2 and gives 1 to replica i+1, which takes it up.
func chainState(t testing.TB, n int) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindBounded, 32*n+64)
	w.Int(0)
	w.Array(n)
	for i := range n {
		w.Array(5)
		w.Replica(chainID(i))
		w.Uint(2)
		w.Uint(0)
		if i > 0 {
			w.Array(2)
			w.Replica(chainID(i - 1))
			w.Uint(1)
		} else {
			w.Array(0)
		}
		if i < n-1 {
			w.Array(2)
			w.Replica(chainID(i + 1))
			w.Uint(1)
		} else {
			w.Array(0)
		}
	}
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func chainID(i int) string { return fmt.Sprintf("r%06d", i) }

// Regression: a merge applied the entries of the state one by one, and
// each recomputed the value from every entry the counter held, so merging
// a state of n entries read about n²/2 entries (a state of half a
// megabyte took seconds). The value is now kept up to date entry by
// entry: a merge reads each entry, and each right it names, a bounded
// number of times. The count of reads is exact, so the bound holds on any
// machine.
func TestBoundedMergeCostLinear(t *testing.T) {
	const n = 4000
	state := chainState(t, n)
	b := NewBounded("me", 0)
	if _, err := b.MergeBinary(state); err != nil {
		t.Fatal(err)
	}
	if got, want := b.Value(), int64(2*n); got != want {
		t.Fatalf("value %d after the merge, want %d", got, want)
	}
	// Each entry names at most two rights; decoding and merging read
	// each a few times.
	if limit := uint64(16 * n); b.reads > limit {
		t.Fatalf("merging a state of %d entries (%d bytes) read %d entries and rights, more than %d", n, len(state), b.reads, limit)
	}
	// Merging it again changes nothing and reads nothing.
	before := b.reads
	if changed, err := b.MergeBinary(state); err != nil || changed {
		t.Fatalf("merging the state again: changed %v, %v", changed, err)
	}
	if b.reads != before {
		t.Fatalf("merging a state held already read %d entries and rights", b.reads-before)
	}
}

// Regression: applying an op recomputed the value from every entry, so a
// message of ops of many writers (of many runs of one replica, say) cost
// work in proportion to the ops times the entries held.
func TestBoundedApplyCostLinear(t *testing.T) {
	const n = 4000
	b := NewBounded("me", 0)
	for i := range n {
		op := BoundedOp{Replica: vclock.ReplicaID(chainID(i)), P: 2}
		if i > 0 {
			op.In = []Rights{{Replica: vclock.ReplicaID(chainID(i - 1)), Total: 1}}
		}
		if i < n-1 {
			op.Out = []Rights{{Replica: vclock.ReplicaID(chainID(i + 1)), Total: 1}}
		}
		data, err := op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.ApplyBinary(data); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := b.Value(), int64(2*n); got != want {
		t.Fatalf("value %d after the ops, want %d", got, want)
	}
	if limit := uint64(16 * n); b.reads > limit {
		t.Fatalf("applying %d ops read %d entries and rights, more than %d", n, b.reads, limit)
	}
}
