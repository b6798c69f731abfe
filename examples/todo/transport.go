package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
)

// Replication requests are POSTs of the engine's bytes to /replicate,
// signed with the sender's own Ed25519 key:
//
//	X-Crdt-From:      the sender's region name
//	X-Crdt-Time:      the sender's wall clock, Unix nanoseconds
//	X-Crdt-Digest:    hex SHA-256 of the body
//	X-Crdt-Signature: hex Ed25519 signature of
//	                  "todo-replicate-v2\n" from "\n" to "\n" time "\n" SHA-256(body)
//
// Every region holds its own private key and the public key of each peer,
// so a region can only speak for itself: knowing a peer's public key does
// not let it sign as that peer. The receiver checks everything the headers
// say before it reads the body: the sender is a peer, the time is within
// maxRequestAge of its own, the announced length is within bounds, and
// the signature verifies over the headers, the body's digest included; so
// only a peer's request (or a copy of one) is given time to send its
// body. It then reads the body with a bounded reader and checks it
// against the signed digest. A replay inside the time window is harmless:
// the engine applies every message idempotently.
const (
	headerFrom      = "X-Crdt-From"
	headerTime      = "X-Crdt-Time"
	headerSignature = "X-Crdt-Signature"
	headerDigest    = "X-Crdt-Digest"
	signingPrefix   = "todo-replicate-v2\n"
	maxRequestAge   = 5 * time.Minute

	// maxReplicateBody bounds a replication request; the engine is told
	// the same limit.
	maxReplicateBody = 8 << 20

	// sendBase is how long a replication request may take beyond the
	// time its body takes on the link: to connect, and for the peer to
	// take the message in and answer.
	sendBase = 5 * time.Second
	// floorRate (bytes per second) is the slowest link for which a
	// message of any size is given the time to cross it (see
	// sendTimeout); the receiver allows at least as long (see
	// replicateReadTime).
	floorRate = 256 << 10
	// shrinkAbove: a message larger than this that times out once a
	// connection is made is reported to the engine as too large for the
	// link (see Send). Smaller ones are not, so that a peer that takes
	// connections and never answers cannot shrink messages below it.
	shrinkAbove = 256 << 10
)

// sendTimeout is how long a replication request of n body bytes may take
// from start to answer: sendBase, and the time the body takes at
// floorRate.
func sendTimeout(n int) time.Duration {
	return sendBase + time.Duration(n)*time.Second/floorRate
}

var (
	errLinkCut = errors.New("link cut")
	// errAuth marks a request whose credentials are missing, malformed,
	// stale or do not verify (401).
	errAuth = errors.New("unauthenticated")
	// errClockApart marks, beside errAuth, a request or message whose time
	// is more than maxRequestAge from the receiver's clock: a stepped
	// clock at either end, or a copy replayed late.
	errClockApart = errors.New("clocks apart")
	// errUnknownSender marks a request from a region that is not a peer
	// of this one (403): a typo in a peer's name, or a stranger.
	errUnknownSender = errors.New("unknown sender")
)

// signedMessage is what a replication message's signature covers.
func signedMessage(from, to crdt.ReplicaID, at string, body []byte) []byte {
	return signedDigest(from, to, at, sha256.Sum256(body))
}

// signedDigest is signedMessage of a body whose SHA-256 is sum.
func signedDigest(from, to crdt.ReplicaID, at string, sum [sha256.Size]byte) []byte {
	m := make([]byte, 0, len(signingPrefix)+len(from)+len(to)+len(at)+3+len(sum))
	m = append(m, signingPrefix...)
	m = append(m, from...)
	m = append(m, '\n')
	m = append(m, to...)
	m = append(m, '\n')
	m = append(m, at...)
	m = append(m, '\n')
	return append(m, sum[:]...)
}

// sign returns the hex signature of a replication request.
func sign(key ed25519.PrivateKey, from, to crdt.ReplicaID, at string, body []byte) string {
	return hex.EncodeToString(ed25519.Sign(key, signedMessage(from, to, at, body)))
}

// bodyDigest returns the X-Crdt-Digest header of a replication request.
func bodyDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// transport is the engine's [crdt.Transport] over HTTP.
type transport struct {
	self     crdt.ReplicaID
	key      ed25519.PrivateKey
	peers    map[crdt.ReplicaID]string            // base URLs; fixed after construction
	peerKeys map[crdt.ReplicaID]ed25519.PublicKey // fixed after construction
	blocked  func(to crdt.ReplicaID) bool
	// beforeSend, if set, saves what the region's engine holds unsaved
	// before any message leaves (see region.saveBeforeSend); an error
	// keeps the message from leaving.
	beforeSend func() error
	delay      time.Duration // added before every send (a simulated WAN)
	client     *http.Client
	now        func() time.Time
}

func newTransport(self crdt.ReplicaID, key ed25519.PrivateKey, peers map[crdt.ReplicaID]string,
	peerKeys map[crdt.ReplicaID]ed25519.PublicKey, blocked func(crdt.ReplicaID) bool, delay time.Duration) *transport {
	return &transport{
		self:     self,
		key:      key,
		peers:    peers,
		peerKeys: peerKeys,
		blocked:  blocked,
		delay:    delay,
		now:      time.Now,
		client: &http.Client{
			// No timeout for the whole request here: each replication
			// request gets one that grows with its body (sendTimeout).
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     30 * time.Second,
			},
		},
	}
}

// saveFirst runs beforeSend, if set: nothing leaves the region that its
// disk does not hold.
func (t *transport) saveFirst() error {
	if t.beforeSend == nil {
		return nil
	}
	if err := t.beforeSend(); err != nil {
		return fmt.Errorf("not sent: saving first: %w", err)
	}
	return nil
}

// Send posts msg to the peer's /replicate endpoint, once the region saved
// what its engine holds (see region.saveBeforeSend). A non-2xx answer is an
// error (the engine sends again later); 413 (Request Entity Too Large,
// from the peer or from a proxy on the way) is one wrapping
// crdt.ErrTooLarge, after which the engine sends the peer smaller
// messages.
//
// The request may take sendTimeout(len(msg)): the larger the message, the
// longer. A message of more than shrinkAbove bytes that does not reach the
// peer in that time once a connection to it is made is taken for too
// large for the link (slower than floorRate), and the error wraps
// crdt.ErrTooLarge too: the engine sends the peer messages of half the
// size, which the link carries in time, instead of sending the same one
// again for ever. A peer that cannot be reached at all (no connection)
// is not a reason to shrink.
func (t *transport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if err := t.saveFirst(); err != nil {
		return err
	}
	if t.blocked != nil && t.blocked(to) {
		return errLinkCut
	}
	base, ok := t.peers[to]
	if !ok {
		return fmt.Errorf("no address for %s", to)
	}
	if t.delay > 0 {
		timer := time.NewTimer(t.delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		if t.blocked != nil && t.blocked(to) {
			return errLinkCut
		}
	}
	timeout := sendTimeout(len(msg))
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var connected atomic.Bool
	rctx = httptrace.WithClientTrace(rctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	})
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, base+"/replicate", bytes.NewReader(msg))
	if err != nil {
		return err
	}
	at := strconv.FormatInt(t.now().UnixNano(), 10)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(headerFrom, string(t.self))
	req.Header.Set(headerTime, at)
	req.Header.Set(headerDigest, bodyDigest(msg))
	req.Header.Set(headerSignature, sign(t.key, t.self, to, at, msg))
	resp, err := t.client.Do(req)
	if err != nil {
		if ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) && connected.Load() && len(msg) > shrinkAbove {
			return fmt.Errorf("%s: no answer to %d bytes in %v (a link slower than %d KiB/s?): %w",
				to, len(msg), timeout, floorRate>>10, crdt.ErrTooLarge)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil
	}
	var e apiError
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		// The peer, or a proxy on the way with a smaller body limit,
		// refuses the message for its size: the engine sends that peer
		// smaller ones from now on.
		return fmt.Errorf("%s answered %s: %s: %w", to, resp.Status, e.Error, crdt.ErrTooLarge)
	}
	return fmt.Errorf("%s answered %s: %s", to, resp.Status, e.Error)
}

// credentials are a replication request's headers, checked.
type credentials struct {
	from   crdt.ReplicaID
	digest [sha256.Size]byte // of the body, signed
}

// checkHeaders checks what a replication request's headers claim, before
// its body is read: who sends (errUnknownSender if not a peer), when, and
// that the signature verifies over them and the body's digest (errAuth
// otherwise).
func (t *transport) checkHeaders(h http.Header) (*credentials, error) {
	from, at, sigHex, digestHex := h.Get(headerFrom), h.Get(headerTime), h.Get(headerSignature), h.Get(headerDigest)
	if from == "" || at == "" || sigHex == "" || digestHex == "" {
		return nil, fmt.Errorf("%w: missing credentials (%s, %s, %s, %s)", errAuth, headerFrom, headerTime, headerDigest, headerSignature)
	}
	if len(from) > 63 {
		return nil, fmt.Errorf("%w: a sender name of %d bytes", errUnknownSender, len(from))
	}
	key, ok := t.peerKeys[crdt.ReplicaID(from)]
	if !ok {
		return nil, fmt.Errorf("%w %q: %s has no peer of that name (check the names given to -peer and -peer-key)", errUnknownSender, from, t.self)
	}
	ns, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed time", errAuth)
	}
	if d := t.now().Sub(time.Unix(0, ns)); d > maxRequestAge || d < -maxRequestAge {
		return nil, fmt.Errorf("%w: %w: request time %v away from ours (check both hosts' clocks)", errAuth, errClockApart, d.Round(time.Second))
	}
	var c credentials
	if len(digestHex) != 2*sha256.Size {
		return nil, fmt.Errorf("%w: malformed digest", errAuth)
	}
	if _, err := hex.Decode(c.digest[:], []byte(digestHex)); err != nil {
		return nil, fmt.Errorf("%w: malformed digest", errAuth)
	}
	if len(sigHex) != 2*ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: malformed signature", errAuth)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed signature", errAuth)
	}
	if !ed25519.Verify(key, signedDigest(crdt.ReplicaID(from), t.self, at, c.digest), sig) {
		return nil, fmt.Errorf("%w: bad signature from %s (not signed with the key given for it in -peer-key)", errAuth, from)
	}
	c.from = crdt.ReplicaID(from)
	return &c, nil
}

// verify checks a request's body against the digest its signature covers.
func (t *transport) verify(c *credentials, body []byte) error {
	if sha256.Sum256(body) != c.digest {
		return fmt.Errorf("%w: the body from %s does not match its signed digest", errAuth, c.from)
	}
	return nil
}

// close drops idle connections.
func (t *transport) close() { t.client.CloseIdleConnections() }
