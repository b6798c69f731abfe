package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
func signedRequest(t *testing.T, url string, secret []byte, from, to crdt.ReplicaID, at time.Time, signedBody, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/replicate", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(at.UnixNano(), 10)
	req.Header.Set(headerFrom, string(from))
	req.Header.Set(headerTime, ts)
	req.Header.Set(headerSignature, sign(secret, from, to, ts, signedBody))
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
	refused := []struct {
		name string
		req  *http.Request
	}{
		{"no credentials", noCreds},
		{"wrong secret", signedRequest(t, e, []byte("another-secret-0123456789"), west, east, now, body, body)},
		{"too old", signedRequest(t, e, testSecret, west, east, now.Add(-10*time.Minute), body, body)},
		{"too far ahead", signedRequest(t, e, testSecret, west, east, now.Add(10*time.Minute), body, body)},
		{"signed for another region", signedRequest(t, e, testSecret, west, west, now, body, body)},
		{"body changed", signedRequest(t, e, testSecret, west, east, now, body, []byte("tampered"))},
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

	// Authenticated, but the engine refuses: garbage from a peer, anything
	// from a region that is not a peer.
	r := send(t, signedRequest(t, e, testSecret, west, east, now, body, body))
	mustStatus(t, r, http.StatusBadRequest)
	// (Which reason the engine gives garbage depends on its first bytes.)
	if n, _ := metricValue(t, e, "crdt_replication_refused_total", "peer", string(west)); n != 5+1 {
		t.Errorf("%v refusals from %s, want 5 unauthenticated and 1 by the engine", n, west)
	}
	r = send(t, signedRequest(t, e, testSecret, "ap-south-1", east, now, body, body))
	if r.status/100 != 4 {
		t.Errorf("message from a non-peer: status %d", r.status)
	}

	// Too large: refused unread.
	big := bytes.Repeat([]byte{0}, maxReplicateBody+1)
	r = send(t, signedRequest(t, e, testSecret, west, east, now, big, big))
	mustStatus(t, r, http.StatusRequestEntityTooLarge)

	if l := listTodos(t, e); len(l) != 0 {
		t.Fatalf("refused messages changed the data: %+v", l)
	}
}

func TestMismatchedSecretsReplicateNothing(t *testing.T) {
	c := newCluster(t, map[crdt.ReplicaID][]byte{west: []byte("a-different-secret-0123456789")})
	e, w := c.url(east), c.url(west)
	createTodo(t, e, "secret plans")
	for range 10 {
		c.tickAll()
	}
	if l := listTodos(t, w); len(l) != 0 {
		t.Fatalf("the west took data from a region with another secret: %+v", l)
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
