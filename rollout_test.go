package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
)

// olderMap is an LWW-map as a release that reads format versions 1 and 2
// takes in ops: it refuses an op of version 3 whole, with
// codec.ErrVersion, as that release's decoder does (it reads a short
// header's first byte, 0x40 to 0x7f, as a format version from 64 to 127).
// Everything else it does as the map does: its states and deltas are of
// versions 1 and 2, which both releases read and write.
type olderMap struct {
	*lwwmap.Map[string, string]
}

func (m olderMap) older(op []byte) error {
	if len(op) > 0 && op[0] >= 0x40 && op[0] <= 0x7f {
		return fmt.Errorf("%w: format version %d, this reader knows 1 to 2", codec.ErrVersion, op[0])
	}
	return nil
}

func (m olderMap) ApplyBinary(op []byte) (bool, error) {
	if err := m.older(op); err != nil {
		return false, err
	}
	return m.Map.ApplyBinary(op)
}

func (m olderMap) ApplyBinaryFrom(op []byte, from crdt.ReplicaID) (bool, error) {
	if err := m.older(op); err != nil {
		return false, err
	}
	return m.Map.ApplyBinaryFrom(op, from)
}

// Accident: a rolling upgrade. Region "new" runs a release that writes
// LWW-map ops in format version 3; region "old" still runs one that reads
// versions 1 and 2 only, and refuses those ops whole. The refusals are
// counted (Refused[ReasonVersion] at the old region), the new region's
// writes still reach the old one (catch-up by version digest sends
// states, which both releases read), and once the old region is upgraded
// (restarted from its snapshot on the new release) both hold the same
// map, with nothing refused any more.
func TestAccidentRollingUpgradeConverges(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).UnixNano()
	src := func() int64 { return now }
	net := memnet.New(1)
	type region struct {
		r    *crdt.Replica
		kv   func() map[string]string
		up   func(func(*lwwmap.Map[string, string]) crdt.Op)
		snap []byte // the last snapshot saved
	}
	start := func(id crdt.ReplicaID, peer crdt.ReplicaID, older bool, snap []byte) *region {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clock.New(clock.WithSource(src))})
		if err != nil {
			t.Fatal(err)
		}
		m := lwwmap.New[string, string](id, r.Clock())
		g := &region{r: r}
		if older {
			h, err := crdt.Register(r, "m", olderMap{m})
			if err != nil {
				t.Fatal(err)
			}
			g.kv = func() (out map[string]string) {
				h.Read(func(o olderMap) { out = maps.Collect(o.All()) })
				return out
			}
			g.up = func(f func(*lwwmap.Map[string, string]) crdt.Op) {
				if err := h.Update(func(o olderMap) (crdt.Op, error) { return f(o.Map), nil }); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			h, err := crdt.Register(r, "m", m)
			if err != nil {
				t.Fatal(err)
			}
			g.kv = func() (out map[string]string) {
				h.Read(func(o *lwwmap.Map[string, string]) { out = maps.Collect(o.All()) })
				return out
			}
			g.up = func(f func(*lwwmap.Map[string, string]) crdt.Op) {
				if err := h.Update(func(o *lwwmap.Map[string, string]) (crdt.Op, error) { return f(o), nil }); err != nil {
					t.Fatal(err)
				}
			}
		}
		attachRestored(t, net, r, snap, peer)
		// The host saves a snapshot after every write, and at once on
		// start: a replica that persists sends what it saved.
		save := func() {
			if err := r.SaveSnapshot(func(s []byte) error { g.snap = s; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		up := g.up
		g.up = func(f func(*lwwmap.Map[string, string]) crdt.Op) { up(f); save() }
		save()
		return g
	}
	nw := start("new", "old", false, nil)
	old := start("old", "new", true, nil)
	rounds := func(n int) {
		for range n {
			now += int64(10 * time.Millisecond)
			for _, g := range []*region{nw, old} {
				if err := g.r.Tick(ctx); err != nil {
					t.Fatal(err)
				}
			}
			net.DeliverAll(ctx)
		}
	}
	for i := range 20 {
		nw.up(func(m *lwwmap.Map[string, string]) crdt.Op { return m.Put(fmt.Sprintf("n%02d", i), "v") })
		old.up(func(m *lwwmap.Map[string, string]) crdt.Op { return m.Put(fmt.Sprintf("o%02d", i), "v") })
		if i%4 == 3 {
			nw.up(func(m *lwwmap.Map[string, string]) crdt.Op { return m.Delete(fmt.Sprintf("o%02d", i-1)) })
		}
		rounds(1)
	}
	rounds(200)
	refused := versionRefusals(old.r)
	t.Logf("older region: refused %d ops of version 3", refused)
	if refused == 0 {
		t.Fatal("the older region refused no op of version 3: the test does not exercise a mixed group")
	}
	if a, b := nw.kv(), old.kv(); !maps.Equal(a, b) {
		t.Fatalf("mixed releases, after 200 rounds: new holds %v, old holds %v", a, b)
	}
	if n := nw.r.Stats().Peers[0].PendingOps; n != 0 {
		t.Fatalf("mixed releases, after 200 rounds: %d ops still pending for the older region", n)
	}

	// The upgrade: the older region restarts from its last snapshot on the
	// new release.
	net.Detach("old")
	old = start("old", "new", false, old.snap)
	for i := range 10 {
		old.up(func(m *lwwmap.Map[string, string]) crdt.Op { return m.Put(fmt.Sprintf("u%02d", i), "v") })
		nw.up(func(m *lwwmap.Map[string, string]) crdt.Op { return m.Put(fmt.Sprintf("w%02d", i), "v") })
		rounds(1)
	}
	rounds(200)
	if a, b := nw.kv(), old.kv(); !maps.Equal(a, b) || len(a) != 20+20-5+20 {
		t.Fatalf("after the upgrade: new holds %d keys %v, old holds %d %v; want the same %d", len(a), a, len(b), b, 20+20-5+20)
	}
	if n := versionRefusals(old.r); n != 0 {
		t.Fatalf("the upgraded region refused %d ops of version 3", n)
	}
}

// versionRefusals counts what r refused from its peers as of a format
// version it does not read.
func versionRefusals(r *crdt.Replica) uint64 {
	n := r.Stats().Refused[crdt.ReasonVersion]
	for _, p := range r.Stats().Peers {
		n += p.Refused[crdt.ReasonVersion]
	}
	return n
}

// Accident: a region is rolled back to a release that reads format
// versions 1 and 2 only, after it wrote LWW-map ops of version 3. Its
// snapshot restores there (states are of versions 1 and 2, and the log of
// ops its peer has not acknowledged is kept as bytes), but a journal
// record holding a version-3 op is refused, with codec.ErrVersion, and
// changes nothing. The package documentation says to save a snapshot
// before rolling back: then nothing is lost, and its peer, on the newer
// release, still gets the writes (the log sends them as they were made).
func TestAccidentRollbackToAnOlderRelease(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC).UnixNano()
	src := func() int64 { return now }
	net := memnet.New(2)
	open := func(id, peer crdt.ReplicaID, older bool) (*crdt.Replica, func() map[string]string, func(k string)) {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clock.New(clock.WithSource(src))})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddPeer(peer); err != nil {
			t.Fatal(err)
		}
		m := lwwmap.New[string, string](id, r.Clock())
		if older {
			h, err := crdt.Register(r, "m", olderMap{m})
			if err != nil {
				t.Fatal(err)
			}
			return r, func() (out map[string]string) {
				h.Read(func(o olderMap) { out = maps.Collect(o.All()) })
				return out
			}, nil
		}
		h, err := crdt.Register(r, "m", m)
		if err != nil {
			t.Fatal(err)
		}
		put := func(k string) {
			now += int64(time.Millisecond)
			if err := h.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, "v"), nil }); err != nil {
				t.Fatal(err)
			}
		}
		return r, func() (out map[string]string) {
			h.Read(func(o *lwwmap.Map[string, string]) { out = maps.Collect(o.All()) })
			return out
		}, put
	}
	a, aKV, put := open("a", "b", false)
	var snap []byte
	saveSnapshot := func(r *crdt.Replica) {
		if err := r.SaveSnapshot(func(s []byte) error { snap = s; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	saveSnapshot(a)
	var journal [][]byte
	saveOps := func() {
		if err := a.SaveOps(func(rec []byte) error { journal = append(journal, rec); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	put("one")
	saveOps()
	put("two")
	saveOps()
	want := aKV()

	// Rolled back with its journal: the record is refused whole.
	old, oldKV, _ := open("a", "b", true)
	if err := old.Restore(snap); err != nil {
		t.Fatalf("the older release refuses the snapshot: %v", err)
	}
	if err := old.Replay(journal[0]); !errors.Is(err, codec.ErrVersion) {
		t.Fatalf("replay of a record holding a version-3 op: err %v, want codec.ErrVersion", err)
	}
	if got := oldKV(); len(got) != 0 {
		t.Fatalf("a refused record changed the map: %v", got)
	}

	// Rolled back after a snapshot, as documented: nothing is lost, and
	// the peer gets the writes.
	saveSnapshot(a)
	old, oldKV, _ = open("a", "b", true)
	if err := old.Restore(snap); err != nil {
		t.Fatalf("the older release refuses the snapshot: %v", err)
	}
	saveSnapshot(old)
	if got := oldKV(); !maps.Equal(got, want) {
		t.Fatalf("rolled back after a snapshot: %v, want %v", got, want)
	}
	b, bKV, _ := open("b", "a", false)
	net.Attach("a", old)
	net.Attach("b", b)
	for range 300 {
		now += int64(10 * time.Millisecond)
		for _, r := range []*crdt.Replica{old, b} {
			if err := r.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		net.DeliverAll(ctx)
	}
	if got := bKV(); !maps.Equal(got, want) {
		t.Fatalf("the peer of the rolled-back region holds %v, want %v", got, want)
	}
}
