package main

import (
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Limits of every server of the program (a region's, the page's).
type serverLimits struct {
	ReadHeader time.Duration // to read a request's headers
	Read       time.Duration // to read a whole request, body included
	Write      time.Duration // to write the answer (event streams are exempt)
	Idle       time.Duration // keep-alive between requests
	// Requests bounds the requests served at once (event streams apart);
	// Streams bounds the open event streams. Beyond, 503.
	Requests, Streams int
	// ReplicateBodies bounds the replication bodies read at once from
	// each peer (each up to maxReplicateBody). Beyond, 503.
	ReplicateBodies int
}

var defaultLimits = serverLimits{
	ReadHeader:      5 * time.Second,
	Read:            30 * time.Second,
	Write:           30 * time.Second,
	Idle:            60 * time.Second,
	Requests:        64,
	Streams:         32,
	ReplicateBodies: 4,
}

func (l serverLimits) orDefault() serverLimits {
	d := defaultLimits
	if l.ReadHeader > 0 {
		d.ReadHeader = l.ReadHeader
	}
	if l.Read > 0 {
		d.Read = l.Read
	}
	if l.Write > 0 {
		d.Write = l.Write
	}
	if l.Idle > 0 {
		d.Idle = l.Idle
	}
	if l.Requests > 0 {
		d.Requests = l.Requests
	}
	if l.Streams > 0 {
		d.Streams = l.Streams
	}
	if l.ReplicateBodies > 0 {
		d.ReplicateBodies = l.ReplicateBodies
	}
	return d
}

// replicateReadTime is how long a replication request of n body bytes
// (-1: unknown) may take to be read: the server's read timeout, and the
// time the body takes at floorRate, so that it is always at least what
// its sender allows (sendTimeout).
func replicateReadTime(l serverLimits, n int64) time.Duration {
	if n < 0 || n > maxReplicateBody {
		n = maxReplicateBody
	}
	return l.Read + time.Duration(n)*time.Second/floorRate
}

// newServer returns a server with the limits' timeouts.
func newServer(h http.Handler, l serverLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeader,
		ReadTimeout:       l.Read,
		WriteTimeout:      l.Write,
		IdleTimeout:       l.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}

// allowedHosts returns the Host values a server on ln's address answers:
// the loopback names and the listen address with its port (every local
// address if it listens on all of them), and the extra names given
// (-allow-host): "name" allows any port, "name:port" only that one.
func allowedHosts(addr net.Addr, extra []string) map[string]bool {
	hosts := map[string]bool{}
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return hosts
	}
	port := strconv.Itoa(tcp.Port)
	names := []string{"localhost", "127.0.0.1", "::1"}
	if tcp.IP != nil && !tcp.IP.IsUnspecified() {
		names = append(names, tcp.IP.String())
	} else if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok {
				names = append(names, ipn.IP.String())
			}
		}
	}
	for _, n := range names {
		hosts[strings.ToLower(net.JoinHostPort(n, port))] = true
	}
	for _, h := range extra {
		h = strings.ToLower(h)
		if _, _, err := net.SplitHostPort(h); err == nil {
			hosts[h] = true
		} else {
			hosts[strings.Trim(h, "[]")+":*"] = true
		}
	}
	return hosts
}

// hostAllowed reports whether a request's Host is one the server answers.
func hostAllowed(hosts map[string]bool, host string) bool {
	host = strings.ToLower(host)
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = strings.Trim(host, "[]"), "80"
	}
	if name == "" {
		return false
	}
	return hosts[net.JoinHostPort(name, port)] || hosts[name+":*"]
}

// guard wraps a server's handler with the checks every request passes
// before any handler sees it:
//
//   - its Host is one the server answers (a DNS-rebinding page sends its
//     own name): else 403;
//   - a request that may change state (any method but GET and HEAD) comes
//     from no browser page or from the server's own origin (Origin), and,
//     if it has a body (POST, PUT, PATCH), declares it as
//     application/json, which no cross-site form can send without a CORS
//     preflight (which is never granted): else 403 or 415 — replication
//     requests, signed by their sender, carry bytes and are exempt from
//     the second check only;
//   - at most Requests requests (and Streams event streams) are served at
//     once: else 503.
type guard struct {
	hosts    map[string]bool
	requests chan struct{}
	streams  chan struct{}
	inflight atomic.Int64 // requests (streams included) being served
	next     http.Handler
}

func newGuard(next http.Handler, hosts map[string]bool, l serverLimits) *guard {
	return &guard{
		hosts:    hosts,
		requests: make(chan struct{}, l.Requests),
		streams:  make(chan struct{}, l.Streams),
		next:     next,
	}
}

func isStream(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/api/events") }

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !hostAllowed(g.hosts, r.Host) {
		writeError(w, http.StatusForbidden, "host %q is not served here (see -allow-host)", r.Host)
		return
	}
	if err := sameOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, "%v", err)
		return
	}
	if err := jsonBody(r); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, "%v", err)
		return
	}
	sem := g.requests
	if isStream(r) {
		sem = g.streams
	}
	select {
	case sem <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many requests at once; try again")
		return
	}
	g.inflight.Add(1)
	defer func() {
		g.inflight.Add(-1)
		<-sem
	}()
	g.next.ServeHTTP(w, r)
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

// sameOrigin refuses a state-changing request sent by a page of another
// origin.
func sameOrigin(r *http.Request) error {
	if safeMethod(r.Method) {
		return nil
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return fmt.Errorf("cross-site %s refused", r.Method)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not sent by a browser page (curl, a peer)
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("cross-origin %s from %q refused", r.Method, origin)
	}
	return nil
}

// jsonBody refuses a request with a body that is not declared as JSON.
func jsonBody(r *http.Request) error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return nil
	}
	if r.URL.Path == "/replicate" {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return fmt.Errorf("%s needs Content-Type: application/json, not %q", r.Method, ct)
	}
	return nil
}

// streamDeadlines lifts the server's read and write timeouts from a
// long-lived event stream; each write then gets its own deadline.
func streamDeadlines(w http.ResponseWriter) *http.ResponseController {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	return rc
}
