package ormap

import (
	"bytes"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// t0 is the time the TTL tests start at.
var t0 = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC).UnixNano()

// manual is a physical time source the test moves by hand.
type manual struct{ now atomic.Int64 }

func newManual() *manual {
	m := &manual{}
	m.now.Store(t0)
	return m
}

func (m *manual) advance(d time.Duration) { m.now.Add(int64(d)) }

// clockAt returns a clock reading the manual time plus skew.
func (m *manual) clockAt(skew time.Duration) *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return m.now.Load() + int64(skew) }), clock.WithMaxOffset(0))
}

// clocked returns a map of replica id judging time by clk.
func clocked[K comparable, V Value[V]](id vclock.ReplicaID, clk *clock.Clock) *Map[K, V] {
	m := New[K, V](id)
	m.SetClock(clk)
	return m
}

// expiresAt returns k's expiry at m as a wall time offset from t0, or -1
// if it has none.
func expiresAt[K comparable, V Value[V]](m *Map[K, V], k K) time.Duration {
	at, ok := m.ExpiresAt(k)
	if !ok {
		return -1
	}
	return time.Duration(at.Wall - t0)
}

// counterPair returns two synced counter maps A and B on the manual time
// tm, B's clock 3ms behind A's, both holding key "k" = 10.
func counterPair(t *testing.T, tm *manual) (a, b *Map[string, *Counter]) {
	a = clocked[string, *Counter]("A", tm.clockAt(0))
	b = clocked[string, *Counter]("B", tm.clockAt(-3*time.Millisecond))
	mustApply(t, b, a.At("k").Add(10))
	return a, b
}

// TestRedisExpireVersusPersist is Redis Active-Active's table for expire
// against persist: with "k" expiring in 100s everywhere, A makes it
// expire in 10s while B concurrently persists it: once they sync, "k"
// does not expire, at both, whatever the order of delivery; and an
// expiry A makes after seeing the persist holds again.
func TestRedisExpireVersusPersist(t *testing.T) {
	tm := newManual()
	a, b := counterPair(t, tm)
	mustApply(t, b, a.Expire("k", 100*time.Second))
	if got := expiresAt(b, "k"); got != 100*time.Second {
		t.Fatalf("B: k expires at t0+%v, want t0+100s", got)
	}
	tm.advance(time.Second)
	exp := a.Expire("k", 10*time.Second) // t1 at A
	per := b.Persist("k")                // t1 at B, concurrent
	if exp.IsNoop() || per.IsNoop() {
		t.Fatalf("expire %v, persist %v", exp, per)
	}
	mustApply(t, a, per)
	mustApply(t, b, exp)
	for name, m := range map[string]*Map[string, *Counter]{"A": a, "B": b} {
		if got := expiresAt(m, "k"); got != -1 {
			t.Errorf("%s: k expires at t0+%v; the persist must win", name, got)
		}
	}
	if !a.Equal(b) {
		t.Fatal("replicas differ")
	}
	tm.advance(time.Hour)
	if !a.Has("k") || !b.Has("k") || a.At("k").Value() != 10 {
		t.Fatal("a persisted key expired")
	}

	// Causally after the persist, an expiry holds again; and a persist
	// after that removes it.
	again := a.Expire("k", time.Minute)
	mustApply(t, b, again)
	want := time.Duration(tm.now.Load()-t0) + time.Minute
	if got := expiresAt(b, "k"); got != want {
		t.Fatalf("B: k expires at t0+%v, want t0+%v", got, want)
	}
	mustApply(t, a, b.Persist("k"))
	if expiresAt(a, "k") != -1 {
		t.Fatal("a later persist did not remove the expiry")
	}
}

// TestRedisPersistWithoutExpiryWinsOverConcurrentExpire is Redis
// Active-Active's table for expire against persist, with a key that has
// no time to live when the two are made: A sets k and both sync; then A
// makes k expire in 10s while B concurrently persists it. The persist
// wins at both, although B had seen no expiry to remove: k never
// expires.
//
//	time  region 1           region 2
//	t1    SET k v
//	t2    sync               sync
//	t3    EXPIRE k 10        PERSIST k
//	t4    sync               sync
//	t5    TTL k → -1         TTL k → -1
func TestRedisPersistWithoutExpiryWinsOverConcurrentExpire(t *testing.T) {
	tm := newManual()
	a := clocked[string, *Register[string]]("A", tm.clockAt(0))
	b := clocked[string, *Register[string]]("B", tm.clockAt(0))
	mustApply(t, b, a.At("k").Set("v"))
	tm.advance(time.Second)
	exp := a.Expire("k", 10*time.Second)
	per := b.Persist("k")
	if per.IsNoop() {
		t.Fatal("B's persist of a key without an expiry does nothing")
	}
	mustApply(t, a, per)
	mustApply(t, b, exp)
	tm.advance(20 * time.Second)
	for _, m := range []*Map[string, *Register[string]]{a, b} {
		if !m.Has("k") {
			t.Errorf("%s: k expired; the concurrent persist must win", m.ID())
		}
		if at, ok := m.ExpiresAt("k"); ok {
			t.Errorf("%s: k expires at %v, want no expiry", m.ID(), at)
		}
	}
	if !a.Equal(b) {
		t.Fatal("replicas differ")
	}
}

// TestRedisLongestTTLWins is Redis Active-Active's table for concurrent
// expiries: A sets "k" to expire in 10s while B concurrently sets 50s:
// once they sync, k expires in 50s at both. An expiry made after seeing
// both replaces them, even a shorter one.
func TestRedisLongestTTLWins(t *testing.T) {
	tm := newManual()
	a, b := counterPair(t, tm)
	x := a.Expire("k", 10*time.Second)
	y := b.Expire("k", 50*time.Second) // B's clock is 3ms behind
	mustApply(t, a, y)
	mustApply(t, b, x)
	want := 50*time.Second - 3*time.Millisecond
	for name, m := range map[string]*Map[string, *Counter]{"A": a, "B": b} {
		if got := expiresAt(m, "k"); got != want {
			t.Errorf("%s: k expires at t0+%v, want t0+%v (B's)", name, got, want)
		}
	}
	if !a.Equal(b) {
		t.Fatal("replicas differ")
	}
	shorter := a.Expire("k", 5*time.Second)
	mustApply(t, b, shorter)
	if got := expiresAt(b, "k"); got != 5*time.Second {
		t.Errorf("B: k expires at t0+%v after a later 5s expiry, want t0+5s", got)
	}
}

// TestExpiredKeyReadsAsAbsent: a key stops showing at each replica as
// soon as that replica's clock reaches its expiry (B's clock, behind,
// later), and every reader agrees; other keys stay. A write to the
// expired key then starts it afresh, without the old value or expiry,
// at both replicas.
func TestExpiredKeyReadsAsAbsent(t *testing.T) {
	tm := newManual()
	a, b := counterPair(t, tm)
	mustApply(t, b, a.At("other").Add(1), a.Expire("k", 10*time.Second))
	tm.advance(10*time.Second - time.Nanosecond)
	if !a.Has("k") || a.Len() != 2 {
		t.Fatal("A: k gone before its expiry")
	}
	tm.advance(time.Nanosecond) // A's clock at the expiry; B's 3ms short
	if a.Has("k") || a.Len() != 1 || a.At("k").Value() != 0 {
		t.Fatalf("A: k still shows at its expiry: has %v, len %d", a.Has("k"), a.Len())
	}
	if _, ok := a.Get("k"); ok {
		t.Fatal("A: Get finds an expired key")
	}
	for k := range a.Keys() {
		if k != "other" {
			t.Fatalf("A: Keys yields %q", k)
		}
	}
	if !b.Has("k") || b.At("k").Value() != 10 {
		t.Fatal("B: k gone before B's clock reached its expiry")
	}
	tm.advance(3 * time.Millisecond)
	if b.Has("k") || b.Len() != 1 {
		t.Fatal("B: k shows after its expiry")
	}

	// A write to the expired key drops what it held: k is 2, no expiry.
	fresh := a.At("k").Add(2)
	if len(fresh.Dropped()) != 2 { // the old increment and the expiry
		t.Fatalf("the write drops %v", fresh.Dropped())
	}
	mustApply(t, b, fresh)
	for name, m := range map[string]*Map[string, *Counter]{"A": a, "B": b} {
		if got := m.At("k").Value(); got != 2 || expiresAt(m, "k") != -1 {
			t.Errorf("%s: k = %d expiring at %v, want 2 without expiry", name, got, expiresAt(m, "k"))
		}
	}
	if !a.Equal(b) {
		t.Fatal("replicas differ")
	}
}

// TestExpireVersusDelete: an expiry concurrent with a delete survives it,
// as any write does: the key is absent, and holds that expiry when it is
// written again. A delete that saw the expiry drops it.
func TestExpireVersusDelete(t *testing.T) {
	tm := newManual()
	a, b := counterPair(t, tm)
	exp := a.Expire("k", time.Minute)
	del := b.Delete("k")
	mustApply(t, a, del)
	mustApply(t, b, exp)
	if a.Has("k") || b.Has("k") || a.Len() != 0 || !a.Equal(b) {
		t.Fatal("the key survived a delete of its only increment")
	}
	if _, ok := a.ExpiresAt("k"); ok {
		t.Fatal("an absent key reports an expiry")
	}
	mustApply(t, b, a.At("k").Add(1))
	if got := expiresAt(b, "k"); got != time.Minute {
		t.Fatalf("rewritten k expires at t0+%v, want t0+1m", got)
	}
	mustApply(t, a, b.Delete("k"))
	mustApply(t, a, b.At("k").Add(1))
	if got := expiresAt(a, "k"); got != -1 || a.At("k").Value() != 1 {
		t.Fatalf("after a delete that saw the expiry: k = %d expiring at %v", a.At("k").Value(), got)
	}
}

// TestExpireNested: an expiry of a nested map's key hides that key only;
// one of a top-level key hides everything under it.
func TestExpireNested(t *testing.T) {
	tm := newManual()
	m := clocked[string, *Map[string, *Set[int]]]("A", tm.clockAt(0))
	m.At("ann").At("tags").Add(1)
	m.At("ann").At("likes").Add(2)
	m.At("bob").At("tags").Add(3)
	m.At("ann").Expire("tags", time.Second)
	m.Expire("bob", 2*time.Second)
	tm.advance(time.Second)
	if m.At("ann").Has("tags") || m.At("ann").At("tags").Contains(1) || m.At("ann").Len() != 1 || !m.At("ann").At("likes").Contains(2) {
		t.Fatal("ann's tags show after their expiry, or likes went with them")
	}
	if !m.Has("bob") || m.Len() != 2 {
		t.Fatal("bob gone early")
	}
	tm.advance(time.Second + time.Nanosecond) // bob's expiry came second: its logical part is 1
	if m.Has("bob") || m.At("bob").At("tags").Len() != 0 || m.At("bob").Len() != 0 || m.Len() != 1 {
		t.Fatal("bob's cart shows after its expiry")
	}
	if op := m.At("bob").At("tags").Remove(3); !op.IsNoop() {
		t.Fatalf("removing an expired element: %v", op)
	}
}

// TestExpireRefusals: no expiry without a clock or with a ttl that is
// not positive, and nothing to do for an absent key.
func TestExpireRefusals(t *testing.T) {
	m := New[string, *Counter]("A")
	m.At("k").Add(1)
	if err := m.Expire("k", time.Second).Err(); !errors.Is(err, ErrInvalidTTL) {
		t.Fatalf("without a clock: %v", err)
	}
	m.SetClock(newManual().clockAt(0))
	if err := m.Expire("k", 0).Err(); !errors.Is(err, ErrInvalidTTL) {
		t.Fatalf("ttl 0: %v", err)
	}
	if op := m.Expire("absent", time.Second); !op.IsNoop() {
		t.Fatalf("absent key: %v", op)
	}
	if op := m.Persist("absent"); !op.IsNoop() {
		t.Fatalf("persist of an absent key: %v", op)
	}
	if err := m.Apply(Op{kind: opWrite, dot: vclock.Dot{Replica: "B", Seq: 1}, leaf: leaf{pv: appendSeg("", "k"), tag: tagPersist, n: 5}}); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("a persist with a time: %v", err)
	}
	deep := New[string, *Map[string, *Counter]]("A")
	if err := deep.Apply(Op{kind: opWrite, dot: vclock.Dot{Replica: "B", Seq: 1}, leaf: leaf{pv: appendSeg(appendSeg(appendSeg("", "a"), "b"), "c"), tag: tagExpire, n: 5}}); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("an expiry three keys deep in a two-level map: %v", err)
	}
}

// TestExpiredKeyCollected: once every replica has seen an expired key's
// writes, CollectVersions deletes it with a delete of its own, which a delta
// carries to the other replica; the records of that delete are then
// collected in turn, and no leaf of the key is left anywhere.
func TestExpiredKeyCollected(t *testing.T) {
	tm := newManual()
	a, b := counterPair(t, tm)
	mustApply(t, b, a.Expire("k", time.Second), a.At("keep").Add(1))
	if a.CollectVersions([]vclock.Clock{b.Version()}); a.s.k.Len() != 3 {
		t.Fatal("Collect deleted a key that has not expired")
	}
	tm.advance(time.Second)
	// Not yet: B has not seen A's latest increment to k.
	mustApply(t, a, a.At("k").Add(5)) // a write to the expired key: k afresh
	tm.advance(time.Hour)             // and k, now without expiry, stays
	a.CollectVersions([]vclock.Clock{b.Version()})
	if a.At("k").Value() != 5 {
		t.Fatal("a rewritten key was collected")
	}

	c := clocked[string, *Counter]("C", tm.clockAt(0))
	c.At("x").Add(1)
	c.Expire("x", time.Second)
	tm.advance(time.Second)
	d := c.Clone()
	d.SetWriter("D")
	c.CollectVersions([]vclock.Clock{c.Version()})
	// The delete keeps what it saw of the counter's chain, in a reset leaf
	// of the key, until every replica has seen the delete.
	if c.s.k.Len() != 1 || len(c.s.resetDots) != 1 {
		t.Fatalf("the expired key's %d leaves are held, want its delete's reset", c.s.k.Len())
	}
	if pending, _ := c.Garbage(); pending != 2 {
		t.Fatalf("%d pending, want the collecting delete's record and reset", pending)
	}
	if _, err := d.MergeBinary(mustMarshal(t, c.DeltaSince(d.Version()))); err != nil {
		t.Fatal(err)
	}
	if d.s.k.Len() != 1 || !c.Equal(d) {
		t.Fatal("the delta did not carry the collecting delete")
	}
	c.CollectVersions([]vclock.Clock{d.Version()})
	if c.s.k.Len() != 0 {
		t.Fatalf("the expired key's %d leaves are still held", c.s.k.Len())
	}
	if pending, collected := c.Garbage(); pending != 0 || collected != 2 {
		t.Fatalf("garbage %d pending, %d collected after the delete became stable", pending, collected)
	}
	if c.Fingerprint() != d.Fingerprint() {
		t.Fatal("the reset's removal changed the fingerprint")
	}
}

// TestTTLBytesByHand derives the bytes of an expiry op and a persist op
// from the format description (see encoding.go), and checks the state
// that holds them round-trips.
func TestTTLBytesByHand(t *testing.T) {
	tm := newManual()
	m := clocked[string, *Counter]("r", tm.clockAt(0))
	m.At("k").Add(1)
	exp := mustMarshal(t, m.Expire("k", time.Second))
	// Version 1, kind 0x51, replica "r"; [r, seq 2, [[[wall, 0], "k"]], then
	// the expiries it replaces: none].
	wall := t0 + int64(time.Second) // 1796288400000000000 + 1e9
	// The wall part, positive, takes msgpack's shortest form: uint64, 0xcf.
	want := []byte{0x01, 0x51, 0xa1, 'r', 0x93, 0x00, 0x02, 0x91, 0x92, 0x92, 0xcf}
	for i := 7; i >= 0; i-- {
		want = append(want, byte(wall>>(8*i)))
	}
	want = append(want, 0x00, 0xa1, 'k')
	if !bytes.Equal(golden(t, "expire", exp), want) {
		t.Fatalf("expire:\n got % x\nwant % x", exp, want)
	}
	per := mustMarshal(t, m.Persist("k"))
	// [r, seq 3, [[nil, "k"]], r:2 (the expiry it replaces)]
	want = []byte{0x01, 0x51, 0xa1, 'r', 0x95, 0x00, 0x03, 0x91, 0x92, 0xc0, 0xa1, 'k', 0x00, 0x02}
	if !bytes.Equal(golden(t, "persist", per), want) {
		t.Fatalf("persist:\n got % x\nwant % x", per, want)
	}
	b := golden(t, "state-ttl", mustMarshal(t, m))
	var back Map[string, *Counter]
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(m) || back.At("k").Value() != 1 || back.s.ttls[appendSeg("", "k")] != 1 {
		t.Fatal("the state with a persist did not round-trip")
	}
	// An op's expiry deeper than the map's keys is refused whole.
	bad := bytes.Clone(exp)
	bad[bytes.Index(bad, []byte{0x91, 0x92, 0x92})+1] = 0x93 // [time, "k"] claims 3 fields
	_, err := m.DecodeOp(bad)
	requireDecodeError(t, "an expiry with two keys in a one-level map", err)
}

// TestExpiredRegisterNotReported: siblings meeting under a key that has
// expired are not reported: the key reads as absent. A clone keeps the
// clock, so it judges expiries as the original does.
func TestExpiredRegisterNotReported(t *testing.T) {
	tm := newManual()
	a := clocked[string, *Register[string]]("A", tm.clockAt(0))
	b := New[string, *Register[string]]("B")
	var got []vclock.Conflict
	a.SetConflictHook(func(c vclock.Conflict) { got = append(got, c) })
	a.At("k").Set("x")
	a.Expire("k", time.Second)
	y := b.At("k").Set("y") // concurrent with both
	c := a.Clone()
	tm.advance(time.Second)
	mustApply(t, a, y)
	if len(got) != 0 {
		t.Fatalf("a register of an expired key was reported: %v", got)
	}
	if a.Has("k") || c.Has("k") {
		t.Fatal("the expired key shows, at the map or at its clone")
	}
	// Without the expiry, the same writes are reported.
	d := New[string, *Register[string]]("A")
	d.SetConflictHook(func(c vclock.Conflict) { got = append(got, c) })
	d.At("k").Set("x")
	mustApply(t, d, y)
	if len(got) != 1 {
		t.Fatalf("%d reports without the expiry, want 1", len(got))
	}
}

// TestSetClockOnNestedPanics: the clock belongs to the top-level map.
func TestSetClockOnNestedPanics(t *testing.T) {
	m := New[string, *Map[string, *Counter]]("A")
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	m.At("x").SetClock(newManual().clockAt(0))
}

// TestCollectKeepsExpiredKeyHidden: collecting an expired key never
// brings it back. A puts k and makes it expire at +0.7s. B, whose clock
// runs 400ms behind, takes in the put but not yet the expiry, and sets k
// again at +0.6s by its clock; then it takes in the expiry, which is
// concurrent with its write and holds for the key: at +0.8s by B's clock
// k reads as absent there. A, for which k expired long ago, collects with
// B's version (by CollectVersions, or by Collect with the meet of the
// two): B's write, which A has not seen, would survive A's delete without
// the expiry. k must stay absent at both once each has the other's
// state.
func TestCollectKeepsExpiredKeyHidden(t *testing.T) {
	for _, meet := range []bool{false, true} {
		tm := newManual()
		a := clocked[string, *Register[int]]("A", tm.clockAt(0))
		b := clocked[string, *Register[int]]("B", tm.clockAt(-400*time.Millisecond))
		put := a.At("k").Set(1)
		tm.advance(100 * time.Millisecond)
		exp := a.Expire("k", 600*time.Millisecond)
		mustApply(t, b, put)
		tm.advance(900 * time.Millisecond) // A reads +1.0s, B +0.6s
		late := b.At("k").Set(2)
		mustApply(t, b, exp)
		if !b.Has("k") {
			t.Fatal("k expired at B before its expiry")
		}
		tm.advance(200 * time.Millisecond) // A reads +1.2s, B +0.8s
		if b.Has("k") {
			t.Fatal("k has not expired at B at +0.8s")
		}
		if meet {
			stable := a.Version()
			stable.Meet(b.Version())
			a.Collect(stable)
		} else {
			a.CollectVersions([]vclock.Clock{b.Version()})
		}
		if _, err := b.MergeBinary(mustMarshal(t, a.DeltaSince(b.Version()))); err != nil {
			t.Fatal(err)
		}
		mustApply(t, a, late)
		for _, m := range []*Map[string, *Register[int]]{a, b} {
			if m.Has("k") {
				t.Errorf("meet %v: %s: the expired k reads as present after A's collection: %v", meet, m.ID(), m.At("k").Values())
			}
		}
		// Once A has seen B's write, nothing holds the key back.
		a.CollectVersions([]vclock.Clock{b.Version()})
		if holds(a.s, appendSeg("", "k")) {
			t.Errorf("meet %v: A still holds the expired k once it has seen every write", meet)
		}
	}
}

// TestCollectVersionsAtWaitsForEveryClock: with CollectVersionsAt, a
// replica whose clock runs ahead does not delete a key that has expired
// by its clock alone: the delete would reach a replica whose clock has
// not reached the expiry and remove the key there before its time. The
// key goes once peersAt, a time every peer's clock has reached, is past
// its expiry too.
func TestCollectVersionsAtWaitsForEveryClock(t *testing.T) {
	tm := newManual()
	a := clocked[string, *Register[int]]("A", tm.clockAt(2*time.Hour)) // stepped forward
	b := clocked[string, *Register[int]]("B", tm.clockAt(0))
	mustApply(t, a, b.At("k").Set(1))
	mustApply(t, a, b.Expire("k", time.Hour))
	bAt := func() clock.Timestamp { return b.s.clk.Now() }
	if a.Has("k") || !b.Has("k") {
		t.Fatalf("k at A %v (its clock is two hours ahead), at B %v", a.Has("k"), b.Has("k"))
	}
	a.CollectVersionsAt([]vclock.Clock{b.Version()}, bAt())
	if !holds(a.s, appendSeg("", "k")) {
		t.Fatal("A collected k while B's clock was an hour short of its expiry")
	}
	tm.advance(time.Hour - time.Second)
	a.CollectVersionsAt([]vclock.Clock{b.Version()}, bAt())
	if !holds(a.s, appendSeg("", "k")) {
		t.Fatal("A collected k a second before B's clock reached its expiry")
	}
	if _, err := b.MergeBinary(mustMarshal(t, a.DeltaSince(b.Version()))); err != nil {
		t.Fatal(err)
	}
	if !b.Has("k") {
		t.Fatal("B lost k before its expiry")
	}
	tm.advance(2 * time.Second)
	a.CollectVersionsAt([]vclock.Clock{b.Version()}, bAt())
	if holds(a.s, appendSeg("", "k")) {
		t.Fatal("A kept k once every clock had passed its expiry")
	}
	if _, err := b.MergeBinary(mustMarshal(t, a.DeltaSince(b.Version()))); err != nil {
		t.Fatal(err)
	}
	if b.Has("k") || !a.Equal(b) {
		t.Fatalf("after the collection: k at B %v; A and B equal %v", b.Has("k"), a.Equal(b))
	}
}
