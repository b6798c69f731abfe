package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// TestMain lets a test run the program itself as a child process (see
// TestSIGKILL): with TODO_TEST_MAIN=1 the test binary is the program.
func TestMain(m *testing.M) {
	if os.Getenv("TODO_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	east = crdt.ReplicaID("us-east-1")
	west = crdt.ReplicaID("eu-west-1")
)

// testKey is the private key of a region in the tests, made from its
// name.
func testKey(name crdt.ReplicaID) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("test key of " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testPublic(name crdt.ReplicaID) ed25519.PublicKey {
	return testKey(name).Public().(ed25519.PublicKey)
}

// testClock is a physical time source the test moves by hand, so that
// which of two concurrent writes is later is the test's choice.
type testClock struct {
	base int64
	off  atomic.Int64
}

func newTestClock() *testClock { return &testClock{base: time.Now().UnixNano()} }

func (c *testClock) now() int64              { return c.base + c.off.Load() }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

// cluster is a set of regions serving on loopback inside the test. Its
// regions tick only when the test says (tickAll, settle).
type cluster struct {
	t       testing.TB
	clk     *testClock
	cut     atomic.Bool
	mu      sync.Mutex
	cfgs    map[crdt.ReplicaID]regionConfig
	regions map[crdt.ReplicaID]*region
	// ports holds each region's port for the whole test (see
	// heldListener), so that a restart finds it free.
	ports map[crdt.ReplicaID]*heldListener
}

// newCluster starts regions named names, every one a peer of every other,
// each with its key testKey(name) and knowing the others' public keys;
// tweak, if not nil, may change each region's configuration first.
func newCluster(t testing.TB, tweak func(*regionConfig), names ...crdt.ReplicaID) *cluster {
	t.Helper()
	if len(names) == 0 {
		names = []crdt.ReplicaID{east, west}
	}
	c := &cluster{t: t, clk: newTestClock(), cfgs: map[crdt.ReplicaID]regionConfig{}, regions: map[crdt.ReplicaID]*region{},
		ports: map[crdt.ReplicaID]*heldListener{}}
	urls := map[crdt.ReplicaID]string{}
	for _, n := range names {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		h := holdListener(ln)
		t.Cleanup(h.close)
		c.ports[n] = h
		urls[n] = "http://" + ln.Addr().String()
	}
	dir := t.TempDir()
	for _, n := range names {
		peers := maps.Clone(urls)
		delete(peers, n)
		peerKeys := map[crdt.ReplicaID]ed25519.PublicKey{}
		for p := range peers {
			peerKeys[p] = testPublic(p)
		}
		cfg := regionConfig{
			Name:     n,
			Listen:   strings.TrimPrefix(urls[n], "http://"),
			Peers:    peers,
			PeerKeys: peerKeys,
			Key:      testKey(n),
			DataDir:  filepath.Join(dir, string(n)),
			Clock:    c.clk.now,
			Blocked:  func(crdt.ReplicaID) bool { return c.cut.Load() },
		}
		if tweak != nil {
			tweak(&cfg)
		}
		c.cfgs[n] = cfg
		rg, err := c.start(n)
		if err != nil {
			t.Fatal(err)
		}
		c.regions[n] = rg
	}
	t.Cleanup(func() {
		for _, n := range names {
			if rg := c.region(n); rg != nil {
				rg.crash()
			}
		}
	})
	return c
}

func (c *cluster) region(n crdt.ReplicaID) *region {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.regions[n]
}

func (c *cluster) url(n crdt.ReplicaID) string { return "http://" + c.cfgs[n].Listen }

// crash stops a region like a crash (no final snapshot). The test
// client's idle connections go too: the region closed its ends, and a
// request sent on one before the client noticed would fail with EOF (a
// POST is not sent again), though the region is back by then.
func (c *cluster) crash(n crdt.ReplicaID) {
	c.mu.Lock()
	rg := c.regions[n]
	c.regions[n] = nil
	c.mu.Unlock()
	rg.crash()
	testClient.CloseIdleConnections()
}

// start starts region n with its configuration, on the port the cluster
// keeps for it.
func (c *cluster) start(n crdt.ReplicaID) (*region, error) {
	cfg := c.cfgs[n]
	cfg.listener = c.ports[n].view()
	return startRegion(cfg)
}

// restart starts a crashed region again on its data directory and address.
func (c *cluster) restart(n crdt.ReplicaID) *region {
	c.t.Helper()
	rg, err := c.start(n)
	if err != nil {
		c.t.Fatalf("restarting %s: %v", n, err)
	}
	c.mu.Lock()
	c.regions[n] = rg
	c.mu.Unlock()
	return rg
}

// tickAll runs one engine round in every running region.
func (c *cluster) tickAll() {
	c.mu.Lock()
	rs := slices.Collect(maps.Values(c.regions))
	c.mu.Unlock()
	for _, rg := range rs {
		if rg != nil {
			_ = rg.tick(context.Background())
		}
	}
}

// settle ticks every region until they all list the same to-dos and
// every peer has acknowledged every op, or fails after a deadline.
func (c *cluster) settle() []Todo {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c.tickAll()
		if list, ok := c.converged(); ok {
			return list
		}
		if time.Now().After(deadline) {
			for n, rg := range c.regions {
				if rg != nil {
					c.t.Logf("%s: %+v\nstats %+v", n, rg.todos.list(), rg.replica.Stats())
				}
			}
			c.t.Fatal("regions did not converge")
		}
		runtime.Gosched()
	}
}

func (c *cluster) converged() ([]Todo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first []Todo
	i := 0
	for _, rg := range c.regions {
		if rg == nil {
			return nil, false
		}
		for _, p := range rg.replica.Stats().Peers {
			if p.PendingOps > 0 {
				return nil, false
			}
		}
		list := rg.todos.list()
		if i > 0 && !slices.Equal(list, first) {
			return nil, false
		}
		first = list
		i++
	}
	return first, true
}

// HTTP helpers.

var testClient = &http.Client{Timeout: 10 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, method, url, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if method == "POST" || method == "PATCH" || method == "PUT" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func decode[T any](t testing.TB, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decoding %q: %v", r.body, err)
	}
	return v
}

func mustStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}

func createTodo(t testing.TB, base, title string) Todo {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"title": title})
	r := do(t, "POST", base+"/api/todos", string(b))
	mustStatus(t, r, http.StatusCreated)
	td := decode[Todo](t, r)
	if td.Title != strings.TrimSpace(title) || td.Done || td.ID == "" {
		t.Fatalf("created %+v for title %q", td, title)
	}
	return td
}

func patchTodo(t *testing.T, base, id, body string) Todo {
	t.Helper()
	r := do(t, "PATCH", base+"/api/todos/"+id, body)
	mustStatus(t, r, http.StatusOK)
	return decode[Todo](t, r)
}

func deleteTodo(t *testing.T, base, id string) {
	t.Helper()
	mustStatus(t, do(t, "DELETE", base+"/api/todos/"+id, ""), http.StatusNoContent)
}

func listTodos(t *testing.T, base string) []Todo {
	t.Helper()
	r := do(t, "GET", base+"/api/todos", "")
	mustStatus(t, r, http.StatusOK)
	return decode[[]Todo](t, r)
}

// metricValue returns the value of the sample of name whose labels
// include every label given ("k", "v" pairs), summed, and whether any
// sample matched.
func metricValue(t *testing.T, base, name string, labels ...string) (float64, bool) {
	t.Helper()
	r := do(t, "GET", base+"/metrics", "")
	mustStatus(t, r, http.StatusOK)
	var sum float64
	found := false
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(line, labels[i]+`="`+labels[i+1]+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
		found = true
	}
	return sum, found
}

func byID(list []Todo) map[string]Todo {
	m := map[string]Todo{}
	for _, td := range list {
		m[td.ID] = td
	}
	return m
}
