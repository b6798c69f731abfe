package register

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestMVFingerprint checks, over random writes, ops delivered in any order
// and merges, that the fingerprint kept up to date equals one computed
// from scratch, survives encoding, and is equal for Equal registers.
func TestMVFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 4).Draw(t, "replicas")
		var regs []*MV[string]
		for i := range n {
			regs = append(regs, NewMV[string](vclock.ReplicaID(fmt.Sprint("r", i))))
		}
		var ops []MVOp[string]
		for step := range rapid.IntRange(0, 40).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "i")
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0:
				ops = append(ops, regs[i].Set(fmt.Sprint(step)))
			case 1:
				if len(ops) > 0 {
					op := rapid.SampledFrom(ops).Draw(t, "op")
					if err := regs[i].Apply(op); err != nil {
						t.Fatal(err)
					}
				}
			case 2:
				regs[i].Merge(regs[rapid.IntRange(0, n-1).Draw(t, "j")])
			}
		}
		for i, m := range regs {
			if got, want := m.Fingerprint(), m.k.ScanFingerprint(); got != want {
				t.Fatalf("r%d keeps fingerprint %x, its store gives %x", i, got, want)
			}
			var c MV[string]
			if err := c.UnmarshalBinary(mustMarshal(t, m)); err != nil {
				t.Fatal(err)
			}
			if c.Fingerprint() != m.Fingerprint() {
				t.Fatalf("r%d decoded has another fingerprint", i)
			}
		}
		for _, m := range regs[1:] {
			regs[0].Merge(m)
		}
		for _, m := range regs[1:] {
			m.Merge(regs[0])
			if !m.Equal(regs[0]) || m.Fingerprint() != regs[0].Fingerprint() {
				t.Fatalf("merged registers: Equal %v, fingerprints %x and %x", m.Equal(regs[0]), m.Fingerprint(), regs[0].Fingerprint())
			}
		}
	})
}
