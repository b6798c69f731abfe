package crdt

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// ledgerPair returns replicas a and b, peers of each other and of m, which
// the test plays, over a queued transport, and a function that runs n
// rounds between a and b (messages to m are dropped).
func ledgerPair(t *testing.T) (a, b *Replica, rounds func(n int)) {
	t.Helper()
	return ledgerPairOf(t, 0)
}

// ledgerPairOf is ledgerPair with messages of at most maxBytes (0: the
// default).
func ledgerPairOf(t *testing.T, maxBytes int) (a, b *Replica, rounds func(n int)) {
	t.Helper()
	var q []queuedMsg
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	rs := map[ReplicaID]*Replica{}
	for _, id := range []ReplicaID{"a", "b"} {
		r, err := NewReplica(Config{ID: id, Transport: &queued{from: id, q: &q}, Clock: clk, MaxMessageBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Register(r, "set", orset.New[string](id)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []ReplicaID{"a", "b", "m"} {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		rs[id] = r
	}
	ctx := context.Background()
	rounds = func(n int) {
		for range n {
			for _, id := range []ReplicaID{"a", "b"} {
				_ = rs[id].Tick(ctx)
			}
			batch := q
			q = nil
			for _, m := range batch {
				if to := rs[m.to]; to != nil {
					_ = to.Receive(ctx, m.from, m.msg)
				}
			}
		}
	}
	return rs["a"], rs["b"], rounds
}

// sendEntries delivers to r a message from m carrying entries of m's list
// from index 0, as m would send them to a replica that lacks them.
func sendEntries(t *testing.T, r *Replica, es ...retireEntry) {
	t.Helper()
	sendEntriesFrom(t, r, 0, es...)
}

// sendEntriesFrom is sendEntries from index first.
func sendEntriesFrom(t *testing.T, r *Replica, first uint64, es ...retireEntry) {
	t.Helper()
	sec := &retireSection{Sum: 0x5eed}
	for i, e := range es {
		sec.Entries = append(sec.Entries, ledgerEntry{"m", first + uint64(i), e})
	}
	env := &envelope{From: "m", To: r.id, Incarnation: 1, Retire: sec}
	msg, err := env.encode()
	if err != nil {
		t.Fatal(err)
	}
	_ = r.Receive(context.Background(), "m", msg)
}

func ledgerLen(r *Replica, name ReplicaID) uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.led.len(name)
}

// TestLedgerConflictSeenInSummaries: a peer (m) hands two replicas
// different first entries of its list. The two replicas' ledgers then
// differ at one place, so they exchange no data; that must show in
// Stats.LedgerConflicts, and neither may append the other's later entries
// onto its own, differing, first one.
func TestLedgerConflictSeenInSummaries(t *testing.T) {
	e1 := retireEntry{From: vclock.Writer("m", 5), Finals: []objFinal{{"set", 3}}}
	e2 := retireEntry{From: vclock.Writer("m", 6), Finals: []objFinal{{"set", 3}}}
	e3 := retireEntry{From: vclock.Writer("m", 7), Finals: []objFinal{{"set", 1}}}
	t.Run("same length", func(t *testing.T) {
		a, b, rounds := ledgerPair(t)
		sendEntries(t, a, e1)
		sendEntries(t, b, e2)
		rounds(20)
		ca, cb := a.Stats().LedgerConflicts, b.Stats().LedgerConflicts
		if ca == 0 || cb == 0 {
			t.Fatalf("ledgers differ at entry 0 of m's list: conflicts a %d, b %d", ca, cb)
		}
	})
	t.Run("longer list", func(t *testing.T) {
		a, b, rounds := ledgerPair(t)
		sendEntries(t, a, e1)
		sendEntries(t, b, e2, e3)
		rounds(20)
		if n := ledgerLen(a, "m"); n != 1 {
			t.Errorf("a appended b's entry onto its own differing one: list of %d", n)
		}
		if c := b.Stats().LedgerConflicts; c == 0 {
			t.Errorf("b's ledger differs from a's at entry 0 of m's list: conflicts %d", c)
		}
	})
}

// TestEntryRenamingNothingKeepsCatchUps: a peer (m) retires a writer of
// its own at every round, in entries that name no object the replicas
// hold (a writer of a run that never wrote to them, or a forged one).
// Installing such an entry renames nothing, so nothing computed for the
// other peers names the writer: a catch-up on its way from a to b must
// go on, not start over at each entry and never end.
func TestEntryRenamingNothingKeepsCatchUps(t *testing.T) {
	const n = 3000
	a, b, round := ledgerPairOf(t, 16<<10)
	big := orset.New[string](a.Writer())
	for i := range n {
		big.Add(fmt.Sprintf("element-%05d", i))
	}
	// a held the elements before it registered the set: they reach b
	// only by catch-up, in many chunks.
	if _, err := Register(a, "big", big); err != nil {
		t.Fatal(err)
	}
	hb, err := Register(b, "big", orset.New[string](b.Writer()))
	if err != nil {
		t.Fatal(err)
	}
	size := func() int {
		k := 0
		hb.Read(func(s *orset.Set[string]) { k = s.Len() })
		return k
	}
	for i := range 400 {
		round(1)
		e := retireEntry{From: vclock.Writer("m", uint64(1000+i)), Finals: []objFinal{{"big", 1}, {"no-such-object", 1}}}
		sendEntriesFrom(t, a, uint64(i), e)
		sendEntriesFrom(t, b, uint64(i), e)
		if size() == n {
			return
		}
	}
	t.Fatalf("b holds %d of a's %d elements after 400 rounds, ledgers %d and %d long", size(), n, ledgerLen(a, "m"), ledgerLen(b, "m"))
}
