package dotkernel

import (
	"fmt"
	"testing"
	"time"
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

// BenchmarkTableGrow1M puts 1,050,000 keys "element-0000000"... into a
// new table through look-up and set, as a catch-up's parts merge them,
// timing each window of 60,000 keys (about a 1 MiB part of an OR-Set of
// such elements): max-window-ms is the window that pays for the table
// growing past 917,504 keys, when a doubling moves every key.
func BenchmarkTableGrow1M(b *testing.B) {
	const window = 60_000
	keys := make([]string, 1_050_000)
	for i := range keys {
		keys[i] = fmt.Sprintf("element-%07d", i)
	}
	b.ReportAllocs()
	var longest, sum time.Duration
	windows := 0
	for b.Loop() {
		var t table[string, struct{}]
		for lo := 0; lo < len(keys); lo += window {
			t0 := time.Now()
			for _, k := range keys[lo:min(len(keys), lo+window)] {
				e, at, ok := t.lookup(k)
				t.setAt(at, ok, k, e)
			}
			took := time.Since(t0)
			longest = max(longest, took)
			sum += took
			windows++
		}
	}
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-window-ms")
	b.ReportMetric(float64(sum.Microseconds())/1000/float64(windows), "mean-window-ms")
}
