package natstransport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/activeactive/crdt"
	"github.com/nats-io/nats.go"
)

// Errors returned by the transport, to test with [errors.Is].
var (
	// ErrConfig reports an invalid [Config] or a misuse of the transport
	// (a nil connection, a second Listen).
	ErrConfig = errors.New("natstransport: invalid configuration")
	// ErrInvalidToken reports a replica ID or prefix that cannot be a
	// NATS subject token.
	ErrInvalidToken = errors.New("natstransport: not a valid NATS subject token")
	// ErrTooLarge reports a message larger than the connection's maximum
	// payload (the server's max_payload); it was not sent. It wraps
	// crdt.ErrTooLarge, so that the engine sends the peer smaller messages
	// (see crdt.Transport).
	ErrTooLarge = fmt.Errorf("natstransport: message larger than the server's max_payload: %w", crdt.ErrTooLarge)
	// ErrDisconnected reports a message not sent because the connection is
	// not connected to a server right now (it is reconnecting, or closed).
	ErrDisconnected = errors.New("natstransport: not connected to a NATS server")
	// ErrClosed reports a message not sent because the transport was
	// closed.
	ErrClosed = errors.New("natstransport: transport closed")
)

// DefaultPrefix is the subject prefix used when [Config.Prefix] is empty.
const DefaultPrefix = "crdt"

// GroupToken is the subject token, in place of a recipient, under which
// broadcasts travel: <prefix>._all.<sender>. It cannot be a replica ID.
const GroupToken = "_all"

// maxTokenBytes bounds a replica ID and each prefix token, well under the
// server's max_control_line (4 KiB by default) that a subject must fit in.
const maxTokenBytes = 255

// toHeader names, on a broadcast, the replicas it is for, separated by
// spaces; the others drop it unread.
const toHeader = "Crdt-To"

// Receiver takes in the messages that arrive for this replica;
// *crdt.Replica is one.
type Receiver interface {
	// Receive handles msg, sent by replica from, within ctx. It may be
	// called from several goroutines at once; an error is counted in
	// [Stats].ReceiveErrors and logged at debug level.
	Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error
}

// Config configures a [Transport]. ID is required.
type Config struct {
	// Prefix is the subject prefix: one or more tokens separated by dots,
	// such as "crdt" or "acme.prod.crdt". Default: [DefaultPrefix]. Every
	// replica of one deployment must use the same prefix; different
	// prefixes keep deployments apart on one NATS system.
	Prefix string
	// ID is this replica's ID; it must be a subject token (see [New]).
	ID crdt.ReplicaID
	// ReceiveTimeout bounds the context each inbound message is handed to
	// the Receiver with (default 10 seconds).
	ReceiveTimeout time.Duration
	// MaxPending and MaxPendingBytes bound, for each of the transport's
	// two subscriptions, the inbound messages and bytes the NATS client
	// holds while the Receiver is busy; past them it drops messages (see
	// Stats.SlowConsumer). Zero keeps the client's defaults (524,288
	// messages, 64 MiB). The client drops a message larger than
	// MaxPendingBytes, its header included, even to an idle Receiver, so
	// MaxMessageBytes is at most MaxPendingBytes less the room a
	// broadcast's header may take (4,135 bytes), and MaxPendingBytes must
	// be at least crdt.MinMessageBytes more than that room (5,159 bytes).
	MaxPending, MaxPendingBytes int
	// Logger receives debug messages about inbound messages the Receiver
	// refused; nil discards them. (Failed sends are the engine's to
	// report: it counts them in its Stats.)
	Logger *slog.Logger
}

// Transport is a [crdt.Transport] and [crdt.Broadcaster] over core NATS.
// Create it with [New], hand it to [crdt.NewReplica], then call
// [Transport.Listen] with the replica.
//
// A Transport is safe for concurrent use by multiple goroutines. Its zero
// value is not usable, and it must not be copied.
type Transport struct {
	nc      *nats.Conn
	id      crdt.ReplicaID
	prefix  string
	direct  string // <prefix>.<id>.*
	group   string // <prefix>._all.*
	bcast   string // <prefix>._all.<id>
	timeout time.Duration
	pending [2]int // messages, bytes; 0 for the client's default
	log     *slog.Logger

	mu     sync.Mutex
	closed bool
	subs   []*nats.Subscription
	// slowDropped counts what ended subscriptions dropped as a slow
	// consumer; seen, what each live one last reported (the client stops
	// reporting once the connection is closed).
	slowDropped uint64
	seen        []uint64
	rcv         Receiver
	ctx         context.Context
	cancel      context.CancelFunc
	inflight    sync.WaitGroup

	published, publishedBytes, broadcasts atomic.Uint64
	received, receivedBytes, receiveErrs  atomic.Uint64
	ignored, tooLarge, dropped            atomic.Uint64
}

// Stats counts what a [Transport] did.
type Stats struct {
	// Published counts messages handed to NATS (a broadcast once for each
	// publish it takes; see Transport.Broadcast), PublishedBytes their
	// payload bytes, and Broadcasts those published by Broadcast.
	Published, PublishedBytes, Broadcasts uint64
	// Received counts inbound messages handed to the Receiver,
	// ReceivedBytes their bytes, and ReceiveErrors those it refused.
	Received, ReceivedBytes, ReceiveErrors uint64
	// Ignored counts inbound messages not handed on: this replica's own
	// broadcasts coming back, broadcasts that do not name it, and messages
	// whose sender token is not a valid replica ID.
	Ignored uint64
	// TooLarge counts messages not sent because they exceed the server's
	// max_payload; Dropped counts the others not sent (disconnected,
	// closed, or refused by the client).
	TooLarge, Dropped uint64
	// SlowConsumer counts inbound messages the NATS client dropped because
	// the Receiver fell behind (the subscriptions' pending limits).
	SlowConsumer uint64
}

// New returns a transport that publishes through nc, a connection the
// host made with its own options: servers, authentication (user and
// password, token, nkey, credentials, TLS) and reconnection. The
// transport does not own nc: [Transport.Close] leaves it open.
//
// cfg.ID and every token of cfg.Prefix must be valid NATS subject tokens:
// non-empty, at most 255 bytes of UTF-8, without '.', '*', '>',
// whitespace or control characters; the ID must not be [GroupToken].
// Otherwise New returns an error wrapping [ErrInvalidToken].
func New(nc *nats.Conn, cfg Config) (*Transport, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil NATS connection", ErrConfig)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	for tok := range strings.SplitSeq(cfg.Prefix, ".") {
		if err := checkToken(tok); err != nil {
			return nil, fmt.Errorf("prefix %q: %w", cfg.Prefix, err)
		}
	}
	if err := checkID(cfg.ID); err != nil {
		return nil, err
	}
	if cfg.ReceiveTimeout < 0 {
		return nil, fmt.Errorf("%w: negative receive timeout %v", ErrConfig, cfg.ReceiveTimeout)
	}
	if cfg.MaxPending < 0 || cfg.MaxPendingBytes < 0 {
		return nil, fmt.Errorf("%w: negative pending limit", ErrConfig)
	}
	if cfg.MaxPendingBytes > 0 && cfg.MaxPendingBytes < crdt.MinMessageBytes+pendingReserve {
		return nil, fmt.Errorf("%w: MaxPendingBytes %d below crdt.MinMessageBytes (%d) and the room for a broadcast's header (%d): the client would drop messages a replica may send",
			ErrConfig, cfg.MaxPendingBytes, crdt.MinMessageBytes, pendingReserve)
	}
	if cfg.ReceiveTimeout == 0 {
		cfg.ReceiveTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	id := string(cfg.ID)
	return &Transport{
		nc:      nc,
		id:      cfg.ID,
		prefix:  cfg.Prefix,
		direct:  cfg.Prefix + "." + id + ".*",
		group:   cfg.Prefix + "." + GroupToken + ".*",
		bcast:   cfg.Prefix + "." + GroupToken + "." + id,
		timeout: cfg.ReceiveTimeout,
		pending: [2]int{cfg.MaxPending, cfg.MaxPendingBytes},
		log:     cfg.Logger.With("transport", "nats", "replica", id),
	}, nil
}

// checkToken reports whether tok can be one token of a NATS subject that
// the transport publishes or subscribes to.
func checkToken(tok string) error {
	switch {
	case tok == "":
		return fmt.Errorf("%w: empty", ErrInvalidToken)
	case len(tok) > maxTokenBytes:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidToken, len(tok), maxTokenBytes)
	case !utf8.ValidString(tok):
		return fmt.Errorf("%w: %q is not UTF-8", ErrInvalidToken, tok)
	}
	for _, c := range tok {
		if c == '.' || c == '*' || c == '>' || unicode.IsSpace(c) || unicode.IsControl(c) {
			return fmt.Errorf("%w: %q holds %q", ErrInvalidToken, tok, c)
		}
	}
	return nil
}

// checkID reports whether id can name a replica on the bus.
func checkID(id crdt.ReplicaID) error {
	if err := checkToken(string(id)); err != nil {
		return fmt.Errorf("replica ID: %w", err)
	}
	if id == GroupToken {
		return fmt.Errorf("replica ID: %w: %q is reserved for broadcasts", ErrInvalidToken, id)
	}
	return nil
}

// Listen subscribes to the messages for this replica, its own subject
// and the group subject, and hands each to rcv (the replica) with a
// context bounded by Config.ReceiveTimeout. Messages are handed on from
// the NATS client's delivery goroutines, one per subscription, so rcv
// must be safe for concurrent use, as *crdt.Replica is. What rcv refuses
// is counted in [Stats] and logged at debug level.
//
// Listen may be called once. If rcv has an ID method, as *crdt.Replica
// has, it must return the transport's ID. The NATS client keeps the
// subscriptions across reconnections.
func (t *Transport) Listen(rcv Receiver) error {
	if rcv == nil {
		return fmt.Errorf("%w: nil receiver", ErrConfig)
	}
	if r, ok := rcv.(interface{ ID() crdt.ReplicaID }); ok && r.ID() != t.id {
		return fmt.Errorf("%w: transport of %s listening for replica %s", ErrConfig, t.id, r.ID())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return ErrClosed
	case t.rcv != nil:
		return fmt.Errorf("%w: Listen called twice", ErrConfig)
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for _, subj := range []string{t.direct, t.group} {
		sub, err := t.nc.Subscribe(subj, t.handle)
		if err == nil {
			t.subs = append(t.subs, sub)
			err = t.limitPending(sub)
		}
		if err != nil {
			t.unsubscribe()
			t.subs = nil
			t.cancel()
			return fmt.Errorf("natstransport: subscribing to %s: %w", subj, err)
		}
	}
	t.rcv = rcv
	return nil
}

// limitPending applies the configured pending limits to sub.
func (t *Transport) limitPending(sub *nats.Subscription) error {
	if t.pending == [2]int{} {
		return nil
	}
	msgs, bytes, err := sub.PendingLimits()
	if err != nil {
		return err
	}
	if t.pending[0] > 0 {
		msgs = t.pending[0]
	}
	if t.pending[1] > 0 {
		bytes = t.pending[1]
	}
	return sub.SetPendingLimits(msgs, bytes)
}

// unsubscribe ends every subscription, keeping the count of what they
// dropped. The caller holds t.mu.
func (t *Transport) unsubscribe() {
	t.slowDropped += t.slowConsumer()
	t.seen = nil
	for _, sub := range t.subs {
		if err := sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			t.log.Debug("unsubscribing", "subject", sub.Subject, "err", err)
		}
	}
}

// handle takes in one inbound message, on a NATS delivery goroutine.
func (t *Transport) handle(m *nats.Msg) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.inflight.Add(1)
	rcv, ctx := t.rcv, t.ctx
	t.mu.Unlock()
	defer t.inflight.Done()

	// The subscription's subject fixes every token but the last: the
	// sender. A replica's own broadcasts come back to it; a sender that
	// could not be a replica is some other client's.
	i := strings.LastIndexByte(m.Subject, '.')
	from := crdt.ReplicaID(m.Subject[i+1:])
	if from == t.id || checkID(from) != nil {
		t.ignored.Add(1)
		return
	}
	if m.Sub != nil && m.Sub.Subject == t.group && !names(m.Header.Get(toHeader), t.id) {
		t.ignored.Add(1)
		return
	}
	t.received.Add(1)
	t.receivedBytes.Add(uint64(len(m.Data)))
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if err := rcv.Receive(ctx, from, m.Data); err != nil {
		t.receiveErrs.Add(1)
		t.log.Debug("message refused", "from", string(from), "subject", m.Subject, "bytes", len(m.Data), "err", err)
	}
}

// names reports whether the space-separated list ids holds id; a
// broadcast without the list (another client's) is for everyone.
func names(ids string, id crdt.ReplicaID) bool {
	if ids == "" {
		return true
	}
	for f := range strings.FieldsSeq(ids) {
		if f == string(id) {
			return true
		}
	}
	return false
}

// Send publishes msg to replica to, on the subject <prefix>.<to>.<id>.
// It does not wait for the server: core NATS delivers at most once, and
// the engine sends again what is not acknowledged.
//
// A message larger than the server's max_payload is not sent: the error
// wraps [ErrTooLarge]. While the connection is not connected (the server
// went away and the client is reconnecting), the message is dropped and
// the error wraps [ErrDisconnected]: the engine counts the failure in its
// Stats and sends again once the connection is back, so nothing stale
// piles up in the client's reconnect buffer. Send never waits for the
// network longer than the connection's write timeout (the
// nats.FlusherTimeout option), and only when the client's write buffer is
// full.
func (t *Transport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if err := checkID(to); err != nil {
		return fmt.Errorf("natstransport: sending to %q: %w", to, err)
	}
	subj := t.prefix + "." + string(to) + "." + string(t.id)
	return t.publish(ctx, &nats.Msg{Subject: subj, Data: msg})
}

// MaxMessageBytes returns the largest message [Transport.Send] and
// [Transport.Broadcast] take: the server's max_payload, as the connection
// last learned it (it learns it again at every reconnection), less room
// for the header that names a broadcast's recipients (a quarter of it, at
// most 4 KiB); 0 while the connection knows none. It implements
// crdt.Limiter: the replica sends no message larger, and names the limit
// to its peers in its digests, so that they send it nothing larger either
// (see crdt.PeerStats.MessageLimit). crdt.Config.MaxMessageBytes need not
// be set to match the server. With Config.MaxPendingBytes set, it is at
// most that less the room a broadcast's header may take: the NATS client
// drops an inbound message larger than its subscription's pending bytes,
// header included, however idle the Receiver, so peers must not send one.
func (t *Transport) MaxMessageBytes() int {
	n := t.nc.MaxPayload()
	if n <= 0 {
		return 0
	}
	room := int(n - min(n/4, headerRoom))
	if b := t.pending[1]; b > 0 {
		room = min(room, b-pendingReserve)
	}
	return room
}

// pendingReserve is what MaxMessageBytes leaves under
// Config.MaxPendingBytes for a broadcast's header, which the NATS client
// counts against a subscription's pending bytes as well as the payload:
// the most a header takes (see Broadcast).
const pendingReserve = headerRoom + headerBytes

// headerRoom is the most of the server's max_payload that
// MaxMessageBytes leaves for a broadcast's header: the recipients of a
// cluster of a dozen replicas with names of 255 bytes. A broadcast to
// more goes in several publishes (see Broadcast).
const headerRoom = 4 << 10

// headerBytes is what a message's header takes beside the recipients
// it names: the NATS header's version line, the header's name and the
// line ends, with a margin.
const headerBytes = 32 + len(toHeader)

// Broadcast publishes msg on the group subject <prefix>._all.<id>, for
// the replicas in to; the message names them in a header, and the other
// replicas listening on the group subject drop it unread. It publishes
// msg once, or, if the names of to do not fit in one header beside msg
// within the server's max_payload, once for each run of them that does,
// so that a message of up to MaxMessageBytes goes to any number of
// replicas (each publish counts in Stats.Broadcasts). The names of one
// publish take at most 4 KiB, which MaxMessageBytes leaves room for under
// a recipient's Config.MaxPendingBytes. Errors are as for
// [Transport.Send]; after an error, some of to may have been sent msg.
func (t *Transport) Broadcast(ctx context.Context, to []crdt.ReplicaID, msg []byte) error {
	for _, id := range to {
		if err := checkID(id); err != nil {
			return fmt.Errorf("natstransport: broadcasting to %q: %w", id, err)
		}
	}
	// The names take at most headerRoom: a replica's MaxMessageBytes
	// leaves that room under its pending bytes (see pendingReserve).
	room := headerRoom
	if limit := t.nc.MaxPayload(); limit > 0 {
		room = min(room, int(limit)-len(msg)-headerBytes)
	}
	for len(to) > 0 {
		var list strings.Builder
		n := 0
		for _, id := range to {
			if n > 0 && list.Len()+1+len(id) > room {
				break
			}
			if n > 0 {
				list.WriteByte(' ')
			}
			list.WriteString(string(id))
			n++
		}
		// A run of one name that does not fit either is published all
		// the same, for publish to refuse as too large.
		m := &nats.Msg{Subject: t.bcast, Data: msg, Header: nats.Header{toHeader: []string{list.String()}}}
		if err := t.publish(ctx, m); err != nil {
			return err
		}
		t.broadcasts.Add(1)
		to = to[n:]
	}
	return nil
}

// publish hands m to the connection, or says why not.
func (t *Transport) publish(ctx context.Context, m *nats.Msg) error {
	if err := ctx.Err(); err != nil {
		t.dropped.Add(1)
		return err
	}
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		t.dropped.Add(1)
		return ErrClosed
	}
	if limit := t.nc.MaxPayload(); limit > 0 && int64(len(m.Data)) > limit {
		t.tooLarge.Add(1)
		return fmt.Errorf("%w: %d bytes on %s, limit %d", ErrTooLarge, len(m.Data), m.Subject, limit)
	}
	if st := t.nc.Status(); st != nats.CONNECTED && st != nats.DRAINING_SUBS {
		t.dropped.Add(1)
		return fmt.Errorf("%w: connection %v, %d bytes on %s dropped", ErrDisconnected, st, len(m.Data), m.Subject)
	}
	if err := t.nc.PublishMsg(m); err != nil {
		switch {
		case errors.Is(err, nats.ErrMaxPayload):
			t.tooLarge.Add(1)
			return fmt.Errorf("%w: %d bytes and headers on %s, limit %d: %w", ErrTooLarge, len(m.Data), m.Subject, t.nc.MaxPayload(), err)
		case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionDraining):
			t.dropped.Add(1)
			return fmt.Errorf("%w: %w", ErrDisconnected, err)
		default:
			t.dropped.Add(1)
			return fmt.Errorf("natstransport: publishing on %s: %w", m.Subject, err)
		}
	}
	t.published.Add(1)
	t.publishedBytes.Add(uint64(len(m.Data)))
	return nil
}

// Close unsubscribes and waits for the messages being handed to the
// Receiver; after it returns, the Receiver is not called again and sends
// fail with [ErrClosed]. It leaves the NATS connection open. Close must
// not be called from the Receiver. Closing twice does nothing.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.unsubscribe()
	t.subs = nil
	if t.cancel != nil {
		t.cancel()
	}
	t.mu.Unlock()
	t.inflight.Wait()
	return nil
}

// Stats returns what the transport has done so far.
func (t *Transport) Stats() Stats {
	s := Stats{
		Published:      t.published.Load(),
		PublishedBytes: t.publishedBytes.Load(),
		Broadcasts:     t.broadcasts.Load(),
		Received:       t.received.Load(),
		ReceivedBytes:  t.receivedBytes.Load(),
		ReceiveErrors:  t.receiveErrs.Load(),
		Ignored:        t.ignored.Load(),
		TooLarge:       t.tooLarge.Load(),
		Dropped:        t.dropped.Load(),
	}
	t.mu.Lock()
	s.SlowConsumer = t.slowDropped + t.slowConsumer()
	t.mu.Unlock()
	return s
}

// slowConsumer returns what the live subscriptions dropped: for each, the
// most it reported, since a subscription whose connection was closed (by
// the host, by the server, after the last reconnection) reports nothing.
// The caller holds t.mu.
func (t *Transport) slowConsumer() uint64 {
	if len(t.seen) < len(t.subs) {
		t.seen = append(t.seen, make([]uint64, len(t.subs)-len(t.seen))...)
	}
	var n uint64
	for i, sub := range t.subs {
		if d, err := sub.Dropped(); err == nil && d > 0 {
			t.seen[i] = max(t.seen[i], uint64(d))
		}
		n += t.seen[i]
	}
	return n
}

// ID returns the replica ID the transport sends as.
func (t *Transport) ID() crdt.ReplicaID { return t.id }

var (
	_ crdt.Transport   = (*Transport)(nil)
	_ crdt.Broadcaster = (*Transport)(nil)
	_ Receiver         = (*crdt.Replica)(nil)
)
