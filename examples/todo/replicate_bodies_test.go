package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

const south = crdt.ReplicaID("ap-south-1")

// trickle opens a connection to the region at base and sends a
// replication request with the headers given, announcing a body of 1 MB
// of which it sends one byte; the connection closes with the test.
func trickle(t *testing.T, base string, header http.Header) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	cn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cn.Close() })
	var b strings.Builder
	fmt.Fprintf(&b, "POST /replicate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000\r\n", addr)
	for k := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, header.Get(k))
	}
	b.WriteString("\r\nx")
	if _, err := cn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	return cn
}

// answerOf reads the answer to the request sent on cn, waiting at most
// limit.
func answerOf(t *testing.T, cn net.Conn, limit time.Duration) (int, error) {
	t.Helper()
	_ = cn.SetReadDeadline(time.Now().Add(limit))
	resp, err := http.ReadResponse(bufio.NewReader(cn), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// delivered ticks the cluster until the region to holds the to-do id, or
// fails after limit.
func delivered(t *testing.T, c *cluster, from, to crdt.ReplicaID, id string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		c.tickAll()
		if _, ok := c.region(to).todos.get(id); ok {
			return
		}
		if time.Now().After(deadline) {
			for _, st := range c.region(from).replica.Stats().Peers {
				if st.Peer == to {
					t.Fatalf("%s never got %s: %s has %d send errors, last %q", to, id, from, st.SendErrors, st.LastSendError)
				}
			}
			t.Fatalf("%s never got %s", to, id)
		}
		runtime.Gosched()
	}
}

// TestForgedSlowBodiesDoNotStallReplication: a stranger who knows only a
// peer's name sends /replicate requests in that name with a made-up
// signature and trickles their bodies. The signature covers the headers
// (the body's digest among them), so each is refused at once, 401, and
// counted, and holds nothing while the peer's messages come in.
func TestForgedSlowBodiesDoNotStallReplication(t *testing.T) {
	c := newCluster(t, nil)
	w := c.url(west)
	forged := http.Header{}
	forged.Set(headerFrom, string(east))
	forged.Set(headerTime, fmt.Sprint(time.Now().UnixNano()))
	forged.Set(headerDigest, strings.Repeat("00", 32))
	forged.Set(headerSignature, strings.Repeat("00", 64))
	var conns []net.Conn
	for range defaultLimits.ReplicateBodies + 1 {
		conns = append(conns, trickle(t, w, forged))
	}
	td := createTodo(t, c.url(east), "sent while a stranger trickles bodies")
	// Well under the server's read timeout (30 s), which used to bound
	// how long each forged body held a place.
	delivered(t, c, east, west, td.ID, 10*time.Second)
	for i, cn := range conns {
		if status, err := answerOf(t, cn, 5*time.Second); status != http.StatusUnauthorized {
			t.Errorf("forged request %d: status %d (%v), want 401 at once", i, status, err)
		}
	}
	if n, _ := metricValue(t, w, "crdt_replication_refused_total", "peer", string(east), "reason", "unauthenticated"); n != float64(len(conns)) {
		t.Errorf("crdt_replication_refused_total{peer=%q,reason=\"unauthenticated\"} = %v, want %d", east, n, len(conns))
	}
}

// TestSlowBodiesOfOnePeerDoNotStallAnother: copies of a request signed by
// ap-south-1 (replays of a request seen on the wire, or a peer that sends
// too slowly) trickle their bodies into eu-west-1. They hold ap-south-1's
// places only: the one beyond them is refused, 503, and counted as
// "busy", while us-east-1's messages still come in.
func TestSlowBodiesOfOnePeerDoNotStallAnother(t *testing.T) {
	c := newCluster(t, nil, east, west, south)
	w := c.url(west)
	req := signedRequest(t, w, testKey(south), south, west, time.Now(), make([]byte, 1000000), nil)
	var conns []net.Conn
	for range defaultLimits.ReplicateBodies + 1 {
		conns = append(conns, trickle(t, w, req.Header))
	}
	// One of them, whichever came last to the places, is refused.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := metricValue(t, w, "crdt_replication_refused_total", "peer", string(south), "reason", "busy")
		if n == 1 {
			break
		}
		if n > 1 || time.Now().After(deadline) {
			t.Fatalf("crdt_replication_refused_total{peer=%q,reason=\"busy\"} = %v, want 1", south, n)
		}
		runtime.Gosched()
	}
	refused := 0
	for _, cn := range conns {
		// The refused one's answer is already there; the others have none.
		if status, _ := answerOf(t, cn, 200*time.Millisecond); status == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("%d of %d requests of ap-south-1 refused with 503, want 1", refused, len(conns))
	}
	td := createTodo(t, c.url(east), "sent while ap-south-1's bodies trickle")
	delivered(t, c, east, west, td.ID, 10*time.Second)
}
