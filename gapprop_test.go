package crdt_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// gapRegion is one honest replica of TestGapComparedNoFalseAlarm.
type gapRegion struct {
	r   *crdt.Replica
	set *crdt.Handle[*orset.Set[string]]
	kv  *crdt.Handle[*lwwmap.Map[string, string]]
	reg *crdt.Handle[*registerMap]
}

// gapView is what a region holds: values, versions and fingerprints.
type gapView struct {
	Set      []string
	KV       map[string]string
	Reg      map[string][]string
	Versions [3]string
	FPs      [3]uint64
}

func (g *gapRegion) view() gapView {
	var v gapView
	g.set.Read(func(s *orset.Set[string]) {
		v.Set = slices.Sorted(s.All())
		v.Versions[0], v.FPs[0] = s.Version().String(), s.Fingerprint()
	})
	g.kv.Read(func(m *lwwmap.Map[string, string]) {
		v.KV = map[string]string{}
		for k, x := range m.All() {
			v.KV[k] = x
		}
		v.Versions[1], v.FPs[1] = m.Version().String(), m.Fingerprint()
	})
	g.reg.Read(func(m *registerMap) {
		v.Reg = registerValues(m)
		v.Versions[2], v.FPs[2] = m.Version().String(), m.Fingerprint()
	})
	return v
}

// TestGapComparedNoFalseAlarm: three honest regions replicate an OR-Set,
// an LWW-map and a map of registers over a lossy network that reorders,
// with small messages (catch-ups in parts) or not; a fourth writer, evil,
// writes to all three, and sends each op to some regions, or to none:
// an op no region ever gets leaves every region, for good, with evil's
// later writes past a gap. Regions then hold, now and then, one version
// with the same writes past it or different ones, and compare
// fingerprints across gaps whenever the writes past it are the same. Not
// one divergence may be counted between honest regions, and they must
// converge once the network heals (and go on comparing, gaps and all).
func TestGapComparedNoFalseAlarm(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		var now atomic.Int64
		now.Store(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).UnixNano())
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		net.Loss = rapid.Float64Range(0, 0.2).Draw(rt, "loss")
		net.Reorder = rapid.Bool().Draw(rt, "reorder")
		maxMsg := 0
		if rapid.Bool().Draw(rt, "small") {
			maxMsg = crdt.MinMessageBytes
		}
		ids := []crdt.ReplicaID{"h0", "h1", "h2"}
		regions := map[crdt.ReplicaID]*gapRegion{}
		for _, id := range ids {
			clk := clock.New(clock.WithSource(now.Load))
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 4, MaxMessageBytes: maxMsg})
			if err != nil {
				rt.Fatal(err)
			}
			g := &gapRegion{r: r}
			g.set, _ = crdt.Register(r, "set", orset.New[string](id))
			g.kv, _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
			g.reg, _ = crdt.Register(r, "reg", ormap.New[string, *ormap.Register[string]](id))
			for _, p := range append(slices.Clone(ids), "evil") {
				if p != id {
					_ = r.AddPeer(p)
				}
			}
			regions[id] = g
			net.Attach(id, r)
		}
		evilClock := clock.New(clock.WithSource(now.Load))
		w := vclock.Writer("evil", 9)
		evilSet := orset.New[string](w)
		evilKV := lwwmap.New[string, string](w, evilClock)
		evilReg := ormap.New[string, *ormap.Register[string]](w)
		evilSeq := uint64(1)
		round := func() {
			for _, id := range ids {
				_ = regions[id].r.Tick(context.Background())
			}
			net.DeliverAll(context.Background())
			now.Add(int64(5 * time.Millisecond))
		}
		check := func() {
			for _, id := range ids {
				for _, p := range regions[id].r.Stats().Peers {
					if p.Peer != "evil" && p.Divergences != 0 {
						for _, x := range ids {
							rt.Logf("%s: %+v", x, regions[x].view())
						}
						rt.Fatalf("%s counted %d divergences from %s", id, p.Divergences, p.Peer)
					}
				}
			}
		}
		keys := rapid.SampledFrom([]string{"a", "b", "c", "d"})
		pick := rapid.SampledFrom(ids)
		for i := range rapid.IntRange(1, 80).Draw(rt, "steps") {
			id := pick.Draw(rt, "region")
			g := regions[id]
			k := keys.Draw(rt, "key")
			v := fmt.Sprintf("%s-%d", id, i)
			switch rapid.IntRange(0, 10).Draw(rt, "action") {
			case 0:
				_ = g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(k), nil })
			case 1:
				_ = g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(k), nil })
			case 2:
				_ = g.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, v), nil })
			case 3:
				_ = g.reg.Update(func(m *registerMap) (crdt.Op, error) { op := m.At(k).Set(v); return op, op.Err() })
			case 4:
				_ = g.reg.Update(func(m *registerMap) (crdt.Op, error) { op := m.Delete(k); return op, op.Err() })
			case 10:
				_ = g.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Delete(k), nil })
			case 5, 6:
				round()
				check()
			case 7:
				// evil learns what a region holds, so that its removes
				// and deletes drop honest writes.
				g.set.Read(func(s *orset.Set[string]) { evilSet.Merge(s.Clone()) })
				g.reg.Read(func(m *registerMap) { evilReg.Merge(m.Clone()) })
				g.kv.Read(func(m *lwwmap.Map[string, string]) { evilKV.Merge(m.Clone()) })
			case 8, 9:
				// evil writes, and sends the op to some regions, or none.
				var object string
				var op interface{ MarshalBinary() ([]byte, error) }
				switch rapid.IntRange(0, 5).Draw(rt, "evilOp") {
				case 0:
					object, op = "set", evilSet.Add(k)
				case 1:
					object, op = "set", evilSet.Remove(k)
				case 2:
					object, op = "kv", evilKV.Put(k, "evil-"+v)
				case 5:
					object, op = "kv", evilKV.Delete(k)
				case 3:
					o := evilReg.At(k).Set("evil-" + v)
					if o.Err() != nil || o.IsNoop() {
						continue
					}
					object, op = "reg", o
				case 4:
					o := evilReg.Delete(k)
					if o.Err() != nil || o.IsNoop() {
						continue
					}
					object, op = "reg", o
				}
				b, err := op.MarshalBinary()
				if err != nil || len(b) == 0 {
					continue
				}
				for _, to := range ids {
					if !rapid.Bool().Draw(rt, "deliver") {
						continue
					}
					msg, err := crdt.Forge(crdt.Forgery{From: "evil", To: to, Incarnation: 1, FirstSeq: evilSeq,
						Ops: []crdt.ForgedEntry{{Object: object, Bytes: b}}})
					if err != nil {
						rt.Fatal(err)
					}
					_ = regions[to].r.Receive(context.Background(), "evil", msg)
				}
				evilSeq++
			}
		}
		healAndAgree(rt, net, ids,
			func(a, b crdt.ReplicaID) bool { return cmp.Equal(regions[a].view(), regions[b].view()) },
			func(id crdt.ReplicaID) { rt.Logf("%s: %+v", id, regions[id].view()) },
			func(id crdt.ReplicaID) *crdt.Replica { return regions[id].r },
			func() { round(); check() })
		// Converged, gaps and all: digests keep comparing.
		for range 20 {
			round()
		}
		check()
	})
}
