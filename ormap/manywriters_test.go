package ormap_test

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// manyWriters returns a map of counters whose key "k" was incremented
// once by each of n writers, each a chain of its own, and its state: what
// a catch-up relayed from a group of n replicas, or forged by one peer,
// carries.
func manyWriters(t testing.TB, n int) (*ormap.Map[string, *ormap.Counter], []byte) {
	src := ormap.New[string, *ormap.Counter](vclock.Writer("src", 1))
	for i := range n {
		w := vclock.Writer(vclock.ReplicaID(fmt.Sprintf("r%06d", i)), 1)
		if _, err := src.ApplyBinaryFrom(chainStartOp(t, w, 1), w); err != nil {
			t.Fatal(err)
		}
	}
	state, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return src, state
}

// TestKeyOfManyWriters: a key written by thousands of writers merges, is
// incremented, and deleted, and the delete applied elsewhere, each in
// work linear in the state or op (a key's node indexes its dots once it
// holds many: before, each dot added or dropped walked all the others,
// and a delete of a key of 16,000 writers, 416 KB, took 0.9 s to apply).
func TestKeyOfManyWriters(t *testing.T) {
	const n = 2000
	src, state := manyWriters(t, n)
	var m *ormap.Map[string, *ormap.Counter]
	costcheck.Check(t, "MergeBinary", len(state), 256<<10, func() {
		m = ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
		if _, err := m.MergeBinary(state); err != nil {
			t.Fatal(err)
		}
	})
	if got := m.At("k").Value(); got != n {
		t.Fatalf("k = %d after merging %d increments of 1", got, n)
	}
	inc, err := m.At("k").Add(5).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ApplyBinaryFrom(inc, vclock.Writer("me", 1)); err != nil {
		t.Fatal(err)
	}
	del, err := m.Delete("k").MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	costcheck.Check(t, "applying the delete", len(del), 256<<10, func() {
		if _, err := src.Clone().ApplyBinaryFrom(del, vclock.Writer("me", 1)); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := src.ApplyBinaryFrom(del, vclock.Writer("me", 1)); err != nil {
		t.Fatal(err)
	}
	if src.Has("k") || m.Has("k") || src.Fingerprint() != m.Fingerprint() {
		t.Fatalf("after the delete: k at the source %v, here %v; fingerprints %#x, %#x", src.Has("k"), m.Has("k"), src.Fingerprint(), m.Fingerprint())
	}
}

// BenchmarkKeyOfManyWriters merges a state whose one key was written by
// each of n writers into an empty map, deletes the key there, and
// applies the delete to the state's source: ns per writer.
func BenchmarkKeyOfManyWriters(b *testing.B) {
	for _, n := range []int{1000, 16000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src, state := manyWriters(b, n)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				s := src.Clone()
				b.StartTimer()
				m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
				if _, err := m.MergeBinary(state); err != nil {
					b.Fatal(err)
				}
				del, err := m.Delete("k").MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.ApplyBinaryFrom(del, vclock.Writer("me", 1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/writer")
		})
	}
}

// BenchmarkIncrementKeyOfManyWriters increments, here, a key that each of
// n writers incremented once: ns per increment.
func BenchmarkIncrementKeyOfManyWriters(b *testing.B) {
	for _, n := range []int{1000, 16000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			_, state := manyWriters(b, n)
			m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
			if _, err := m.MergeBinary(state); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := ormap.Add(m, "k", 1).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIncrementKeyOfManyWritersWithReset increments, here, a key
// that each of n writers incremented once, then another writer deleted
// while a late writer incremented it (a reset of n entries applies to
// the key), then n more writers incremented: ns per increment.
func BenchmarkIncrementKeyOfManyWritersWithReset(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			m := ormap.New[string, *ormap.Counter](vclock.Writer("me", 1))
			xw, lw := vclock.Writer("x", 1), vclock.Writer("late", 1)
			x := ormap.New[string, *ormap.Counter](xw)
			inc := func(i int, to ...*ormap.Map[string, *ormap.Counter]) {
				w := vclock.Writer(vclock.ReplicaID(fmt.Sprintf("r%06d", i)), 1)
				if i < 0 {
					w = lw
				}
				op, err := ormap.New[string, *ormap.Counter](w).At("k").Add(1).MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				for _, m := range to {
					if _, err := m.ApplyBinaryFrom(op, w); err != nil {
						b.Fatal(err)
					}
				}
			}
			for i := range n {
				inc(i, m, x)
			}
			inc(-1, m)
			del, err := x.Delete("k").MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.ApplyBinaryFrom(del, xw); err != nil {
				b.Fatal(err)
			}
			for i := n; i < 2*n; i++ {
				inc(i, m)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := m.At("k").Add(1).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
