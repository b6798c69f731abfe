package natstransport_test

import (
	"context"
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/transport/natstransport"
)

// Stats.SlowConsumer read the live subscriptions' drop counts, which the
// NATS client stops reporting once the connection is closed (by the host,
// by the server after a max_payload lowered by a reload, or after the last
// reconnection): the messages dropped vanished from the count, which fell
// back to zero, and Close kept none of them.
func TestSlowConsumerCountSurvivesAClosedConnection(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	a, ac := listening(t, srv, "a", newRecorder())
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	b, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	rcv := &blocker{release: make(chan struct{}), got: make(chan struct{}, 16)}
	if err := b.Listen(rcv); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := a.Send(context.Background(), "b", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, nc := range []*nats.Conn{ac.nc, c.nc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	before := b.Stats().SlowConsumer
	if before == 0 {
		t.Fatal("no message dropped: the set-up made no slow consumer")
	}
	c.nc.Close() // the connection ends under the transport
	if got := b.Stats().SlowConsumer; got != before {
		t.Errorf("Stats.SlowConsumer went from %d to %d once the connection closed", before, got)
	}
	close(rcv.release)
	_ = b.Close()
	if got := b.Stats().SlowConsumer; got != before {
		t.Errorf("after Close, Stats.SlowConsumer is %d, %d were dropped", got, before)
	}
}

// The NATS client drops an inbound message larger than the subscription's
// pending bytes even to an idle Receiver. MaxMessageBytes said the
// server's max_payload whatever Config.MaxPendingBytes was, so peers,
// told that limit in the replica's digests, sent larger messages, and
// every one was dropped, again at every resend.
func TestMaxMessageBytesWithinPendingBytes(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	if _, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPendingBytes: crdt.MinMessageBytes - 1}); !errors.Is(err, natstransport.ErrConfig) {
		t.Fatalf("MaxPendingBytes below crdt.MinMessageBytes: %v, want ErrConfig", err)
	}
	const pending = 8 << 10
	b, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPendingBytes: pending})
	if err != nil {
		t.Fatal(err)
	}
	rcv := newRecorder()
	if err := b.Listen(rcv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	limit := b.MaxMessageBytes()
	if limit <= 0 || limit > pending {
		t.Fatalf("MaxMessageBytes %d with MaxPendingBytes %d", limit, pending)
	}
	// A message of the limit is delivered to an idle receiver.
	a, ac := listening(t, srv, "a", newRecorder())
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(context.Background(), "b", make([]byte, limit)); err != nil {
		t.Fatal(err)
	}
	if err := ac.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	d := await(t, rcv.ch, "a message of the limit")
	if len(d.msg) != limit || b.Stats().SlowConsumer != 0 {
		t.Fatalf("got %d bytes of %d, %d dropped", len(d.msg), limit, b.Stats().SlowConsumer)
	}
}
