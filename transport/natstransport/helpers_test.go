package natstransport_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// failer is what the helpers need of *testing.T, *testing.B and *rapid.T.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

// patience bounds every wait for the network; on loopback everything
// takes milliseconds, so reaching it means something is broken.
const patience = 10 * time.Second

// testServer is a NATS server running in this process on loopback, which
// a test can stop and start again on the same port.
type testServer struct {
	t    failer
	opts server.Options
	srv  *server.Server
}

// startServer starts a server on a random loopback port, with opts's
// other settings (nil for the defaults).
func startServer(t failer, opts *server.Options) *testServer {
	t.Helper()
	s := &testServer{t: t}
	if opts != nil {
		s.opts = *opts
	}
	s.opts.Host, s.opts.Port = "127.0.0.1", -1
	s.opts.NoLog, s.opts.NoSigs = true, true
	s.start()
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port // a restart reuses it
	return s
}

// start starts the server (again).
func (s *testServer) start() {
	s.t.Helper()
	opts := s.opts // NewServer changes what it is given
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("starting the NATS server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(patience) {
		srv.Shutdown()
		s.t.Fatalf("the NATS server did not start")
	}
	s.srv = srv
}

// stop shuts the server down; its clients start reconnecting.
func (s *testServer) stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

func (s *testServer) url() string {
	return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port)
}

// client is a NATS connection that reports its disconnections and
// reconnections on channels, so a test waits for them without sleeping.
type client struct {
	nc       *nats.Conn
	down, up chan struct{}
	written  atomic.Uint64 // bytes written to the server
}

func connect(t failer, url string, opts ...nats.Option) *client {
	t.Helper()
	c := &client{down: make(chan struct{}, 16), up: make(chan struct{}, 16)}
	opts = append([]nats.Option{
		nats.MaxReconnects(-1),
		nats.ReconnectWait(5 * time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.SetCustomDialer(countingDialer{c}),
		nats.DisconnectErrHandler(func(*nats.Conn, error) { signal(c.down) }),
		nats.ReconnectHandler(func(*nats.Conn) { signal(c.up) }),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	c.nc = nc
	return c
}

// signal sends on ch unless it is full.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// countingDialer dials TCP and counts the bytes the client writes.
type countingDialer struct{ c *client }

func (d countingDialer) Dial(network, address string) (net.Conn, error) {
	conn, err := net.DialTimeout(network, address, patience)
	if err != nil {
		return nil, err
	}
	return countingConn{conn, &d.c.written}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.n.Add(uint64(n))
	return n, err
}

// await waits for a value on ch, failing the test after patience.
func await[T any](t failer, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("gave up waiting for %s", what)
		var zero T
		return zero
	}
}

// drain empties ch.
func drain[T any](ch <-chan T) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// barrierID is the sender token of the barrier messages a cluster's
// rounds end with; no replica has it.
const barrierID = "barrier"

// node is one replica of a cluster, with its transport and objects. It is
// the transport's Receiver: it counts barrier messages, and hands the
// rest to the replica.
type node struct {
	id       crdt.ReplicaID
	c        *client
	t        *natstransport.Transport
	r        *crdt.Replica
	set      *crdt.Handle[*orset.Set[string]]
	kv       *crdt.Handle[*lwwmap.Map[string, int]]
	count    *crdt.Handle[*counter.PN]
	barriers chan struct{}
	// marks takes the barrier messages that say something (see
	// cluster.slowRound).
	marks chan string
	// hold, while set, is a channel every message waits on before it is
	// handed on (see cluster.slowRound).
	hold    atomic.Pointer[chan struct{}]
	largest atomic.Int64          // bytes of the largest message received
	lastErr atomic.Pointer[error] // the last error the replica's Receive returned
}

func (n *node) Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error {
	if from == barrierID {
		if len(msg) > 0 {
			n.marks <- string(msg)
		} else {
			n.barriers <- struct{}{}
		}
		return nil
	}
	if h := n.hold.Load(); h != nil {
		<-*h
	}
	for l := int64(len(msg)); ; {
		cur := n.largest.Load()
		if l <= cur || n.largest.CompareAndSwap(cur, l) {
			break
		}
	}
	err := n.r.Receive(ctx, from, msg)
	if err != nil {
		n.lastErr.Store(&err)
	}
	return err
}

// receiveError returns the last error the replica's Receive returned, or
// nil.
func (n *node) receiveError() error {
	if p := n.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// cluster is a few replicas replicating over one NATS server. Rounds are
// driven by the test: every replica ticks, then the round waits until
// every message sent during it was handled (see round).
type cluster struct {
	t       failer
	srv     *testServer
	prefix  string
	ids     []crdt.ReplicaID
	nodes   []*node
	barrier *client
	up      bool
	attempt int // numbers the rounds of marks
}

// newCluster starts a server with opts (nil for the defaults) and n
// replicas r0, r1, ... each with a set, a map and a counter; cfg, if not
// nil, adjusts each replica's configuration.
func newCluster(t failer, n int, opts *server.Options, cfg func(*crdt.Config)) *cluster {
	t.Helper()
	return newClusterWith(t, n, opts, cfg, nil)
}

// newClusterWith is newCluster with tcfg, if not nil, adjusting each
// replica's transport configuration.
func newClusterWith(t failer, n int, opts *server.Options, cfg func(*crdt.Config), tcfg func(*natstransport.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t, srv: startServer(t, opts), prefix: "test.crdt", up: true}
	for i := range n {
		c.ids = append(c.ids, crdt.ReplicaID(fmt.Sprintf("r%d", i)))
	}
	for _, id := range c.ids {
		nd := &node{id: id, c: connect(t, c.srv.url()), barriers: make(chan struct{}, 64), marks: make(chan string, 1024)}
		tc := natstransport.Config{Prefix: c.prefix, ID: id}
		if tcfg != nil {
			tcfg(&tc)
		}
		tr, err := natstransport.New(nd.c.nc, tc)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		rc := crdt.Config{ID: id, Transport: tr}
		if cfg != nil {
			cfg(&rc)
		}
		r, err := crdt.NewReplica(rc)
		if err != nil {
			t.Fatalf("NewReplica: %v", err)
		}
		nd.t, nd.r = tr, r
		nd.set, _ = crdt.Register(r, "set", orset.New[string](id))
		nd.kv, _ = crdt.Register(r, "map", lwwmap.New[string, int](id, r.Clock()))
		nd.count, _ = crdt.Register(r, "count", counter.NewPN(id))
		for _, peer := range c.ids {
			if peer != id {
				if err := r.AddPeer(peer); err != nil {
					t.Fatalf("AddPeer: %v", err)
				}
			}
		}
		if err := tr.Listen(nd); err != nil {
			t.Fatalf("Listen: %v", err)
		}
		c.nodes = append(c.nodes, nd)
	}
	c.barrier = connect(t, c.srv.url())
	c.flush()
	return c
}

// close closes every transport and connection and stops the server.
func (c *cluster) close() {
	for _, n := range c.nodes {
		_ = n.t.Close()
		n.c.nc.Close()
	}
	c.barrier.nc.Close()
	c.srv.stop()
}

func (c *cluster) clients() []*client {
	cl := []*client{c.barrier}
	for _, n := range c.nodes {
		cl = append(cl, n.c)
	}
	return cl
}

// flush waits until the server has processed everything each client
// sent (publications and subscriptions).
func (c *cluster) flush() {
	c.t.Helper()
	for _, cl := range c.clients() {
		if err := cl.nc.FlushTimeout(patience); err != nil {
			c.t.Fatalf("flush: %v", err)
		}
	}
}

// stopServer stops the server and waits until every client noticed.
func (c *cluster) stopServer() {
	c.t.Helper()
	for _, cl := range c.clients() {
		drain(cl.down)
		drain(cl.up)
	}
	c.srv.stop()
	for _, cl := range c.clients() {
		await(c.t, cl.down, "a client to see the server go")
	}
	c.up = false
}

// startServer starts the server again and waits until every client is
// back with its subscriptions.
func (c *cluster) startServer() {
	c.t.Helper()
	c.srv.start()
	for _, cl := range c.clients() {
		await(c.t, cl.up, "a client to reconnect")
	}
	c.flush()
	c.up = true
}

// round ticks every replica, then, if the server is up, waits until
// every message sent during the round was handed to its replica: each
// replica's client flushes (the server then holds its messages in the
// recipients' outbound queues), and a barrier message follows on each
// subscription of every replica; NATS keeps the order of messages
// on a subscription, and the transport hands them on in that order.
func (c *cluster) round() {
	c.t.Helper()
	ctx := context.Background()
	for _, n := range c.nodes {
		_ = n.r.Tick(ctx) // send errors (while the server is down) are retried by the engine
	}
	if !c.up {
		return
	}
	c.flush()
	c.barriers()
}

// barriers waits until every message the server holds for the replicas
// was handed on: a barrier message follows on each subscription of every
// replica.
func (c *cluster) barriers() {
	c.t.Helper()
	for _, n := range c.nodes {
		if err := c.barrier.nc.Publish(c.prefix+"."+string(n.id)+"."+barrierID, nil); err != nil {
			c.t.Fatalf("barrier: %v", err)
		}
	}
	if err := c.barrier.nc.Publish(c.prefix+"."+natstransport.GroupToken+"."+barrierID, nil); err != nil {
		c.t.Fatalf("barrier: %v", err)
	}
	if err := c.barrier.nc.FlushTimeout(patience); err != nil {
		c.t.Fatalf("barrier flush: %v", err)
	}
	for _, n := range c.nodes {
		await(c.t, n.barriers, "a direct barrier")
		await(c.t, n.barriers, "a group barrier")
	}
}

// model is a deliberately naive account of what every replica must end
// up holding. Each replica adds and removes only its own elements and
// writes only its own keys, so the last thing it did to one wins; shared
// elements are only ever added, by anyone.
type model struct {
	set   map[string]bool // element: present
	kv    map[string]int
	count int64
	pad   string // appended to every element, to make states large
}

func newModel() *model { return &model{set: map[string]bool{}, kv: map[string]int{}} }

func (m *model) elems() []string {
	var out []string
	for e, in := range m.set {
		if in {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// holds reports how n differs from the model, or "" if it does not.
func (m *model) differs(n *node) string {
	if d := m.contentDiffers(n); d != "" {
		return d
	}
	for _, ps := range n.r.Stats().Peers {
		if ps.PendingOps != 0 {
			return fmt.Sprintf("%s: %d ops not acknowledged by %s", n.id, ps.PendingOps, ps.Peer)
		}
	}
	return ""
}

// contentDiffers reports how n's objects differ from the model, or "" if
// they do not.
func (m *model) contentDiffers(n *node) string {
	var elems []string
	n.set.Read(func(s *orset.Set[string]) { elems = slices.Sorted(s.All()) })
	if elems == nil {
		elems = []string{}
	}
	if want := m.elems(); !slices.Equal(elems, want) {
		return fmt.Sprintf("%s: set %v, want %v", n.id, elems, want)
	}
	var kv map[string]int
	n.kv.Read(func(mp *lwwmap.Map[string, int]) { kv = maps.Collect(mp.All()) })
	if !maps.Equal(kv, m.kv) {
		return fmt.Sprintf("%s: map %v, want %v", n.id, kv, m.kv)
	}
	var v int64
	n.count.Read(func(c *counter.PN) { v = c.Value() })
	if v != m.count {
		return fmt.Sprintf("%s: counter %d, want %d", n.id, v, m.count)
	}
	return ""
}

// settle runs rounds until every replica equals the model, and returns
// how many it took; it fails the test after limit rounds.
func (c *cluster) settle(m *model, limit int) int {
	c.t.Helper()
	var diff string
	for i := range limit {
		diff = ""
		for _, n := range c.nodes {
			if diff = m.differs(n); diff != "" {
				break
			}
		}
		if diff == "" {
			return i
		}
		c.round()
	}
	c.t.Fatalf("no convergence after %d rounds: %s", limit, diff)
	return limit
}
