package orset

import (
	"fmt"
	"maps"
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

// BenchmarkAddRemoveScale adds n elements to a new set and removes every
// second one, for n of 10k, 100k and 1M, beside the same work on a
// map[string]struct{} (the floor). It reports the time and CPU time per
// element added: flat from one size to the next if the cost per element
// does not grow with the set.
func BenchmarkAddRemoveScale(b *testing.B) {
	for _, n := range scales {
		keys := keysN(n)
		b.Run(fmt.Sprintf("set/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				s := New[string]("us-east-1")
				for _, k := range keys {
					s.Add(k)
				}
				for i := 0; i < len(keys); i += 2 {
					s.Remove(keys[i])
				}
			}
			perElement(b, cpu, n)
		})
		b.Run(fmt.Sprintf("floor-map/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				m := map[string]struct{}{}
				for _, k := range keys {
					m[k] = struct{}{}
				}
				for i := 0; i < len(keys); i += 2 {
					delete(m, keys[i])
				}
			}
			perElement(b, cpu, n)
		})
	}
}

// BenchmarkMergeScale merges, for n of 10k, 100k and 1M, eu-west-1's
// replica into a copy of us-east-1's, the two holding n elements each and
// sharing half (see mergePairN), beside the same work on Go maps (the
// floor: a copy of one map, and the keys of the other set in it). The
// copies are made with the timer stopped, and the CPU time is taken
// around the merges alone. Time is per element of a replica.
func BenchmarkMergeScale(b *testing.B) {
	for _, n := range scales {
		east, west, eastKeys, westKeys := mergePairN(n)
		b.Run(fmt.Sprintf("set/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			var cpu int64
			for b.Loop() {
				b.StopTimer()
				r := east.Clone()
				b.StartTimer()
				t0 := cpuTime()
				r.Merge(west)
				cpu += cpuTime() - t0
			}
			perElementCPU(b, cpu, n)
		})
		b.Run(fmt.Sprintf("floor-map/%d", n), func(b *testing.B) {
			e, w := map[string]struct{}{}, map[string]struct{}{}
			for _, k := range eastKeys {
				e[k] = struct{}{}
			}
			for _, k := range westKeys {
				w[k] = struct{}{}
			}
			b.ReportAllocs()
			var cpu int64
			for b.Loop() {
				b.StopTimer()
				r := maps.Clone(e)
				b.StartTimer()
				t0 := cpuTime()
				for k := range w {
					r[k] = struct{}{}
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
