package crdt

import (
	"context"
	"testing"
)

// TestOpsPastAGapBounded: the peer's ops applied past a gap in its
// sequence numbers are remembered one by one (peer.above) until the gap
// is filled, and a peer chose the numbers: messages of ops numbered past
// gaps it never fills (50,000 ops of a few bytes each, a message of
// 250 KB) made the replica keep an entry for each, for good, however many
// it sent. Past maxAbove of them, ops past the gap wait: they are sent
// again once it is filled, or a catch-up brings them.
func TestOpsPastAGapBounded(t *testing.T) {
	r, _ := stubReplica(t, "a", &sentTo{})
	ctx := context.Background()
	const perMsg = 50_000
	for i := range 4 {
		env := &envelope{From: "b", To: "a", Incarnation: 1, FirstSeq: uint64(2 + i*2*perMsg)}
		for range perMsg {
			env.Ops = append(env.Ops, opEntry{Object: "obj", Op: []byte{0xc0}})
		}
		msg, err := env.encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Receive(ctx, "b", msg); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	p := r.peers["b"]
	n, recv := len(p.above), p.recv
	r.mu.Unlock()
	if recv != 0 {
		t.Fatalf("recv %d with op 1 never sent", recv)
	}
	if n > maxAbove {
		t.Fatalf("%d ops past the gap remembered, more than %d", n, maxAbove)
	}
	// The gap filled, the ops past it are taken as they come again.
	env := &envelope{From: "b", To: "a", Incarnation: 1, FirstSeq: 1, Ops: []opEntry{{Object: "obj", Op: []byte{0xc0}}}}
	for range perMsg {
		env.Ops = append(env.Ops, opEntry{Object: "obj", Op: []byte{0xc0}})
	}
	if err := deliver(t, r, env); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	recv = p.recv
	r.mu.Unlock()
	if recv < perMsg+1 {
		t.Fatalf("recv %d after the gap was filled, want at least %d", recv, perMsg+1)
	}
}
