package orset

import (
	"fmt"
	"maps"
	"runtime"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/vclock"
)

// The benchmarks use N = 100,000 keys "key-000000" to "key-099999",
// generated outside the timed part. Each has a floor beside it: the same
// work on a plain Go map or with plain msgpack.

const n100k = 100_000

// cpuMeter reports, besides the wall time, the process's CPU time per
// operation ("cpu-ns/op"), which is steadier than the wall time on a
// machine other processes share. It includes the garbage collector's
// work on other threads, and whatever the benchmark does with the timer
// stopped, so it is only comparable between benchmarks that stop the
// timer for the same work.
type cpuMeter struct{ start int64 }

func startCPU() cpuMeter { return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B) {
	if m.start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-m.start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkAddRemove100k adds 100,000 elements to a new set, then removes
// every second one.
func BenchmarkAddRemove100k(b *testing.B) {
	keys := keys100k()
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
	cpu.report(b)
}

func BenchmarkFloorMapAddRemove100k(b *testing.B) {
	keys := keys100k()
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
	cpu.report(b)
}

// mergePair returns two replicas of 100,000 elements that share half
// (see mergePairN).
func mergePair() (east, west *Set[string], eastKeys, westKeys []string) {
	return mergePairN(n100k)
}

// mergePairN returns two replicas of n elements that share half:
// us-east-1 added keys 0 to n/2-1 and eu-west-1 took them in; then
// us-east-1 added keys n/2 to n-1 and eu-west-1 added keys n to 3n/2-1.
func mergePairN(n int) (east, west *Set[string], eastKeys, westKeys []string) {
	keys := keysN(n + n/2)
	east, west = New[string]("us-east-1"), New[string]("eu-west-1")
	for _, k := range keys[:n/2] {
		east.Add(k)
	}
	west.Merge(east)
	for _, k := range keys[n/2 : n] {
		east.Add(k)
	}
	for _, k := range keys[n:] {
		west.Add(k)
	}
	return east, west, keys[:n], keys[n/2:]
}

// BenchmarkMerge100k merges eu-west-1's replica into a copy of
// us-east-1's (see mergePair); the copy is made with the timer stopped.
func BenchmarkMerge100k(b *testing.B) {
	east, west, _, _ := mergePair()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := east.Clone()
		b.StartTimer()
		r.Merge(west)
	}
}

func BenchmarkFloorMapMerge100k(b *testing.B) {
	_, _, eastKeys, westKeys := mergePair()
	east, west := map[string]struct{}{}, map[string]struct{}{}
	for _, k := range eastKeys {
		east[k] = struct{}{}
	}
	for _, k := range westKeys {
		west[k] = struct{}{}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := maps.Clone(east)
		b.StartTimer()
		for k := range west {
			r[k] = struct{}{}
		}
	}
}

// BenchmarkMergeIntoNew100k merges a replica of 100,000 elements into a
// new one, as a replica joining late takes in a peer's state; the floor
// puts the keys of a map into a new map.
func BenchmarkMergeIntoNew100k(b *testing.B) {
	east, _, _, _ := mergePair()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		r := New[string]("eu-west-1")
		r.Merge(east)
	}
	cpu.report(b)
}

func BenchmarkFloorMapMergeIntoNew100k(b *testing.B) {
	_, _, eastKeys, _ := mergePair()
	east := map[string]struct{}{}
	for _, k := range eastKeys {
		east[k] = struct{}{}
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		r := map[string]struct{}{}
		for k := range east {
			r[k] = struct{}{}
		}
	}
	cpu.report(b)
}

// BenchmarkMerge100kConcurrent merges two replicas that added their
// 100,000 elements independently, 50,000 of them the same: those end up
// with a dot from each replica.
func BenchmarkMerge100kConcurrent(b *testing.B) {
	east, west := New[string]("us-east-1"), New[string]("eu-west-1")
	for i := range n100k {
		east.Add(keyOf(i))
		west.Add(keyOf(i + 50_000))
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := east.Clone()
		b.StartTimer()
		r.Merge(west)
	}
}

// BenchmarkDeltaSince100k computes the delta a replica 1,000 events behind
// needs, out of 100,000 elements.
func BenchmarkDeltaSince100k(b *testing.B) {
	keys := keys100k()
	s := New[string]("us-east-1")
	for _, k := range keys[:n100k-1000] {
		s.Add(k)
	}
	v := s.Version()
	for _, k := range keys[n100k-1000:] {
		s.Add(k)
	}
	b.ReportAllocs()
	for b.Loop() {
		s.DeltaSince(v)
	}
}

func set100k() *Set[string] {
	s := New[string]("us-east-1")
	for _, k := range keys100k() {
		s.Add(k)
	}
	return s
}

// BenchmarkMarshal100k encodes the state of 100,000 elements and reports
// its size beside the size of the bare keys in msgpack.
func BenchmarkMarshal100k(b *testing.B) {
	s := set100k()
	bare, err := msgpack.Marshal(keys100k())
	if err != nil {
		b.Fatal(err)
	}
	var size int
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		data, err := s.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	cpu.report(b)
	b.ReportMetric(float64(size), "B/state")
	b.ReportMetric(float64(len(bare)), "B/bare-keys")
	b.ReportMetric(float64(size)/float64(len(bare)), "ratio")
}

func BenchmarkFloorMsgpackMarshal100k(b *testing.B) {
	keys := keys100k()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		if _, err := msgpack.Marshal(keys); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// BenchmarkUnmarshal100k decodes the state of 100,000 elements.
func BenchmarkUnmarshal100k(b *testing.B) {
	data, err := set100k().MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		var s Set[string]
		if err := s.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

func BenchmarkFloorMsgpackUnmarshal100k(b *testing.B) {
	data, err := msgpack.Marshal(keys100k())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		var keys []string
		if err := msgpack.Unmarshal(data, &keys); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// heapDelta returns the bytes of heap that build's result keeps alive.
func heapDelta(build func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return float64(after.HeapAlloc) - float64(before.HeapAlloc)
}

// BenchmarkMemory100k reports the heap a set of 100,000 elements keeps,
// per element (the keys' own bytes are shared with the input and not
// counted).
func BenchmarkMemory100k(b *testing.B) {
	keys := keys100k()
	var per float64
	for b.Loop() {
		per = heapDelta(func() any {
			s := New[string]("us-east-1")
			for _, k := range keys {
				s.Add(k)
			}
			return s
		}) / n100k
	}
	b.ReportMetric(per, "B/elem")
}

func BenchmarkFloorMapMemory100k(b *testing.B) {
	keys := keys100k()
	var per float64
	for b.Loop() {
		per = heapDelta(func() any {
			m := map[string]struct{}{}
			for _, k := range keys {
				m[k] = struct{}{}
			}
			return m
		}) / n100k
	}
	b.ReportMetric(per, "B/elem")
}

func BenchmarkAdd(b *testing.B) {
	keys := keys100k()
	s := New[string]("us-east-1")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.Add(keys[i%n100k])
		i++
	}
}

func BenchmarkContains(b *testing.B) {
	keys := keys100k()
	s := set100k()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s.Contains(keys[i%n100k])
		i++
	}
}

func BenchmarkFloorMapLookup(b *testing.B) {
	keys := keys100k()
	m := map[string]struct{}{}
	for _, k := range keys {
		m[k] = struct{}{}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		_ = m[keys[i%n100k]]
		i++
	}
}

// BenchmarkApplyBinary decodes and applies remote adds.
func BenchmarkApplyBinary(b *testing.B) {
	keys := keys100k()
	src := New[string]("eu-west-1")
	ops := make([][]byte, n100k)
	for i, k := range keys {
		op, err := src.Add(k).MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		ops[i] = op
	}
	s := New[string]("us-east-1")
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.ApplyBinary(ops[i%n100k]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkOpMarshal(b *testing.B) {
	op := New[string]("us-east-1").Add("key-000000")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := op.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
	}
}

func keyOf(i int) string { return fmt.Sprintf("key-%06d", i) }

// BenchmarkDeltaSinceSmall computes the delta a replica needs after 10
// writes (4 adds of new elements, 3 adds of elements already present, 3
// removes) made to a set of 100,000 elements since its version. The set
// has served one delta before the timed part, as a replica that has taken
// part in a catch-up round has; "first" times the first call on a copy
// just decoded from the set's state, as after a restart; "records" is
// "steady" for a set that also removed 20,000 elements before the version,
// so that it keeps the most drop records it may (16,384).
func BenchmarkDeltaSinceSmall(b *testing.B) {
	build := func(removed int) (*Set[string], vclock.Clock) {
		keys := keys100k()
		s := New[string]("us-east-1")
		for _, k := range keys {
			s.Add(k)
		}
		for _, k := range keys[len(keys)-removed:] {
			s.Remove(k)
		}
		v := s.Version()
		for i := range 4 {
			s.Add(keyOf(n100k + i))
		}
		for i := range 3 {
			s.Add(keys[i*1000])
			s.Remove(keys[i*1000+500])
		}
		return s, v
	}
	s, v := build(0)
	b.Run("steady", func(b *testing.B) {
		s.DeltaSince(v)
		b.ReportAllocs()
		for b.Loop() {
			s.DeltaSince(v)
		}
	})
	state, err := s.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			c := New[string]("us-east-1")
			if err := c.UnmarshalBinary(state); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c.DeltaSince(v)
		}
	})
	r, rv := build(20_000)
	b.Run("records", func(b *testing.B) {
		r.DeltaSince(rv)
		b.ReportAllocs()
		for b.Loop() {
			r.DeltaSince(rv)
		}
	})
}

// indexed returns a new set that has served a delta to a peer that had
// seen nothing, so that its index of elements by dot is built and covers
// every element added afterwards: the most the index costs, before any
// Collect raises its floor.
func indexed() *Set[string] {
	s := New[string]("us-east-1")
	s.Add("seed")
	s.DeltaSince(vclock.Clock{})
	return s
}

// BenchmarkAddRemove100kIndexed is BenchmarkAddRemove100k on a set whose
// index is built (see indexed).
func BenchmarkAddRemove100kIndexed(b *testing.B) {
	keys := keys100k()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		s := indexed()
		for _, k := range keys {
			s.Add(k)
		}
		for i := 0; i < len(keys); i += 2 {
			s.Remove(keys[i])
		}
	}
	cpu.report(b)
}

// BenchmarkMerge100kIndexed is BenchmarkMerge100k into a copy whose index
// is built and covers every element.
func BenchmarkMerge100kIndexed(b *testing.B) {
	east, west, _, _ := mergePair()
	east.DeltaSince(vclock.Clock{})
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := east.Clone()
		b.StartTimer()
		r.Merge(west)
	}
}

// BenchmarkMemory100kIndexed is BenchmarkMemory100k for a set whose index
// is built and covers every element.
func BenchmarkMemory100kIndexed(b *testing.B) {
	keys := keys100k()
	var per float64
	for b.Loop() {
		per = heapDelta(func() any {
			s := indexed()
			for _, k := range keys {
				s.Add(k)
			}
			return s
		}) / n100k
	}
	b.ReportMetric(per, "B/elem")
}
