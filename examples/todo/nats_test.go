package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/nats-io/nats-server/v2/server"
)

// waitTodos polls base until its list satisfies ok, for at most d.
func waitTodos(t *testing.T, base string, d time.Duration, ok func([]Todo) bool) []Todo {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		l := listTodos(t, base)
		if ok(l) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not met within %v; list %+v", base, d, l)
		}
		<-tick.C
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", d, what)
		}
		<-tick.C
	}
}

// holds reports whether list holds td.
func holds(td Todo) func([]Todo) bool {
	return func(l []Todo) bool { return slices.Contains(l, td) }
}

// TestNATSSIGKILL runs two regions as processes replicating through a
// NATS server that the test runs: to-dos written in each region reach
// the other; us-east-1 is killed with SIGKILL while clients write to it
// and restarted on its data directory; every write acknowledged (201) is
// in both regions at the end, with its title, once.
func TestNATSSIGKILL(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	base := t.TempDir()
	rs := newRelays(t, 2)
	natsFlags := []string{"-nats", ns.url, "-nats-prefix", "test.todo"}
	pe := newRegionProcess(t, east, west, filepath.Join(base, "east"), "http://"+rs[1].addr(), rs[0])
	pw := newRegionProcess(t, west, east, filepath.Join(base, "west"), "http://"+rs[0].addr(), rs[1])
	pe.extra, pw.extra = natsFlags, natsFlags
	pe.start(t)
	pw.start(t)
	eURL, wURL := pe.url, pw.url

	// Replication both ways.
	a := createTodo(t, eURL, "from the east")
	b := createTodo(t, wURL, "from the west")
	waitTodos(t, wURL, 10*time.Second, holds(a))
	waitTodos(t, eURL, 10*time.Second, holds(b))
	// Not over HTTP: the regions refuse replication there.
	if r, err := tryDo("POST", eURL+"/replicate", ""); err != nil || r.status != http.StatusNotFound {
		t.Fatalf("POST /replicate over HTTP: %v %v, want 404", r.status, err)
	}

	// Writers on the east until it dies.
	var (
		mu    sync.Mutex
		acked = []Todo{a, b}
	)
	enough := make(chan struct{})
	var once sync.Once
	var writers sync.WaitGroup
	for g := range 3 {
		writers.Go(func() {
			for i := range 300 {
				r, err := tryDo("POST", eURL+"/api/todos", fmt.Sprintf(`{"title":"w%d-%d"}`, g, i))
				if err != nil || r.status != http.StatusCreated {
					return
				}
				mu.Lock()
				acked = append(acked, decode[Todo](t, r))
				if len(acked) >= 40 {
					once.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-enough:
	case <-time.After(15 * time.Second):
		t.Fatal("writers made no progress")
	}
	pe.kill(t)
	writers.Wait()
	t.Logf("%d writes acknowledged before SIGKILL", len(acked))

	during := createTodo(t, wURL, "written while the east is dead")
	acked = append(acked, during)
	pe.start(t)

	want := map[string]Todo{}
	for _, td := range acked {
		want[td.ID] = td
	}
	complete := func(l []Todo) bool {
		seen := map[string]int{}
		for _, td := range l {
			seen[td.ID]++
		}
		for id, td := range want {
			if seen[id] != 1 || !slices.Contains(l, td) {
				return false
			}
		}
		return true
	}
	// Writes sent but not acknowledged before the kill may be there too;
	// complete checks that each acknowledged one is there once.
	waitTodos(t, eURL, 15*time.Second, complete)
	waitTodos(t, wURL, 15*time.Second, complete)
}

// TestRunEmbeddedNATS runs the two-region mode with -nats embedded: one
// region's to-do reaches the other through the NATS server the program
// started, not over HTTP, and everything stops cleanly.
func TestRunEmbeddedNATS(t *testing.T) {
	out := newLines()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-nats", "embedded"}, noEnv, out, &strings.Builder{}) }()
	via := out.waitLine(t, "replication over ")
	if !strings.Contains(via, "NATS at nats://127.0.0.1:") || !strings.Contains(via, "server in this process") {
		t.Fatalf("transport line %q", via)
	}
	natsAddr := strings.TrimPrefix(strings.Fields(strings.SplitN(via, " at ", 2)[1])[0], "nats://")
	dataLine := out.waitLine(t, "data in ")
	data := strings.Fields(strings.TrimPrefix(dataLine, "data in "))[0]
	line := out.waitLine(t, "Open ")
	page := strings.Fields(strings.TrimPrefix(line, "Open "))[0]

	td := createTodo(t, page+"r/us-east-1", "over NATS")
	waitTodos(t, page+"r/eu-west-1", 10*time.Second, func(l []Todo) bool { return len(l) == 1 && l[0] == td })
	if r := do(t, "POST", page+"r/eu-west-1/replicate", ""); r.status != http.StatusNotFound {
		t.Fatalf("POST /replicate over HTTP: %d, want 404", r.status)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data directory %s left behind (%v)", data, err)
	}
	if c, err := net.Dial("tcp", natsAddr); err == nil {
		c.Close()
		t.Errorf("the NATS server on %s still answers after shutdown", natsAddr)
	}
}

// TestNATSReceivedSurvivesCrash: a to-do that a region took in over NATS
// is saved as it arrives, so that it survives a crash of that region even
// when the region that wrote it is gone too.
func TestNATSReceivedSurvivesCrash(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	cfg := func(name, peer crdt.ReplicaID) regionConfig {
		nc, err := connectNATS(ns.url, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return regionConfig{
			Name: name, Peers: map[crdt.ReplicaID]string{peer: "http://127.0.0.1:1"},
			DataDir: filepath.Join(t.TempDir(), string(name)), Key: testKey(name),
			PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{peer: testPublic(peer)},
			Tick:     10 * time.Millisecond, NATS: nc, NATSPrefix: "test",
		}
	}
	cfgE, cfgW := cfg(east, west), cfg(west, east)
	rgE, err := startRegion(cfgE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rgE.crash)
	rgW, err := startRegion(cfgW)
	if err != nil {
		t.Fatal(err)
	}
	td := createTodo(t, rgE.url, "kept by the west")
	waitTodos(t, rgW.url, 10*time.Second, holds(td))
	// The page may show a peer's change a moment before it is saved (see
	// tookRemote); the guarantee under test holds once it is saved.
	gen := rgW.remoteGen.Load()
	waitFor(t, 10*time.Second, "the west to save what it took in", func() bool { return rgW.savedGen.Load() >= gen })
	rgW.crash()
	rgE.crash()

	rgW, err = startRegion(cfgW)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rgW.crash)
	if l := listTodos(t, rgW.url); !slices.Contains(l, td) {
		t.Fatalf("the west lost %+v, taken in over NATS, to a crash: %+v", td, l)
	}
}

// TestNATSForgedRefused: over NATS as over HTTP, a region takes only
// messages signed with its peer's key. A client of the NATS server that
// publishes as us-east-1, unsigned or signed with another key, is refused
// and counted.
func TestNATSForgedRefused(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	nc, err := connectNATS(ns.url, west, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	rgW, err := startRegion(regionConfig{
		Name: west, Peers: map[crdt.ReplicaID]string{east: "http://127.0.0.1:1"},
		DataDir: t.TempDir(), Key: testKey(west),
		PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{east: testPublic(east)},
		NATS:     nc, NATSPrefix: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rgW.crash)
	// The region subscribed before startRegion returned; a round trip on
	// its connection makes sure the server knows, so that nothing the
	// forger publishes is dropped for want of a subscriber.
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	forger, err := connectNATS(ns.url, "forger", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(forger.Close)
	body := []byte("not the engine's bytes")
	now := time.Now().UnixNano()
	forged := make([]byte, envelopeHeader, envelopeHeader+len(body))
	binary.BigEndian.PutUint64(forged, uint64(now))
	copy(forged[8:], ed25519.Sign(testKey(west), signedMessage(east, west, strconv.FormatInt(now, 10), body)))
	forged = append(forged, body...)
	for _, msg := range [][]byte{body, forged} {
		if err := forger.Publish("test.eu-west-1.us-east-1", msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := forger.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		v, _ := metricValue(t, rgW.url, "crdt_replication_refused_total", "peer", "us-east-1", "reason", "unauthenticated")
		if v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused %v forged messages, want 2", v)
		}
		<-tick.C
	}
	for _, p := range rgW.replica.Stats().Peers {
		if p.MessagesReceived != 0 {
			t.Fatalf("the engine took in %d forged messages from %s", p.MessagesReceived, p.Peer)
		}
	}
	// Over NATS, the engine sends nothing larger than the server takes,
	// the envelope included, though its MaxMessageBytes is larger: it
	// reads the limit at its next tick.
	if err := rgW.tick(context.Background()); err != nil {
		t.Logf("tick: %v", err) // east is not there: its sends fail
	}
	if got, want := rgW.replica.Stats().Peers[0].MessageLimit, natsMaxPayload-4096-envelopeHeader; got != want {
		t.Fatalf("the engine sends messages of up to %d bytes over NATS, want %d", got, want)
	}
}

// TestNATSPause: pausing the link of a region process works over NATS as
// over HTTP: while us-east-1 has paused its link to eu-west-1, it sends
// nothing and drops what eu-west-1 publishes; once resumed, they converge.
func TestNATSPause(t *testing.T) {
	_, e, w := natsRegions(t)

	mustStatus(t, do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":true}`), http.StatusOK)
	errsE, _ := metricValue(t, e.url, "crdt_replication_send_errors_total")
	sentW, _ := metricValue(t, w.url, "crdt_replication_messages_sent_total")
	fromE, fromW := createTodo(t, e.url, "east while paused"), createTodo(t, w.url, "west while paused")
	// us-east-1 fails to send twice; eu-west-1 publishes its write (and
	// sends it again, unacknowledged) several times.
	waitMetricAbove(t, e.url, "crdt_replication_send_errors_total", errsE+2)
	waitMetricAbove(t, w.url, "crdt_replication_messages_sent_total", sentW+5)
	if _, ok := byID(listTodos(t, w.url))[fromE.ID]; ok {
		t.Error("a write in us-east-1 reached eu-west-1 while paused")
	}
	if _, ok := byID(listTodos(t, e.url))[fromW.ID]; ok {
		t.Error("a write in eu-west-1 reached us-east-1 while paused")
	}
	mustStatus(t, do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":false}`), http.StatusOK)
	waitSame(t, e.url, w.url, 3)
}

// TestRunRegionNATSEmbedded runs one region with -nats embedded, hosting
// the NATS server, and a second region that connects to it: a to-do
// replicates, and the server stops with the region.
func TestRunRegionNATSEmbedded(t *testing.T) {
	dataE := t.TempDir()
	if err := os.WriteFile(filepath.Join(dataE, keyFile), []byte(hex.EncodeToString(testKey(east).Seed())), 0o600); err != nil {
		t.Fatal(err)
	}
	lnW, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	out := newLines()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-region", "us-east-1", "-data", dataE, "-tick", "10ms",
			"-peer", "eu-west-1=http://" + lnW.Addr().String(), "-peer-key", "eu-west-1=" + westKeyHex,
			"-nats", "embedded", "-nats-listen", "127.0.0.1:0"}, noEnv, out, &strings.Builder{})
	}()
	line := out.waitLine(t, "serving on ")
	eURL := strings.Fields(strings.SplitN(line, "serving on ", 2)[1])[0]
	via := out.waitLine(t, "replication over ")
	if !strings.Contains(via, "server in this process") {
		t.Fatalf("transport line %q", via)
	}
	natsURL := strings.Fields(strings.SplitN(via, " at ", 2)[1])[0]

	nc, err := connectNATS(natsURL, west, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	rgW, err := startRegion(regionConfig{
		Name: west, Peers: map[crdt.ReplicaID]string{east: eURL}, DataDir: t.TempDir(),
		Key: testKey(west), PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{east: testPublic(east)},
		Tick: 10 * time.Millisecond, NATS: nc, NATSPrefix: defaultNATSPrefix, listener: lnW,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rgW.crash)
	td := createTodo(t, eURL, "hosted")
	waitTodos(t, rgW.url, 10*time.Second, holds(td))

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if c, err := net.Dial("tcp", strings.TrimPrefix(natsURL, "nats://")); err == nil {
		c.Close()
		t.Errorf("the NATS server at %s still answers after the region stopped", natsURL)
	}
}

// TestNATSMaxPayloadLoweredByReload: the operator lowers the NATS
// server's max_payload from 4 MiB to 8 KiB by reloading its configuration
// rather than restarting it, while us-east-1 holds a run of 150 to-dos
// for eu-west-1 (its link paused). A reload tells the connected clients
// nothing, so us-east-1 sends the run in a message of more than 8 KiB,
// and the server closes its connection, which the NATS client does not
// reconnect. The region makes a new connection, which learns the new
// limit, and the regions converge.
//
// Before, us-east-1 never replicated again until it was restarted.
func TestNATSMaxPayloadLoweredByReload(t *testing.T) {
	ns, e, w := natsRegions(t)

	mustStatus(t, do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":true}`), http.StatusOK)
	for i := range 150 {
		createTodo(t, e.url, fmt.Sprintf("written while the link was paused, number %03d", i))
	}
	port := ns.srv.Addr().(*net.TCPAddr).Port
	if err := ns.srv.ReloadOptions(&server.Options{Host: "127.0.0.1", Port: port, MaxPayload: 8 << 10, NoLog: true, NoSigs: true}); err != nil {
		t.Fatal(err)
	}
	mustStatus(t, do(t, "POST", e.url+"/api/peers/eu-west-1/link", `{"paused":false}`), http.StatusOK)
	waitSame(t, e.url, w.url, 151)
	if v, ok := metricValue(t, e.url, "crdt_replication_message_limit_bytes", "peer", string(west)); !ok || v > 8<<10 {
		t.Errorf("us-east-1 sends messages of up to %v bytes (found %v), want at most the server's 8 KiB", v, ok)
	}
}

// natsRegions starts a NATS server and the processes of us-east-1 and
// eu-west-1 replicating over it, and waits until a to-do written in the
// first is in both.
func natsRegions(t *testing.T) (*natsServer, *regionProcess, *regionProcess) {
	t.Helper()
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	rs := newRelays(t, 2)
	dir := t.TempDir()
	e := newRegionProcess(t, east, west, filepath.Join(dir, "e"), "http://"+rs[1].addr(), rs[0])
	w := newRegionProcess(t, west, east, filepath.Join(dir, "w"), "http://"+rs[0].addr(), rs[1])
	e.extra = []string{"-nats", ns.url}
	w.extra = e.extra
	e.start(t)
	w.start(t)
	createTodo(t, e.url, "one")
	waitSame(t, e.url, w.url, 1)
	return ns, e, w
}
