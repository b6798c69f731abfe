package crdt

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/orset"
)

// TestDigestCollectsWhatItNames: a peer's digest made the replica go
// through every object for collection, though only the objects the
// digest names can be collected (collection needs every peer's version):
// a digest naming none, in a message of a few dozen bytes, cost a pass
// over all the objects of the replica, 4,000 here, and an allocation for
// each. Collection after a digest now goes through the objects it names.
func TestDigestCollectsWhatItNames(t *testing.T) {
	r := replicaWithPeer(t, "a", "b")
	for i := range 4000 {
		if _, err := Register(r, fmt.Sprintf("object-%04d", i), orset.New[string]("a")); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 16
	var msgs [][]byte
	size := 0
	for range rounds {
		msg, err := (&envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true}).encode()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, msg)
		size += len(msg)
	}
	got := costcheck.Allocated(func() {
		for _, m := range msgs {
			_ = r.Receive(context.Background(), "b", m)
		}
	})
	if limit := uint64(costcheck.AllocPerByte*size + rounds*8<<10); !costcheck.Race && got > limit {
		t.Errorf("%d digests naming nothing, %d bytes in all, allocated %d bytes, more than %d", rounds, size, got, limit)
	}
}
