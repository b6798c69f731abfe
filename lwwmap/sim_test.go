package lwwmap

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// This file holds a small simulation of replicas exchanging ops, states and
// deltas over an unreliable network, and the deliberately naive model the
// replicas are checked against.

// start is an arbitrary wall time the tests' clocks start from.
var start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()

// fakeTime is a physical time source driven by the test.
type fakeTime struct{ now int64 }

func (f *fakeTime) source(offset int64) clock.Source {
	return func() int64 { return f.now + offset }
}

// write is one write as the model sees it.
type write struct {
	key   string
	value int
	del   bool
	ts    clock.Timestamp
	id    crdt.ReplicaID
	dot   vclock.Dot
}

// beats reports whether w wins over o by the rule as the documentation
// states it: the later timestamp, and on a tie the smaller replica ID.
func (w write) beats(o write) bool {
	if w.ts != o.ts {
		return w.ts.After(o.ts)
	}
	return w.id < o.id
}

// model computes, without any of the package's machinery, what a map that
// has seen the given writes must show: for each key the winning write's
// value, or nothing if it is a delete.
func model(writes []write) map[string]int {
	best := map[string]write{}
	for _, w := range writes {
		if b, ok := best[w.key]; !ok || w.beats(b) {
			best[w.key] = w
		}
	}
	out := map[string]int{}
	for k, w := range best {
		if !w.del {
			out[k] = w.value
		}
	}
	return out
}

// contents returns the visible content of m as a plain map.
func contents[K comparable, V any](m *Map[K, V]) map[K]V {
	return maps.Collect(m.All())
}

type dotSet map[vclock.Dot]bool

// message is one message in flight. The simulation records what the
// message teaches its receiver (the dots of the writes it carries or
// summarises), independently of the code under test.
type message struct {
	to    int
	op    *Op[string, int]
	state *Map[string, int]
	bytes []byte // the op or state encoded, when it travels as bytes
	knows dotSet
}

type sim struct {
	t      *rapid.T
	time   *fakeTime
	reps   []*Map[string, int]
	clocks []*clock.Clock
	known  []dotSet // what each replica has applied, by the simulation's account
	writes []write
	ops    []Op[string, int]
	net    []message
	next   int // the next value to put; values are unique
	// versions holds, for each replica, versions it really had.
	versions [][]vclock.Clock
	// snapshots holds clones of replicas taken along the way.
	snapshots []*Map[string, int]
	collect   bool // whether Collect runs during the simulation
	collected int
}

var keys = []string{"a", "b", "c", "d", "e"}

func newSim(t *rapid.T, collect bool) *sim {
	s := &sim{t: t, time: &fakeTime{now: start}, collect: collect}
	n := rapid.IntRange(2, 5).Draw(t, "replicas")
	for i := range n {
		// Offsets of a few milliseconds either way, and often none, so
		// that timestamp ties between replicas happen.
		off := rapid.SampledFrom([]int64{0, 0, 0, 3e6, -3e6, 1}).Draw(t, fmt.Sprintf("offset%d", i))
		clk := clock.New(clock.WithSource(s.time.source(off)))
		id := crdt.ReplicaID(fmt.Sprintf("r%d", i))
		s.reps = append(s.reps, New[string, int](id, clk))
		clk.Now() // the replica has been running: its clock has a reading
		s.clocks = append(s.clocks, clk)
		s.known = append(s.known, dotSet{})
		s.versions = append(s.versions, []vclock.Clock{{}})
	}
	return s
}

func (s *sim) record(i int, op Op[string, int]) {
	s.ops = append(s.ops, op)
	s.writes = append(s.writes, write{key: op.Key(), value: op.Value(), del: op.Deleted(), ts: op.Timestamp(), id: op.Replica(), dot: op.Dot()})
	s.known[i][op.Dot()] = true
	s.versions[i] = append(s.versions[i], s.reps[i].Version())
	// Broadcast the op; the network may lose, repeat or reorder it.
	for j := range s.reps {
		if j != i {
			msg := message{to: j, op: &op, knows: dotSet{op.Dot(): true}}
			if rapid.Bool().Draw(s.t, "op as bytes") {
				b, err := op.MarshalBinary()
				if err != nil {
					s.t.Fatalf("encoding %v: %v", op, err)
				}
				msg.bytes = b
			}
			s.net = append(s.net, msg)
		}
	}
}

// step runs one random action.
func (s *sim) step() {
	n := len(s.reps)
	switch a := rapid.IntRange(0, 11).Draw(s.t, "action"); {
	case a <= 2: // put
		i := rapid.IntRange(0, n-1).Draw(s.t, "replica")
		k := rapid.SampledFrom(keys).Draw(s.t, "key")
		s.next++
		s.record(i, s.reps[i].Put(k, s.next))
	case a <= 4: // delete
		i := rapid.IntRange(0, n-1).Draw(s.t, "replica")
		k := rapid.SampledFrom(keys).Draw(s.t, "key")
		s.record(i, s.reps[i].Delete(k))
	case a == 5: // time passes
		s.time.now += rapid.SampledFrom([]int64{0, 1, 1e6, 5e6}).Draw(s.t, "advance")
	case a == 6: // a state or a delta goes on the network
		from := rapid.IntRange(0, n-1).Draw(s.t, "from")
		to := rapid.IntRange(0, n-1).Draw(s.t, "to")
		var st *Map[string, int]
		if rapid.Bool().Draw(s.t, "delta") {
			// A delta against a version the receiver really had.
			vs := s.versions[to]
			v := vs[rapid.IntRange(0, len(vs)-1).Draw(s.t, "version")]
			st = s.reps[from].DeltaSince(v)
		} else {
			st = s.reps[from].Clone()
		}
		msg := message{to: to, state: st, knows: maps.Clone(s.known[from])}
		if rapid.Bool().Draw(s.t, "state as bytes") {
			b, err := st.MarshalBinary()
			if err != nil {
				s.t.Fatalf("encoding a state: %v", err)
			}
			msg.bytes = b
		}
		s.net = append(s.net, msg)
	case a <= 9: // the network delivers, drops or repeats a message
		if len(s.net) == 0 {
			return
		}
		k := rapid.IntRange(0, len(s.net)-1).Draw(s.t, "message")
		msg := s.net[k]
		switch rapid.IntRange(0, 3).Draw(s.t, "fate") {
		case 0:
			// dropped
		case 1:
			s.deliver(msg)
			return // delivered, and kept for a duplicate later
		default:
			s.deliver(msg)
		}
		s.net = slices.Delete(s.net, k, k+1)
	case a == 10 && rapid.Bool().Draw(s.t, "gossip"):
		// Now and then, a reliable round of gossip: every replica merges
		// every other's state.
		s.settle()
	default: // collect, or remember a snapshot
		i := rapid.IntRange(0, n-1).Draw(s.t, "replica")
		s.snapshots = append(s.snapshots, s.reps[i].Clone())
		if s.collect {
			if rapid.Bool().Draw(s.t, "collect by versions") {
				// Any version each other replica really had.
				var peers []vclock.Clock
				for j, vs := range s.versions {
					if j != i {
						k := len(vs) - 1 // usually the latest
						if rapid.IntRange(0, 3).Draw(s.t, "older version") == 0 {
							k = rapid.IntRange(0, k).Draw(s.t, "peer version")
						}
						peers = append(peers, vs[k])
					}
				}
				s.collected += s.reps[i].CollectVersions(peers)
			} else {
				s.collected += s.reps[i].Collect(s.stable())
			}
		}
	}
}

func (s *sim) deliver(msg message) {
	m := s.reps[msg.to]
	var err error
	switch {
	case msg.op != nil && msg.bytes != nil:
		_, err = m.ApplyBinary(msg.bytes)
	case msg.op != nil:
		err = m.Apply(*msg.op)
	case msg.bytes != nil:
		_, err = m.MergeBinary(msg.bytes)
	default:
		m.Merge(msg.state)
	}
	if err != nil {
		s.t.Fatalf("delivering to replica %d: %v", msg.to, err)
	}
	for d := range msg.knows {
		s.known[msg.to][d] = true
	}
	s.versions[msg.to] = append(s.versions[msg.to], m.Version())
}

// stable computes a point before which every replica has applied every
// write, and before which no replica can write anymore, from the
// simulation's own account of what each replica has applied.
func (s *sim) stable() clock.Timestamp {
	var st clock.Timestamp
	for i, c := range s.clocks {
		if l := c.Last(); i == 0 || l.Before(st) {
			st = l
		}
	}
	for _, w := range s.writes {
		for i := range s.reps {
			if !s.known[i][w.dot] && w.ts.Before(st) {
				st = w.ts
			}
		}
	}
	return st
}

// run takes the simulation through a random number of steps.
func (s *sim) run() {
	steps := rapid.IntRange(0, 150).Draw(s.t, "steps")
	for range steps {
		s.step()
	}
}

// settle ends the simulation with a reliable exchange: every replica merges
// what it lacks of every other's state, twice over, through the byte path
// the engine uses (a delta since its version, as a full state would also
// repair some damage a wrong Collect does, and hide it).
func (s *sim) settle() {
	for range 2 {
		for i := range s.reps {
			for j := range s.reps {
				v, err := s.reps[j].VersionBinary()
				if err != nil {
					s.t.Fatalf("encoding the version of replica %d: %v", j, err)
				}
				b, err := s.reps[i].DeltaSinceBinary(v)
				if err != nil {
					s.t.Fatalf("delta of replica %d: %v", i, err)
				}
				if _, err := s.reps[j].MergeBinary(b); err != nil {
					s.t.Fatalf("merging replica %d into %d: %v", i, j, err)
				}
				for d := range s.known[i] {
					s.known[j][d] = true
				}
				s.versions[j] = append(s.versions[j], s.reps[j].Version())
			}
		}
	}
}
