package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

func TestAPIRefusesBadRequests(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	td := createTodo(t, e, "keep me")
	before := listTodos(t, e)

	long := strings.Repeat("é", maxTitleRunes+1)
	huge := `{"title":"` + strings.Repeat("a", maxAPIBody) + `"}`
	cases := []struct {
		name, method, path, body string
		status                   int
	}{
		{"empty title", "POST", "/api/todos", `{"title":""}`, 400},
		{"blank title", "POST", "/api/todos", `{"title":"  \t "}`, 400},
		{"no title", "POST", "/api/todos", `{}`, 400},
		{"empty body", "POST", "/api/todos", ``, 400},
		{"malformed JSON", "POST", "/api/todos", `{"title": "a"`, 400},
		{"wrong type", "POST", "/api/todos", `{"title": 5}`, 400},
		{"unknown field", "POST", "/api/todos", `{"title":"a","color":"red"}`, 400},
		{"two values", "POST", "/api/todos", `{"title":"a"} {"title":"b"}`, 400},
		{"array", "POST", "/api/todos", `["a"]`, 400},
		{"title too long", "POST", "/api/todos", `{"title":"` + long + `"}`, 400},
		{"title with a newline", "POST", "/api/todos", `{"title":"two\nlines"}`, 400},
		{"title with a NUL", "POST", "/api/todos", `{"title":"a\u0000b"}`, 400},
		{"title with a C1 control", "POST", "/api/todos", `{"title":"a\u0085b"}`, 400},
		{"patch title with a tab", "PATCH", "/api/todos/" + td.ID, `{"title":"a\tb"}`, 400},
		{"oversized body", "POST", "/api/todos", huge, 413},
		{"wrong method on the list", "PUT", "/api/todos", `{"title":"a"}`, 405},
		{"delete the list", "DELETE", "/api/todos", ``, 405},
		{"post to an item", "POST", "/api/todos/" + td.ID, `{"title":"a"}`, 405},
		{"patch unknown id", "PATCH", "/api/todos/nope", `{"done":true}`, 404},
		{"delete unknown id", "DELETE", "/api/todos/nope", ``, 404},
		{"get unknown id", "GET", "/api/todos/nope", ``, 404},
		{"patch nothing", "PATCH", "/api/todos/" + td.ID, `{}`, 400},
		{"patch empty title", "PATCH", "/api/todos/" + td.ID, `{"title":" "}`, 400},
		{"patch done not a bool", "PATCH", "/api/todos/" + td.ID, `{"done":"yes"}`, 400},
		{"patch malformed", "PATCH", "/api/todos/" + td.ID, `{"done":`, 400},
		{"patch oversized", "PATCH", "/api/todos/" + td.ID, huge, 413},
		{"unknown path", "GET", "/nope", ``, 404},
		{"get replicate", "GET", "/replicate", ``, 405},
		{"post healthz", "POST", "/healthz", ``, 405},
		{"post metrics", "POST", "/metrics", ``, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, e+tc.path, tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tc.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var body apiError
			if err := json.Unmarshal(r.body, &body); err != nil || body.Error == "" {
				t.Errorf("body %q is not a JSON error (%v)", r.body, err)
			}
			if tc.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}
	if after := listTodos(t, e); !slices.Equal(after, before) {
		t.Fatalf("refused requests changed the data: %+v, was %+v", after, before)
	}
}

func TestAPIAnswers(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)

	r := do(t, "GET", e+"/healthz", "")
	mustStatus(t, r, 200)
	if h := decode[map[string]string](t, r); h["status"] != "ok" || h["region"] != string(east) {
		t.Fatalf("healthz %v", h)
	}
	if l := listTodos(t, e); l == nil || len(l) != 0 {
		t.Fatalf("empty list is %#v, want []", l)
	}
	r = do(t, "POST", e+"/api/todos", `{"title":"  trim me "}`)
	mustStatus(t, r, 201)
	td := decode[Todo](t, r)
	if td.Title != "trim me" || td.Done {
		t.Fatalf("created %+v", td)
	}
	if loc := r.header.Get("Location"); loc != "/api/todos/"+td.ID {
		t.Errorf("Location %q", loc)
	}
	r = do(t, "GET", e+"/api/todos/"+td.ID, "")
	mustStatus(t, r, 200)
	if got := decode[Todo](t, r); got != td {
		t.Fatalf("got %+v, want %+v", got, td)
	}
	got := patchTodo(t, e, td.ID, `{"title":"renamed","done":true}`)
	if want := (Todo{ID: td.ID, Title: "renamed", Done: true}); got != want {
		t.Fatalf("patched %+v, want %+v", got, want)
	}
	got = patchTodo(t, e, td.ID, `{"done":false}`)
	if want := (Todo{ID: td.ID, Title: "renamed"}); got != want {
		t.Fatalf("patched %+v, want %+v", got, want)
	}
	// Unicode titles survive the round trip, and IDs are unique.
	ids := map[string]bool{td.ID: true}
	for _, title := range []string{"日本語", "emoji 🚀", strings.Repeat("x", maxTitleRunes)} {
		n := createTodo(t, e, title)
		if ids[n.ID] {
			t.Fatalf("duplicate id %s", n.ID)
		}
		ids[n.ID] = true
	}
	if n, _ := metricValue(t, e, "todo_items"); n != 4 {
		t.Errorf("todo_items %v, want 4", n)
	}
}

func TestNewIDIsUniqueAndOrdered(t *testing.T) {
	seen := map[string]bool{}
	now := time.Now()
	prev := ""
	for i := range 1000 {
		id := newID(now.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 28 || seen[id] {
			t.Fatalf("id %q (len %d, seen %v)", id, len(id), seen[id])
		}
		if id <= prev {
			t.Fatalf("%q not after %q", id, prev)
		}
		seen[id], prev = true, id
	}
}

// signedRequest builds a replication request as a peer would, with the
// parts the test wants to spoil.
func signedRequest(t *testing.T, url string, key ed25519.PrivateKey, from, to crdt.ReplicaID, at time.Time, signedBody, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/replicate", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.UnixNano(), 10)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(headerFrom, string(from))
	req.Header.Set(headerTime, ts)
	req.Header.Set(headerDigest, bodyDigest(signedBody))
	req.Header.Set(headerSignature, sign(key, from, to, ts, signedBody))
	return req
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return response{resp.StatusCode, resp.Header, b.Bytes()}
}

func TestReplicationAuthentication(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	body := []byte("not an engine message")
	now := time.Now()

	noCreds, err := http.NewRequest("POST", e+"/replicate", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	badSig := signedRequest(t, e, testKey(west), west, east, now, body, body)
	badSig.Header.Set(headerSignature, strings.Repeat("00", ed25519.SignatureSize))
	refused := []struct {
		name string
		req  *http.Request
	}{
		{"no credentials", noCreds},
		{"wrong key", signedRequest(t, e, testKey("impostor"), west, east, now, body, body)},
		{"signed by the receiver itself", signedRequest(t, e, testKey(east), west, east, now, body, body)},
		{"zero signature", badSig},
		{"too old", signedRequest(t, e, testKey(west), west, east, now.Add(-10*time.Minute), body, body)},
		{"too far ahead", signedRequest(t, e, testKey(west), west, east, now.Add(10*time.Minute), body, body)},
		{"signed for another region", signedRequest(t, e, testKey(west), west, west, now, body, body)},
		{"body changed", signedRequest(t, e, testKey(west), west, east, now, body, []byte("tampered"))},
	}
	for _, tc := range refused {
		r := send(t, tc.req)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401; body %s", tc.name, r.status, r.body)
		}
	}
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", "unknown", "reason", "unauthenticated"); n != 1 {
		t.Errorf("%v unauthenticated refusals from unknown senders, want 1", n)
	}
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", string(west), "reason", "unauthenticated"); n != 5 {
		t.Errorf("%v unauthenticated refusals claiming %s, want 5", n, west)
	}
	// A clock stepped at either end is named as such, not as a forgery.
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", string(west), "reason", "clock_apart"); n != 2 {
		t.Errorf("%v refusals claiming %s for clocks apart, want 2 (too old, too far ahead)", n, west)
	}

	// Authenticated, but the engine refuses: garbage from a peer.
	r := send(t, signedRequest(t, e, testKey(west), west, east, now, body, body))
	mustStatus(t, r, http.StatusBadRequest)
	// (Which reason the engine gives garbage depends on its first bytes.)
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", string(west)); n != 7+1 {
		t.Errorf("%v refusals from %s, want 7 unauthenticated and 1 by the engine", n, west)
	}

	// Too large: refused unread.
	big := bytes.Repeat([]byte{0}, maxReplicateBody+1)
	r = send(t, signedRequest(t, e, testKey(west), west, east, now, big, big))
	mustStatus(t, r, http.StatusRequestEntityTooLarge)

	if l := listTodos(t, e); len(l) != 0 {
		t.Fatalf("refused messages changed the data: %+v", l)
	}
}

// TestUnknownSenderIsNotABadSignature pins that a request from a region
// that is not a peer (a typo in a name) is told so, apart from a bad
// signature: 403 "unknown sender" against 401 "bad signature".
func TestUnknownSenderIsNotABadSignature(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	body := []byte("x")
	now := time.Now()

	unknown := send(t, signedRequest(t, e, testKey("eu-west1"), "eu-west1", east, now, body, body))
	bad := send(t, signedRequest(t, e, testKey("impostor"), west, east, now, body, body))
	mustStatus(t, unknown, http.StatusForbidden)
	mustStatus(t, bad, http.StatusUnauthorized)
	ue, be := decode[apiError](t, unknown).Error, decode[apiError](t, bad).Error
	if !strings.Contains(ue, "unknown sender") || !strings.Contains(ue, `"eu-west1"`) {
		t.Errorf("unknown sender answered %q", ue)
	}
	if !strings.Contains(be, "bad signature") || strings.Contains(be, "unknown sender") {
		t.Errorf("bad signature answered %q", be)
	}
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", "unknown", "reason", "unknown_sender"); n != 1 {
		t.Errorf("%v unknown_sender refusals, want 1", n)
	}
}

// TestRegionCannotSignAsAnother pins that each region has its own key: in
// a cluster of three, us-east-1, which knows every peer's public key,
// cannot make ap-south-1 accept a message in eu-west-1's name. The same
// message in its own name is accepted, so only the claimed sender is
// wrong.
func TestRegionCannotSignAsAnother(t *testing.T) {
	const south = crdt.ReplicaID("ap-south-1")
	c := newCluster(t, nil, east, west, south)
	s, e := c.url(south), c.url(east)

	// Catch what the east's engine sends the south.
	var (
		mu   sync.Mutex
		msgs [][]byte
	)
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		msgs = append(msgs, b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer catcher.Close()
	c.region(east).tr.peers[south] = catcher.URL // no ticker runs: the test ticks
	td := createTodo(t, e, "from the east")
	_ = c.region(east).tick(t.Context())
	mu.Lock()
	caught := slices.Clone(msgs)
	mu.Unlock()
	if len(caught) == 0 {
		t.Fatal("the east sent the south nothing")
	}

	now := time.Now()
	for _, msg := range caught {
		r := send(t, signedRequest(t, s, testKey(east), west, south, now, msg, msg))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("the east signing as the west: status %d, want 401 (%s)", r.status, r.body)
		}
	}
	if l := listTodos(t, s); len(l) != 0 {
		t.Fatalf("the south took %+v from a forged sender", l)
	}
	for _, msg := range caught {
		r := send(t, signedRequest(t, s, testKey(east), east, south, now, msg, msg))
		if r.status/100 != 2 {
			t.Fatalf("the east in its own name: status %d (%s)", r.status, r.body)
		}
	}
	if l := listTodos(t, s); !slices.Equal(l, []Todo{td}) {
		t.Fatalf("the south lists %+v, want [%+v]", l, td)
	}
}

func TestMismatchedKeysReplicateNothing(t *testing.T) {
	c := newCluster(t, func(cfg *regionConfig) {
		if cfg.Name == west {
			cfg.PeerKeys[east] = testPublic("impostor")
		}
	})
	e, w := c.url(east), c.url(west)
	createTodo(t, e, "secret plans")
	for range 10 {
		c.tickAll()
	}
	if l := listTodos(t, w); len(l) != 0 {
		t.Fatalf("the west took data from a region with another key: %+v", l)
	}
	if n, _ := metricValue(t, w, "crdt_replication_refused_total", "peer", string(east), "reason", "unauthenticated"); n == 0 {
		t.Error("the west counted no unauthenticated refusals")
	}
	if n, _ := metricValue(t, e, "crdt_replication_send_errors_total"); n == 0 {
		t.Error("the east counted no send errors")
	}
	if n, _ := metricValue(t, e, "crdt_replication_pending_ops"); n == 0 {
		t.Error("the east's ops are acknowledged")
	}
}

// createKeyed posts a create with an Idempotency-Key.
func createKeyed(t *testing.T, base, key, title string) response {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"title": title})
	return rawRequest(t, "POST", base+"/api/todos", string(b),
		map[string]string{"Content-Type": "application/json", "Idempotency-Key": key})
}

// TestIdempotentCreate pins the duplicate made by a client retrying a
// create: with an Idempotency-Key, the retry answers the same to-do,
// whether it reaches the same region or the other one, before or after
// the first create replicated there.
func TestIdempotentCreate(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)

	first := createKeyed(t, e, "order-42", "pay the invoice")
	mustStatus(t, first, http.StatusCreated)
	td := decode[Todo](t, first)
	again := createKeyed(t, e, "order-42", "pay the invoice")
	mustStatus(t, again, http.StatusOK)
	if got := decode[Todo](t, again); got != td || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry in the same region: %+v (%v), want %+v", got, again.header, td)
	}

	// The other region, before the first create reached it (link cut).
	c.cut.Store(true)
	other := createKeyed(t, w, "order-42", "pay the invoice")
	mustStatus(t, other, http.StatusCreated)
	if got := decode[Todo](t, other); got != td {
		t.Fatalf("retry in the other region: %+v, want %+v", got, td)
	}
	c.cut.Store(false)
	if got := c.settle(); !slices.Equal(got, []Todo{td}) {
		t.Fatalf("converged on %+v, want only %+v", got, td)
	}
	// And after it did.
	late := createKeyed(t, w, "order-42", "pay the invoice")
	mustStatus(t, late, http.StatusOK)
	if got := decode[Todo](t, late); got != td {
		t.Fatalf("late retry in the other region: %+v, want %+v", got, td)
	}

	// Another key is another to-do; no key, a new one each time.
	mustStatus(t, createKeyed(t, w, "order-43", "pay the invoice"), http.StatusCreated)
	createTodo(t, e, "pay the invoice")
	createTodo(t, e, "pay the invoice")
	if got := c.settle(); len(got) != 4 {
		t.Fatalf("%d to-dos, want 4: %+v", len(got), got)
	}

	// Bad keys are refused and change nothing.
	for _, key := range []string{"", "has space", strings.Repeat("k", maxIdempotencyKey+1), "tab\there"} {
		if r := createKeyed(t, e, key, "x"); r.status != http.StatusBadRequest {
			t.Errorf("key %q: status %d, want 400", key, r.status)
		}
	}
	if got := listTodos(t, e); len(got) != 4 {
		t.Fatalf("bad keys changed the list: %+v", got)
	}
}
