package main

import (
	"net"
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
