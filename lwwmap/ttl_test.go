package lwwmap

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

const sec = int64(time.Second)

// wantTTL checks that k is present at m and expires in exactly want by
// m's clock (or never, for want 0).
func wantTTL(t *testing.T, m *Map[string, string], k string, want time.Duration) {
	t.Helper()
	if _, ok := m.Get(k); !ok {
		t.Fatalf("%s: %q absent, want present with TTL %v", m.ID(), k, want)
	}
	got, ok := m.TTL(k)
	if ok != (want != 0) || got != want {
		t.Fatalf("%s: TTL(%q) = %v, %v; want %v, %v", m.ID(), k, got, ok, want, want != 0)
	}
}

// ttlDump formats the expire and persist writes in force, for failure
// messages.
func ttlDump[K comparable, V any](m *Map[K, V]) string {
	var lines []string
	for k, ws := range m.ttl {
		for _, w := range ws {
			lines = append(lines, fmt.Sprintf("%v: %s:%d @%v at %d", k, m.reps[w.rep], w.seq, w.ts(), w.at))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "; ")
}

// Redis Active-Active's documented example of concurrent expires
// ("Develop applications with Active-Active databases", Expiration):
// EXPIRE key1 10 on cluster 1 and EXPIRE key1 50 on cluster 2 at the same
// time; the longer time to live, 50 seconds, is kept everywhere. With a
// PERSIST key1 on a third cluster at the same time, the persist wins:
// an infinite time to live.
//
//	time  cluster 1          cluster 2          cluster 3
//	t1    SET key1 val1
//	t2    sync               sync               sync
//	t3    EXPIRE key1 10     EXPIRE key1 50     (PERSIST key1)
//	t4    sync               sync               sync
//	t5    TTL key1 → 50      TTL key1 → 50      (or -1 everywhere)
func TestRedisTableLongestTTLWins(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist=%v", persist), func(t *testing.T) {
			ft := &fakeTime{now: start}
			c1, c2, c3 := region("cluster-1", ft, 0), region("cluster-2", ft, 0), region("cluster-3", ft, 0)
			set := c1.Put("key1", "val1")
			mustApply(t, c2, set)
			mustApply(t, c3, set)
			ft.now += sec
			ops := []Op[string, string]{c1.Expire("key1", 10*time.Second), c2.Expire("key1", 50*time.Second)}
			if persist {
				ops = append(ops, c3.Persist("key1"))
			}
			for _, m := range []*Map[string, string]{c1, c2, c3} {
				mustApply(t, m, ops...) // its own op again is ignored
			}
			for _, m := range []*Map[string, string]{c1, c2, c3} {
				if persist {
					wantTTL(t, m, "key1", 0)
				} else {
					wantTTL(t, m, "key1", 50*time.Second)
				}
			}
			ft.now += 11 * sec // past the shorter TTL: still there
			for _, m := range []*Map[string, string]{c1, c2, c3} {
				wantValue(t, m, "key1", "val1")
			}
			ft.now += 40 * sec // past the longer one
			for _, m := range []*Map[string, string]{c1, c2, c3} {
				if persist {
					wantValue(t, m, "key1", "val1")
				} else {
					wantAbsent(t, m, "key1")
				}
			}
		})
	}
}

// Expire versus persist, concurrent: the persist wins, whichever is
// later, and whatever order they arrive in.
//
//	time  region 1           region 2
//	t1    SET key1 val1
//	t2    sync               sync
//	t3    EXPIRE key1 10     PERSIST key1      (both orders of timestamps)
//	t4    sync               sync
//	t5    TTL key1 → -1      TTL key1 → -1
func TestRedisTableExpireVersusPersist(t *testing.T) {
	for _, persistLater := range []bool{false, true} {
		t.Run(fmt.Sprintf("persist later=%v", persistLater), func(t *testing.T) {
			ft := &fakeTime{now: start}
			r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
			mustApply(t, r2, r1.Put("key1", "val1"))
			var exp, per Op[string, string]
			if persistLater {
				exp = r1.Expire("key1", 10*time.Second)
				ft.now += ms
				per = r2.Persist("key1")
			} else {
				per = r2.Persist("key1")
				ft.now += ms
				exp = r1.Expire("key1", 10*time.Second)
			}
			mustApply(t, r1, per)
			mustApply(t, r2, exp)
			ft.now += 20 * sec
			for _, m := range []*Map[string, string]{r1, r2} {
				wantValue(t, m, "key1", "val1")
				wantTTL(t, m, "key1", 0)
			}
		})
	}
}

// An expire or persist made after seeing another overrides it, even a
// shorter expire over a longer one, and an expire after a persist.
func TestCausallyLaterExpireOrPersistOverrides(t *testing.T) {
	ft := &fakeTime{now: start}
	r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
	mustApply(t, r2, r1.Put("k", "v"))
	mustApply(t, r2, r1.Expire("k", time.Hour))
	shorter := r2.Expire("k", time.Minute) // has seen the hour
	mustApply(t, r1, shorter)
	wantTTL(t, r1, "k", time.Minute)
	wantTTL(t, r2, "k", time.Minute)

	per := r1.Persist("k")
	mustApply(t, r2, per)
	wantTTL(t, r2, "k", 0)
	exp := r2.Expire("k", 10*time.Second) // after the persist
	mustApply(t, r1, exp)
	wantTTL(t, r1, "k", 10*time.Second)
	ft.now += 10 * sec
	wantAbsent(t, r1, "k")
	wantAbsent(t, r2, "k")
}

// Update versus expire. A put made after seeing an expire clears it, as
// Redis's SET does, even where the put loses to a later concurrent one;
// so does a delete, so a key put again later has no time to live. A put
// concurrent with an expire (made without seeing it) cannot clear what it
// did not see: the key keeps the expire, with whichever value wins.
//
//	time  region 1           region 2
//	t1    SET k v1
//	t2    sync               sync
//	t3    EXPIRE k 10
//	t4    sync               sync
//	t5    SET k v2                             (after the expire)
//	t6    sync               sync
//	t7    TTL k → -1         TTL k → -1
//
//	t3'   EXPIRE k 10        SET k v2           (concurrent)
//	t4'   sync               sync
//	t5'   TTL k → 10         TTL k → 10, value v2 at both
func TestRedisTableUpdateVersusExpire(t *testing.T) {
	t.Run("put after expire", func(t *testing.T) {
		ft := &fakeTime{now: start}
		r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
		mustApply(t, r2, r1.Put("k", "v1"))
		mustApply(t, r2, r1.Expire("k", 10*time.Second))
		ft.now += sec
		put := r2.Put("k", "v2")
		if put.drops() == "" {
			t.Fatalf("the put carries no overwritten expire")
		}
		mustApply(t, r1, put)
		ft.now += 20 * sec
		for _, m := range []*Map[string, string]{r1, r2} {
			wantValue(t, m, "k", "v2")
			wantTTL(t, m, "k", 0)
		}
	})
	t.Run("put concurrent with expire", func(t *testing.T) {
		ft := &fakeTime{now: start}
		r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
		mustApply(t, r2, r1.Put("k", "v1"))
		exp := r1.Expire("k", 10*time.Second)
		ft.now += sec
		put := r2.Put("k", "v2")
		mustApply(t, r1, put)
		mustApply(t, r2, exp)
		for _, m := range []*Map[string, string]{r1, r2} {
			wantValue(t, m, "k", "v2")
			wantTTL(t, m, "k", 9*time.Second)
		}
		ft.now += 9 * sec
		wantAbsent(t, r1, "k")
		wantAbsent(t, r2, "k")
	})
	t.Run("delete after expire, put again", func(t *testing.T) {
		ft := &fakeTime{now: start}
		r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
		mustApply(t, r2, r1.Put("k", "v1"))
		mustApply(t, r2, r1.Expire("k", 10*time.Second))
		mustApply(t, r1, r2.Delete("k"))
		mustApply(t, r2, r1.Put("k", "v3"))
		ft.now += 20 * sec
		wantValue(t, r1, "k", "v3")
		wantValue(t, r2, "k", "v3")
		if len(r1.ttl)+len(r2.ttl) != 0 {
			t.Fatalf("expire writes left: %s | %s", ttlDump(r1), ttlDump(r2))
		}
	})
	t.Run("losing put after expire still clears it", func(t *testing.T) {
		ft := &fakeTime{now: start}
		r1, r2 := region("region-1", ft, 0), region("region-2", ft, 0)
		mustApply(t, r2, r1.Put("k", "v1"))
		mustApply(t, r2, r1.Expire("k", 10*time.Second))
		clears := r2.Put("k", "v2") // saw the expire
		ft.now += ms
		later := r1.Put("k", "v3") // concurrent with v2, later; also saw the expire
		mustApply(t, r1, clears)
		mustApply(t, r2, later)
		ft.now += 20 * sec
		wantValue(t, r1, "k", "v3")
		wantValue(t, r2, "k", "v3")
	})
}

// A key is hidden from every reader the moment the replica's clock
// reaches its expiry, not a nanosecond before, and Len, All, Keys and
// Garbage agree with Get.
func TestExpiredKeyInvisibleToEveryReader(t *testing.T) {
	ft := &fakeTime{now: start}
	m := region("us-east-1", ft, 0)
	m.Put("a", "1")
	m.Put("b", "2")
	exp := m.Expire("a", time.Second)
	if exp.TTL() != time.Second || exp.Persisted() || exp.Deleted() {
		t.Fatalf("Expire op: TTL %v, persisted %v, deleted %v", exp.TTL(), exp.Persisted(), exp.Deleted())
	}
	at := exp.Timestamp().Wall + sec
	ft.now = at - 1
	wantValue(t, m, "a", "1")
	if m.Len() != 2 {
		t.Fatalf("Len = %d before expiry, want 2", m.Len())
	}
	ft.now = at
	wantAbsent(t, m, "a")
	if got := maps.Collect(m.All()); !maps.Equal(got, map[string]string{"b": "2"}) {
		t.Fatalf("All = %v after expiry", got)
	}
	if got := slices.Collect(m.Keys()); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Keys = %v after expiry", got)
	}
	if m.Len() != 1 {
		t.Fatalf("Len = %d after expiry, want 1", m.Len())
	}
	if p, c := m.Garbage(); p != 1 || c != 0 {
		t.Fatalf("Garbage = %d pending, %d collected; want 1, 0", p, c)
	}
	if _, ok := m.TTL("a"); ok {
		t.Fatalf("TTL of an expired key reports one")
	}
	// An expired key cannot be revived by expire or persist; a put brings
	// it back, without a time to live.
	for _, op := range []Op[string, string]{m.Persist("a"), m.Expire("a", time.Hour)} {
		if _, err := op.MarshalBinary(); !errors.Is(err, ErrAbsent) {
			t.Fatalf("expire or persist of an expired key: %v, want ErrAbsent", err)
		}
	}
	m.Put("a", "3")
	wantTTL(t, m, "a", 0)
	// Collected with no peers: every write is stable.
	if n := m.CollectVersions(nil); n != 0 {
		t.Fatalf("collected %d keys, none expired", n)
	}
	m.Expire("b", time.Second)
	ft.now += 2 * sec
	if n := m.CollectVersions(nil); n != 1 {
		t.Fatalf("collected %d keys, want 1", n)
	}
	if _, ok := m.m.Get("b"); ok || len(m.ttl) != 0 {
		t.Fatalf("expired key still held after collection: %s %s", dump(m), ttlDump(m))
	}
	if p, c := m.Garbage(); p != 0 || c != 1 {
		t.Fatalf("Garbage = %d pending, %d collected; want 0, 1", p, c)
	}
}

// Expire and Persist refuse what they cannot do, changing nothing.
func TestExpireRefusals(t *testing.T) {
	ft := &fakeTime{now: start}
	m := region("us-east-1", ft, 0)
	m.Put("k", "v")
	m.Delete("gone")
	before := m.Clone()
	for _, c := range []struct {
		op   Op[string, string]
		want error
	}{
		{m.Expire("missing", time.Second), ErrAbsent},
		{m.Expire("gone", time.Second), ErrAbsent},
		{m.Persist("missing"), ErrAbsent},
		{m.Expire("k", 0), ErrInvalidTTL},
		{m.Expire("k", -time.Second), ErrInvalidTTL},
	} {
		if _, err := c.op.MarshalBinary(); !errors.Is(err, c.want) {
			t.Errorf("op %+v: MarshalBinary error %v, want %v", c.op, err, c.want)
		}
		if err := m.Apply(c.op); !errors.Is(err, c.want) {
			t.Errorf("op %+v: Apply error %v, want %v", c.op, err, c.want)
		}
	}
	if !m.Equal(before) || m.Version().Get("us-east-1") != before.Version().Get("us-east-1") {
		t.Fatalf("a refused expire changed the map: %s", dump(m))
	}
}

// A skewed clock cannot expire data early: a peer whose clock runs ahead
// can push this replica's clock forward only within the maximum offset
// (further is refused), and its own expiry counts from its own, later,
// time. A peer whose clock lags makes its expire count from an earlier
// time, as its own clock saw it.
func TestSkewedPeerCannotExpireEarly(t *testing.T) {
	ft := &fakeTime{now: start}
	us := New[string, string]("us-east-1", clock.New(clock.WithSource(ft.source(0)), clock.WithMaxOffset(500*time.Millisecond)))
	fast := region("eu-west-1", ft, 3*sec) // three seconds ahead
	mustApply(t, fast, us.Put("k", "v"))
	exp := fast.Expire("k", 10*time.Second)
	if err := us.Apply(exp); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("an expire from three seconds ahead: %v, want ErrClockSkew", err)
	}
	wantTTL(t, us, "k", 0) // refused whole
	ft.now += 3 * sec      // the expire is no longer ahead
	mustApply(t, us, exp)
	// It counts from the peer's time, three seconds ahead of ours when
	// made: the key lives ten seconds from now by our clock, not fewer.
	wantTTL(t, us, "k", 10*time.Second)
	ft.now += 10*sec - 1
	wantValue(t, us, "k", "v")
	ft.now++
	wantAbsent(t, us, "k")
}

// The fingerprint leaves keys with a time to live out, so that replicas
// that hide or collect them at different moments do not look diverged;
// it takes a key back in once a put clears its expire.
func TestFingerprintLeavesExpiringKeysOut(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Put("other", "x"))
	with := a.Fingerprint()
	mustApply(t, b, a.Expire("k", time.Second))
	if a.Fingerprint() == with || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("fingerprints %x, %x; before the expire %x", a.Fingerprint(), b.Fingerprint(), with)
	}
	ft.now += 2 * sec
	a.CollectVersions([]vclock.Clock{b.Version()})
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("collecting an expired key changed the fingerprint: %x, %x", a.Fingerprint(), b.Fingerprint())
	}
	put := b.Put("k", "w")
	mustApply(t, a, put)
	if a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("fingerprints differ after the put: %x, %x", a.Fingerprint(), b.Fingerprint())
	}
	fresh := region("c", ft, 0)
	fresh.Merge(a)
	if fresh.Fingerprint() != a.Fingerprint() {
		t.Fatalf("a merged copy has fingerprint %x, want %x", fresh.Fingerprint(), a.Fingerprint())
	}
}

// A replica whose clock lags persists a key just before it expires
// there, while another replica, whose clock has passed the expiry, runs a
// collection: the lagging replica's version shows no write stamped after
// the expiry, so its clock may not have passed it, and the key is kept.
// The persist then wins at both, and both show the value for good.
func TestPersistRacingCollectionKeepsTheKey(t *testing.T) {
	ft := &fakeTime{now: start}
	fast, slow := region("fast", ft, 0), region("slow", ft, -10*ms)
	mustApply(t, slow, fast.Put("k", "v"))
	mustApply(t, slow, fast.Expire("k", time.Second))
	reported := slow.Version() // slow's durable version counts the expire
	ft.now += sec + 5*ms       // past the expiry for fast, not for slow
	wantAbsent(t, fast, "k")
	wantValue(t, slow, "k", "v")
	if n := fast.CollectVersions([]vclock.Clock{reported}); n != 0 {
		t.Fatalf("collected %d keys before the other replica's clock was shown past the expiry, want 0", n)
	}
	per := slow.Persist("k")
	if _, err := per.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	mustApply(t, fast, per)
	b, err := fast.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.MergeBinary(b); err != nil {
		t.Fatal(err)
	}
	mustApply(t, fast, slow.Put("other", "x")) // time moves on
	ft.now += 10 * sec
	if n := fast.CollectVersions([]vclock.Clock{slow.Version()}); n != 0 {
		t.Fatalf("collected %d keys, want 0: the key is persisted", n)
	}
	for _, m := range []*Map[string, string]{fast, slow} {
		wantValue(t, m, "k", "v")
	}
	if !fast.Equal(slow) {
		t.Fatalf("diverged:\n%s %s\n%s %s", dump(fast), ttlDump(fast), dump(slow), ttlDump(slow))
	}
}

// A replica collects an expired key once every replica's version counts
// a write stamped at or after its expiry, and not before.
func TestCollectVersionsWaitsForEveryClockPastTheExpiry(t *testing.T) {
	ft := &fakeTime{now: start}
	a, b := region("a", ft, 0), region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"))
	mustApply(t, b, a.Expire("k", time.Second))
	ft.now += 2 * sec
	if n := a.CollectVersions([]vclock.Clock{b.Version()}); n != 0 {
		t.Fatalf("collected %d keys with no write after the expiry seen, want 0", n)
	}
	tick := a.Put("tick", "1")
	if n := a.CollectVersions([]vclock.Clock{b.Version()}); n != 0 {
		t.Fatalf("collected %d keys before b took in a write after the expiry, want 0", n)
	}
	mustApply(t, b, tick)
	if n := a.CollectVersions([]vclock.Clock{b.Version()}); n != 1 {
		t.Fatalf("collected %d keys once b took in a write after the expiry, want 1", n)
	}
}

// Readers may share a map with times to live, as they share a Go map:
// Get, Len, All, TTL, Garbage and DeltaSince only read it (and the
// clock, which is safe for concurrent use). Run with -race.
func TestTTLConcurrentReaders(t *testing.T) {
	ft := &fakeTime{now: start}
	m := region("us-east-1", ft, 0)
	for i := range 50 {
		k := fmt.Sprint(i)
		m.Put(k, "v")
		if i%2 == 0 {
			m.Expire(k, time.Duration(i)*time.Millisecond+time.Millisecond)
		}
	}
	ft.now += 20 * ms // half of the expiring keys have expired
	want := m.Len()
	done := make(chan error)
	for range 4 {
		go func() {
			var err error
			for range 100 {
				n := 0
				for range m.All() {
					n++
				}
				if n != want || m.Len() != want {
					err = fmt.Errorf("All gave %d keys, Len %d; want %d", n, m.Len(), want)
				}
				m.Get("10")
				m.TTL("40")
				m.Garbage()
				m.DeltaSince(vclock.Clock{})
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if want != 50-10 {
		t.Fatalf("Len = %d, want 40 (10 of the 25 expiring keys expired)", want)
	}
}
