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
// port in between. While no region serves there, a connection is taken
// and closed at once, as a port nobody listens on refuses it.

// keptListener holds a listening socket for the regions that serve on
// it one after the other, each through a view of it.
type keptListener struct {
	ln   net.Listener
	mu   sync.Mutex
	cur  *listenerView // the view that takes connections now; nil if none
	done chan struct{} // closed when serve returns
}

// keepListener serves ln's connections to its views until the test ends.
func keepListener(t testing.TB, ln net.Listener) *keptListener {
	k := &keptListener{ln: ln, done: make(chan struct{})}
	go k.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		k.mu.Lock()
		v := k.cur
		k.mu.Unlock()
		if v != nil {
			_ = v.Close()
		}
		<-k.done
	})
	return k
}

func (k *keptListener) serve() {
	defer close(k.done)
	for {
		c, err := k.ln.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		v := k.cur
		k.mu.Unlock()
		if v == nil {
			_ = c.Close()
			continue
		}
		select {
		case v.conns <- c:
		case <-v.done:
			_ = c.Close()
		}
	}
}

// view returns a listener of k's address for a region to serve on,
// which takes its connections from now until it is closed. A view made
// before is closed: one region serves at an address at a time.
func (k *keptListener) view() net.Listener {
	v := &listenerView{k: k, conns: make(chan net.Conn), done: make(chan struct{})}
	k.mu.Lock()
	old := k.cur
	k.cur = v
	k.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return v
}

// listenerView is a net.Listener of a keptListener's connections; closing
// it leaves the socket open.
type listenerView struct {
	k     *keptListener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (v *listenerView) Accept() (net.Conn, error) {
	select {
	case c := <-v.conns:
		return c, nil
	case <-v.done:
		return nil, net.ErrClosed
	}
}

func (v *listenerView) Close() error {
	v.once.Do(func() { close(v.done) })
	v.k.mu.Lock()
	if v.k.cur == v {
		v.k.cur = nil
	}
	v.k.mu.Unlock()
	return nil
}

func (v *listenerView) Addr() net.Addr { return v.k.ln.Addr() }

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
