package lwwmap

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// collectedLate plays the accident of
// TestLateWritesCountsPutOverCollectedDelete up to the collection: b's
// first process puts k and sends nothing; c deletes k later; a collects
// the marker on the versions of c and of b's second process. It returns
// a, c (which still holds the marker), b's unsent put, and a maker of
// maps whose clocks read ft.
func collectedLate(t *testing.T) (a, c *Map[string, int], put Op[string, int], ft *fakeTime, mk func(vclock.ReplicaID) *Map[string, int]) {
	t.Helper()
	ft = &fakeTime{now: start}
	mk = func(w vclock.ReplicaID) *Map[string, int] {
		m := New[string, int](w.Name(), clock.New(clock.WithSource(ft.source(0))))
		m.SetWriter(w)
		return m
	}
	a, c = mk(vclock.Writer("a", 1)), mk(vclock.Writer("c", 1))
	b1 := mk(vclock.Writer("b", 1))
	ft.now += 1000
	if err := a.Apply(a.Put("k", 1)); err != nil {
		t.Fatal(err)
	}
	c.Merge(a.Clone())
	b1.Merge(a.Clone())
	b2 := b1.Clone()
	b2.clk = clock.New(clock.WithSource(ft.source(0)))
	b2.SetWriter(vclock.Writer("b", 2))
	ft.now += 1000
	put = b1.Put("k", 2) // not sent
	ft.now += 1000
	del := c.Delete("k")
	for _, m := range []*Map[string, int]{a, b2} {
		if err := m.Apply(del); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.CollectVersions([]vclock.Clock{c.Version(), b2.Version()}); n != 1 {
		t.Fatalf("a collected %d markers, want 1", n)
	}
	if a.collTS == nil || *a.collTS != del.Timestamp() {
		t.Fatalf("a's latest collected write is %v, want the delete's %v", a.collTS, del.Timestamp())
	}
	ft.now += 1000
	return a, c, put, ft, mk
}

// A region restarted from its snapshot after it collected a delete's
// marker still counts the late put that takes the key back: the snapshot
// (SnapshotBinary) keeps the latest write collected, read back by
// UnmarshalBinary or, as the replication engine restores, by MergeBinary
// into a map just made. The state sent to peers (MarshalBinary) does not
// carry it: a map restored from that counts nothing.
func TestLateWritesSurviveSnapshot(t *testing.T) {
	for _, c := range []struct {
		name     string
		snapshot bool
		merge    bool
		want     uint64
	}{
		{"snapshot/unmarshal", true, false, 1},
		{"snapshot/merge", true, true, 1},
		{"peer state/unmarshal", false, false, 0},
		{"peer state/merge", false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _, put, _, mk := collectedLate(t)
			save := a.MarshalBinary
			if c.snapshot {
				save = a.SnapshotBinary
			}
			b, err := save()
			if err != nil {
				t.Fatal(err)
			}
			r := mk(vclock.Writer("a", 2))
			if c.merge {
				_, err = r.MergeBinary(b)
			} else {
				err = r.UnmarshalBinary(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Apply(put); err != nil {
				t.Fatal(err)
			}
			if v, ok := r.Get("k"); !ok || v != 2 {
				t.Fatalf("k reads %d %v after the late put", v, ok)
			}
			if got := r.LateWrites(); got != c.want {
				t.Fatalf("restored a took b's late put back in over the collected delete, LateWrites %d, want %d", got, c.want)
			}
		})
	}
}

// The base of a write of an absent key is the latest write collected,
// after a restart from a snapshot as before it: c, which has not
// collected the delete's marker yet, takes the restarted a's put of k as
// made after the delete, and reports nothing. Restored from the state
// sent to peers, a names no base, and c reports its delete lost (the
// false positive SetConflictHook owns to).
func TestSnapshotKeepsBaseOfAbsentKeys(t *testing.T) {
	for _, snapshot := range []bool{true, false} {
		a, c, _, _, mk := collectedLate(t)
		want := *a.collTS
		save := a.MarshalBinary
		if snapshot {
			save = a.SnapshotBinary
		}
		b, err := save()
		if err != nil {
			t.Fatal(err)
		}
		r := mk(vclock.Writer("a", 2))
		if err := r.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		var reports []vclock.Conflict
		c.SetConflictHook(func(x vclock.Conflict) { reports = append(reports, x) })
		op := r.Put("k", 3)
		if !op.ts.After(want) {
			t.Fatalf("snapshot %v: the put at %v is not after the collected delete %v", snapshot, op.ts, want)
		}
		if err := c.Apply(op); err != nil {
			t.Fatal(err)
		}
		if snapshot {
			if op.base != want || len(reports) != 0 {
				t.Fatalf("after a restart from the snapshot the put's base is %v (want %v), c reports %v", op.base, want, reports)
			}
		} else if !op.base.IsZero() || len(reports) != 1 || !reports[0].Lost.Deleted {
			t.Fatalf("after a restart from a peer's state the put's base is %v, c reports %v", op.base, reports)
		}
	}
}

// A snapshot's latest collected write is checked against the clock: one
// later than every entry, than the clock, and more than the clock's
// maximum offset ahead of its physical time is refused whole (the map,
// its clock and its count unchanged), by UnmarshalBinary and MergeBinary
// alike; within the offset it is taken, and the clock passes it. One
// that is not a timestamp is refused as malformed.
func TestSnapshotCollectedChecked(t *testing.T) {
	a, _, _, ft, mk := collectedLate(t)
	with := func(ts clock.Timestamp) []byte {
		t.Helper()
		m := a.Clone()
		m.collTS = &ts
		b, err := m.SnapshotBinary()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	farTS := clock.Timestamp{Wall: ft.now + int64(time.Hour)}
	far := with(farTS)
	r := mk(vclock.Writer("a", 2))
	r.Put("x", 9)
	before, last := r.Clone(), r.clk.Last()
	if _, err := r.MergeBinary(far); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("merged a snapshot collected an hour ahead: %v, want clock.ErrClockSkew", err)
	}
	if !r.Equal(before) || r.collTS != nil || r.clk.Last() != last {
		t.Fatalf("the refused snapshot changed the map: %s, collected %v", dump(r), r.collTS)
	}
	// UnmarshalBinary restores this replica's own saved state, trusted as
	// such even if the host's clock was stepped back since: it takes what
	// was collected, and the clock passes it, as it passes the entries.
	if err := r.UnmarshalBinary(far); err != nil {
		t.Fatalf("restoring a snapshot collected an hour ahead of the clock: %v", err)
	}
	if r.collTS == nil || *r.collTS != farTS || r.clk.Last().Before(farTS) {
		t.Fatalf("restored collected %v, clock at %v; want %v and a clock past it", r.collTS, r.clk.Last(), farTS)
	}
	near := clock.Timestamp{Wall: ft.now + int64(100*time.Millisecond), Logical: 2}
	r = mk(vclock.Writer("a", 2))
	if err := r.UnmarshalBinary(with(near)); err != nil {
		t.Fatalf("a snapshot collected 100ms ahead: %v", err)
	}
	if r.collTS == nil || *r.collTS != near {
		t.Fatalf("restored collected %v, want %v", r.collTS, near)
	}
	if op := r.Put("y", 1); !op.ts.After(near) || op.base != near {
		t.Fatalf("a put after the restore at %v, base %v; want after and based on %v", op.ts, op.base, near)
	}
	// Not a timestamp: a wall time of zero, a negative one, a logical
	// part out of range, cut short.
	good := with(near)
	var zero Map[string, int]
	for name, b := range map[string][]byte{
		"wall 0":        with(clock.Timestamp{}),
		"negative wall": with(clock.Timestamp{Wall: -5}),
		"cut short":     good[:len(good)-1],
		"logical 2^32":  append(append([]byte{}, good[:len(good)-1]...), 0xcf, 0, 0, 0, 1, 0, 0, 0, 0),
	} {
		if err := zero.UnmarshalBinary(b); !isDecodeError(err) {
			t.Errorf("%s: %v, want a decode error", name, err)
		}
		if _, err := zero.MergeBinary(b); !isDecodeError(err) || zero.Len() != 0 || zero.collTS != nil {
			t.Errorf("%s: merged: %v", name, err)
		}
	}
}

// The snapshot of a map that collected a write is in the layout of
// version 3 (golden), read back with what it collected; the state sent to
// peers stays in version 2 (collected_state.golden); a map that collected
// nothing has one encoding for both.
func TestSnapshotEncoding(t *testing.T) {
	us, _ := restoredBelowCollection(t)
	got, err := us.SnapshotBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 3 {
		t.Fatalf("format version %d, want 3", got[0])
	}
	want := golden(t, "collected_snapshot_v3.golden", got)
	var back Map[string, string]
	if err := back.UnmarshalBinary(want); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(us) || !back.gone.Equal(us.gone) || back.collTS == nil || *back.collTS != *us.collTS {
		t.Fatalf("decoded %s collected %v at %v, want %s collected %v at %v", dump(&back), back.gone, back.collTS, dump(us), us.gone, *us.collTS)
	}
	if state, _ := us.MarshalBinary(); state[0] != 2 {
		t.Fatalf("the state sent to peers is in version %d, want 2", state[0])
	}
	if d := us.DeltaSince(vclock.Clock{}); d.collTS != nil {
		t.Fatal("a delta carries what the map collected")
	}
	// The older goldens bring back nothing collected.
	for _, name := range []string{"state.golden", "collected_state.golden"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		var m Map[string, string]
		if err := m.UnmarshalBinary(b); err != nil || m.collTS != nil {
			t.Fatalf("%s: %v, collected %v", name, err, m.collTS)
		}
	}
	fresh := New[string, string]("x", clock.New())
	fresh.Put("k", "v")
	s1, err1 := fresh.MarshalBinary()
	s2, err2 := fresh.SnapshotBinary()
	if err1 != nil || err2 != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("a map that collected nothing: %x %v, snapshot %x %v", s1, err1, s2, err2)
	}
}
