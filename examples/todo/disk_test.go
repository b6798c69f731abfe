package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// The disk accidents of issue 8, with us-east-1 as a real process: it
// comes back with an empty data directory, or with an older copy of it,
// while the link to eu-west-1 is cut, and both regions take to-dos before
// the link heals. A region restarted like that must not reuse its former
// run's identity: if it did, its new changes would carry the same
// identity and sequence numbers as changes eu-west-1 already holds, and
// eu-west-1 would take them for those (to-dos lost, or without their
// title). Every to-do acknowledged before and after must end up in both
// regions, whole and once.

// TestDiskAccidentEmptyDataDir: us-east-1 is killed and restarts with an
// empty data directory (only its key put back, as an operator restores
// it from where keys are kept).
func TestDiskAccidentEmptyDataDir(t *testing.T) {
	a := newAccident(t)
	acked := a.before(t)
	a.east.kill(t)
	a.cutLink(true)
	if err := os.RemoveAll(a.eastDir); err != nil {
		t.Fatal(err)
	}
	a.east.writeKey(t)
	a.east.start(t)
	if n := len(listTodos(t, a.east.url)); n != 0 {
		t.Fatalf("us-east-1 restarted on an empty directory lists %d to-dos while cut off", n)
	}
	acked = append(acked, a.during(t)...)
	a.cutLink(false)
	a.converge(t, acked)
}

// TestDiskAccidentOlderDataDir: us-east-1 restarts from a copy of its
// data directory taken before it acknowledged more to-dos, which reached
// eu-west-1.
func TestDiskAccidentOlderDataDir(t *testing.T) {
	a := newAccident(t)
	acked := a.before(t)
	a.east.kill(t)
	backup := filepath.Join(t.TempDir(), "backup")
	copyDir(t, a.eastDir, backup)
	a.east.start(t)
	for i := range 5 {
		acked = append(acked, createTodo(t, a.east.url, fmt.Sprintf("east after the backup %d", i)))
	}
	a.converge(t, acked)
	a.east.kill(t)
	a.cutLink(true)
	if err := os.RemoveAll(a.eastDir); err != nil {
		t.Fatal(err)
	}
	copyDir(t, backup, a.eastDir)
	a.east.start(t)
	if n, all := len(listTodos(t, a.east.url)), len(acked); n >= all {
		t.Fatalf("us-east-1 restarted from the older copy lists %d to-dos while cut off, want fewer than %d", n, all)
	}
	acked = append(acked, a.during(t)...)
	a.cutLink(false)
	a.converge(t, acked)
}

// accident is us-east-1 as a child process and eu-west-1 in this
// process, with a link between them the test can cut both ways.
type accident struct {
	east    *regionProcess
	eastDir string
	west    *region
	cut     atomic.Bool
}

func newAccident(t *testing.T) *accident {
	t.Helper()
	a := &accident{eastDir: filepath.Join(t.TempDir(), "us-east-1")}
	lnW, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wURL := "http://" + lnW.Addr().String()
	// us-east-1 reaches eu-west-1 through a relay that refuses while the
	// link is cut; eu-west-1's own sends fail while it is cut.
	target, _ := url.Parse(wURL)
	relay := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.cut.Load() {
			http.Error(w, "link cut", http.StatusServiceUnavailable)
			return
		}
		relay.ServeHTTP(w, r)
	}))
	t.Cleanup(link.Close)
	a.east = newRegionProcess(t, east, west, a.eastDir, link.URL, newRelay(t))
	a.east.start(t)

	a.west, err = startRegion(regionConfig{
		Name: west, Peers: map[crdt.ReplicaID]string{east: a.east.url}, DataDir: t.TempDir(),
		Key: testKey(west), PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{east: testPublic(east)},
		Tick: 10 * time.Millisecond, listener: lnW,
		Blocked: func(crdt.ReplicaID) bool { return a.cut.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.west.crash)
	return a
}

func (a *accident) cutLink(cut bool) { a.cut.Store(cut) }

// before has both regions take to-dos and waits until they converge.
func (a *accident) before(t *testing.T) []Todo {
	t.Helper()
	var acked []Todo
	for i := range 5 {
		acked = append(acked,
			createTodo(t, a.east.url, fmt.Sprintf("east before %d", i)),
			createTodo(t, a.west.url, fmt.Sprintf("west before %d", i)))
	}
	a.converge(t, acked)
	return acked
}

// during has both regions take to-dos while the link is cut.
func (a *accident) during(t *testing.T) []Todo {
	t.Helper()
	var acked []Todo
	for i := range 5 {
		acked = append(acked,
			createTodo(t, a.east.url, fmt.Sprintf("east after the accident %d", i)),
			createTodo(t, a.west.url, fmt.Sprintf("west after the accident %d", i)))
	}
	return acked
}

// converge waits until both regions list the same to-dos, exactly the
// acknowledged ones, or fails after a deadline.
func (a *accident) converge(t *testing.T, acked []Todo) {
	t.Helper()
	want := slices.Clone(acked)
	slices.SortFunc(want, func(x, y Todo) int { return strings.Compare(x.ID, y.ID) })
	sorted := func(l []Todo) []Todo {
		slices.SortFunc(l, func(x, y Todo) int { return strings.Compare(x.ID, y.ID) })
		return l
	}
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	for {
		le, lw := sorted(listTodos(t, a.east.url)), sorted(listTodos(t, a.west.url))
		if slices.Equal(le, want) && slices.Equal(lw, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("regions did not converge on the %d acknowledged to-dos:\n%s\n%s",
				len(want), todoDiff("us-east-1", le, want), todoDiff("eu-west-1", lw, want))
		}
		<-poll.C
	}
}

// todoDiff describes how list differs from want.
func todoDiff(name string, list, want []Todo) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lists %d:", name, len(list))
	got := map[string]int{}
	for _, td := range list {
		got[td.ID]++
	}
	have := byID(list)
	for _, td := range want {
		switch {
		case got[td.ID] == 0:
			fmt.Fprintf(&b, "\n  missing %+v", td)
		case have[td.ID] != td:
			fmt.Fprintf(&b, "\n  %+v shows as %+v", td, have[td.ID])
		}
	}
	wanted := byID(want)
	for id, n := range got {
		if _, ok := wanted[id]; !ok || n > 1 {
			fmt.Fprintf(&b, "\n  unexpected %+v (listed %d times)", have[id], n)
		}
	}
	return b.String()
}

// regionProcess runs a region as a child process (this test binary,
// running the program) on its data directory, with one peer. It answers
// at its relay's address, whatever port each run listens on.
type regionProcess struct {
	name, peer   crdt.ReplicaID
	dir, peerURL string
	relay        *relay
	extra        []string // more flags for every start
	url          string
	runs         int
	cmd          *exec.Cmd
	stderr       *syncWriter
	logs         strings.Builder
}

// newRegionProcess returns the process of region name, whose peer answers
// at peerURL, with its key testKey(name) in dir, answering at r's
// address; it is not started yet.
func newRegionProcess(t *testing.T, name, peer crdt.ReplicaID, dir, peerURL string, r *relay) *regionProcess {
	t.Helper()
	p := &regionProcess{name: name, peer: peer, dir: dir, peerURL: peerURL, relay: r, url: "http://" + r.addr()}
	p.writeKey(t)
	t.Cleanup(func() { p.stop(t) })
	return p
}

// writeKey puts the region's key in its data directory.
func (p *regionProcess) writeKey(t *testing.T) {
	t.Helper()
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.dir, keyFile), []byte(hex.EncodeToString(testKey(p.name).Seed())), 0o600); err != nil {
		t.Fatal(err)
	}
}

// start runs the region and waits until it serves; it answers at its
// relay's address from then on.
func (p *regionProcess) start(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	cmd := exec.Command(exe, "-region", string(p.name), "-listen", "127.0.0.1:0", "-allow-host", p.relay.addr(), "-data", p.dir,
		"-peer", string(p.peer)+"="+p.peerURL, "-peer-key", string(p.peer)+"="+hex.EncodeToString(testPublic(p.peer)),
		"-tick", "10ms")
	cmd.Args = append(cmd.Args, p.extra...)
	cmd.Env = append(os.Environ(), "TODO_TEST_MAIN=1")
	out := newLines()
	cmd.Stdout = out
	p.runs++
	fmt.Fprintf(&p.logs, "--- run %d\n", p.runs)
	p.stderr = &syncWriter{w: &strings.Builder{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	line := out.waitLine(t, "serving on ")
	u := strings.Fields(strings.SplitN(line, "serving on ", 2)[1])[0]
	p.relay.setTarget(strings.TrimPrefix(u, "http://"))
}

// kill ends the process with SIGKILL.
func (p *regionProcess) kill(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	p.relay.setTarget("")
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	p.stderr.mu.Lock()
	p.logs.WriteString(p.stderr.w.String())
	p.stderr.mu.Unlock()
	p.cmd = nil
}

// stop kills the process if it runs, and shows its logs if the test
// failed.
func (p *regionProcess) stop(t *testing.T) {
	p.kill(t)
	if t.Failed() {
		t.Logf("%s process logs:\n%s", p.name, p.logs.String())
	}
}

// copyDir copies the files of directory src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			t.Fatalf("%s: not a regular file", e.Name())
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}
