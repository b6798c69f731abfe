package register

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// mvSiblings returns a register holding concurrent writes of several
// replicas, some replaced.
func mvSiblings(t *testing.T) *MV[string] {
	var regs []*MV[string]
	for i := range 6 {
		regs = append(regs, NewMV[string](vclock.ReplicaID(fmt.Sprint("r", i))))
	}
	for round := range 3 {
		for i, m := range regs {
			m.Set(fmt.Sprint(round, "-", i))
		}
	}
	m := regs[0]
	for _, o := range regs[1:] {
		m.Merge(o)
	}
	return m
}

// TestRegressionMVConcurrentReadersRace runs every read-only method of an
// MV from several goroutines at once, the register also being the argument
// of other registers' Merge (run with -race). Each result is compared with
// that of the same call made alone.
func TestRegressionMVConcurrentReadersRace(t *testing.T) {
	m, other := mvSiblings(t), mvSiblings(t)
	var old vclock.Clock
	old.Set("r1", 1)
	wantDelta := mustMarshal(t, m.DeltaSince(old))
	wantState := mustMarshal(t, m)
	wantValues := m.Values()
	const readers = 8
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for g := range readers {
		wg.Go(func() {
			fail := func(format string, args ...any) {
				if errs[g] == nil {
					errs[g] = fmt.Errorf(format, args...)
				}
			}
			for range 20 {
				if got, _ := m.DeltaSince(old).MarshalBinary(); !slices.Equal(got, wantDelta) {
					fail("DeltaSince differs")
				}
				if got, _ := m.MarshalBinary(); !slices.Equal(got, wantState) {
					fail("MarshalBinary differs")
				}
				if !m.Equal(other) || !other.Equal(m) || !m.Clone().Equal(m) {
					fail("Equal or Clone wrong")
				}
				z := NewMV[string]("z")
				z.Merge(m)
				if !z.Equal(m) {
					fail("Merge of the shared register differs")
				}
				if !slices.Equal(m.Values(), wantValues) || m.Version().Len() != 6 {
					fail("Values or Version wrong")
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
