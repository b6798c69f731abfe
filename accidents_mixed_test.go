package crdt_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"pgregory.net/rapid"
)

// accidentChecks is how many checks TestConvergenceUnderAccidents makes by
// default.
const accidentChecks = 1000

// checksUnlessSet makes rapid run n checks in the calling test, unless the
// command line or the environment sets the number.
func checksUnlessSet(t *testing.T, n int) {
	f := flag.Lookup("rapid.checks")
	if f == nil || os.Getenv("RAPID_CHECKS") != "" {
		return
	}
	set := false
	flag.Visit(func(g *flag.Flag) { set = set || g == f })
	if set {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// recording is a Transport that keeps a copy of every message it sends
// while *on, so that a test can deliver them again later.
type recording struct {
	crdt.Transport
	from crdt.ReplicaID
	log  *[]sent
	on   *bool
}

func (t recording) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	if *t.on {
		*t.log = append(*t.log, sent{t.from, to, slices.Clone(msg)})
	}
	return t.Transport.Send(ctx, to, msg)
}

// recordingBroadcaster is a recording whose transport broadcasts.
type recordingBroadcaster struct{ recording }

func (t recordingBroadcaster) Broadcast(ctx context.Context, to []crdt.ReplicaID, msg []byte) error {
	if *t.on {
		for _, p := range to {
			*t.log = append(*t.log, sent{t.from, p, slices.Clone(msg)})
		}
	}
	return t.Transport.(crdt.Broadcaster).Broadcast(ctx, to, msg)
}

// TestConvergenceUnderAccidents mixes, at random, the faults of
// TestConvergenceUnderFaults with the operators' accidents that each have a
// test of their own: host clocks stepped a little, an hour back or a day
// ahead and back; a second process started under a region's ID from its
// disk or an older backup, both taking writes until one is stopped for
// good; a kill -9 in the middle of a save; journals with a record missing,
// cut short, lost or appended twice; an older snapshot restored with the
// current journal; and messages of earlier runs delivered again later.
//
// Once the faults stop and the clocks are back in line, every replica must
// hold the same elements: every acknowledged write, but those an accident
// took from every disk (the docs say a lost disk, an older backup or a
// stopped process loses what no peer held), and nothing no replica wrote;
// no replica may differ while every figure says nothing is pending; no
// divergence is counted, since every run writes under a writer of its own.
//
// Each check is cheap and the accidents meet rarely: the test makes
// accidentChecks checks unless -rapid.checks (or RAPID_CHECKS) says how many.
func TestConvergenceUnderAccidents(t *testing.T) {
	checksUnlessSet(t, accidentChecks)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(rt, "replicas")
		antiEntropy := rapid.SampledFrom([]int{-1, 25}).Draw(rt, "antiEntropy")
		maxMsg := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes")
		var log []sent
		recordOn := true
		seed := rapid.Uint64().Draw(rt, "seed")
		entropy := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
		c := newClusterBroadcast(rt, seed, n, func(cfg *crdt.Config) {
			cfg.Entropy = entropy // epochs that a failing run draws again
			cfg.MaxLogOps = 16
			cfg.AntiEntropyTicks = antiEntropy
			cfg.MaxMessageBytes = maxMsg
			rec := recording{cfg.Transport, cfg.ID, &log, &recordOn}
			if _, ok := cfg.Transport.(crdt.Broadcaster); ok {
				cfg.Transport = recordingBroadcaster{rec}
			} else {
				cfg.Transport = rec
			}
		}, rapid.Bool().Draw(rt, "broadcast"))
		c.journal = rapid.Bool().Draw(rt, "journal")
		c.stopAtBadRecord = true
		// Runs that hold an OR-Set too take the place of the first ones,
		// before anything happened.
		c.orset = true
		for _, id := range c.ids {
			c.crash(id)
			c.nodes[id].saved = nil
			c.start(id, nil, nil)
		}
		c.net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
		c.net.Duplicate = rapid.Float64Range(0, 0.2).Draw(rt, "dup")
		c.net.Reorder = rapid.Bool().Draw(rt, "reorder")
		c.net.MaxDelay = rapid.IntRange(0, 3).Draw(rt, "delay")
		c.net.Corrupt = rapid.Float64Range(0, 0.1).Draw(rt, "corrupt")
		pick := rapid.SampledFrom(c.ids)
		ctx := context.Background()

		// model holds the acknowledged writes; maybe, the writes that an
		// accident may have taken (a crash before their save, a lost disk,
		// a stopped process): they may survive or not, but every replica
		// must agree. unsaved holds, per replica, the writes of its live
		// run not saved yet.
		var model, maybe []string
		writer := map[string]crdt.ReplicaID{}
		unsaved := map[crdt.ReplicaID][]string{}
		// The OR-Set's elements are each added once, by one replica, which
		// may remove it later; orAdded and orRemoved say whether the add
		// and the remove were acknowledged (must) or may have been lost
		// (maybe).
		orAdded, orRemoved := map[string]string{}, map[string]string{}
		regWritten := map[string]bool{} // every value written to the register
		// lose moves the acknowledged writes of region id that its disk
		// held to maybe: that disk is gone, and only what peers held of
		// them survives.
		lose := func(id crdt.ReplicaID, keep func(string) bool) {
			model = slices.DeleteFunc(model, func(e string) bool {
				if writer[e] == id && (keep == nil || !keep(e)) {
					maybe = append(maybe, e)
					return true
				}
				return false
			})
			for e, st := range orAdded {
				if writer[e] == id && st == "must" && (keep == nil || !keep(e)) {
					orAdded[e] = "maybe"
				}
			}
			for e, st := range orRemoved {
				if writer[e] == id && st == "must" {
					orRemoved[e] = "maybe"
				}
			}
		}
		// second holds, per region, a second process started under its ID
		// while its first runs.
		second := map[crdt.ReplicaID]*node{}
		secondClock := map[crdt.ReplicaID]*atomic.Int64{}
		// Host clocks: each is off the test's time by a small step within
		// the clocks' maximum offset, plus a large one (an hour back, a day
		// ahead) until it is set right.
		small := map[crdt.ReplicaID]time.Duration{}
		large := map[crdt.ReplicaID]time.Duration{}
		dayAhead := false
		setClock := func(id crdt.ReplicaID) { c.skew[id].Store(int64(small[id] + large[id])) }
		round := func() {
			for _, id := range c.ids {
				if d := second[id]; d != nil {
					_ = d.r.Tick(ctx)
				}
			}
			c.round()
		}
		holds := func(nd *node, e string) bool {
			var ok bool
			nd.set.Read(func(s *gset) { ok = s.Has(e) })
			nd.or.Read(func(s *orset.Set[string]) { ok = ok || s.Contains(e) })
			return ok
		}
		orElems := func(nd *node) []string {
			var out []string
			nd.or.Read(func(s *orset.Set[string]) { out = slices.Sorted(s.All()) })
			nd.reg.Read(func(l *register.LWW[string]) {
				if v, ok := l.Get(); ok {
					out = append(out, "="+v)
				}
			})
			return out
		}
		// stop ends one of the two processes of id for good; the other
		// goes on alone, with its disk.
		stop := func(id crdt.ReplicaID, firstGoes bool) {
			first, dup := c.nodes[id], second[id]
			delete(second, id)
			gone, stays := dup, first
			if firstGoes {
				gone, stays = first, dup
				maybe = append(maybe, unsaved[id]...)
				unsaved[id] = nil
				stays.saved = slices.Concat(first.saved, dup.saved)
				c.nodes[id] = stays
				c.skew[id] = secondClock[id] // its host's clock, set like the first's from now on
				setClock(id)
			}
			gone.up = false
			c.net.Attach(id, stays.r)
			c.persistNode(stays)
			// What the stopped process alone held is gone with it.
			lose(id, func(e string) bool { return holds(stays, e) })
		}

		steps := rapid.IntRange(1, 200).Draw(rt, "steps")
		for i := range steps {
			switch rapid.IntRange(0, 16).Draw(rt, "action") {
			case 0, 1, 2, 3:
				id := pick.Draw(rt, "writer")
				nd := c.nodes[id]
				if !nd.up {
					continue
				}
				e := fmt.Sprintf("e%03d", i)
				writer[e] = id
				if d := second[id]; d != nil && rapid.Bool().Draw(rt, "second") {
					if err := d.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
						rt.Fatal(err)
					}
					c.persistNode(d)
					model = append(model, e)
					continue
				}
				if rapid.IntRange(0, 3).Draw(rt, "unsaved") > 0 {
					c.add(id, e)
					model = append(model, e)
					model = append(model, unsaved[id]...)
					unsaved[id] = nil
					continue
				}
				if err := nd.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
					rt.Fatal(err)
				}
				unsaved[id] = append(unsaved[id], e)
			case 4, 5, 6:
				round()
			case 7:
				a, b := pick.Draw(rt, "a"), pick.Draw(rt, "b")
				if a != b {
					c.net.Partition(a, b)
				}
			case 8:
				c.net.Heal(pick.Draw(rt, "a"), pick.Draw(rt, "b"))
			case 9:
				id := pick.Draw(rt, "crash")
				nd := c.nodes[id]
				if second[id] != nil {
					continue
				}
				if nd.up {
					c.crash(id)
					maybe = append(maybe, unsaved[id]...)
					unsaved[id] = nil
					continue
				}
				restartFrom(rt, id, nd, lose)
				c.restart(id)
			case 10:
				id := pick.Draw(rt, "clock")
				switch rapid.IntRange(0, 3).Draw(rt, "step") {
				case 0: // within the maximum offset
					small[id] = time.Duration(rapid.IntRange(-200, 200).Draw(rt, "ms")) * time.Millisecond
				case 1:
					large[id] = -time.Hour
				case 2:
					large[id] = 24 * time.Hour
					dayAhead = true
				case 3: // set right
					large[id] = 0
				}
				setClock(id)
			case 11:
				id := pick.Draw(rt, "second")
				nd := c.nodes[id]
				if d := second[id]; d != nil {
					switch rapid.IntRange(0, 2).Draw(rt, "secondStep") {
					case 0: // peers' messages now reach the second
						c.net.Attach(id, d.r)
					case 1: // or the first
						c.net.Attach(id, nd.r)
					default:
						stop(id, rapid.Bool().Draw(rt, "firstGoes"))
					}
					continue
				}
				if !nd.up {
					continue
				}
				// A second process under id, from a copy of its disk or
				// of an older backup.
				from := disk{nd.snap, nd.journal}
				if len(nd.saved) > 0 && rapid.Bool().Draw(rt, "backup") {
					from = nd.saved[rapid.IntRange(0, len(nd.saved)-1).Draw(rt, "which")]
				}
				// On this host, or on another whose clock is off a little,
				// or an hour behind.
				own := new(atomic.Int64)
				own.Store(c.skew[id].Load() + int64(rapid.SampledFrom([]time.Duration{0, 300 * time.Millisecond, -300 * time.Millisecond, -time.Hour}).Draw(rt, "secondClock")))
				firstClock := c.skew[id]
				c.skew[id] = own
				d := c.open(id, from.snap, from.journal)
				c.skew[id] = firstClock
				secondClock[id] = own
				c.persistNode(d)
				second[id] = d
				if rapid.Bool().Draw(rt, "attachSecond") {
					c.net.Attach(id, d.r) // peers' messages reach the second
				}
			case 12:
				// Messages sent earlier, of this run or of runs ended since,
				// delivered again.
				for range rapid.IntRange(1, 20).Draw(rt, "replays") {
					if len(log) == 0 {
						break
					}
					m := log[rapid.IntRange(0, len(log)-1).Draw(rt, "old")]
					if nd := c.nodes[m.to]; nd.up {
						_ = nd.r.Receive(ctx, m.from, m.msg)
					}
				}
			case 13:
				c.now.Add(int64(rapid.SampledFrom([]time.Duration{time.Second, time.Minute, time.Hour}).Draw(rt, "wait")))
			case 14:
				// kill -9 in the middle of a save: the write is not
				// acknowledged, the journal's last record is lost or cut
				// short (a snapshot is written aside and renamed: the old
				// one stays).
				id := pick.Draw(rt, "killed")
				nd := c.nodes[id]
				if !nd.up || second[id] != nil {
					continue
				}
				e := fmt.Sprintf("e%03d", i)
				writer[e] = id
				if err := nd.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
					rt.Fatal(err)
				}
				killed := errors.New("killed")
				if rapid.Bool().Draw(rt, "diskFull") {
					// Or the disk is full: the save fails and the region
					// runs on, its write not acknowledged.
					if c.journal && nd.snap != nil && rapid.Bool().Draw(rt, "ops") {
						_ = nd.r.SaveOps(func([]byte) error { return killed })
					} else {
						_ = nd.r.SaveSnapshot(func([]byte) error { return killed })
					}
					unsaved[id] = append(unsaved[id], e)
					continue
				}
				if c.journal && nd.snap != nil {
					_ = nd.r.SaveOps(func(rec []byte) error {
						if cut := rapid.IntRange(0, len(rec)-1).Draw(rt, "cut"); cut > 0 {
							nd.journal = append(slices.Clone(nd.journal), rec[:cut])
						}
						return killed
					})
				} else {
					_ = nd.r.SaveSnapshot(func([]byte) error { return killed })
				}
				c.crash(id)
				maybe = append(maybe, e)
				maybe = append(maybe, unsaved[id]...)
				unsaved[id] = nil
			case 15:
				round()
			case 16:
				// The OR-Set: an element added, or one the replica added
				// removed; saved at once.
				id := pick.Draw(rt, "orWriter")
				nd := c.nodes[id]
				if !nd.up {
					continue
				}
				var op func(*orset.Set[string]) (crdt.Op, error)
				if rapid.Bool().Draw(rt, "remove") {
					var mine []string
					for _, e := range orElems(nd) {
						if writer[e] == id && orRemoved[e] == "" {
							mine = append(mine, e)
						}
					}
					if len(mine) == 0 {
						continue
					}
					e := rapid.SampledFrom(mine).Draw(rt, "removed")
					op = func(s *orset.Set[string]) (crdt.Op, error) { return s.Remove(e), nil }
					orRemoved[e] = "must"
				} else {
					e := fmt.Sprintf("o%03d", i)
					writer[e] = id
					op = func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }
					orAdded[e] = "must"
				}
				if err := nd.or.Update(op); err != nil {
					rt.Fatal(err)
				}
				// And the register takes a write, stamped by the host's
				// clock as it reads now.
				v := fmt.Sprintf("w%03d", i)
				if err := nd.reg.Update(func(l *register.LWW[string]) (crdt.Op, error) { return l.Set(v), nil }); err != nil {
					rt.Fatal(err)
				}
				regWritten[v] = true
				c.persist(id)
				model = append(model, unsaved[id]...)
				unsaved[id] = nil
			}
		}

		// The faults stop: every second process is stopped, clocks are set
		// right, crashed regions restart, the network heals.
		for _, id := range c.ids {
			if second[id] != nil {
				stop(id, false)
			}
			small[id], large[id] = 0, 0
			setClock(id)
		}
		recordOn = false
		for _, id := range c.ids {
			if !c.nodes[id].up {
				c.restart(id)
			} else if len(unsaved[id]) > 0 {
				c.persist(id)
				model = append(model, unsaved[id]...)
				unsaved[id] = nil
			}
		}
		c.net.HealAll()
		c.net.Loss, c.net.Duplicate, c.net.Corrupt = 0, 0, 0
		if dayAhead {
			// A hybrid clock does not go back: what was stamped a day ahead
			// is refused by the others until that day has passed.
			for range 26 {
				c.now.Add(int64(time.Hour))
				c.round()
			}
		}
		// orAgree runs rounds until every replica holds the same OR-Set,
		// with nothing pending, and checks it against what was written.
		orAgree := func() {
			for i := 0; ; i++ {
				first := orElems(c.nodes[c.ids[0]])
				differ, busy := false, false
				for _, id := range c.ids {
					if !slices.Equal(orElems(c.nodes[id]), first) {
						differ = true
					}
					for _, p := range c.nodes[id].r.Stats().Peers {
						if p.PendingOps != 0 || p.AwaitingCatchUp {
							busy = true
						}
					}
				}
				if !differ && !busy {
					for _, e := range first {
						if v, ok := strings.CutPrefix(e, "="); ok {
							if !regWritten[v] {
								rt.Fatalf("the register holds %q, which no replica wrote", v)
							}
							continue
						}
						if orAdded[e] == "" {
							rt.Fatalf("the OR-Set holds %q, which no replica added", e)
						}
						if orRemoved[e] == "must" {
							rt.Fatalf("the OR-Set holds %q, whose acknowledged removal was lost", e)
						}
					}
					for e, st := range orAdded {
						if st == "must" && orRemoved[e] == "" && !slices.Contains(first, e) {
							rt.Fatalf("the OR-Set lacks %q, added and acknowledged, never removed: %v", e, first)
						}
					}
					return
				}
				if differ && !busy && c.net.Pending() == 0 {
					for _, id := range c.ids {
						rt.Logf("%s: %v %+v", id, orElems(c.nodes[id]), c.nodes[id].r.Stats())
					}
					rt.Fatalf("OR-Sets differ while every peer shows nothing pending")
				}
				if i == 400 {
					for _, id := range c.ids {
						rt.Logf("%s: %v %+v", id, orElems(c.nodes[id]), c.nodes[id].r.Stats())
					}
					rt.Fatalf("the OR-Sets do not agree after 400 rounds")
				}
				c.round()
			}
		}
		c.settleWithin(model, maybe, 600)
		orAgree()
		// Every finished run's writer is then retired, on every replica
		// alike.
		c.settleRetired(3000)
		c.settleWithin(model, maybe, 400)
		orAgree()
		c.checkMessageBound(maxMsg)
		if d := divergences(c); d != 0 {
			rt.Fatalf("%d divergences counted", d)
		}
	})
}

// restartFrom draws what a crashed region restarts from: its disk as it
// was, or after an accident to it, and moves what the accident takes to
// maybe (through lose).
func restartFrom(rt *rapid.T, id crdt.ReplicaID, nd *node, lose func(crdt.ReplicaID, func(string) bool)) {
	j := nd.journal
	switch rapid.IntRange(0, 9).Draw(rt, "restartFrom") {
	case 2: // an empty disk
		nd.snap, nd.journal = nil, nil
	case 3: // an older backup
		if len(nd.saved) == 0 {
			return
		}
		from := nd.saved[rapid.IntRange(0, len(nd.saved)-1).Draw(rt, "which")]
		nd.snap, nd.journal = from.snap, from.journal
	case 4: // an older snapshot, with the current journal
		if len(nd.saved) == 0 {
			return
		}
		nd.snap = nd.saved[rapid.IntRange(0, len(nd.saved)-1).Draw(rt, "which")].snap
	case 5: // a record missing in the middle
		if len(j) < 2 {
			return
		}
		k := rapid.IntRange(0, len(j)-2).Draw(rt, "missing")
		nd.journal = slices.Delete(slices.Clone(j), k, k+1)
	case 6: // the last record lost, or cut short
		if len(j) == 0 {
			return
		}
		last := j[len(j)-1]
		nd.journal = slices.Clone(j[:len(j)-1])
		if cut := rapid.IntRange(0, len(last)-1).Draw(rt, "cut"); cut > 0 {
			nd.journal = append(nd.journal, last[:cut])
		}
	case 7: // a record appended twice
		if len(j) == 0 {
			return
		}
		k := rapid.IntRange(0, len(j)-1).Draw(rt, "twice")
		nd.journal = slices.Insert(slices.Clone(j), k+1, j[k])
		return
	case 8: // the last snapshot alone
		if len(j) == 0 {
			return
		}
		nd.journal = nil
	case 9:
		// The host saved a snapshot and crashed before it emptied the
		// journal: the records the snapshot holds come first.
		nd.journal = slices.Concat(nd.replaced, j)
		return
	default:
		return
	}
	lose(id, nil)
}
