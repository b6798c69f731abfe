package lwwmap

import (
	"fmt"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// B3.1 of the crdt-benchmarks suite: 20·√6000 ≈ 1,540 replicas each set
// one key of a map at once, concurrently; one replica then takes in every
// update. Each replica's update here is its put op, encoded as it would
// travel alone (inside an engine message it also shares the message's
// framing). Reported: the bytes of the updates per write, the size of the
// resulting state, and the time to apply every update.
const b31Writers = 1540

// b31At is the physical time of every write: a whole millisecond, as the
// system clock reads (clock.New), so that an op of format version 3
// carries it in milliseconds.
var b31At = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC).UnixNano()

func b31Clock() *clock.Clock { return clock.New(clock.WithSource(func() int64 { return b31At })) }

// b31Updates returns the encoded put op of each of the writers, each
// setting key "v" to its index, all at the same physical time.
func b31Updates(tb testing.TB) [][]byte {
	ups := make([][]byte, b31Writers)
	for i := range ups {
		clk := b31Clock()
		m := New[string, int](vclock.ReplicaID(fmt.Sprintf("r%d", i)), clk)
		b, err := m.Put("v", i).MarshalBinary()
		if err != nil {
			tb.Fatal(err)
		}
		ups[i] = b
	}
	return ups
}

func BenchmarkB31ConcurrentSetsOfOneKey(b *testing.B) {
	ups := b31Updates(b)
	total := 0
	for _, u := range ups {
		total += len(u)
	}
	var m *Map[string, int]
	b.ReportAllocs()
	for b.Loop() {
		m = New[string, int]("reader", b31Clock())
		for _, u := range ups {
			if _, err := m.ApplyBinary(u); err != nil {
				b.Fatal(err)
			}
		}
	}
	doc, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	if v, ok := m.Get("v"); !ok || v != 0 {
		// Equal timestamps: the smallest writer wins, "r0".
		b.Fatalf("v = %d, %v; want the write of r0", v, ok)
	}
	b.ReportMetric(float64(total)/b31Writers, "update-B/write")
	b.ReportMetric(float64(total), "updates-B")
	b.ReportMetric(float64(len(doc)), "doc-B")
}
