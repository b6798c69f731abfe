package main

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// takePort listens on addr, as another process might between a region's
// stop and its restart, and reports whether it could; what it took is
// released when the test ends.
func takePort(t *testing.T, addr string) bool {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	t.Cleanup(func() { _ = ln.Close() })
	return true
}

// TestClusterRestartKeepsItsAddress: a region of a test's cluster
// restarts at its address even if something else tried to take the port
// while it was down, as a process on a busy machine may. The cluster let
// the port go with the region and listened on it again at the restart,
// which then failed with "address already in use".
func TestClusterRestartKeepsItsAddress(t *testing.T) {
	c := newCluster(t, nil)
	td := createTodo(t, c.url(east), "before the restart")
	c.settle()
	c.crash(east)
	if takePort(t, strings.TrimPrefix(c.url(east), "http://")) {
		t.Log("the port was free while the region was down")
	}
	c.restart(east)
	if l := listTodos(t, c.url(east)); len(l) != 1 || l[0] != td {
		t.Fatalf("after the restart the east lists %+v, want [%+v]", l, td)
	}
	c.settle()
}

// TestRegionProcessRestartKeepsItsAddress: a region process restarts at
// the address its peer and the test know, even if something else tried
// to take the port while it was down. The process listened on the port
// again, and did not start when it was taken.
func TestRegionProcessRestartKeepsItsAddress(t *testing.T) {
	p := newRegionProcess(t, east, west, filepath.Join(t.TempDir(), "e"), "http://127.0.0.1:1", newRelay(t))
	p.start(t)
	td := createTodo(t, p.url, "before the restart")
	p.kill(t)
	if takePort(t, strings.TrimPrefix(p.url, "http://")) {
		t.Log("the port was free while the region was down")
	}
	p.start(t)
	if l := listTodos(t, p.url); len(l) != 1 || l[0] != td {
		t.Fatalf("after the restart the east lists %+v, want [%+v]", l, td)
	}
}

// TestConsoleRestartKeepsItsAddress: in embedded mode (go run
// ./examples/todo), a region stopped and started again from the page
// comes back at its address, which its peer and the page know, even if
// something else tried to take the port while it was down. The console
// let the port go with the region and listened again at the start, which
// then failed (409, "address already in use").
func TestConsoleRestartKeepsItsAddress(t *testing.T) {
	c, err := startConsole(consoleConfig{Regions: embeddedRegions, DataDir: t.TempDir(), Clock: newTestClock().now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.shutdown(context.Background()) })
	w := c.url + "/r/eu-west-1"
	td := createTodo(t, w, "before the stop")
	mustStatus(t, do(t, "POST", c.url+"/console/regions/eu-west-1/stop", ""), http.StatusOK)
	st := decode[consoleState](t, do(t, "GET", c.url+"/console/state", ""))
	if takePort(t, strings.TrimPrefix(st.Regions[1].URL, "http://")) {
		t.Log("the port was free while the region was down")
	}
	// While it is down, its address takes no request.
	if r, err := tryDo("GET", st.Regions[1].URL+"/api/todos", ""); err == nil && r.status == http.StatusOK {
		t.Fatalf("a stopped region's address answered %d", r.status)
	}
	r := do(t, "POST", c.url+"/console/regions/eu-west-1/start", "")
	mustStatus(t, r, http.StatusOK)
	if l := listTodos(t, st.Regions[1].URL); len(l) != 1 || l[0] != td {
		t.Fatalf("after the restart the west lists %+v, want [%+v]", l, td)
	}
}
