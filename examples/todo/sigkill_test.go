package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// TestSIGKILL runs the us-east-1 region as a real process (this test
// binary, running the program), kills it with SIGKILL while clients write
// to it, writes to eu-west-1 while it is down, and restarts it on its data
// directory: nothing acknowledged is lost, and both regions converge.
func TestSIGKILL(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Skip("cannot find the test binary:", err)
	}
	lnW, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wURL := "http://" + lnW.Addr().String()
	dataE := filepath.Join(t.TempDir(), "us-east-1")

	if err := os.MkdirAll(dataE, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dataE, keyFile), []byte(hex.EncodeToString(testKey(east).Seed())), 0o600); err != nil {
		t.Fatal(err)
	}
	// The east answers at the relay's address, whatever port each run
	// listens on.
	relayE := newRelay(t)
	eURL := "http://" + relayE.addr()
	startEast := func() *exec.Cmd {
		t.Helper()
		cmd := exec.Command(exe, "-region", "us-east-1", "-listen", "127.0.0.1:0", "-allow-host", relayE.addr(), "-data", dataE,
			"-peer", "eu-west-1="+wURL, "-peer-key", "eu-west-1="+westKeyHex, "-tick", "10ms")
		cmd.Env = append(os.Environ(), "TODO_TEST_MAIN=1")
		out := newLines()
		cmd.Stdout = out
		var stderr strings.Builder
		cmd.Stderr = &syncWriter{w: &stderr}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("us-east-1 process log:\n%s", stderr.String())
			}
		})
		line := out.waitLine(t, "serving on ")
		relayE.setTarget(strings.TrimPrefix(strings.Fields(strings.SplitN(line, "serving on ", 2)[1])[0], "http://"))
		return cmd
	}
	cmdE := startEast()

	westRg, err := startRegion(regionConfig{
		Name: west, Peers: map[crdt.ReplicaID]string{east: eURL}, DataDir: t.TempDir(),
		Key: testKey(west), PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{east: testPublic(east)},
		Tick: 10 * time.Millisecond, listener: lnW,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(westRg.crash)

	// Writers on the east until it dies.
	var (
		mu    sync.Mutex
		acked []Todo
	)
	enough := make(chan struct{})
	var once sync.Once
	var writers sync.WaitGroup
	for g := range 3 {
		writers.Go(func() {
			for i := range 200 {
				r, err := tryDo("POST", eURL+"/api/todos", fmt.Sprintf(`{"title":"w%d-%d"}`, g, i))
				if err != nil || r.status != http.StatusCreated {
					return
				}
				mu.Lock()
				acked = append(acked, decode[Todo](t, r))
				if len(acked) >= 30 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(30 * time.Second):
		t.Fatal("writers made no progress")
	}
	relayE.setTarget("")
	if err := cmdE.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmdE.Wait()
	writers.Wait()
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	// The west serves on.
	during := createTodo(t, wURL, "written while the east is dead")

	startEast()
	got := byID(listTodos(t, eURL))
	for _, td := range acked {
		if got[td.ID] != td {
			t.Errorf("acknowledged %+v lost to SIGKILL (now %+v)", td, got[td.ID])
		}
	}

	// Converge: wait on both regions' change events.
	evE, evW := openEvents(t, eURL+"/api/events"), openEvents(t, wURL+"/api/events")
	deadline := time.After(30 * time.Second)
	for {
		le, lw := listTodos(t, eURL), listTodos(t, wURL)
		if slices.Equal(le, lw) && byID(le)[during.ID] == during {
			ids := byID(le)
			for _, td := range acked {
				if _, ok := ids[td.ID]; !ok {
					t.Fatalf("acknowledged %+v missing after convergence", td)
				}
			}
			return
		}
		select {
		case <-evE.ch:
		case <-evW.ch:
		case <-deadline:
			t.Fatalf("no convergence:\neast %+v\nwest %+v", le, lw)
		}
	}
}

// syncWriter serializes writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
