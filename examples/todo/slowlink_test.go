package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// slowLink is a TCP proxy on loopback standing for a narrow WAN link: it
// carries what clients send at most rate bytes per second, all its
// connections together, and the answers at full speed.
type slowLink struct {
	ln   net.Listener
	rate atomic.Int64 // bytes per second; 0 for no limit

	mu   sync.Mutex
	free time.Time // when the link has carried everything taken so far
}

// newSlowLink starts a slowLink to target ("host:port") carrying rate
// bytes per second; it stops with the test.
func newSlowLink(t *testing.T, target string, rate int) *slowLink {
	t.Helper()
	// A small receive buffer, inherited by the connections it accepts:
	// the link holds little in flight, as a narrow link does, rather than
	// the megabytes loopback would.
	lc := net.ListenConfig{Control: smallBuffer(syscall.SO_RCVBUF)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &slowLink{ln: ln}
	l.rate.Store(int64(rate))
	acceptAll(t, ln, func(k *connKeeper, in net.Conn) {
		out, err := net.Dial("tcp", target)
		if err != nil {
			in.Close()
			return
		}
		k.keep(in, out)
		k.wg.Go(func() {
			_, _ = io.Copy(in, out)
			in.Close()
		})
		k.wg.Go(func() {
			l.carry(out, in)
			out.Close()
		})
	})
	return l
}

// connKeeper holds the connections a test's listener took, and the
// goroutines serving them, until the test ends.
type connKeeper struct {
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// keep holds cs until the test ends.
func (k *connKeeper) keep(cs ...net.Conn) {
	k.mu.Lock()
	k.conns = append(k.conns, cs...)
	k.mu.Unlock()
}

// acceptAll hands every connection ln takes to handle, which keeps those
// it does not close and starts its goroutines with k.wg. When the test
// ends, ln and every kept connection are closed and the goroutines
// waited for.
func acceptAll(t *testing.T, ln net.Listener, handle func(k *connKeeper, c net.Conn)) {
	k := &connKeeper{}
	t.Cleanup(func() {
		ln.Close()
		k.mu.Lock()
		for _, c := range k.conns {
			c.Close()
		}
		k.mu.Unlock()
		k.wg.Wait()
	})
	k.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(k, c)
		}
	})
}

// carry copies src to dst, each piece once the link has had the time to
// carry it at the rate.
func (l *slowLink) carry(dst, src net.Conn) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if rate := l.rate.Load(); rate > 0 {
				l.mu.Lock()
				now := time.Now()
				if l.free.Before(now) {
					l.free = now
				}
				l.free = l.free.Add(time.Duration(n) * time.Second / time.Duration(rate))
				at := l.free
				l.mu.Unlock()
				// The link's pace, not a wait for an event.
				time.Sleep(time.Until(at))
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (l *slowLink) url() string { return "http://" + l.ln.Addr().String() }

// slowCluster starts the two regions with us-east-1 sending to eu-west-1
// through a slowLink of rate bytes per second.
func slowCluster(t *testing.T, rate int) (*cluster, *slowLink) {
	t.Helper()
	var link *slowLink
	c := newCluster(t, func(cfg *regionConfig) {
		if cfg.Name != east {
			// Requests through the link carry its address as their Host.
			cfg.AllowHosts = []string{"127.0.0.1"}
			return
		}
		link = newSlowLink(t, strings.TrimPrefix(cfg.Peers[west], "http://"), rate)
		cfg.Peers = map[crdt.ReplicaID]string{west: link.url()}
	})
	// us-east-1's connections keep little unsent, as over a narrow link,
	// rather than the megabytes loopback would let them: a request given
	// up does not go on crossing the link on its own.
	d := net.Dialer{Timeout: 2 * time.Second, Control: smallBuffer(syscall.SO_SNDBUF)}
	c.region(east).tr.client.Transport.(*http.Transport).DialContext = d.DialContext
	return c, link
}

// smallBuffer returns a socket's Control function that makes its buffer
// opt (SO_SNDBUF or SO_RCVBUF) 16 KiB.
func smallBuffer(opt int) func(_, _ string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 16<<10)
		})
		return errors.Join(err, serr)
	}
}

// writeRandomTodos creates n to-dos in rg, 100 a write, each with a title
// of 500 random hex digits (which compress to about half).
func writeRandomTodos(t *testing.T, rg *region, n int) {
	t.Helper()
	for i := 0; i < n; i += 100 {
		err := rg.write(func() error {
			for j := i; j < min(i+100, n); j++ {
				b := make([]byte, 250)
				_, _ = rand.Read(b)
				if err := rg.todos.create(fmt.Sprintf("%s%06d", newID(time.Now()), j), hex.EncodeToString(b)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// tickUntil ticks us-east-1 and eu-west-1 until eu-west-1 holds n to-dos,
// and fails after limit; it returns how long that took.
func tickUntil(t *testing.T, c *cluster, n int, limit time.Duration, what string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(limit)
	e := c.region(east)
	for c.region(west).todos.count() < n {
		if time.Now().After(deadline) {
			st := e.replica.Stats().Peers[0]
			t.Fatalf("%s: after %v eu-west-1 holds %d of the %d to-dos: us-east-1 sent %d messages (%d bytes), %d send errors, last %q, message limit %d",
				what, time.Since(start).Round(time.Second), c.region(west).todos.count(), n,
				st.MessagesSent, st.BytesSent, st.SendErrors, st.LastSendError, st.MessageLimit)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)+time.Second)
		_ = e.tick(ctx)
		_ = c.region(west).tick(ctx)
		cancel()
	}
	return time.Since(start)
}

// TestSlowLinkDeliversABacklog: while the link was cut, us-east-1 took
// about 1.8 MiB of to-dos, which the engine sends in one message; the link
// carries 256 KiB/s, so the message takes about 7 s to cross, and the
// request is given the time (sendTimeout). Cut off sooner, it would be
// sent again and again, each copy sharing the link with the ones before,
// and never arrive.
func TestSlowLinkDeliversABacklog(t *testing.T) {
	if testing.Short() {
		t.Skip("about 10 s of a slow link")
	}
	const rate, n = 256 << 10, 3400
	c, _ := slowCluster(t, rate)
	c.cut.Store(true)
	writeRandomTodos(t, c.region(east), n)
	c.cut.Store(false)
	took := tickUntil(t, c, n, 25*time.Second, fmt.Sprintf("over a %d KiB/s link", rate>>10))
	st := c.region(east).replica.Stats().Peers[0]
	t.Logf("delivered in %v: %d messages, %d send errors", took.Round(time.Millisecond), st.MessagesSent, st.SendErrors)
}

// TestSlowLinkCatchesUpAfterWipe: eu-west-1 restarts with an empty data
// directory (its key put back) and gets us-east-1's to-dos back in a
// catch-up, about 2.3 MiB of compressed states, over a link of 256 KiB/s:
// messages that take about 9 s to cross, which the request is given
// time for.
func TestSlowLinkCatchesUpAfterWipe(t *testing.T) {
	if testing.Short() {
		t.Skip("about 12 s of a slow link")
	}
	const rate, n = 256 << 10, 8000
	c, link := slowCluster(t, 0)
	writeRandomTodos(t, c.region(east), n)
	c.settle()
	c.crash(west)
	if err := os.RemoveAll(c.cfgs[west].DataDir); err != nil {
		t.Fatal(err)
	}
	link.rate.Store(rate)
	sent := c.region(east).replica.Stats().Peers[0].BytesSent
	c.restart(west)
	took := tickUntil(t, c, n, 30*time.Second, fmt.Sprintf("wiped, over a %d KiB/s link", rate>>10))
	st := c.region(east).replica.Stats().Peers[0]
	t.Logf("caught up in %v: %d bytes, %d send errors", took.Round(time.Millisecond), st.BytesSent-sent, st.SendErrors)
}

// TestTimedOutSendShrinksMessages: a message of more than shrinkAbove
// bytes that a peer's connection does not take in sendTimeout is
// reported as too large (crdt.ErrTooLarge: the engine sends the peer
// smaller messages); a smaller one that times out, and one for a peer
// that cannot be reached at all, are plain errors, so that a dead peer
// does not shrink messages below shrinkAbove.
func TestTimedOutSendShrinksMessages(t *testing.T) {
	// A peer whose connections are taken and never read nor answered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acceptAll(t, ln, func(k *connKeeper, c net.Conn) { k.keep(c) })
	// An address nothing listens on.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()

	tr := newTransport(east, testKey(east), map[crdt.ReplicaID]string{west: "http://" + ln.Addr().String(), "ap-south-1": deadURL},
		map[crdt.ReplicaID]ed25519.PublicKey{west: testPublic(west), "ap-south-1": testPublic("ap-south-1")}, nil, 0)
	t.Cleanup(tr.close)
	for _, tc := range []struct {
		name     string
		to       crdt.ReplicaID
		size     int
		tooLarge bool
	}{
		{"large, unanswered", west, shrinkAbove + 1<<10, true},
		{"small, unanswered", west, 64 << 10, false},
		{"large, unreachable", "ap-south-1", 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			err := tr.Send(context.Background(), tc.to, make([]byte, tc.size))
			took := time.Since(start)
			if err == nil {
				t.Fatalf("a send of %d bytes succeeded", tc.size)
			}
			if got := errors.Is(err, crdt.ErrTooLarge); got != tc.tooLarge {
				t.Errorf("a send of %d bytes failed after %v with %q: too large %v, want %v", tc.size, took.Round(time.Millisecond), err, got, tc.tooLarge)
			}
		})
	}
}
