package memnet

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
)

// inbox records what it is delivered.
type inbox struct{ got []string }

func (b *inbox) Receive(_ context.Context, from crdt.ReplicaID, msg []byte) error {
	b.got = append(b.got, string(from)+":"+string(msg))
	return nil
}

// TestPartitionOneWay: a link cut one way drops what goes that way,
// queued messages included, and delivers what comes back; Heal restores
// it.
func TestPartitionOneWay(t *testing.T) {
	ctx := context.Background()
	n := New(1)
	a, b := &inbox{}, &inbox{}
	n.Attach("a", a)
	n.Attach("b", b)
	send := func(from, to crdt.ReplicaID, msg string) {
		if err := n.Transport(from).Send(ctx, to, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send("a", "b", "queued before the cut")
	n.PartitionOneWay("a", "b")
	if !n.Cut("a", "b") || n.Cut("b", "a") {
		t.Fatalf("cut a→b %v, b→a %v; want only a→b", n.Cut("a", "b"), n.Cut("b", "a"))
	}
	send("a", "b", "during")
	send("b", "a", "back")
	n.DeliverAll(ctx)
	if len(b.got) != 0 || len(a.got) != 1 || a.got[0] != "b:back" {
		t.Fatalf("b got %q, a got %q; want nothing at b and b's message at a", b.got, a.got)
	}
	if s := n.Stats(); s.Dropped != 2 {
		t.Fatalf("%d dropped, want 2", s.Dropped)
	}
	n.Heal("b", "a") // either order of the pair
	send("a", "b", "after")
	n.DeliverAll(ctx)
	if len(b.got) != 1 || b.got[0] != "a:after" {
		t.Fatalf("after Heal b got %q", b.got)
	}
}
