package crdt_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// pairNode is one replica of a conflictPair: a map "todos" and a register
// "title", and the conflicts its OnConflict heard.
type pairNode struct {
	r     *crdt.Replica
	todos *crdt.Handle[*lwwmap.Map[string, string]]
	title *crdt.Handle[*register.LWW[string]]
	mu    sync.Mutex
	got   []crdt.Conflict
}

func (n *pairNode) reports() []crdt.Conflict {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.got)
}

// conflictPair is two replicas, "us" and "eu", over a memnet network, with
// time driven by the test (eu's clock reads 1µs later than us's).
type conflictPair struct {
	t     failer
	hook  func(n *pairNode, c crdt.Conflict) // called by OnConflict after recording c
	net   *memnet.Network
	now   *atomic.Int64
	nodes map[crdt.ReplicaID]*pairNode
}

func newConflictPair(t failer, seed uint64) *conflictPair {
	return newConflictPairHook(t, seed, nil)
}

func newConflictPairHook(t failer, seed uint64, hook func(n *pairNode, c crdt.Conflict)) *conflictPair {
	p := &conflictPair{t: t, net: memnet.New(seed), now: new(atomic.Int64), nodes: map[crdt.ReplicaID]*pairNode{}, hook: hook}
	p.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	p.start("us", "eu", 0, nil)
	p.start("eu", "us", 1000, nil)
	return p
}

// start makes replica id, restoring snap if given.
func (p *conflictPair) start(id, peer crdt.ReplicaID, offset int64, snap []byte) *pairNode {
	p.t.Helper()
	n := &pairNode{}
	r, err := crdt.NewReplica(crdt.Config{
		ID:        id,
		Transport: p.net.Transport(id),
		Clock:     clock.New(clock.WithSource(func() int64 { return p.now.Load() + offset })),
		OnConflict: func(c crdt.Conflict) {
			n.mu.Lock()
			n.got = append(n.got, c)
			n.mu.Unlock()
			if p.hook != nil {
				p.hook(n, c)
			}
		},
		AntiEntropyTicks: 25,
	})
	if err != nil {
		p.t.Fatal(err)
	}
	n.r = r
	if n.todos, err = crdt.Register(r, "todos", lwwmap.New[string, string](id, r.Clock())); err != nil {
		p.t.Fatal(err)
	}
	if n.title, err = crdt.Register(r, "title", register.NewLWW[string](id, r.Clock())); err != nil {
		p.t.Fatal(err)
	}
	attachRestored(p.t, p.net, r, snap, peer)
	p.nodes[id] = n
	return n
}

func (p *conflictPair) put(id crdt.ReplicaID, k, v string) {
	p.t.Helper()
	err := p.nodes[id].todos.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, v), nil })
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *conflictPair) setTitle(id crdt.ReplicaID, v string) {
	p.t.Helper()
	err := p.nodes[id].title.Update(func(r *register.LWW[string]) (crdt.Op, error) { return r.Set(v), nil })
	if err != nil {
		p.t.Fatal(err)
	}
}

func (p *conflictPair) get(id crdt.ReplicaID, k string) (v string) {
	p.nodes[id].todos.Read(func(m *lwwmap.Map[string, string]) { v, _ = m.Get(k) })
	return v
}

// settle runs rounds until both replicas hold the same content and have
// nothing left to send.
func (p *conflictPair) settle() {
	p.t.Helper()
	ctx := context.Background()
	for range 400 {
		done := true
		var fp [2]uint64
		for i, id := range []crdt.ReplicaID{"us", "eu"} {
			n := p.nodes[id]
			n.todos.Read(func(m *lwwmap.Map[string, string]) { fp[i] = m.Fingerprint() })
			var tf uint64
			n.title.Read(func(r *register.LWW[string]) { tf = r.Fingerprint() })
			fp[i] ^= tf * 31
			for _, ps := range n.r.Stats().Peers {
				if ps.PendingOps != 0 {
					done = false
				}
			}
		}
		if done && fp[0] == fp[1] {
			return
		}
		for _, id := range []crdt.ReplicaID{"us", "eu"} {
			_ = p.nodes[id].r.Tick(ctx)
		}
		p.net.DeliverAll(ctx)
		p.now.Add(int64(10 * time.Millisecond))
	}
	p.t.Fatalf("no convergence (last error %v)", p.net.LastError())
}

// conflicted writes k at both replicas while they are cut off, heals, and
// returns the losing and winning values.
func (p *conflictPair) conflicted(k string, i int) (lost, won string) {
	p.t.Helper()
	p.net.Partition("us", "eu")
	p.put("us", k, fmt.Sprintf("us-%d", i))
	p.now.Add(int64(time.Millisecond))
	p.put("eu", k, fmt.Sprintf("eu-%d", i))
	ctx := context.Background()
	for range 3 { // a few rounds lost to the cut
		_ = p.nodes["us"].r.Tick(ctx)
		_ = p.nodes["eu"].r.Tick(ctx)
		p.net.DeliverAll(ctx)
		p.now.Add(int64(10 * time.Millisecond))
	}
	p.net.Heal("us", "eu")
	p.settle()
	won = p.get("us", k)
	lost = fmt.Sprintf("us-%d", i)
	if won == lost {
		lost = fmt.Sprintf("eu-%d", i)
	}
	return lost, won
}

func TestConflictReportedOnceOnEachSide(t *testing.T) {
	p := newConflictPair(t, 1)
	p.net.Duplicate = 0.5
	p.net.Reorder = true
	lost, won := p.conflicted("t1", 1)
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		got := p.nodes[id].reports()
		if len(got) != 1 {
			t.Fatalf("%s heard %d reports, want 1: %+v", id, len(got), got)
		}
		c := got[0]
		if c.Object != "todos" || c.Key != "t1" || c.Lost.Value != lost || c.Won.Value != won || c.Lost.Writer.Name() != crdt.ReplicaID(lost[:2]) {
			t.Fatalf("%s heard %+v; want %s lost to %s", id, c, lost, won)
		}
	}
	// Edits made after seeing each other report nothing, however
	// delivered.
	p.put("us", "t1", "later")
	p.settle()
	p.put("eu", "t1", "later still")
	p.settle()
	p.setTitle("us", "groceries")
	p.settle()
	p.setTitle("eu", "shopping")
	p.settle()
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		if got := p.nodes[id].reports(); len(got) != 1 {
			t.Fatalf("%s heard %+v after ordered writes", id, got)
		}
	}
	// The register reports too.
	p.net.Partition("us", "eu")
	p.setTitle("us", "a")
	p.now.Add(int64(time.Millisecond))
	p.setTitle("eu", "b")
	p.net.Heal("us", "eu")
	p.settle()
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		got := p.nodes[id].reports()
		if len(got) != 2 || got[1].Object != "title" || got[1].Lost.Value != "a" || got[1].Won.Value != "b" || got[1].Key != nil {
			t.Fatalf("%s heard %+v", id, got)
		}
	}
}

func TestConflictReportsUnderFaults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		p := newConflictPair(rt, rapid.Uint64().Draw(rt, "seed"))
		p.net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
		p.net.Duplicate = rapid.Float64Range(0, 0.5).Draw(rt, "dup")
		p.net.Reorder = rapid.Bool().Draw(rt, "reorder")
		p.net.MaxDelay = rapid.IntRange(0, 3).Draw(rt, "delay")
		p.net.Corrupt = rapid.Float64Range(0, 0.1).Draw(rt, "corrupt")
		type want struct{ key, lost, won string }
		var wants []want
		for i := range rapid.IntRange(1, 6).Draw(rt, "rounds") {
			key := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(rt, "key")
			if rapid.Bool().Draw(rt, "ordered") {
				// Writes that see each other: no report.
				p.put("us", key, fmt.Sprintf("o-us-%d", i))
				p.settle()
				p.put("eu", key, fmt.Sprintf("o-eu-%d", i))
				p.settle()
				continue
			}
			lost, won := p.conflicted(key, i)
			wants = append(wants, want{key, lost, won})
		}
		// The replica whose write lost hears of it exactly once. The
		// other hears of it at most once: only if it met the lost write
		// (a state from the losing side no longer holds it).
		for _, id := range []crdt.ReplicaID{"us", "eu"} {
			got := p.nodes[id].reports()
			for _, w := range wants {
				mine := w.lost[:2] == string(id)
				if len(got) > 0 && got[0].Lost.Value == w.lost {
					c := got[0]
					got = got[1:]
					if c.Object != "todos" || c.Key != w.key || c.Won.Value != w.won {
						rt.Fatalf("%s heard %+v, want %+v", id, c, w)
					}
				} else if mine {
					rt.Fatalf("%s did not hear that its write %+v lost; heard %+v", id, w, p.nodes[id].reports())
				}
			}
			if len(got) != 0 {
				rt.Fatalf("%s heard more: %+v (want %+v)", id, got, wants)
			}
		}
	})
}

// The hook may call back into the replica: it runs without the engine's
// lock.
func TestOnConflictMayUseTheReplica(t *testing.T) {
	var seen []string
	p := newConflictPairHook(t, 2, func(n *pairNode, c crdt.Conflict) {
		if n != nil && n.r.ID() != "us" {
			return
		}
		var v string
		n.todos.Read(func(m *lwwmap.Map[string, string]) { v, _ = m.Get(c.Key.(string)) })
		seen = append(seen, v)
		// A local write from within the hook, answering the conflict.
		err := n.todos.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
			return m.Put("log", fmt.Sprintf("%v lost", c.Lost.Value)), nil
		})
		if err != nil {
			t.Error(err)
		}
	})
	lost, won := p.conflicted("k", 1)
	p.settle()
	if !slices.Equal(seen, []string{won}) || p.get("eu", "log") != lost+" lost" {
		t.Fatalf("the hook saw %q; eu's log holds %q", seen, p.get("eu", "log"))
	}
}

// noisy is a gset that reports a conflict for every op and state it takes
// in, so that a test can see which of the engine's paths pass reports on.
type noisy struct {
	*gset
	hook func(vclock.Conflict)
}

func (s *noisy) SetConflictHook(f func(vclock.Conflict)) { s.hook = f }

func (s *noisy) ApplyBinary(b []byte) (bool, error) {
	ch, err := s.gset.ApplyBinary(b)
	if err == nil && s.hook != nil {
		s.hook(vclock.Conflict{Key: "op"})
	}
	return ch, err
}

func (s *noisy) MergeBinary(b []byte) (bool, error) {
	ch, err := s.gset.MergeBinary(b)
	if err == nil && s.hook != nil {
		s.hook(vclock.Conflict{Key: "state"})
	}
	return ch, err
}

func TestRestoreAndReplayPassNoReportsOn(t *testing.T) {
	net := memnet.New(3)
	now := new(atomic.Int64)
	now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	var heard []crdt.Conflict
	mk := func() (*crdt.Replica, *crdt.Handle[*noisy]) {
		r, err := crdt.NewReplica(crdt.Config{ID: "us", Transport: net.Transport("us"),
			Clock: clock.New(clock.WithSource(now.Load)), OnConflict: func(c crdt.Conflict) { heard = append(heard, c) }})
		if err != nil {
			t.Fatal(err)
		}
		h, err := crdt.Register(r, "s", &noisy{gset: newGSet("us")})
		if err != nil {
			t.Fatal(err)
		}
		return r, h
	}
	r, h := mk()
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	var journal [][]byte
	for _, e := range []string{"x", "y"} {
		if err := h.Update(func(s *noisy) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
		if err := r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	// A newer snapshot and the journal of the older one: the state is
	// merged and the ops applied again, and nothing is reported.
	r2, h2 := mk()
	if err := r2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	for _, rec := range journal {
		if err := r2.Replay(rec); err != nil {
			t.Fatal(err)
		}
	}
	var elems []string
	h2.Read(func(s *noisy) { elems = s.Elems() })
	if !slices.Equal(elems, []string{"x", "y"}) || len(heard) != 0 {
		t.Fatalf("restored %v; heard %+v", elems, heard)
	}
}

// capture is a transport that keeps what it is given.
type capture struct{ msgs [][]byte }

func (c *capture) Send(_ context.Context, _ crdt.ReplicaID, msg []byte) error {
	c.msgs = append(c.msgs, slices.Clone(msg))
	return nil
}

// A message that is refused passes no report on; the same message intact
// does, once.
func TestBadMessagesPassNoReportsOn(t *testing.T) {
	now := new(atomic.Int64)
	now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	type side struct {
		r     *crdt.Replica
		out   *capture
		todos *crdt.Handle[*lwwmap.Map[string, string]]
		heard []crdt.Conflict
	}
	mk := func(id, peer crdt.ReplicaID, offset int64) *side {
		s := &side{out: &capture{}}
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: s.out,
			Clock:      clock.New(clock.WithSource(func() int64 { return now.Load() + offset })),
			OnConflict: func(c crdt.Conflict) { s.heard = append(s.heard, c) }})
		if err != nil {
			t.Fatal(err)
		}
		s.r = r
		s.todos, _ = crdt.Register(r, "todos", lwwmap.New[string, string](id, r.Clock()))
		_ = r.AddPeer(peer)
		return s
	}
	us, eu := mk("us", "eu", 0), mk("eu", "us", 1000)
	_ = us.todos.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put("k", "a"), nil })
	_ = eu.todos.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put("k", "b"), nil })
	ctx := context.Background()
	refused := 0
	for range 10 {
		_ = us.r.Tick(ctx)
		_ = eu.r.Tick(ctx)
		toUS, toEU := eu.out.msgs, us.out.msgs
		eu.out.msgs, us.out.msgs = nil, nil
		for _, m := range toUS {
			heard := len(us.heard)
			// Every message damaged at a few places first: refused, and
			// nothing heard.
			for _, at := range []int{0, len(m) / 3, len(m) / 2, len(m) - 1} {
				bad := slices.Clone(m)
				bad[at] ^= 0x10
				if err := us.r.Receive(ctx, "eu", bad); err == nil {
					t.Fatalf("a damaged message was accepted")
				}
				refused++
			}
			if err := us.r.Receive(ctx, "eu", m[:len(m)-1]); err == nil {
				t.Fatal("a truncated message was accepted")
			}
			if len(us.heard) != heard {
				t.Fatalf("us heard %+v from damaged messages", us.heard[heard:])
			}
			_ = us.r.Receive(ctx, "eu", m)
			_ = us.r.Receive(ctx, "eu", m) // and again
		}
		for _, m := range toEU {
			_ = eu.r.Receive(ctx, "us", m)
		}
		now.Add(int64(10 * time.Millisecond))
	}
	if refused == 0 {
		t.Fatal("eu sent nothing")
	}
	for _, s := range []*side{us, eu} {
		if len(s.heard) != 1 || s.heard[0].Lost.Value != "a" || s.heard[0].Won.Value != "b" {
			t.Fatalf("heard %+v, want a lost to b once", s.heard)
		}
	}
}
