package main

import (
	"io"
	"net"
	"sync"
	"testing"
)

// A test that stops a region and starts it again at the same address
// keeps the address's port itself, from the first start to the end of
// the test, so that nothing else can take it while the region is down:
// letting it go and listening again fails if another process took the
// port in between. A region in this process serves on a view of a
// heldListener (as in embedded mode); a region process behind a relay.

// relay holds a loopback address for a region process, which listens on
// a port of its own, different at every start: it passes each connection
// on to the process running now (see setTarget), and closes it at once
// while none runs.
type relay struct {
	ln     net.Listener
	mu     sync.Mutex
	target string // host:port of the process; "" while none runs
	conns  map[net.Conn]bool
	closed bool
}

// newRelay listens on a loopback port until the test ends.
func newRelay(t testing.TB) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, conns: map[net.Conn]bool{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.pass(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		r.mu.Lock()
		r.closed = true
		for c := range r.conns {
			_ = c.Close()
		}
		r.mu.Unlock()
	})
	return r
}

// newRelays returns n relays, so that region processes can be told each
// other's address before they start.
func newRelays(t testing.TB, n int) []*relay {
	rs := make([]*relay, n)
	for i := range rs {
		rs[i] = newRelay(t)
	}
	return rs
}

// addr returns the address the relay holds.
func (r *relay) addr() string { return r.ln.Addr().String() }

// setTarget makes the relay pass new connections to addr ("" for none).
func (r *relay) setTarget(addr string) {
	r.mu.Lock()
	r.target = addr
	r.mu.Unlock()
}

// track adds c to the connections closed when the test ends, or reports
// false if it has ended.
func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	for _, c := range cs {
		r.conns[c] = true
	}
	return true
}

func (r *relay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		delete(r.conns, c)
		_ = c.Close()
	}
}

// pass copies c to and from the process running now.
func (r *relay) pass(c net.Conn) {
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	if target == "" {
		_ = c.Close()
		return
	}
	d, err := net.Dial("tcp", target)
	if err != nil {
		_ = c.Close()
		return
	}
	if !r.track(c, d) {
		_ = c.Close()
		_ = d.Close()
		return
	}
	defer r.untrack(c, d)
	go func() {
		_, _ = io.Copy(d, c)
		if tc, ok := d.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(c, d)
}
