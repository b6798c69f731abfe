package crdt_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"pgregory.net/rapid"
)

// olderChecks is how many checks TestOlderTypesUnderAccidents makes by
// default.
const olderChecks = 200

// pnDigits is how many writes the PN counter of
// TestOlderTypesUnderAccidents takes: write k adds or takes 3^k, so that
// the counter's value, read in balanced ternary, says which writes it
// holds (and a write counted twice, or with the wrong sign, shows).
const pnDigits = 39

// TestOlderTypesUnderAccidents puts the older types through the engine
// under the operators' accidents of TestConvergenceUnderAccidents: a PN
// counter, a multi-value register, a last-writer-wins register, an OR-Set
// whose elements any replica holding them may remove, and an LWW-map whose
// keys are put once and then given times to live or deleted. Every write
// may be made by a second process running under the region's ID (from a
// copy of its disk or an older backup, on a host whose clock may be off),
// and the accidents are: restarts from an empty disk, an older backup or a
// damaged journal; clocks stepped a little, an hour back or a day ahead;
// kill -9 in the middle of a save; a region removed and added back; old
// messages delivered again; and a lossy, duplicating, reordering,
// partitioned network.
//
// Once the faults stop, every replica must hold the same state (replicas
// may not differ for long while every figure says nothing is pending), and
// that state must match what was written: the counter holds every
// acknowledged write once, and only writes made, each once; an
// acknowledged removal, delete or expire is never undone; an acknowledged
// put or add that nothing removed is there; the LWW register holds a value
// written, at least as recent as every acknowledged write; the MV register
// holds only values written, none beside a value whose write replaced it,
// and every acknowledged value but those that a value it holds replaced,
// directly or not. The same holds once finished runs' writers are retired,
// once the regions collected what expired or was deleted and a region is
// then restored from an older backup, and one more write leaves the MV
// register a single value. No divergence, equivocation, ledger conflict or
// failed retirement is counted.
func TestOlderTypesUnderAccidents(t *testing.T) {
	checksUnlessSet(t, olderChecks)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(rt, "replicas")
		antiEntropy := rapid.SampledFrom([]int{-1, 25}).Draw(rt, "antiEntropy")
		// Without anti-entropy, replication converges over a lossy
		// network all the same: lossyEnd keeps the network lossy once
		// the faults stop.
		lossyEnd := antiEntropy < 0 && rapid.Bool().Draw(rt, "lossyEnd")
		maxMsg := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes")
		h := newAccidents(rt, n, antiEntropy, maxMsg, func(c *cluster) {
			c.older = true
			c.orset = true
		})
		c, pick, second := h.c, h.pick, h.second

		// Every write has a name; st says whether it was acknowledged
		// (must), may have been lost (maybe) or is not saved yet
		// (unsaved, its name in unsaved). proc is the process that made
		// it.
		st := map[string]string{}
		writer := map[string]crdt.ReplicaID{}
		proc := map[string]*node{}
		unsaved := map[crdt.ReplicaID][]string{}
		pnSign := map[int]int64{}             // PN write k: +1 or -1
		pnName := map[int]string{}            // and its name
		pnIndex := map[string]int{}           // the other way round
		mvCovers := map[string][]string{}     // MV value: the values it replaced, transitively
		mvDirect := map[string][]string{}     // and those its replica held when it was written
		orAdd := map[string]bool{}            // OR-Set element (its add's name)
		orRem := map[string][]string{}        // and the names of its removals
		tPut := map[string]bool{}             // LWW-map key (its put's name, the value)
		tGone := map[string][]string{}        // and the names of its expires and deletes
		regTS := map[string]clock.Timestamp{} // LWW register value (its write's name): its timestamp
		// lose moves the acknowledged writes of region id that keep does
		// not keep, and were made by a process that only says, to maybe.
		lose := func(id crdt.ReplicaID, only func(*node) bool, keep func(string) bool) {
			for e, s := range st {
				if writer[e] == id && s == "must" && (only == nil || only(proc[e])) && (keep == nil || !keep(e)) {
					st[e] = "maybe"
				}
			}
		}
		ackUnsaved := func(id crdt.ReplicaID) {
			for _, e := range unsaved[id] {
				st[e] = "must"
			}
			unsaved[id] = nil
		}
		dropUnsaved := func(id crdt.ReplicaID) {
			for _, e := range unsaved[id] {
				st[e] = "maybe"
			}
			unsaved[id] = nil
		}
		pnValue := func(nd *node) int64 {
			var v int64
			nd.pn.Read(func(p *counter.PN) { v = p.Value() })
			return v
		}
		mvValues := func(nd *node) []string {
			var out []string
			nd.mv.Read(func(m *register.MV[string]) { out = slices.Sorted(slices.Values(m.Values())) })
			return out
		}
		coversOf := func(nd *node) []string {
			var covers []string
			for _, v := range mvValues(nd) {
				covers = append(covers, v)
				covers = append(covers, mvCovers[v]...)
			}
			slices.Sort(covers)
			return slices.Compact(covers)
		}
		orElems := func(nd *node) []string {
			var out []string
			nd.or.Read(func(s *orset.Set[string]) { out = slices.Sorted(s.All()) })
			return out
		}
		tKeys := func(nd *node) []string {
			var out []string
			nd.tm.Read(func(m *lwwmap.Map[string, string]) {
				for k, v := range m.All() {
					out = append(out, k+":"+v)
				}
			})
			slices.Sort(out)
			return out
		}
		// holds reports whether process nd holds write e's effect, when
		// that is easy to tell.
		holds := func(nd *node, e string) bool {
			if k, ok := pnIndex[e]; ok {
				return digit(pnValue(nd), k) == pnSign[k]
			}
			if orAdd[e] {
				return slices.Contains(orElems(nd), e)
			}
			return false
		}
		h.ackUnsaved, h.dropUnsaved = ackUnsaved, dropUnsaved
		h.hasUnsaved = func(id crdt.ReplicaID) bool { return len(unsaved[id]) > 0 }
		h.loseDisk = func(id crdt.ReplicaID) { lose(id, nil, nil) }
		h.lostWithStopped = func(id crdt.ReplicaID, gone, stays *node, firstGoes bool) {
			// What the stopped process alone held is gone with it: if
			// the second goes, what it wrote; if the first goes, what
			// every run but the second wrote (the second may have
			// started from an older backup).
			only := func(p *node) bool { return p == gone }
			if firstGoes {
				only = func(p *node) bool { return p != stays }
			}
			lose(id, only, func(e string) bool { return holds(stays, e) })
		}

		// write makes a write named e through the region's first process
		// or its second, and saves it at once or later (or never: a kill
		// -9 in the middle of its save).
		write := func(id crdt.ReplicaID, via *node, e string, f func(*node) error) {
			if err := f(via); err != nil {
				rt.Fatalf("write %s: %v", e, err)
			}
			writer[e], proc[e] = id, via
			if h.save(id, via) {
				st[e] = "must"
				return
			}
			st[e] = "unsaved"
			unsaved[id] = append(unsaved[id], e)
		}
		nextPN := 0

		steps := rapid.IntRange(40, 250).Draw(rt, "steps")
		for i := range steps {
			h.noteRemoved()
			switch rapid.IntRange(0, 16).Draw(rt, "action") {
			case 0, 1, 2:
				h.round()
			case 3:
				h.partition()
			case 4:
				h.heal()
			case 5:
				h.crashOrRestart()
			case 6:
				h.stepClock()
			case 7:
				h.secondStep()
			case 8:
				h.replay()
			case 9:
				h.wait()
			case 10:
				// kill -9 in the middle of a save, after a counter write.
				id := pick.Draw(rt, "killed")
				nd := c.nodes[id]
				if !nd.up || second[id] != nil || nextPN == pnDigits {
					continue
				}
				k := nextPN
				nextPN++
				e := fmt.Sprintf("p%03d", i)
				pnName[k], pnSign[k], pnIndex[e] = e, 1, k
				writer[e], proc[e] = id, nd
				if err := nd.pn.Update(func(p *counter.PN) (crdt.Op, error) { return p.Add(pow3(k)) }); err != nil {
					rt.Fatal(err)
				}
				h.killMidSave(id)
				st[e] = "maybe"
				dropUnsaved(id)
			case 11:
				h.removeOrAddBack()
			default:
				id := pick.Draw(rt, "writer")
				nd := c.nodes[id]
				if !nd.up {
					continue
				}
				via := nd
				if d := second[id]; d != nil && rapid.Bool().Draw(rt, "viaSecond") {
					via = d
				}
				e := fmt.Sprintf("%03d", i)
				switch rapid.IntRange(0, 5).Draw(rt, "type") {
				case 0: // the PN counter
					if nextPN == pnDigits {
						continue
					}
					k := nextPN
					nextPN++
					sign := int64(1)
					if rapid.Bool().Draw(rt, "decrement") {
						sign = -1
					}
					e = "p" + e
					pnName[k], pnSign[k], pnIndex[e] = e, sign, k
					write(id, via, e, func(nd *node) error {
						return nd.pn.Update(func(p *counter.PN) (crdt.Op, error) { return p.Add(sign * pow3(k)) })
					})
				case 1: // the MV register
					e = "v" + e
					mvCovers[e], mvDirect[e] = coversOf(via), mvValues(via)
					write(id, via, e, func(nd *node) error {
						return nd.mv.Update(func(m *register.MV[string]) (crdt.Op, error) {
							op := m.Set(e)
							return op, op.Err()
						})
					})
				case 2: // the OR-Set: an element added, or one held removed
					if held := orElems(via); len(held) > 0 && rapid.Bool().Draw(rt, "remove") {
						x := rapid.SampledFrom(held).Draw(rt, "removed")
						e = "r" + e
						orRem[x] = append(orRem[x], e)
						write(id, via, e, func(nd *node) error {
							return nd.or.Update(func(s *orset.Set[string]) (crdt.Op, error) {
								op := s.Remove(x)
								return op, op.Err()
							})
						})
						continue
					}
					e = "o" + e
					orAdd[e] = true
					write(id, via, e, func(nd *node) error {
						return nd.or.Update(func(s *orset.Set[string]) (crdt.Op, error) {
							op := s.Add(e)
							return op, op.Err()
						})
					})
				case 4: // the LWW register, stamped by the process's host clock
					e = "w" + e
					write(id, via, e, func(nd *node) error {
						return nd.reg.Update(func(l *register.LWW[string]) (crdt.Op, error) {
							op := l.Set(e)
							regTS[e] = op.Timestamp()
							return op, nil
						})
					})
				default: // the LWW-map: a key put, or one held expired or deleted
					if held := tKeys(via); len(held) > 0 && rapid.Bool().Draw(rt, "expireOrDelete") {
						k, _, _ := strings.Cut(rapid.SampledFrom(held).Draw(rt, "key"), ":")
						del := rapid.Bool().Draw(rt, "delete")
						ttl := rapid.SampledFrom([]time.Duration{time.Second, time.Minute, time.Hour}).Draw(rt, "ttl")
						e = "x" + e
						tGone[k] = append(tGone[k], e)
						write(id, via, e, func(nd *node) error {
							return nd.tm.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
								if del {
									return m.Delete(k), nil
								}
								return m.Expire(k, ttl), nil
							})
						})
						continue
					}
					e = "t" + e
					tPut[e] = true
					write(id, via, e, func(nd *node) error {
						return nd.tm.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(e, e), nil })
					})
				}
			}
		}

		// The faults stop.
		h.faultsStop()
		if lossyEnd {
			c.net.Loss = 0.3
		}
		// Past every expiry, and past what was stamped a day ahead.
		for range 50 {
			c.now.Add(int64(time.Hour))
			c.round()
		}

		state := func(nd *node) string {
			var reg string
			nd.reg.Read(func(l *register.LWW[string]) { reg, _ = l.Get() })
			return fmt.Sprintf("p=%d v=%v o=%v t=%v w=%s", pnValue(nd), mvValues(nd), orElems(nd), tKeys(nd), reg)
		}
		check := func(nd *node) {
			v := pnValue(nd)
			for k := range pnDigits + 1 {
				d := digit(v, k)
				switch {
				case d == 0 && k < nextPN && st[pnName[k]] == "must":
					rt.Fatalf("the PN counter (%d) lacks acknowledged write %d (%s, %+d·3^%d)", v, k, pnName[k], pnSign[k], k)
				case d != 0 && (k >= nextPN || d != pnSign[k]):
					rt.Fatalf("the PN counter (%d) holds %+d·3^%d, which no write made", v, d, k)
				}
			}
			vals := mvValues(nd)
			for _, x := range vals {
				if _, ok := mvCovers[x]; !ok {
					rt.Fatalf("the MV register holds %q, which no replica wrote", x)
				}
				for _, y := range vals {
					if slices.Contains(mvDirect[y], x) {
						rt.Fatalf("the MV register holds %q beside %q, which replaced it", x, y)
					}
				}
			}
			for x := range mvCovers {
				if st[x] != "must" || slices.Contains(vals, x) {
					continue
				}
				covered := false
				for _, y := range vals {
					covered = covered || slices.Contains(mvCovers[y], x)
				}
				if !covered {
					rt.Fatalf("the MV register %v lost the acknowledged write %q, which no value it holds replaced", vals, x)
				}
			}
			var reg string
			var held bool
			nd.reg.Read(func(l *register.LWW[string]) { reg, held = l.Get() })
			if ts, ok := regTS[reg]; held && !ok {
				rt.Fatalf("the LWW register holds %q, which no replica wrote", reg)
			} else {
				for w, wts := range regTS {
					if st[w] == "must" && (!held || wts.Compare(ts) > 0) {
						rt.Fatalf("the LWW register holds %q (%v, held %v), older than the acknowledged write %s (%v)", reg, ts, held, w, wts)
					}
				}
			}
			elems := orElems(nd)
			for _, x := range elems {
				if !orAdd[x] {
					rt.Fatalf("the OR-Set holds %q, which no replica added", x)
				}
				for _, r := range orRem[x] {
					if st[r] == "must" {
						rt.Fatalf("the OR-Set holds %q, whose acknowledged removal %s was undone", x, r)
					}
				}
			}
			for x := range orAdd {
				if st[x] == "must" && len(orRem[x]) == 0 && !slices.Contains(elems, x) {
					rt.Fatalf("the OR-Set lacks %q, added and acknowledged, never removed", x)
				}
			}
			var keys map[string]string
			nd.tm.Read(func(m *lwwmap.Map[string, string]) { keys = maps.Collect(m.All()) })
			for k, x := range keys {
				if !tPut[k] || x != k {
					rt.Fatalf("the LWW-map holds %s=%s, which no replica put", k, x)
				}
				for _, g := range tGone[k] {
					if st[g] == "must" {
						rt.Fatalf("the LWW-map holds %s, whose acknowledged expire or delete %s was undone", k, g)
					}
				}
			}
			for k := range tPut {
				if _, ok := keys[k]; !ok && st[k] == "must" && len(tGone[k]) == 0 {
					rt.Fatalf("the LWW-map lacks %s, put and acknowledged, never expired or deleted", k)
				}
			}
		}
		agree := func(what string) {
			quiet := 0
			for i := 0; ; i++ {
				first := state(c.nodes[c.ids[0]])
				differ, busy := false, false
				for _, id := range c.ids {
					if state(c.nodes[id]) != first {
						differ = true
					}
					for _, p := range c.nodes[id].r.Stats().Peers {
						if p.PendingOps != 0 || p.AwaitingCatchUp {
							busy = true
						}
					}
				}
				if !differ && !busy {
					check(c.nodes[c.ids[0]])
					return
				}
				// A replica may owe a peer a digest for a round or so,
				// while nothing is pending: an op that names a retired
				// writer is left to the peer's state, which that digest
				// brings (see Replica.Receive). Longer, the replicas
				// differ silently.
				if differ && !busy && c.net.Pending() == 0 {
					quiet++
				} else {
					quiet = 0
				}
				if quiet > 30 || i == 600 {
					for _, id := range c.ids {
						rt.Logf("%s: %s %+v", id, state(c.nodes[id]), c.nodes[id].r.Stats())
					}
					rt.Fatalf("%s: the replicas differ (busy %v after %d rounds)", what, busy, i)
				}
				c.round()
			}
		}
		agree("after the faults")
		// Finished runs' writers are retired; the state must not change.
		before := state(c.nodes[c.ids[0]])
		for range 300 {
			c.round()
		}
		agree("after retirements")
		if after := state(c.nodes[c.ids[0]]); after != before {
			rt.Fatalf("the state changed with retirements: %s, then %s", before, after)
		}
		// A write to the LWW-map at every region lets the regions collect
		// what expired or was deleted; then a region is restored from an
		// older backup, which may hold keys, elements and values that the
		// others collected since.
		for _, id := range c.ids {
			k := "t-late-" + string(id)
			if err := c.nodes[id].tm.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(k, k), nil }); err != nil {
				rt.Fatal(err)
			}
			c.persist(id)
			tPut[k], st[k], writer[k], proc[k] = true, "must", id, c.nodes[id]
		}
		agree("after late writes")
		for range 200 {
			c.round()
		}
		agree("after collection")
		x := pick.Draw(rt, "restored")
		if nd := c.nodes[x]; len(nd.saved) > 0 {
			from := nd.saved[rapid.IntRange(0, len(nd.saved)-1).Draw(rt, "backupAtEnd")]
			c.crash(x)
			nd.snap, nd.journal = from.snap, from.journal
			lose(x, nil, nil)
			c.restart(x)
			agree("after a restore from an older backup")
		}
		// One more write leaves the register a single value everywhere.
		final := "v-final"
		mvCovers[final], mvDirect[final] = coversOf(c.nodes[c.ids[0]]), mvValues(c.nodes[c.ids[0]])
		if err := c.nodes[c.ids[0]].mv.Update(func(m *register.MV[string]) (crdt.Op, error) {
			op := m.Set(final)
			return op, op.Err()
		}); err != nil {
			rt.Fatal(err)
		}
		c.persist(c.ids[0])
		agree("after a last write")
		if vals := mvValues(c.nodes[c.ids[0]]); !slices.Equal(vals, []string{final}) {
			rt.Fatalf("the MV register holds %v after a write that saw every value", vals)
		}
		for _, id := range c.ids {
			// RetiredPastFinal may count a second process's writes past
			// its writer's retirement: the PN and the registers keep them
			// under the writer's own name (see Stats), as the checks above
			// see.
			if st := c.nodes[id].r.Stats(); st.Equivocations != 0 || st.LedgerConflicts != 0 || st.RetireFailures != 0 {
				rt.Fatalf("%s: %d equivocations, %d ledger conflicts, %d retire failures", id, st.Equivocations, st.LedgerConflicts, st.RetireFailures)
			}
		}
		for obj, k := range h.diverged {
			rt.Fatalf("%d divergences counted of %q", k, obj)
		}
		if d := divergences(c); d != 0 {
			rt.Fatalf("%d divergences counted", d)
		}
	})
}

// pow3 returns 3^k.
func pow3(k int) int64 {
	p := int64(1)
	for range k {
		p *= 3
	}
	return p
}

// digit returns digit k (-1, 0 or 1) of v in balanced ternary.
func digit(v int64, k int) int64 {
	for range k {
		r := v % 3
		v /= 3
		switch r {
		case 2:
			v++
		case -2:
			v--
		}
	}
	switch v % 3 {
	case 1, -2:
		return 1
	case 2, -1:
		return -1
	}
	return 0
}
