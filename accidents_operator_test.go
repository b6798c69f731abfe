package crdt_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
)

// Accident: an object registered under a name longer than a message can
// carry (a key or a document used as a name). Register took it, updates
// succeeded, and the op never left: neither in a run of ops nor in a
// digest (which left the entry out), so the peer never had it while the
// only figure was a growing lag. Register now refuses such a name, and a
// name at the bound replicates.
func TestAccidentHugeObjectName(t *testing.T) {
	const limit = crdt.MinMessageBytes
	net := memnet.New(3)
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	replica := func(id, peer crdt.ReplicaID) *crdt.Replica {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), MaxMessageBytes: limit,
			Clock: clock.New(clock.WithSource(func() int64 { return now }))})
		if err != nil {
			t.Fatal(err)
		}
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return r
	}
	a, b := replica("a", "b"), replica("b", "a")
	if _, err := crdt.Register(a, strings.Repeat("n", limit/4+1), newGSet("a")); !errors.Is(err, crdt.ErrConfig) {
		t.Fatalf("Register of a name over a quarter of a message = %v, want ErrConfig", err)
	}
	name := strings.Repeat("n", limit/4)
	ha, err := crdt.Register(a, name, newGSet("a"))
	if err != nil {
		t.Fatal(err)
	}
	hb, err := crdt.Register(b, name, newGSet("b"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.Update(func(s *gset) (crdt.Op, error) { return s.Add("x"), nil }); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		_, _ = a.Tick(context.Background()), b.Tick(context.Background())
		net.DeliverAll(context.Background())
		now += int64(10 * time.Millisecond)
	}
	if got := elemsOf(hb); len(got) != 1 {
		t.Fatalf("b holds %v of the object named at the bound, want [x] (last error %v)", got, net.LastError())
	}
}
