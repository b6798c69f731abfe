package crdt_test

import (
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
)

// The engine saves an LWW-map's snapshot with SnapshotBinary.
var _ crdt.Snapshotter = (*lwwmap.Map[string, string])(nil)

// TestSecondProcessLateWriteOverCollectedDelete with region a restarted
// from its snapshot after it collected the delete's marker and before b
// comes back: b's put, stamped before the delete and new to the restarted
// a, takes k back at both regions. The restarted a must still count it:
// what a collected is part of what it saved.
func TestLateWriteCountedAfterRestartFromSnapshot(t *testing.T) {
	w := newLWWTwoProc(t)
	a := w.start("a", "b", nil)
	b := w.start("b", "a", nil)
	w.put(a, "k", "v0")
	w.rounds(10, a, b)
	b2 := w.start("b", "a", savedSnapshot(t, b.r))
	w.put(b, "k", "old") // not sent: b does not run
	w.now.Add(int64(time.Second))
	w.del(a, "k")
	w.rounds(20, a, b2)
	if p, c := a.r.Stats().GCPending, a.r.Stats().GCCollected; p != 0 || c == 0 {
		t.Fatalf("a holds %d markers, collected %d: the delete was not collected", p, c)
	}
	// a restarts from its latest snapshot; the second process stops and
	// b rejoins.
	a2 := w.start("a", "b", savedSnapshot(t, a.r))
	w.net.Attach("b", b.r)
	w.rounds(20, a2, b)
	va, oka := w.get(a2, "k")
	vb, okb := w.get(b, "k")
	if va != vb || oka != okb {
		t.Fatalf("a reads %q %v, b reads %q %v: the regions differ", va, oka, vb, okb)
	}
	if late := lateWrites(a2, b); (oka || okb) && late == 0 {
		t.Fatalf("restarted a reads %q %v, b reads %q %v, LateWrites %d: the delete was lost and no metric said so", va, oka, vb, okb, late)
	}
	t.Logf("k at a: %q %v, at b: %q %v; LateWrites %d", va, oka, vb, okb, lateWrites(a2, b))
}
