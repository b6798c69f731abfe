package crdt

import (
	"context"
	"errors"
	"testing"
)

// digestLimit returns the limit named by the last digest sent, and
// whether one was sent at all since the envelopes were cleared.
func digestLimit(t *testing.T, tr *sentTo) (int, bool) {
	t.Helper()
	n, found := 0, false
	for _, e := range tr.envs {
		if !e.HasDigest {
			continue
		}
		found = true
		for _, d := range e.Digest {
			if l, ok := limitOf(d); ok {
				n = l
			}
		}
		if n == 0 {
			t.Fatalf("a digest without a limit entry: %+v", e.Digest)
		}
	}
	return n, found
}

// A message refused as too large makes the replica owe its sender its
// digest, which names the replica's limit: once, until tellTicks ticks
// have passed, however many such messages come; and nothing for a sender
// that is not a peer.
func TestTooLargeMessageAnsweredWithDigest(t *testing.T) {
	tr := &sentTo{}
	a, _ := stubReplica(t, "a", tr)
	ctx := context.Background()
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_ = a.Tick(ctx)
	}
	tr.envs = nil
	big := make([]byte, a.cfg.MaxMessageBytes+1)
	refuse := func(from ReplicaID) {
		t.Helper()
		if err := a.Receive(ctx, from, big); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Receive of %d bytes from %s = %v, want ErrTooLarge", len(big), from, err)
		}
	}
	refuse("b")
	refuse("b")
	refuse("z") // not a peer: counted, nothing owed
	if err := a.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if n, ok := digestLimit(t, tr); !ok || n != a.cfg.MaxMessageBytes {
		t.Fatalf("after a message refused as too large: digest sent %v naming %d, want one naming %d", ok, n, a.cfg.MaxMessageBytes)
	}
	for _, e := range tr.envs {
		if e.To != "b" {
			t.Fatalf("a message to %s", e.To)
		}
	}
	for i := range tellTicks - 1 {
		tr.envs = nil
		refuse("b")
		_ = a.Tick(ctx)
		if _, ok := digestLimit(t, tr); ok {
			t.Fatalf("a digest again %d ticks after the last owed", i+1)
		}
	}
	tr.envs = nil
	refuse("b")
	_ = a.Tick(ctx)
	if _, ok := digestLimit(t, tr); !ok {
		t.Fatalf("no digest %d ticks after the last owed", tellTicks)
	}
	if got := a.Stats().Peers[0].Refused[ReasonTooLarge]; got != uint64(tellTicks+2) {
		t.Fatalf("%d refusals counted as too large from b, want %d", got, tellTicks+2)
	}
}

// The limit a peer's digest names is untrusted: one below MinMessageBytes
// counts as MinMessageBytes, one above the replica's own as its own, a
// malformed entry is ignored, and a digest in parts names it in any part.
// A catch-up in chunks cut for larger messages than the peer now takes
// is given up, to be cut again.
func TestLimitFromDigest(t *testing.T) {
	tr := &sentTo{}
	a, _ := stubReplica(t, "a", tr)
	own := a.cfg.MaxMessageBytes
	limit := func() int { return a.Stats().Peers[0].MessageLimit }
	if got := limit(); got != own {
		t.Fatalf("limit before any digest %d, want the replica's own %d", got, own)
	}
	send := func(entries ...digestEntry) {
		t.Helper()
		e := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true, Digest: entries}
		if err := deliver(t, a, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		entry digestEntry
		want  int
	}{
		{limitEntry(5000), 5000},
		{limitEntry(0), MinMessageBytes},
		{limitEntry(7), MinMessageBytes},
		{digestEntry{Object: limitName, Fingerprint: 1 << 63, HasFingerprint: true}, own},
		{limitEntry(own + 1), own},
		{limitEntry(3000), 3000},
		{digestEntry{Object: limitName, Version: []byte{1}, Fingerprint: 2000, HasFingerprint: true}, 3000}, // malformed: ignored
		{digestEntry{Object: limitName}, 3000},
	} {
		send(tc.entry, digestEntry{Object: "obj", Version: []byte{1}})
		if got := limit(); got != tc.want {
			t.Fatalf("after a digest with %+v: limit %d, want %d", tc.entry, got, tc.want)
		}
	}

	// In two parts, the limit in the first.
	for i, part := range [][]digestEntry{{limitEntry(4000)}, {{Object: "obj", Version: []byte{1}}}} {
		e := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true, Digest: part, DigestRound: 9, DigestPart: uint64(i), DigestParts: 2}
		if err := deliver(t, a, e); err != nil {
			t.Fatal(err)
		}
	}
	if got := limit(); got != 4000 {
		t.Fatalf("after a digest in parts naming 4000: limit %d", got)
	}

	p := a.peers["b"]
	a.mu.Lock()
	p.out = &outCatchUp{num: 1, limit: 4000, chunks: make([]outChunk, 3), left: 3}
	a.mu.Unlock()
	send(limitEntry(4000), digestEntry{Object: "obj", Version: []byte{1}})
	if p.out == nil {
		t.Fatal("a catch-up cut for the peer's limit given up when the limit did not change")
	}
	send(limitEntry(3999), digestEntry{Object: "obj", Version: []byte{1}})
	if p.out != nil || !p.awaitDig {
		t.Fatalf("a catch-up cut for 4000-byte messages kept after the peer named 3999: out %v, awaiting %v", p.out != nil, p.awaitDig)
	}
}
