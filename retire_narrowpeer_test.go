package crdt_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
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
	const objects = 150
	ctx := context.Background()
	net := memnet.New(11)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano()
	ids := []crdt.ReplicaID{"region-a", "region-b"}
	limits := map[crdt.ReplicaID]int{"region-a": 1 << 20, "region-b": 1 << 20, "region-c": crdt.MinMessageBytes}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	sets := map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]{}
	var starts uint64
	start := func(id crdt.ReplicaID, snap []byte) {
		starts++
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], starts)
		startWideAt(t, net, &now, ids, id, objects, limits[id], key, snap, reps, sets)
	}
	round := func() {
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		net.DeliverAll(ctx)
		now += int64(5 * time.Millisecond)
	}
	for _, id := range ids {
		start(id, nil)
	}
	for _, h := range sets["region-a"] {
		_ = h.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("wide"), nil })
	}
	for range 50 {
		round()
	}
	old := reps["region-a"].Writer()
	var snap []byte
	if err := reps["region-a"].SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	net.Detach("region-a")
	start("region-a", snap)
	_ = sets["region-a"][0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("later"), nil })
	if err := reps["region-a"].SaveSnapshot(func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 0; !reps["region-a"].LedgerRetired(old) || !reps["region-b"].LedgerRetired(old); i++ {
		if i == 2000 {
			t.Fatalf("writer %s of %d objects not retired in messages of 1 MiB after %d rounds", old, objects, i)
		}
		round()
	}
	ids = append(ids, "region-c")
	start("region-c", nil)
	for _, id := range ids[:2] {
		if err := reps[id].AddPeer("region-c"); err != nil {
			t.Fatal(err)
		}
	}
	has := func() bool {
		found := false
		sets["region-c"][0].Read(func(s *orset.Set[string]) { found = s.Contains("later") && s.Contains("wide") })
		return found
	}
	for i := 0; !reps["region-c"].LedgerRetired(old) || !has(); i++ {
		if i == 2000 {
			st := reps["region-c"].Stats()
			t.Fatalf("a region of the smallest messages added later: entry taken %v, data taken %v after %d rounds (its ledger waits: %d)",
				reps["region-c"].LedgerRetired(old), has(), i, ledgerWaits(st))
		}
		round()
	}
	for _, id := range ids {
		if st := reps[id].Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 || st.Oversize != 0 {
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
