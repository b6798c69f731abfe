package main

import (
	"bytes"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawRequest sends a request with the headers given, as a browser or an
// attacker would, and returns the answer.
func rawRequest(t *testing.T, method, url, body string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return send(t, req)
}

// TestCrossSiteRequestsAreRefused pins the cross-site request fix: a
// text/plain form POST, a POST from a foreign origin and a request for a
// foreign Host (DNS rebinding) are refused with 415 or 403, in a region
// and in the console, and change nothing.
func TestCrossSiteRequestsAreRefused(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	td := createTodo(t, e, "keep me")
	before := listTodos(t, e)
	host := strings.TrimPrefix(e, "http://")
	form := map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}
	for _, tc := range []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}{
		{"text/plain form POST", "POST", "/api/todos", `{"title":"pwned"}`, form, 403},
		{"text/plain from no origin", "POST", "/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"form-urlencoded", "POST", "/api/todos", `title=pwned`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"no content type", "PATCH", "/api/todos/" + td.ID, `{"done":true}`, nil, 415},
		{"JSON from a foreign origin", "POST", "/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"JSON from the null origin", "POST", "/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "application/json", "Origin": "null"}, 403},
		{"same host, other port", "PATCH", "/api/todos/" + td.ID, `{"done":true}`, map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:1"}, 403},
		{"delete from a foreign origin", "DELETE", "/api/todos/" + td.ID, ``, map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site fetch metadata", "DELETE", "/api/todos/" + td.ID, ``, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"rebound host, POST", "POST", "/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "application/json", "Host": "evil.example:" + strings.Split(host, ":")[1]}, 403},
		{"rebound host, GET", "GET", "/api/todos", ``, map[string]string{"Host": "evil.example"}, 403},
		{"rebound host, metrics", "GET", "/metrics", ``, map[string]string{"Host": "rebind.evil.example"}, 403},
	} {
		r := rawRequest(t, tc.method, e+tc.path, tc.body, tc.header)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, r.status, tc.status, r.body)
		}
	}
	if after := listTodos(t, e); !slices.Equal(after, before) {
		t.Fatalf("refused requests changed the data: %+v, was %+v", after, before)
	}
	// What a page of the region's own origin sends is taken, under any
	// loopback name.
	port := strings.Split(host, ":")[1]
	for _, h := range []string{host, "localhost:" + port} {
		r := rawRequest(t, "POST", e+"/api/todos", `{"title":"mine"}`,
			map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": "http://" + h, "Host": h})
		mustStatus(t, r, http.StatusCreated)
	}
}

// TestConsoleRefusesCrossSiteRequests: the console's controls (stop a
// region, cut the link) refuse what a page of another site can send.
func TestConsoleRefusesCrossSiteRequests(t *testing.T) {
	c, err := startConsole(consoleConfig{Regions: embeddedRegions, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.shutdown(t.Context()) })
	page := c.url
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
	}{
		{"form POST stops a region", "/console/regions/us-east-1/stop", ``, map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403},
		{"form POST from no origin stops a region", "/console/regions/us-east-1/stop", ``, map[string]string{"Content-Type": "text/plain"}, 415},
		{"form POST cuts the link", "/console/link", `{"cut":true}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"foreign origin cuts the link", "/console/link", `{"cut":true}`, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"foreign origin writes through the proxy", "/r/us-east-1/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example"}, 403},
		{"form POST through the proxy", "/r/us-east-1/api/todos", `{"title":"pwned"}`, map[string]string{"Content-Type": "text/plain"}, 415},
		{"rebound host", "/console/link", `{"cut":true}`, map[string]string{"Content-Type": "application/json", "Host": "evil.example"}, 403},
	} {
		r := rawRequest(t, "POST", page+tc.path, tc.body, tc.header)
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, r.status, tc.status, r.body)
		}
	}
	st := c.state()
	if st.LinkCut || !st.Regions[0].Up || !st.Regions[1].Up {
		t.Fatalf("refused requests changed the console: %+v", st)
	}
	if l := listTodos(t, page+"/r/us-east-1"); len(l) != 0 {
		t.Fatalf("refused requests wrote %+v", l)
	}
	// The page itself (same origin, JSON) works through the proxy.
	r := rawRequest(t, "POST", page+"/r/us-east-1/api/todos", `{"title":"mine"}`,
		map[string]string{"Content-Type": "application/json", "Origin": page})
	mustStatus(t, r, http.StatusCreated)
}

// stalledRequest sends a request whose body never comes (the test never
// writes to the pipe), with the headers given, and returns the answer's
// status, or 0 if the connection failed instead.
func stalledRequest(t *testing.T, url string, header map[string]string) (int, *io.PipeWriter) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", url, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 1 << 20
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		return 0, pw
	}
	resp.Body.Close()
	return resp.StatusCode, pw
}

// waitIdle waits until the region serves no request (its handlers have
// returned), or fails.
func waitIdle(t *testing.T, rg *region) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for rg.guard.inflight.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still being served", rg.guard.inflight.Load())
		}
		runtime.Gosched()
	}
}

// TestStalledBodyIsCutOff pins the missing read timeout: a client that
// sends its headers and never its body is cut off after the server's
// ReadTimeout, on the API, and on /replicate after that and the time its
// announced body takes at floorRate (replicateReadTime: 4 s for the 1 MiB
// announced here), and its handler returns while the client still holds
// the body open.
func TestStalledBodyIsCutOff(t *testing.T) {
	c := newCluster(t, func(cfg *regionConfig) { cfg.Limits = serverLimits{Read: 50 * time.Millisecond} })
	e := c.url(east)
	rg := c.region(east)

	status, pw := stalledRequest(t, e+"/api/todos", map[string]string{"Content-Type": "application/json"})
	if status != 0 && status != http.StatusRequestTimeout {
		t.Errorf("stalled API request: status %d, want 408 or a cut connection", status)
	}
	waitIdle(t, rg)
	pw.Close()

	req := signedRequest(t, e, testKey(west), west, east, time.Now(), nil, nil)
	hdr := map[string]string{}
	for k := range req.Header {
		hdr[k] = req.Header.Get(k)
	}
	status, pw = stalledRequest(t, e+"/replicate", hdr)
	if status != 0 && status != http.StatusRequestTimeout {
		t.Errorf("stalled replication request: status %d, want 408 or a cut connection", status)
	}
	waitIdle(t, rg)
	pw.Close()
	if l := listTodos(t, e); len(l) != 0 {
		t.Fatalf("stalled requests wrote %+v", l)
	}
}

// TestReplicateChecksSenderBeforeReadingBody pins /replicate reading the
// body before the credentials: a request from a stranger, or with stale
// or malformed credentials, is refused at once, its body never read (the
// test never sends it, and the server has no short timeout here).
func TestReplicateChecksSenderBeforeReadingBody(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	good := signedRequest(t, e, testKey(west), west, east, time.Now(), nil, nil)
	for _, tc := range []struct {
		name   string
		spoil  func(map[string]string)
		status int
	}{
		{"unknown sender", func(h map[string]string) { h[headerFrom] = "ap-south-1" }, http.StatusForbidden},
		{"stale", func(h map[string]string) { h[headerTime] = "1" }, http.StatusUnauthorized},
		{"malformed signature", func(h map[string]string) { h[headerSignature] = "zz" }, http.StatusUnauthorized},
		{"no signature", func(h map[string]string) { delete(h, headerSignature) }, http.StatusUnauthorized},
	} {
		h := map[string]string{}
		for k := range good.Header {
			h[k] = good.Header.Get(k)
		}
		tc.spoil(h)
		status, pw := stalledRequest(t, e+"/replicate", h)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.status)
		}
		pw.Close()
	}
	// A declared length beyond the bound is refused unread too.
	h := map[string]string{}
	for k := range good.Header {
		h[k] = good.Header.Get(k)
	}
	req, err := http.NewRequest("POST", e+"/replicate", io.NopCloser(bytes.NewReader(nil)))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	req.Body = pr
	req.ContentLength = maxReplicateBody + 1
	for k, v := range h {
		req.Header.Set(k, v)
	}
	if r := send(t, req); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized declared length: status %d, want 413", r.status)
	}
}

// TestConcurrentRequestsAreCapped: beyond the cap of requests served at
// once, the server answers 503 at once rather than queueing them.
func TestConcurrentRequestsAreCapped(t *testing.T) {
	c := newCluster(t, func(cfg *regionConfig) { cfg.Limits = serverLimits{Requests: 1} })
	e := c.url(east)
	rg := c.region(east)
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e+"/api/todos", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	done := make(chan response, 1)
	go func() {
		resp, err := testClient.Do(req)
		if err != nil {
			done <- response{}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- response{status: resp.StatusCode, body: b}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for rg.guard.inflight.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled request never arrived")
		}
		runtime.Gosched()
	}
	r := do(t, "GET", e+"/api/todos", "")
	mustStatus(t, r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	_, _ = pw.Write([]byte(`{"title":"finally"}`))
	pw.Close()
	mustStatus(t, <-done, http.StatusCreated)
	waitIdle(t, rg)
	mustStatus(t, do(t, "GET", e+"/api/todos", ""), http.StatusOK)
}
