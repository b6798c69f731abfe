package orset

import (
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/internal/costcheck"
)

// scales are the sizes of the scale series: the cost per element should
// stay flat from one to the next.
var scales = []int{10_000, 100_000, 1_000_000}

func keysN(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = keyOf(i)
	}
	return keys
}

// BenchmarkMarshalScale encodes the state of sets of 10k, 100k and 1M
// elements added by one replica, and, beside it, msgpack of the bare keys
// (the floor). It reports the time and CPU time per element, the bytes
// per element, and what encoding allocates per byte of output
// ("alloc/out").
func BenchmarkMarshalScale(b *testing.B) {
	for _, n := range scales {
		keys := keysN(n)
		s := New[string]("us-east-1")
		for _, k := range keys {
			s.Add(k)
		}
		b.Run(fmt.Sprintf("set/%d", n), func(b *testing.B) {
			var out []byte
			alloc := costcheck.Allocated(func() { out, _ = s.MarshalBinary() })
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := s.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(len(out))/float64(n), "B/elem")
			b.ReportMetric(float64(alloc)/float64(len(out)), "alloc/out")
		})
		b.Run(fmt.Sprintf("floor-msgpack/%d", n), func(b *testing.B) {
			var out []byte
			alloc := costcheck.Allocated(func() { out, _ = msgpack.Marshal(keys) })
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := msgpack.Marshal(keys); err != nil {
					b.Fatal(err)
				}
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(len(out))/float64(n), "B/elem")
			b.ReportMetric(float64(alloc)/float64(len(out)), "alloc/out")
		})
	}
}

// perElement reports the wall and CPU time per element of an operation
// on n elements.
func perElement(b *testing.B, cpu cpuMeter, n int) {
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
	if cpu.start > 0 {
		b.ReportMetric(float64(cpuTime()-cpu.start)/float64(b.N)/float64(n), "cpu-ns/elem")
	}
}
