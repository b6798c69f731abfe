package lwwmap

import (
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

const ms = int64(time.Millisecond)

// region makes a replica whose physical clock reads ft's time plus offset.
func region(id crdt.ReplicaID, ft *fakeTime, offset int64) *Map[string, string] {
	return New[string, string](id, clock.New(clock.WithSource(ft.source(offset))))
}

func mustApply[K comparable, V any](t *testing.T, m *Map[K, V], ops ...Op[K, V]) {
	t.Helper()
	for _, op := range ops {
		if err := m.Apply(op); err != nil {
			t.Fatalf("%s: Apply(%v): %v", m.ID(), op.Dot(), err)
		}
	}
}

func wantValue(t *testing.T, m *Map[string, string], k, want string) {
	t.Helper()
	if got, ok := m.Get(k); !ok || got != want {
		t.Fatalf("%s: Get(%q) = %q, %v; want %q, true", m.ID(), k, got, ok, want)
	}
}

func wantAbsent(t *testing.T, m *Map[string, string], k string) {
	t.Helper()
	if got, ok := m.Get(k); ok {
		t.Fatalf("%s: Get(%q) = %q, true; want absent", m.ID(), k, got)
	}
}

// Two regions put one key concurrently: the later timestamp wins at both.
func TestConcurrentPutsLaterTimestampWins(t *testing.T) {
	ft := &fakeTime{now: start}
	us := region("us-east-1", ft, 0)
	eu := region("eu-west-1", ft, 0)

	blue := us.Put("color", "blue")
	ft.now += 2 * ms
	green := eu.Put("color", "green")
	if !green.Timestamp().After(blue.Timestamp()) {
		t.Fatalf("setup: green at %v is not after blue at %v", green.Timestamp(), blue.Timestamp())
	}
	mustApply(t, us, green)
	mustApply(t, eu, blue)
	wantValue(t, us, "color", "green")
	wantValue(t, eu, "color", "green")
}

// A delete and a put of one key, concurrent: whichever is later wins.
func TestConcurrentPutAndDelete(t *testing.T) {
	t.Run("delete later", func(t *testing.T) {
		ft := &fakeTime{now: start}
		us := region("us-east-1", ft, 0)
		eu := region("eu-west-1", ft, 0)
		mustApply(t, eu, us.Put("cart", "book"))
		put := us.Put("cart", "pen") // not yet seen by eu
		ft.now += ms
		del := eu.Delete("cart")
		mustApply(t, us, del)
		mustApply(t, eu, put)
		wantAbsent(t, us, "cart")
		wantAbsent(t, eu, "cart")
	})
	t.Run("put later", func(t *testing.T) {
		ft := &fakeTime{now: start}
		us := region("us-east-1", ft, 0)
		eu := region("eu-west-1", ft, 0)
		mustApply(t, eu, us.Put("cart", "book"))
		del := eu.Delete("cart") // not yet seen by us
		ft.now += ms
		put := us.Put("cart", "pen")
		mustApply(t, us, del)
		mustApply(t, eu, put)
		wantValue(t, us, "cart", "pen")
		wantValue(t, eu, "cart", "pen")
	})
}

// A delete removes an earlier put it had not seen: a delete is a write of
// "absent", not an observed remove.
func TestDeleteWinsOverAnEarlierUnseenPut(t *testing.T) {
	ft := &fakeTime{now: start}
	us := region("us-east-1", ft, 0)
	eu := region("eu-west-1", ft, 0)
	put := us.Put("k", "v")
	ft.now += ms
	del := eu.Delete("k") // eu never saw k
	mustApply(t, eu, put)
	mustApply(t, us, del)
	wantAbsent(t, us, "k")
	wantAbsent(t, eu, "k")
	if us.Len() != 0 || eu.Len() != 0 {
		t.Fatalf("Len = %d, %d; want 0, 0", us.Len(), eu.Len())
	}
}

// Two writes with exactly the same timestamp: the smaller replica ID wins.
func TestTieBrokenBySmallerReplicaID(t *testing.T) {
	ft := &fakeTime{now: start}
	us := region("us-east-1", ft, 0)
	eu := region("eu-west-1", ft, 0)
	a := us.Put("k", "from us")
	b := eu.Put("k", "from eu")
	if a.Timestamp() != b.Timestamp() {
		t.Fatalf("setup: timestamps %v and %v differ", a.Timestamp(), b.Timestamp())
	}
	mustApply(t, us, b)
	mustApply(t, eu, a)
	// "eu-west-1" < "us-east-1"
	wantValue(t, us, "k", "from eu")
	wantValue(t, eu, "k", "from eu")

	// The same with deletes: a delete by the smaller ID wins a tie.
	ft2 := &fakeTime{now: start}
	x := region("a", ft2, 0)
	y := region("b", ft2, 0)
	mustApply(t, x, y.Put("k", "seed")) // both clocks now past the seed
	mustApply(t, y, x.Put("j", "seed"))
	ft2.now += ms
	del, put := x.Delete("k"), y.Put("k", "kept?")
	if del.Timestamp() != put.Timestamp() {
		t.Fatalf("setup: timestamps %v and %v differ", del.Timestamp(), put.Timestamp())
	}
	mustApply(t, x, put)
	mustApply(t, y, del)
	wantAbsent(t, x, "k")
	wantAbsent(t, y, "k")
}

// A write made after seeing another wins over it, even from a replica whose
// wall clock is behind.
func TestCausallyLaterWriteWinsDespiteSlowerWallClock(t *testing.T) {
	ft := &fakeTime{now: start}
	fast := region("a-fast", ft, 400*ms) // 400ms ahead, within the tolerated offset
	slow := region("b-slow", ft, 0)

	first := fast.Put("k", "first")
	mustApply(t, slow, first)
	second := slow.Put("k", "second") // made after seeing first
	if slow.clk.Physical() >= first.Timestamp().Wall {
		t.Fatalf("setup: slow's wall clock %d is not behind first's %d", slow.clk.Physical(), first.Timestamp().Wall)
	}
	mustApply(t, fast, second)
	wantValue(t, fast, "k", "second")
	wantValue(t, slow, "k", "second")

	// Had slow written without seeing first, its wall clock would have
	// lost: the causal link is what makes the difference.
	ft2 := &fakeTime{now: start}
	fast2 := region("a-fast", ft2, 400*ms)
	slow2 := region("b-slow", ft2, 0)
	f := fast2.Put("k", "first")
	s := slow2.Put("k", "second")
	mustApply(t, fast2, s)
	mustApply(t, slow2, f)
	wantValue(t, fast2, "k", "first")
	wantValue(t, slow2, "k", "first")
}

// Applying an op twice, or after a later write, changes nothing.
func TestApplyIsIdempotent(t *testing.T) {
	ft := &fakeTime{now: start}
	us := region("us-east-1", ft, 0)
	eu := region("eu-west-1", ft, 0)
	op := us.Put("k", "v")
	for i := range 3 {
		changed, err := eu.apply(op)
		if err != nil || changed != (i == 0) {
			t.Fatalf("apply #%d: changed %v, err %v; want %v, nil", i+1, changed, err, i == 0)
		}
	}
	// The map's own ops come back harmlessly.
	before := us.Clone()
	mustApply(t, us, op, op)
	if !us.Equal(before) {
		t.Fatal("applying a replica's own op changed it")
	}
	later := eu.Put("k", "w")
	mustApply(t, us, later, op)
	wantValue(t, us, "k", "w")
}

// The scenario for Collect: dropping a marker while an older write
// is still in flight brings the key back at one replica only, and the
// replicas diverge for good. With a correctly computed stable point the
// marker stays and they converge.
func TestCollectTooEarlyResurrectsAKey(t *testing.T) {
	run := func(t *testing.T, tooEarly bool) (a, b *Map[string, string]) {
		ft := &fakeTime{now: start}
		a = region("a", ft, 0)
		b = region("b", ft, 0)
		c := region("c", ft, 0)

		inFlight := c.Put("k", "old") // on its way to b, slowly
		ft.now += ms
		del := b.Delete("k") // b never saw c's put
		mustApply(t, a, del, inFlight)
		mustApply(t, c, del)
		ft.now += ms

		// Every replica has applied the delete, but b has not applied
		// c's put yet, so the correct stable point is no later than the
		// put's timestamp.
		stable := inFlight.Timestamp()
		if tooEarly {
			stable = b.clk.Now() // "everyone has seen the delete": not enough
		}
		want := 0
		if tooEarly {
			want = 1
		}
		if n := b.Collect(stable); n != want {
			t.Fatalf("Collect(%v) dropped %d markers, want %d", stable, n, want)
		}
		mustApply(t, b, inFlight) // the put finally arrives
		return a, b
	}
	t.Run("too early", func(t *testing.T) {
		a, b := run(t, true)
		wantAbsent(t, a, "k")
		wantValue(t, b, "k", "old") // resurrected at b only
		// Exchanging deltas both ways, as the engine does, does not
		// repair it: each side has seen every write the other has, so
		// neither has anything to send.
		a.Merge(b.DeltaSince(a.Version()))
		b.Merge(a.DeltaSince(b.Version()))
		wantAbsent(t, a, "k")
		wantValue(t, b, "k", "old")
	})
	t.Run("stable", func(t *testing.T) {
		a, b := run(t, false)
		wantAbsent(t, a, "k")
		wantAbsent(t, b, "k")
		a.Merge(b.DeltaSince(a.Version()))
		b.Merge(a.DeltaSince(b.Version()))
		if !a.Equal(b) {
			t.Fatalf("replicas differ:\n%s\n%s", dump(a), dump(b))
		}
	})
}

// A collected marker's key stays deleted when an old state that still holds
// the overwritten put is merged in, in either direction.
func TestMergeDropsAWriteOverwrittenByACollectedMarker(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	b := region("b", ft, 0)
	mustApply(t, b, a.Put("k", "v"), a.Put("other", "x"))
	old := a.Clone() // holds k = v
	ft.now += ms
	mustApply(t, a, b.Delete("k"))
	ft.now += ms
	stable := b.clk.Now()
	if a.Collect(stable) != 1 || b.Collect(stable) != 1 {
		t.Fatal("setup: markers not collected")
	}

	into := b.Clone()
	if changed := into.merge(old.Clone()); changed {
		t.Fatalf("merging an old state changed the content: %s", dump(into))
	}
	wantAbsent(t, into, "k")

	from := old.Clone()
	from.Merge(b)
	wantAbsent(t, from, "k")
	wantValue(t, from, "other", "x")
	if !from.Equal(into) {
		t.Fatalf("merge not commutative:\n%s\n%s", dump(from), dump(into))
	}
}

func TestLenAllAndKeysLeaveMarkersOut(t *testing.T) {
	ft := &fakeTime{now: start}
	m := region("a", ft, 0)
	m.Put("x", "1")
	m.Put("y", "2")
	m.Put("z", "3")
	m.Delete("y")
	m.Delete("never-there")
	if m.Len() != 2 {
		t.Fatalf("Len = %d, want 2", m.Len())
	}
	if got, want := contents(m), map[string]string{"x": "1", "z": "3"}; !maps.Equal(got, want) {
		t.Fatalf("All = %v, want %v", got, want)
	}
	keys := map[string]bool{}
	for k := range m.Keys() {
		keys[k] = true
	}
	if !maps.Equal(keys, map[string]bool{"x": true, "z": true}) {
		t.Fatalf("Keys = %v", keys)
	}
	for range m.All() {
		break // stopping early is fine
	}
	for range m.Keys() {
		break
	}
	if m.nDel != 2 {
		t.Fatalf("%d markers, want 2 (a delete of an absent key is recorded too)", m.nDel)
	}
	m.Put("y", "again")
	wantValue(t, m, "y", "again")
	if m.Len() != 3 || m.nDel != 1 {
		t.Fatalf("Len %d, markers %d; want 3, 1", m.Len(), m.nDel)
	}
}

func TestVersionAndDeltaSince(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	b := region("b", ft, 0)
	a.Put("x", "1")
	a.Put("y", "2")
	b.Merge(a)
	v := b.Version()
	if want := vclock.Of(map[crdt.ReplicaID]uint64{"a": 2}); !v.Equal(want) {
		t.Fatalf("Version = %v, want %v", v, want)
	}
	a.Put("z", "3")
	a.Delete("x")
	d := a.DeltaSince(v)
	got := map[string]bool{}
	for k := range entries(d) {
		got[k] = true
	}
	if !maps.Equal(got, map[string]bool{"z": true, "x": true}) {
		t.Fatalf("delta holds keys %v, want x (deleted) and z", got)
	}
	b.Merge(d)
	if !b.Equal(a) {
		t.Fatalf("after the delta:\n%s\nwant\n%s", dump(b), dump(a))
	}
	if e := a.DeltaSince(a.Version()); e.m.Len() != 0 || !e.ctx.IsEmpty() {
		t.Fatalf("delta since its own version: %s", dump(e))
	}
}

func TestApplyRefusesMalformedOps(t *testing.T) {
	ft := &fakeTime{now: start}
	src := region("a", ft, 0)
	good := src.Put("k", "v")
	del := src.Delete("k")
	cases := map[string]Op[string, string]{
		"zero op":           {},
		"empty replica":     {key: "k", value: "v", ts: good.ts, dot: vclock.Dot{Seq: 5}},
		"zero sequence":     {key: "k", value: "v", ts: good.ts, dot: vclock.Dot{Replica: "a"}},
		"zero timestamp":    {key: "k", value: "v", dot: vclock.Dot{Replica: "a", Seq: 5}},
		"negative wall":     {key: "k", value: "v", ts: clock.Timestamp{Wall: -1}, dot: vclock.Dot{Replica: "a", Seq: 5}},
		"delete with value": {key: "k", value: "v", ts: del.ts, dot: vclock.Dot{Replica: "a", Seq: 5}, del: true},
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			m := region("b", ft, 0)
			mustApply(t, m, good)
			before, last := m.Clone(), m.clk.Last()
			err := m.Apply(op)
			if !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("Apply = %v, want ErrInvalidOp", err)
			}
			if !m.Equal(before) || m.clk.Last() != last {
				t.Fatal("a refused op changed the map or its clock")
			}
			if _, err := op.MarshalBinary(); !errors.Is(err, ErrInvalidOp) {
				t.Fatalf("MarshalBinary = %v, want ErrInvalidOp", err)
			}
		})
	}
}

func TestSkewRefusedThenAcceptedLater(t *testing.T) {
	ft := &fakeTime{now: start}
	ahead := region("ahead", ft, time.Hour.Nanoseconds())
	op := ahead.Put("k", "from the future")
	opBytes, err := op.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	state, err := ahead.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}

	m := region("local", ft, 0)
	m.Put("mine", "1")
	before, last := m.Clone(), m.clk.Last()
	unchanged := func(what string) {
		t.Helper()
		if !m.Equal(before) || m.clk.Last() != last {
			t.Fatalf("%s: a refused write changed the map or its clock", what)
		}
	}
	if err := m.Apply(op); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Apply = %v, want ErrClockSkew", err)
	}
	unchanged("Apply")
	if _, err := m.ApplyBinary(opBytes); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("ApplyBinary = %v, want ErrClockSkew", err)
	}
	unchanged("ApplyBinary")
	if _, err := m.MergeBinary(state); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("MergeBinary = %v, want ErrClockSkew", err)
	}
	unchanged("MergeBinary")

	// An hour later the same data is no longer ahead.
	ft.now += time.Hour.Nanoseconds()
	if changed, err := m.MergeBinary(state); err != nil || !changed {
		t.Fatalf("MergeBinary later = %v, %v; want true, nil", changed, err)
	}
	if changed, err := m.ApplyBinary(opBytes); err != nil || changed {
		t.Fatalf("ApplyBinary after the merge = %v, %v; want false, nil", changed, err)
	}
	wantValue(t, m, "k", "from the future")
	if !m.clk.Last().After(op.Timestamp()) {
		t.Fatal("the clock did not advance past the accepted write")
	}
	// And a write made now orders after it.
	mine := m.Put("k", "newer")
	if !mine.Timestamp().After(op.Timestamp()) {
		t.Fatal("a write made after taking the remote one in orders before it")
	}
}

// The typed Merge trusts its argument: it merges a skewed state anyway.
func TestTypedMergeTakesASkewedStateIn(t *testing.T) {
	ft := &fakeTime{now: start}
	ahead := region("ahead", ft, time.Hour.Nanoseconds())
	ahead.Put("k", "future")
	m := region("local", ft, 0)
	m.Merge(ahead)
	wantValue(t, m, "k", "future")
	// Until the clock catches up, a local put of k loses to it locally
	// too, so the replicas still agree.
	m.Put("k", "now")
	wantValue(t, m, "k", "future")
	ahead.Merge(m)
	if !maps.Equal(contents(ahead), contents(m)) {
		t.Fatalf("replicas differ: %v, %v", contents(ahead), contents(m))
	}
}

func TestMergeBinaryAndApplyBinaryReportVisibleChanges(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	b := region("b", ft, 0)
	enc := func(m *Map[string, string]) []byte {
		t.Helper()
		out, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	opb := func(op Op[string, string]) []byte {
		t.Helper()
		out, err := op.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	check := func(what string, changed bool, err error, want bool) {
		t.Helper()
		if err != nil || changed != want {
			t.Fatalf("%s: changed %v, err %v; want %v", what, changed, err, want)
		}
	}
	changed, err := b.ApplyBinary(opb(a.Delete("gone")))
	check("a delete of an absent key", changed, err, false)
	changed, err = b.ApplyBinary(opb(a.Put("k", "1")))
	check("a new key", changed, err, true)
	changed, err = b.MergeBinary(enc(a))
	check("a state already merged", changed, err, false)
	a.Put("k", "2")
	changed, err = b.MergeBinary(enc(a))
	check("a new value", changed, err, true)
	a.Delete("k")
	changed, err = b.MergeBinary(enc(a))
	check("a delete", changed, err, true)
	wantAbsent(t, b, "k")
}

func TestNewRefusesBadArguments(t *testing.T) {
	clk := clock.New()
	for name, f := range map[string]func(){
		"empty ID":       func() { New[string, int]("", clk) },
		"nil clock":      func() { New[string, int]("a", nil) },
		"Put on zero":    func() { (&Map[string, int]{}).Put("k", 1) },
		"Delete on zero": func() { (&Map[string, int]{}).Delete("k") },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			f()
		})
	}
}

func TestZeroMapIsAReadOnlyReplica(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	op := a.Put("k", "v")
	var z Map[string, string]
	if z.Len() != 0 {
		t.Fatal("zero map not empty")
	}
	if _, ok := z.Get("k"); ok {
		t.Fatal("zero map has k")
	}
	mustApply(t, &z, op)
	wantValue(t, &z, "k", "v")
	var z2 Map[string, string]
	z2.Merge(a)
	if !z2.Equal(&z) {
		t.Fatal("merge and apply disagree on the zero map")
	}
	if z.Collect(clock.Timestamp{Wall: 1 << 62}) != 0 {
		t.Fatal("collected a put")
	}
}

// Taking writes in by any path advances the clock past them, so the next
// local write orders after them.
func TestTakingWritesInAdvancesTheClock(t *testing.T) {
	paths := map[string]func(t *testing.T, m, from *Map[string, string], op Op[string, string]){
		"Merge": func(t *testing.T, m, from *Map[string, string], _ Op[string, string]) { m.Merge(from) },
		"MergeBinary": func(t *testing.T, m, from *Map[string, string], _ Op[string, string]) {
			b, err := from.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := m.MergeBinary(b); err != nil {
				t.Fatal(err)
			}
		},
		"UnmarshalBinary": func(t *testing.T, m, from *Map[string, string], _ Op[string, string]) {
			b, err := from.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if err := m.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
		},
		"Apply": func(t *testing.T, m, _ *Map[string, string], op Op[string, string]) { mustApply(t, m, op) },
	}
	for name, takeIn := range paths {
		t.Run(name, func(t *testing.T) {
			ft := &fakeTime{now: start}
			fast := region("fast", ft, 300*ms)
			slow := region("slow", ft, 0)
			op := fast.Put("k", "fast")
			takeIn(t, slow, fast, op)
			mine := slow.Put("k", "slow")
			if !mine.Timestamp().After(op.Timestamp()) {
				t.Fatalf("a write made after taking in one at %v has timestamp %v", op.Timestamp(), mine.Timestamp())
			}
			wantValue(t, slow, "k", "slow")
		})
	}
}

// Collecting by versions waits until this replica has seen every write its
// peers had seen: here b's own delete marker must stay while c's older put,
// which a and c have seen, is still on its way to b.
func TestCollectVersionsWaitsForWritesPeersHaveSeen(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	b := region("b", ft, 0)
	c := region("c", ft, 0)

	inFlight := c.Put("k", "old") // reaches a now, b later
	mustApply(t, a, inFlight)
	ft.now += ms
	del := b.Delete("k")
	mustApply(t, a, del)
	mustApply(t, c, del)

	// Both peers have seen the delete, but they have also seen c's put,
	// which b has not: b must keep its marker.
	peers := []vclock.Clock{a.Version(), c.Version()}
	if n := b.CollectVersions(peers); n != 0 {
		t.Fatalf("b collected %d markers while a write its peers saw is in flight", n)
	}
	// a has seen everything b and c have: it may drop the marker.
	if n := a.CollectVersions([]vclock.Clock{b.Version(), c.Version()}); n != 1 {
		t.Fatalf("a collected %d markers, want 1", n)
	}

	mustApply(t, b, inFlight) // the put arrives; the marker beats it
	wantAbsent(t, b, "k")
	// Now b has seen all its peers have, and drops the marker too.
	if n := b.CollectVersions(peers); n != 1 {
		t.Fatalf("b collected %d markers, want 1", n)
	}
	// Late copies of the put are ignored everywhere, and the replicas
	// agree through deltas.
	for _, m := range []*Map[string, string]{a, b, c} {
		mustApply(t, m, inFlight)
		wantAbsent(t, m, "k")
	}
	for _, x := range []*Map[string, string]{a, b, c} {
		for _, y := range []*Map[string, string]{a, b, c} {
			x.Merge(y.DeltaSince(x.Version()))
		}
	}
	for _, m := range []*Map[string, string]{a, b, c} {
		wantAbsent(t, m, "k")
	}
}

// Why versions used for collection must be durable: a peer that counted the
// delete, then came back from an older snapshot with a clock running behind,
// makes a put that orders before the delete yet shows once the marker is
// gone. (This is why the engine reports only the versions of snapshots for
// collection.)
func TestCollectVersionsNeedsDurableVersions(t *testing.T) {
	ft := &fakeTime{now: start}
	a := region("a", ft, 0)
	b := region("b", ft, 10*ms) // b's clock runs 10ms ahead of a's
	mustApply(t, b, a.Put("k", "v"))
	snapshot, err := a.MarshalBinary() // a persists, then...
	if err != nil {
		t.Fatal(err)
	}
	del := b.Delete("k")
	mustApply(t, a, del) // ...takes the delete in, and reports its version
	if n := b.CollectVersions([]vclock.Clock{a.Version()}); n != 1 {
		t.Fatalf("b collected %d markers, want 1", n)
	}

	// a crashes and comes back from its snapshot, with a fresh clock.
	a = region("a", ft, 0)
	if err := a.UnmarshalBinary(snapshot); err != nil {
		t.Fatal(err)
	}
	late := a.Put("k", "after the crash")
	if !late.Timestamp().Before(del.Timestamp()) {
		t.Fatal("setup: the put after the crash does not order before the delete")
	}
	mustApply(t, b, late)
	// The conflict rule says the delete wins; the collected marker can no
	// longer say so.
	if got := model([]write{
		{key: "k", ts: del.Timestamp(), id: del.Replica(), del: true},
		{key: "k", ts: late.Timestamp(), id: late.Replica()},
	}); len(got) != 0 {
		t.Fatalf("model: %v", got)
	}
	wantValue(t, b, "k", "after the crash")
}
