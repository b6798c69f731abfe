package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"pgregory.net/rapid"
)

// failer is what the test helpers need of a *testing.T, a *testing.B or a
// *rapid.T (so that a property's failures shrink).
type failer interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// cluster is a set of replicas, each holding one gset named "s", over a
// memnet network, with time driven by the test.
type cluster struct {
	t     failer
	net   *memnet.Network
	now   *atomic.Int64
	ids   []crdt.ReplicaID
	nodes map[crdt.ReplicaID]*node
	cfg   func(*crdt.Config)
	bcast bool // replicas send through memnet's broadcasting transport
	// journal makes replicas persist most updates with SaveOps, and a
	// snapshot (which empties the journal) every fourth save.
	journal bool
	// legacy makes the sets ignore the replicas' writers (see gset).
	legacy bool
	// orset gives every replica an OR-Set named "o" too, whose elements
	// can be removed, and a last-writer-wins register named "w", whose
	// writes carry the replica's clock.
	orset bool
	// maps gives every replica an LWW-map named "m" and an OR-Map of
	// counters named "c" too.
	maps bool
	// older gives every replica a PN counter named "p", a multi-value
	// register named "v" and an LWW-map named "t" whose keys are given
	// times to live.
	older bool
	// removed holds, per replica, the peers its operator removed
	// (RemovePeer): its runs do not add them, and remove them again after
	// a restore, whose snapshot lists them.
	removed map[crdt.ReplicaID]map[crdt.ReplicaID]bool
	// skew holds, per replica, how far its host clock is off the test's
	// time (zero unless a test steps it).
	skew map[crdt.ReplicaID]*atomic.Int64
	// stopAtBadRecord makes a restart stop replaying the journal at the
	// first record refused (missing records, one cut short), run with what
	// replayed and save a snapshot at once, as the Replay docs allow; else
	// a refused record fails the test.
	stopAtBadRecord bool
	// replayStops counts the restarts that stopped at a refused record.
	replayStops int
}

type node struct {
	r       *crdt.Replica
	set     *crdt.Handle[*gset]
	or      *crdt.Handle[*orset.Set[string]]                 // if the cluster has one
	reg     *crdt.Handle[*register.LWW[string]]              // likewise
	kv      *crdt.Handle[*lwwmap.Map[string, string]]        // if the cluster has maps
	cnt     *crdt.Handle[*ormap.Map[string, *ormap.Counter]] // likewise
	pn      *crdt.Handle[*counter.PN]                        // if the cluster has the older types
	mv      *crdt.Handle[*register.MV[string]]               // likewise
	tm      *crdt.Handle[*lwwmap.Map[string, string]]        // likewise
	snap    []byte
	journal [][]byte // records saved since snap
	saves   int
	up      bool
	// snapshotNext makes the next save a snapshot, which drops the journal.
	snapshotNext bool
	// replaced is the journal the last snapshot replaced.
	replaced [][]byte
	// saved holds every state the node ever had on disk, oldest first,
	// for restarts from an older backup.
	saved []disk
}

// disk is what a node had on disk at one time.
type disk struct {
	snap    []byte
	journal [][]byte
}

func newCluster(t failer, seed uint64, n int, cfg func(*crdt.Config)) *cluster {
	return newClusterBroadcast(t, seed, n, cfg, false)
}

// newClusterBroadcast is newCluster whose transports also implement
// crdt.Broadcaster if bcast is set.
func newClusterBroadcast(t failer, seed uint64, n int, cfg func(*crdt.Config), bcast bool) *cluster {
	c := &cluster{t: t, net: memnet.New(seed), now: new(atomic.Int64), nodes: map[crdt.ReplicaID]*node{}, cfg: cfg, bcast: bcast,
		skew: map[crdt.ReplicaID]*atomic.Int64{}}
	c.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	for i := range n {
		id := crdt.ReplicaID(fmt.Sprintf("r%d", i))
		c.ids = append(c.ids, id)
		c.skew[id] = new(atomic.Int64)
	}
	for _, id := range c.ids {
		c.start(id, nil, nil)
	}
	return c
}

// start creates replica id, restoring snap and replaying journal if given,
// and attaches it.
func (c *cluster) start(id crdt.ReplicaID, snap []byte, journal [][]byte) {
	c.t.Helper()
	n := c.open(id, snap, journal)
	if old := c.nodes[id]; old != nil {
		n.saved = old.saved
	}
	c.nodes[id] = n
	c.net.Attach(id, n.r)
	// A host that persists saves at once, so that a crash before its first
	// write does not bring it back as a new replica under an old name.
	c.persistNode(n)
}

// open creates a run of replica id, restoring snap and replaying journal
// if given, neither attached to the network nor saved.
func (c *cluster) open(id crdt.ReplicaID, snap []byte, journal [][]byte) *node {
	c.t.Helper()
	n, err := c.openErr(id, snap, journal)
	if err != nil {
		c.t.Fatalf("restore %s: %v", id, err)
	}
	return n
}

// openErr is open, returning the error of a snapshot that Restore refuses
// (and no run) instead of failing the test.
func (c *cluster) openErr(id crdt.ReplicaID, snap []byte, journal [][]byte) (*node, error) {
	c.t.Helper()
	skew := c.skew[id]
	cfg := crdt.Config{
		ID:               id,
		Transport:        c.net.Transport(id),
		Clock:            clock.New(clock.WithSource(func() int64 { return c.now.Load() + skew.Load() })),
		AntiEntropyTicks: 25,
	}
	if c.bcast {
		cfg.Transport = c.net.BroadcastTransport(id)
	}
	// The host saves when a vote on a retirement waits for a save.
	var run *node
	cfg.OnSaveNeeded = func() {
		if run != nil {
			c.persistNode(run)
		}
	}
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	r, err := crdt.NewReplica(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	g := newGSet(id)
	g.legacy = c.legacy
	h, err := crdt.Register(r, "s", g)
	if err != nil {
		c.t.Fatal(err)
	}
	var or *crdt.Handle[*orset.Set[string]]
	var reg *crdt.Handle[*register.LWW[string]]
	if c.orset {
		if or, err = crdt.Register(r, "o", orset.New[string](id)); err != nil {
			c.t.Fatal(err)
		}
		if reg, err = crdt.Register(r, "w", register.NewLWW[string](id, cfg.Clock)); err != nil {
			c.t.Fatal(err)
		}
	}
	var kv *crdt.Handle[*lwwmap.Map[string, string]]
	var cnt *crdt.Handle[*ormap.Map[string, *ormap.Counter]]
	if c.maps {
		if kv, err = crdt.Register(r, "m", lwwmap.New[string, string](id, cfg.Clock)); err != nil {
			c.t.Fatal(err)
		}
		if cnt, err = crdt.Register(r, "c", ormap.New[string, *ormap.Counter](id)); err != nil {
			c.t.Fatal(err)
		}
	}
	var pn *crdt.Handle[*counter.PN]
	var mv *crdt.Handle[*register.MV[string]]
	var tm *crdt.Handle[*lwwmap.Map[string, string]]
	if c.older {
		if pn, err = crdt.Register(r, "p", counter.NewPN(id)); err != nil {
			c.t.Fatal(err)
		}
		if mv, err = crdt.Register(r, "v", register.NewMV[string](id)); err != nil {
			c.t.Fatal(err)
		}
		if tm, err = crdt.Register(r, "t", lwwmap.New[string, string](id, cfg.Clock)); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, p := range c.ids {
		if p != id && !c.removed[id][p] {
			if err := r.AddPeer(p); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	stopped := false
	if snap != nil {
		if err := r.Restore(snap); err != nil {
			return nil, err
		}
		for i, rec := range journal {
			err := r.Replay(rec)
			if err == nil {
				continue
			}
			var de *codec.DecodeError
			if !c.stopAtBadRecord || !errors.Is(err, crdt.ErrJournalGap) && !errors.As(err, &de) {
				c.t.Fatalf("replay %s: %v", id, err)
			}
			// The host runs with what replayed, and drops the rest of
			// its journal with its next save.
			journal, stopped = journal[:i:i], true
			c.replayStops++
			break
		}
	}
	for p := range c.removed[id] {
		r.RemovePeer(p) // the snapshot listed it
	}
	run = &node{r: r, set: h, or: or, reg: reg, kv: kv, cnt: cnt, pn: pn, mv: mv, tm: tm, snap: snap, journal: journal, up: true, snapshotNext: stopped}
	return run, nil
}

func (c *cluster) add(id crdt.ReplicaID, e string) {
	c.t.Helper()
	n := c.nodes[id]
	if err := n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
		c.t.Fatal(err)
	}
	c.persist(id)
}

func (c *cluster) persist(id crdt.ReplicaID) {
	c.t.Helper()
	c.persistNode(c.nodes[id])
}

// persistNode saves run n: most often a journal record, if the cluster
// keeps a journal, else a snapshot.
func (c *cluster) persistNode(n *node) {
	c.t.Helper()
	n.saves++
	if c.journal && n.saves%4 != 0 && !n.snapshotNext {
		err := n.r.SaveOps(func(rec []byte) error {
			// Append to a copy: a journal restored from a copy of a disk
			// (a second process's, a backup) shares its array with the
			// original, and an append in place would write this record
			// into the other disk's journal too.
			n.journal = append(slices.Clip(n.journal), rec)
			n.saved = append(n.saved, disk{n.snap, slices.Clone(n.journal)})
			return nil
		})
		if err == nil {
			return
		}
		if !errors.Is(err, crdt.ErrNoSnapshot) && !errors.Is(err, crdt.ErrSnapshotNeeded) {
			c.t.Fatal(err)
		}
	}
	// A snapshot holds everything the journal did: the host empties it
	// in the same write.
	err := n.r.SaveSnapshot(func(snap []byte) error {
		n.replaced = n.journal
		n.snap, n.journal = snap, nil
		n.saved = append(n.saved, disk{snap, nil})
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	n.snapshotNext = false
}

func (c *cluster) crash(id crdt.ReplicaID) {
	c.net.Detach(id)
	c.nodes[id].up = false
}

func (c *cluster) restart(id crdt.ReplicaID) {
	c.start(id, c.nodes[id].snap, c.nodes[id].journal)
}

// round ticks every live replica, delivers what is eligible and moves time
// on by 10ms.
func (c *cluster) round() {
	ctx := context.Background()
	for _, id := range c.ids {
		if n := c.nodes[id]; n.up {
			_ = n.r.Tick(ctx)
		}
	}
	c.net.DeliverAll(ctx)
	c.now.Add(int64(10 * time.Millisecond))
}

func (c *cluster) elems(id crdt.ReplicaID) []string {
	var out []string
	c.nodes[id].set.Read(func(s *gset) { out = s.Elems() })
	return out
}

// converged reports whether every replica holds want and has nothing left
// to send.
func (c *cluster) converged(want []string) bool {
	for _, id := range c.ids {
		if !slices.Equal(c.elems(id), want) {
			return false
		}
		for _, p := range c.nodes[id].r.Stats().Peers {
			if p.PendingOps != 0 {
				return false
			}
		}
	}
	return true
}

// settle runs rounds until the cluster converges on want, and returns how
// many it took; it fails the test after limit rounds.
func (c *cluster) settle(want []string, limit int) int {
	c.t.Helper()
	for i := range limit {
		if c.converged(want) {
			return i
		}
		c.round()
	}
	for _, id := range c.ids {
		st := c.nodes[id].r.Stats()
		c.t.Logf("%s: elems %v stats %+v", id, c.elems(id), st)
	}
	c.t.Fatalf("no convergence on %v after %d rounds (last receive error: %v)", want, limit, c.net.LastError())
	return limit
}

func TestTwoReplicasConverge(t *testing.T) {
	c := newCluster(t, 1, 2, nil)
	c.add("r0", "apple")
	c.add("r1", "pear")
	c.add("r0", "fig")
	c.settle([]string{"apple", "fig", "pear"}, 20)
}

// TestConvergenceUnderFaults drives 2–5 replicas through random writes,
// lossy, duplicating, reordering and delaying delivery, partitions and
// crashes with restarts from snapshots, over unicast or broadcasting
// transports. Once the faults stop, every replica
// must hold exactly the writes that were acknowledged (persisted before the
// write returned), and have nothing left to send.
func TestConvergenceUnderFaults(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(rt, "replicas")
		// Without periodic anti-entropy, convergence rests on the op stream,
		// its retransmission and the catch-up of peers that fell behind.
		antiEntropy := rapid.SampledFrom([]int{-1, 25}).Draw(rt, "antiEntropy")
		// Small messages make catch-ups go in chunks, digests in parts.
		maxMsg := rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes")
		// Or each replica takes messages of its own size, drawn again at
		// each restart (a rolling change of the setting).
		mixed := rapid.Bool().Draw(rt, "mixedLimits")
		largest := maxMsg
		// Long elements make states that do not fit in small messages.
		pad := strings.Repeat("-", rapid.SampledFrom([]int{0, 80}).Draw(rt, "padding"))
		c := newClusterBroadcast(rt, rapid.Uint64().Draw(rt, "seed"), n, func(cfg *crdt.Config) {
			cfg.MaxLogOps = 16 // small, so peers that are away fall out of the log
			cfg.AntiEntropyTicks = antiEntropy
			cfg.MaxMessageBytes = maxMsg
			if mixed {
				cfg.MaxMessageBytes = rapid.SampledFrom([]int{crdt.MinMessageBytes, 1500, 1 << 20}).Draw(rt, "maxMessageBytes-"+string(cfg.ID))
				largest = max(largest, cfg.MaxMessageBytes)
			}
		}, rapid.Bool().Draw(rt, "broadcast"))
		c.journal = rapid.Bool().Draw(rt, "journal")
		c.net.Loss = rapid.Float64Range(0, 0.4).Draw(rt, "loss")
		c.net.Duplicate = rapid.Float64Range(0, 0.3).Draw(rt, "dup")
		c.net.Reorder = rapid.Bool().Draw(rt, "reorder")
		c.net.MaxDelay = rapid.IntRange(0, 3).Draw(rt, "delay")
		c.net.Corrupt = rapid.Float64Range(0, 0.2).Draw(rt, "corrupt")
		pick := rapid.SampledFrom(c.ids)
		writer := map[string]crdt.ReplicaID{}

		// model holds the acknowledged writes: saved before the write
		// returned. unsaved holds, per replica, writes it made and has not
		// saved yet; maybe, those a crash caught unsaved. Such writes may
		// survive (a peer got them) or not, but every replica must end up
		// agreeing.
		var model, maybe []string
		unsaved := map[crdt.ReplicaID][]string{}
		steps := rapid.IntRange(1, 120).Draw(rt, "steps")
		for i := range steps {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2, 3:
				id := pick.Draw(rt, "writer")
				if !c.nodes[id].up {
					continue
				}
				e := fmt.Sprintf("e%03d%s", i, pad)
				writer[e] = id
				if rapid.IntRange(0, 3).Draw(rt, "unsaved") > 0 {
					c.add(id, e) // saves: acknowledged, with what was unsaved
					model = append(model, e)
					model = append(model, unsaved[id]...)
					unsaved[id] = nil
					continue
				}
				if err := c.nodes[id].set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
					rt.Fatal(err)
				}
				unsaved[id] = append(unsaved[id], e)
			case 4, 5, 6:
				c.round()
			case 7:
				a, b := pick.Draw(rt, "a"), pick.Draw(rt, "b")
				if a != b {
					c.net.Partition(a, b)
				}
			case 8:
				c.net.Heal(pick.Draw(rt, "a"), pick.Draw(rt, "b"))
			case 9:
				id := pick.Draw(rt, "crash")
				if c.nodes[id].up {
					c.crash(id)
					maybe = append(maybe, unsaved[id]...)
					unsaved[id] = nil
				} else {
					switch rapid.IntRange(0, 5).Draw(rt, "restartFrom") {
					case 0:
						// An operator's accident: the region comes back
						// with an empty disk, or from an older backup. Its
						// own writes that no peer held are lost with it;
						// every replica must still agree.
						n := c.nodes[id]
						from := disk{}
						if len(n.saved) > 0 && rapid.Bool().Draw(rt, "backup") {
							from = n.saved[rapid.IntRange(0, len(n.saved)-1).Draw(rt, "which")]
						}
						model = slices.DeleteFunc(model, func(e string) bool {
							if writer[e] == id {
								maybe = append(maybe, e)
								return true
							}
							return false
						})
						n.snap, n.journal = from.snap, from.journal
						c.restart(id)
					default:
						c.restart(id)
					}
				}
			}
		}
		for _, id := range c.ids {
			if !c.nodes[id].up {
				c.restart(id)
			} else if len(unsaved[id]) > 0 {
				c.persist(id) // the save that was under way completes
				model = append(model, unsaved[id]...)
			}
		}
		c.net.HealAll()
		c.net.Loss, c.net.Duplicate, c.net.Corrupt = 0, 0, 0
		c.settleWithin(model, maybe, 400)
		// Every finished run's writer is then retired, on every replica
		// alike, and nothing changes but the names.
		c.settleRetired(3000)
		c.settleWithin(model, maybe, 400)
		c.checkMessageBound(largest)
		// Crashes, lost disks and old backups leave replicas behind, never
		// holding other data at the same version: each run writes under a
		// writer of its own.
		if n := divergences(c); n != 0 {
			rt.Fatalf("%d divergences counted", n)
		}
		// One process at a time per replica: a run that ended does not
		// come back, though the network delays and reorders its last
		// messages past its successor's.
		if n := runsReturned(c); n != 0 {
			rt.Fatalf("a run of a replica counted coming back %d times, with one process at a time", n)
		}
	})
}

// runsReturned sums PeerStats.RunsReturned over c's replicas.
func runsReturned(c *cluster) uint64 {
	var n uint64
	for _, id := range c.ids {
		for _, p := range c.nodes[id].r.Stats().Peers {
			n += p.RunsReturned
		}
	}
	return n
}

// checkMessageBound fails the test if any message sent was larger than
// limit, or any replica made one it could not send.
func (c *cluster) checkMessageBound(limit int) {
	c.t.Helper()
	if got := c.net.Stats().Largest; got > limit {
		c.t.Fatalf("a message of %d bytes was sent; MaxMessageBytes is %d", got, limit)
	}
	for _, id := range c.ids {
		if n := c.nodes[id].r.Stats().Oversize; n > 0 {
			c.t.Fatalf("%s made %d messages over MaxMessageBytes %d", id, n, limit)
		}
	}
}

// settleWithin runs rounds until every replica holds the same elements,
// all of must and none but those of must and may, with nothing left to
// send; it fails the test after limit rounds.
func (c *cluster) settleWithin(must, may []string, limit int) {
	c.t.Helper()
	allowed := map[string]bool{}
	for _, e := range slices.Concat(must, may) {
		allowed[e] = true
	}
	done := func() bool {
		first := c.elems(c.ids[0])
		differ, busy := false, false
		for _, id := range c.ids {
			if !slices.Equal(c.elems(id), first) {
				differ = true
			}
			for _, p := range c.nodes[id].r.Stats().Peers {
				if p.PendingOps != 0 || p.AwaitingCatchUp {
					busy = true
				}
			}
		}
		if differ && !busy && c.net.Pending() == 0 {
			// No silent divergence: while replicas differ and nothing is
			// in flight, some figure must say that replication is not done.
			for _, id := range c.ids {
				c.t.Logf("%s: elems %v stats %+v", id, c.elems(id), c.nodes[id].r.Stats())
			}
			c.t.Fatalf("replicas differ while every peer shows nothing pending and no catch-up awaited")
		}
		if differ || busy {
			return false
		}
		for _, e := range first {
			if !allowed[e] {
				c.t.Fatalf("%s holds %q, which no replica wrote", c.ids[0], e)
			}
		}
		for _, e := range must {
			if !slices.Contains(first, e) {
				return false
			}
		}
		return true
	}
	for range limit {
		if done() {
			return
		}
		c.round()
	}
	for _, id := range c.ids {
		c.t.Logf("%s: elems %v stats %+v", id, c.elems(id), c.nodes[id].r.Stats())
	}
	slices.Sort(must)
	slices.Sort(may)
	c.t.Fatalf("no agreement holding %v (and maybe some of %v) after %d rounds (last receive error: %v)", must, may, limit, c.net.LastError())
}

// counting wraps a transport and counts the calls to it, keeping its
// Broadcast method if it has one.
type counting struct {
	crdt.Transport
	calls *int
}

func (c counting) Send(ctx context.Context, to crdt.ReplicaID, msg []byte) error {
	*c.calls++
	return c.Transport.Send(ctx, to, msg)
}

type countingBroadcaster struct{ counting }

func (c countingBroadcaster) Broadcast(ctx context.Context, to []crdt.ReplicaID, msg []byte) error {
	*c.calls++
	return c.Transport.(crdt.Broadcaster).Broadcast(ctx, to, msg)
}

// With a broadcasting transport, a run of ops due to several peers leaves
// once; the cluster converges on the same result with fewer messages.
func TestBroadcastSendsOpsOnce(t *testing.T) {
	calls := map[bool]int{} // messages r0 handed its transport while writing
	for _, bcast := range []bool{false, true} {
		n := new(int)
		c := newClusterBroadcast(t, 5, 4, func(cfg *crdt.Config) {
			cfg.AntiEntropyTicks = -1
			if cfg.ID != "r0" {
				return
			}
			if _, ok := cfg.Transport.(crdt.Broadcaster); ok {
				cfg.Transport = countingBroadcaster{counting{cfg.Transport, n}}
			} else {
				cfg.Transport = counting{cfg.Transport, n}
			}
		}, bcast)
		c.settle([]string{}, 20) // first contact: digests go peer by peer
		*n = 0
		var want []string
		for i := range 30 {
			e := fmt.Sprintf("e%02d", i)
			c.add("r0", e)
			want = append(want, e)
			c.round()
		}
		c.settle(want, 50)
		calls[bcast] = *n
		r0 := c.nodes["r0"].r.Stats()
		if bcast {
			if c.net.Stats().Broadcasts == 0 || r0.Broadcasts == 0 {
				t.Fatalf("no broadcast sent: network %+v, r0 %d", c.net.Stats(), r0.Broadcasts)
			}
			// Each of r0's peers counts every broadcast it was sent.
			for _, p := range r0.Peers {
				if p.MessagesSent < r0.Broadcasts {
					t.Fatalf("peer %s: %d messages sent, fewer than the %d broadcasts", p.Peer, p.MessagesSent, r0.Broadcasts)
				}
			}
		} else if c.net.Stats().Broadcasts != 0 || r0.Broadcasts != 0 {
			t.Fatalf("broadcasts over a transport without Broadcast: %d, %d", c.net.Stats().Broadcasts, r0.Broadcasts)
		}
	}
	// Each op leaves r0 once instead of once per peer (three).
	if calls[true] < 30 || 2*calls[true] > calls[false] {
		t.Fatalf("r0 sent %d messages with broadcast, %d without: want at least 30 and under half", calls[true], calls[false])
	}
	t.Logf("r0 sent %d messages with broadcast, %d without", calls[true], calls[false])
}
