package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/activeactive/crdt"
)

// maxAPIBody bounds the body of an API request.
const maxAPIBody = 64 << 10

// apiError is the body of every error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: fmt.Sprintf(format, args...)})
}

// route registers handlers for the methods of one path, and answers every
// other method with 405 and a JSON error.
func route(mux *http.ServeMux, path string, handlers map[string]http.HandlerFunc) {
	allow := make([]string, 0, len(handlers))
	for m, h := range handlers {
		mux.HandleFunc(m+" "+path, h)
		allow = append(allow, m)
		if m == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	allowed := strings.Join(sortedStrings(allow), ", ")
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		writeError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, allowed)
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such endpoint: %s", r.URL.Path)
}

// handler is the region's HTTP API behind its guard.
func (rg *region) handler() http.Handler { return rg.guard }

// mux routes the region's HTTP API.
func (rg *region) mux() http.Handler {
	mux := http.NewServeMux()
	route(mux, "/api/todos", map[string]http.HandlerFunc{
		http.MethodGet:  rg.listTodos,
		http.MethodPost: rg.createTodo,
	})
	route(mux, "/api/todos/{id}", map[string]http.HandlerFunc{
		http.MethodGet:    rg.getTodo,
		http.MethodPatch:  rg.patchTodo,
		http.MethodDelete: rg.deleteTodo,
	})
	route(mux, "/api/events", map[string]http.HandlerFunc{http.MethodGet: rg.streamEvents})
	route(mux, "/api/status", map[string]http.HandlerFunc{http.MethodGet: rg.serveStatus})
	route(mux, "/api/state", map[string]http.HandlerFunc{http.MethodGet: rg.serveState})
	route(mux, "/api/conflicts", map[string]http.HandlerFunc{http.MethodGet: rg.serveConflicts})
	route(mux, "/healthz", map[string]http.HandlerFunc{http.MethodGet: rg.healthz})
	route(mux, "/metrics", map[string]http.HandlerFunc{http.MethodGet: rg.metricsHandler().ServeHTTP})
	route(mux, "/replicate", map[string]http.HandlerFunc{http.MethodPost: rg.replicate})
	if rg.cfg.ServePage {
		route(mux, "/{$}", map[string]http.HandlerFunc{http.MethodGet: servePage})
		route(mux, "/console/state", map[string]http.HandlerFunc{http.MethodGet: rg.consoleState})
		route(mux, "/api/peers/{peer}/state", map[string]http.HandlerFunc{http.MethodGet: rg.servePeerState})
		route(mux, "/api/peers/{peer}/link", map[string]http.HandlerFunc{http.MethodPost: rg.serveLink})
	}
	mux.HandleFunc("/", notFound)
	return mux
}

// decodeBody decodes a JSON request body into v, strictly: one object, no
// unknown fields, at most maxAPIBody bytes. It writes the error answer and
// returns false on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("more than one JSON value in the body")
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", tooBig.Limit)
	case errors.As(err, &netErr) && netErr.Timeout():
		writeError(w, http.StatusRequestTimeout, "the request body was not sent in time")
	case errors.Is(err, io.EOF):
		writeError(w, http.StatusBadRequest, "empty request body: expected a JSON object")
	default:
		writeError(w, http.StatusBadRequest, "malformed JSON body: %v", err)
	}
	return false
}

// headerUnsaved, on a 202 answer to a write, says why the write, applied,
// is not saved yet.
const headerUnsaved = "X-Todo-Unsaved"

// writeFailed answers a write that was not applied.
func writeFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNotFound):
		writeError(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, errStopped), errors.Is(err, errDiskFailing):
		writeError(w, http.StatusServiceUnavailable, "write not applied: %v", err)
	default:
		writeError(w, http.StatusServiceUnavailable, "write failed: %v", err)
	}
}

// writeDone answers a write after rg.write returned err: with status and
// v (no body if nil) once the write is saved; with 202 Accepted, v and
// X-Todo-Unsaved if it is applied but could not be saved (it shows here,
// and is saved and sent to the peers by the next save that succeeds,
// unless the region crashes first: a retry would apply it twice); and
// with writeFailed if it was not applied.
func writeDone(w http.ResponseWriter, err error, status int, v any) {
	if err != nil && !errors.Is(err, errUnsaved) {
		writeFailed(w, err)
		return
	}
	if err != nil {
		w.Header().Set(headerUnsaved, strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, err.Error()))
		status = http.StatusAccepted
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}

func (rg *region) listTodos(w http.ResponseWriter, r *http.Request) {
	list := rg.todos.list()
	if list == nil {
		list = []Todo{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (rg *region) getTodo(w http.ResponseWriter, r *http.Request) {
	td, ok := rg.todos.get(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, "%v", errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, td)
}

// createTodo answers POST /api/todos: a new to-do with a new ID, or,
// with an Idempotency-Key (its ID made from the key) or an "id" chosen by
// the client, the to-do of that ID if this region has it already (200,
// Idempotent-Replayed), so that a client's retry, here or in another
// region, is the same create again (see todos for why it never undoes a
// rename).
func (rg *region) createTodo(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID    *string `json:"id"`
		Title string  `json:"title"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	title, err := cleanTitle(req.Title)
	if err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	td := Todo{ID: newID(time.Now()), Title: title}
	key, keyed := r.Header["Idempotency-Key"]
	switch {
	case keyed && req.ID != nil:
		writeError(w, http.StatusBadRequest, "give an Idempotency-Key or an \"id\", not both")
		return
	case keyed:
		if len(key) != 1 {
			writeError(w, http.StatusBadRequest, "%v", errIdempotencyKey)
			return
		}
		if td.ID, err = keyedID(key[0]); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	case req.ID != nil:
		if !validID(*req.ID) {
			writeError(w, http.StatusBadRequest, "%v", errClientID)
			return
		}
		td.ID, keyed = *req.ID, true
	}
	replayed := false
	err = rg.write(func() error {
		if keyed {
			if old, ok := rg.todos.get(td.ID); ok {
				td, replayed = old, true
				return errNoChange
			}
		}
		return rg.todos.create(td.ID, td.Title)
	}, td.ID)
	if err != nil && !errors.Is(err, errUnsaved) {
		writeFailed(w, err)
		return
	}
	w.Header().Set("Location", "/api/todos/"+td.ID)
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
		writeDone(w, err, http.StatusOK, td)
		return
	}
	writeDone(w, err, http.StatusCreated, td)
}

func (rg *region) patchTodo(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Title *string `json:"title"`
		Done  *bool   `json:"done"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Title == nil && req.Done == nil {
		writeError(w, http.StatusBadRequest, `nothing to change: give "title" and/or "done"`)
		return
	}
	var title string
	if req.Title != nil {
		var err error
		if title, err = cleanTitle(*req.Title); err != nil {
			writeError(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	id := r.PathValue("id")
	var td Todo
	err := rg.write(func() error {
		var ok bool
		if td, ok = rg.todos.get(id); !ok {
			return errNotFound
		}
		var newTitle *string
		if req.Title != nil {
			newTitle = &title
			td.Title = title
		}
		if req.Done != nil {
			td.Done = *req.Done
		}
		return rg.todos.edit(id, newTitle, req.Done)
	}, id)
	writeDone(w, err, http.StatusOK, td)
}

func (rg *region) deleteTodo(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := rg.write(func() error {
		if _, ok := rg.todos.get(id); !ok {
			return errNotFound
		}
		return rg.todos.remove(id)
	}, id)
	writeDone(w, err, http.StatusNoContent, nil)
}

// healthz answers 200 "ok", or 503 "failing" with the error while the
// region's last save failed (changes applied here are not saved, nor sent
// to the peers, and new writes are refused).
func (rg *region) healthz(w http.ResponseWriter, r *http.Request) {
	if err := rg.saveState(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "failing", "region": string(rg.cfg.Name), "error": "saving: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "region": string(rg.cfg.Name)})
}

// replicate takes in a peer's message: check who speaks before reading
// anything (sender, time, announced length, and the signature over the
// headers and the body's digest), read the body with a bounded reader and
// a deadline while at most ReplicateBodies others of the same peer are
// read, check it against the signed digest, hand it to the engine, and
// persist if it changed anything.
func (rg *region) replicate(w http.ResponseWriter, r *http.Request) {
	if rg.nl != nil {
		writeError(w, http.StatusNotFound, "%s replicates over NATS, not HTTP", rg.cfg.Name)
		return
	}
	cred, err := rg.tr.checkHeaders(r.Header)
	if err != nil {
		rg.refuseReplicate(w, r, err)
		return
	}
	if rg.pausedTo(cred.from) {
		writeError(w, http.StatusServiceUnavailable, "replication with %s is paused", cred.from)
		return
	}
	if r.ContentLength > maxReplicateBody {
		writeError(w, http.StatusRequestEntityTooLarge, "replication message larger than %d bytes", maxReplicateBody)
		return
	}
	slots := rg.bodies[cred.from]
	select {
	case slots <- struct{}{}:
		defer func() { <-slots }()
	default:
		rg.countRefusal(string(cred.from), "busy")
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "too many replication messages from %s at once", cred.from)
		return
	}
	// A large message on a slow link takes longer than the server's read
	// timeout: it gets as long as its sender gives it (sendTimeout), and
	// then as long again to be answered.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(replicateReadTime(rg.cfg.Limits, r.ContentLength)))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReplicateBody))
	_ = rc.SetWriteDeadline(time.Now().Add(rg.cfg.Limits.Write))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "replication message larger than %d bytes", tooBig.Limit)
			return
		}
		rg.countRefusal(string(cred.from), "body_timeout")
		writeError(w, http.StatusRequestTimeout, "reading the body: %v", err)
		return
	}
	if err := rg.tr.verify(cred, body); err != nil {
		rg.refuseReplicate(w, r, err)
		return
	}
	from := cred.from
	gen := rg.remoteGen.Load()
	rerr := rg.replica.Receive(r.Context(), from, body)
	if err := rg.received(gen); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not saved: %v", err)
		return
	}
	if rerr != nil {
		status := http.StatusBadRequest
		switch {
		case errors.Is(rerr, crdt.ErrUnknownPeer):
			status = http.StatusForbidden
		case errors.Is(rerr, crdt.ErrTooLarge):
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, "%v", rerr)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// refuseReplicate answers a replication request refused for its
// credentials: 403 for a sender that is not a peer, 401 for the rest.
func (rg *region) refuseReplicate(w http.ResponseWriter, r *http.Request, err error) {
	claimed := r.Header.Get(headerFrom)
	status, reason := http.StatusUnauthorized, refusalReason(err)
	if errors.Is(err, errUnknownSender) {
		status = http.StatusForbidden
	}
	rg.countRefusal(claimed, reason)
	rg.log.Warn("refused a replication request", "from", truncate(claimed, 64), "remote", r.RemoteAddr, "err", err)
	writeError(w, status, "%v", err)
}

// refusalReason is the reason a replication request or message refused
// for its credentials is counted under.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, errUnknownSender):
		return "unknown_sender"
	case errors.Is(err, errClockApart):
		return "clock_apart"
	}
	return "unauthenticated"
}

// truncate shortens s to at most n bytes (for logs).
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// streamEvents is a Server-Sent Events stream of "change" events: one
// when the stream opens, with the whole list, and one after every change
// to the data, local or remote, with just the to-dos changed since the
// last event (see feed). Each event's data is a JSON object: the origin
// ("open", "local" or "remote") and the fields of changes.
func (rg *region) streamEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "streaming unsupported")
		return
	}
	rc := streamDeadlines(w)
	// Each write, the first event (the whole list) included, must be done
	// within streamWrite; and when the region stops or the client goes,
	// the stream is cut at once, even in the middle of a write, so that a
	// client that does not read cannot hold up a shutdown.
	var (
		deadlineMu sync.Mutex
		cut        bool
	)
	setDeadline := func() {
		deadlineMu.Lock()
		defer deadlineMu.Unlock()
		if !cut {
			_ = rc.SetWriteDeadline(time.Now().Add(streamWrite))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-rg.events.done:
		case <-r.Context().Done():
		case <-stop:
			return
		}
		deadlineMu.Lock()
		defer deadlineMu.Unlock()
		cut = true
		_ = rc.SetWriteDeadline(time.Now())
	})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	ch, cancel := rg.events.subscribe()
	defer cancel()
	setDeadline()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 1000\n\n")
	cursor := ""
	send := func(origin string) {
		ev := struct {
			Origin string `json:"origin"`
			changes
		}{origin, rg.feed.since(cursor)}
		cursor = ev.Cursor
		b, _ := json.Marshal(ev) // strings and bools only: cannot fail
		fmt.Fprintf(w, "event: change\ndata: %s\n\n", b)
	}
	send("open")
	flusher.Flush()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-rg.events.done:
			return
		case origin := <-ch:
			send(origin)
		case <-keepalive.C:
			fmt.Fprint(w, ": keepalive\n\n")
		}
		setDeadline()
		flusher.Flush()
	}
}

// streamWrite bounds each write of an event stream.
const streamWrite = 10 * time.Second
