package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/activeactive/crdt"
)

// Replication requests are POSTs of the engine's bytes to /replicate,
// signed with a secret every region shares:
//
//	X-Crdt-From:      the sender's region name
//	X-Crdt-Time:      the sender's wall clock, Unix nanoseconds
//	X-Crdt-Signature: hex HMAC-SHA256(secret, "todo-replicate-v1\n" from "\n" to "\n" time "\n" body)
//
// The receiver recomputes the signature for its own name and compares in
// constant time, and refuses a time more than maxRequestAge away from its
// own (a replay inside that window is harmless: the engine applies every
// message idempotently).
const (
	headerFrom      = "X-Crdt-From"
	headerTime      = "X-Crdt-Time"
	headerSignature = "X-Crdt-Signature"
	signingPrefix   = "todo-replicate-v1\n"
	maxRequestAge   = 5 * time.Minute

	// maxReplicateBody bounds a replication request; the engine is told
	// the same limit.
	maxReplicateBody = 8 << 20
)

var (
	errLinkCut = errors.New("link cut")
	errAuth    = errors.New("unauthenticated")
)

// sign returns the signature of a replication request.
func sign(secret []byte, from, to crdt.ReplicaID, at string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	io.WriteString(mac, signingPrefix)
	io.WriteString(mac, string(from))
	io.WriteString(mac, "\n")
	io.WriteString(mac, string(to))
	io.WriteString(mac, "\n")
	io.WriteString(mac, at)
	io.WriteString(mac, "\n")
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// transport is the engine's [crdt.Transport] over HTTP.
type transport struct {
	self    crdt.ReplicaID
	secret  []byte
	peers   map[crdt.ReplicaID]string // base URLs; fixed after construction
	blocked func(to crdt.ReplicaID) bool
	client  *http.Client
	now     func() time.Time
}

func newTransport(self crdt.ReplicaID, secret []byte, peers map[crdt.ReplicaID]string, blocked func(crdt.ReplicaID) bool) *transport {
	return &transport{
		self:    self,
		secret:  secret,
		peers:   peers,
		blocked: blocked,
		now:     time.Now,
		client: &http.Client{
			Timeout: 5 * time.Second,
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 4,
				IdleConnTimeout:     30 * time.Second,
			},
		},
	}
}

// Send posts msg to the peer's /replicate endpoint. A non-2xx answer is an
// error (the engine sends again later).
func (t *transport) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if t.blocked != nil && t.blocked(to) {
		return errLinkCut
	}
	base, ok := t.peers[to]
	if !ok {
		return fmt.Errorf("no address for %s", to)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/replicate", bytes.NewReader(msg))
	if err != nil {
		return err
	}
	at := strconv.FormatInt(t.now().UnixNano(), 10)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(headerFrom, string(t.self))
	req.Header.Set(headerTime, at)
	req.Header.Set(headerSignature, sign(t.secret, t.self, to, at, msg))
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil
	}
	var e apiError
	_ = json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
	return fmt.Errorf("%s answered %s: %s", to, resp.Status, e.Error)
}

// verify checks a replication request's credentials and returns the
// sender's name.
func (t *transport) verify(h http.Header, body []byte) (crdt.ReplicaID, error) {
	if len(t.secret) == 0 {
		return "", fmt.Errorf("%w: this region has no shared secret", errAuth)
	}
	from := crdt.ReplicaID(h.Get(headerFrom))
	at := h.Get(headerTime)
	got, err := hex.DecodeString(h.Get(headerSignature))
	if from == "" || at == "" || err != nil || len(got) != sha256.Size {
		return "", fmt.Errorf("%w: missing or malformed credentials", errAuth)
	}
	want, _ := hex.DecodeString(sign(t.secret, from, t.self, at, body))
	if !hmac.Equal(got, want) {
		return "", fmt.Errorf("%w: bad signature", errAuth)
	}
	ns, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: malformed time", errAuth)
	}
	if d := t.now().Sub(time.Unix(0, ns)); d > maxRequestAge || d < -maxRequestAge {
		return "", fmt.Errorf("%w: request time %v away from ours", errAuth, d.Round(time.Second))
	}
	return from, nil
}

// close drops idle connections.
func (t *transport) close() { t.client.CloseIdleConnections() }
