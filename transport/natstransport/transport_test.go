package natstransport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// delivery is one message a recorder was handed.
type delivery struct {
	from        crdt.ReplicaID
	msg         []byte
	hasDeadline bool
}

// recorder is a Receiver that reports every message on a channel, and
// refuses those that say "refuse".
type recorder struct{ ch chan delivery }

func newRecorder() *recorder { return &recorder{ch: make(chan delivery, 64)} }

func (r *recorder) Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error {
	_, ok := ctx.Deadline()
	r.ch <- delivery{from: from, msg: bytes.Clone(msg), hasDeadline: ok}
	if string(msg) == "refuse" {
		return errors.New("refused")
	}
	return nil
}

// listening returns a transport for id on a new connection to srv,
// listening with rcv.
func listening(t *testing.T, srv *testServer, id crdt.ReplicaID, rcv natstransport.Receiver) (*natstransport.Transport, *client) {
	t.Helper()
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	tr, err := natstransport.New(c.nc, natstransport.Config{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	if err := tr.Listen(rcv); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil { // the subscriptions are in place
		t.Fatal(err)
	}
	return tr, c
}

func TestNewRefusesWhatIsNotASubjectToken(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)

	for _, id := range []crdt.ReplicaID{"", "us.east", "us*", ">", "us east", "us\teast", "a\x00b", "\xff", natstransport.GroupToken, crdt.ReplicaID(strings.Repeat("a", 256))} {
		if _, err := natstransport.New(c.nc, natstransport.Config{ID: id}); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("ID %q: got %v, want ErrInvalidToken", id, err)
		}
	}
	for _, prefix := range []string{".", "a.", ".a", "a..b", "a.*", "a.>", "a b", "crdt.\n"} {
		if _, err := natstransport.New(c.nc, natstransport.Config{Prefix: prefix, ID: "us-east-1"}); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("prefix %q: got %v, want ErrInvalidToken", prefix, err)
		}
	}
	if _, err := natstransport.New(nil, natstransport.Config{ID: "us-east-1"}); !errors.Is(err, natstransport.ErrConfig) {
		t.Errorf("nil connection: got %v, want ErrConfig", err)
	}
	if _, err := natstransport.New(c.nc, natstransport.Config{ID: "us-east-1", ReceiveTimeout: -1}); !errors.Is(err, natstransport.ErrConfig) {
		t.Errorf("negative timeout: got %v, want ErrConfig", err)
	}
	for _, cfg := range []natstransport.Config{
		{ID: "us-east-1"},
		{ID: "_all_", Prefix: "acme.prod.crdt"},
		{ID: "région-1", Prefix: "crdt"},
	} {
		if _, err := natstransport.New(c.nc, cfg); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func TestSendRefusesABadRecipientWithoutSending(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	a, _ := listening(t, srv, "a", newRecorder())
	ctx := context.Background()
	for _, to := range []crdt.ReplicaID{"", "b.c", "*", ">", "b c", natstransport.GroupToken} {
		if err := a.Send(ctx, to, []byte("x")); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("Send to %q: got %v, want ErrInvalidToken", to, err)
		}
		if err := a.Broadcast(ctx, []crdt.ReplicaID{"b", to}, []byte("x")); !errors.Is(err, natstransport.ErrInvalidToken) {
			t.Errorf("Broadcast to %q: got %v, want ErrInvalidToken", to, err)
		}
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Send(done, "b", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a canceled context: got %v, want context.Canceled", err)
	}
	if s := a.Stats(); s.Published != 0 || s.Dropped != 1 {
		t.Errorf("stats %+v, want nothing published and the canceled send dropped", s)
	}
}

// Messages reach their recipient with the sender taken from the subject,
// under a context with a deadline; what the receiver refuses is counted.
func TestSendDeliversAndCountsRefusals(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	a, _ := listening(t, srv, "a", newRecorder())
	bRec := newRecorder()
	b, _ := listening(t, srv, "b", bRec)
	ctx := context.Background()

	for _, msg := range []string{"refuse", "hello"} {
		if err := a.Send(ctx, "b", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"refuse", "hello"} {
		d := await(t, bRec.ch, "a message")
		if d.from != "a" || string(d.msg) != want || !d.hasDeadline {
			t.Errorf("got %+v, want %q from a with a deadline", d, want)
		}
	}
	// "hello" was handled after "refuse", on the same subscription.
	if s := b.Stats(); s.Received != 2 || s.ReceiveErrors != 1 || s.ReceivedBytes != uint64(len("refusehello")) {
		t.Errorf("receiver stats %+v, want 2 received, 1 error", s)
	}
	if s := a.Stats(); s.Published != 2 || s.PublishedBytes != uint64(len("refusehello")) {
		t.Errorf("sender stats %+v, want 2 published", s)
	}
}

// A broadcast leaves once; the replicas it names receive it, the others
// and the sender drop it unread.
func TestBroadcastReachesOnlyTheReplicasItNames(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	recs := map[crdt.ReplicaID]*recorder{}
	trs := map[crdt.ReplicaID]*natstransport.Transport{}
	for _, id := range []crdt.ReplicaID{"a", "b", "c", "d"} {
		recs[id] = newRecorder()
		trs[id], _ = listening(t, srv, id, recs[id])
	}
	ctx := context.Background()
	if err := trs["a"].Broadcast(ctx, []crdt.ReplicaID{"b", "c"}, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := trs["a"].Broadcast(ctx, []crdt.ReplicaID{"b", "c", "d"}, []byte("two")); err != nil {
		t.Fatal(err)
	}
	for _, id := range []crdt.ReplicaID{"b", "c"} {
		for _, want := range []string{"one", "two"} {
			if d := await(t, recs[id].ch, "a broadcast"); d.from != "a" || string(d.msg) != want {
				t.Errorf("%s got %q from %s, want %q from a", id, d.msg, d.from, want)
			}
		}
	}
	if d := await(t, recs["d"].ch, "a broadcast"); string(d.msg) != "two" {
		t.Errorf("d got %q, want only the broadcast naming it", d.msg)
	}
	if s := trs["d"].Stats(); s.Ignored != 1 || s.Received != 1 {
		t.Errorf("d: %+v, want one ignored and one received", s)
	}
	if s := trs["a"].Stats(); s.Published != 2 || s.Broadcasts != 2 {
		t.Errorf("a: %+v, want 2 broadcasts published", s)
	}
	// a's own broadcasts came back to it and were dropped. A broadcast
	// from b follows them on a's group subscription: once a has it, they
	// were handled.
	if err := trs["b"].Broadcast(ctx, []crdt.ReplicaID{"a", "c"}, []byte("three")); err != nil {
		t.Fatal(err)
	}
	if d := await(t, recs["a"].ch, "b's broadcast"); d.from != "b" || string(d.msg) != "three" {
		t.Errorf("a got %q from %s, want b's broadcast", d.msg, d.from)
	}
	if s := trs["a"].Stats(); s.Ignored != 2 || s.Received != 1 {
		t.Errorf("a: %+v, want its own 2 broadcasts ignored and 1 received", s)
	}
}

// A broadcast of MaxMessageBytes bytes to 24 replicas with names of 255
// bytes, whose names take more than the room MaxMessageBytes leaves for
// the header: it goes in several publishes, each within the server's
// max_payload, and every replica it names gets it once. Before, it was
// refused as too large, and the engine sent smaller messages to every
// peer it named from then on.
func TestBroadcastToManyLongNames(t *testing.T) {
	srv := startServer(t, &server.Options{MaxPayload: 64 << 10})
	t.Cleanup(srv.stop)
	var to []crdt.ReplicaID
	for i := range 24 {
		to = append(to, crdt.ReplicaID(fmt.Sprintf("%02d-%s", i, strings.Repeat("r", 252))))
	}
	a, _ := listening(t, srv, "a", newRecorder())
	// The first and the last named listen; the others are elsewhere.
	recs := map[crdt.ReplicaID]*recorder{to[0]: newRecorder(), to[23]: newRecorder()}
	for id, rec := range recs {
		listening(t, srv, id, rec)
	}
	msg := bytes.Repeat([]byte("m"), a.MaxMessageBytes())
	if err := a.Broadcast(context.Background(), to, msg); err != nil {
		t.Fatalf("Broadcast of MaxMessageBytes (%d) to 24 names of 255 bytes: %v", len(msg), err)
	}
	for id, rec := range recs {
		if d := await(t, rec.ch, "the broadcast"); d.from != "a" || !bytes.Equal(d.msg, msg) {
			t.Errorf("%.8s… got %d bytes from %s, want the broadcast from a", id, len(d.msg), d.from)
		}
	}
	s := a.Stats()
	if s.Broadcasts < 2 || s.TooLarge != 0 || s.Published != s.Broadcasts {
		t.Errorf("stats %+v: want the broadcast in several publishes, none too large", s)
	}
	// Each listener got it once: a second broadcast to the two alone is
	// the next thing each gets.
	if err := a.Broadcast(context.Background(), []crdt.ReplicaID{to[0], to[23]}, []byte("next")); err != nil {
		t.Fatal(err)
	}
	for id, rec := range recs {
		if d := await(t, rec.ch, "the second broadcast"); string(d.msg) != "next" {
			t.Errorf("%.8s… got %d bytes, want the second broadcast", id, len(d.msg))
		}
	}
}

// With the server's max_payload at 1 MiB, a larger message is refused
// before it is sent, and the connection stays up; replication of several
// megabytes of ops goes through, the engine's batches staying under the
// limit.
func TestMaxPayloadOneMiB(t *testing.T) {
	const limit = 1 << 20
	opts := &server.Options{MaxPayload: limit}
	c := newCluster(t, 3, opts, nil)
	t.Cleanup(c.close)
	ctx := context.Background()
	a := c.nodes[0]

	if got := a.c.nc.MaxPayload(); got != limit {
		t.Fatalf("server max_payload %d, want %d", got, limit)
	}
	if err := a.t.Send(ctx, "r1", make([]byte, limit+1)); !errors.Is(err, natstransport.ErrTooLarge) || !errors.Is(err, crdt.ErrTooLarge) {
		t.Errorf("Send of max_payload+1 bytes: got %v, want ErrTooLarge (the transport's, and so the engine's)", err)
	}
	// The recipients' header takes a broadcast of exactly max_payload
	// bytes over the limit.
	if err := a.t.Broadcast(ctx, []crdt.ReplicaID{"r1", "r2"}, make([]byte, limit)); !errors.Is(err, natstransport.ErrTooLarge) {
		t.Errorf("Broadcast of max_payload bytes: got %v, want ErrTooLarge", err)
	}
	if s := a.t.Stats(); s.TooLarge != 2 || s.Published != 0 {
		t.Errorf("stats %+v, want 2 too large and none published", s)
	}
	if !a.c.nc.IsConnected() {
		t.Fatal("the connection dropped")
	}

	// 48 ops of 64 KiB each: 3 MiB in all, to both peers. (First contact
	// is made before, while the set is empty: the engine sends a catch-up
	// state whole, in one message, so a state over the limit could not be
	// caught up on.)
	m := newModel()
	for range 10 {
		c.round()
	}
	pad := strings.Repeat("x", 64<<10)
	for i := range 48 {
		e := fmt.Sprintf("%s/%02d/%s", a.id, i, pad)
		if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		m.set[e] = true
	}
	c.settle(m, 30)
	for i, n := range c.nodes {
		want := uint64(0)
		if i == 0 {
			want = 2 // the two above
		}
		if s := n.t.Stats(); s.TooLarge != want || s.ReceiveErrors != 0 {
			t.Errorf("%s: %+v", n.id, s)
		}
	}
	if s := a.t.Stats(); s.PublishedBytes < 3<<20 {
		t.Errorf("published %d bytes, want at least the 3 MiB of ops", s.PublishedBytes)
	}
}

// The operator lowers the server's max_payload to 4 KiB and restarts it,
// leaving the replicas' MaxMessageBytes at its default of 1 MiB. The
// transport tells the engine the new limit (crdt.Limiter) once its
// connection is back: a run of 40 ops of 700 bytes, and the catch-up of a
// replica that fell out of the op log, go in messages the server takes,
// and the transport refuses none as too large.
//
// Before the engine asked the transport, every run of ops larger than
// max_payload failed to send, for good.
func TestMaxPayloadLoweredAtRestart(t *testing.T) {
	c := newCluster(t, 2, nil, func(cfg *crdt.Config) { cfg.MaxLogOps = 2 })
	t.Cleanup(c.close)
	a := c.nodes[0]
	m := newModel()
	add := func(nd *node, e string) {
		t.Helper()
		if err := nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		m.set[e] = true
	}
	add(a, "before")
	c.settle(m, 30)
	if got, want := a.t.MaxMessageBytes(), 1<<20-4096; got != want {
		t.Fatalf("MaxMessageBytes with the default max_payload: %d, want %d", got, want)
	}

	c.stopServer()
	c.srv.opts.MaxPayload = 4 << 10
	c.startServer()
	const limit = 4<<10 - 1<<10 // a quarter left for a broadcast's header
	if got := a.t.MaxMessageBytes(); got != limit {
		t.Fatalf("MaxMessageBytes after the restart: %d, want %d", got, limit)
	}
	rnd := rand.New(rand.NewPCG(1, 2)) // elements that do not compress
	for i := range 40 {
		pad := make([]byte, 700)
		for j := range pad {
			pad[j] = byte('a' + rnd.IntN(26))
		}
		add(a, fmt.Sprintf("%s/%02d/%s", a.id, i, pad))
	}
	c.settle(m, 60)
	for _, n := range c.nodes {
		if s := n.t.Stats(); s.TooLarge != 0 || s.ReceiveErrors != 0 {
			t.Errorf("%s: %d messages too large, %d refused", n.id, s.TooLarge, s.ReceiveErrors)
		}
		st := n.r.Stats()
		if st.Oversize != 0 {
			t.Errorf("%s: %d messages over its limit not sent", n.id, st.Oversize)
		}
		if p := st.Peers[0]; p.MessageLimit != limit || p.SendErrors != 0 {
			t.Errorf("%s sends %s messages of up to %d bytes (want %d), %d send errors", n.id, p.Peer, p.MessageLimit, limit, p.SendErrors)
		}
	}
	if n := c.nodes[1].largest.Load(); n > limit || n < limit/2 {
		t.Errorf("the largest message received is %d bytes; want at most %d, and the run cut near it", n, limit)
	}
}

// While the server is away, sends fail at once with ErrDisconnected
// instead of queueing; once the client is back, they go through.
func TestSendWhileDisconnectedDrops(t *testing.T) {
	c := newCluster(t, 2, nil, nil)
	t.Cleanup(c.close)
	ctx := context.Background()
	a := c.nodes[0]

	c.stopServer()
	if err := a.t.Send(ctx, "r1", []byte("lost")); !errors.Is(err, natstransport.ErrDisconnected) {
		t.Errorf("Send while down: got %v, want ErrDisconnected", err)
	}
	if err := a.t.Broadcast(ctx, []crdt.ReplicaID{"r1", "r2"}, []byte("lost")); !errors.Is(err, natstransport.ErrDisconnected) {
		t.Errorf("Broadcast while down: got %v, want ErrDisconnected", err)
	}
	if s := a.t.Stats(); s.Dropped != 2 || s.Published != 0 {
		t.Errorf("stats %+v, want 2 dropped", s)
	}
	// The engine sees the failures and sends again after the restart.
	m := newModel()
	if err := a.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("x"), nil }); err != nil {
		t.Fatal(err)
	}
	m.set["x"] = true
	c.round()
	if ps := a.r.Stats().Peers[0]; ps.SendErrors == 0 || !strings.Contains(ps.LastSendError, "not connected") {
		t.Errorf("engine peer stats %+v, want a send error", ps)
	}
	c.startServer()
	c.settle(m, 10)
}

// A transport handing messages to a replica of another ID would make
// every message it sends look misaddressed to the peers.
func TestListenRefusesAReplicaOfAnotherID(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	tr, err := natstransport.New(c.nc, natstransport.Config{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := crdt.NewReplica(crdt.Config{ID: "b", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Listen(r); !errors.Is(err, natstransport.ErrConfig) {
		t.Errorf("Listen with replica b on a's transport: got %v, want ErrConfig", err)
	}
	if err := tr.Listen(nil); !errors.Is(err, natstransport.ErrConfig) {
		t.Errorf("Listen(nil): got %v, want ErrConfig", err)
	}
}

// Close unsubscribes: the server forgets the transport's subscriptions,
// and sending or listening again fails.
func TestCloseUnsubscribes(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	before := srv.srv.NumSubscriptions()
	a, c := listening(t, srv, "a", newRecorder())
	if got := srv.srv.NumSubscriptions(); got != before+2 {
		t.Fatalf("%d subscriptions, want %d", got, before+2)
	}
	if err := a.Listen(newRecorder()); !errors.Is(err, natstransport.ErrConfig) {
		t.Errorf("second Listen: got %v, want ErrConfig", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := srv.srv.NumSubscriptions(); got != before {
		t.Errorf("%d subscriptions after Close, want %d", got, before)
	}
	if err := a.Send(context.Background(), "b", []byte("x")); !errors.Is(err, natstransport.ErrClosed) {
		t.Errorf("Send after Close: got %v, want ErrClosed", err)
	}
	if err := a.Listen(newRecorder()); !errors.Is(err, natstransport.ErrClosed) {
		t.Errorf("Listen after Close: got %v, want ErrClosed", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// The permissions recipe of the package documentation: each replica may
// publish only on subjects ending with its own ID, so it cannot make a
// message look as if another replica sent it.
func TestPermissionsStopImpersonation(t *testing.T) {
	user := func(id string) *server.User {
		return &server.User{Username: id, Password: id + "-secret", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{"crdt.*." + id}},
			Subscribe: &server.SubjectPermission{Allow: []string{"crdt." + id + ".*", "crdt._all.*"}},
		}}
	}
	srv := startServer(t, &server.Options{Users: []*server.User{user("a"), user("b"), user("c")}})
	t.Cleanup(srv.stop)
	trs := map[string]*natstransport.Transport{}
	recs := map[string]*recorder{}
	conns := map[string]*client{}
	for _, id := range []string{"a", "b"} {
		recs[id] = newRecorder()
		conns[id] = connect(t, srv.url(), nats.UserInfo(id, id+"-secret"))
		t.Cleanup(conns[id].nc.Close)
		tr, err := natstransport.New(conns[id].nc, natstransport.Config{ID: crdt.ReplicaID(id)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Listen(recs[id]); err != nil {
			t.Fatal(err)
		}
		if err := conns[id].nc.Flush(); err != nil {
			t.Fatal(err)
		}
		trs[id] = tr
		t.Cleanup(func() { _ = tr.Close() })
	}
	// a speaks as c, directly and on the group subject, then as itself.
	for _, subj := range []string{"crdt.b.c", "crdt._all.c"} {
		if err := conns["a"].nc.Publish(subj, []byte("forged")); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := trs["a"].Send(ctx, "b", []byte("direct")); err != nil {
		t.Fatal(err)
	}
	if err := trs["a"].Broadcast(ctx, []crdt.ReplicaID{"b", "c"}, []byte("group")); err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		d := await(t, recs["b"].ch, "a's messages")
		got = append(got, string(d.from)+":"+string(d.msg))
	}
	slices.Sort(got)
	// Each of a's own messages followed a forged one on the same
	// subscription, so a forged message that got through came first.
	if want := []string{"a:direct", "a:group"}; !slices.Equal(got, want) {
		t.Errorf("b received %v, want %v", got, want)
	}
	if len(recs["b"].ch) != 0 {
		t.Errorf("b received more: %+v", <-recs["b"].ch)
	}
}

// blocker is a Receiver that holds the first message until released, and
// reports every message it is handed.
type blocker struct {
	release chan struct{}
	got     chan struct{}
	first   atomic.Bool
}

func (b *blocker) Receive(context.Context, crdt.ReplicaID, []byte) error {
	if b.first.CompareAndSwap(false, true) {
		<-b.release
	}
	b.got <- struct{}{}
	return nil
}

// A Receiver that falls behind costs no more memory than the pending
// limits allow: the NATS client drops the excess, and Stats counts it.
func TestSlowReceiverDropsPastThePendingLimit(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	a, ac := listening(t, srv, "a", newRecorder())
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	b, err := natstransport.New(c.nc, natstransport.Config{ID: "b", MaxPending: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	rcv := &blocker{release: make(chan struct{}), got: make(chan struct{}, 16)}
	if err := b.Listen(rcv); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const sent = 10
	for i := range sent {
		if err := a.Send(context.Background(), "b", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Once a's client has the server's answer to a PING sent after the
	// messages, the server holds them for b; once b's has one, b's client
	// has taken in (or dropped) every one of them.
	for _, nc := range []*nats.Conn{ac.nc, c.nc} {
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	dropped := b.Stats().SlowConsumer
	if dropped < sent-3 {
		t.Errorf("%d of %d messages dropped, want at least %d with one held and 2 pending", dropped, sent, sent-3)
	}
	close(rcv.release)
	for range sent - int(dropped) {
		await(t, rcv.got, "a message")
	}
	if s := b.Stats(); s.Received+s.SlowConsumer != sent {
		t.Errorf("%+v: received and dropped add up to %d, want %d", s, s.Received+s.SlowConsumer, sent)
	}
}

// Another client publishing under a sender token that no replica can
// have (reserved, too long) is not heard.
func TestInboundFromAnImpossibleSenderIsIgnored(t *testing.T) {
	srv := startServer(t, nil)
	t.Cleanup(srv.stop)
	rec := newRecorder()
	b, _ := listening(t, srv, "b", rec)
	c := connect(t, srv.url())
	t.Cleanup(c.nc.Close)
	for _, from := range []string{natstransport.GroupToken, strings.Repeat("a", 256), "a"} {
		if err := c.nc.Publish("crdt.b."+from, []byte(from)); err != nil {
			t.Fatal(err)
		}
	}
	if d := await(t, rec.ch, "a message"); d.from != "a" {
		t.Errorf("got a message from %q, want only the one from a", d.from)
	}
	if s := b.Stats(); s.Ignored != 2 || s.Received != 1 {
		t.Errorf("%+v, want 2 ignored and 1 received", s)
	}
}
