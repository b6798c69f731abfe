package register

import (
	"bytes"
	"errors"
	"maps"
	"sync/atomic"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// t0 is the physical time the tests start at: 2026-11-23T10:00:00Z.
var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()

// fakeTime is a physical time source the test moves by hand.
type fakeTime struct{ ns atomic.Int64 }

func newFakeTime(ns int64) *fakeTime {
	f := &fakeTime{}
	f.ns.Store(ns)
	return f
}

func (f *fakeTime) now() int64          { return f.ns.Load() }
func (f *fakeTime) add(d time.Duration) { f.ns.Add(int64(d)) }
func (f *fakeTime) set(ns int64)        { f.ns.Store(ns) }
func (f *fakeTime) clock(opts ...clock.Option) *clock.Clock {
	return clock.New(append([]clock.Option{clock.WithSource(f.now)}, opts...)...)
}

// A sim is a few replicas joined by a network that loses, duplicates and
// reorders messages, with a record of which writes each replica has seen,
// kept apart from the data types, for naive models to use.
type sim struct {
	t      *rapid.T
	nodes  []*simNode
	flight []simMsg
	writes []simWrite

	refused int // deliveries refused for clock skew
}

type simNode struct {
	id    crdt.ReplicaID
	obj   crdt.Object
	time  *fakeTime
	known map[int]bool // indexes of the writes this replica has seen
}

type simMsg struct {
	to    int
	op    bool // an op; otherwise a whole state
	data  []byte
	known map[int]bool // the writes this message carries knowledge of
}

// simWrite is one write made during a run.
type simWrite struct {
	node int
	seq  int          // 1 for the writer's first write, and so on
	past map[int]bool // the writes its replica had seen when it wrote
	op   any          // the typed op, for the model
}

var simIDs = []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1", "us-west-2", "sa-east-1"}

// newSim makes n replicas; mk builds replica i's object on its own time
// source.
func newSim(t *rapid.T, n int, mk func(i int, id crdt.ReplicaID, tm *fakeTime) crdt.Object) *sim {
	s := &sim{t: t}
	for i := range n {
		tm := newFakeTime(t0)
		id := simIDs[i]
		s.nodes = append(s.nodes, &simNode{id: id, obj: mk(i, id, tm), time: tm, known: map[int]bool{}})
	}
	return s
}

// wrote records a write made by replica i and sends its op to every other
// replica.
func (s *sim) wrote(i int, op any, data []byte) {
	w := len(s.writes)
	seq := 1
	for _, x := range s.writes {
		if x.node == i {
			seq++
		}
	}
	past := maps.Clone(s.nodes[i].known)
	s.writes = append(s.writes, simWrite{node: i, seq: seq, past: past, op: op})
	s.nodes[i].known[w] = true
	carried := maps.Clone(past)
	carried[w] = true
	for j := range s.nodes {
		if j != i {
			s.flight = append(s.flight, simMsg{to: j, op: true, data: data, known: carried})
		}
	}
}

// sendState queues replica i's whole state for replica j.
func (s *sim) sendState(i, j int) {
	data, err := s.nodes[i].obj.MarshalBinary()
	if err != nil {
		s.t.Fatalf("encoding the state of %s: %v", s.nodes[i].id, err)
	}
	s.flight = append(s.flight, simMsg{to: j, data: data, known: maps.Clone(s.nodes[i].known)})
}

// deliver hands message k to its replica. A message refused for clock skew
// stays in flight, and the refusal must have changed nothing.
func (s *sim) deliver(k int) {
	m := s.flight[k]
	n := s.nodes[m.to]
	before, err := n.obj.MarshalBinary()
	if err != nil {
		s.t.Fatalf("encoding the state of %s: %v", n.id, err)
	}
	if m.op {
		_, err = n.obj.ApplyBinary(m.data)
	} else {
		_, err = n.obj.MergeBinary(m.data)
	}
	if errors.Is(err, clock.ErrClockSkew) {
		s.refused++
		after, _ := n.obj.MarshalBinary()
		if !bytes.Equal(before, after) {
			s.t.Fatalf("%s: a message refused for skew changed the state", n.id)
		}
		return
	}
	if err != nil {
		s.t.Fatalf("%s: delivering a message: %v", n.id, err)
	}
	s.flight = append(s.flight[:k], s.flight[k+1:]...)
	maps.Copy(n.known, m.known)
}

// step draws one network or clock event, or a write through write(i).
func (s *sim) step(write func(i int)) {
	t := s.t
	n := len(s.nodes)
	switch rapid.IntRange(0, 6).Draw(t, "event") {
	case 0, 1: // write
		write(rapid.IntRange(0, n-1).Draw(t, "writer"))
	case 2, 3: // deliver any message in flight: reordering
		if len(s.flight) > 0 {
			s.deliver(rapid.IntRange(0, len(s.flight)-1).Draw(t, "deliver"))
		}
	case 4: // duplicate or lose a message
		if len(s.flight) > 0 {
			k := rapid.IntRange(0, len(s.flight)-1).Draw(t, "message")
			if rapid.Bool().Draw(t, "duplicate") {
				s.flight = append(s.flight, s.flight[k])
			} else {
				s.flight = append(s.flight[:k], s.flight[k+1:]...)
			}
		}
	case 5: // a whole state travels
		i := rapid.IntRange(0, n-1).Draw(t, "from")
		j := rapid.IntRange(0, n-1).Draw(t, "to")
		if i != j {
			s.sendState(i, j)
		}
	case 6: // physical time moves, at times backwards
		i := rapid.IntRange(0, n-1).Draw(t, "node")
		s.nodes[i].time.add(time.Duration(rapid.Int64Range(-int64(50*time.Millisecond), int64(2*time.Second)).Draw(t, "tick")))
	}
}

// finish ends the run with a reliable exchange: every replica's clock is
// brought past every timestamp issued, every message in flight is
// delivered, then every state is merged into replica 0 and replica 0's
// state into every other.
func (s *sim) finish() {
	var latest int64
	for _, n := range s.nodes {
		latest = max(latest, n.time.now())
	}
	for _, n := range s.nodes {
		n.time.set(latest + int64(time.Minute))
	}
	for len(s.flight) > 0 {
		k := rapid.IntRange(0, len(s.flight)-1).Draw(s.t, "final delivery")
		before := len(s.flight)
		s.deliver(k)
		if len(s.flight) == before {
			s.t.Fatalf("a message was still refused after clocks caught up")
		}
	}
	for i := 1; i < len(s.nodes); i++ {
		s.sendState(i, 0)
	}
	for len(s.flight) > 0 {
		s.deliver(0)
	}
	for j := 1; j < len(s.nodes); j++ {
		s.sendState(0, j)
	}
	for len(s.flight) > 0 {
		s.deliver(0)
	}
	for _, n := range s.nodes {
		if len(n.known) != len(s.writes) {
			s.t.Fatalf("%s has seen %d of %d writes after the final exchange", n.id, len(n.known), len(s.writes))
		}
	}
}

// isDecodeError reports whether err is a *codec.DecodeError.
func isDecodeError(err error) bool {
	var de *codec.DecodeError
	return errors.As(err, &de)
}
