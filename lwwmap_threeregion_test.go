package crdt_test

import (
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"pgregory.net/rapid"
)

// startWith is lwwTwoProc.start with peers of its own.
func (w *lwwTwoProc) startWith(id crdt.ReplicaID, snap []byte, peers ...crdt.ReplicaID) *lwwProc {
	w.t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: w.net.Transport(id), AntiEntropyTicks: 2,
		Clock: clock.New(clock.WithSource(w.now.Load))})
	if err != nil {
		w.t.Fatal(err)
	}
	h, err := crdt.Register(r, "kv", lwwmap.New[string, string](id, r.Clock()))
	if err != nil {
		w.t.Fatal(err)
	}
	attachRestored(w.t, w.net, r, snap, peers...)
	p := &lwwProc{r, h}
	w.save(p)
	return p
}

// peerDivergences sums PeerStats.Divergences over ps.
func peerDivergences(ps ...*lwwProc) uint64 {
	var n uint64
	for _, p := range ps {
		for _, s := range p.r.Stats().Peers {
			n += s.Divergences
		}
	}
	return n
}

// Three regions, b with two processes: a second process started from b's
// disk, the network routing b to it, while b puts k = "old" and sends
// nothing; a deletes k later. c hears nothing from the second process, so
// a collects the delete's marker on the reports of c and the second
// process while c still holds it. Then b rejoins: its put, new to a and
// finding no marker there, takes k back at a (Stats.LateWrites reads 1),
// while c, which decides by the conflict rule, keeps k deleted, at the
// same version. The regions do not stay apart, and the delete wins: c's
// causal context names b's put as seen, and c holds no entry of it, so
// the next delta or state from c (or from b, once it took c's marker)
// removes the entry at a. Here c's catch-up delta does it in the round
// after, before any digest shows the difference, so Divergences reads
// zero and LateWrites is the figure that tells.
func TestSecondProcessLateWriteThirdRegionHoldsMarker(t *testing.T) {
	w := newLWWTwoProc(t)
	all := []crdt.ReplicaID{"a", "b", "c"}
	a := w.startWith("a", nil, all...)
	b := w.startWith("b", nil, all...)
	c := w.startWith("c", nil, all...)
	w.put(a, "k", "v0")
	w.rounds(10, a, b, c)
	// The second process, from b's disk; the network routes b to it, and
	// c hears nothing from it.
	b2 := w.startWith("b", savedSnapshot(t, b.r), all...)
	w.net.PartitionOneWay("b", "c")
	w.put(b, "k", "old") // not sent: b does not run
	w.now.Add(int64(time.Second))
	w.del(a, "k")
	w.rounds(20, a, b2, c)
	if p, n := a.r.Stats().GCPending, a.r.Stats().GCCollected; p != 0 || n == 0 {
		t.Fatalf("a holds %d markers, collected %d: the delete was not collected", p, n)
	}
	if p := c.r.Stats().GCPending; p == 0 {
		t.Fatal("c collected the marker too")
	}
	for _, p := range []*lwwProc{a, b2, c} {
		if v, ok := w.get(p, "k"); ok {
			t.Fatalf("%s reads k = %q after the delete", p.r.ID(), v)
		}
	}
	// The second process stops; b rejoins, and reaches c again.
	w.net.Attach("b", b.r)
	w.net.HealAll()
	type read struct {
		v  string
		ok bool
	}
	reads := func() map[crdt.ReplicaID]read {
		out := map[crdt.ReplicaID]read{}
		for _, p := range []*lwwProc{a, b, c} {
			v, ok := w.get(p, "k")
			out[p.r.ID()] = read{v, ok}
		}
		return out
	}
	w.rounds(1, a, b, c)
	// The case asked about: b's put took k back at a, c keeps k deleted.
	if got := reads(); got["a"] != (read{"old", true}) || got["c"].ok {
		t.Fatalf("after b's first round back k reads %v: want \"old\" at a and deleted at c", got)
	}
	if late := lateWrites(a, b, c); late != 1 {
		t.Fatalf("LateWrites reads %d after b's put took k back at a, want 1", late)
	}
	w.rounds(40, a, b, c)
	got := reads()
	if got["a"] != got["b"] || got["a"] != got["c"] {
		t.Fatalf("k reads %v: the regions stay apart (LateWrites %d, Divergences %d)", got, lateWrites(a, b, c), peerDivergences(a, b, c))
	}
	// The delete wins: c's context names b's put as seen and overwritten.
	if got["a"].ok {
		t.Fatalf("k reads %v: the delete was lost though c held its marker", got)
	}
	late, div := lateWrites(a, b, c), peerDivergences(a, b, c)
	if late == 0 && div == 0 {
		t.Fatalf("k reads %v, and LateWrites and Divergences read zero", got)
	}
	t.Logf("k reads %v; LateWrites %d, Divergences %d", got, late, div)
}

// The schedules of TestSecondProcessLateWriteThirdRegionHoldsMarker,
// drawn: a or c deletes, the second process runs a while (c hearing from
// it or not), b rejoins with c cut from it for a while, replicas tick or
// not each round, messages are reordered, delayed and lost. After the
// network heals and every replica runs, a, b and c read k alike, and the
// whole maps agree; a region that read k back after it had read it
// deleted is told by LateWrites or Divergences.
func TestSecondProcessLateWriteThreeRegionsConverge(t *testing.T) {
	var runs, resurrected, kept, diverged, lateCounted int
	rapid.Check(t, func(rt *rapid.T) {
		w := newLWWTwoProc(t)
		w.net = memnet.New(rapid.Uint64().Draw(rt, "seed"))
		all := []crdt.ReplicaID{"a", "b", "c"}
		a := w.startWith("a", nil, all...)
		b := w.startWith("b", nil, all...)
		c := w.startWith("c", nil, all...)
		w.put(a, "k", "v0")
		w.rounds(10, a, b, c)
		b2 := w.startWith("b", savedSnapshot(t, b.r), all...)
		deaf := rapid.Bool().Draw(rt, "cHearsNothingOfB2")
		if deaf {
			w.net.PartitionOneWay("b", "c")
		}
		w.put(b, "k", "old")
		w.now.Add(int64(time.Second))
		deleter := map[bool]*lwwProc{true: a, false: c}[rapid.Bool().Draw(rt, "aDeletes")]
		w.del(deleter, "k")
		w.net.Reorder = rapid.Bool().Draw(rt, "reorder")
		w.net.MaxDelay = rapid.IntRange(0, 2).Draw(rt, "maxDelay")
		w.net.Loss = rapid.SampledFrom([]float64{0, 0.2}).Draw(rt, "loss")
		// deletedAt records the regions that read k deleted; back, those
		// that read it again after.
		deletedAt, back := map[*lwwProc]bool{}, false
		look := func(ps ...*lwwProc) {
			for _, p := range ps {
				if _, ok := w.get(p, "k"); !ok {
					deletedAt[p] = true
				} else if deletedAt[p] {
					back = true
				}
			}
		}
		step := func(label string, ps ...*lwwProc) {
			var on []*lwwProc
			for _, p := range ps {
				if rapid.Bool().Draw(rt, label+string(p.r.ID())) {
					on = append(on, p)
				}
			}
			w.rounds(1, on...)
			look(ps...)
		}
		for range rapid.IntRange(0, 25).Draw(rt, "b2Rounds") {
			step("b2", a, b2, c)
		}
		w.net.Attach("b", b.r)
		w.net.HealAll()
		if rapid.Bool().Draw(rt, "cCutFromB") {
			w.net.Partition("b", "c")
		}
		for range rapid.IntRange(0, 10).Draw(rt, "rejoinRounds") {
			step("rejoin", a, b, c)
		}
		w.net.HealAll()
		w.net.Loss, w.net.MaxDelay = 0, 0
		for range 60 {
			w.rounds(1, a, b, c)
			look(a, b, c)
		}
		va, oka := w.get(a, "k")
		for _, p := range []*lwwProc{b, c} {
			if v, ok := w.get(p, "k"); v != va || ok != oka {
				rt.Fatalf("k reads %q %v at a, %q %v at %s: the regions stay apart", va, oka, v, ok, p.r.ID())
			}
		}
		fa := mapFingerprint(a)
		for _, p := range []*lwwProc{b, c} {
			if f := mapFingerprint(p); f != fa {
				rt.Fatalf("the maps at a and %s differ (%x, %x)", p.r.ID(), fa, f)
			}
		}
		late, div := lateWrites(a, b, b2, c), peerDivergences(a, b, b2, c)
		if (back || oka) && late+div == 0 {
			rt.Fatalf("k read back after its delete (at the end: %q %v), and LateWrites and Divergences read zero", va, oka)
		}
		runs++
		if back {
			resurrected++
		}
		if oka {
			kept++
			if deaf {
				rt.Fatalf("k reads %q at every region, though c, hearing nothing of the second process, held the delete's marker until b's put reached it", va)
			}
		}
		if div > 0 {
			diverged++
		}
		if late > 0 {
			lateCounted++
		}
	})
	t.Logf("schedules %d: k read back after its delete in %d, present at the end in %d; Divergences counted in %d, LateWrites in %d",
		runs, resurrected, kept, diverged, lateCounted)
}

// mapFingerprint is the content fingerprint of p's map.
func mapFingerprint(p *lwwProc) (f uint64) {
	p.h.Read(func(m *lwwmap.Map[string, string]) { f = m.ContentFingerprint() })
	return f
}
