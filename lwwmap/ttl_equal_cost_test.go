package lwwmap

import (
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// TestEqualOfManyExpireWritesLinear: n writers expire one key at once,
// and two replicas take their ops in opposite orders. Comparing them
// looked, for each write of one, through the writes of the other: n²/2
// looks for n writes.
func TestEqualOfManyExpireWritesLinear(t *testing.T) {
	const n = 2000
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	base := New[string, string]("src", clk)
	base.Put("k", "v")
	var ops [][]byte
	for i := range n {
		x := New[string, string](vclock.Writer("w", uint64(i+1)), clk)
		x.Merge(base)
		b, err := x.Expire("k", time.Duration(i+1)*time.Hour).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, b)
	}
	a, b := New[string, string]("a", clk), New[string, string]("b", clk)
	a.Merge(base)
	b.Merge(base)
	for _, op := range ops {
		if _, err := a.ApplyBinary(op); err != nil {
			t.Fatal(err)
		}
	}
	for _, op := range slices.Backward(ops) {
		if _, err := b.ApplyBinary(op); err != nil {
			t.Fatal(err)
		}
	}
	if len(a.ttl["k"]) != n || len(b.ttl["k"]) != n {
		t.Fatalf("%d and %d expire writes, want %d", len(a.ttl["k"]), len(b.ttl["k"]), n)
	}
	eq, work := a.equalTTLWork(b)
	if !eq || !a.Equal(b) || !b.Equal(a) {
		t.Fatal("replicas holding the same expire writes are not Equal")
	}
	if bound := 4*n + 64; work > bound {
		t.Errorf("Equal of a key with %d expire writes looked at %d writes, more than %d", n, work, bound)
	}
	// One write differing in its instant makes them differ, found as
	// cheaply.
	c := b.Clone()
	c.ttl["k"][n/2].at++
	if eq, work := a.equalTTLWork(c); eq || a.Equal(c) {
		t.Error("replicas differing in one expire write are Equal")
	} else if work > 4*n+64 {
		t.Errorf("Equal of a key with %d expire writes, one differing, looked at %d writes", n, work)
	}
}
