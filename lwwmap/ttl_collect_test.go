package lwwmap

import (
	"fmt"
	"testing"
	"time"

	"github.com/activeactive/crdt/vclock"
)

// Replicas collect expire and persist writes once every replica has seen
// them, each at its own moment. These tests take one replica that has
// collected and one that has not yet, and check that a later write of the
// key reads alike at both: the replica that collected cannot name the
// collected writes in the new write's drops.

// A key expires; b collects it, then puts it again. a, which still holds
// the key and its expire, must show the new value: the expire's instant
// is before the new value's write.
func TestExpiredKeyCollectedThenPutAgain(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Expire("k", time.Second))
	ft.now += 2 * sec
	mustApply(t, b, a.Put("tick", "1")) // a write after the expiry, seen by both
	if n := b.CollectVersions([]vclock.Clock{a.Version()}); n != 1 {
		t.Fatalf("b collected %d keys, want the expired one", n)
	}
	put := b.Put("k", "w")
	if put.drops() != "" {
		t.Fatalf("the put drops %v, with nothing held to overwrite", put.drops())
	}
	mustApply(t, a, put)
	for _, m := range []*Map[string, string]{a, b} {
		wantValue(t, m, "k", "w")
		wantTTL(t, m, "k", 0)
	}
	if a.Fingerprint() != b.Fingerprint() || a.ContentFingerprint() != b.ContentFingerprint() {
		t.Fatalf("fingerprints %x, %x; content %x, %x", a.Fingerprint(), b.Fingerprint(), a.ContentFingerprint(), b.ContentFingerprint())
	}
	// a collects the expire in its turn, not the new value.
	ft.now += sec
	a.CollectVersions([]vclock.Clock{b.Version()})
	wantValue(t, a, "k", "w")
	if !a.Equal(b) {
		t.Fatalf("after both collected: %s\n%s", dump(a), dump(b))
	}
}

// The same through a delta, not an op.
func TestExpiredKeyCollectedThenPutAgainDelta(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Expire("k", time.Second))
	ft.now += 2 * sec
	mustApply(t, b, a.Put("tick", "1")) // a write after the expiry, seen by both
	b.CollectVersions([]vclock.Clock{a.Version()})
	b.Put("k", "w")
	d := b.DeltaSince(a.Version())
	a.Merge(d)
	wantValue(t, a, "k", "w")
	wantTTL(t, a, "k", 0)
}

// b collects a persist that every replica has seen, then expires the key.
// a still holds the persist: if b had dropped it, a would keep the key
// for good (a persist wins over an expire it does not know came after
// it). A persist stays until a write of its key overwrites it.
func TestPersistKeptUntilOverwritten(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Expire("k", time.Hour), a.Persist("k"))
	ft.now += sec
	b.CollectVersions([]vclock.Clock{a.Version()})
	a.CollectVersions([]vclock.Clock{b.Version()})
	if !b.hasWrites("k") || !a.hasWrites("k") {
		t.Fatalf("a persist in force was collected")
	}
	exp := b.Expire("k", time.Second)
	if exp.drops() == "" {
		t.Fatalf("the expire overwrites nothing: the persist was dropped")
	}
	mustApply(t, a, exp)
	ft.now += 2 * sec
	wantAbsent(t, a, "k")
	wantAbsent(t, b, "k")
}

// An expire concurrent with a put made after the expire's instant does
// not end the put's value: the key had expired, by the clock that stamped
// the put, when the put made it anew. Every replica reads it so, whatever
// order the two arrive in.
func TestExpireBeforeTheValueLeavesItAlone(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"))
	exp := a.Expire("k", time.Second) // b does not hear of it yet
	ft.now += 5 * sec
	put := b.Put("k", "w")
	mustApply(t, a, put)
	mustApply(t, b, exp)
	for _, m := range []*Map[string, string]{a, b} {
		wantValue(t, m, "k", "w")
		wantTTL(t, m, "k", 0)
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == 0 {
		t.Fatalf("fingerprints %x, %x: the key counts as one without a time to live", a.Fingerprint(), b.Fingerprint())
	}
	// A put concurrent with the expire and made before its instant is
	// ended by it, as before.
	c, d := region("c", ft, 0), region("d", ft, 0)
	mustApply(t, d, c.Put("k", "v"))
	exp = c.Expire("k", time.Minute)
	ft.now += sec
	put = d.Put("k", "w")
	mustApply(t, c, put)
	mustApply(t, d, exp)
	for _, m := range []*Map[string, string]{c, d} {
		wantValue(t, m, "k", "w")
		wantTTL(t, m, "k", time.Minute-time.Second)
	}
}

// An expire of a deleted key (made concurrently with the delete) stays
// until its instant: a put made before it by a replica that holds it
// overwrites it by name, and one made after it is not touched by it.
func TestExpireOfDeletedKeyHeldUntilItsInstant(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"))
	exp := a.Expire("k", time.Hour)
	del := b.Delete("k")
	mustApply(t, a, del)
	mustApply(t, b, exp)
	ft.now += sec
	b.CollectVersions([]vclock.Clock{a.Version()})
	if !b.hasWrites("k") {
		t.Fatalf("an expire still to come was collected with its key's marker")
	}
	put := b.Put("k", "w")
	if put.drops() == "" {
		t.Fatalf("the put does not overwrite the expire it has seen")
	}
	mustApply(t, a, put)
	for _, m := range []*Map[string, string]{a, b} {
		wantValue(t, m, "k", "w")
		wantTTL(t, m, "k", 0)
	}
	// Past its instant, an expire of a deleted key goes once stable.
	e, f := region("e", ft, 0), region("f", ft, 0)
	mustApply(t, f, e.Put("k", "v"))
	exp = e.Expire("k", time.Minute)
	del = f.Delete("k")
	mustApply(t, e, del)
	mustApply(t, f, exp)
	ft.now += 2 * int64(time.Minute)
	f.CollectVersions([]vclock.Clock{e.Version()})
	if !f.hasWrites("k") {
		t.Fatalf("an expire past its instant was collected before every clock was shown past it")
	}
	mustApply(t, f, e.Put("tick", "1")) // a write after the instant, seen by both
	f.CollectVersions([]vclock.Clock{e.Version()})
	if f.hasWrites("k") {
		t.Fatalf("an expire past its instant, of a deleted key, was kept")
	}
	mustApply(t, e, f.Put("k", "w"))
	wantValue(t, e, "k", "w")
	wantTTL(t, e, "k", 0)
}

// hasWrites reports whether m holds expire or persist writes of k.
func (m *Map[K, V]) hasWrites(k K) bool {
	_, ok := m.ttl[k]
	return ok
}

// A catch-up cut into parts: the part that brings a put also brings the
// drop record of the expire it overwrote. The part adds the put's dot to
// the receiver's version, so if the part of records were lost, no later
// delta for that version would carry the record, and the overwritten
// expire would stay in force at the receiver, against the new value.
func TestEntriesPartCarriesItsDropRecord(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"))
	mustApply(t, a, b.Expire("k", time.Hour))
	for i := range 20 {
		a.Put(fmt.Sprintf("other-%02d", i), "x") // enough to cut the delta into parts
	}
	if put := a.Put("k", "w"); put.drops() == "" {
		t.Fatal("the put overwrites no expire")
	}
	v, err := b.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	parts, ordered, err := a.ChunksBinary(v, 300)
	if err != nil || ordered < 2 {
		t.Fatalf("ChunksBinary: %d entries parts of %d, %v", ordered, len(parts), err)
	}
	for _, p := range parts[:ordered] { // the entries parts only
		if _, err := b.MergeChunkBinary(p); err != nil {
			t.Fatal(err)
		}
	}
	wantValue(t, b, "k", "w")
	wantTTL(t, b, "k", 0)
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("fingerprints %x, %x after the entries parts", a.Fingerprint(), b.Fingerprint())
	}
}

// A part of entries carries the drop records of its own writes only: a
// part with the record of a write it does not carry (which would drop
// expires the part does not account for) is refused whole, the map
// unchanged. (The decoder refuses it: the part's context is exactly its
// entries' dots, and a record outside the context is malformed.)
func TestEntriesPartRefusesARecordOfAnotherWrite(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Put("x", "y"))
	mustApply(t, a, b.Expire("k", time.Hour))
	put := a.Put("k", "w") // its record names b's expire
	rec, ok := a.drops[put.Dot()]
	if !ok {
		t.Fatal("the put left no drop record")
	}
	part := func() []byte {
		p := &Map[string, string]{reps: a.reps, repH: a.repH, repIdx: a.repIdx}
		e := *a.m.Find("x")
		p.m.Put("x", e)
		p.ctx.Add(a.dot(&e))
		p.recordDrops(put.Dot(), rec.key, rec.dots)
		data, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{partEntries}, data...)
	}
	before := b.Clone()
	if _, err := b.MergeChunkBinary(part()); err == nil {
		t.Fatal("a part of entries with another write's drop record was merged")
	}
	if !b.Equal(before) {
		t.Fatal("a refused part changed the map")
	}
	wantTTL(t, b, "k", time.Hour)
}
