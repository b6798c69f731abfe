package crdt_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// A replica that journals what its peers send merged, after a writer's
// retirement, a state holding that writer's writes past Final (a second
// process under the writer's name went on). Restarted from its snapshot
// and journal, it must hold them again: the journal's records after the
// snapshot that took the retirement in hold changes made after it, and
// the writer's name in them is the writer's, not a name renamed since.
func TestJournalKeepsWritesPastFinalOfARetiredWriter(t *testing.T) {
	net := memnet.New(3)
	first := startAllNode(t, net, "a", "b", nil)
	b := startAllNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*allNode).replica)
	var snap []byte
	var journal [][]byte
	save := func() {
		t.Helper()
		err := b.r.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil })
		if errors.Is(err, crdt.ErrSnapshotNeeded) || errors.Is(err, crdt.ErrNoSnapshot) {
			snap, journal = savedSnapshot(t, b.r), nil
		} else if err != nil {
			t.Fatal(err)
		}
	}
	first.write(t, "a0", 0)
	b.write(t, "b0", 0)
	save()
	for range 30 {
		rounds(1, first, b)
		save()
	}
	w1 := first.r.Writer()
	second := startAllNode(t, net, "a", "b", savedSnapshot(t, first.r))
	first.write(t, "f1", 1) // cut off: past the Final agreed below
	for i := 0; b.names(w1); i++ {
		if i == 3000 {
			t.Fatalf("%s not retired", w1)
		}
		rounds(1, second, b)
		save()
	}
	snap, journal = savedSnapshot(t, b.r), nil // the host's periodic snapshot
	// The first process is back a while, then stops for good.
	net.Attach("a", first.r)
	holds := func(n *allNode) bool {
		has := false
		n.set.Read(func(s *orset.Set[string]) { has = s.Contains("f1") })
		return has
	}
	for i := 0; !holds(b); i++ {
		if i == 300 {
			t.Fatalf("b never took in the first process's write past Final: %s", b.content())
		}
		rounds(1, first, b)
		save()
	}
	rounds(3, first, b)
	save()
	want := b.content()
	net.Detach("a")
	if len(journal) == 0 {
		t.Fatal("b journaled nothing after its snapshot: the accident did not happen")
	}
	// b crashes, and restarts from its snapshot and journal.
	b2 := startAllNode(t, net, "b", "a", snap)
	for i, rec := range journal {
		if err := b2.r.Replay(rec); err != nil {
			t.Fatalf("replaying record %d of %d: %v", i, len(journal), err)
		}
	}
	if got := b2.content(); got != want {
		t.Fatalf("restarted from its snapshot and %d journal records, b holds\n%s\nbefore the crash\n%s", len(journal), got, want)
	}
	if !strings.Contains(want, "f1") {
		t.Fatalf("want %s", want)
	}
}
