package dotkernel

import (
	"fmt"
	"testing"
)

// BenchmarkTableAddRemove100k puts 100,000 keys "key-000000"... into a
// new table and removes every second one: the store alone, without the
// kernel's context, records and fingerprint, beside the same work on a
// Go map (BenchmarkFloorMapAddRemove100k). The difference between this
// and orset's BenchmarkAddRemove100k is what the kernel adds to the
// table.
func BenchmarkTableAddRemove100k(b *testing.B) {
	keys := benchKeys(100_000)
	b.ReportAllocs()
	for b.Loop() {
		var t table[string, struct{}]
		for i, k := range keys {
			t.put(k, entry[struct{}]{d: uint64(i+1) << seqShift})
		}
		for i := 0; i < len(keys); i += 2 {
			t.remove(keys[i])
		}
	}
}

func BenchmarkFloorMapAddRemove100k(b *testing.B) {
	keys := benchKeys(100_000)
	b.ReportAllocs()
	for b.Loop() {
		m := map[string]entry[struct{}]{}
		for i, k := range keys {
			m[k] = entry[struct{}]{d: uint64(i+1) << seqShift}
		}
		for i := 0; i < len(keys); i += 2 {
			delete(m, keys[i])
		}
	}
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%06d", i)
	}
	return keys
}
