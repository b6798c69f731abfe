package ormap

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/vclock"
)

// The benchmarks work on N keys "key-000000"... holding counters, built
// before the timed part. Each has a floor beside it: the same work on a
// plain map[string]int64.

const N = 100_000

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	return keys
}

func perKey(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
}

// counters returns a map of the first n keys, each incremented once by
// replica id.
func counters(id string, keys []string) *Map[string, *Counter] {
	m := New[string, *Counter](vclock.ReplicaID("bench-" + id))
	for _, k := range keys {
		m.At(k).Add(1)
	}
	return m
}

// BenchmarkPut100k makes a map and puts 100k counter keys in it, each
// with one increment.
func BenchmarkPut100k(b *testing.B) {
	keys := benchKeys(N)
	b.ReportAllocs()
	for b.Loop() {
		counters("a", keys)
	}
	perKey(b, N)
}

func BenchmarkFloorMapPut100k(b *testing.B) {
	keys := benchKeys(N)
	b.ReportAllocs()
	for b.Loop() {
		m := map[string]int64{}
		for _, k := range keys {
			m[k]++
		}
	}
	perKey(b, N)
}

// BenchmarkIncrement100k increments every key of a 100k map once more.
// Each increment is a write of its own (see the package doc): it
// replaces the writer's leaf at the key with the next of its chain,
// without a drop record (the leaf implies the drop), so the map keeps
// one leaf per key and no record of its increments.
func BenchmarkIncrement100k(b *testing.B) {
	keys := benchKeys(N)
	m := counters("a", keys)
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			m.At(k).Add(1)
		}
	}
	perKey(b, N)
}

func BenchmarkFloorMapIncrement100k(b *testing.B) {
	keys := benchKeys(N)
	m := map[string]int64{}
	for _, k := range keys {
		m[k]++
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			m[k]++
		}
	}
	perKey(b, N)
}

// BenchmarkAddPut100k is BenchmarkPut100k through Add, which makes no
// view of the counter.
func BenchmarkAddPut100k(b *testing.B) {
	keys := benchKeys(N)
	b.ReportAllocs()
	for b.Loop() {
		m := New[string, *Counter]("bench-a")
		for _, k := range keys {
			Add(m, k, 1)
		}
	}
	perKey(b, N)
}

// BenchmarkAddIncrement100k is BenchmarkIncrement100k through Add, which
// makes no view of the counter.
func BenchmarkAddIncrement100k(b *testing.B) {
	keys := benchKeys(N)
	m := counters("a", keys)
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			Add(m, k, 1)
		}
	}
	perKey(b, N)
}

// BenchmarkAddIncrementAfterOrder100k is BenchmarkAddIncrement100k on a
// map whose kernel has made the order of its dots, as a join through its
// slow path does, or the apply of an op whose dropped dot the map cannot
// place (dotkernel.Kernel.HolderOf). The order is kept up to date by
// every increment until it has taken as many as the map has keys
// unqueried, then let go: the first pass over the keys pays for it, the
// later ones cost what BenchmarkAddIncrement100k does.
func BenchmarkAddIncrementAfterOrder100k(b *testing.B) {
	keys := benchKeys(N)
	m := counters("a", keys)
	m.rd().k.HolderOf(vclock.Dot{Replica: "bench-a", Seq: 1})
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			Add(m, k, 1)
		}
	}
	perKey(b, N)
}

// BenchmarkContentFingerprint100k computes the content fingerprint of a
// 100k map of counters (a pass over the map, as when the map has changed
// since the engine's last digest); BenchmarkContentFingerprintCached100k
// reads it again with nothing changed.
func BenchmarkContentFingerprint100k(b *testing.B) {
	m := counters("a", benchKeys(N))
	b.ReportAllocs()
	for b.Loop() {
		m.s.cfp.Store(nil)
		m.ContentFingerprint()
	}
	perKey(b, N)
}

func BenchmarkContentFingerprintCached100k(b *testing.B) {
	m := counters("a", benchKeys(N))
	m.ContentFingerprint()
	b.ReportAllocs()
	for b.Loop() {
		m.ContentFingerprint()
	}
}

// mergePair returns two 100k maps written by different replicas, sharing
// half their keys.
func mergePair() (x, y *Map[string, *Counter]) {
	keys := benchKeys(N + N/2)
	return counters("x", keys[:N]), counters("y", keys[N/2:])
}

func BenchmarkMerge100k(b *testing.B) {
	x, y := mergePair()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		r.Merge(y)
	}
	perKey(b, N)
}

// BenchmarkMergeSame100k merges into a 100k map a copy of its own state:
// an honest catch-up that brings nothing new, what a whole state sent to
// a replica at the sender's version is when the two agree.
func BenchmarkMergeSame100k(b *testing.B) {
	joinSame(b, (*Map[string, *Counter]).Merge)
}

// BenchmarkHealSame100k is BenchmarkMergeSame100k with Heal: the kernel
// looks at every dot of the map that the state has seen, and the clone
// it heals, like a replica's first heal, makes its order of dots first.
// Against BenchmarkMergeSame100k it is what healing every whole state,
// not only those sent after a divergence, would add to a catch-up.
func BenchmarkHealSame100k(b *testing.B) {
	joinSame(b, (*Map[string, *Counter]).Heal)
}

// joinSame times join(r, y) of a fresh clone r of a 100k map with a copy
// y of its own state.
func joinSame(b *testing.B, join func(r, y *Map[string, *Counter])) {
	x := counters("x", benchKeys(N))
	y := x.Clone()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		join(r, y)
	}
	perKey(b, N)
}

func BenchmarkFloorMapMerge100k(b *testing.B) {
	keys := benchKeys(N + N/2)
	x, y := map[string]int64{}, map[string]int64{}
	for _, k := range keys[:N] {
		x[k]++
	}
	for _, k := range keys[N/2:] {
		y[k]++
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := maps.Clone(x)
		b.StartTimer()
		for k, v := range y {
			r[k] += v
		}
	}
	perKey(b, N)
}

// BenchmarkClone100k copies a 100k map: the part of BenchmarkMerge100k's
// instruction count (which takes in its untimed copy) that is not the
// merge.
func BenchmarkClone100k(b *testing.B) {
	m := counters("a", benchKeys(N))
	b.ReportAllocs()
	for b.Loop() {
		m.Clone()
	}
	perKey(b, N)
}

func BenchmarkFloorMapClone100k(b *testing.B) {
	m := map[string]int64{}
	for _, k := range benchKeys(N) {
		m[k]++
	}
	b.ReportAllocs()
	var c map[string]int64
	for b.Loop() {
		c = maps.Clone(m)
	}
	_ = c
	perKey(b, N)
}

func BenchmarkEncode100k(b *testing.B) {
	m := counters("a", benchKeys(N))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := m.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n)/N, "B/key")
	perKey(b, N)
}

func BenchmarkFloorMsgpackEncode100k(b *testing.B) {
	m := map[string]int64{}
	for _, k := range benchKeys(N) {
		m[k]++
	}
	b.ReportAllocs()
	var n int
	for b.Loop() {
		out, err := msgpack.Marshal(m)
		if err != nil {
			b.Fatal(err)
		}
		n = len(out)
	}
	b.ReportMetric(float64(n)/N, "B/key")
	perKey(b, N)
}

// heapDelta returns the bytes build leaves live on the heap.
func heapDelta(build func() any) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(x)
	return after.HeapAlloc - before.HeapAlloc
}

// BenchmarkMemory100k reports the heap a map of 100k counters (one
// increment each) holds, per key, beside a map[string]int64 of the same
// keys (keys made before both).
func BenchmarkMemory100k(b *testing.B) {
	keys := benchKeys(N)
	var m, floor uint64
	for b.Loop() {
		m = heapDelta(func() any { return counters("a", keys) })
		floor = heapDelta(func() any {
			f := map[string]int64{}
			for _, k := range keys {
				f[k]++
			}
			return f
		})
	}
	b.ReportMetric(float64(m)/N, "B/key")
	b.ReportMetric(float64(floor)/N, "floor-B/key")
}

// BenchmarkDeltaSince10Of100k: a delta of 10 new writes (5 increments,
// 5 deletes) of a 100k map costs the delta, not the map, once the map
// has served a delta before (which builds its index of dots).
func BenchmarkDeltaSince10Of100k(b *testing.B) {
	keys := benchKeys(N)
	m := counters("a", keys)
	v := m.Version()
	for i := range 5 {
		m.At(keys[i*1000]).Add(1)
		m.Delete(keys[i*1000+1])
	}
	m.DeltaSince(v) // the first call builds the index of dots
	b.ReportAllocs()
	for b.Loop() {
		m.DeltaSince(v)
	}
}

// BenchmarkMergeDelta10Into100k merges such a delta into a copy of the
// map as it was before the 10 writes.
func BenchmarkMergeDelta10Into100k(b *testing.B) {
	keys := benchKeys(N)
	m := counters("a", keys)
	old := m.Clone()
	v := m.Version()
	for i := range 5 {
		m.At(keys[i*1000]).Add(1)
		m.Delete(keys[i*1000+1])
	}
	d := m.DeltaSince(v)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := old.Clone()
		b.StartTimer()
		r.Merge(d)
	}
}

// registerOps returns n writes of one register each, made at replica B
// with nothing seen, and a map at replica A holding its own value under
// every second key: applying the ops makes n/2 registers hold siblings.
func registerOps(keys []string) (*Map[string, *Register[string]], []Op) {
	a := New[string, *Register[string]]("bench-a")
	b := New[string, *Register[string]]("bench-b")
	ops := make([]Op, len(keys))
	for i, k := range keys {
		if i%2 == 0 {
			a.At(k).Set("a")
		}
		ops[i] = b.At(k).Set("b")
	}
	return a, ops
}

// BenchmarkConflictHook applies 100k register writes of another replica,
// half of which meet a concurrent value, to a map without a conflict hook
// and to one with a hook that counts the reports: "none" is what every
// map pays for reports when no hook is set.
func BenchmarkConflictHook(b *testing.B) {
	keys := benchKeys(N)
	for _, hook := range []bool{false, true} {
		name := map[bool]string{false: "none", true: "set"}[hook]
		b.Run("apply/"+name, func(b *testing.B) {
			base, ops := registerOps(keys)
			reports := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				m := base.Clone()
				if hook {
					m.SetConflictHook(func(vclock.Conflict) { reports++ })
				}
				b.StartTimer()
				for _, op := range ops {
					if err := m.Apply(op); err != nil {
						b.Fatal(err)
					}
				}
			}
			if hook && reports != b.N*N/2 {
				b.Fatalf("%d reports, want %d", reports, b.N*N/2)
			}
			perKey(b, N)
		})
		b.Run("merge/"+name, func(b *testing.B) {
			base, ops := registerOps(keys)
			o := New[string, *Register[string]]("bench-o")
			for _, op := range ops {
				if err := o.Apply(op); err != nil {
					b.Fatal(err)
				}
			}
			reports := 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				m := base.Clone()
				if hook {
					m.SetConflictHook(func(vclock.Conflict) { reports++ })
				}
				b.StartTimer()
				m.Merge(o)
			}
			if hook && reports != b.N*N/2 {
				b.Fatalf("%d reports, want %d", reports, b.N*N/2)
			}
			perKey(b, N)
		})
	}
}

// BenchmarkRegisterSet100k makes a map and writes 100k register keys in
// it, each once: the cost of a leaf that holds a value besides its path.
func BenchmarkRegisterSet100k(b *testing.B) {
	keys := benchKeys(N)
	b.ReportAllocs()
	for b.Loop() {
		m := New[string, *Register[string]]("bench-a")
		for _, k := range keys {
			m.At(k).Set(k)
		}
	}
	perKey(b, N)
}

// BenchmarkCounter1M increments one counter a million times, by one
// writer, and reports the encoded size of the map's state, the same once
// its drop records are collected, and the heap it holds.
func BenchmarkCounter1M(b *testing.B) {
	var size, collected, heap uint64
	for b.Loop() {
		var m *Map[string, *Counter]
		heap = heapDelta(func() any {
			m = New[string, *Counter]("a")
			c := m.At("hits")
			for range 1_000_000 {
				c.Add(1)
			}
			return m
		})
		if m.At("hits").Value() != 1_000_000 {
			b.Fatal("wrong value")
		}
		data, err := m.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		size = uint64(len(data))
		m.Collect(m.Version()) // the drop records every replica has seen
		if data, err = m.MarshalBinary(); err != nil {
			b.Fatal(err)
		}
		collected = uint64(len(data))
	}
	b.ReportMetric(float64(size), "state-B")
	b.ReportMetric(float64(collected), "collected-state-B")
	b.ReportMetric(float64(heap), "heap-B")
}

// chunkedCounters returns a map of 100k counters, each incremented once
// and every third twice (a continued chain), and every tenth deleted,
// cut into parts of at most 1 MiB.
func chunkedCounters(b *testing.B) (m *Map[string, *Counter], parts [][]byte) {
	keys := benchKeys(N)
	m = counters("a", keys)
	for i, k := range keys {
		if i%3 == 0 {
			m.At(k).Add(1)
		}
		if i%10 == 0 {
			m.Delete(k)
		}
	}
	parts, _, err := m.ChunksBinary(nil, 1<<20)
	if err != nil || len(parts) < 2 {
		b.Fatalf("%d parts: %v", len(parts), err)
	}
	return m, parts
}

// BenchmarkChunks100k cuts the state of chunkedCounters' map into parts
// of 1 MiB, as a catch-up larger than a message does, and reports the
// parts' bytes against the state's.
func BenchmarkChunks100k(b *testing.B) {
	m, _ := chunkedCounters(b)
	state := len(mustMarshal(b, m))
	b.ReportAllocs()
	var n, bytes int
	for b.Loop() {
		parts, _, err := m.ChunksBinary(nil, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		n, bytes = len(parts), 0
		for _, p := range parts {
			bytes += len(p)
		}
	}
	b.ReportMetric(float64(n), "parts")
	b.ReportMetric(float64(bytes)/float64(state), "parts-bytes/state-bytes")
	perKey(b, N)
}

// BenchmarkMergeChunks100k merges those parts, one by one, into an empty
// map: a new region's catch-up. BenchmarkMergeState100k merges the state
// whole, its floor.
func BenchmarkMergeChunks100k(b *testing.B) {
	m, parts := chunkedCounters(b)
	benchMergeParts(b, m, parts)
}

// benchMergeParts times merging parts, in their order, into an empty
// map, which must end with m's keys.
func benchMergeParts(b *testing.B, m *Map[string, *Counter], parts [][]byte) {
	b.ReportAllocs()
	for b.Loop() {
		r := New[string, *Counter]("bench-b")
		for _, p := range parts {
			if _, err := r.MergeChunkBinary(p); err != nil {
				b.Fatal(err)
			}
		}
		if r.Len() != m.Len() {
			b.Fatalf("%d keys merged, want %d", r.Len(), m.Len())
		}
	}
	perKey(b, N)
}

func BenchmarkMergeState100k(b *testing.B) {
	m, _ := chunkedCounters(b)
	state := mustMarshal(b, m)
	b.ReportAllocs()
	for b.Loop() {
		r := New[string, *Counter]("bench-b")
		if _, err := r.MergeBinary(state); err != nil {
			b.Fatal(err)
		}
	}
	perKey(b, N)
}

// BenchmarkFreezeChunks100k is what a replica holds its lock for when a
// peer needs that map whole (FreezeChunks: a copy of the store), against
// BenchmarkChunks100k, the cut, which then runs after the lock is
// released.
func BenchmarkFreezeChunks100k(b *testing.B) {
	m, _ := chunkedCounters(b)
	b.ReportAllocs()
	for b.Loop() {
		if m.FreezeChunks(nil, 1<<20) == nil {
			b.Fatal("the map fits one part")
		}
	}
	perKey(b, N)
}

// BenchmarkFreezeChunksNear100k is FreezeChunks for a peer one write
// behind that map: the delta fits a message, and nothing is copied (the
// engine asks for it at every catch-up, anti-entropy's among them).
func BenchmarkFreezeChunksNear100k(b *testing.B) {
	m, _ := chunkedCounters(b)
	near := mustMarshal(b, m.Version())
	m.At("key-000001").Add(1)
	b.ReportAllocs()
	for b.Loop() {
		if m.FreezeChunks(near, 1<<20) != nil {
			b.Fatal("a delta of one write was copied")
		}
	}
	perKey(b, N)
}

// BenchmarkMergeChunksReversed100k is BenchmarkMergeChunks100k with the
// store parts merged last first, as a lossy link (or a peer) may deliver
// them: their runs go into the middle of the receiver's context and
// ghosts.
func BenchmarkMergeChunksReversed100k(b *testing.B) {
	m, _ := chunkedCounters(b)
	parts, ordered, err := m.ChunksBinary(nil, 1<<20)
	if err != nil {
		b.Fatal(err)
	}
	slices.Reverse(parts[:ordered])
	benchMergeParts(b, m, parts)
}
