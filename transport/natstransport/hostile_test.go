package natstransport_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/transport/natstransport"
	"github.com/nats-io/nats.go"
)

// sniffer is a client subscribed to every subject of a cluster, keeping
// a copy of each message it sees (headers included), as a hostile or
// buggy client on the same account may.
type sniffer struct {
	c   *client
	got chan *nats.Msg
}

func sniff(t *testing.T, c *cluster) *sniffer {
	t.Helper()
	s := &sniffer{c: connect(t, c.srv.url()), got: make(chan *nats.Msg, 1<<12)}
	t.Cleanup(s.c.nc.Close)
	if _, err := s.c.nc.ChanSubscribe(c.prefix+".>", s.got); err != nil {
		t.Fatal(err)
	}
	if err := s.c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

// taken returns the messages seen so far between replicas (not the
// barriers).
func (s *sniffer) taken(t *testing.T) []*nats.Msg {
	t.Helper()
	if err := s.c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []*nats.Msg
	for {
		select {
		case m := <-s.got:
			if !strings.HasSuffix(m.Subject, "."+barrierID) {
				out = append(out, m)
			}
		default:
			return out
		}
	}
}

// refusedBy sums what n's replica refused, from its peers and from no
// one it knows, by reason.
func refusedBy(n *node) map[string]uint64 {
	out := map[string]uint64{}
	s := n.r.Stats()
	for reason, k := range s.Refused {
		out[reason] += k
	}
	for _, p := range s.Peers {
		for reason, k := range p.Refused {
			out[reason] += k
		}
	}
	return out
}

// await waits until n was handed every message published so far by the
// barrier client (which the hostile publishers of the tests use): a
// barrier follows them on each of n's subscriptions.
func (c *cluster) await(n *node) {
	c.t.Helper()
	for _, subj := range []string{c.prefix + "." + string(n.id) + "." + barrierID, c.prefix + "." + natstransport.GroupToken + "." + barrierID} {
		if err := c.barrier.nc.Publish(subj, nil); err != nil {
			c.t.Fatalf("barrier: %v", err)
		}
	}
	if err := c.barrier.nc.FlushTimeout(patience); err != nil {
		c.t.Fatalf("barrier flush: %v", err)
	}
	await(c.t, n.barriers, "a barrier")
	await(c.t, n.barriers, "a barrier")
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, k := range m {
		n += k
	}
	return n
}

// A client on the same account that publishes what no replica sent
// (bytes that are not a message of the engine, under a real replica's
// name or another's, to a replica or to the group subject with thousands
// of recipients named, headers missing or absurd) has each refused whole
// and counted, once, by the transport (Ignored) or the replica (Refused,
// ReceiveErrors); and messages of the replicas that it captured and
// replays thousands of times, late, change nothing: the replicas still
// converge, with nothing refused for them and nothing left pending.
func TestHostilePublisherIsRefusedAndCounted(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	defer c.close()
	spy := sniff(t, c)
	m := newModel()
	for i, nd := range c.nodes {
		e := fmt.Sprintf("%s/%d", nd.id, i)
		if err := nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		m.set[e] = true
	}
	c.settle(m, 20)
	captured := spy.taken(t)
	if len(captured) == 0 {
		t.Fatal("captured nothing")
	}
	for _, nd := range c.nodes {
		if s := nd.t.Stats(); s.ReceiveErrors != 0 {
			t.Fatalf("%s before the attack: %+v", nd.id, s)
		}
	}

	// Not messages of the engine, each to r1 directly or to the group.
	hostile := c.barrier.nc
	target := c.nodes[1]
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("r%d", i)
	}
	huge := strings.Join(many, " ")
	type forged struct {
		subj   string
		hdr    nats.Header
		data   []byte
		refuse bool // by the replica; otherwise ignored by the transport
	}
	direct := func(from string) string { return c.prefix + ".r1." + from }
	group := func(from string) string { return c.prefix + "." + natstransport.GroupToken + "." + from }
	attacks := []forged{
		{subj: direct("r0"), data: []byte("not a frame"), refuse: true},
		{subj: direct("r0"), data: nil, refuse: true},
		{subj: direct("r0"), data: make([]byte, 64<<10), refuse: true},
		{subj: direct("mallory"), data: []byte{0x93, 1, 2, 3}, refuse: true},
		{subj: direct("r1"), data: []byte("as itself")},
		{subj: group("r0"), hdr: nats.Header{"Crdt-To": {huge}}, data: []byte("to thousands"), refuse: true},
		{subj: group("r0"), hdr: nats.Header{"Crdt-To": {strings.Repeat("x", 60<<10)}}, data: []byte("to no one")},
		{subj: group("r2"), data: []byte("no header"), refuse: true},
		{subj: group("r2"), hdr: nats.Header{"Other": {"r1"}}, data: []byte("another header"), refuse: true},
		{subj: group(natstransport.GroupToken), data: []byte("reserved sender")},
		{subj: direct(strings.Repeat("m", 256)), data: []byte("long sender")},
	}
	const times = 200
	wantRefused, wantIgnored := uint64(0), uint64(0)
	before := target.t.Stats()
	refusedBefore := total(refusedBy(target))
	for _, a := range attacks {
		for range times {
			if err := hostile.PublishMsg(&nats.Msg{Subject: a.subj, Header: a.hdr, Data: a.data}); err != nil {
				t.Fatalf("%s: %v", a.subj, err)
			}
		}
		if a.refuse {
			wantRefused += times
		} else {
			wantIgnored += times
		}
	}
	// Subjects that are not one token past the replica's: the server
	// delivers none of them to it.
	for _, subj := range []string{direct("r0.x"), c.prefix + ".r1", direct("r0") + " x"} {
		_ = hostile.Publish(subj, []byte("stray"))
	}
	c.await(target)
	after := target.t.Stats()
	if got := after.Ignored - before.Ignored; got != wantIgnored {
		t.Errorf("the transport ignored %d forged messages, want %d", got, wantIgnored)
	}
	// The round's own messages are the replicas' and are all taken.
	if got := after.ReceiveErrors - before.ReceiveErrors; got != wantRefused {
		t.Errorf("the replica refused %d forged messages, want %d (%+v)", got, wantRefused, refusedBy(target))
	}
	if got := total(refusedBy(target)) - refusedBefore; got != wantRefused {
		t.Errorf("the replica counted %d refusals, want %d: %v", got, wantRefused, refusedBy(target))
	}

	// Replays of every message the replicas sent, thousands in all,
	// published again now that the replicas moved on.
	for i, nd := range c.nodes {
		e := fmt.Sprintf("%s/later%d", nd.id, i)
		if err := nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		m.set[e] = true
		if err := nd.set.Update(func(s *orset.Set[string]) (crdt.Op, error) {
			return s.Remove(fmt.Sprintf("%s/%d", nd.id, i)), nil
		}); err != nil {
			t.Fatal(err)
		}
		m.set[fmt.Sprintf("%s/%d", nd.id, i)] = false
	}
	c.round()
	refusedBefore = 0
	for _, nd := range c.nodes {
		refusedBefore += total(refusedBy(nd))
	}
	replays := 0
	for range 3000 / len(captured) {
		for _, msg := range captured {
			if err := hostile.PublishMsg(&nats.Msg{Subject: msg.Subject, Header: msg.Header, Data: msg.Data}); err != nil {
				t.Fatal(err)
			}
			replays++
		}
		c.round()
	}
	c.settle(m, 30)
	var refused uint64
	for _, nd := range c.nodes {
		refused += total(refusedBy(nd))
	}
	if refused != refusedBefore {
		for _, nd := range c.nodes {
			t.Logf("%s refused %v (the last error: %v)", nd.id, refusedBy(nd), nd.receiveError())
		}
		t.Errorf("%d replays of the replicas' own messages refused, want none", refused-refusedBefore)
	}
	t.Logf("%d forged messages, %d replays", len(attacks)*times, replays)
}
