package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// natsPair starts us-east-1 and eu-west-1 in this process, replicating
// through the NATS server at url, ticked by the test.
func natsPair(t *testing.T, url string) (map[crdt.ReplicaID]*region, map[crdt.ReplicaID]*nats.Conn) {
	t.Helper()
	rgs := map[crdt.ReplicaID]*region{}
	ncs := map[crdt.ReplicaID]*nats.Conn{}
	dir := t.TempDir()
	for _, p := range [][2]crdt.ReplicaID{{east, west}, {west, east}} {
		name, peer := p[0], p[1]
		nc, err := connectNATS(url, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		rg, err := startRegion(regionConfig{
			Name: name, Peers: map[crdt.ReplicaID]string{peer: "http://127.0.0.1:1"},
			DataDir: filepath.Join(dir, string(name)), Key: testKey(name),
			PeerKeys: map[crdt.ReplicaID]ed25519.PublicKey{peer: testPublic(peer)},
			NATS:     nc, NATSPrefix: "test",
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rg.crash)
		rgs[name], ncs[name] = rg, nc
	}
	return rgs, ncs
}

// natsSettle ticks both regions until they list the same to-dos with no
// op pending, waiting for NATS to deliver between rounds.
func natsSettle(t *testing.T, rgs map[crdt.ReplicaID]*region) []Todo {
	t.Helper()
	var list []Todo
	waitFor(t, 20*time.Second, "the regions to converge over NATS", func() bool {
		for _, rg := range rgs {
			_ = rg.tick(context.Background())
		}
		le, lw := rgs[east].todos.list(), rgs[west].todos.list()
		for _, rg := range rgs {
			for _, p := range rg.replica.Stats().Peers {
				if p.PendingOps > 0 {
					return false
				}
			}
		}
		list = le
		return slices.Equal(le, lw)
	})
	return list
}

// TestNATSServerRestartedMidRun: the NATS server stops while both regions
// take writes, and comes back on the same address; the regions reconnect
// and converge on every write.
func TestNATSServerRestartedMidRun(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ns.srv.Addr().(*net.TCPAddr).String()
	rgs, ncs := natsPair(t, ns.url)
	createTodo(t, rgs[east].url, "before")
	natsSettle(t, rgs)
	ns.stop()
	for i := range 5 {
		createTodo(t, rgs[east].url, fmt.Sprintf("east while NATS is down %d", i))
		createTodo(t, rgs[west].url, fmt.Sprintf("west while NATS is down %d", i))
		for _, rg := range rgs {
			_ = rg.tick(context.Background())
		}
	}
	ns2, err := startNATSServer(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns2.stop)
	for n, nc := range ncs {
		waitFor(t, 10*time.Second, string(n)+" to reconnect", nc.IsConnected)
	}
	if got := natsSettle(t, rgs); len(got) != 11 {
		t.Fatalf("converged on %d to-dos, want 11: %+v", len(got), got)
	}
}

// TestNATSServerRestartedWithASmallerMaxPayload: the NATS server comes
// back with a max_payload of 8 KiB, smaller than what the regions wrote
// while it was down takes in one message; they learn the new limit and
// converge.
func TestNATSServerRestartedWithASmallerMaxPayload(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ns.srv.Addr().(*net.TCPAddr).Port
	rgs, ncs := natsPair(t, ns.url)
	createTodo(t, rgs[east].url, "before")
	natsSettle(t, rgs)
	ns.stop()
	for i := range 100 {
		createTodo(t, rgs[east].url, fmt.Sprintf("east while NATS is down, a title long enough to fill a message quickly %d", i))
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, MaxPayload: 8 << 10, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	for n, nc := range ncs {
		waitFor(t, 10*time.Second, string(n)+" to reconnect", nc.IsConnected)
	}
	if got := natsSettle(t, rgs); len(got) != 101 {
		t.Fatalf("converged on %d to-dos, want 101", len(got))
	}
}
