package dotkernel

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

func requireGarbage(t tb, k *kern, pending, collected uint64, what string) {
	t.Helper()
	if p, c := k.Garbage(); p != pending || c != collected {
		t.Fatalf("%s: Garbage() = %d pending, %d collected; want %d, %d", what, p, c, pending, collected)
	}
}

// TestGarbage follows the figures through removes, a collection that
// covers some of them, the cap, a clone, a round trip and a join.
func TestGarbage(t *testing.T) {
	var k kern
	requireGarbage(t, &k, 0, 0, "empty")
	for _, key := range []string{"x", "y", "z"} {
		d := k.Mint("a")
		k.Record(d, key, k.Put(key, unit{}, d)) // a:1..3 drop nothing
	}
	requireGarbage(t, &k, 0, 0, "adds that replaced nothing")
	for _, key := range []string{"x", "y", "z"} {
		d := k.Mint("a")
		k.Record(d, key, k.Remove(key)) // a:4..6, each a record
	}
	requireGarbage(t, &k, 3, 0, "three removes")

	// Every replica has seen up to a:5: the removes a:4 and a:5 go.
	if n := k.Collect(vclock.Of(map[crdt.ReplicaID]uint64{"a": 5})); n != 2 {
		t.Fatalf("Collect discarded %d, want 2", n)
	}
	requireGarbage(t, &k, 1, 2, "after collecting up to a:5")
	c := k.Clone()
	requireGarbage(t, c, 1, 2, "clone")

	// A cap of two. The re-adds drop nothing; the three removes make three
	// records, which with the one held push the two oldest (a:6, a:8) out,
	// counted by neither figure.
	k.MaxRecords = 2
	for _, key := range []string{"x", "y", "z"} {
		d := k.Mint("a")
		k.Record(d, key, k.Put(key, unit{}, d)) // a:7, a:9, a:11
		d = k.Mint("a")
		k.Record(d, key, k.Remove(key)) // a:8, a:10, a:12
	}
	requireGarbage(t, &k, 2, 2, "after the cap")
	requireGarbage(t, c, 1, 2, "the clone is independent")

	// A decoded kernel holds the records, none collected yet.
	got := roundTrip(t, &k)
	requireGarbage(t, got, 2, 0, "decoded")

	// The clone, at a:6, joins a peer whose horizon (a:8) covers its
	// record a:6: the peer collected it first, so it counts as collected.
	c.Join(&k)
	requireGarbage(t, c, 2, 3, "joined a horizon beyond its record")
}

// TestGarbageCollectCounts checks, on random histories, that Collect moves
// exactly the records it reports from pending to collected, and that only
// records left within the horizon by the cap leave pending uncounted.
func TestGarbageCollectCounts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		st := s.stable()
		for i, k := range s.ks {
			p0, c0 := k.Garbage()
			if p0 != uint64(k.recs.len()) {
				t.Fatalf("replica %d: %d pending, %d records held", i, p0, k.recs.len())
			}
			dead := uint64(k.recs.len() - len(k.Records()))
			n := k.Collect(st)
			p1, c1 := k.Garbage()
			if c1-c0 != uint64(n) || p0-p1 != uint64(n)+dead {
				t.Fatalf("replica %d: Collect discarded %d (%d dead); pending %d -> %d, collected %d -> %d",
					i, n, dead, p0, p1, c0, c1)
			}
		}
	})
}
