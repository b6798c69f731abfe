package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// The benchmarks of this file measure the paths where a conflict hook is
// consulted, without one: they compile and run unchanged on the code from
// before conflict reports, for comparison (see BENCHMARKS.md).

const conflictKeys = 1000

// losingSetup returns a map whose keys hold writes far ahead, and ops of
// another replica for those keys, each losing.
func losingSetup() (*Map[string, string], []Op[string, string]) {
	keys, vals := benchData(conflictKeys)
	ft := &fakeTime{now: start}
	far := New[string, string]("ap-south-1", clock.New(clock.WithSource(ft.source(1e9))))
	m := New[string, string]("us-east-1", clock.New(clock.WithSource(ft.source(0))))
	src := New[string, string]("eu-west-1", clock.New(clock.WithSource(ft.source(0))))
	ops := make([]Op[string, string], 0, conflictKeys)
	for i := range keys {
		far.Put(keys[i], vals[i])
		ops = append(ops, src.Put(keys[i], vals[i]))
	}
	m.Merge(far)
	return m, ops
}

// BenchmarkApplyLosing1k applies 1,000 writes that each lose to the key's
// entry, into a fresh copy of the map each time: where a hook would hear
// of conflicts.
func BenchmarkApplyLosing1k(b *testing.B) {
	m, ops := losingSetup()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := m.Clone()
		b.StartTimer()
		for _, op := range ops {
			if err := c.Apply(op); err != nil {
				b.Fatal(err)
			}
		}
	}
	perElem(b, conflictKeys)
}
