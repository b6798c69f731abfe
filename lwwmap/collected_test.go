package lwwmap

import (
	"errors"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// restoredBelowCollection plays the accident: us puts k, eu takes it in
// (eu's backup is taken then), eu deletes k, us takes the delete in, and
// us collects the marker on the strength of eu's version. Then eu comes
// back from its backup, holding k. It returns us and the restored eu.
func restoredBelowCollection(t *testing.T) (us, eu *Map[string, string]) {
	t.Helper()
	ft := &fakeTime{now: start}
	us = New[string, string]("us", clock.New(clock.WithSource(ft.source(0))))
	eu = New[string, string]("eu", clock.New(clock.WithSource(ft.source(0))))
	eu.Merge(us.DeltaSince(eu.Version()))
	us.Put("k", "v")
	ft.now += 1000
	eu.Merge(us.DeltaSince(eu.Version()))
	backup, err := eu.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ft.now += 1000
	eu.Delete("k")
	us.Merge(eu.DeltaSince(us.Version()))
	if n := us.CollectVersions([]vclock.Clock{eu.Version()}); n != 1 {
		t.Fatalf("collected %d markers, want 1", n)
	}
	old := New[string, string]("eu", clock.New(clock.WithSource(ft.source(0))))
	if err := old.UnmarshalBinary(backup); err != nil {
		t.Fatal(err)
	}
	if !has(old, "k") {
		t.Fatal("the backup does not hold k")
	}
	return us, old
}

// TestDeltaBelowCollectedIsWhole: a replica restored from a backup older
// than the version it reported when a delete marker was collected is sent
// the whole state, whose context makes it drop the deleted key. A delta
// would carry neither the marker nor anything else about k, and both maps
// would sit at one version, one holding k, for good. It holds after the
// collecting map restarts from its own saved state, which no engine memory
// survives.
func TestDeltaBelowCollectedIsWhole(t *testing.T) {
	for _, restart := range []bool{false, true} {
		us, eu := restoredBelowCollection(t)
		if restart {
			b, err := us.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			us = New[string, string]("us", us.clk)
			if err := us.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
		}
		b, err := us.DeltaSinceBinary(mustVersion(t, eu))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := eu.MergeBinary(b); err != nil {
			t.Fatal(err)
		}
		if has(eu, "k") || !eu.Version().Equal(us.Version()) {
			t.Fatalf("restart %v: after the catch-up eu holds %v at %v, us %v at %v", restart, contents(eu), eu.Version(), contents(us), us.Version())
		}
		// The delta the map would have sent leaves k there: the test
		// fails without the rule.
		stale, _ := restoredBelowCollection(t)
		_, eu2 := restoredBelowCollection(t)
		eu2.Merge(stale.deltaSince(eu2.Version()))
		if !has(eu2, "k") {
			t.Fatal("the scenario does not need the whole state")
		}
	}
}

// TestCollectedTravelsWithStates: a map that takes in a state of one that
// collected writes sends the whole state to a replica below them too, so
// that a restored replica is not led astray by whichever peer it hears
// from first. States cut into parts carry the list as well.
func TestCollectedTravelsWithStates(t *testing.T) {
	for _, parts := range []bool{false, true} {
		us, eu := restoredBelowCollection(t)
		ap := New[string, string]("ap", us.clk)
		if !parts {
			b, err := us.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ap.MergeBinary(b); err != nil {
				t.Fatal(err)
			}
		} else {
			ps, _, err := us.ChunksBinary(nil, 80)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) == 0 || ps[len(ps)-1][0] != partGone {
				t.Fatalf("parts end with kind %v, want a part of collected writes", ps[len(ps)-1][0])
			}
			for _, p := range ps {
				if _, err := ap.MergeChunkBinary(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		if !ap.gone.Equal(us.gone) {
			t.Fatalf("parts %v: ap holds %v collected, us %v", parts, ap.gone, us.gone)
		}
		eu.Merge(ap.DeltaSince(eu.Version()))
		if has(eu, "k") {
			t.Fatalf("parts %v: eu holds k after a catch-up from ap", parts)
		}
	}
}

// TestGonePartRefused: a part of collected writes naming writes the map
// has not seen, or carrying more than them, is refused and changes
// nothing.
func TestGonePartRefused(t *testing.T) {
	us, _ := restoredBelowCollection(t)
	ps, _, err := us.ChunksBinary(nil, 80)
	if err != nil {
		t.Fatal(err)
	}
	last := ps[len(ps)-1]
	fresh := New[string, string]("ap", us.clk)
	if _, err := fresh.MergeChunkBinary(last); !isDecodeError(err) || !fresh.gone.IsZero() {
		t.Fatalf("a part of collected writes before the rest: %v, collected %v", err, fresh.gone)
	}
	// A part of removed dots that claims collected writes is not one.
	p := &Map[string, string]{}
	p.ctx.Add(vclock.Dot{Replica: "eu", Seq: 1})
	p.ctx.Add(vclock.Dot{Replica: "us", Seq: 1})
	p.gone.Set("eu", 1)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := us.Clone().MergeChunkBinary(append([]byte{partGone}, b...)); !isDecodeError(err) {
		t.Fatalf("a part of collected writes with another dot: %v", err)
	}
}

// TestCollectedEncoding: a state with collected writes is written in the
// layout of format version 2 and read back; one without keeps version 1's
// bytes (TestGoldenFiles). Bad lists are refused.
func TestCollectedEncoding(t *testing.T) {
	us, _ := restoredBelowCollection(t)
	got, err := us.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != 2 {
		t.Fatalf("format version %d, want 2", got[0])
	}
	want := golden(t, "collected_state.golden", got)
	var back Map[string, string]
	if err := back.UnmarshalBinary(want); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(us) || !back.gone.Equal(us.gone) || back.gone.Get("eu") != 1 {
		t.Fatalf("decoded %s collected %v, want %s collected %v", dump(&back), back.gone, dump(us), us.gone)
	}

	bad := func(name string, gone vclock.Clock) {
		t.Helper()
		m := us.Clone()
		m.gone = gone
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !gone.IsZero() && b[0] != 2 {
			t.Fatalf("%s: version %d", name, b[0])
		}
		var out Map[string, string]
		err = out.UnmarshalBinary(b)
		var de *codec.DecodeError
		if !errors.As(err, &de) || out.Len() != 0 {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var outside vclock.Clock
	outside.Set("eu", 7)
	bad("collected write outside the context", outside)
	// Version 2 with an empty list (an empty map: empty context, base 0,
	// no groups, then the list).
	w := codec.NewWriter(codec.KindMap, 0)
	w.SetVersion(2)
	var empty vclock.Context
	empty.Encode(w)
	w.Int(0)
	w.Array(0)
	vclock.Clock{}.Encode(w)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var out Map[string, string]
	if err := out.UnmarshalBinary(b); !isDecodeError(err) {
		t.Fatalf("version 2 with an empty list: %v", err)
	}
	// The same in version 1, without the list, is the empty map.
	w = codec.NewWriter(codec.KindMap, 0)
	empty.Encode(w)
	w.Int(0)
	w.Array(0)
	if b, err = w.Bytes(); err != nil {
		t.Fatal(err)
	}
	if err := out.UnmarshalBinary(b); err != nil {
		t.Fatalf("the empty map: %v", err)
	}
}

// TestRetireRenamesCollected: retiring a writer renames its newest
// collected write as the context renames its dots, so that a version
// after the renaming still tells a replica below the collection.
func TestRetireRenamesCollected(t *testing.T) {
	m := &Map[string, string]{}
	from := vclock.ReplicaID("eu!1")
	m.ctx.AddRange(from, 1, 10)
	m.gone.Set(from, 4)
	r := vclock.Retirement{From: from, To: vclock.Retired("eu"), Base: 0, Final: 10}
	if err := m.Retire(r); err != nil {
		t.Fatal(err)
	}
	if m.gone.Get(from) != 0 || m.gone.Get(r.To) != 4 {
		t.Fatalf("collected after Retire: %v", m.gone)
	}
	// A newest collected write above Final keeps its name; those below
	// are renamed up to Final.
	m = &Map[string, string]{}
	m.ctx.AddRange(from, 1, 10)
	m.gone.Set(from, 8)
	r.Final = 6
	if err := m.Retire(r); err != nil {
		t.Fatal(err)
	}
	if m.gone.Get(from) != 8 || m.gone.Get(r.To) != 6 {
		t.Fatalf("collected after Retire below it: %v", m.gone)
	}
}

func mustVersion(t *testing.T, m *Map[string, string]) []byte {
	t.Helper()
	b, err := m.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func has(m *Map[string, string], k string) bool {
	_, ok := m.Get(k)
	return ok
}

// TestCollectedInAGapNotTaken: a state whose list of collected writes
// names a write past a gap of its writer's (a forged state, or a bug) does
// not make the map send whole states to replicas that cannot fill the
// gap: the map takes each collected write only as far as it has seen every
// write of its writer.
func TestCollectedInAGapNotTaken(t *testing.T) {
	for _, gap := range []bool{true, false} {
		o := &Map[string, string]{}
		if gap {
			o.ctx.Add(vclock.Dot{Replica: "x", Seq: 5})
		} else {
			o.ctx.AddRange("x", 1, 5)
		}
		o.gone.Set("x", 5)
		b, err := o.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		m := New[string, string]("m", clock.New())
		if _, err := m.MergeBinary(b); err != nil {
			t.Fatal(err)
		}
		want := uint64(5)
		if gap {
			want = 0
		}
		if got := m.gone.Get("x"); got != want {
			t.Fatalf("gap %v: took x:%d as collected, want %d", gap, got, want)
		}
	}
}
