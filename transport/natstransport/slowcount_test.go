package natstransport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
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

// The NATS client counts a message's header against the subscription's
// pending bytes, as well as its payload. MaxMessageBytes left no room for
// it under Config.MaxPendingBytes, and a broadcast's header could take
// whatever the server's max_payload left: a broadcast of MaxMessageBytes
// to b and another replica, or a short one to b and forty replicas of
// long names, was dropped as a slow consumer by b's idle client, and so
// was every resend of it.
func TestBroadcastWithinPendingBytes(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	const pending = 8 << 10
	if _, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPendingBytes: crdt.MinMessageBytes}); !errors.Is(err, natstransport.ErrConfig) {
		t.Fatalf("MaxPendingBytes of crdt.MinMessageBytes, which leaves no room for a header: %v, want ErrConfig", err)
	}
	b, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPendingBytes: pending})
	if err != nil {
		t.Fatal(err)
	}
	rcv := newRecorder()
	if err := b.Listen(rcv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a, ac := listening(t, srv, "a", newRecorder())
	limit := b.MaxMessageBytes()
	long := []crdt.ReplicaID{"b"}
	for i := range 40 {
		long = append(long, crdt.ReplicaID(fmt.Sprintf("%02d-%s", i, strings.Repeat("r", 252))))
	}
	for _, tc := range []struct {
		to  []crdt.ReplicaID
		msg []byte
	}{
		{[]crdt.ReplicaID{"b", "c"}, bytes.Repeat([]byte("m"), limit)},
		{long, bytes.Repeat([]byte("s"), 1000)},
	} {
		before := b.Stats()
		if err := a.Broadcast(context.Background(), tc.to, tc.msg); err != nil {
			t.Fatal(err)
		}
		// Once b's client has the server's answer to a PING sent after
		// a's, it has taken the broadcast in, or dropped it.
		if err := ac.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := c.nc.Flush(); err != nil {
			t.Fatal(err)
		}
		// A broadcast to two goes in one publish; one to forty-one in
		// several, of which b is named in the first, and the others may
		// find b's client busy with it (and be dropped: they are not for
		// b).
		if s := b.Stats(); len(tc.to) == 2 && s.SlowConsumer != before.SlowConsumer {
			t.Fatalf("b dropped a broadcast of %d bytes to %d replicas (MaxMessageBytes %d, MaxPendingBytes %d): %+v",
				len(tc.msg), len(tc.to), limit, pending, s)
		}
		if d := await(t, rcv.ch, "the broadcast"); !bytes.Equal(d.msg, tc.msg) {
			t.Fatalf("b got %d bytes, want the broadcast of %d", len(d.msg), len(tc.msg))
		}
	}
}
