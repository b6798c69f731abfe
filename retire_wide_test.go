package crdt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// TestRetireWriterOfManyObjectsInSmallMessages: in messages of the
// smallest size, the retirement part of a message has half the room, and
// an accept carries the whole entry: a finished writer of a dozen objects
// made an accept too large for it. The accept was never sent ("a
// retirement proposal does not fit in a message"), the writer never
// retired, and metadata grew with every restart. Once agreed, the entry
// itself did not fit either: a replica added to the group later never
// took it, and so never took in the others' data.
func TestRetireWriterOfManyObjectsInSmallMessages(t *testing.T) {
	for _, objects := range []int{2, 8, 12, 16} {
		t.Run(fmt.Sprint(objects), func(t *testing.T) {
			retireWriterOfManyObjects(t, objects)
		})
	}
}

// TestRetireWriterOfThirtyObjectsInSmallestMessages: a finished writer of
// thirty objects, in messages of MinMessageBytes, was never retired. Its
// accept (and a promise of its counts) was judged too large for a message
// of its own by a bound that counted every name and number at its widest
// and a message header of 360 bytes, when the message, as encoded, takes
// about half the smallest message's bytes; so the writer was never
// proposed, and every restart left one more writer in every object's
// metadata. A message of its own is now measured as it is encoded.
func TestRetireWriterOfThirtyObjectsInSmallestMessages(t *testing.T) {
	retireWriterOfManyObjects(t, 30)
}

func retireWriterOfManyObjects(t *testing.T, objects int) {
	w := newWideRegions(t, 5, objects)
	write := func(tag string) {
		for _, id := range w.ids {
			for _, h := range w.sets[id] {
				_ = h.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(string(id) + tag), nil })
			}
		}
	}
	for _, id := range w.ids {
		w.start(id, crdt.MinMessageBytes, nil)
	}
	write("-1")
	for range 50 {
		w.round()
	}
	// region-a restarts from a snapshot: its first run's writer is
	// finished, and named in every object.
	old := w.reps["region-a"].Writer()
	w.restart("region-a", crdt.MinMessageBytes)
	write("-2")
	// Restored, region-a is persistent: its ops leave once saved.
	w.save("region-a")
	for i := 0; !w.reps["region-a"].LedgerRetired(old) || !w.reps["region-b"].LedgerRetired(old); i++ {
		if i == 2000 {
			t.Fatalf("writer %s of %d objects not retired after %d rounds: a %v, b %v", old, objects, i,
				w.reps["region-a"].LedgerRetired(old), w.reps["region-b"].LedgerRetired(old))
		}
		w.round()
	}
	// A replica added to the group later takes the entry from the
	// others before their data: its ledger differs from theirs until
	// then.
	w.join("region-c", crdt.MinMessageBytes)
	has := func() bool {
		found := false
		w.sets["region-c"][0].Read(func(s *orset.Set[string]) { found = s.Contains("region-a-2") })
		return found
	}
	for i := 0; !w.reps["region-c"].LedgerRetired(old) || !has(); i++ {
		if i == 2000 {
			t.Fatalf("a replica added later: entry taken %v, data taken %v after %d rounds", w.reps["region-c"].LedgerRetired(old), has(), i)
		}
		w.round()
	}
	for _, id := range w.ids {
		if st := w.reps[id].Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
		}
	}
}

// TestWriterTooWideForAMessageDoesNotHoldUpItsName: a finished writer of
// some seventy objects, in messages of the smallest size, makes a promise
// (its counts) or an accept (its entry) too large even for a message of
// its own. The proposer waited for the answer or the acceptance for
// good, so that no later writer of its name was ever retired either. Such
// a writer is now never proposed (its proposer and its members report it
// as one of too many objects), as one of more objects than an entry may
// name was not: the name's other finished writers are retired.
func TestWriterTooWideForAMessageDoesNotHoldUpItsName(t *testing.T) {
	// 73: the accept fits alone, a promise carrying it as the accepted
	// value does not; 76: the promise of its counts fits alone, the
	// accept does not; 80: neither.
	for _, objects := range []int{73, 76, 80} {
		t.Run(fmt.Sprint(objects), func(t *testing.T) {
			wideWriterThenNarrow(t, objects)
		})
	}
}

func wideWriterThenNarrow(t *testing.T, objects int) {
	ctx := context.Background()
	net := memnet.New(7)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano()
	ids := []crdt.ReplicaID{"region-a", "region-b"}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	sets := map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]{}
	seeds := map[crdt.ReplicaID]uint64{}
	start := func(id crdt.ReplicaID, snap []byte) {
		seeds[id]++
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], seeds[id])
		key[8] = id[len(id)-1]
		startWide(t, net, &now, ids, id, objects, key, snap, reps, sets)
	}
	rounds := func(n int) {
		for range n {
			for _, id := range ids {
				_ = reps[id].Tick(ctx)
			}
			net.DeliverAll(ctx)
			now += int64(5 * time.Millisecond)
			for _, id := range ids {
				// Persistent, a replica answers proposals once saved.
				if err := reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	add := func(id crdt.ReplicaID, objs int, e string) {
		for _, h := range sets[id][:objs] {
			_ = h.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
		}
		if err := reps[id].SaveSnapshot(func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	restart := func(id crdt.ReplicaID) {
		var snap []byte
		if err := reps[id].SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
			t.Fatal(err)
		}
		net.Detach(id)
		start(id, snap)
	}
	for _, id := range ids {
		start(id, nil)
	}
	wide := reps["region-a"].Writer()
	add("region-a", objects, "wide") // a writer of every object
	add("region-b", 1, "b")
	rounds(50)
	restart("region-a")
	narrow := reps["region-a"].Writer()
	add("region-a", 1, "narrow") // a writer of one object
	rounds(5)
	restart("region-a")
	if narrow < wide {
		t.Fatalf("the test wants %s proposed first: %s comes before it", wide, narrow)
	}
	for i := 0; !reps["region-a"].LedgerRetired(narrow) || !reps["region-b"].LedgerRetired(narrow); i++ {
		if i == 3000 {
			t.Fatalf("writer %s of one object not retired after %d rounds, behind %s of %d objects: a %v, b %v",
				narrow, i, wide, objects, reps["region-a"].LedgerRetired(narrow), reps["region-b"].LedgerRetired(narrow))
		}
		rounds(1)
	}
	for _, id := range ids {
		if st := reps[id].Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
		}
	}
}

// wideRegions runs regions over memnet for the tests of retiring writers
// of many objects: regions region-a and region-b to begin with, each
// holding the same objects orsets (see startWideAt), their clocks reading
// now, which moves 5ms a round.
type wideRegions struct {
	t       *testing.T
	net     *memnet.Network
	now     int64
	objects int
	starts  uint64 // the regions started, for the entropy of the next
	ids     []crdt.ReplicaID
	reps    map[crdt.ReplicaID]*crdt.Replica
	sets    map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]
}

func newWideRegions(t *testing.T, seed uint64, objects int) *wideRegions {
	return &wideRegions{t: t, net: memnet.New(seed), now: time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano(),
		objects: objects, ids: []crdt.ReplicaID{"region-a", "region-b"},
		reps: map[crdt.ReplicaID]*crdt.Replica{}, sets: map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]{}}
}

// start starts region id with messages of at most limit bytes, from snap
// unless nil; each start draws other entropy.
func (w *wideRegions) start(id crdt.ReplicaID, limit int, snap []byte) {
	w.t.Helper()
	w.starts++
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], w.starts)
	startWideAt(w.t, w.net, &w.now, w.ids, id, w.objects, limit, key, snap, w.reps, w.sets)
}

// save saves region id's snapshot and returns it.
func (w *wideRegions) save(id crdt.ReplicaID) []byte {
	w.t.Helper()
	var snap []byte
	if err := w.reps[id].SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		w.t.Fatal(err)
	}
	return snap
}

// restart stops region id and starts it again from its snapshot, with
// messages of at most limit bytes.
func (w *wideRegions) restart(id crdt.ReplicaID, limit int) {
	w.t.Helper()
	snap := w.save(id)
	w.net.Detach(id)
	w.start(id, limit, snap)
}

// join starts region id, new, with messages of at most limit bytes, and
// adds it to the other regions' peers.
func (w *wideRegions) join(id crdt.ReplicaID, limit int) {
	w.t.Helper()
	w.ids = append(w.ids, id)
	w.start(id, limit, nil)
	for _, other := range w.ids[:len(w.ids)-1] {
		if err := w.reps[other].AddPeer(id); err != nil {
			w.t.Fatal(err)
		}
	}
}

// round ticks every region, delivers every message and moves the clocks.
func (w *wideRegions) round() {
	for _, id := range w.ids {
		_ = w.reps[id].Tick(context.Background())
	}
	w.net.DeliverAll(context.Background())
	w.now += int64(5 * time.Millisecond)
}

// startWide starts region id, a peer of every other of ids, at
// MinMessageBytes (see startWideAt).
func startWide(t *testing.T, net *memnet.Network, now *int64, ids []crdt.ReplicaID, id crdt.ReplicaID, objects int,
	key [32]byte, snap []byte, reps map[crdt.ReplicaID]*crdt.Replica, sets map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]) {
	t.Helper()
	startWideAt(t, net, now, ids, id, objects, crdt.MinMessageBytes, key, snap, reps, sets)
}

// startWideAt starts region id, a peer of every other of ids, with
// messages of at most limit bytes, reading the clock *now, with the
// entropy of key, and objects orsets named object-00, object-01, ...
// (three digits from a hundred objects), which it records in sets, as it
// records the replica in reps; restored from snap if not nil; attached to
// net.
func startWideAt(t *testing.T, net *memnet.Network, now *int64, ids []crdt.ReplicaID, id crdt.ReplicaID, objects, limit int,
	key [32]byte, snap []byte, reps map[crdt.ReplicaID]*crdt.Replica, sets map[crdt.ReplicaID][]*crdt.Handle[*orset.Set[string]]) {
	t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id),
		Clock: clock.New(clock.WithSource(func() int64 { return *now })), AntiEntropyTicks: 20,
		MaxMessageBytes: limit, Entropy: rand.NewChaCha8(key)})
	if err != nil {
		t.Fatal(err)
	}
	digits := max(2, len(fmt.Sprint(objects-1)))
	sets[id] = nil
	for i := range objects {
		h, err := crdt.Register(r, fmt.Sprintf("object-%0*d", digits, i), orset.New[string](id))
		if err != nil {
			t.Fatal(err)
		}
		sets[id] = append(sets[id], h)
	}
	attachRestored(t, net, r, snap, ids...)
	reps[id] = r
}
