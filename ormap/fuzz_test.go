package ormap

import (
	"bytes"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/vclock"
)

// seedMap returns a map with a bit of everything: several replicas,
// concurrent writes, deletes (drop records) and an out-of-order op (a
// ghost).
func seedMap(t testing.TB) *cartMap {
	m := goldenState(t)
	c := New[string, *Map[string, *Counter]]("c")
	w := c.At("bob").At("kiwi").Add(2)
	del := c.At("bob").Delete("kiwi")
	if err := m.Apply(del); err != nil { // before the write it drops
		t.Fatal(err)
	}
	_ = w
	// Expiries at both levels, one replaced by a persist.
	m.SetClock(clock.New(clock.WithSource(func() int64 { return t0 })))
	for _, op := range []Op{m.Expire("bob", time.Minute), m.At("bob").Expire("fig", time.Second), m.At("bob").Persist("fig")} {
		if op.Err() != nil || op.IsNoop() {
			t.Fatalf("seed %v: %v", op, op.Err())
		}
	}
	return m
}

func seedStates(f *testing.F) {
	m := seedMap(f)
	f.Add(mustMarshal(f, m))
	f.Add(mustMarshal(f, &cartMap{}))
	f.Add(mustMarshal(f, m.DeltaSince(vclock.Clock{})))
}

func seedOps(f *testing.F) {
	a, b := New[string, *Map[string, *Counter]]("a"), New[string, *Map[string, *Counter]]("b")
	if err := a.Apply(b.At("x").At("y").Add(3)); err != nil {
		f.Fatal(err)
	}
	a.SetClock(clock.New(clock.WithSource(func() int64 { return t0 })))
	for _, op := range []Op{a.At("x").At("z").Add(-1), a.At("x").At("z").Add(-1), a.Expire("x", time.Hour), a.At("x").Expire("z", time.Hour), a.Persist("x"), a.At("x").Delete("y"), a.Delete("x"), a.Delete("x")} {
		f.Add(mustMarshal(f, op))
	}
	// A write to an expired key, resetting the chain it drops.
	tm := newManual()
	c := clocked[string, *Map[string, *Counter]]("c", tm.clockAt(0))
	c.At("x").At("y").Add(1)
	c.At("x").At("y").Add(1)
	c.Expire("x", time.Second)
	tm.advance(time.Hour)
	if op := c.At("x").At("y").Add(1); !op.preLeaf().isReset() {
		f.Fatalf("seed %v: no reset", op)
	} else {
		f.Add(mustMarshal(f, op))
	}
}

// FuzzMapDecode feeds any input to every decoding method: each either
// refuses it with a decode error, changing nothing, or takes it; what a
// map decodes it encodes again to the same bytes' meaning.
func FuzzMapDecode(f *testing.F) {
	seedStates(f)
	seedOps(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m cartMap
		if err := m.UnmarshalBinary(data); err != nil {
			requireDecodeError(t, "UnmarshalBinary", err)
			if m.Len() != 0 {
				t.Fatal("a refused state changed the map")
			}
		} else {
			again := mustMarshal(t, &m)
			var m2 cartMap
			if err := m2.UnmarshalBinary(again); err != nil || !m2.Equal(&m) || !bytes.Equal(mustMarshal(t, &m2), again) {
				t.Fatalf("a decoded state does not round-trip: %v", err)
			}
		}
		s := seedMap(t)
		before := s.Clone()
		if _, err := s.MergeBinary(data); err != nil {
			requireDecodeError(t, "MergeBinary", err)
			if !s.Equal(before) {
				t.Fatal("a refused state changed the map")
			}
		}
		s = seedMap(t)
		if _, err := s.HealBinary(data); err != nil {
			requireDecodeError(t, "HealBinary", err)
			if !s.Equal(before) {
				t.Fatal("a refused state changed the map")
			}
		}
		s = seedMap(t)
		if _, err := s.ApplyBinary(data); err != nil {
			requireDecodeError(t, "ApplyBinary", err)
			if !s.Equal(before) {
				t.Fatal("a refused op changed the map")
			}
		}
		if op, err := s.DecodeOp(data); err == nil && !op.IsNoop() {
			b := mustMarshal(t, op)
			if op2, err := s.DecodeOp(b); err != nil || op2.dot != op.dot || op2.leaf != op.leaf {
				t.Fatalf("a decoded op does not round-trip: %v", err)
			}
		}
		_, _ = s.DeltaSinceBinary(data)
		_ = s.CollectBinary([][]byte{data})
	})
}

// checkCost runs f, the handling of one input of n bytes, and fails t if
// it costs more than the bounds of package costcheck allow (256 KiB
// fixed: the reader, an empty table, the index's root).
func checkCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	costcheck.Check(t, what, n, 256<<10, f)
}

// seedCosts adds inputs that are costly if decoding is not linear: a
// state of many keys, a delete dropping many dots of many replicas, a
// state claiming more keys than it holds.
func seedCosts(f *testing.F) {
	big := New[string, *Map[string, *Counter]]("r")
	for i := range 2000 {
		big.At(string(rune('a' + i%26))).At(string(rune('A' + i%50))).Add(int64(i + 1))
	}
	f.Add(mustMarshal(f, big))
	many := New[string, *Counter]("r")
	for i := range 1500 {
		w := New[string, *Counter](vclock.ReplicaID(rune(0x100 + i)))
		if err := many.Apply(w.At("k").Add(1)); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(mustMarshal(f, many.Delete("k")))
	w := codec.NewWriter(codec.KindORMap, 0)
	w.Array(3)
	w.Array(0)
	w.Uint(30000)
	w.Array(0)
	w.Raw(make([]byte, 30000))
	b, err := w.Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

// FuzzMapDecodeCost holds every decoding method of a Map, on any input,
// to the allocation and time bounds of package costcheck.
func FuzzMapDecodeCost(f *testing.F) {
	seedStates(f)
	seedOps(f)
	seedCosts(f)
	seedParts(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m cartMap
		checkCost(t, "UnmarshalBinary", costcheck.Weight(data), func() { _ = m.UnmarshalBinary(data) })
		s := seedMap(t)
		checkCost(t, "MergeBinary", costcheck.Weight(data), func() { _, _ = s.MergeBinary(data) })
		s = seedMap(t)
		checkCost(t, "ApplyBinary", costcheck.Weight(data), func() { _, _ = s.ApplyBinary(data) })
		checkCost(t, "ApplyBinaryFrom", costcheck.Weight(data), func() { _, _ = s.ApplyBinaryFrom(data, "a") })
		checkCost(t, "DeltaSinceBinary", costcheck.Weight(data), func() { _, _ = s.DeltaSinceBinary(data) })
		checkCost(t, "CollectBinary", costcheck.Weight(data), func() { _ = s.CollectBinary([][]byte{data}) })
		s = seedMap(t)
		checkCost(t, "MergeChunkBinary", costcheck.Weight(data), func() { _, _ = s.MergeChunkBinary(data) })
		s = seedMap(t)
		checkCost(t, "HealChunkBinary", costcheck.Weight(data), func() { _, _ = s.HealChunkBinary(data) })
	})
}

// seedParts adds the parts of seedMap and of a map of a few hundred
// counters with deletes, whole and as a delta, cut small: parts of
// every kind.
func seedParts(f *testing.F) {
	big := New[string, *Map[string, *Counter]]("r")
	for i := range 300 {
		big.At(string(rune('a' + i%7))).At(string(rune('A' + i%23))).Add(int64(i%5 + 1))
		if i%11 == 0 {
			big.At(string(rune('a' + i%7))).Delete(string(rune('A' + i%13)))
		}
	}
	var half vclock.Clock
	half.Advance("r", 100)
	for _, m := range []*cartMap{seedMap(f), big} {
		for _, version := range [][]byte{nil, mustMarshal(f, half)} {
			parts, _, err := m.ChunksBinary(version, 128)
			if err != nil {
				f.Fatal(err)
			}
			for _, p := range parts {
				f.Add(p)
			}
		}
	}
}

// FuzzMapMergeChunkBinary feeds MergeChunkBinary and HealChunkBinary
// arbitrary parts, seeded with real ones of every kind. A part is refused
// with a
// *codec.DecodeError and changes nothing, or is merged and leaves a map
// whose state its own decoder takes back to an equal map, and whose
// index is the one its store makes: no part can break the map's
// invariants.
func FuzzMapMergeChunkBinary(f *testing.F) {
	seedParts(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, heal := range []bool{false, true} {
			s := seedMap(t)
			before := s.Clone()
			merge, what := s.MergeChunkBinary, "MergeChunkBinary"
			if heal {
				merge, what = s.HealChunkBinary, "HealChunkBinary"
			}
			if _, err := merge(data); err != nil {
				requireDecodeError(t, what, err)
				if !s.Equal(before) || s.Fingerprint() != before.Fingerprint() || !bytes.Equal(mustMarshal(t, s), mustMarshal(t, before)) {
					t.Fatalf("%s: a refused part changed the map", what)
				}
				continue
			}
			var back cartMap
			if err := back.UnmarshalBinary(mustMarshal(t, s)); err != nil {
				t.Fatalf("after %s, the map encodes to a state refused: %v", what, err)
			}
			if !back.Equal(s) || back.Fingerprint() != s.Fingerprint() {
				t.Fatalf("after %s, the map does not round-trip", what)
			}
			if a, b := dumpIndex(&s.s.ix), dumpIndex(rebuiltIndex(s.s)); a != b {
				t.Fatalf("after %s the index is\n%s\nits store makes\n%s", what, a, b)
			}
		}
	})
}
