package crdt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// carts is the ormap type the engine test replicates: a cart of item
// counts per user.
type carts = ormap.Map[string, *ormap.Map[string, *ormap.Counter]]

// cartsValue is what a replica of carts shows.
func cartsValue(m *carts) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for user, cart := range m.All() {
		items := map[string]int64{}
		for item, c := range cart.All() {
			items[item] = c.Value()
		}
		out[user] = items
	}
	return out
}

// TestEngineORMapUnderFaults replicates an ormap of nested counters
// through the engine over a network that loses, duplicates, reorders,
// delays and corrupts messages, with partitions and regions stopped and
// restarted from their snapshots, and checks that every region converges
// to the reference: one map that applied every acknowledged op once.
// Deletes of users and items race with increments throughout. Messages
// are of 1 KiB, 1,500 bytes or 1 MiB, and may pass a proxy that refuses
// those over 2 or 8 KiB (the regions learn its limit from its refusals
// alone); with the small ones or the proxy, the first region writes a
// load of 120 carts first, so that every whole state goes in parts.
func TestEngineORMapUnderFaults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var now atomic.Int64
		now.Store(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano())
		seed := rapid.Uint64().Draw(rt, "seed")
		net := memnet.New(seed)
		net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
		net.Duplicate = rapid.Float64Range(0, 0.3).Draw(rt, "dup")
		net.Reorder = rapid.Bool().Draw(rt, "reorder")
		net.MaxDelay = rapid.IntRange(0, 2).Draw(rt, "delay")
		net.Corrupt = rapid.Float64Range(0, 0.1).Draw(rt, "corrupt")
		// A proxy on the way that refuses messages over its limit, which
		// the regions learn only from its refusals (ErrTooLarge).
		net.MaxBytes = rapid.SampledFrom([]int{0, 2 << 10, 8 << 10}).Draw(rt, "proxy")
		n := rapid.IntRange(2, 3).Draw(rt, "replicas")
		// Small messages make a catch-up of the map go in parts (the
		// map's state passes 1 KiB within a few dozen writes).
		maxMsg := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes")
		// Or each region takes messages of its own size, drawn again at
		// each restart (a rolling change of the setting).
		mixed := rapid.Bool().Draw(rt, "mixedLimits")
		limitOf := func(id crdt.ReplicaID) int {
			if !mixed {
				return maxMsg
			}
			return rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes-"+string(id))
		}
		var starts uint64 // epochs drawn from the seed, so that a failure replays
		var ids []crdt.ReplicaID
		for i := range n {
			ids = append(ids, crdt.ReplicaID(fmt.Sprintf("region-%d", i)))
		}
		ref := ormap.New[string, *ormap.Map[string, *ormap.Counter]]("ref")
		type region struct {
			r    *crdt.Replica
			h    *crdt.Handle[*carts]
			snap []byte
			up   bool
		}
		regions := map[crdt.ReplicaID]*region{}
		start := func(id crdt.ReplicaID, snap []byte) {
			clk := clock.New(clock.WithSource(now.Load))
			starts++
			var key [32]byte
			binary.LittleEndian.PutUint64(key[:], seed)
			binary.LittleEndian.PutUint64(key[8:], starts)
			g := &region{snap: snap, up: true}
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, MaxLogOps: 8, AntiEntropyTicks: 30,
				MaxMessageBytes: limitOf(id), Entropy: rand.NewChaCha8(key),
				OnSaveNeeded: func() { // a vote on a retirement waits for a save
					if err := g.r.SaveSnapshot(func(b []byte) error { g.snap = b; return nil }); err != nil {
						rt.Fatal(err)
					}
				}})
			if err != nil {
				rt.Fatal(err)
			}
			g.r = r
			g.h, err = crdt.Register(r, "carts", ormap.New[string, *ormap.Map[string, *ormap.Counter]](id))
			if err != nil {
				rt.Fatal(err)
			}
			attachRestored(rt, net, r, snap, ids...)
			regions[id] = g
		}
		for _, id := range ids {
			start(id, nil)
		}
		round := func() {
			for _, id := range ids {
				if g := regions[id]; g.up {
					_ = g.r.Tick(context.Background())
				}
			}
			net.DeliverAll(context.Background())
			now.Add(int64(5 * time.Millisecond))
		}
		if maxMsg < 1<<20 || net.MaxBytes > 0 {
			// A load the first region writes before the run, so that
			// every whole state (a restarted region's catch-up, a heal)
			// is larger than a message, or than the proxy takes, and
			// goes in parts.
			g := regions[ids[0]]
			for i := range 120 {
				if err := g.h.Update(func(m *carts) (crdt.Op, error) {
					op := m.At(fmt.Sprintf("load-%03d", i)).At("item").Add(1)
					if err := ref.Apply(op); err != nil {
						rt.Fatalf("reference refused %v: %v", op, err)
					}
					return op, op.Err()
				}); err != nil {
					rt.Fatal(err)
				}
			}
			if err := g.r.SaveSnapshot(func(snap []byte) error { g.snap = snap; return nil }); err != nil {
				rt.Fatal(err)
			}
		}
		users := rapid.SampledFrom([]string{"ann", "bob"})
		items := rapid.SampledFrom([]string{"apple", "pear", "fig"})
		pick := rapid.SampledFrom(ids)
		for range rapid.IntRange(1, 60).Draw(rt, "steps") {
			id := pick.Draw(rt, "region")
			g := regions[id]
			switch rapid.IntRange(0, 7).Draw(rt, "action") {
			case 0, 1, 2:
				if !g.up {
					continue
				}
				u, it, what := users.Draw(rt, "user"), items.Draw(rt, "item"), rapid.IntRange(0, 4).Draw(rt, "what")
				delta := rapid.Int64Range(1, 3).Draw(rt, "delta")
				err := g.h.Update(func(m *carts) (crdt.Op, error) {
					var op ormap.Op
					switch what {
					case 0:
						op = m.Delete(u)
					case 1:
						op = m.At(u).Delete(it)
					default:
						op = m.At(u).At(it).Add(delta)
					}
					if op.Err() != nil {
						return op, op.Err()
					}
					if err := ref.Apply(op); err != nil {
						rt.Fatalf("reference refused %v: %v", op, err)
					}
					return op, nil
				})
				if err != nil {
					rt.Fatal(err)
				}
				if err := g.r.SaveSnapshot(func(snap []byte) error { g.snap = snap; return nil }); err != nil {
					rt.Fatal(err)
				}
			case 3, 4, 5:
				round()
			case 6:
				other := pick.Draw(rt, "other")
				if rapid.Bool().Draw(rt, "cut") {
					net.Partition(id, other)
				} else {
					net.Heal(id, other)
				}
			case 7:
				if g.up {
					net.Detach(id)
					g.up = false
				} else {
					start(id, g.snap)
				}
			}
		}
		for _, id := range ids {
			if !regions[id].up {
				start(id, regions[id].snap)
			}
		}
		net.HealAll()
		net.Loss, net.Duplicate, net.Corrupt = 0, 0, 0
		want := cartsValue(ref)
		read := func(id crdt.ReplicaID) (v map[string]map[string]int64) {
			regions[id].h.Read(func(m *carts) { v = cartsValue(m) })
			return v
		}
		// Converged: every region shows the reference's value and holds
		// the same content (equal fingerprints; equal values alone can
		// hide different increments that add up to the same sums).
		fingerprints := func() map[uint64]bool {
			fps := map[uint64]bool{}
			for _, id := range ids {
				regions[id].h.Read(func(m *carts) { fps[m.Fingerprint()] = true })
			}
			return fps
		}
		converged := false
		for range 300 {
			done := len(fingerprints()) == 1
			busy := false
			for _, id := range ids {
				if !cmp.Equal(read(id), want) {
					done = false
				}
				for _, p := range regions[id].r.Stats().Peers {
					if p.PendingOps != 0 || p.AwaitingCatchUp {
						busy = true
					}
				}
			}
			if !done && !busy && net.Pending() == 0 && len(fingerprints()) > 1 {
				rt.Logf("fingerprints %v", fingerprints())
				rt.Fatalf("regions differ while every peer shows nothing pending and no catch-up awaited")
			}
			if done && !busy {
				converged = true
				break
			}
			round()
		}
		if !converged {
			rt.Logf("fingerprints %v", fingerprints())
			for _, id := range ids {
				rt.Logf("%s: %s", id, cmp.Diff(want, read(id)))
			}
			rt.Fatalf("no convergence on the reference after 300 rounds (last receive error: %v)", net.LastError())
		}
		// Then every finished writer (a restart's) is retired, which
		// renames dots throughout the nested maps and nothing else.
		finished := func() (out []crdt.ReplicaID) {
			for _, id := range ids {
				regions[id].h.Read(func(m *carts) {
					for w := range m.Version().All() {
						if !w.IsRetired() && w != regions[w.Name()].r.Writer() {
							out = append(out, w)
						}
					}
				})
			}
			return out
		}
		for i := 0; len(finished()) > 0; i++ {
			if i == 3000 {
				rt.Fatalf("finished writers %v still named after %d rounds", finished(), i)
			}
			round()
		}
		if len(fingerprints()) != 1 {
			rt.Fatalf("after retirement, fingerprints %v", fingerprints())
		}
		// Restarts from snapshots leave regions behind, never holding
		// other data at the same version.
		for _, id := range ids {
			if v := read(id); !cmp.Equal(v, want) {
				rt.Fatalf("%s after retirement: %s", id, cmp.Diff(want, v))
			}
			st := regions[id].r.Stats()
			if st.RetireFailures != 0 || st.LedgerConflicts != 0 {
				rt.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
			}
			for _, p := range st.Peers {
				if p.Divergences != 0 {
					rt.Fatalf("%s counted %d divergences from %s", id, p.Divergences, p.Peer)
				}
			}
		}
	})
}

// TestEngineORMapConflictReports: two regions cut off from each other
// write one nested register; once healed, Config.OnConflict at each
// receives the ormap's report with the object's name, the key path and
// both values with their writers, once. A restart from a snapshot holding
// the siblings reports nothing again.
func TestEngineORMapConflictReports(t *testing.T) {
	type profiles = ormap.Map[string, *ormap.Map[string, *ormap.Register[string]]]
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(7)
	ids := []crdt.ReplicaID{"us", "eu"}
	got := map[crdt.ReplicaID][]crdt.Conflict{}
	handles := map[crdt.ReplicaID]*crdt.Handle[*profiles]{}
	replicas := map[crdt.ReplicaID]*crdt.Replica{}
	start := func(id crdt.ReplicaID, snap []byte) {
		r, err := crdt.NewReplica(crdt.Config{
			ID: id, Transport: net.Transport(id), Clock: clock.New(clock.WithSource(now.Load)),
			OnConflict: func(c crdt.Conflict) { got[id] = append(got[id], c) },
		})
		if err != nil {
			t.Fatal(err)
		}
		h, err := crdt.Register(r, "profiles", ormap.New[string, *ormap.Map[string, *ormap.Register[string]]](id))
		if err != nil {
			t.Fatal(err)
		}
		attachRestored(t, net, r, snap, ids...)
		replicas[id], handles[id] = r, h
	}
	for _, id := range ids {
		start(id, nil)
	}
	settle := func() {
		for range 200 {
			var fp []uint64
			var pending uint64
			for _, id := range ids {
				handles[id].Read(func(m *profiles) { fp = append(fp, m.Fingerprint()) })
				for _, ps := range replicas[id].Stats().Peers {
					pending += ps.PendingOps
				}
			}
			if fp[0] == fp[1] && pending == 0 {
				return
			}
			for _, id := range ids {
				_ = replicas[id].Tick(context.Background())
			}
			net.DeliverAll(context.Background())
			now.Add(int64(5 * time.Millisecond))
		}
		t.Fatalf("no convergence (last error %v)", net.LastError())
	}
	set := func(id crdt.ReplicaID, v string) {
		err := handles[id].Update(func(m *profiles) (crdt.Op, error) {
			op := m.At("ann").At("city").Set(v)
			return op, op.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	net.Partition("us", "eu")
	set("us", "paris")
	set("eu", "rome")
	net.Heal("us", "eu")
	settle()
	for _, id := range ids {
		cs := got[id]
		if len(cs) != 1 {
			t.Fatalf("%s heard %d reports, want 1: %v", id, len(cs), cs)
		}
		c := cs[0]
		if c.Object != "profiles" || !cmp.Equal(c.Key, []any{"ann", "city"}) || len(c.Siblings) != 2 {
			t.Fatalf("%s heard %+v", id, c)
		}
		values := map[any]crdt.ReplicaID{}
		for _, w := range c.Siblings {
			values[w.Value] = w.Writer.Name()
		}
		if !cmp.Equal(values, map[any]crdt.ReplicaID{"paris": "us", "rome": "eu"}) {
			t.Errorf("%s: siblings %v", id, values)
		}
	}

	// eu restarts from a snapshot holding the siblings: no news.
	var snap []byte
	if err := replicas["eu"].SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	net.Detach("eu")
	delete(got, "eu")
	start("eu", snap)
	settle()
	if len(got["eu"]) != 0 {
		t.Errorf("a restart reported again: %v", got["eu"])
	}
}

// TestEngineORMapExpiry: through the engine, with the replica's clock
// given to the map, a key one region expires disappears at both regions
// as soon as their clocks reach its expiry, without a message; the
// engine's collection then deletes its writes everywhere (the stores
// empty out), while a key without expiry stays.
func TestEngineORMapExpiry(t *testing.T) {
	type sessions = ormap.Map[string, *ormap.Counter]
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(3)
	ids := []crdt.ReplicaID{"us", "eu"}
	handles := map[crdt.ReplicaID]*crdt.Handle[*sessions]{}
	replicas := map[crdt.ReplicaID]*crdt.Replica{}
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clock.New(clock.WithSource(now.Load)), AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		m := ormap.New[string, *ormap.Counter](id)
		m.SetClock(r.Clock())
		if handles[id], err = crdt.Register(r, "sessions", m); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				_ = r.AddPeer(p)
			}
		}
		replicas[id] = r
		net.Attach(id, r)
	}
	round := func() {
		for _, id := range ids {
			_ = replicas[id].Tick(context.Background())
		}
		net.DeliverAll(context.Background())
		now.Add(int64(5 * time.Millisecond))
	}
	update := func(f func(m *sessions) ormap.Op) {
		err := handles["us"].Update(func(m *sessions) (crdt.Op, error) {
			op := f(m)
			return op, op.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	update(func(m *sessions) ormap.Op { return m.At("ann").Add(1) })
	update(func(m *sessions) ormap.Op { return m.At("bob").Add(1) })
	update(func(m *sessions) ormap.Op { return m.Expire("ann", time.Second) })
	state := func(id crdt.ReplicaID) (has, bob bool, fp uint64) {
		handles[id].Read(func(m *sessions) { has, bob, fp = m.Has("ann"), m.Has("bob"), m.Fingerprint() })
		return has, bob, fp
	}
	for range 10 {
		round()
	}
	if has, _, _ := state("eu"); !has {
		t.Fatal("eu: ann missing before its expiry")
	}
	now.Add(int64(time.Second))
	for _, id := range ids {
		if has, bob, _ := state(id); has || !bob {
			t.Fatalf("%s: at the expiry, ann shows %v, bob %v", id, has, bob)
		}
	}
	// The collection: both stores end up holding bob's increment alone,
	// as the state before the expiry does once ann is deleted from it.
	want := ormap.New[string, *ormap.Counter]("x")
	handles["us"].Read(func(m *sessions) {
		b, err := m.MarshalBinary()
		if err == nil {
			err = want.UnmarshalBinary(b)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	if op := want.Delete("ann"); op.IsNoop() {
		t.Fatal("nothing to delete")
	}
	var fpUS, fpEU uint64
	for range 200 {
		round()
		_, _, fpUS = state("us")
		_, _, fpEU = state("eu")
		if fpUS == want.Fingerprint() && fpEU == fpUS {
			break
		}
	}
	if fpUS != want.Fingerprint() || fpEU != fpUS {
		t.Fatalf("the expired key was not collected: fingerprints us %x, eu %x, want %x", fpUS, fpEU, want.Fingerprint())
	}
	if _, bob, _ := state("eu"); !bob {
		t.Fatal("eu: bob collected")
	}
}
