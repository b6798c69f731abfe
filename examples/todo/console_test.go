package main

import (
	"bufio"
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// eventStream reads a Server-Sent Events stream.
type eventStream struct {
	ch chan string // the data of each event
}

func openEvents(t *testing.T, url string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s, %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	s := &eventStream{ch: make(chan string, 16)}
	go func() {
		defer close(s.ch)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				s.ch <- d
			}
		}
	}()
	return s
}

func (s *eventStream) next(t *testing.T) string {
	t.Helper()
	select {
	case d, ok := <-s.ch:
		if !ok {
			t.Fatal("event stream closed")
		}
		return d
	case <-time.After(15 * time.Second):
		t.Fatal("no event")
	}
	return ""
}

func TestConsole(t *testing.T) {
	clk := newTestClock()
	c, err := startConsole(consoleConfig{Regions: embeddedRegions, DataDir: t.TempDir(), Clock: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.shutdown(context.Background()) })
	page := c.url
	e, w := page+"/r/us-east-1", page+"/r/eu-west-1"
	tick := func() {
		for _, n := range embeddedRegions {
			if rg := c.region(n); rg != nil {
				_ = rg.tick(context.Background())
			}
		}
	}
	settle := func() []Todo {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			tick()
			a, b := listTodos(t, e), listTodos(t, w)
			if slices.Equal(a, b) {
				return a
			}
		}
		t.Fatal("regions did not converge")
		return nil
	}
	state := func(r response) consoleState {
		t.Helper()
		mustStatus(t, r, 200)
		return decode[consoleState](t, r)
	}

	st := state(do(t, "GET", page+"/console/state", ""))
	if !st.Control || st.LinkCut || len(st.Regions) != 2 {
		t.Fatalf("state %+v", st)
	}
	for i, r := range st.Regions {
		if r.Name != string(embeddedRegions[i]) || !r.Up || r.Base != "/r/"+r.Name || !strings.HasPrefix(r.URL, "http://127.0.0.1:") {
			t.Fatalf("region %+v", r)
		}
	}
	mustStatus(t, do(t, "GET", page+"/", ""), 200)

	// Remote updates reach the page's event stream, through the proxy.
	events := openEvents(t, w+"/api/events")
	if ev := events.next(t); !strings.Contains(ev, "open") {
		t.Fatalf("first event %q", ev)
	}
	first := createTodo(t, e, "first")
	if got := settle(); !slices.Equal(got, []Todo{first}) {
		t.Fatalf("converged on %+v", got)
	}
	if ev := events.next(t); !strings.Contains(ev, "remote") {
		t.Fatalf("event %q, want a remote change", ev)
	}

	// Cut the link: nothing crosses.
	if st := state(do(t, "POST", page+"/console/link", `{"cut":true}`)); !st.LinkCut {
		t.Fatal("link not cut")
	}
	second := createTodo(t, e, "second")
	for range 5 {
		tick()
	}
	if err := c.region(east).tick(context.Background()); err == nil || !strings.Contains(err.Error(), "link cut") {
		t.Errorf("tick with the link cut: %v", err)
	}
	if l := listTodos(t, w); len(l) != 1 {
		t.Fatalf("west got %+v through a cut link", l)
	}

	// Stop the west: it is down, the east serves on.
	st = state(do(t, "POST", page+"/console/regions/eu-west-1/stop", ""))
	if st.Regions[1].Up || !st.Regions[0].Up {
		t.Fatalf("state after stop %+v", st)
	}
	r := do(t, "GET", w+"/api/todos", "")
	mustStatus(t, r, http.StatusBadGateway)
	if e := decode[apiError](t, r); !strings.Contains(e.Error, "down") {
		t.Errorf("down region: %q", e.Error)
	}
	third := createTodo(t, e, "third")
	state(do(t, "POST", page+"/console/regions/eu-west-1/stop", "")) // twice is fine

	// Restart it: its data came back from disk.
	st = state(do(t, "POST", page+"/console/regions/eu-west-1/start", ""))
	if !st.Regions[1].Up {
		t.Fatalf("state after start %+v", st)
	}
	state(do(t, "POST", page+"/console/regions/eu-west-1/start", "")) // twice is fine
	if l := listTodos(t, w); !slices.Equal(l, []Todo{first}) {
		t.Fatalf("west after restart: %+v", l)
	}

	// Heal: converge.
	if st := state(do(t, "POST", page+"/console/link", `{"cut":false}`)); st.LinkCut {
		t.Fatal("link not healed")
	}
	if got := settle(); !slices.Equal(got, []Todo{first, second, third}) {
		t.Fatalf("converged on %+v", got)
	}

	// Bad console requests.
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/console/link", `{}`, 400},
		{"POST", "/console/link", `{"cut":"yes"}`, 400},
		{"GET", "/console/link", ``, 405},
		{"POST", "/console/state", ``, 405},
		{"POST", "/console/regions/ap-south-1/stop", ``, 404},
		{"POST", "/console/regions/ap-south-1/start", ``, 404},
		{"GET", "/console/regions/eu-west-1/stop", ``, 405},
		{"GET", "/r/ap-south-1/api/todos", ``, 404},
		{"GET", "/nope", ``, 404},
	} {
		r := do(t, tc.method, page+tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, r.status, tc.status, r.body)
		}
		if e := decode[apiError](t, r); e.Error == "" {
			t.Errorf("%s %s: no error message", tc.method, tc.path)
		}
	}
}
