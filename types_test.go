package crdt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// region is one replica holding the library's real data types.
type region struct {
	r     *crdt.Replica
	set   *crdt.Handle[*orset.Set[string]]
	kv    *crdt.Handle[*lwwmap.Map[string, string]]
	count *crdt.Handle[*counter.PN]
	snap  []byte
	saved [][]byte // every snapshot the region ever saved, oldest first
	up    bool
}

// value is what a region shows: the observable value of every object.
type value struct {
	Set   []string
	KV    map[string]string
	Count int64
}

// content is what a region holds beyond what it shows: every object's
// version and fingerprint. Two regions that saw the same updates hold the
// same content; equal values alone can hide different histories (two
// counters at one sum, a set that missed a remove of an element it never
// held).
type content struct {
	Versions     [3]string
	Fingerprints [3]uint64
}

func (g *region) content() content {
	var c content
	g.set.Read(func(s *orset.Set[string]) { c.Versions[0], c.Fingerprints[0] = s.Version().String(), s.Fingerprint() })
	g.kv.Read(func(m *lwwmap.Map[string, string]) {
		c.Versions[1], c.Fingerprints[1] = m.Version().String(), m.Fingerprint()
	})
	g.count.Read(func(p *counter.PN) { c.Versions[2], c.Fingerprints[2] = p.Version().String(), p.Fingerprint() })
	return c
}

// checkNoDivergence fails the test if any region counted a divergence
// (equal versions with different content), a refused retirement or a
// ledger conflict: each means that replicas named or held data
// differently, which no fault of the network can cause.
func checkNoDivergence(rt *rapid.T, regions map[crdt.ReplicaID]*region) {
	for id, g := range regions {
		st := g.r.Stats()
		if st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			rt.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
		}
		for _, p := range st.Peers {
			if p.Divergences != 0 {
				for id2, g2 := range regions {
					rt.Logf("%s: %+v %+v", id2, g2.value(), g2.content())
				}
				rt.Fatalf("%s counted %d divergences from %s", id, p.Divergences, p.Peer)
			}
		}
	}
}

// writers lists the writers that g's objects' versions name.
func (g *region) writers() []crdt.ReplicaID {
	var out []crdt.ReplicaID
	add := func(v vclock.Clock) {
		for w := range v.All() {
			out = append(out, w)
		}
	}
	g.set.Read(func(s *orset.Set[string]) { add(s.Version()) })
	g.kv.Read(func(m *lwwmap.Map[string, string]) { add(m.Version()) })
	g.count.Read(func(p *counter.PN) { add(p.Version()) })
	return out
}

// settleRetired runs rounds until no region's versions name a finished
// writer (one of a run that ended: a restart's), then checks that every
// region still shows want and holds the same content as the others, and
// that none counted a divergence or a refused retirement: renaming the
// writers of every object changes nothing but their names.
func settleRetired(rt *rapid.T, regions map[crdt.ReplicaID]*region, ids []crdt.ReplicaID, want value, round func()) {
	retired := func() bool {
		for _, id := range ids {
			for _, w := range regions[id].writers() {
				if !w.IsRetired() && w != regions[w.Name()].r.Writer() {
					return false
				}
			}
		}
		return true
	}
	for i := 0; !retired(); i++ {
		if i == 3000 {
			for _, id := range ids {
				rt.Logf("%s: writer %s, versions name %v; stats %+v", id, regions[id].r.Writer(), regions[id].writers(), regions[id].r.Stats())
			}
			rt.Fatalf("finished writers still named after %d rounds", i)
		}
		round()
	}
	first := regions[ids[0]].content()
	for _, id := range ids {
		if v := regions[id].value(); !cmp.Equal(v, want) {
			rt.Fatalf("%s after retirement: %s", id, cmp.Diff(want, v))
		}
		if c := regions[id].content(); c != first {
			rt.Fatalf("after retirement, %s holds %+v, %s %+v", id, c, ids[0], first)
		}
	}
	checkNoDivergence(rt, regions)
}

func (g *region) value() value {
	var v value
	g.set.Read(func(s *orset.Set[string]) { v.Set = slices.Sorted(s.All()) })
	g.kv.Read(func(m *lwwmap.Map[string, string]) { v.KV = maps.Collect(m.All()) })
	g.count.Read(func(c *counter.PN) { v.Count = c.Value() })
	return v
}

// reference applies every acknowledged op once, in the order they were
// made: the naive model of what the replicas must converge to. Ops of these
// types commute, so any order gives the same value; the model needs no
// network, no engine and no merging.
type reference struct {
	set   *orset.Set[string]
	kv    *lwwmap.Map[string, string]
	count *counter.PN
}

func (m *reference) value() value {
	return value{Set: slices.Sorted(m.set.All()), KV: maps.Collect(m.kv.All()), Count: m.count.Value()}
}

// TestEngineModel runs the real data types through the engine under every
// network fault and crash-restore, and checks that all replicas converge to
// the value of applying every acknowledged write once.
func TestEngineModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var now atomic.Int64
		now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
		seed := rapid.Uint64().Draw(rt, "seed")
		net := memnet.New(seed)
		net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
		net.Duplicate = rapid.Float64Range(0, 0.3).Draw(rt, "dup")
		net.Reorder = rapid.Bool().Draw(rt, "reorder")
		net.MaxDelay = rapid.IntRange(0, 2).Draw(rt, "delay")
		net.Corrupt = rapid.Float64Range(0, 0.1).Draw(rt, "corrupt")
		// Epochs drawn from the seed, so that a failure replays.
		var starts uint64
		// With accidents, a region may come back from an empty disk or an
		// older snapshot, losing writes no other region held: the regions
		// must then agree with each other, and the reference no longer
		// says exactly on what.
		accidents := rapid.Bool().Draw(rt, "accidents")
		hadAccident := false
		n := rapid.IntRange(2, 4).Draw(rt, "replicas")
		bcast := rapid.Bool().Draw(rt, "broadcast")
		batch := rapid.SampledFrom([]int{0, 1, 64}).Draw(rt, "maxBatchBytes")
		// Small messages, with long elements and values, make catch-ups
		// go in chunks and states in parts.
		maxMsg := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes")
		// Regions may take messages of different sizes, and one that
		// restarts may come back with another limit (a rolling change of
		// the setting): each draws its own at every start.
		mixed := rapid.Bool().Draw(rt, "mixedLimits")
		largest := maxMsg
		limitOf := func(id crdt.ReplicaID) int {
			if !mixed {
				return maxMsg
			}
			n := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes-"+string(id))
			largest = max(largest, n)
			return n
		}
		pad := strings.Repeat("-", rapid.SampledFrom([]int{0, 150}).Draw(rt, "padding"))
		var ids []crdt.ReplicaID
		for i := range n {
			ids = append(ids, crdt.ReplicaID(fmt.Sprintf("region-%d", i)))
		}
		refClock := clock.New(clock.WithSource(now.Load), clock.WithMaxOffset(0))
		ref := &reference{set: orset.New[string]("ref"), kv: lwwmap.New[string, string]("ref", refClock), count: counter.NewPN("ref")}
		regions := map[crdt.ReplicaID]*region{}

		start := func(id crdt.ReplicaID, snap []byte) {
			// Each region's wall clock is off by up to ±20ms.
			skew := int64(len(id)+int(id[len(id)-1])%5-2) * int64(10*time.Millisecond)
			clk := clock.New(clock.WithSource(func() int64 { return now.Load() + skew }))
			tr := net.Transport(id)
			if bcast {
				tr = net.BroadcastTransport(id)
			}
			starts++
			var key [32]byte
			binary.LittleEndian.PutUint64(key[:], seed)
			binary.LittleEndian.PutUint64(key[8:], starts)
			var saved [][]byte
			if old := regions[id]; old != nil {
				saved = old.saved
			}
			g := &region{snap: snap, saved: saved, up: true}
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: tr, Clock: clk, MaxLogOps: 8, MaxBatchBytes: batch, AntiEntropyTicks: 30, MaxMessageBytes: limitOf(id),
				Entropy: rand.NewChaCha8(key),
				OnSaveNeeded: func() { // a vote on a retirement waits for a save
					if err := g.r.SaveSnapshot(func(b []byte) error { g.snap, g.saved = b, append(g.saved, b); return nil }); err != nil {
						rt.Fatal(err)
					}
				}})
			if err != nil {
				rt.Fatal(err)
			}
			g.r = r
			g.set, _ = crdt.Register(r, "set", orset.New[string](id))
			g.kv, _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
			g.count, _ = crdt.Register(r, "count", counter.NewPN(id))
			attachRestored(rt, net, r, snap, ids...)
			regions[id] = g
		}
		for _, id := range ids {
			start(id, nil)
		}
		persist := func(g *region) {
			if err := g.r.SaveSnapshot(func(snap []byte) error { g.snap, g.saved = snap, append(g.saved, snap); return nil }); err != nil {
				rt.Fatal(err)
			}
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

		var sum int64 // every acknowledged delta, added up
		elem := rapid.SampledFrom([]string{"a" + pad, "b" + pad, "c" + pad, "d" + pad, "e" + pad, "f" + pad})
		pick := rapid.SampledFrom(ids)
		for range rapid.IntRange(1, 80).Draw(rt, "steps") {
			id := pick.Draw(rt, "region")
			g := regions[id]
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1:
				if !g.up {
					continue
				}
				e := elem.Draw(rt, "elem")
				remove := rapid.Bool().Draw(rt, "remove")
				_ = g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) {
					var op orset.Op[string]
					if remove {
						op = s.Remove(e)
					} else {
						op = s.Add(e)
					}
					if err := ref.set.Apply(op); err != nil {
						rt.Fatalf("reference refused %v: %v", op, err)
					}
					return op, nil
				})
				persist(g)
			case 2, 3:
				if !g.up {
					continue
				}
				k, v := elem.Draw(rt, "key"), elem.Draw(rt, "val")
				what := rapid.IntRange(0, 5).Draw(rt, "kvWrite")
				_ = g.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
					var op lwwmap.Op[string, string]
					_, present := m.Get(k)
					switch {
					case what == 0:
						op = m.Delete(k)
					case what == 4 && present:
						// Hours: no key expires in a run, but regions
						// collect expire and persist writes at their own
						// moments, which must count no divergence.
						op = m.Expire(k, time.Hour)
					case what == 5 && present:
						op = m.Persist(k)
					default:
						op = m.Put(k, v)
					}
					if err := ref.kv.Apply(op); err != nil {
						rt.Fatalf("reference refused %v: %v", op, err)
					}
					return op, nil
				})
				persist(g)
			case 4:
				if !g.up {
					continue
				}
				if rapid.Bool().Draw(rt, "tx") {
					// A transaction: count the element and put it, at once.
					e := elem.Draw(rt, "elem")
					err := g.r.Update(func(tx *crdt.Tx) error {
						err := g.count.UpdateIn(tx, func(c *counter.PN) (crdt.Op, error) {
							op, err := c.Add(1)
							if err == nil {
								err = ref.count.Apply(op)
								sum++
							}
							return op, err
						})
						if err != nil {
							return err
						}
						return g.kv.UpdateIn(tx, func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
							op := m.Put(e, "tx")
							if err := ref.kv.Apply(op); err != nil {
								rt.Fatalf("reference refused %v: %v", op, err)
							}
							return op, nil
						})
					})
					if err != nil {
						rt.Fatal(err)
					}
					persist(g)
					continue
				}
				d := rapid.Int64Range(-5, 5).Draw(rt, "delta")
				_ = g.count.Update(func(c *counter.PN) (crdt.Op, error) {
					op, err := c.Add(d)
					if err == nil {
						err = ref.count.Apply(op)
						sum += d
					}
					return op, err
				})
				persist(g)
			case 5, 6, 7:
				round()
			case 8:
				other := pick.Draw(rt, "other")
				if rapid.Bool().Draw(rt, "cut") {
					net.Partition(id, other)
				} else {
					net.Heal(id, other)
				}
			case 9:
				switch {
				case g.up:
					net.Detach(id)
					g.up = false
				case accidents && rapid.IntRange(0, 2).Draw(rt, "accident") == 0:
					// An empty disk, or an older backup.
					var from []byte
					if len(g.saved) > 0 && rapid.Bool().Draw(rt, "backup") {
						from = g.saved[rapid.IntRange(0, len(g.saved)-1).Draw(rt, "which")]
					}
					hadAccident = true
					start(id, from)
				default:
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
		want := ref.value()
		// The counter's model needs no CRDT at all: the sum of the deltas.
		if want.Count != sum {
			rt.Fatalf("the reference counter shows %d; the deltas add up to %d", want.Count, sum)
		}
		for i := range 300 {
			if hadAccident {
				want = regions[ids[0]].value()
			}
			done, differ, busy := true, false, false
			first := regions[ids[0]].content()
			for _, id := range ids {
				v := regions[id].value()
				if !cmp.Equal(v, want) {
					done = false
				}
				if !cmp.Equal(v, regions[ids[0]].value()) || regions[id].content() != first {
					differ = true
				}
				for _, p := range regions[id].r.Stats().Peers {
					if p.PendingOps != 0 || p.AwaitingCatchUp {
						busy = true
					}
				}
			}
			if differ && !busy && net.Pending() == 0 {
				for _, id := range ids {
					rt.Logf("%s: %+v %+v", id, regions[id].value(), regions[id].content())
				}
				rt.Fatalf("regions differ while every peer shows nothing pending and no catch-up awaited")
			}
			if done && !differ && !busy {
				checkNoDivergence(rt, regions)
				if got := net.Stats().Largest; got > largest {
					rt.Fatalf("a message of %d bytes was sent; MaxMessageBytes is at most %d", got, largest)
				}
				for _, id := range ids {
					if n := regions[id].r.Stats().Oversize; n > 0 {
						rt.Fatalf("%s made %d messages over MaxMessageBytes", id, n)
					}
				}
				settleRetired(rt, regions, ids, want, round)
				return
			}
			round()
			_ = i
		}
		for _, id := range ids {
			rt.Logf("%s: %s", id, cmp.Diff(want, regions[id].value()))
		}
		rt.Fatalf("no convergence on the reference after 300 rounds (last receive error: %v)", net.LastError())
	})
}
