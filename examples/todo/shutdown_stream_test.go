package main

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openUnreadStream opens /api/events at base with a small receive buffer
// and never reads from it; the connection closes with the test.
func openUnreadStream(t *testing.T, base string) {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	d := net.Dialer{Control: smallBuffer(syscall.SO_RCVBUF)}
	cn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	if _, err := fmt.Fprintf(cn, "GET /api/events HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
}

// TestUnreadEventStreamDoesNotHoldUpShutdown: a client opens the event
// stream of a region whose list is far larger than the socket buffers
// and never reads, so the stream's first event, the whole list, cannot
// be written. A graceful shutdown still ends at once (the stream is cut
// when the region stops) and makes its final offer to the peer: the to-do
// written just before it reaches eu-west-1.
func TestUnreadEventStreamDoesNotHoldUpShutdown(t *testing.T) {
	c := newCluster(t, nil)
	e, rg := c.url(east), c.region(east)
	const n, title = 8000, 500
	for i := 0; i < n; i += 500 {
		err := rg.write(func() error {
			for j := i; j < i+500; j++ {
				if err := rg.todos.create(fmt.Sprintf("%s%06d", newID(time.Now()), j), strings.Repeat("x", title-6)+fmt.Sprintf("%06d", j)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	c.settle()
	openUnreadStream(t, e)
	// The stream's handler runs: its first event is being written.
	deadline := time.Now().Add(5 * time.Second)
	for rg.guard.inflight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the event stream never started")
		}
		runtime.Gosched()
	}
	last := createTodo(t, e, "written just before the shutdown")
	c.mu.Lock()
	c.regions[east] = nil
	c.mu.Unlock()
	// The shutdown ends before its context does, however loaded the
	// machine: it does not wait for the stream (which would hold it until
	// the context ended, with the context's error).
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := rg.shutdown(ctx); err != nil {
		t.Errorf("a graceful shutdown with an unread event stream took %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if _, ok := c.region(west).todos.get(last.ID); !ok {
		t.Errorf("the shutdown's final offer did not send eu-west-1 %+v", last)
	}
}

// TestShutdownOffersPeersAfterItsContextEnds: a request whose body never
// comes keeps a graceful shutdown waiting until its context ends; the
// final offer to the peer still goes out, with time of its own, and the
// to-do written just before reaches eu-west-1.
func TestShutdownOffersPeersAfterItsContextEnds(t *testing.T) {
	c := newCluster(t, nil)
	e, rg := c.url(east), c.region(east)
	last := createTodo(t, e, "written just before the shutdown")
	addr := strings.TrimPrefix(e, "http://")
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	fmt.Fprintf(cn, "POST /api/todos HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", addr)
	deadline := time.Now().Add(5 * time.Second)
	for rg.guard.inflight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled request never reached its handler")
		}
		runtime.Gosched()
	}
	c.mu.Lock()
	c.regions[east] = nil
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := rg.shutdown(ctx); err == nil {
		t.Errorf("the shutdown ended before the stalled request did, or did not say it was cut short")
	}
	if _, ok := c.region(west).todos.get(last.ID); !ok {
		t.Errorf("the shutdown's final offer did not send eu-west-1 %+v", last)
	}
}
