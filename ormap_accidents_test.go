package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"pgregory.net/rapid"
)

// nestedCarts is the OR-Map the accident tests below drive: carts of
// counters, with expiries at either depth.
type nestedCarts = ormap.Map[string, *ormap.Map[string, *ormap.Counter]]

// cartsProc is one process of a region holding a nestedCarts: its replica,
// and the disk it saves to (its snapshots, oldest first, and the journal
// records saved since the last).
type cartsProc struct {
	id      crdt.ReplicaID
	r       *crdt.Replica
	h       *crdt.Handle[*nestedCarts]
	snaps   [][]byte
	journal [][]byte
	unsaved []int // the test's increments made here and not saved yet
}

// cartsWorld is three regions over memnet sharing a true time, each with a
// host clock that may be stepped away from it.
type cartsWorld struct {
	t        *rapid.T
	net      *memnet.Network
	now      atomic.Int64
	ids      []crdt.ReplicaID
	offsets  map[crdt.ReplicaID]*atomic.Int64
	procs    map[crdt.ReplicaID]*cartsProc // the process the network routes to
	twins    map[crdt.ReplicaID]*cartsProc // a second process under the ID, if one runs
	warnings []string                      // the engine's warnings, logged on failure
}

// warnLog is a slog.Handler that keeps the engine's warnings.
type warnLog struct {
	out *[]string
	id  string
}

func (h warnLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h warnLog) Handle(_ context.Context, r slog.Record) error {
	s := h.id + ": " + r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	*h.out = append(*h.out, s)
	return nil
}

func (h warnLog) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h warnLog) WithGroup(string) slog.Handler { return h }

func newCartsWorld(t *rapid.T, seed uint64) *cartsWorld {
	w := &cartsWorld{t: t, net: memnet.New(seed), ids: []crdt.ReplicaID{"a", "b", "c"},
		offsets: map[crdt.ReplicaID]*atomic.Int64{}, procs: map[crdt.ReplicaID]*cartsProc{}, twins: map[crdt.ReplicaID]*cartsProc{}}
	w.now.Store(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range w.ids {
		w.offsets[id] = new(atomic.Int64)
		w.procs[id] = w.start(id, nil, nil)
	}
	return w
}

// start starts a process of region id from a snapshot and journal (none:
// an empty disk), saves a snapshot and routes the network to it.
func (w *cartsWorld) start(id crdt.ReplicaID, snap []byte, journal [][]byte) *cartsProc {
	off := w.offsets[id]
	clk := clock.New(clock.WithSource(func() int64 { return w.now.Load() + off.Load() }))
	p := &cartsProc{id: id}
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: w.net.Transport(id), Clock: clk,
		AntiEntropyTicks: 5, MaxLogOps: 16, Logger: slog.New(warnLog{&w.warnings, string(id)}), OnSaveNeeded: func() { p.snapshot(w.t) }})
	if err != nil {
		w.t.Fatal(err)
	}
	p.r = r
	m := ormap.New[string, *ormap.Map[string, *ormap.Counter]](id)
	m.SetClock(r.Clock())
	if p.h, err = crdt.Register(r, "carts", m); err != nil {
		w.t.Fatal(err)
	}
	for _, q := range w.ids {
		if q != id {
			if err := r.AddPeer(q); err != nil {
				w.t.Fatal(err)
			}
		}
	}
	if snap != nil {
		if err := r.Restore(snap); err != nil {
			w.t.Fatal(err)
		}
		for _, rec := range journal {
			if err := r.Replay(rec); err != nil {
				if errors.Is(err, crdt.ErrJournalGap) {
					break
				}
				w.t.Fatal(err)
			}
		}
	}
	p.snapshot(w.t)
	w.net.Attach(id, r)
	return p
}

// snapshot saves a snapshot of p and discards its journal.
func (p *cartsProc) snapshot(t *rapid.T) {
	if err := p.r.SaveSnapshot(func(b []byte) error { p.snaps = append(p.snaps, b); return nil }); err != nil {
		t.Fatal(err)
	}
	p.journal, p.unsaved = nil, nil
}

// saveOps journals what p changed, or saves a snapshot if it must.
func (p *cartsProc) saveOps(t *rapid.T) {
	err := p.r.SaveOps(func(b []byte) error { p.journal = append(p.journal, b); return nil })
	if errors.Is(err, crdt.ErrSnapshotNeeded) {
		p.snapshot(t)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	p.unsaved = nil
}

// running lists the processes that run.
func (w *cartsWorld) running() []*cartsProc {
	var out []*cartsProc
	for _, id := range w.ids {
		out = append(out, w.procs[id])
		if tw := w.twins[id]; tw != nil {
			out = append(out, tw)
		}
	}
	return out
}

// round ticks every process and delivers what is on the network; the
// true time moves on 10ms.
func (w *cartsWorld) round() {
	ctx := context.Background()
	for _, p := range w.running() {
		_ = p.r.Tick(ctx)
	}
	w.net.DeliverAll(ctx)
	for _, p := range w.running() {
		p.saveOps(w.t)
	}
	w.now.Add(int64(10 * time.Millisecond))
}

// cartsRead is what a region's map reads: key/field -> value.
func cartsRead(h *crdt.Handle[*nestedCarts]) map[string]int64 {
	out := map[string]int64{}
	h.Read(func(m *nestedCarts) {
		for k, cart := range m.All() {
			for f, c := range cart.All() {
				out[k+"/"+f] = c.Value()
			}
		}
	})
	return out
}

func cartsFingerprint(h *crdt.Handle[*nestedCarts]) (fp, cfp uint64) {
	h.Read(func(m *nestedCarts) { fp, cfp = m.Fingerprint(), m.ContentFingerprint() })
	return fp, cfp
}

// TestORMapNestedExpiryUnderAccidents drives a map of carts of counters
// (ormap) at three regions through the accidents an operator and a
// network bring, mixed at random: increments, deletes of a cart or of a
// field, expiries and persists at either depth; host clocks stepped ahead
// or back; a region killed (-9) after journaling and before its next
// snapshot, restarting from its snapshot and journal, or from an older
// backup, or an empty disk; a second process started from a region's disk,
// the network routed to one or the other while both take writes, then
// stopped; partitions. Once the accidents stop, the clocks are set right
// and every expiry has passed, the regions must read alike and hold equal
// fingerprints with nothing pending, before and after the finished runs'
// writers are retired (a silent divergence fails). Against a naive model:
// every counter holds a sum of distinct increments made to it; the cart
// that no delete or expiry touches holds every increment made to it that
// its region saved and no accident took from every disk; no counter holds
// an increment that a saved delete saw, unless a writer was retired while
// it still wrote (Stats.RetiredPastFinal says so). No metric may speak
// (divergences, writers retired past their count) unless a second process
// ran.
func TestORMapNestedExpiryUnderAccidents(t *testing.T) {
	checksUnlessSet(t, 100)
	rapid.Check(t, func(rt *rapid.T) {
		w := newCartsWorld(rt, rapid.Uint64().Draw(rt, "seed"))
		type incr struct {
			path string
			bit  int64
			id   crdt.ReplicaID
			twin bool
			snap int // the number of snapshots of its process when made
			// For a delete, bit is 0 and seen holds what it saw of each
			// counter it deleted.
			seen map[string]int64
		}
		twins := false
		var incrs []incr
		nextBit := map[string]int{}
		lost := map[int]bool{}             // increments an accident may have taken
		keys := []string{"k0", "k1", "k2"} // k2 is never deleted nor expired
		fields := []string{"f0", "f1"}
		pickID := rapid.SampledFrom(w.ids)
		update := func(p *cartsProc, f func(m *nestedCarts) ormap.Op) {
			err := p.h.Update(func(m *nestedCarts) (crdt.Op, error) {
				op := f(m)
				return op, op.Err()
			})
			if err != nil {
				rt.Fatal(err)
			}
		}
		steps := rapid.IntRange(5, 60).Draw(rt, "steps")
		for range steps {
			id := pickID.Draw(rt, "region")
			p := w.procs[id]
			if tw := w.twins[id]; tw != nil && rapid.Bool().Draw(rt, "onTwin") {
				p = tw
			}
			switch rapid.IntRange(0, 11).Draw(rt, "action") {
			case 0, 1, 2: // an increment, saved (journaled) or not yet
				k := rapid.SampledFrom(keys).Draw(rt, "key")
				f := rapid.SampledFrom(fields).Draw(rt, "field")
				path := k + "/" + f
				if nextBit[path] == 62 {
					continue
				}
				bit := int64(1) << nextBit[path]
				nextBit[path]++
				update(p, func(m *nestedCarts) ormap.Op { return m.At(k).At(f).Add(bit) })
				p.unsaved = append(p.unsaved, len(incrs))
				incrs = append(incrs, incr{path, bit, id, p != w.procs[id], len(p.snaps), nil})
				if rapid.IntRange(0, 3).Draw(rt, "saved") > 0 {
					p.saveOps(rt)
				}
			case 3: // a delete of a cart or of one of its fields
				k := rapid.SampledFrom(keys[:2]).Draw(rt, "key")
				prefix := k + "/"
				if !rapid.Bool().Draw(rt, "whole") {
					prefix += rapid.SampledFrom(fields).Draw(rt, "field")
				}
				seen := map[string]int64{}
				for path, v := range cartsRead(p.h) {
					if strings.HasPrefix(path, prefix) {
						seen[path] = v
					}
				}
				update(p, func(m *nestedCarts) ormap.Op {
					if f, ok := strings.CutPrefix(prefix, k+"/"); ok && f != "" {
						return m.At(k).Delete(f)
					}
					return m.Delete(k)
				})
				incrs = append(incrs, incr{prefix, 0, id, p != w.procs[id], len(p.snaps), seen})
				p.saveOps(rt)
			case 4: // an expiry or a persist, of a cart or of a field
				k := rapid.SampledFrom(keys[:2]).Draw(rt, "key")
				ttl := rapid.SampledFrom([]time.Duration{time.Second, time.Minute}).Draw(rt, "ttl")
				persist := rapid.IntRange(0, 2).Draw(rt, "persist") == 0
				if rapid.Bool().Draw(rt, "whole") {
					update(p, func(m *nestedCarts) ormap.Op {
						if persist {
							return m.Persist(k)
						}
						return m.Expire(k, ttl)
					})
				} else {
					f := rapid.SampledFrom(fields).Draw(rt, "field")
					update(p, func(m *nestedCarts) ormap.Op {
						if persist {
							return m.At(k).Persist(f)
						}
						return m.At(k).Expire(f, ttl)
					})
				}
				p.saveOps(rt)
			case 5: // time passes
				w.now.Add(int64(rapid.SampledFrom([]time.Duration{10 * time.Millisecond, time.Second, time.Minute}).Draw(rt, "wait")))
			case 6: // a host clock is stepped, or set right
				w.offsets[id].Store(int64(rapid.SampledFrom([]time.Duration{0, 0, 2 * time.Second, time.Minute, -time.Hour}).Draw(rt, "step")))
			case 7: // a snapshot
				p.snapshot(rt)
			case 8: // kill -9, and a restart
				if p != w.procs[id] {
					continue
				}
				if tw := w.twins[id]; tw != nil {
					// The second process carries on alone.
					w.procs[id], w.twins[id] = tw, nil
					w.net.Attach(id, tw.r)
					for i, in := range incrs {
						if in.id == id && !in.twin {
							lost[i] = true
						}
					}
					for i := range incrs {
						if incrs[i].id == id {
							incrs[i].twin = !incrs[i].twin
						}
					}
					continue
				}
				snap, journal := p.snaps[len(p.snaps)-1], p.journal
				switch rapid.IntRange(0, 3).Draw(rt, "disk") {
				case 0: // an older backup
					j := rapid.IntRange(0, len(p.snaps)-1).Draw(rt, "backup")
					snap, journal = p.snaps[j], nil
					for i, in := range incrs {
						if in.id == id && in.snap > j {
							lost[i] = true
						}
					}
				case 1: // an empty disk
					snap, journal = nil, nil
					for i, in := range incrs {
						if in.id == id {
							lost[i] = true
						}
					}
				}
				// What was not saved is gone.
				for _, i := range p.unsaved {
					lost[i] = true
				}
				w.net.Detach(id)
				w.procs[id] = w.start(id, snap, journal)
				for i := range incrs {
					if incrs[i].id == id && !lost[i] {
						incrs[i].snap = 0
					}
				}
			case 9: // a second process from the region's disk, or the
				// network routed to the other process
				if w.twins[id] == nil {
					twins = true
					pr := w.procs[id]
					pr.saveOps(rt)
					tw := w.start(id, pr.snaps[len(pr.snaps)-1], pr.journal)
					w.twins[id] = tw
					continue
				}
				if rapid.Bool().Draw(rt, "toTwin") {
					w.net.Attach(id, w.twins[id].r)
				} else {
					w.net.Attach(id, w.procs[id].r)
				}
			case 10: // a partition, or its healing
				a, b := pickID.Draw(rt, "a"), pickID.Draw(rt, "b")
				if a != b {
					if w.net.Cut(a, b) {
						w.net.Heal(a, b)
					} else {
						w.net.Partition(a, b)
					}
				}
			default:
				for range rapid.IntRange(1, 20).Draw(rt, "rounds") {
					w.round()
				}
			}
		}
		// The accidents stop: second processes are stopped, clocks set
		// right, every expiry passes, the network heals.
		for _, id := range w.ids {
			if w.twins[id] != nil {
				w.twins[id] = nil
				for i, in := range incrs {
					if in.id == id && in.twin {
						lost[i] = true
					}
				}
				w.net.Attach(id, w.procs[id].r)
			}
			w.offsets[id].Store(0)
			w.procs[id].saveOps(rt)
		}
		w.net.HealAll()
		w.now.Add(int64(2 * time.Hour))
		settle := func(what string) {
			for i := 0; ; i++ {
				first := cartsRead(w.procs[w.ids[0]].h)
				fp0, cfp0 := cartsFingerprint(w.procs[w.ids[0]].h)
				differ, busy := false, w.net.Pending() > 0
				for _, id := range w.ids {
					fp, cfp := cartsFingerprint(w.procs[id].h)
					if !maps.Equal(cartsRead(w.procs[id].h), first) || fp != fp0 || cfp != cfp0 {
						differ = true
					}
					for _, ps := range w.procs[id].r.Stats().Peers {
						busy = busy || ps.PendingOps != 0 || ps.AwaitingCatchUp || ps.CatchingUp
					}
				}
				if !differ && !busy {
					return
				}
				if i == 600 {
					for _, id := range w.ids {
						fp, cfp := cartsFingerprint(w.procs[id].h)
						rt.Logf("%s: %v fp %x cfp %x %+v", id, cartsRead(w.procs[id].h), fp, cfp, w.procs[id].r.Stats())
					}
					rt.Fatalf("%s: the regions differ (%v) or are busy (%v) after %d rounds", what, differ, busy, i)
				}
				w.round()
			}
		}
		settle("after the accidents")
		check := func() {
			got := cartsRead(w.procs[w.ids[0]].h)
			// What the metrics say: divergences counted, writers retired
			// while they still wrote.
			var said, pastFinal uint64
			for _, id := range w.ids {
				st := w.procs[id].r.Stats()
				if st.LedgerConflicts != 0 || st.RetireFailures != 0 {
					rt.Fatalf("%s: %d ledger conflicts, %d retirements refused", id, st.LedgerConflicts, st.RetireFailures)
				}
				said += st.RetiredPastFinal
				pastFinal += st.RetiredPastFinal
				for _, ps := range st.Peers {
					said += ps.Divergences
				}
			}
			fail := func(format string, args ...any) {
				for _, l := range w.warnings {
					rt.Log(l)
				}
				rt.Fatalf(format, args...)
			}
			if said != 0 && !twins {
				fail("without a second process, the metrics say %d", said)
			}
			made := map[string]int64{}
			for _, in := range incrs {
				made[in.path] |= in.bit
			}
			for path, v := range got {
				if v <= 0 || v&^made[path] != 0 {
					fail("%s holds %#x, not a sum of increments made to it once (%#x)", path, v, made[path])
				}
			}
			for i, in := range incrs {
				if in.path[:2] == "k2" && !lost[i] && got[in.path]&in.bit == 0 {
					fail("%s lacks the saved increment %#x of %s (%v)", in.path, in.bit, in.id, got)
				}
				for path, bits := range in.seen {
					if !lost[i] && got[path]&bits != 0 {
						// A writer retired while it still wrote (a second
						// process) may count them again, which
						// Stats.RetiredPastFinal reports.
						if pastFinal == 0 {
							fail("%s holds %#x, with increments %#x that the saved delete of %s by %s saw (%v)", path, got[path], got[path]&bits, in.path, in.id, got)
						}
					}
				}
			}
		}
		check()
		// The finished runs' writers are retired, and the regions still
		// agree.
		for range 300 {
			w.round()
		}
		settle("after retirement")
		check()
	})
}

// A second process started from region b's disk, the network routing b's
// messages to it: a deletes counter x, which b had incremented by 1, and
// the second process takes the delete in and reports it; b, which never
// saw the delete, then increments x by 2, continuing the chain whose
// total the delete noted. The delete's note of b's chain must stay until
// b's own run has reported the delete: a region that drops it on the
// second process's word counts the deleted 1 again when b's new leaf
// comes, and so does every region once they agree (x read 3 everywhere,
// and no metric said anything when the second process stopped before it
// retired b's writer). With both ways of ending (the second process
// stopped early, b carrying on; or b stopped, the second process, which
// retired b's writer meanwhile, carrying on), x reads 2 everywhere.
func TestSecondProcessKeepsDeleteOfCounterChain(t *testing.T) {
	for _, early := range []bool{true, false} {
		t.Run(fmt.Sprintf("stoppedEarly=%v", early), func(t *testing.T) { secondProcessKeepsDelete(t, early) })
	}
}

func secondProcessKeepsDelete(t *testing.T, early bool) {
	type counters = ormap.Map[string, *ormap.Counter]
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(1)
	ctx := context.Background()
	type proc struct {
		r *crdt.Replica
		h *crdt.Handle[*counters]
	}
	save := func(p *proc) {
		if err := p.r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	start := func(id, peer crdt.ReplicaID, snap []byte) *proc {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), AntiEntropyTicks: 2,
			Clock: clock.New(clock.WithSource(now.Load))})
		if err != nil {
			t.Fatal(err)
		}
		m := ormap.New[string, *ormap.Counter](id)
		m.SetClock(r.Clock())
		h, err := crdt.Register(r, "c", m)
		if err != nil {
			t.Fatal(err)
		}
		attachRestored(t, net, r, snap, peer)
		p := &proc{r, h}
		save(p)
		return p
	}
	update := func(p *proc, f func(m *counters) ormap.Op) {
		err := p.h.Update(func(m *counters) (crdt.Op, error) { op := f(m); return op, op.Err() })
		if err != nil {
			t.Fatal(err)
		}
		save(p)
	}
	value := func(p *proc) (v int64) {
		p.h.Read(func(m *counters) {
			if c, ok := m.Get("x"); ok {
				v = c.Value()
			}
		})
		return v
	}
	rounds := func(k int, ps ...*proc) {
		for range k {
			for _, p := range ps {
				_ = p.r.Tick(ctx)
			}
			net.DeliverAll(ctx)
			for _, p := range ps {
				save(p)
			}
			now.Add(int64(10 * time.Millisecond))
		}
	}
	a := start("a", "b", nil)
	b := start("b", "a", nil)
	update(b, func(m *counters) ormap.Op { return m.At("x").Add(1) })
	rounds(10, a, b)
	// The second process, from b's disk; the network routes b to it.
	b2 := start("b", "a", savedSnapshot(t, b.r))
	update(a, func(m *counters) ormap.Op { return m.Delete("x") })
	rounds(3, a, b2)
	left := b
	if early {
		// The second process stops; b, which has not seen the delete,
		// increments x again.
		net.Attach("b", b.r)
		update(b, func(m *counters) ormap.Op { return m.At("x").Add(2) })
		rounds(40, a, b)
	} else {
		// b, which has not seen the delete, increments x again, then
		// stops; the second process carries on.
		update(b, func(m *counters) ormap.Op { return m.At("x").Add(2) })
		rounds(3, a, b)
		net.Attach("b", b2.r)
		rounds(40, a, b2)
		left = b2
	}
	va, vb := value(a), value(left)
	var said uint64
	for _, p := range []*proc{a, b, b2} {
		st := p.r.Stats()
		said += st.RetiredPastFinal
		for _, ps := range st.Peers {
			said += ps.Divergences
		}
	}
	if va != 2 || vb != 2 {
		t.Fatalf("x reads %d at a and %d at b, want 2: the deleted increment came back (metrics: %d)", va, vb, said)
	}
}
