package crdt

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/orset"
)

// frozenProbe is an OR-Set whose catch-up cuts check, as they run,
// whether the replica's lock is free, and make a local write while it is.
type frozenProbe struct {
	*orset.Set[string]
	r      *Replica
	h      *Handle[*frozenProbe]
	cuts   int // cuts run
	locked int // cuts that found the lock held
}

func (f *frozenProbe) FreezeChunks(version []byte, max int) func() ([][]byte, int, error) {
	cut := f.Set.FreezeChunks(version, max)
	if cut == nil {
		return nil
	}
	return func() ([][]byte, int, error) {
		f.cuts++
		if !f.r.mu.TryLock() {
			f.locked++
			return cut()
		}
		f.r.mu.Unlock()
		// A local write in the middle of the cut: it is not in the copy,
		// and reaches the peer as an op after the catch-up.
		if err := f.h.Update(func(s *frozenProbe) (Op, error) { return s.Add("written-during-the-cut"), nil }); err != nil {
			return nil, 0, err
		}
		return cut()
	}
}

// queued is a transport that keeps messages until the test delivers them.
type queued struct {
	from ReplicaID
	q    *[]queuedMsg
}

type queuedMsg struct {
	from, to ReplicaID
	msg      []byte
}

func (t *queued) Send(_ context.Context, to ReplicaID, msg []byte) error {
	*t.q = append(*t.q, queuedMsg{t.from, to, msg})
	return nil
}

// TestCatchUpCutOutsideTheLock: a holder of a set too large for one
// message copies it under its lock for a new peer's catch-up and cuts the
// copy with the lock free (a local write goes through meanwhile); the
// peer ends with every element, the one written during the cut included.
func TestCatchUpCutOutsideTheLock(t *testing.T) {
	const n = 20_000
	var q []queuedMsg
	ids := [2]ReplicaID{"a", "b"}
	var rs [2]*Replica
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	probe := &frozenProbe{Set: orset.New[string]("a")}
	for i := range n {
		probe.Add(fmt.Sprintf("element-%05d", i))
	}
	var hb *Handle[*orset.Set[string]]
	for i, id := range ids {
		r, err := NewReplica(Config{ID: id, Transport: &queued{from: id, q: &q}, Clock: clk, MaxMessageBytes: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			probe.r = r
			if probe.h, err = Register(r, "set", probe); err != nil {
				t.Fatal(err)
			}
		} else if hb, err = Register(r, "set", orset.New[string](id)); err != nil {
			t.Fatal(err)
		}
		if err := r.AddPeer(ids[1-i]); err != nil {
			t.Fatal(err)
		}
		rs[i] = r
	}
	ctx := context.Background()
	got := 0
	for round := 0; got != n+1; round++ {
		if round > 1000 {
			t.Fatalf("the peer holds %d of %d elements after %d rounds", got, n+1, round)
		}
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		batch := q
		q = nil
		for _, m := range batch {
			to := rs[0]
			if m.to == ids[1] {
				to = rs[1]
			}
			if err := to.Receive(ctx, m.from, m.msg); err != nil {
				t.Fatalf("%s refused a message: %v", m.to, err)
			}
		}
		hb.Read(func(s *orset.Set[string]) { got = s.Len() })
	}
	if probe.cuts == 0 {
		t.Fatal("no catch-up was cut from a copy")
	}
	if probe.locked > 0 {
		t.Fatalf("%d of %d cuts ran with the replica's lock held", probe.locked, probe.cuts)
	}
	hb.Read(func(s *orset.Set[string]) {
		if !s.Contains("written-during-the-cut") {
			t.Fatal("the write made during the cut did not arrive")
		}
	})
	if st := rs[0].Stats().Peers[0]; st.CatchUpChunks == 0 && st.ChunksSent == 0 {
		t.Fatalf("the catch-up went whole: %+v", st)
	}
}
