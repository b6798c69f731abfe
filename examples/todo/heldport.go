package main

import (
	"net"
	"sync"
)

// heldListener holds a region's listening socket across its stops and
// restarts in embedded mode (see console), so that a restart finds its
// address free: letting the port go with the region and listening again
// failed if another process took the port in between. The regions that
// serve at the address, one after the other, each take its connections
// through a view of it (see view); while none does, a connection is taken
// and closed at once, as a port nobody listens on refuses it. Safe for
// concurrent use.
type heldListener struct {
	ln   net.Listener
	mu   sync.Mutex
	cur  *listenerView // the view taking connections now; nil if none
	done chan struct{} // closed when serve returns
}

// holdListener holds ln until close.
func holdListener(ln net.Listener) *heldListener {
	h := &heldListener{ln: ln, done: make(chan struct{})}
	go h.serve()
	return h
}

// serve hands each connection to the view in use, or closes it.
func (h *heldListener) serve() {
	defer close(h.done)
	for {
		c, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.mu.Lock()
		v := h.cur
		h.mu.Unlock()
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

// view returns a listener of h's address for a region to serve on, which
// takes its connections from now until it is closed. A view returned
// before is closed: one region serves at an address at a time.
func (h *heldListener) view() net.Listener {
	v := &listenerView{h: h, conns: make(chan net.Conn), done: make(chan struct{})}
	h.mu.Lock()
	old := h.cur
	h.cur = v
	h.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return v
}

// close closes the socket and the view in use, and waits until no
// connection is handed on any more.
func (h *heldListener) close() {
	_ = h.ln.Close()
	h.mu.Lock()
	v := h.cur
	h.mu.Unlock()
	if v != nil {
		_ = v.Close()
	}
	<-h.done
}

// listenerView is a net.Listener of a heldListener's connections; closing
// it leaves the socket open.
type listenerView struct {
	h     *heldListener
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Accept returns the next connection to the address, or net.ErrClosed
// once the view is closed.
func (v *listenerView) Accept() (net.Conn, error) {
	select {
	case c := <-v.conns:
		return c, nil
	case <-v.done:
		return nil, net.ErrClosed
	}
}

// Close stops the view taking connections; the socket stays open.
func (v *listenerView) Close() error {
	v.once.Do(func() { close(v.done) })
	v.h.mu.Lock()
	if v.h.cur == v {
		v.h.cur = nil
	}
	v.h.mu.Unlock()
	return nil
}

// Addr returns the socket's address.
func (v *listenerView) Addr() net.Addr { return v.h.ln.Addr() }
