package crdt

import (
	"errors"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
)

// aboveSnapshot returns a snapshot of replica "a", peer of "b", that says
// it applied n of b's ops past a gap (peer.above): ops 3, 5, 7, and so on.
func aboveSnapshot(t *testing.T, n int) []byte {
	t.Helper()
	r, _ := stubReplica(t, "a", &sentTo{})
	r.mu.Lock()
	p := r.peers["b"]
	p.rinc, p.recv = 1, 1
	p.above = make(map[uint64]struct{}, n)
	for i := range n {
		p.above[uint64(3+2*i)] = struct{}{}
	}
	r.mu.Unlock()
	snap, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// TestRestoreRefusesAboveListPastBound: a replica remembers at most
// maxAbove of a peer's ops past a gap (Receive takes no more), so no honest
// snapshot lists more. A corrupt or crafted one that did was restored, each
// number held in memory for good, as many as the snapshot's bytes allow. It
// is refused whole as not decoding, the replica left fresh (an honest
// snapshot restores next), at a cost linear in its size; a list at the
// bound still restores.
func TestRestoreRefusesAboveListPastBound(t *testing.T) {
	snap := aboveSnapshot(t, maxAbove+1)
	r, _ := stubReplica(t, "a", &sentTo{})
	var err error
	costcheck.Check(t, "restoring", len(snap), 1<<20, func() { err = r.Restore(snap) })
	if err == nil {
		t.Fatalf("a snapshot listing %d ops past a gap of one peer, over the bound of %d, was restored", maxAbove+1, maxAbove)
	}
	if !errors.Is(err, codec.ErrMalformed) || errors.Is(err, ErrRestoreFailed) {
		t.Errorf("refused with %v; want an error of a snapshot that does not decode, nothing changed", err)
	}
	r.mu.RLock()
	broken, above := r.broken, len(r.peers["b"].above)
	r.mu.RUnlock()
	if broken != nil || above != 0 {
		t.Fatalf("the refused snapshot left the replica broken (%v) or holding %d ops past a gap", broken, above)
	}
	if err := r.Restore(aboveSnapshot(t, maxAbove)); err != nil {
		t.Fatalf("a snapshot at the bound, after the refused one: %v", err)
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if p := r.peers["b"]; !p.received(3) || p.received(4) || len(p.above) != maxAbove {
		t.Errorf("restored %d ops past the gap, want %d", len(p.above), maxAbove)
	}
}

// TestRestoreRefusesPeerListedTwice: a replica writes each peer once in a
// snapshot. A crafted or corrupt one listing a peer again, each entry with
// up to maxAbove ops past a gap, made the restored replica hold them all
// for the peer: maxAbove times the number of entries. It is refused whole,
// the replica left fresh.
func TestRestoreRefusesPeerListedTwice(t *testing.T) {
	w := codec.NewWriter(codec.KindSnapshotSealed, 0)
	w.Replica("a")
	w.Uint(7) // incarnation
	w.Uint(0) // ops up to
	putTimestamp(w, clock.Timestamp{Wall: 1_795_000_000_000_000_000})
	putLogEntries(w, nil)
	const copies = 3
	w.Array(copies)
	for c := range copies {
		w.Array(4)
		w.Replica("b")
		w.Uint(1) // its incarnation
		w.Uint(1) // its ops up to
		w.Array(maxAbove)
		for i := range maxAbove {
			w.Uint(uint64(3 + 2*(c*maxAbove+i)))
		}
	}
	w.Array(0) // no objects
	body, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	snap := seal(body)
	r, _ := stubReplica(t, "a", &sentTo{})
	costcheck.Check(t, "restoring", len(snap), 1<<20, func() { err = r.Restore(snap) })
	r.mu.RLock()
	broken, above := r.broken, len(r.peers["b"].above)
	r.mu.RUnlock()
	if err == nil {
		t.Fatalf("a snapshot listing peer b %d times was restored, b holding %d ops past a gap (bound %d)", copies, above, maxAbove)
	}
	if !errors.Is(err, codec.ErrMalformed) || broken != nil || above != 0 {
		t.Errorf("refused with %v, replica broken %v, b holding %d ops past a gap; want a snapshot that does not decode, nothing changed", err, broken, above)
	}
}
