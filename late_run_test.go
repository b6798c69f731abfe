package crdt

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// TestLateRunMessagesKeepNoDigestFromCompleting: with the clock's maximum
// offset off (no stale check by time), peer b restarts (run 2) and sends
// its digest in two parts, while messages of its earlier run 1, sent
// before the restart and delivered late or again, keep arriving between
// the parts. Each made the replica switch back to run 1 and then to run
// 2, dropping the part of run 2's digest gathered so far, so that no
// digest of b's ever completed while the trickle went on. Each run keeps
// the parts of its digest gathered so far across the switches: the late
// messages are taken (they may carry what b's earlier run still owes),
// and run 2's digest completes all the same.
func TestLateRunMessagesKeepNoDigestFromCompleting(t *testing.T) {
	const now = 1_795_000_000_000_000_000
	clk := clock.New(clock.WithSource(func() int64 { return now }), clock.WithMaxOffset(0))
	r, err := NewReplica(Config{ID: "a", Transport: &sentTo{}, Clock: clk, AntiEntropyTicks: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Register(r, "obj", &stubObject{version: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	at := func(wall int64) clock.Timestamp { return clock.Timestamp{Wall: wall} }
	// Run 1's messages, the last two of which will arrive late.
	old := []*envelope{
		{From: "b", To: "a", Incarnation: 1, Now: at(now - 300)},
		{From: "b", To: "a", Incarnation: 1, Now: at(now - 200)},
		{From: "b", To: "a", Incarnation: 1, Now: at(now - 100)},
	}
	if err := deliver(t, r, old[0]); err != nil {
		t.Fatal(err)
	}
	for round := uint64(1); round <= 3; round++ {
		for part := range uint64(2) {
			msg := &envelope{From: "b", To: "a", Incarnation: 2, Now: at(now + int64(10*round+part)),
				HasDigest: true, DigestRound: round, DigestPart: part, DigestParts: 2,
				Digest: []digestEntry{{Object: "obj", Version: []byte{byte(round)}}}}
			if err := deliver(t, r, msg); err != nil {
				t.Fatalf("round %d, part %d of run 2's digest: %v", round, part, err)
			}
			if part == 0 {
				// Late: a message of run 1, sent before the restart.
				if err := deliver(t, r, old[1+int(round)%2]); err != nil {
					t.Errorf("round %d: a late message of b's earlier run, between the parts of its new run's digest: %v", round, err)
				}
			}
		}
		r.mu.Lock()
		p := r.peers["b"]
		done, rinc := p.hasTheir, p.rinc
		p.hasTheir, p.theirDig = false, nil // as a catch-up would take it
		r.mu.Unlock()
		if !done || rinc != 2 {
			t.Fatalf("round %d: run 2's digest complete %v, current run %d; want complete, run 2", round, done, rinc)
		}
	}
	if n := r.Stats().Peers[0].Refused; len(n) != 0 {
		t.Errorf("refused %v, want nothing", n)
	}
}
