package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"strconv"
	"sync"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Over NATS, replication messages travel on the subjects of
// natstransport (<prefix>.<to>.<from>), each wrapped in an envelope signed
// with the sender's own key, as over HTTP:
//
//	8 bytes  the sender's wall clock, Unix nanoseconds, big-endian
//	64 bytes Ed25519 signature of signedMessage(from, to, time, body)
//	rest     the engine's bytes
//
// The NATS server need not vouch for the sender: a region takes a message
// only from a peer, signed with that peer's key, within maxRequestAge of
// its own clock.
const envelopeHeader = 8 + ed25519.SignatureSize

// natsMaxPayload is the max_payload of the servers this program starts
// (the NATS default is 1 MiB); it must exceed maxNATSBatch with room for
// the envelope and the engine's framing.
const natsMaxPayload = 4 << 20

// maxNATSBatch bounds the engine's batches over NATS.
const maxNATSBatch = 256 << 10

// natsLink is a region's [crdt.Transport] over NATS: it signs what it
// sends, and takes in (through Receive) what its peers send, checked.
// Safe for concurrent use.
//
// A connection the server closes is not reconnected by the NATS client:
// a server whose max_payload an operator lowered by a configuration
// reload (rather than a restart) closes the connection of a region that
// sends a message over the new limit, which the region could not know.
// The link then makes a new connection with the same options, which
// learns the new limit (see redial).
type natsLink struct {
	rg     *region
	prefix string

	mu        sync.Mutex
	nc        *nats.Conn // the connection nt uses
	nt        *natstransport.Transport
	listening bool
	closed    bool
	made      bool // nc was made by redial, and is closed by close
	// past sums the counts of the transports redial replaced, so that
	// stats, and the metrics, never go back.
	past natstransport.Stats
}

// newNATSLink returns rg's link over nc; it listens once rg.replica is
// set (see listen).
func newNATSLink(rg *region, nc *nats.Conn, prefix string) (*natsLink, error) {
	l := &natsLink{rg: rg, prefix: prefix, nc: nc}
	nt, err := l.transport(nc)
	if err != nil {
		return nil, err
	}
	l.nt = nt
	return l, nil
}

// transport returns a natstransport.Transport of the region's over nc.
func (l *natsLink) transport(nc *nats.Conn) (*natstransport.Transport, error) {
	return natstransport.New(nc, natstransport.Config{
		Prefix: l.prefix,
		ID:     l.rg.cfg.Name,
		Logger: l.rg.log,
	})
}

// current returns the transport in use and its connection.
func (l *natsLink) current() (*natstransport.Transport, *nats.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nt, l.nc
}

// listen subscribes to the region's subjects.
func (l *natsLink) listen() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.nt.Listen(l); err != nil {
		return err
	}
	l.listening = true
	return nil
}

// close unsubscribes and waits for the messages being taken in; it leaves
// the connection it was given open, and closes one it made.
func (l *natsLink) close() {
	l.mu.Lock()
	l.closed = true
	nt, nc, made := l.nt, l.nc, l.made
	l.mu.Unlock()
	_ = nt.Close()
	if made {
		nc.Close()
	}
}

// redial replaces the connection old, if the server closed it (the NATS
// client does not reconnect such a connection), with a new one made with
// the same options, and a transport on it, listening if the link was.
// Sends fail until it returns.
func (l *natsLink) redial(old *nats.Conn) {
	if !old.IsClosed() {
		return // reconnecting by itself, or up
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.nc != old {
		return // shutting down, or made anew already
	}
	l.rg.log.Warn("the NATS server closed the connection; making a new one", "err", old.LastError())
	nc, err := old.Opts.Connect()
	if err != nil {
		l.rg.log.Error("making a new NATS connection", "err", err)
		return
	}
	nt, err := l.transport(nc)
	if err == nil && l.listening {
		err = nt.Listen(l)
	}
	if err != nil {
		nc.Close()
		l.rg.log.Error("making a new NATS connection", "err", err)
		return
	}
	_ = l.nt.Close()
	l.past = addNATSStats(l.past, l.nt.Stats())
	l.nc, l.nt, l.made = nc, nt, true
}

// stats returns what the link's transports have counted since the region
// started: the one in use, and those redial replaced.
func (l *natsLink) stats() natstransport.Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return addNATSStats(l.past, l.nt.Stats())
}

// addNATSStats returns the sum of a's and b's counts.
func addNATSStats(a, b natstransport.Stats) natstransport.Stats {
	return natstransport.Stats{
		Published:      a.Published + b.Published,
		PublishedBytes: a.PublishedBytes + b.PublishedBytes,
		Broadcasts:     a.Broadcasts + b.Broadcasts,
		Received:       a.Received + b.Received,
		ReceivedBytes:  a.ReceivedBytes + b.ReceivedBytes,
		ReceiveErrors:  a.ReceiveErrors + b.ReceiveErrors,
		Ignored:        a.Ignored + b.Ignored,
		TooLarge:       a.TooLarge + b.TooLarge,
		Dropped:        a.Dropped + b.Dropped,
		SlowConsumer:   a.SlowConsumer + b.SlowConsumer,
	}
}

// MaxMessageBytes is what the NATS transport takes (the server's
// max_payload, less room for headers), less the envelope's header. It
// implements crdt.Limiter: the engine sends nothing larger, whatever its
// MaxMessageBytes, and names the limit to the peers.
func (l *natsLink) MaxMessageBytes() int {
	nt, _ := l.current()
	n := nt.MaxMessageBytes()
	if n <= 0 {
		return 0
	}
	return max(n-envelopeHeader, 1)
}

// Send signs msg and publishes it to the peer, unless the link to it is
// cut or paused, once the region saved what its engine holds (see
// region.saveBeforeSend).
func (l *natsLink) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	t := l.rg.tr
	if err := t.saveFirst(); err != nil {
		return err
	}
	if t.blocked != nil && t.blocked(to) {
		return errLinkCut
	}
	if _, ok := t.peerKeys[to]; !ok {
		return fmt.Errorf("%s is not a peer", to)
	}
	now := t.now().UnixNano()
	env := make([]byte, envelopeHeader, envelopeHeader+len(msg))
	binary.BigEndian.PutUint64(env, uint64(now))
	copy(env[8:], ed25519.Sign(t.key, signedMessage(t.self, to, strconv.FormatInt(now, 10), msg)))
	env = append(env, msg...)
	nt, nc := l.current()
	err := nt.Send(ctx, to, env)
	if errors.Is(err, natstransport.ErrDisconnected) {
		l.redial(nc)
	}
	return err
}

// Receive takes in an envelope from a peer: it drops it while the link to
// the peer is paused, checks the sender and the signature, hands the body
// to the engine and persists what changed.
func (l *natsLink) Receive(ctx context.Context, from crdt.ReplicaID, env []byte) error {
	rg, t := l.rg, l.rg.tr
	if rg.pausedTo(from) {
		return fmt.Errorf("replication with %s is paused", from)
	}
	body, err := t.open(from, env)
	if err != nil {
		reason := refusalReason(err)
		rg.countRefusal(string(from), reason)
		rg.log.Warn("refused a replication message", "from", truncate(string(from), 64), "err", err)
		return err
	}
	gen := rg.remoteGen.Load()
	rerr := rg.replica.Receive(ctx, from, body)
	if err := rg.received(gen); err != nil {
		return errors.Join(rerr, fmt.Errorf("not saved: %w", err))
	}
	return rerr
}

// open checks a signed envelope from a peer and returns its body.
func (t *transport) open(from crdt.ReplicaID, env []byte) ([]byte, error) {
	key, ok := t.peerKeys[from]
	if !ok {
		return nil, fmt.Errorf("%w %q: %s has no peer of that name", errUnknownSender, from, t.self)
	}
	if len(env) < envelopeHeader {
		return nil, fmt.Errorf("%w: a message of %d bytes has no signed envelope", errAuth, len(env))
	}
	ns := int64(binary.BigEndian.Uint64(env))
	if d := t.now().Sub(time.Unix(0, ns)); d > maxRequestAge || d < -maxRequestAge {
		return nil, fmt.Errorf("%w: %w: message time %v away from ours (check both hosts' clocks)", errAuth, errClockApart, d.Round(time.Second))
	}
	body := env[envelopeHeader:]
	if !ed25519.Verify(key, signedMessage(from, t.self, strconv.FormatInt(ns, 10), body), env[8:envelopeHeader]) {
		return nil, fmt.Errorf("%w: bad signature from %s (not signed with the key given for it in -peer-key)", errAuth, from)
	}
	return body, nil
}

// connectNATS connects a region to the NATS server at url. If the server
// is not reachable yet, it returns a connection that keeps trying (so that
// regions may start in any order); it keeps reconnecting for ever, and a
// write to a stuck socket fails quickly (the engine sends again). A nil logger discards.
func connectNATS(url string, name crdt.ReplicaID, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("region", string(name), "nats", redactURL(url))
	nc, err := nats.Connect(url,
		nats.Name("todo "+string(name)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.FlusherTimeout(2*time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("NATS reconnected") }),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to NATS at %s: %w", redactURL(url), err)
	}
	if !nc.IsConnected() {
		log.Warn("NATS server not reachable yet; retrying every 250ms (replication waits, writes are taken)")
	}
	return nc, nil
}

// redactURL hides the password of a URL, for logs and messages.
func redactURL(s string) string {
	u, err := neturl.Parse(s)
	if err != nil {
		return "(a malformed URL)"
	}
	return u.Redacted()
}

// natsServer is a NATS server run by this program, on loopback.
type natsServer struct {
	srv *server.Server
	url string
}

// startNATSServer starts a NATS server in this process on addr, which
// must be a loopback address ("127.0.0.1:0" for a free port).
func startNATSServer(addr string) (*natsServer, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("NATS server address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("NATS server address %q: the embedded server listens on a loopback IP only (such as 127.0.0.1)", addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("NATS server address %q: bad port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		Host:       host,
		Port:       port,
		MaxPayload: natsMaxPayload,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("NATS server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(5 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("NATS server on %s did not start (is the port free?)", addr)
	}
	tcp, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		return nil, fmt.Errorf("NATS server on %s: no TCP address", addr)
	}
	return &natsServer{srv: srv, url: "nats://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))}, nil
}

// stop shuts the server down and waits for it.
func (s *natsServer) stop() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
