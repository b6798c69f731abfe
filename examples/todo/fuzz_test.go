package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary requests to a region's API: whatever comes in,
// the answer is never a 5xx, and every error is a JSON object with a
// message.
func FuzzAPI(f *testing.F) {
	rg, err := startRegion(regionConfig{Name: east, DataDir: f.TempDir(), Key: testKey(east)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(rg.crash)
	h := rg.handler()
	id := "01a2081dfa97fb5ade51c6e3094d"
	if err := rg.write(func() error { return rg.todos.create(id, "seed") }); err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		method uint8
		path   string
		body   string
	}{
		{0, "", ""},
		{1, "", `{"title":"a"}`},
		{1, "", `{"title":""}`},
		{1, "", `{"title":"\u0000"}`},
		{1, "", `{"title":"a","x":1}`},
		{2, "/" + id, `{"done":true}`},
		{2, "/" + id, `{"title":null,"done":null}`},
		{2, "/" + id, `{"title":"b"}{`},
		{3, "/" + id, ``},
		{3, "/nope", ``},
		{4, "/" + id, `[]`},
		{2, "/%zz", `{}`},
		{1, "/../../metrics", ``},
	} {
		f.Add(s.method, s.path, s.body)
	}
	methods := []string{"GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"}
	f.Fuzz(func(t *testing.T, m uint8, path, body string) {
		method := methods[int(m)%len(methods)]
		target := "/api/todos" + path
		if strings.ContainsAny(target, " \t\r\n?#") || !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil || req.URL.Path == "/api/events" {
			return
		}
		// As the region's own page sends it (the guard refuses the rest;
		// TestCrossSiteRequestsAreRefused covers that).
		req.Host = strings.TrimPrefix(rg.url, "http://")
		if method == "POST" || method == "PATCH" || method == "PUT" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %q %q: %d %s", method, target, body, w.Code, w.Body)
		}
		if w.Code >= 400 && method != "HEAD" {
			var e apiError
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%s %q: %d with body %q", method, target, w.Code, w.Body)
			}
		}
	})
}
