package crdt_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
)

// hostDisk is what a host keeps of a replica: its last snapshot and the
// journal records appended since.
type hostDisk struct {
	snap    []byte
	journal [][]byte
}

// persist saves n onto d: a journal record, or a snapshot when the
// replica needs one.
func persist(t *testing.T, n *allNode, d *hostDisk) {
	t.Helper()
	err := n.r.SaveOps(func(rec []byte) error { d.journal = append(slices.Clip(d.journal), rec); return nil })
	if errors.Is(err, crdt.ErrSnapshotNeeded) || errors.Is(err, crdt.ErrNoSnapshot) {
		d.snap, d.journal = savedSnapshot(t, n.r), nil
	} else if err != nil {
		t.Fatal(err)
	}
}

// restoreAll starts replica id from d: its snapshot, then its journal.
func restoreAll(t *testing.T, net *memnet.Network, id, peer crdt.ReplicaID, d hostDisk) *allNode {
	t.Helper()
	n := startAllNode(t, net, id, peer, d.snap)
	for i, rec := range d.journal {
		if err := n.r.Replay(rec); err != nil {
			t.Fatalf("replaying record %d of %d: %v", i, len(d.journal), err)
		}
	}
	return n
}

// A replica restored from a backup taken before one of its writers was
// retired, whose journal holds ops of that writer, converges with its
// peer in every object, holding every write of every run.
func TestRestoreBackupWithJournalFromBeforeRetirementEveryType(t *testing.T) {
	net := memnet.New(21)
	ctx := context.Background()
	var da, db hostDisk
	a := startAllNode(t, net, "a", "b", nil)
	b := startAllNode(t, net, "b", "a", nil)
	rounds := func(k int) {
		for range k {
			_ = a.r.Tick(ctx)
			_ = b.r.Tick(ctx)
			net.DeliverAll(ctx)
			persist(t, a, &da)
			persist(t, b, &db)
		}
	}
	write := func(n *allNode, d *hostDisk, tag string, i int) {
		t.Helper()
		n.writeOnly(t, tag, i)
		persist(t, n, d)
	}
	persist(t, a, &da)
	persist(t, b, &db)
	write(a, &da, "x0", 0)
	write(b, &db, "b0", 1)
	rounds(20)
	da.snap, da.journal = savedSnapshot(t, a.r), nil
	write(a, &da, "x1", 2) // in the journal only
	w1 := a.r.Writer()
	rounds(20)
	backup := hostDisk{da.snap, slices.Clone(da.journal)}
	// A restart, and the first run's writer is retired.
	a = restoreAll(t, net, "a", "b", da)
	write(a, &da, "x2", 3)
	for i := 0; b.names(w1); i++ {
		if i == 3000 {
			t.Fatalf("%s not retired", w1)
		}
		rounds(1)
	}
	rounds(20)
	// The disk is lost; the older backup comes back.
	a = restoreAll(t, net, "a", "b", backup)
	write(a, &da, "x3", 4)
	rounds(200)
	want := a.content()
	if got := b.content(); got != want {
		t.Fatalf("a and b differ:\na %s\nb %s", want, got)
	}
	for _, tag := range []string{"x0", "b0", "x1", "x2", "x3"} {
		if !containsTag(want, tag) {
			t.Fatalf("%s lacks %s", want, tag)
		}
	}
	// x0..x3 and b0: 5 writes, at i = 0..4.
	if !strings.HasSuffix(want, "counter 5, G 5, PN 4") {
		t.Fatalf("a and b hold %s, want 5 writes, 5 increments, a balance of 4", want)
	}
	for _, n := range []*allNode{a, b} {
		if st := n.r.Stats(); st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Fatalf("%s: %d ledger conflicts, %d refused retirements", n.r.ID(), st.LedgerConflicts, st.RetireFailures)
		}
	}
}
