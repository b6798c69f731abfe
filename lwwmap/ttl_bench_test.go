package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// The cost of a map that never uses a time to live, in CPU time (which,
// unlike wall time, other processes on the machine do not inflate), per
// key: puts of 100k keys, a merge of two 100k maps overlapping by half,
// and gets; and the floors, a Go map with one clock reading per insert and
// a Go map merge. The same file runs on the code before times to live
// existed, for the comparison in BENCHMARKS.md. The garbage collector
// runs on another thread: its CPU time counts too.

func BenchmarkNoTTLPutCPU(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		m := New[string, string]("bench", clk)
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu.start)/float64(b.N)/float64(N), "cpu-ns/elem")
}

func BenchmarkNoTTLFloorMapPlusNowCPU(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	b.ReportAllocs()
	cpu := startCPU()
	var ts clock.Timestamp
	for b.Loop() {
		m := map[string]string{}
		for i := range keys {
			ts = clk.Now()
			m[keys[i]] = vals[i]
		}
	}
	_ = ts
	b.ReportMetric(float64(cpuTime()-cpu.start)/float64(b.N)/float64(N), "cpu-ns/elem")
}

func BenchmarkNoTTLMergeCPU(b *testing.B) {
	x, y := mergePair()
	b.ReportAllocs()
	var spent int64
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		t0 := cpuTime()
		r.Merge(y)
		spent += cpuTime() - t0
	}
	b.ReportMetric(float64(spent)/float64(b.N)/float64(N), "cpu-ns/elem")
}

func BenchmarkNoTTLGetCPU(b *testing.B) {
	x, _ := mergePair()
	keys, _ := benchData(N)
	b.ReportAllocs()
	cpu := startCPU()
	n := 0
	for b.Loop() {
		for _, k := range keys {
			if _, ok := x.Get(k); ok {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no key found")
	}
	b.ReportMetric(float64(cpuTime()-cpu.start)/float64(b.N)/float64(N), "cpu-ns/elem")
}
