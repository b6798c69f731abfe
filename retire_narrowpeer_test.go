package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
)

// TestWideEntryReachesAPeerOfTheSmallestMessages: two regions with
// messages of 1 MiB retire a finished writer of 150 objects; the entry
// takes some 1,900 bytes. A region with messages of MinMessageBytes is
// then added to the group. Its ledger differs from the others' until it
// takes the entry, so it sets their data aside meanwhile; but the entry
// fitted no message to it ("a retirement entry does not fit in a
// message"), so it never took it, nor any of their data: the new region
// stayed empty for good, its LedgerWaits growing.
func TestWideEntryReachesAPeerOfTheSmallestMessages(t *testing.T) {
	w := newWideRegions(t, 11, 150)
	for _, id := range w.ids {
		w.start(id, 1<<20, nil)
	}
	for _, h := range w.sets["region-a"] {
		_ = h.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("wide"), nil })
	}
	for range 50 {
		w.round()
	}
	old := w.reps["region-a"].Writer()
	w.restart("region-a", 1<<20)
	_ = w.sets["region-a"][0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("later"), nil })
	w.save("region-a")
	for i := 0; !w.reps["region-a"].LedgerRetired(old) || !w.reps["region-b"].LedgerRetired(old); i++ {
		if i == 2000 {
			t.Fatalf("writer %s of %d objects not retired in messages of 1 MiB after %d rounds", old, w.objects, i)
		}
		w.round()
	}
	w.join("region-c", crdt.MinMessageBytes)
	has := func() bool {
		found := false
		w.sets["region-c"][0].Read(func(s *orset.Set[string]) { found = s.Contains("later") && s.Contains("wide") })
		return found
	}
	for i := 0; !w.reps["region-c"].LedgerRetired(old) || !has(); i++ {
		if i == 2000 {
			st := w.reps["region-c"].Stats()
			t.Fatalf("a region of the smallest messages added later: entry taken %v, data taken %v after %d rounds (its ledger waits: %d)",
				w.reps["region-c"].LedgerRetired(old), has(), i, ledgerWaits(st))
		}
		w.round()
	}
	for _, id := range w.ids {
		if st := w.reps[id].Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 || st.Oversize != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts, %d messages over the limit", id, st.RetireFailures, st.LedgerConflicts, st.Oversize)
		}
	}
}

// ledgerWaits sums the messages a replica set aside for its peers' ledgers.
func ledgerWaits(st crdt.Stats) uint64 {
	var n uint64
	for _, p := range st.Peers {
		n += p.LedgerWaits
	}
	return n
}
