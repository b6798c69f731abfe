package ormap

import (
	"testing"
	"unsafe"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// The benchmarks of this file measure no code of the map. They sketch the
// least work a put and an increment can do in another layout, one table
// per map level whose entry for a counter key holds its writer's chain
// (the chain's key, its newest dot, its total) and the counter's sum,
// where the map keeps its two tables, the index by path and the store by
// dot. Each write still does what the map's must: mint the dot in the
// causal context, keep the fingerprint, and fill an op. Nothing else is
// there (no expiry or reset checks, no overflow checks, no several
// writers or chains at a key, no nested keys, no drop list in the op),
// so the figures are a bound on what such a layout could win, not its
// cost. See BENCHMARKS.md, "What one table per level could win".

// sketchCell is the sketch's entry for a counter key.
type sketchCell struct {
	key vclock.Dot // the chain's first dot
	lg  uint32     // the newest dot's distance from key
	n   int64      // the chain's total
	lo  uint64     // the counter's sum, as the index keeps it
	hi  int32
}

// sketchMap is the sketch's map: one table of counter keys, keyed by the
// key itself or, if byPath, by the key's path as the index keys it (a
// one-byte length, then the key), cut from shared blocks as the map cuts
// its paths.
type sketchMap struct {
	id     vclock.ReplicaID
	h      uint64 // the writer's hash, as the kernel caches it
	byPath bool
	t      dotkernel.Table[string, sketchCell]
	ctx    vclock.Context
	hc     vclock.Hint
	fp     uint64
	block  []byte
}

func newSketch(id vclock.ReplicaID, byPath bool) *sketchMap {
	return &sketchMap{id: id, h: codec.HashString(codec.HashSeed, string(id)), byPath: byPath}
}

// keyOf returns the table's key for k: k, or its path at the head of the
// block (left there if the key is new, as state.topPath does).
func (m *sketchMap) keyOf(k string) string {
	if !m.byPath {
		return k
	}
	n := 1 + len(k)
	if n > len(m.block) {
		m.block = make([]byte, 64<<10)
	}
	b := m.block[:n]
	b[0] = byte(len(k))
	copy(b[1:], k)
	return unsafe.String(&b[0], n)
}

// add is Add of n to the counter at k.
func (m *sketchMap) add(k string, n int64, op *Op) {
	key := m.keyOf(k)
	c, at := m.t.Lookup(key)
	if c == nil {
		if m.byPath {
			m.block = m.block[len(key):] // the new key keeps its path
		}
		seq := m.ctx.AddNextHint(m.id, &m.hc).Seq
		c = m.t.Add(at, key)
		*c = sketchCell{key: vclock.Dot{Replica: m.id, Seq: seq}, n: n, lo: uint64(n), hi: int32(n >> 63)}
		hd := codec.HashUint(m.h, seq)
		m.fp += codec.Mix(hd ^ codec.Mix(hd))
		op.kind, op.dot, op.leaf, op.inc = opWrite, c.key, leaf{n: n}, n
		return
	}
	seq, _ := m.ctx.TryAddNextUpTo(m.id, &m.hc, c.key.Seq+maxChainGap)
	old := c.key.Seq + uint64(c.lg)
	c.lg = uint32(seq - c.key.Seq)
	c.n += n
	lo := c.lo + uint64(n)
	if lo < c.lo {
		c.hi++
	}
	c.lo = lo
	hl := codec.HashUint(m.h, old)
	hd := codec.HashUint(m.h, seq)
	m.fp += codec.Mix(hd^codec.Mix(hd)) - codec.Mix(hl^codec.Mix(hl))
	op.kind, op.dot, op.leaf, op.inc = opWrite, vclock.Dot{Replica: m.id, Seq: seq}, leaf{n: c.n, lg: c.lg}, n
}

// TestSketchCounts checks that the sketch does the counting it claims
// (its figures would mean nothing otherwise): every key's total, the
// dots minted, and a fingerprint that depends on the newest dots only.
func TestSketchCounts(t *testing.T) {
	for _, byPath := range []bool{false, true} {
		keys := benchKeys(1000)
		a, b := newSketch("a", byPath), newSketch("a", byPath)
		var op Op
		for range 3 {
			for _, k := range keys {
				a.add(k, 2, &op)
			}
		}
		for _, k := range keys {
			b.add(k, 6, &op)
		}
		for _, k := range keys {
			c := a.t.Find(a.keyOf(k))
			if c == nil || c.n != 6 || c.lo != 6 || c.hi != 0 {
				t.Fatalf("byPath %v: key %q holds %+v, want a total of 6", byPath, k, c)
			}
		}
		if got := a.ctx.Prefix("a"); got != 3000 {
			t.Fatalf("byPath %v: %d dots minted, want 3000", byPath, got)
		}
		if a.fp == b.fp {
			t.Fatalf("byPath %v: maps with different newest dots have one fingerprint %x", byPath, a.fp)
		}
		if op.kind != opWrite || op.inc != 6 || op.leaf.n != 6 {
			t.Fatalf("byPath %v: last op %+v", byPath, op)
		}
	}
}

func benchSketchPut(b *testing.B, byPath bool) {
	keys := benchKeys(N)
	b.ReportAllocs()
	for b.Loop() {
		m := newSketch("bench-a", byPath)
		for _, k := range keys {
			var op Op
			m.add(k, 1, &op)
		}
	}
	perKey(b, N)
}

func benchSketchIncrement(b *testing.B, byPath bool) {
	keys := benchKeys(N)
	m := newSketch("bench-a", byPath)
	var op Op
	for _, k := range keys {
		m.add(k, 1, &op)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, k := range keys {
			var op Op
			m.add(k, 1, &op)
		}
	}
	perKey(b, N)
}

// BenchmarkSketchPut100k is BenchmarkAddPut100k in the sketch, keyed by key.
func BenchmarkSketchPut100k(b *testing.B) { benchSketchPut(b, false) }

// BenchmarkSketchPutByPath100k is BenchmarkSketchPut100k keyed by path.
func BenchmarkSketchPutByPath100k(b *testing.B) { benchSketchPut(b, true) }

// BenchmarkSketchIncrement100k is BenchmarkAddIncrement100k in the
// sketch, keyed by key.
func BenchmarkSketchIncrement100k(b *testing.B) { benchSketchIncrement(b, false) }

// BenchmarkSketchIncrementByPath100k is BenchmarkSketchIncrement100k
// keyed by path.
func BenchmarkSketchIncrementByPath100k(b *testing.B) { benchSketchIncrement(b, true) }
