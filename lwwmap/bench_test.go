package lwwmap

import (
	"fmt"
	"maps"
	"runtime"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
	"github.com/vmihailenco/msgpack/v5"
)

// The benchmarks work on N keys "key-000000"... and values "val-000000"...,
// generated before the timed part. Each has a floor beside it: the same
// work on a plain Go map.

const N = 100_000

func benchData(n int) (keys, vals []string) {
	keys, vals = make([]string, n), make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("key-%06d", i)
		vals[i] = fmt.Sprintf("val-%06d", i)
	}
	return keys, vals
}

// cpuMeter reports, besides the wall time, the process's CPU time per
// operation ("cpu-ns/op"), steadier than the wall time on a machine other
// processes share. It includes the garbage collector's work on other
// threads.
type cpuMeter struct{ start int64 }

func startCPU() cpuMeter { return cpuMeter{cpuTime()} }

func (m cpuMeter) report(b *testing.B) {
	if m.start > 0 && b.N > 0 {
		b.ReportMetric(float64(cpuTime()-m.start)/float64(b.N), "cpu-ns/op")
	}
}

func perElem(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/elem")
}

func BenchmarkPut100k(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	b.ReportAllocs()
	for b.Loop() {
		m := New[string, string]("bench", clk)
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
	}
	perElem(b, N)
}

func BenchmarkFloorMapPlusNow100k(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	b.ReportAllocs()
	var ts clock.Timestamp
	for b.Loop() {
		m := map[string]string{}
		for i := range keys {
			ts = clk.Now()
			m[keys[i]] = vals[i]
		}
	}
	_ = ts
	perElem(b, N)
}

// mergePair returns two maps of N keys (see mergePairN).
func mergePair() (x, y *Map[string, string]) { return mergePairN(N) }

// mergePairN returns two maps of n keys written by different replicas,
// sharing n/2 keys (the second's writes being later).
func mergePairN(n int) (x, y *Map[string, string]) {
	keys, vals := benchData(n + n/2)
	clk := clock.New()
	x, y = New[string, string]("x", clk), New[string, string]("y", clk)
	for i := range n {
		x.Put(keys[i], vals[i])
	}
	for i := n / 2; i < n+n/2; i++ {
		y.Put(keys[i], vals[i])
	}
	return x, y
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
	perElem(b, N)
}

func BenchmarkFloorMapMerge100k(b *testing.B) {
	keys, vals := benchData(N + N/2)
	x, y := map[string]string{}, map[string]string{}
	for i := range N {
		x[keys[i]] = vals[i]
	}
	for i := N / 2; i < N+N/2; i++ {
		y[keys[i]] = vals[i]
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := maps.Clone(x)
		b.StartTimer()
		for k, v := range y {
			r[k] = v
		}
	}
	perElem(b, N)
}

// Merging a small delta into a large map costs the delta's size.
func BenchmarkMergeDelta10Into100k(b *testing.B) {
	x, _ := mergePair()
	y := x.Clone()
	y.id, y.self = "y", y.intern("y") // a second writer holding x's state
	v := y.Version()
	for i := range 10 {
		y.Put(fmt.Sprintf("key-%06d", i*1000), "new")
	}
	d := y.DeltaSince(v)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		r.Merge(d)
	}
}

func BenchmarkDeltaSince10Of100k(b *testing.B) {
	x, _ := mergePair()
	v := x.Version()
	for i := range 10 {
		x.Put(fmt.Sprintf("key-%06d", i*1000), "new")
	}
	b.ReportAllocs()
	for b.Loop() {
		x.DeltaSince(v)
	}
}

func BenchmarkApply100k(b *testing.B) {
	keys, vals := benchData(N)
	src := New[string, string]("src", clock.New())
	ops := make([]Op[string, string], N)
	for i := range keys {
		ops[i] = src.Put(keys[i], vals[i])
	}
	clk := clock.New()
	b.ReportAllocs()
	for b.Loop() {
		m := New[string, string]("bench", clk)
		for _, op := range ops {
			if err := m.Apply(op); err != nil {
				b.Fatal(err)
			}
		}
	}
	perElem(b, N)
}

func BenchmarkGet100k(b *testing.B) {
	x, _ := mergePair()
	keys, _ := benchData(N)
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			x.Get(k)
		}
	}
	perElem(b, N)
}

func BenchmarkFloorMapGet100k(b *testing.B) {
	keys, vals := benchData(N)
	m := map[string]string{}
	for i := range keys {
		m[keys[i]] = vals[i]
	}
	b.ReportAllocs()
	var sink string
	for b.Loop() {
		for _, k := range keys {
			sink = m[k]
		}
	}
	_ = sink
	perElem(b, N)
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

// The memory benchmarks report the heap a structure of N elements holds,
// its keys and values (shared with the floor, allocated beforehand) not
// counted.
func BenchmarkMemoryMap100k(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	var n uint64
	for b.Loop() {
		n = heapDelta(func() any {
			m := New[string, string]("bench", clk)
			for i := range keys {
				m.Put(keys[i], vals[i])
			}
			return m
		})
	}
	b.ReportMetric(float64(n)/N, "B/elem")
}

func BenchmarkMemoryFloorMap100k(b *testing.B) {
	keys, vals := benchData(N)
	var n uint64
	for b.Loop() {
		n = heapDelta(func() any {
			m := map[string]string{}
			for i := range keys {
				m[keys[i]] = vals[i]
			}
			return m
		})
	}
	b.ReportMetric(float64(n)/N, "B/elem")
}

// BenchmarkMarshal100k encodes a state of N keys and reports its size per
// element and against msgpack of the bare keys and values ("x-msgpack").
// "B/elem-plain" is what the state would take with every entry's dot and
// timestamp written in full (wire.PutDot, wire.PutTimestamp), for
// comparison with the delta-encoded layout.
func BenchmarkMarshal100k(b *testing.B) {
	x, _ := mergePair()
	bare := maps.Collect(x.All())
	mp, err := msgpack.Marshal(bare)
	if err != nil {
		b.Fatal(err)
	}
	var out []byte
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		out, err = x.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(len(out))/N, "B/elem")
	b.ReportMetric(float64(len(out))/float64(len(mp)), "x-msgpack")
	b.ReportMetric(float64(len(plainEncoding(x)))/N, "B/elem-plain")
}

func BenchmarkFloorMsgpackMarshal100k(b *testing.B) {
	x, _ := mergePair()
	bare := maps.Collect(x.All())
	var out []byte
	var err error
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		out, err = msgpack.Marshal(bare)
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
	b.ReportMetric(float64(len(out))/N, "B/elem")
}

func BenchmarkUnmarshal100k(b *testing.B) {
	x, _ := mergePair()
	data, err := x.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var m Map[string, string]
		if err := m.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
	perElem(b, N)
}

// plainEncoding writes m's entries the straightforward way: each as an
// array of dot, timestamp, key and value.
func plainEncoding[K comparable, V any](m *Map[K, V]) []byte {
	w := codec.NewWriter(codec.KindMap, 32*m.m.Len())
	m.ctx.Encode(w)
	w.Array(m.m.Len())
	for k, e := range entries(m) {
		if e.deleted() {
			w.Array(5)
		} else {
			w.Array(6)
		}
		wire.PutDot(w, m.dot(&e))
		wire.PutTimestamp(w, e.ts())
		codec.PutValue(w, k)
		if !e.deleted() {
			codec.PutValue(w, e.v)
		}
	}
	b, _ := w.Bytes()
	return b
}

// BenchmarkDeltaSinceSmall computes the delta a replica needs after 10
// writes (5 puts over keys present, 3 puts of new keys, 2 deletes) made
// to a map of 100,000 keys since its version. The map has served one
// delta before the timed part, as a replica that has taken part in a
// catch-up round has; "first" times the first call on a copy just decoded
// from the map's state, as after a restart.
func BenchmarkDeltaSinceSmall(b *testing.B) {
	x, _ := mergePair()
	v := x.Version()
	for i := range 5 {
		x.Put(fmt.Sprintf("key-%06d", i*1000), "new")
	}
	for i := range 3 {
		x.Put(fmt.Sprintf("new-%06d", i), "new")
	}
	for i := range 2 {
		x.Delete(fmt.Sprintf("key-%06d", i*1000+500))
	}
	b.Run("steady", func(b *testing.B) {
		x.DeltaSince(v)
		b.ReportAllocs()
		for b.Loop() {
			x.DeltaSince(v)
		}
	})
	state, err := x.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			var c Map[string, string]
			if err := c.UnmarshalBinary(state); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c.DeltaSince(v)
		}
	})
}

// indexed returns a new map that has served a delta to a peer that had
// seen nothing, so that its index of entries by dot is built and covers
// every write made afterwards: the most the index costs, before
// CollectVersions raises its floor.
func indexed(clk *clock.Clock) *Map[string, string] {
	m := New[string, string]("bench", clk)
	m.Put("seed", "")
	m.DeltaSince(vclock.Clock{})
	return m
}

// BenchmarkPut100kIndexed is BenchmarkPut100k on a map whose index is
// built (see indexed).
func BenchmarkPut100kIndexed(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	b.ReportAllocs()
	for b.Loop() {
		m := indexed(clk)
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
	}
	perElem(b, N)
}

// BenchmarkMerge100kIndexed is BenchmarkMerge100k into a copy whose index
// is built and covers every entry.
func BenchmarkMerge100kIndexed(b *testing.B) {
	x, y := mergePair()
	x.DeltaSince(vclock.Clock{})
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		r.Merge(y)
	}
	perElem(b, N)
}

// BenchmarkMemoryMap100kIndexed is BenchmarkMemoryMap100k for a map whose
// index is built and covers every entry.
func BenchmarkMemoryMap100kIndexed(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	var n uint64
	for b.Loop() {
		n = heapDelta(func() any {
			m := indexed(clk)
			for i := range keys {
				m.Put(keys[i], vals[i])
			}
			return m
		})
	}
	b.ReportMetric(float64(n)/N, "B/elem")
}

// The cost of the fingerprint. Put100k and Merge100k include it. The
// benchmarks below isolate it: FingerprintOfPut runs the fast path of Put
// on a plain Go map of 100k keys, without and with what the fingerprint
// adds there (hashing the key and the write, looking up the entry
// replaced); FingerprintOfMerge does the fingerprint's work of a merge of
// 100k entries (adding or subtracting each entry's hash, copied with it).
// Compare with Put100k and Merge100k:
//
//	go test -run '^$' -bench 'Put100k$|Merge100k$|FingerprintOf' -benchtime 20x -count 5 ./lwwmap

func BenchmarkFingerprintOfPut100k(b *testing.B) {
	keys, _ := benchData(N)
	wh := codec.HashString(codec.HashSeed, "bench")
	ts := clock.Timestamp{Wall: 1}
	run := func(b *testing.B, fingerprint bool) {
		var fp uint64
		b.ReportAllocs()
		for b.Loop() {
			m := make(map[string]entry[string])
			for i, k := range keys {
				e := entry[string]{wall: ts.Wall, seq: uint64(i + 1)}
				if fingerprint {
					kh, _ := codec.HashValue(codec.HashSeed, k)
					old, had := m[k]
					m[k] = e
					fp += entryHash(kh, wh, ts, e.seq)
					if had {
						fp -= entryHash(kh, wh, old.ts(), old.seq)
					}
				} else {
					m[k] = e
				}
			}
		}
		perElem(b, N)
		if fp == 42 {
			b.Log(fp)
		}
	}
	b.Run("without", func(b *testing.B) { run(b, false) })
	b.Run("with", func(b *testing.B) { run(b, true) })
}

func BenchmarkFingerprintOfMerge100k(b *testing.B) {
	x, y := mergePair()
	// A merge walks y's entries and looks up x's anyway; what the
	// fingerprint adds is hashing each key taken from y, and each write
	// that comes or goes: as in Merge100k, half the keys are new and half
	// replace one of x's.
	type step struct {
		k       string
		e, old  entry[string]
		replace bool
	}
	steps := make([]step, 0, y.m.Len())
	for k, e := range entries(y) {
		old, ok := x.m.Get(k)
		steps = append(steps, step{k, e, old, ok})
	}
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		for i := range steps {
			st := &steps[i]
			kh := keyHash(st.k)
			sink += y.hashOf(kh, &st.e)
			if st.replace {
				sink -= x.hashOf(kh, &st.old)
			}
		}
	}
	perElem(b, N)
	if sink == 42 {
		b.Log(sink)
	}
}

// BenchmarkCollectVersions100k collects the delete markers of 100k keys,
// deleted by two writers, that every peer has seen (the copy made before
// each collection is not timed).
func BenchmarkCollectVersions100k(b *testing.B) {
	keys, vals := benchData(N)
	clk := clock.New()
	x := New[string, string]("x", clk)
	y := New[string, string]("y", clk)
	for i := range keys {
		x.Put(keys[i], vals[i])
	}
	y.Merge(x)
	for i := range keys {
		if i%2 == 0 {
			x.Delete(keys[i])
		} else {
			y.Delete(keys[i])
		}
	}
	x.Merge(y)
	peers := []vclock.Clock{x.Version()}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		r := x.Clone()
		b.StartTimer()
		if n := r.CollectVersions(peers); n != N {
			b.Fatalf("collected %d markers, want %d", n, N)
		}
	}
	perElem(b, N)
}

// BenchmarkContentFingerprint100k computes the content fingerprint of a
// 100k map of strings: a pass hashing every value, as when the map has
// changed since the engine's last digest.
func BenchmarkContentFingerprint100k(b *testing.B) {
	keys, vals := benchData(N)
	m := New[string, string]("bench", clock.New())
	for i := range keys {
		m.Put(keys[i], vals[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		m.cfp.Store(nil)
		m.ContentFingerprint()
	}
	perElem(b, N)
}

// BenchmarkPutAgainAfterOrder100k puts every key of a 100k map again,
// after a merge made the map's order of its dots (as one that drops what
// the other side has seen does): the first pass keeps the order up to
// date until it is idle, the later ones cost what puts without it do.
func BenchmarkPutAgainAfterOrder100k(b *testing.B) {
	keys, vals := benchData(N)
	m := New[string, string]("bench", clock.New())
	for i := range keys {
		m.Put(keys[i], vals[i])
	}
	m.makeOrder()
	b.ReportAllocs()
	for b.Loop() {
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
	}
	perElem(b, N)
}

// BenchmarkChunks100k cuts a 100k map (mergePair's first) into parts of
// 1 MiB, as a catch-up larger than a message does; BenchmarkFreezeChunks100k
// is what the replica's lock is held for (a Clone), the cut then running
// off the lock.
func BenchmarkChunks100k(b *testing.B) {
	x, _ := mergePair()
	b.ReportAllocs()
	for b.Loop() {
		if parts, _, err := x.ChunksBinary(nil, 1<<20); err != nil || len(parts) < 2 {
			b.Fatalf("%d parts: %v", len(parts), err)
		}
	}
	perElem(b, N)
}

func BenchmarkFreezeChunks100k(b *testing.B) {
	x, _ := mergePair()
	b.ReportAllocs()
	for b.Loop() {
		if x.FreezeChunks(nil, 1<<20) == nil {
			b.Fatal("the map fits one part")
		}
	}
	perElem(b, N)
}
