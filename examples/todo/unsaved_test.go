package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestUnsavedWriteIsReportedAsSuch: the disk fails under us-east-1. A
// write whose save fails is applied all the same (the engine cannot take
// it back), so it is answered 202 with X-Todo-Unsaved, not as refused; it
// shows in the region, and is not sent to the peer while unsaved.
// /healthz and the metrics say saving fails, and a new write is refused,
// 503, and not applied. Once the disk is back, the region's next try
// saves the write, which then reaches eu-west-1 and survives a crash.
func TestUnsavedWriteIsReportedAsSuch(t *testing.T) {
	c := newCluster(t, nil)
	e, rg := c.url(east), c.region(east)
	// The disk fails: every save gets an error.
	if err := rg.store.db.Close(); err != nil {
		t.Fatal(err)
	}
	r := do(t, "POST", e+"/api/todos", `{"title":"applied while the disk fails"}`)
	mustStatus(t, r, http.StatusAccepted)
	if r.header.Get(headerUnsaved) == "" {
		t.Errorf("202 without %s", headerUnsaved)
	}
	td := decode[Todo](t, r)
	if _, ok := byID(listTodos(t, e))[td.ID]; !ok {
		t.Errorf("the write answered 202 does not show in us-east-1")
	}
	h := do(t, "GET", e+"/healthz", "")
	if h.status != http.StatusServiceUnavailable || !strings.Contains(string(h.body), `"failing"`) {
		t.Errorf("/healthz while saving fails: %d %s, want 503 failing", h.status, h.body)
	}
	if v, _ := metricValue(t, e, "todo_save_failing"); v != 1 {
		t.Errorf("todo_save_failing = %v, want 1", v)
	}
	if v, _ := metricValue(t, e, "todo_save_failures_total"); v < 1 {
		t.Errorf("todo_save_failures_total = %v, want at least 1", v)
	}
	for range 5 {
		c.tickAll()
	}
	if _, ok := c.region(west).todos.get(td.ID); ok {
		t.Errorf("eu-west-1 got %s before us-east-1 saved it", td.ID)
	}
	refused := do(t, "POST", e+"/api/todos", `{"title":"refused while the disk fails"}`)
	if refused.status != http.StatusServiceUnavailable || !strings.Contains(string(refused.body), "not applied") {
		t.Errorf("a write while saving fails: %d %s, want 503 not applied", refused.status, refused.body)
	}

	// The disk is back (space freed, say): the next try saves the write.
	rg.mu.Lock()
	s, err := openStore(c.cfgs[east].DataDir, string(east), false)
	if err == nil {
		rg.store = s
	}
	rg.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := rg.retrySave(); err != nil {
		t.Fatalf("saving with the disk back: %v", err)
	}
	mustStatus(t, do(t, "GET", e+"/healthz", ""), http.StatusOK)
	if v, _ := metricValue(t, e, "todo_save_failing"); v != 0 {
		t.Errorf("todo_save_failing = %v once saved, want 0", v)
	}
	check := func(list []Todo, where string) {
		t.Helper()
		if got, ok := byID(list)[td.ID]; !ok || got.Title != td.Title {
			t.Errorf("%s: %s is %+v", where, td.ID, got)
		}
		for _, got := range list {
			if strings.HasPrefix(got.Title, "refused") {
				t.Errorf("%s: the write refused with 503 is there: %+v", where, got)
			}
		}
	}
	check(c.settle(), "both regions")
	c.crash(east)
	c.restart(east)
	check(listTodos(t, e), "us-east-1 after a crash")
}
