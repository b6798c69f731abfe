package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startPair runs us-east-1 and eu-west-1 as two processes, peers of each
// other.
func startPair(t *testing.T) (e, w *regionProcess) {
	t.Helper()
	rs := newRelays(t, 2)
	dir := t.TempDir()
	e = newRegionProcess(t, east, west, filepath.Join(dir, "e"), "http://"+rs[1].addr(), rs[0])
	w = newRegionProcess(t, west, east, filepath.Join(dir, "w"), "http://"+rs[0].addr(), rs[1])
	e.start(t)
	w.start(t)
	return e, w
}

// waitSame polls both regions' lists until they are equal and hold n
// to-dos, or fails after a deadline.
func waitSame(t *testing.T, a, b string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		la, lb := listTodos(t, a), listTodos(t, b)
		if len(la) == n && slices.Equal(la, lb) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions did not converge on %d to-dos:\n%+v\n%+v", n, la, lb)
		}
		<-poll.C
	}
}

// TestStateAndLinkAPI checks GET /api/state, its proxy for the peer, and
// the pause switch: equal fingerprints once converged, different while
// paused with a write on one side, equal again once resumed; and what
// the endpoints refuse.
func TestStateAndLinkAPI(t *testing.T) {
	e, w := startPair(t)
	createTodo(t, e.url, "one")
	createTodo(t, w.url, "two")
	waitSame(t, e.url, w.url, 2)

	state := func(url string) regionState {
		t.Helper()
		r := do(t, "GET", url, "")
		mustStatus(t, r, http.StatusOK)
		return decode[regionState](t, r)
	}
	mine, theirs := state(e.url+"/api/state"), state(e.url+"/api/peers/eu-west-1/state")
	if mine.Region != "us-east-1" || theirs.Region != "eu-west-1" || len(mine.Fingerprints) != 4 {
		t.Fatalf("states %+v and %+v", mine, theirs)
	}
	if !equalMaps(mine.Fingerprints, theirs.Fingerprints) {
		t.Fatalf("converged regions differ: %v and %v", mine.Fingerprints, theirs.Fingerprints)
	}

	r := do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":true}`)
	mustStatus(t, r, http.StatusOK)
	if got := decode[peerLink](t, r); !got.Paused {
		t.Fatalf("pause answered %+v", got)
	}
	if st := decode[consoleState](t, do(t, "GET", e.url+"/console/state", "")); len(st.Peers) != 1 || !st.Peers[0].Paused {
		t.Fatalf("console state while paused: %+v", st)
	}
	// Both directions stop: us-east-1 sends nothing and refuses what
	// eu-west-1 sends. Wait until each has failed to send twice since.
	errsE, _ := metricValue(t, e.url, "crdt_replication_send_errors_total")
	errsW, _ := metricValue(t, w.url, "crdt_replication_send_errors_total")
	fromE, fromW := createTodo(t, e.url, "east while paused"), createTodo(t, w.url, "west while paused")
	waitMetricAbove(t, e.url, "crdt_replication_send_errors_total", errsE+2)
	waitMetricAbove(t, w.url, "crdt_replication_send_errors_total", errsW+2)
	if _, ok := byID(listTodos(t, w.url))[fromE.ID]; ok {
		t.Error("a write in us-east-1 reached eu-west-1 while paused")
	}
	if _, ok := byID(listTodos(t, e.url))[fromW.ID]; ok {
		t.Error("a write in eu-west-1 reached us-east-1 while paused")
	}
	mine, theirs = state(e.url+"/api/state"), state(e.url+"/api/peers/eu-west-1/state")
	if equalMaps(mine.Fingerprints, theirs.Fingerprints) {
		t.Errorf("regions that differ show equal fingerprints: %v", mine.Fingerprints)
	}

	mustStatus(t, do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":false}`), http.StatusOK)
	waitSame(t, e.url, w.url, 4)
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for !equalMaps(state(e.url+"/api/state").Fingerprints, state(e.url+"/api/peers/eu-west-1/state").Fingerprints) {
		if time.Now().After(deadline) {
			t.Fatal("fingerprints differ after resuming and converging")
		}
		<-poll.C
	}

	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/api/peers/nowhere/state", "", http.StatusNotFound},
		{"POST", "/api/peers/nowhere/link", `{"paused":true}`, http.StatusNotFound},
		{"POST", "/api/peers/eu-west-1/link", `{}`, http.StatusBadRequest},
		{"POST", "/api/peers/eu-west-1/link", `{"paused":1}`, http.StatusBadRequest},
		{"GET", "/api/peers/eu-west-1/link", "", http.StatusMethodNotAllowed},
	} {
		if r := do(t, tc.method, e.url+tc.path, tc.body); r.status != tc.want {
			t.Errorf("%s %s %s: %d, want %d (%s)", tc.method, tc.path, tc.body, r.status, tc.want, r.body)
		}
	}

	// A dead peer is a 502, not a hang.
	w.kill(t)
	if r := do(t, "GET", e.url+"/api/peers/eu-west-1/state", ""); r.status != http.StatusBadGateway {
		t.Errorf("state of a dead peer: %d, want 502 (%s)", r.status, r.body)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// waitMetricAbove polls a region's metric (summed over its samples) until
// it reaches at least min, or fails after a deadline.
func waitMetricAbove(t *testing.T, base, name string, min float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		if v, _ := metricValue(t, base, name); v >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s stayed below %v", name, base, min)
		}
		<-poll.C
	}
}

// TestBrowserAgreement drives the page of a region in per-process mode,
// with its peer in another process: the badge says "agree" once they
// converge, "differ" after a write while replication is paused from the
// page, and "agree" again once it is resumed.
func TestBrowserAgreement(t *testing.T) {
	chromium := needChromium(t)
	e, w := startPair(t)
	createTodo(t, e.url, "one")
	createTodo(t, w.url, "two")
	waitSame(t, e.url, w.url, 2)

	ctx := newBrowser(t, chromium, e.url+"/")
	const card = `section.peer[data-peer="eu-west-1"]`
	waitFor := func(what, js string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(20*time.Millisecond))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	badge := func(state string) string {
		return fmt.Sprintf(`(() => { const b = document.querySelector(%s); return b !== null && b.dataset.state === %q && b.textContent === %q; })()`,
			strconv.Quote(card+" .agree"), state, state)
	}
	click := func(what, sel string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	waitFor("the badge says agree once converged", badge("agree"))
	click("pause replication", card+" .pause")
	waitFor("the link shows paused", fmt.Sprintf(`document.querySelector(%s).dataset.paused === "true"`, strconv.Quote(card)))
	createTodo(t, w.url, "west while paused")
	waitFor("the badge says differ", badge("differ"))
	click("resume replication", card+" .pause")
	waitFor("the badge says agree again", badge("agree"))
	waitSame(t, e.url, w.url, 3)
}
