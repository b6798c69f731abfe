package memnet

import (
	"context"
	"errors"
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

// TestMaxBytes: a message over MaxBytes is refused whole, by Send and by
// Broadcast, with an error wrapping crdt.ErrTooLarge, and counted; one of
// MaxBytes goes through.
func TestMaxBytes(t *testing.T) {
	ctx := context.Background()
	n := New(1)
	n.MaxBytes = 4
	a, b := &inbox{}, &inbox{}
	n.Attach("a", a)
	n.Attach("b", b)
	tr := n.BroadcastTransport("a")
	if err := tr.Send(ctx, "b", []byte("12345")); !errors.Is(err, crdt.ErrTooLarge) {
		t.Fatalf("Send of 5 bytes over MaxBytes 4: %v, want ErrTooLarge", err)
	}
	if err := tr.(crdt.Broadcaster).Broadcast(ctx, []crdt.ReplicaID{"a", "b"}, []byte("12345")); !errors.Is(err, crdt.ErrTooLarge) {
		t.Fatalf("Broadcast of 5 bytes over MaxBytes 4: %v, want ErrTooLarge", err)
	}
	if err := tr.Send(ctx, "b", []byte("1234")); err != nil {
		t.Fatal(err)
	}
	n.DeliverAll(ctx)
	if len(a.got) != 0 || len(b.got) != 1 || b.got[0] != "a:1234" {
		t.Fatalf("a got %q, b got %q; want only the 4-byte message at b", a.got, b.got)
	}
	if s := n.Stats(); s.TooLarge != 2 || s.Sent != 1 {
		t.Fatalf("%d refused as too large and %d sent, want 2 and 1", s.TooLarge, s.Sent)
	}
}
