package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
)

// regionState is what GET /api/state answers: the region's content
// fingerprints, one per replicated object (16 hex digits). Two regions
// hold the same data exactly when their fingerprints are equal.
type regionState struct {
	Region       string            `json:"region"`
	Items        int               `json:"items"`
	Fingerprints map[string]string `json:"fingerprints"`
}

// maxStateBody bounds a peer's answer to GET /api/state.
const maxStateBody = 64 << 10

// peerStateTimeout bounds the whole request for a peer's state.
const peerStateTimeout = 3 * time.Second

func (rg *region) state() regionState {
	st := regionState{Region: string(rg.cfg.Name), Items: rg.todos.count(), Fingerprints: map[string]string{}}
	for name, fp := range rg.todos.fingerprints() {
		st.Fingerprints[name] = fmt.Sprintf("%016x", fp)
	}
	return st
}

func (rg *region) serveState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, rg.state())
}

// peerOf returns the peer named in the request's path, or writes a 404
// and returns false.
func (rg *region) peerOf(w http.ResponseWriter, r *http.Request) (crdt.ReplicaID, bool) {
	peer := crdt.ReplicaID(r.PathValue("peer"))
	if _, ok := rg.cfg.Peers[peer]; !ok {
		writeError(w, http.StatusNotFound, "%s has no peer named %q", rg.cfg.Name, truncate(string(peer), 64))
		return "", false
	}
	return peer, true
}

// servePeerState answers GET /api/peers/{peer}/state with the peer's
// GET /api/state, fetched from the peer's address: the page cannot ask
// the peer itself (its server answers only its own host and origin). The
// answer is decoded and encoded again, so nothing but a state passes.
func (rg *region) servePeerState(w http.ResponseWriter, r *http.Request) {
	peer, ok := rg.peerOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), peerStateTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rg.cfg.Peers[peer]+"/api/state", nil)
	if err != nil {
		writeError(w, http.StatusBadGateway, "%s: %v", peer, err)
		return
	}
	resp, err := rg.tr.client.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, "%s unreachable: %v", peer, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		writeError(w, http.StatusBadGateway, "%s answered %s", peer, resp.Status)
		return
	}
	var st regionState
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStateBody)).Decode(&st); err != nil {
		writeError(w, http.StatusBadGateway, "%s sent a malformed state: %v", peer, err)
		return
	}
	if st.Region != string(peer) {
		writeError(w, http.StatusBadGateway, "the address of %s answers as %q", peer, truncate(st.Region, 64))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// pausedTo reports whether replication with peer is paused.
func (rg *region) pausedTo(peer crdt.ReplicaID) bool {
	p, ok := rg.paused[peer]
	return ok && p.Load()
}

// newPauses makes the pause switch of every peer.
func newPauses(peers map[crdt.ReplicaID]string) map[crdt.ReplicaID]*atomic.Bool {
	m := make(map[crdt.ReplicaID]*atomic.Bool, len(peers))
	for p := range peers {
		m[p] = new(atomic.Bool)
	}
	return m
}

// peerLink is the state of the link to one peer.
type peerLink struct {
	Peer   string `json:"peer"`
	Paused bool   `json:"paused"`
}

// serveLink answers POST /api/peers/{peer}/link {"paused": true|false}:
// while replication with the peer is paused, the region sends it nothing
// and refuses (503) what it sends. The engine sends again once resumed.
func (rg *region) serveLink(w http.ResponseWriter, r *http.Request) {
	peer, ok := rg.peerOf(w, r)
	if !ok {
		return
	}
	var req struct {
		Paused *bool `json:"paused"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Paused == nil {
		writeError(w, http.StatusBadRequest, `give "paused": true or false`)
		return
	}
	rg.paused[peer].Store(*req.Paused)
	rg.log.Info("replication link", "peer", string(peer), "paused", *req.Paused)
	writeJSON(w, http.StatusOK, peerLink{Peer: string(peer), Paused: *req.Paused})
}
