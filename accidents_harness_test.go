package crdt_test

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
	"pgregory.net/rapid"
)

// accidents draws the operators' accidents of TestConvergenceUnderAccidents
// and TestOlderTypesUnderAccidents and applies them to a cluster: second
// processes under a region's ID, regions removed and added back, host
// clocks stepped and set right, crashes and restarts from a damaged disk,
// kill -9 in the middle of a save, old messages delivered again. What the
// accidents do to the writes is the property's own: it says so through the
// functions it sets.
type accidents struct {
	rt       *rapid.T
	c        *cluster
	ctx      context.Context
	pick     *rapid.Generator[crdt.ReplicaID]
	log      []sent // messages sent while recordOn, to deliver again
	recordOn bool
	diverged map[string]int // divergences counted, by object

	// second holds, per region, a second process started under its ID
	// while its first runs.
	second      map[crdt.ReplicaID]*node
	secondClock map[crdt.ReplicaID]*atomic.Int64
	// Host clocks: each is off the test's time by a small step within
	// the clocks' maximum offset, plus a large one (an hour back, a day
	// ahead) until it is set right. dayAhead says a clock was ever a day
	// ahead.
	small    map[crdt.ReplicaID]time.Duration
	large    map[crdt.ReplicaID]time.Duration
	dayAhead bool

	// removedRuns holds the writers of a region's runs up to a time
	// when every other region had removed it: the others retired them
	// on the counts they held, and what such a writer wrote beyond
	// (its run went on, or a later run shipped its ops again) keeps
	// its name (see crdt.Retirer). runs holds every run's writer.
	removedRuns map[crdt.ReplicaID]bool
	// overlapped holds the writers of the runs of a region that ran
	// while a second process ran under its ID. Each process may see
	// the other's writer as a finished run's and have it retired on
	// the counts every region holds while it still writes: what it
	// writes beyond keeps its name for good (see crdt.Retirer), as no
	// writer is retired twice. Such a writer, once retired, may stay
	// named.
	overlapped map[crdt.ReplicaID]bool
	runs       map[crdt.ReplicaID]map[crdt.ReplicaID]bool

	// The property's model. ackUnsaved says that region id saved what it
	// had not: its writes are acknowledged; dropUnsaved says that they
	// may be lost; hasUnsaved, whether there are any. loseDisk says that
	// region id's disk is gone: only what peers held of its acknowledged
	// writes survives. lostWithStopped says that process gone of region
	// id was stopped for good, stays going on alone (firstGoes: gone was
	// the first).
	ackUnsaved      func(id crdt.ReplicaID)
	dropUnsaved     func(id crdt.ReplicaID)
	hasUnsaved      func(id crdt.ReplicaID) bool
	loseDisk        func(id crdt.ReplicaID)
	lostWithStopped func(id crdt.ReplicaID, gone, stays *node, firstGoes bool)
}

// newAccidents starts a cluster of n regions that record what they send,
// with kinds setting which objects its runs hold, and draws its network's
// faults.
func newAccidents(rt *rapid.T, n, antiEntropy, maxMsg int, kinds func(*cluster)) *accidents {
	h := &accidents{
		rt:          rt,
		ctx:         context.Background(),
		recordOn:    true,
		diverged:    map[string]int{},
		second:      map[crdt.ReplicaID]*node{},
		secondClock: map[crdt.ReplicaID]*atomic.Int64{},
		small:       map[crdt.ReplicaID]time.Duration{},
		large:       map[crdt.ReplicaID]time.Duration{},
		removedRuns: map[crdt.ReplicaID]bool{},
		overlapped:  map[crdt.ReplicaID]bool{},
		runs:        map[crdt.ReplicaID]map[crdt.ReplicaID]bool{},
	}
	seed := rapid.Uint64().Draw(rt, "seed")
	entropy := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)})
	c := newClusterBroadcast(rt, seed, n, func(cfg *crdt.Config) {
		cfg.Entropy = entropy // epochs that a failing run draws again
		cfg.Logger = slog.New(divergenceLog{h.diverged})
		cfg.MaxLogOps = 16
		cfg.AntiEntropyTicks = antiEntropy
		cfg.MaxMessageBytes = maxMsg
		rec := recording{cfg.Transport, cfg.ID, &h.log, &h.recordOn}
		if _, ok := cfg.Transport.(crdt.Broadcaster); ok {
			cfg.Transport = recordingBroadcaster{rec}
		} else {
			cfg.Transport = rec
		}
	}, rapid.Bool().Draw(rt, "broadcast"))
	h.c = c
	c.journal = rapid.Bool().Draw(rt, "journal")
	c.stopAtBadRecord = true
	// Runs that hold the property's objects take the place of the first
	// ones, before anything happened.
	kinds(c)
	c.removed = map[crdt.ReplicaID]map[crdt.ReplicaID]bool{}
	for _, id := range c.ids {
		c.crash(id)
		c.nodes[id].saved = nil
		c.start(id, nil, nil)
	}
	c.net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
	c.net.Duplicate = rapid.Float64Range(0, 0.2).Draw(rt, "dup")
	c.net.Reorder = rapid.Bool().Draw(rt, "reorder")
	c.net.MaxDelay = rapid.IntRange(0, 3).Draw(rt, "delay")
	h.pick = rapid.SampledFrom(c.ids)
	return h
}

// setClock sets region id's host clock to its steps.
func (h *accidents) setClock(id crdt.ReplicaID) {
	h.c.skew[id].Store(int64(h.small[id] + h.large[id]))
}

// round runs a round of the cluster, second processes ticking too.
func (h *accidents) round() {
	for _, id := range h.c.ids {
		if d := h.second[id]; d != nil {
			_ = d.r.Tick(h.ctx)
		}
	}
	h.c.round()
}

// stop ends one of the two processes of id for good; the other goes on
// alone, with its disk.
func (h *accidents) stop(id crdt.ReplicaID, firstGoes bool) {
	c := h.c
	first, dup := c.nodes[id], h.second[id]
	delete(h.second, id)
	gone, stays := dup, first
	if firstGoes {
		gone, stays = first, dup
		h.dropUnsaved(id)
		stays.saved = slices.Concat(first.saved, dup.saved)
		c.nodes[id] = stays
		c.skew[id] = h.secondClock[id] // its host's clock, set like the first's from now on
		h.setClock(id)
	}
	gone.up = false
	c.net.Attach(id, stays.r)
	c.persistNode(stays)
	h.lostWithStopped(id, gone, stays, firstGoes)
}

// noteRemoved notes every region's runs, those that overlapped a second
// process, and those of regions every other region removed.
func (h *accidents) noteRemoved() {
	c := h.c
	for _, x := range c.ids {
		if h.runs[x] == nil {
			h.runs[x] = map[crdt.ReplicaID]bool{}
		}
		h.runs[x][c.nodes[x].r.Writer()] = true
		if d := h.second[x]; d != nil {
			h.runs[x][d.r.Writer()] = true
			h.overlapped[c.nodes[x].r.Writer()] = true
			h.overlapped[d.r.Writer()] = true
		}
		everywhere := true
		for _, id := range c.ids {
			everywhere = everywhere && (id == x || c.removed[id][x])
		}
		if everywhere {
			for w := range h.runs[x] {
				h.removedRuns[w] = true
			}
		}
	}
}

// partition cuts the network between two regions.
func (h *accidents) partition() {
	a, b := h.pick.Draw(h.rt, "a"), h.pick.Draw(h.rt, "b")
	if a != b {
		h.c.net.Partition(a, b)
	}
}

// heal heals the network between two regions.
func (h *accidents) heal() {
	h.c.net.Heal(h.pick.Draw(h.rt, "a"), h.pick.Draw(h.rt, "b"))
}

// crashOrRestart crashes a region running alone, or restarts a crashed
// one from its disk as it was or after an accident to it.
func (h *accidents) crashOrRestart() {
	c := h.c
	id := h.pick.Draw(h.rt, "crash")
	nd := c.nodes[id]
	if h.second[id] != nil {
		return
	}
	if nd.up {
		c.crash(id)
		h.dropUnsaved(id)
		return
	}
	restartFrom(h.rt, c, id, nd, func(id crdt.ReplicaID, _ func(string) bool) { h.loseDisk(id) })
	c.restart(id)
}

// stepClock steps a region's host clock, or sets it right.
func (h *accidents) stepClock() {
	rt := h.rt
	id := h.pick.Draw(rt, "clock")
	switch rapid.IntRange(0, 3).Draw(rt, "step") {
	case 0: // within the maximum offset
		h.small[id] = time.Duration(rapid.IntRange(-200, 200).Draw(rt, "ms")) * time.Millisecond
	case 1:
		h.large[id] = -time.Hour
	case 2:
		h.large[id] = 24 * time.Hour
		h.dayAhead = true
	case 3: // set right
		h.large[id] = 0
	}
	h.setClock(id)
}

// secondStep starts a second process under a region's ID, from a copy of
// its disk or of an older backup, or, if one runs, has peers' messages
// reach it or the first, or stops one of the two for good.
func (h *accidents) secondStep() {
	rt, c := h.rt, h.c
	id := h.pick.Draw(rt, "second")
	nd := c.nodes[id]
	if d := h.second[id]; d != nil {
		switch rapid.IntRange(0, 2).Draw(rt, "secondStep") {
		case 0: // peers' messages now reach the second
			c.net.Attach(id, d.r)
		case 1: // or the first
			c.net.Attach(id, nd.r)
		default:
			h.stop(id, rapid.Bool().Draw(rt, "firstGoes"))
		}
		return
	}
	if !nd.up {
		return
	}
	from := disk{nd.snap, nd.journal}
	if len(nd.saved) > 0 && rapid.Bool().Draw(rt, "backup") {
		from = nd.saved[rapid.IntRange(0, len(nd.saved)-1).Draw(rt, "which")]
	}
	// On this host, or on another whose clock is off a little, or an
	// hour behind.
	own := new(atomic.Int64)
	own.Store(c.skew[id].Load() + int64(rapid.SampledFrom([]time.Duration{0, 300 * time.Millisecond, -300 * time.Millisecond, -time.Hour}).Draw(rt, "secondClock")))
	firstClock := c.skew[id]
	c.skew[id] = own
	d := c.open(id, from.snap, from.journal)
	c.skew[id] = firstClock
	h.secondClock[id] = own
	c.persistNode(d)
	h.second[id] = d
	if rapid.Bool().Draw(rt, "attachSecond") {
		c.net.Attach(id, d.r) // peers' messages reach the second
	}
}

// replay delivers messages sent earlier, of this run or of runs ended
// since, again: to a region, or to a second process running under its ID.
func (h *accidents) replay() {
	rt := h.rt
	for range rapid.IntRange(1, 20).Draw(rt, "replays") {
		if len(h.log) == 0 {
			break
		}
		m := h.log[rapid.IntRange(0, len(h.log)-1).Draw(rt, "old")]
		if d := h.second[m.to]; d != nil && rapid.Bool().Draw(rt, "toSecond") {
			_ = d.r.Receive(h.ctx, m.from, m.msg)
		} else if nd := h.c.nodes[m.to]; nd.up {
			_ = nd.r.Receive(h.ctx, m.from, m.msg)
		}
	}
}

// wait lets the test's time pass.
func (h *accidents) wait() {
	h.c.now.Add(int64(rapid.SampledFrom([]time.Duration{time.Second, time.Minute, time.Hour}).Draw(h.rt, "wait")))
}

// save saves a write that process via of region id just made: a second
// process saves at once; the first at once, with what it had not saved,
// or later. It reports whether the write is saved.
func (h *accidents) save(id crdt.ReplicaID, via *node) bool {
	switch {
	case via != h.c.nodes[id]:
		h.c.persistNode(via)
	case rapid.IntRange(0, 3).Draw(h.rt, "unsaved") > 0:
		h.c.persist(id)
		h.ackUnsaved(id)
	default:
		return false
	}
	return true
}

// killMidSave kills region id (kill -9) in the middle of the save of its
// last write: the journal's last record is lost or cut short (a snapshot
// is written aside and renamed: the old one stays).
func (h *accidents) killMidSave(id crdt.ReplicaID) {
	c, nd := h.c, h.c.nodes[id]
	killed := errors.New("killed")
	if c.journal && nd.snap != nil {
		_ = nd.r.SaveOps(func(rec []byte) error {
			if cut := rapid.IntRange(0, len(rec)-1).Draw(h.rt, "cut"); cut > 0 {
				nd.journal = append(slices.Clone(nd.journal), rec[:cut])
			}
			return killed
		})
	} else {
		_ = nd.r.SaveSnapshot(func([]byte) error { return killed })
	}
	c.crash(id)
}

// removeOrAddBack removes a region by mistake (RemovePeer) on every other
// region or on some, or adds it back, by every one that removed it; it may
// come back with an empty disk.
func (h *accidents) removeOrAddBack() {
	rt, c := h.rt, h.c
	x := h.pick.Draw(rt, "removed")
	back := false
	for _, id := range c.ids {
		if c.removed[id][x] {
			back = true
			delete(c.removed[id], x)
			h.addPeer(id, x)
		}
	}
	if back {
		if nd := c.nodes[x]; nd.up && h.second[x] == nil && rapid.Bool().Draw(rt, "emptyDisk") {
			c.crash(x)
			h.dropUnsaved(x)
			nd.snap, nd.journal = nil, nil
			h.loseDisk(x)
			c.restart(x)
		}
		return
	}
	everywhere := rapid.Bool().Draw(rt, "everywhere")
	for _, id := range c.ids {
		if id == x || !everywhere && !rapid.Bool().Draw(rt, "removes") {
			continue
		}
		if c.removed[id] == nil {
			c.removed[id] = map[crdt.ReplicaID]bool{}
		}
		c.removed[id][x] = true
		if c.nodes[id].up {
			c.nodes[id].r.RemovePeer(x)
		}
		if d := h.second[id]; d != nil {
			d.r.RemovePeer(x)
		}
	}
}

// addPeer adds x back at region id, at both its processes.
func (h *accidents) addPeer(id, x crdt.ReplicaID) {
	if h.c.nodes[id].up {
		if err := h.c.nodes[id].r.AddPeer(x); err != nil {
			h.rt.Fatal(err)
		}
	}
	if d := h.second[id]; d != nil {
		if err := d.r.AddPeer(x); err != nil {
			h.rt.Fatal(err)
		}
	}
}

// faultsStop ends the accidents: every removed region is added back, every
// second process is stopped, clocks are set right, crashed regions
// restart, the others save what they had not, the network heals and stops
// losing, duplicating and corrupting messages. Messages are no longer
// recorded.
func (h *accidents) faultsStop() {
	c := h.c
	h.noteRemoved()
	for _, id := range c.ids {
		for x := range c.removed[id] {
			h.addPeer(id, x)
		}
		clear(c.removed[id])
	}
	for _, id := range c.ids {
		if h.second[id] != nil {
			h.stop(id, false)
		}
		h.small[id], h.large[id] = 0, 0
		h.setClock(id)
	}
	h.recordOn = false
	for _, id := range c.ids {
		if !c.nodes[id].up {
			c.restart(id)
		} else if h.hasUnsaved(id) {
			c.persist(id)
			h.ackUnsaved(id)
		}
	}
	c.net.HealAll()
	c.net.Loss, c.net.Duplicate, c.net.Corrupt = 0, 0, 0
}
