package crdt_test

import (
	"context"
	"fmt"
	"math"
	"slices"
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

// TestAdversarialPeer runs three honest regions with a fourth peer, evil,
// that every one of them accepts as a peer and that sends them
// well-formed but arbitrary messages: ops carrying writes forged in the
// honest regions' names (with their real writers, or the bare names),
// acknowledgements of what was never sent, digests that cannot be read or
// name one object many times, absurd incarnations, and ops of its own. The
// honest regions must never fail a write of their own, must converge among
// themselves, and must hold every element they added that no one removed;
// besides those, only evil's own adds. When evil equivocates (two writes
// under one dot, one to each of two regions) the regions count the
// divergence and heal it; they must agree after, and count no more.
func TestAdversarialPeer(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := drawHostileNet(rt, time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
		net, now := h.net, h.now
		ids := []crdt.ReplicaID{"h0", "h1", "h2"}
		regions := map[crdt.ReplicaID]*region{}
		for _, id := range ids {
			cfg, clk := h.config(id)
			r, err := crdt.NewReplica(cfg)
			if err != nil {
				rt.Fatal(err)
			}
			g := &region{r: r, up: true}
			g.set, _ = crdt.Register(r, "set", orset.New[string](id))
			g.kv, _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
			g.count, _ = crdt.Register(r, "count", counter.NewPN(id))
			for _, p := range append(slices.Clone(ids), "evil") {
				if p != id {
					_ = r.AddPeer(p)
				}
			}
			regions[id] = g
			net.Attach(id, r)
		}
		evilClock := clock.New(clock.WithSource(now.Load))
		// evil's own objects, and shadows writing in others' names.
		own := orset.New[string]("evil")
		ownWriter := orset.New[string](vclock.Writer("evil", 7))
		shadow := func(name vclock.ReplicaID) (*orset.Set[string], *lwwmap.Map[string, string], *counter.PN) {
			return orset.New[string](name), lwwmap.New[string, string](name, evilClock), counter.NewPN(name)
		}
		var (
			added, removed = map[string]bool{}, map[string]bool{}
			evilAdds       = map[string]bool{}
			evilInc        = uint64(1)
			equivocated    bool
		)
		round := func() { h.round(ids, func(id crdt.ReplicaID) *crdt.Replica { return regions[id].r }) }
		send := func(to crdt.ReplicaID, f crdt.Forgery) {
			f.From, f.To = "evil", to
			if f.Incarnation == 0 {
				f.Incarnation = evilInc
			}
			msg, err := crdt.Forge(f)
			if err != nil {
				rt.Fatal(err)
			}
			_ = regions[to].r.Receive(context.Background(), "evil", msg)
		}
		elem := rapid.SampledFrom([]string{"a", "b", "c", "d", "e"})
		pick := rapid.SampledFrom(ids)
		for i := range rapid.IntRange(1, 60).Draw(rt, "steps") {
			id := pick.Draw(rt, "region")
			g := regions[id]
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0:
				e := elem.Draw(rt, "elem")
				if rapid.Bool().Draw(rt, "remove") {
					if err := g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(e), nil }); err != nil {
						rt.Fatalf("%s: remove: %v", id, err)
					}
					removed[e] = true
				} else {
					if err := g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
						rt.Fatalf("%s: add: %v", id, err)
					}
					added[e] = true
				}
				if err := g.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(e, string(id)), nil }); err != nil {
					rt.Fatalf("%s: put: %v", id, err)
				}
				if err := g.count.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(1) }); err != nil {
					rt.Fatalf("%s: count: %v", id, err)
				}
			case 1, 2:
				round()
			case 3:
				// Ops written in an honest region's name: its real writer
				// (learned from its traffic) or its bare name.
				victim := pick.Draw(rt, "victim")
				name := victim
				if rapid.Bool().Draw(rt, "realWriter") {
					name = regions[victim].r.Writer()
				}
				s, m, c := shadow(name)
				var ops []crdt.ForgedEntry
				for range rapid.IntRange(1, 4).Draw(rt, "forged") {
					e := fmt.Sprintf("forged-%d", i)
					b, _ := s.Add(e).MarshalBinary()
					ops = append(ops, crdt.ForgedEntry{Object: "set", Bytes: b})
					b, _ = m.Put(e, "forged").MarshalBinary()
					ops = append(ops, crdt.ForgedEntry{Object: "kv", Bytes: b})
					op, err := c.Add(math.MaxInt64)
					if err == nil {
						b, _ = op.MarshalBinary()
						ops = append(ops, crdt.ForgedEntry{Object: "count", Bytes: b})
					}
				}
				send(id, crdt.Forgery{FirstSeq: uint64(rapid.IntRange(1, 50).Draw(rt, "firstSeq")), Ops: ops})
			case 4:
				// Acknowledgements of ops and catch-ups never sent.
				send(id, crdt.Forgery{AckInc: regions[id].r.Incarnation(),
					AckSeq:     rapid.Uint64Range(0, math.MaxUint64).Draw(rt, "ackSeq"),
					CatchUpAck: rapid.Uint64Range(0, math.MaxUint64).Draw(rt, "catchUpAck")})
			case 5:
				// Digests: unreadable versions, one object named many times.
				junk := rapid.SliceOfN(rapid.Byte(), 0, 16).Draw(rt, "version")
				d := []crdt.ForgedEntry{{Object: "count", Bytes: junk}, {Object: "kv", Bytes: junk}, {Object: "set", Bytes: junk}}
				if rapid.Bool().Draw(rt, "repeat") {
					d = append(d, d...)
				}
				send(id, crdt.Forgery{HasDigest: true, Digest: d, WantDigest: true})
			case 6:
				// An absurd incarnation, up or down.
				evilInc = rapid.SampledFrom([]uint64{1, 2, math.MaxUint64, math.MaxUint64 - 1}).Draw(rt, "incarnation")
				send(id, crdt.Forgery{})
			case 8:
				// A remove of evil's own that drops dots an honest region
				// has not made yet: it would take that region's next adds
				// as removed.
				victim := regions[pick.Draw(rt, "victim")]
				future := orset.New[string](victim.r.Writer())
				var made uint64
				victim.set.Read(func(s *orset.Set[string]) { made = s.Version().Get(victim.r.Writer()) })
				ahead := uint64(rapid.IntRange(1, 4).Draw(rt, "ahead"))
				for k := range made + ahead {
					future.Add(fmt.Sprintf("future-%d", k))
				}
				thief := orset.New[string]("evil")
				thief.Merge(future)
				var ops []crdt.ForgedEntry
				for k := made; k < made+ahead; k++ {
					b, _ := thief.Remove(fmt.Sprintf("future-%d", k)).MarshalBinary()
					ops = append(ops, crdt.ForgedEntry{Object: "set", Bytes: b})
				}
				send(id, crdt.Forgery{FirstSeq: uint64(i + 1), Ops: ops})
			case 7:
				// evil's own add: legitimate, to one region; either under
				// its bare name, or under a writer of its own, which the
				// message names so that the op leaves it out. Forged ops
				// of an honest region's writer ride along: they travel
				// whole and are refused.
				e := fmt.Sprintf("evil-%d", i)
				evilAdds[e] = true
				if !rapid.Bool().Draw(rt, "evilWriter") {
					b, _ := own.Add(e).MarshalBinary()
					send(id, crdt.Forgery{FirstSeq: uint64(i + 1), Ops: []crdt.ForgedEntry{{Object: "set", Bytes: b}}})
					break
				}
				b, _ := ownWriter.Add(e).MarshalBinary()
				ops := []crdt.ForgedEntry{{Object: "set", Bytes: b}}
				victim := regions[pick.Draw(rt, "victim")].r.Writer()
				b, _ = orset.New[string](victim).Add(fmt.Sprintf("forged-%d", i)).MarshalBinary()
				ops = append(ops, crdt.ForgedEntry{Object: "set", Bytes: b})
				send(id, crdt.Forgery{FirstSeq: uint64(i + 1), Writer: vclock.Writer("evil", 7), Ops: ops})
			case 9:
				// evil equivocates, under a writer of its own: two adds
				// under one dot, two puts of one key under one dot and
				// timestamp, one of each to id and the other to another
				// region. The regions differ at one version: they count
				// it, and heal (see healAndAgreeAfterHealing).
				other := pick.Draw(rt, "other")
				if other == id {
					break
				}
				equivocated = true
				w := vclock.Writer("evil", uint64(100+i))
				fixed := now.Load()
				for j, to := range []crdt.ReplicaID{id, other} {
					e := fmt.Sprintf("twin-%d-%d", i, j)
					evilAdds[e] = true
					ba, _ := orset.New[string](w).Add(e).MarshalBinary()
					kv := lwwmap.New[string, string](w, clock.New(clock.WithSource(func() int64 { return fixed })))
					bp, _ := kv.Put("twin", e).MarshalBinary()
					send(to, crdt.Forgery{FirstSeq: uint64(i + 1), Ops: []crdt.ForgedEntry{{Object: "set", Bytes: ba}, {Object: "kv", Bytes: bp}}})
				}
			}
		}
		agree := healAndAgree
		if equivocated {
			agree = healAndAgreeAfterHealing
		}

		agree(rt, net, ids,
			func(a, b crdt.ReplicaID) bool {
				return cmp.Equal(regions[a].value(), regions[b].value()) && regions[a].content() == regions[b].content()
			},
			func(id crdt.ReplicaID) { rt.Logf("%s: %+v %+v", id, regions[id].value(), regions[id].content()) },
			func(id crdt.ReplicaID) *crdt.Replica { return regions[id].r },
			round)
		final := regions[ids[0]].value()
		elems, kv := final.Set, final.KV
		for _, e := range elems {
			if !added[e] && !evilAdds[e] {
				rt.Fatalf("the set holds %q, which no honest region added and evil did not add as itself", e)
			}
		}
		for e := range added {
			if !removed[e] && !slices.Contains(elems, e) {
				rt.Fatalf("%q, added and never removed by an honest region, is gone", e)
			}
		}
		for k, v := range kv {
			if v == "forged" {
				rt.Fatalf("key %q holds a value forged in an honest region's name", k)
			}
		}
	})
}

// healAndAgree stops the loss, runs rounds until the honest regions
// agree (same reports whether two regions show the same value and
// content), logging each region's (dump) and failing if they do not
// within 400 rounds; then it checks that no honest region counted a
// divergence from another honest region: nothing evil sends makes two
// honest regions hold different data at one version.
func healAndAgree(rt *rapid.T, net *memnet.Network, ids []crdt.ReplicaID, same func(a, b crdt.ReplicaID) bool, dump func(crdt.ReplicaID), replica func(crdt.ReplicaID) *crdt.Replica, round func()) {
	net.Loss = 0
	agreeWithin(rt, 400, ids, same, dump, round, "the honest regions did not converge")
	for _, id := range ids {
		for _, p := range replica(id).Stats().Peers {
			if p.Peer != "evil" && p.Divergences != 0 {
				rt.Fatalf("%s counted %d divergences from %s", id, p.Divergences, p.Peer)
			}
		}
	}
}

// agreeWithin runs up to n rounds until the regions agree (same, as for
// healAndAgree), and fails with msg, after logging each region's state
// (dump), if they do not.
func agreeWithin(rt *rapid.T, n int, ids []crdt.ReplicaID, same func(a, b crdt.ReplicaID) bool, dump func(crdt.ReplicaID), round func(), msg string) {
	agree := func() bool {
		for _, id := range ids[1:] {
			if !same(id, ids[0]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < n && !agree(); i++ {
		round()
	}
	if !agree() {
		for _, id := range ids {
			dump(id)
		}
		rt.Fatal(msg)
	}
}
