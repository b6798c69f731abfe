package crdt_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// TestAccidentOneWayPartition: a firewall rule drops everything east
// sends west, while west still reaches east, for a hundred rounds in
// which both regions increment and delete counters (in a map larger than
// the 1 KiB messages). East takes in west's writes
// and digests, and its acknowledgements are lost: both regions show ops
// pending to the other all along, and no divergence is counted (their
// versions differ). Once the rule is lifted, both hold every write (the
// reference applied each once), nothing is pending, and no divergence
// was ever counted.
func TestAccidentOneWayPartition(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(7)
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	reps, maps := hitsRegions(t, ids, &now, func(id crdt.ReplicaID) crdt.Config {
		return crdt.Config{Transport: net.Transport(id), AntiEntropyTicks: 5, MaxMessageBytes: crdt.MinMessageBytes, CompressAbove: -1}
	})
	for _, id := range ids {
		net.Attach(id, reps[id])
	}
	ref := ormap.New[string, *ormap.Counter]("ref")
	round := roundOf(ids, reps, net, &now)
	write := func(id crdt.ReplicaID, i int) {
		if err := maps[id].Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
			var op ormap.Op
			if k := fmt.Sprintf("page-%03d", i%150); i%9 == 4 {
				op = m.Delete(k)
			} else {
				op = m.At(k).Add(int64(i%5 + 1))
			}
			if op.Err() == nil && !op.IsNoop() {
				if err := ref.Apply(op); err != nil {
					t.Fatalf("reference: %v", err)
				}
			}
			return op, op.Err()
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 { // both regions start with a map larger than a message
		write(ids[i%2], i)
		round()
	}
	net.PartitionOneWay("us-east-1", "eu-west-1")
	for i := range 100 {
		write(ids[i%2], 1000+i)
		round()
	}
	pending := func(id crdt.ReplicaID) uint64 { return reps[id].Stats().Peers[0].PendingOps }
	if pending("us-east-1") == 0 || pending("eu-west-1") == 0 {
		t.Fatalf("during the one-way cut: east shows %d ops pending to west, west %d to east; want both above 0", pending("us-east-1"), pending("eu-west-1"))
	}
	net.Heal("us-east-1", "eu-west-1")
	for range 60 {
		round()
	}
	want := counts(ref)
	for _, id := range ids {
		if d := cmp.Diff(want, hitsOf(maps[id])); d != "" {
			t.Fatalf("%s after the rule is lifted (-reference +region):\n%s", id, d)
		}
		st := reps[id].Stats().Peers[0]
		if st.PendingOps != 0 || st.AwaitingCatchUp || st.Divergences != 0 {
			t.Fatalf("%s: %d ops pending, awaiting a catch-up %v, %d divergences", id, st.PendingOps, st.AwaitingCatchUp, st.Divergences)
		}
	}
}
