package crdt

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
)

// capture is a Transport that keeps what it is given.
type capture struct{ msgs [][]byte }

func (c *capture) Send(_ context.Context, _ ReplicaID, msg []byte) error {
	c.msgs = append(c.msgs, bytes.Clone(msg))
	return nil
}

// opsAsSent returns the bytes each op of msg took in it: the op with its
// writer left out where it is the sender's, as encode writes it.
func opsAsSent(tb testing.TB, msg []byte) []int {
	e, err := decodeEnvelope(msg, codec.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	var n []int
	for _, o := range e.Ops {
		if short, ok := codec.OmitReplica(nil, o.Op, string(e.Writer)); ok {
			n = append(n, len(short))
		} else {
			n = append(n, len(o.Op))
		}
	}
	return n
}

// BenchmarkAddOpBytes reports what one add op of a 10-byte key costs in
// an OR-Set registered with a replica: alone (Op.MarshalBinary, its writer
// "us-east-1!" and an epoch spelled out), inside an engine message (its
// writer by reference), the whole message carrying it alone, and each op
// of a message carrying 64. Issue 8's goal: at most 24 bytes.
func BenchmarkAddOpBytes(b *testing.B) {
	var alone, inside, msg1, per64 float64
	for b.Loop() {
		tr := &capture{}
		r, err := NewReplica(Config{ID: "us-east-1", Transport: tr})
		if err != nil {
			b.Fatal(err)
		}
		set := orset.New[string](r.ID())
		h, _ := Register(r, "s", set)
		_ = r.AddPeer("eu-west-1")
		var op []byte
		_ = h.Update(func(s *orset.Set[string]) (Op, error) {
			o := s.Add("key-000000")
			op, _ = o.MarshalBinary()
			return o, nil
		})
		_ = r.Tick(context.Background())
		alone = float64(len(op))
		inside = float64(opsAsSent(b, tr.msgs[0])[0])
		msg1 = float64(len(tr.msgs[0]))
		for i := range 64 {
			_ = h.Update(func(s *orset.Set[string]) (Op, error) { return s.Add(fmt.Sprintf("key-%06d", i+1)), nil })
		}
		tr.msgs = nil
		_ = r.Tick(context.Background())
		per64 = float64(len(tr.msgs[0])) / 64
	}
	if inside > 24 {
		b.Fatalf("an add op takes %v bytes inside a message, goal 24", inside)
	}
	b.ReportMetric(alone, "alone-B")
	b.ReportMetric(inside, "in-msg-B")
	b.ReportMetric(msg1, "msg-of-1-B")
	b.ReportMetric(per64, "msg-B/op-of-64")
}

// BenchmarkB31InsideEngine is B3.1 of the crdt-benchmarks suite (see
// lwwmap's BenchmarkB31ConcurrentSetsOfOneKey) through the engine: 1,540
// replicas r0 … r1539, each with a lwwmap.Map[string, int] registered,
// set key "v" to their index at one physical time, and each sends its one
// op in a message of its own to a reader, which receives them all. It
// reports the op's bytes inside the message (its writer by reference), the
// whole message's bytes, and the time to receive every message.
func BenchmarkB31InsideEngine(b *testing.B) {
	const writers = 1540
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).UnixNano()
	// A writer's replica starts 1 ms before the write (its first reading
	// of the clock), so that every write is at physical time at, logical
	// part 0, as in the benchmark without the engine; at is a whole
	// millisecond, as the system clock reads.
	newClock := func() *clock.Clock {
		started := false
		return clock.New(clock.WithSource(func() int64 {
			if !started {
				started = true
				return at - int64(time.Millisecond)
			}
			return at
		}))
	}
	msgs := make([][]byte, writers)
	ids := make([]ReplicaID, writers)
	opBytes := 0
	for i := range writers {
		tr := &capture{}
		ids[i] = ReplicaID(fmt.Sprintf("r%d", i))
		clk := newClock()
		r, err := NewReplica(Config{ID: ids[i], Transport: tr, Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		h, _ := Register(r, "m", lwwmap.New[string, int](ids[i], clk))
		_ = r.AddPeer("reader")
		if err := h.Update(func(m *lwwmap.Map[string, int]) (Op, error) { return m.Put("v", i), nil }); err != nil {
			b.Fatal(err)
		}
		if err := r.Tick(context.Background()); err != nil {
			b.Fatal(err)
		}
		msgs[i] = tr.msgs[0]
		opBytes += opsAsSent(b, msgs[i])[0]
	}
	msgBytes := 0
	for _, m := range msgs {
		msgBytes += len(m)
	}
	var h *Handle[*lwwmap.Map[string, int]]
	b.ReportAllocs()
	for b.Loop() {
		clk := newClock()
		r, err := NewReplica(Config{ID: "reader", Transport: &capture{}, Clock: clk})
		if err != nil {
			b.Fatal(err)
		}
		h, _ = Register(r, "m", lwwmap.New[string, int]("reader", clk))
		for _, id := range ids {
			_ = r.AddPeer(id)
		}
		for i, m := range msgs {
			if err := r.Receive(context.Background(), ids[i], m); err != nil {
				b.Fatal(err)
			}
		}
	}
	h.Read(func(m *lwwmap.Map[string, int]) {
		// Equal timestamps: the smallest writer wins, r0's.
		if v, ok := m.Get("v"); !ok || v != 0 {
			b.Fatalf("v = %d, %v; want the write of r0", v, ok)
		}
	})
	b.ReportMetric(float64(opBytes)/writers, "op-B/write")
	b.ReportMetric(float64(msgBytes)/writers, "msg-B/write")
}
