package lwwmap

import (
	"fmt"
	"maps"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/internal/costcheck"
)

// BenchmarkMarshalScale encodes the state of maps of 10k, 100k and 1M
// keys written by one replica, and, beside it, msgpack of the bare keys
// and values as a Go map (the floor). It reports the time and CPU time
// per element, the bytes per element, and what encoding allocates per
// byte of output ("alloc/out").
func BenchmarkMarshalScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		keys, vals := benchData(n)
		m := New[string, string]("us-east-1", clock.New())
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
		bare := maps.Collect(m.All())
		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			var out []byte
			alloc := costcheck.Allocated(func() { out, _ = m.MarshalBinary() })
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := m.MarshalBinary(); err != nil {
					b.Fatal(err)
				}
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(len(out))/float64(n), "B/elem")
			b.ReportMetric(float64(alloc)/float64(len(out)), "alloc/out")
		})
		b.Run(fmt.Sprintf("floor-msgpack/%d", n), func(b *testing.B) {
			var out []byte
			alloc := costcheck.Allocated(func() { out, _ = msgpack.Marshal(bare) })
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				if _, err := msgpack.Marshal(bare); err != nil {
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

// BenchmarkPutScale puts n keys into a new map, for n of 10k, 100k and
// 1M, beside the same puts into a map[string]string with a clock.Now for
// each (the floor). It reports the time and CPU time per key: flat from
// one size to the next if the cost per key does not grow with the map.
func BenchmarkPutScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		keys, vals := benchData(n)
		clk := clock.New()
		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				m := New[string, string]("bench", clk)
				for i := range keys {
					m.Put(keys[i], vals[i])
				}
			}
			perElement(b, cpu, n)
		})
		b.Run(fmt.Sprintf("floor-map/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var ts clock.Timestamp
			cpu := startCPU()
			for b.Loop() {
				m := map[string]string{}
				for i := range keys {
					ts = clk.Now()
					m[keys[i]] = vals[i]
				}
			}
			perElement(b, cpu, n)
			_ = ts
		})
	}
}

// BenchmarkMergeScale merges, for n of 10k, 100k and 1M, one map of n
// keys into a copy of another, sharing half (see mergePairN), beside the
// same work on Go maps (the floor). The copies are made with the timer
// stopped, and the CPU time is taken around the merges alone. Time is
// per key of a map.
func BenchmarkMergeScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		x, y := mergePairN(n)
		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var cpu int64
			for b.Loop() {
				b.StopTimer()
				r := x.Clone()
				b.StartTimer()
				t0 := cpuTime()
				r.Merge(y)
				cpu += cpuTime() - t0
			}
			perElementCPU(b, cpu, n)
		})
		b.Run(fmt.Sprintf("floor-map/%d", n), func(b *testing.B) {
			fx, fy := maps.Collect(x.All()), maps.Collect(y.All())
			b.ReportAllocs()
			var cpu int64
			for b.Loop() {
				b.StopTimer()
				r := maps.Clone(fx)
				b.StartTimer()
				t0 := cpuTime()
				for k, v := range fy {
					r[k] = v
				}
				cpu += cpuTime() - t0
			}
			perElementCPU(b, cpu, n)
		})
	}
}

// perElementCPU reports the wall time per element, and cpu, the CPU time
// of the timed parts of all iterations, per element.
func perElementCPU(b *testing.B, cpu int64, n int) {
	if b.N == 0 {
		return
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(n), "cpu-ns/elem")
}
