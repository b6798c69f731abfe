package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// A region takes in another's writes, journals them, then crashes; the
// other region is lost for good meanwhile. Restarted from its last
// snapshot and its journal, the first region still has those writes:
// what it acknowledged to its peer survives without the peer.
func TestJournalKeepsWhatPeersSent(t *testing.T) {
	c := newCluster(t, 21, 2, nil)
	c.settle([]string{}, 20)
	n := c.nodes["r0"]
	c.add("r1", "x")
	c.add("r1", "y")
	for range 20 {
		c.round()
	}
	if got := c.elems("r0"); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("r0 holds %v before the crash, want [x y]", got)
	}
	calls := 0
	if err := n.r.SaveOps(func(rec []byte) error { calls++; n.journal = append(n.journal, rec); return nil }); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("SaveOps with only received changes called save %d times, want 1", calls)
	}
	// Saved: nothing is left to save.
	if err := n.r.SaveOps(func([]byte) error { calls++; return nil }); err != nil || calls != 1 {
		t.Fatalf("second SaveOps = %v after %d calls, want nil and no call", err, calls)
	}
	c.crash("r1") // for good
	c.crash("r0")
	c.restart("r0")
	if got := c.elems("r0"); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("r0 restarted from its snapshot and journal holds %v, want [x y]", got)
	}
}

// More received changes than the op log's bounds cannot all be held until
// the next save: SaveOps says a snapshot is needed, and after one it
// journals again.
func TestJournalOfReceivedChangesBounded(t *testing.T) {
	c := newCluster(t, 22, 2, func(cfg *crdt.Config) { cfg.MaxLogOps = 3 })
	c.settle([]string{}, 20)
	r0 := c.nodes["r0"].r
	var want []string
	for _, e := range []string{"a", "b", "c", "d", "e"} {
		c.add("r1", e)
		want = append(want, e)
		c.round()
	}
	for range 30 {
		c.round()
	}
	if got := c.elems("r0"); !slices.Equal(got, want) {
		t.Fatalf("r0 holds %v, want %v", got, want)
	}
	if err := r0.SaveOps(func([]byte) error { return nil }); !errors.Is(err, crdt.ErrSnapshotNeeded) {
		t.Fatalf("SaveOps after more received changes than held = %v, want ErrSnapshotNeeded", err)
	}
	if err := r0.SaveSnapshot(func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := r0.SaveOps(func([]byte) error { t.Fatal("nothing new, yet save was called"); return nil }); err != nil {
		t.Fatalf("SaveOps after a snapshot = %v, want nil", err)
	}
	c.add("r1", "f")
	for range 20 {
		c.round()
	}
	saved := 0
	if err := r0.SaveOps(func([]byte) error { saved++; return nil }); err != nil || saved != 1 {
		t.Fatalf("SaveOps of one new received change = %v with %d saves, want one save", err, saved)
	}
}

// setRegion is a replica holding one OR-Set named "set", on a memnet
// network.
type setRegion struct {
	r   *crdt.Replica
	set *crdt.Handle[*orset.Set[string]]
}

// startSetRegion starts replica id with peers (id itself, if among them,
// is left out) on net, restoring snap and replaying journal if snap is not
// nil; cfg, if not nil, adjusts its configuration.
func startSetRegion(t *testing.T, net *memnet.Network, clk *clock.Clock, id crdt.ReplicaID, peers []crdt.ReplicaID, cfg func(*crdt.Config), snap []byte, journal [][]byte) setRegion {
	t.Helper()
	c := crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk}
	if cfg != nil {
		cfg(&c)
	}
	r, err := crdt.NewReplica(c)
	if err != nil {
		t.Fatal(err)
	}
	h, err := crdt.Register(r, "set", orset.New[string](id))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range peers {
		if p == id {
			continue
		}
		if err := r.AddPeer(p); err != nil {
			t.Fatal(err)
		}
	}
	if snap != nil {
		if err := r.Restore(snap); err != nil {
			t.Fatal(err)
		}
		for _, rec := range journal {
			if err := r.Replay(rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	net.Attach(id, r)
	return setRegion{r, h}
}

// elemsOfSet returns the elements of g's set, sorted.
func elemsOfSet(g setRegion) (out []string) {
	g.set.Read(func(s *orset.Set[string]) { out = slices.Sorted(s.All()) })
	return out
}

// updateSet makes f's change to g's set as one update; an error fails t.
func updateSet(t *testing.T, g setRegion, f func(s *orset.Set[string]) orset.Op[string]) {
	t.Helper()
	if err := g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return f(s), nil }); err != nil {
		t.Fatal(err)
	}
}

// A record holds received changes among local ops, in the order they were
// applied: an element a peer added and that was then removed here stays
// removed after a replay, and one the peer added later is there. (The
// OR-Set would reach the same state in any order; the journal keeps the
// order anyway, so a type whose ops depend on it replays as it ran.)
func TestReplayOfReceivedAndLocalChanges(t *testing.T) {
	net := memnet.New(3)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano()
	clk := clock.New(clock.WithSource(func() int64 { return now }))
	ctx := context.Background()
	start := func(id, peer crdt.ReplicaID, snap []byte, journal [][]byte) setRegion {
		return startSetRegion(t, net, clk, id, []crdt.ReplicaID{peer}, nil, snap, journal)
	}
	settle := func(rs ...setRegion) {
		for range 10 {
			for _, g := range rs {
				_ = g.r.Tick(ctx)
			}
			net.DeliverAll(ctx)
			now += int64(10 * time.Millisecond)
		}
	}
	elems := elemsOfSet
	a, b := start("a", "b", nil, nil), start("b", "a", nil, nil)
	var snap []byte
	var journal [][]byte
	if err := a.r.SaveSnapshot(func(s []byte) error { snap = s; return nil }); err != nil {
		t.Fatal(err)
	}
	appendRec := func(rec []byte) error { journal = append(journal, rec); return nil }

	updateSet(t, b, func(s *orset.Set[string]) orset.Op[string] { return s.Add("x") })
	settle(a, b)
	updateSet(t, a, func(s *orset.Set[string]) orset.Op[string] { return s.Remove("x") }) // removes b's dot
	updateSet(t, a, func(s *orset.Set[string]) orset.Op[string] { return s.Add("mine") })
	updateSet(t, b, func(s *orset.Set[string]) orset.Op[string] { return s.Add("y") })
	settle(a, b) // y reaches a (a's own ops wait to be saved)
	if err := a.r.SaveOps(appendRec); err != nil {
		t.Fatal(err)
	}
	want := []string{"mine", "y"}
	if got := elems(a); !slices.Equal(got, want) {
		t.Fatalf("a holds %v before the crash, want %v", got, want)
	}
	net.Detach("a")
	net.Detach("b") // b is lost for good
	a = start("a", "b", snap, journal)
	if got := elems(a); !slices.Equal(got, want) {
		t.Fatalf("a restarted holds %v, want %v", got, want)
	}
}

// A region that joins through a catch-up cut into parts journals each
// part as it merged it: restarted from its snapshot and journal, its peer
// gone, it holds the whole set. Parts sent compressed are journaled
// compressed, as they arrived, and replayed.
func TestJournalKeepsACatchUpInParts(t *testing.T) {
	plain := journalCatchUpInParts(t, -1)
	compressed := journalCatchUpInParts(t, 256)
	t.Logf("journal of %d bytes plain, %d compressed", plain, compressed)
	if compressed > plain/2 {
		t.Fatalf("journal of %d bytes with parts compressed, %d plain: the parts were not kept compressed", compressed, plain)
	}
}

// journalCatchUpInParts runs TestJournalKeepsACatchUpInParts with
// Config.CompressAbove set to compressAbove, and returns the bytes of the
// journal.
func journalCatchUpInParts(t *testing.T, compressAbove int) int {
	net := memnet.New(5)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano()
	clk := clock.New(clock.WithSource(func() int64 { return now }))
	ctx := context.Background()
	start := func(id, peer crdt.ReplicaID, snap []byte, journal [][]byte) (*crdt.Replica, *crdt.Handle[*orset.Set[string]]) {
		g := startSetRegion(t, net, clk, id, []crdt.ReplicaID{peer}, func(cfg *crdt.Config) {
			cfg.MaxMessageBytes = crdt.MinMessageBytes
			cfg.CompressAbove = compressAbove
			if id == "a" {
				cfg.MaxLogOps = 4 // b, new, catches up by state, not by a's ops
			}
		}, snap, journal)
		return g.r, g.set
	}
	a, aSet := start("a", "b", nil, nil)
	var want []string
	for i := range 300 {
		e := fmt.Sprintf("element-%03d-of-the-catch-up", i)
		want = append(want, e)
		if err := aSet.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
	}
	b, bSet := start("b", "a", nil, nil)
	var snap []byte
	var journal [][]byte
	if err := b.SaveSnapshot(func(s []byte) error { snap = s; return nil }); err != nil {
		t.Fatal(err)
	}
	elems := func(h *crdt.Handle[*orset.Set[string]]) []string { return elemsOfSet(setRegion{set: h}) }
	for range 200 {
		_, _ = a.Tick(ctx), b.Tick(ctx)
		net.DeliverAll(ctx)
		now += int64(10 * time.Millisecond)
		if err := b.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(elems(bSet), want) {
			break
		}
	}
	if got := elems(bSet); !slices.Equal(got, want) {
		t.Fatalf("b holds %d of %d elements after the catch-up", len(got), len(want))
	}
	if largest := net.Stats().Largest; largest > crdt.MinMessageBytes {
		t.Fatalf("a message of %d bytes, over the limit of %d", largest, crdt.MinMessageBytes)
	}
	if compressAbove < 0 && len(journal) < 2 {
		// Compressed, the parts may share chunks, and records.
		t.Fatalf("the catch-up came in %d journal records; want it in parts", len(journal))
	}
	net.Detach("a") // lost for good
	net.Detach("b")
	_, bSet = start("b", "a", snap, journal)
	if got := elems(bSet); !slices.Equal(got, want) {
		t.Fatalf("b restarted from its snapshot and journal holds %d of %d elements", len(got), len(want))
	}
	size := 0
	for _, rec := range journal {
		size += len(rec)
	}
	return size
}

// reusingReceiver hands its replica every message in one buffer, which it
// overwrites once Receive returns, as a host that reads each message into
// the same buffer does ([crdt.Replica.Receive] keeps nothing of msg).
type reusingReceiver struct {
	r   *crdt.Replica
	buf []byte
}

func (h *reusingReceiver) Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error {
	if cap(h.buf) < len(msg) {
		clear(h.buf[:cap(h.buf)])
		h.buf = make([]byte, 0, 2*len(msg))
	}
	h.buf = append(h.buf[:0], msg...)
	err := h.r.Receive(ctx, from, h.buf)
	for i := range h.buf {
		h.buf[i] = 0xff
	}
	return err
}

// The journal keeps what peers sent, not the host's buffer it arrived in:
// a region whose host reuses its buffer for every message journals ops
// that changed its set, ops that changed nothing (elements it had added
// itself), and catch-up states, over several saves, and restarted from
// its snapshot and journal, its peer gone, it holds what it held.
func TestJournalOfReceivedChangesWithTheHostsBufferReused(t *testing.T) {
	net := memnet.New(9)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC).UnixNano()
	clk := clock.New(clock.WithSource(func() int64 { return now }))
	ctx := context.Background()
	ids := []crdt.ReplicaID{"a", "b"}
	start := func(id crdt.ReplicaID, snap []byte, journal [][]byte) setRegion {
		g := startSetRegion(t, net, clk, id, ids, func(cfg *crdt.Config) {
			cfg.AntiEntropyTicks = -1
			if id == "a" {
				cfg.MaxLogOps = 8 // bursts past it reach b as catch-up states
			}
		}, snap, journal)
		if id == "b" {
			net.Attach(id, &reusingReceiver{r: g.r})
		}
		return g
	}
	a, b := start("a", nil, nil), start("b", nil, nil)
	var snap []byte
	var journal [][]byte
	if err := b.r.SaveSnapshot(func(s []byte) error { snap = s; return nil }); err != nil {
		t.Fatal(err)
	}
	round := func() {
		_, _ = a.r.Tick(ctx), b.r.Tick(ctx)
		net.DeliverAll(ctx)
		now += int64(10 * time.Millisecond)
	}
	saveB := func() {
		t.Helper()
		if err := b.r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		e := fmt.Sprintf("element-%02d", i)
		if i%3 == 0 {
			updateSet(t, b, func(s *orset.Set[string]) orset.Op[string] { return s.Add(e) }) // a's add changes nothing at b
		}
		updateSet(t, a, func(s *orset.Set[string]) orset.Op[string] { return s.Add(e) })
		if i%5 == 4 {
			updateSet(t, a, func(s *orset.Set[string]) orset.Op[string] { return s.Remove(fmt.Sprintf("element-%02d", i-2)) })
		}
		if i%4 == 3 {
			round()
		}
		if i%12 == 11 {
			saveB()
		}
		if i == 40 {
			// A burst past a's op log: b catches up by state.
			for j := range 20 {
				e := fmt.Sprintf("burst-%02d", j)
				updateSet(t, a, func(s *orset.Set[string]) orset.Op[string] { return s.Add(e) })
			}
		}
	}
	for range 20 {
		round()
		saveB()
	}
	want := elemsOfSet(b)
	if got := elemsOfSet(a); !slices.Equal(got, want) {
		t.Fatalf("b holds %v, a %v: not converged", want, got)
	}
	var wantVersion string
	b.set.Read(func(s *orset.Set[string]) { wantVersion = s.Version().String() })
	if len(journal) < 3 {
		t.Fatalf("%d journal records, want several", len(journal))
	}
	net.Detach("a") // lost for good
	net.Detach("b")
	b = start("b", snap, journal)
	if got := elemsOfSet(b); !slices.Equal(got, want) {
		t.Fatalf("b restarted from its snapshot and journal holds %v, want %v", got, want)
	}
	b.set.Read(func(s *orset.Set[string]) {
		if got := s.Version().String(); got != wantVersion {
			t.Fatalf("b restarted at version %s, saved at %s", got, wantVersion)
		}
	})
}
