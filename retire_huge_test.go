package crdt_test

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/vclock"
)

// TestRetireWriterOfHugeCounter: a finished writer whose count in a
// counter passed vclock.MaxSeq (its totals, past 2^62, made by one Add)
// cannot be retired, as an entry's Final is at most MaxSeq: it is never
// proposed, every object keeps it under its own name, and the replica
// counts it in Stats.UnretirableWriters. The engine read every object's
// version as sequence numbers, so the counter's did not decode, and the
// counter was left out of every retirement: the writer was retired
// without it (renamed in the other counter, still named in this one,
// and nothing said so), and so was any other finished writer of that
// counter. Another finished writer of the counter is retired from it too.
func TestRetireWriterOfHugeCounter(t *testing.T) {
	net := memnet.New(5)
	ctx := context.Background()
	a, as := startPNs(t, net, "a", "b", nil, 2)
	b, bs := startPNs(t, net, "b", "a", nil, 2)
	add := func(h *crdt.Handle[*counter.PN], n int64) {
		t.Helper()
		if err := h.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(n) }); err != nil {
			t.Fatal(err)
		}
	}
	add(as[0], vclock.MaxSeq+1)
	add(as[1], 1)
	add(bs[0], 1)
	rounds := func(k int, rs ...*crdt.Replica) {
		for range k {
			for _, r := range rs {
				_ = r.Tick(ctx)
			}
			net.DeliverAll(ctx)
		}
	}
	rounds(30, a, b)
	oldA, oldB := a.Writer(), b.Writer()
	// Both restart from their disks: their first runs' writers are
	// finished.
	a2, as2 := startPNs(t, net, "a", "b", savedSnapshot(t, a), 2)
	b2, bs2 := startPNs(t, net, "b", "a", savedSnapshot(t, b), 2)
	names := func(h *crdt.Handle[*counter.PN], w vclock.ReplicaID) bool {
		n := false
		h.Read(func(c *counter.PN) { n = c.Version().Get(w) != 0 })
		return n
	}
	for i := 0; names(bs2[0], oldB) || names(as2[0], oldB); i++ {
		if i == 300 {
			t.Fatalf("%s still named by the counter it wrote after %d rounds (retired writers: a %d, b %d)", oldB, i, a2.Stats().RetiredWriters, b2.Stats().RetiredWriters)
		}
		rounds(1, a2, b2)
	}
	rounds(100, a2, b2)
	for _, hs := range [][]*crdt.Handle[*counter.PN]{as2, bs2} {
		for i, h := range hs {
			if !names(h, oldA) {
				t.Fatalf("counter %d no longer names %s, whose count in counter 0 is past MaxSeq: retired without it", i, oldA)
			}
		}
	}
	want := []int64{vclock.MaxSeq + 2, 1}
	for _, hs := range [][]*crdt.Handle[*counter.PN]{as2, bs2} {
		for i, h := range hs {
			var v int64
			h.Read(func(c *counter.PN) { v = c.Value() })
			if v != want[i] {
				t.Fatalf("counter %d reads %d, want %d", i, v, want[i])
			}
		}
	}
	for _, r := range []*crdt.Replica{a2, b2} {
		s := r.Stats()
		if s.RetiredWriters != 1 || s.RetireFailures != 0 || len(s.Peers[0].Refused) != 0 {
			t.Fatalf("%s: %d writers retired (want 1: %s), %d failures, refused %v", r.ID(), s.RetiredWriters, oldB, s.RetireFailures, s.Peers[0].Refused)
		}
	}
	// a proposes its own name's writers: it found oldA unretirable.
	if got := a2.Stats().UnretirableWriters; got != 1 {
		t.Fatalf("a: UnretirableWriters = %d, want 1 (%s)", got, oldA)
	}
}
