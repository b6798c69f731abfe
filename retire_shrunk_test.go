package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
)

// TestAcceptedBeforeTheMemberShrankItsMessages: regions a and b, with
// messages of 1 MiB, retire a finished writer of a's of 150 objects. b
// accepts a's proposal, its acceptance is lost (b's link to a drops
// it), and b restarts from its snapshot with messages of
// MinMessageBytes. The accept, which carries the whole entry, fits no
// message to b any more, nor does b's promise carrying the value it
// accepted fit any message to a: the writer must still be retired at
// both, and a later writer of a's after it.
func TestAcceptedBeforeTheMemberShrankItsMessages(t *testing.T) {
	w := newWideRegions(t, 13, 150)
	reps, sets, net := w.reps, w.sets, w.net
	save, round := w.save, w.round
	restart := func(id crdt.ReplicaID, limit int) {
		w.restart(id, limit)
		save(id) // persistent: its ops leave once saved
	}
	for _, id := range w.ids {
		w.start(id, 1<<20, nil)
	}
	for _, h := range sets["region-a"] {
		_ = h.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("wide"), nil })
	}
	_ = sets["region-b"][0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("b"), nil })
	save("region-b")
	for range 50 {
		round()
	}
	wide := reps["region-a"].Writer()
	restart("region-a", 1<<20)
	_ = sets["region-a"][0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("next"), nil })
	save("region-a")
	// b answers once a saved snapshot holds its vote: its acceptance
	// waits for the save below, and is dropped.
	for i := 0; !reps["region-b"].LedgerAccepted("region-a"); i++ {
		if i == 2000 {
			t.Fatalf("b accepted no proposal of a's in %d rounds", i)
		}
		round()
		save("region-a")
		if !reps["region-b"].LedgerAccepted("region-a") {
			save("region-b")
		}
	}
	if reps["region-a"].LedgerRetired(wide) {
		t.Fatal("the test wants b's acceptance not to have reached a yet")
	}
	net.PartitionOneWay("region-b", "region-a")
	round()
	restart("region-b", crdt.MinMessageBytes)
	net.HealAll()
	retired := func(writer crdt.ReplicaID) bool {
		return reps["region-a"].LedgerRetired(writer) && reps["region-b"].LedgerRetired(writer)
	}
	rounds := func(writer crdt.ReplicaID, what string) {
		t.Helper()
		for i := 0; !retired(writer); i++ {
			if i == 200 {
				sa, sb := reps["region-a"].Stats(), reps["region-b"].Stats()
				t.Fatalf("%s writer %s not retired after %d rounds: a %v (retired writers %d, holds an accepted value %v), b %v (retired writers %d, holds an accepted value %v)",
					what, writer, i, reps["region-a"].LedgerRetired(writer), sa.RetiredWriters, reps["region-a"].LedgerAccepted("region-a"),
					reps["region-b"].LedgerRetired(writer), sb.RetiredWriters, reps["region-b"].LedgerAccepted("region-a"))
			}
			round()
			save("region-a")
			save("region-b")
		}
	}
	rounds(wide, "wide")
	// The name's list still takes entries: a's next writer, of one
	// object, is retired too.
	next := reps["region-a"].Writer()
	restart("region-a", 1<<20)
	rounds(next, "later")
	for _, id := range w.ids {
		if st := reps[id].Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
		}
	}
	has := false
	sets["region-b"][0].Read(func(s *orset.Set[string]) { has = s.Contains("wide") && s.Contains("next") })
	if !has {
		t.Fatal("b lacks a's writes")
	}
}
