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

// The bound that the transport's refusals set on a peer's messages grows
// back, doubling, only once regrowTicks ticks have passed since it last
// changed, only if a message of more than half of it went through since
// then, and not while a catch-up in chunks is under way to the peer; it is
// dropped once it reaches what the peer would get without it.
func TestBoundGrowsBack(t *testing.T) {
	tr := &sentTo{}
	a, _ := stubReplica(t, "a", tr)
	p := a.peers["b"]
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ticks = 5000
	a.shrink(p, 10_000)
	if p.cap != 5000 || p.capTick != 5000 || p.capUsed {
		t.Fatalf("after a refusal of 10,000 bytes: bound %d set at tick %d, used %v; want 5000 at 5000, unused", p.cap, p.capTick, p.capUsed)
	}
	step := func(ticks uint64, used, catchingUp bool, want int) {
		t.Helper()
		a.ticks += ticks
		p.capUsed = used
		p.out = nil
		if catchingUp {
			p.out = &outCatchUp{num: 1, limit: p.cap}
		}
		a.regrow(p)
		if p.cap != want {
			t.Fatalf("at tick %d (used %v, catch-up under way %v): bound %d, want %d", a.ticks, used, catchingUp, p.cap, want)
		}
	}
	step(regrowTicks-1, true, false, 5000)  // too soon
	step(1, false, false, 5000)             // nothing filled it
	step(0, true, true, 5000)               // a catch-up under way
	step(0, true, false, 10_000)            // grown
	step(regrowTicks-1, true, false, 10000) // too soon since the last growth
	step(1, true, false, 20_000)
	if p.capUsed {
		t.Fatal("the bound grew and still counts as filled")
	}
	// 20,000 doubles to 640,000 in five steps; the sixth reaches the
	// replica's own limit (1 MiB) and drops the bound.
	own := a.cfg.MaxMessageBytes
	for i := range 6 {
		want := p.cap * 2
		if i == 5 {
			want = 0
		}
		step(regrowTicks, true, false, want)
	}
	if own != 1<<20 {
		t.Fatalf("the replica's own limit is %d: the steps above assume 1 MiB", own)
	}
	if got := a.limitTo(p); got != a.cfg.MaxMessageBytes {
		t.Fatalf("limit to the peer %d once the bound is dropped, want %d", got, a.cfg.MaxMessageBytes)
	}
}

// limitedSentTo is a sentTo that is a Limiter of n bytes.
type limitedSentTo struct {
	sentTo
	n int
}

func (l *limitedSentTo) MaxMessageBytes() int { return l.n }

// A transport's limit that falls is named to the peers in a digest at the
// next tick, without waiting for the next exchange of digests (off here);
// one that rises waits for it.
func TestFallenLimitNamedAtOnce(t *testing.T) {
	tr := &limitedSentTo{n: 64 << 10}
	a, _ := stubReplica(t, "a", tr)
	tick := func() {
		t.Helper()
		tr.envs = nil
		if err := a.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		tick()
	}
	if _, ok := digestLimit(t, &tr.sentTo); ok {
		t.Fatal("a digest sent with anti-entropy off and nothing owed: the test cannot tell")
	}
	tr.n = 8 << 10
	tick()
	if n, ok := digestLimit(t, &tr.sentTo); !ok || n != 8<<10 {
		t.Fatalf("after the transport's limit fell to 8 KiB: digest sent %v naming %d", ok, n)
	}
	tick()
	if _, ok := digestLimit(t, &tr.sentTo); ok {
		t.Fatal("a digest sent again with the limit unchanged")
	}
	tr.n = 16 << 10
	tick()
	if _, ok := digestLimit(t, &tr.sentTo); ok {
		t.Fatal("a digest sent when the limit rose")
	}
}
