package crdt_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
)

// lwwProc is a process of a two-process LWW-map test: a replica with one
// LWW-map registered as "kv".
type lwwProc struct {
	r *crdt.Replica
	h *crdt.Handle[*lwwmap.Map[string, string]]
}

// lwwTwoProc runs replicas over net, their clocks reading now.
type lwwTwoProc struct {
	t   *testing.T
	net *memnet.Network
	now atomic.Int64
}

func newLWWTwoProc(t *testing.T) *lwwTwoProc {
	w := &lwwTwoProc{t: t, net: memnet.New(1)}
	w.now.Store(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano())
	return w
}

func (w *lwwTwoProc) save(p *lwwProc) {
	if err := p.r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
		w.t.Fatal(err)
	}
}

// start starts a process of replica id with peer, from snap unless nil,
// and attaches it to the network as id.
func (w *lwwTwoProc) start(id, peer crdt.ReplicaID, snap []byte) *lwwProc {
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: w.net.Transport(id), AntiEntropyTicks: 2,
		Clock: clock.New(clock.WithSource(w.now.Load))})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := crdt.Register(r, "kv", lwwmap.New[string, string](id, r.Clock()))
	if err != nil {
		w.t.Fatal(err)
	}
	attachRestored(w.t, w.net, r, snap, peer)
	p := &lwwProc{r, h}
	w.save(p)
	return p
}

func (w *lwwTwoProc) put(p *lwwProc, k, v string) {
	w.t.Helper()
	if err := p.h.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, v), nil }); err != nil {
		w.t.Fatal(err)
	}
	w.save(p)
}

func (w *lwwTwoProc) del(p *lwwProc, k string) {
	w.t.Helper()
	if err := p.h.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Delete(k), nil }); err != nil {
		w.t.Fatal(err)
	}
	w.save(p)
}

func (w *lwwTwoProc) get(p *lwwProc, k string) (v string, ok bool) {
	p.h.Read(func(m *lwwmap.Map[string, string]) { v, ok = m.Get(k) })
	return v, ok
}

// rounds ticks ps, delivers every message and saves ps, k times, the
// clocks moving 10ms each time.
func (w *lwwTwoProc) rounds(k int, ps ...*lwwProc) {
	ctx := context.Background()
	for range k {
		for _, p := range ps {
			_ = p.r.Tick(ctx)
		}
		w.net.DeliverAll(ctx)
		for _, p := range ps {
			w.save(p)
		}
		w.now.Add(int64(10 * time.Millisecond))
	}
}

// lateWrites sums Stats.LateWrites over ps.
func lateWrites(ps ...*lwwProc) uint64 {
	var n uint64
	for _, p := range ps {
		n += p.r.Stats().LateWrites
	}
	return n
}

// The engine saves an LWW-map's snapshot with SnapshotBinary, which keeps
// what the map collected.
var _ crdt.Snapshotter = (*lwwmap.Map[string, string])(nil)

// A second process started from region b's disk, the network routing b
// to it: b puts k = "old" and sends nothing yet; a deletes k later (its
// timestamp orders after b's put); a and the second process run until a
// collects the delete's marker on the second process's report, which
// counts the delete but not b's put; then b rejoins. By the conflict rule
// k is deleted. b's put, new to a (its dot is above what the second
// process reported) and finding no marker, takes k back at both regions.
// The marker is gone and no replica holds what would tell: the engine
// cannot keep the delete without keeping markers for writers that may
// never report (see Stats.LateWrites), but the loss must not be silent:
// Stats.LateWrites counts b's put at a, and the regions agree. So too if
// a restarts from its snapshot after it collected the marker and before
// b comes back: what a collected is part of what it saved.
func TestSecondProcessLateWriteOverCollectedDelete(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "a runs on", true: "a restarts from its snapshot"}[restart], func(t *testing.T) {
			w := newLWWTwoProc(t)
			a := w.start("a", "b", nil)
			b := w.start("b", "a", nil)
			w.put(a, "k", "v0")
			w.rounds(10, a, b)
			// The second process, from b's disk; the network routes b to it.
			b2 := w.start("b", "a", savedSnapshot(t, b.r))
			w.put(b, "k", "old") // not sent: b does not run
			w.now.Add(int64(time.Second))
			w.del(a, "k")
			w.rounds(20, a, b2)
			if _, ok := w.get(b2, "k"); ok {
				t.Fatal("the second process holds k after the delete")
			}
			if p, c := a.r.Stats().GCPending, a.r.Stats().GCCollected; p != 0 || c == 0 {
				t.Fatalf("a holds %d markers, collected %d: the delete was not collected", p, c)
			}
			if restart {
				a = w.start("a", "b", savedSnapshot(t, a.r))
			}
			// The second process stops; b rejoins.
			w.net.Attach("b", b.r)
			w.rounds(20, a, b)
			va, oka := w.get(a, "k")
			vb, okb := w.get(b, "k")
			if va != vb || oka != okb {
				t.Fatalf("a reads %q %v, b reads %q %v: the regions differ", va, oka, vb, okb)
			}
			if late := lateWrites(a, b, b2); (oka || okb) && late == 0 {
				t.Fatalf("a reads %q %v, b reads %q %v, LateWrites %d: the delete was lost and no metric said so", va, oka, vb, okb, late)
			}
			t.Logf("k at a: %q %v, at b: %q %v; LateWrites %d", va, oka, vb, okb, lateWrites(a, b, b2))
		})
	}
}

// The control of TestSecondProcessLateWriteOverCollectedDelete: b alone
// runs as b. Its put, sent late, is counted by the version b reports, so
// a collects the marker only once it has taken the put in, and the
// delete stays at both regions; LateWrites reads zero.
func TestOneProcessLateWriteLosesToCollectedDelete(t *testing.T) {
	w := newLWWTwoProc(t)
	a := w.start("a", "b", nil)
	b := w.start("b", "a", nil)
	w.put(a, "k", "v0")
	w.rounds(10, a, b)
	w.put(b, "k", "old") // not sent yet
	w.now.Add(int64(time.Second))
	w.del(a, "k")
	w.rounds(40, a, b)
	if c := a.r.Stats().GCCollected; c == 0 {
		t.Fatal("a collected no marker")
	}
	for _, p := range []*lwwProc{a, b} {
		if v, ok := w.get(p, "k"); ok {
			t.Fatalf("%s reads k = %q after the later delete", p.r.ID(), v)
		}
	}
	if late := lateWrites(a, b); late != 0 {
		t.Fatalf("LateWrites reads %d with one process per region", late)
	}
}

// saidAnything sums the figures that tell of two processes under one
// replica ID over ps: Divergences, LateWrites, RetiredPastFinal,
// Equivocations and RunsReturned.
func saidAnything(ps ...*lwwProc) uint64 {
	var n uint64
	for _, p := range ps {
		st := p.r.Stats()
		n += st.LateWrites + st.RetiredPastFinal + uint64(st.Equivocations)
		for _, ps := range st.Peers {
			n += ps.Divergences + ps.RunsReturned
		}
	}
	return n
}

// A second process started from region b's disk, the network routing b to
// it, while b goes on: each puts a key of its own, and a deletes a third
// key, collected on the second process's word; then b rejoins. No write
// is lost (b's put is of another key), but two processes ran under b's ID,
// each reporting versions that leave the other's writes out, which is what
// lets a delete be lost (TestSecondProcessLateWriteOverCollectedDelete).
// a counts b's run coming back after the second process's
// (PeerStats.RunsReturned); with one process at a time, b's restarted run
// coming after the first, nothing counts.
func TestSecondProcessRunReturnsCounted(t *testing.T) {
	for _, twice := range []bool{true, false} {
		t.Run(map[bool]string{true: "twoProcesses", false: "restart"}[twice], func(t *testing.T) {
			w := newLWWTwoProc(t)
			a := w.start("a", "b", nil)
			b := w.start("b", "a", nil)
			w.put(a, "gone", "v0")
			w.rounds(10, a, b)
			b2 := w.start("b", "a", savedSnapshot(t, b.r))
			w.put(b2, "y", "from the second process")
			if twice {
				w.put(b, "x", "from b") // not sent yet
			}
			w.del(a, "gone")
			w.rounds(20, a, b2)
			if c := a.r.Stats().GCCollected; c == 0 {
				t.Fatal("a collected no marker")
			}
			if twice {
				w.net.Attach("b", b.r)
				w.rounds(20, a, b)
			}
			said := saidAnything(a, b, b2)
			if twice && said == 0 {
				t.Fatal("two processes ran under b's ID, and every figure reads zero")
			}
			if back := a.r.Stats().Peers[0].RunsReturned; twice && back != 1 {
				t.Fatalf("a counted b's run coming back %d times, want 1", back)
			}
			if !twice && said != 0 {
				t.Fatalf("a restart of b counted %d", said)
			}
		})
	}
}

// heldFrom stands in for a replica on the network and sets aside, while
// hold is set, the messages from one peer, delivering the others.
type heldFrom struct {
	r    *crdt.Replica
	from crdt.ReplicaID
	hold bool
	held [][]byte
}

func (h *heldFrom) Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error {
	if h.hold && from == h.from {
		h.held = append(h.held, msg)
		return nil
	}
	return h.r.Receive(ctx, from, msg)
}

// Region b restarts, one process at a time, and the network delays b's
// last messages (its digests among them) past the first ones of its
// restarted run, by less than the clocks' maximum offset, so a takes them
// in. A run that ended does not come back: a counts nothing
// (PeerStats.RunsReturned), and the held digests' runs do not make the
// restarted run's later digests count either.
func TestRestartDelayedDigestNotCounted(t *testing.T) {
	w := newLWWTwoProc(t)
	a := w.start("a", "b", nil)
	b := w.start("b", "a", nil)
	w.put(a, "k", "v0")
	w.rounds(10, a, b)
	h := &heldFrom{r: a.r, from: "b", hold: true}
	w.net.Attach("a", h)
	w.put(b, "k2", "from b's first run")
	w.rounds(3, b)
	if len(h.held) == 0 {
		t.Fatal("b sent nothing to hold")
	}
	// b stops; its restarted run starts from its disk.
	b2 := w.start("b", "a", savedSnapshot(t, b.r))
	h.hold = false
	w.rounds(3, a, b2)
	ctx := context.Background()
	took := 0
	for _, msg := range h.held {
		if a.r.Receive(ctx, "b", msg) == nil {
			took++
		}
	}
	if took == 0 {
		t.Fatalf("a refused all %d held messages of b's first run", len(h.held))
	}
	w.rounds(10, a, b2)
	if back := a.r.Stats().Peers[0].RunsReturned; back != 0 {
		t.Fatalf("a counted b's ended run coming back %d times after a restart", back)
	}
	if v, ok := w.get(a, "k2"); !ok || v != "from b's first run" {
		t.Fatalf("a reads k2 = %q %v", v, ok)
	}
}
