package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// BenchmarkApplyLosing1kHooked is BenchmarkApplyLosing1k with a hook set:
// every op is reported.
func BenchmarkApplyLosing1kHooked(b *testing.B) {
	m, ops := losingSetup()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		c := m.Clone()
		c.SetConflictHook(func(vclock.Conflict) { n++ })
		b.StartTimer()
		for _, op := range ops {
			if err := c.Apply(op); err != nil {
				b.Fatal(err)
			}
		}
	}
	if n == 0 {
		b.Fatal("nothing reported")
	}
	perElem(b, conflictKeys)
}
