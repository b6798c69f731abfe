package crdt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// TestResetLeafCostThroughReceive: a peer's message holding an OR-Map
// delete of a long key with many reset entries costs the engine memory in
// proportion to the message, under the default limits.
func TestResetLeafCostThroughReceive(t *testing.T) {
	net := memnet.New(1)
	r, err := crdt.NewReplica(crdt.Config{ID: "bob", Transport: net.Transport("bob")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crdt.Register(r, "m", ormap.New[string, *ormap.Counter]("bob")); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("evil"); err != nil {
		t.Fatal(err)
	}
	const keyLen, k = 32 << 10, 4 << 10
	w := codec.NewWriter(codec.KindORMapOp, keyLen+16*k+64)
	w.SetVersion(2)
	w.Array(5)
	w.Replica("evil")
	w.Uint(k + 1)
	w.Array(1)
	w.Array(3)
	w.Bool(false)
	w.Array(k)
	for i := range k {
		w.Array(4)
		w.String("evil")
		w.Uint(uint64(i + 1))
		w.Uint(0)
		w.Int(1)
	}
	w.String(strings.Repeat("k", keyLen))
	w.Replica("evil")
	w.Uint(1)
	op, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	msg, err := crdt.Forge(crdt.Forgery{From: "evil", To: "bob", Incarnation: 1, FirstSeq: 1, Ops: []crdt.ForgedEntry{{Object: "m", Bytes: op}}})
	if err != nil {
		t.Fatal(err)
	}
	got := costcheck.Allocated(func() { err = r.Receive(context.Background(), "evil", msg) })
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if limit := costcheck.AllocPerByte*uint64(len(msg)) + 1<<20; got > limit {
		t.Errorf("a message of %d bytes allocated %d bytes, more than %d", len(msg), got, limit)
	}
}
