package counter

import (
	"fmt"
	"sync"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// concurrently runs read in 8 goroutines, 20 times each, and fails with
// the first error any of them reports. Run with -race.
func concurrently(t *testing.T, read func() error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := read(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// Read-only methods may run at the same time on one counter, including as
// the argument of other counters' Merge.
func TestGConcurrentReaders(t *testing.T) {
	g := NewG("a")
	g.Inc(5)
	for i := range 20 {
		g.Apply(GOp{Replica: vclock.ReplicaID(fmt.Sprintf("r%02d", i)), Count: uint64(i + 1)})
	}
	want, _ := g.MarshalBinary()
	v0 := vclock.Of(map[vclock.ReplicaID]uint64{"r03": 2})
	vb, _ := v0.MarshalBinary()
	value, fp := g.Value(), g.Fingerprint()
	concurrently(t, func() error {
		if g.Value() != value || g.Fingerprint() != fp || !g.Equal(g) {
			return fmt.Errorf("Value/Fingerprint/Equal changed")
		}
		_ = g.Version()
		_ = g.DeltaSince(v0)
		if _, err := g.DeltaSinceBinary(vb); err != nil {
			return err
		}
		if b, err := g.MarshalBinary(); err != nil || string(b) != string(want) {
			return fmt.Errorf("MarshalBinary: %v", err)
		}
		if _, err := g.VersionBinary(); err != nil {
			return err
		}
		c := g.Clone()
		target := NewG("z")
		target.Merge(g)
		if !target.Equal(c) || target.Fingerprint() != fp {
			return fmt.Errorf("merging into an empty counter does not copy it")
		}
		return nil
	})
}

func TestPNConcurrentReaders(t *testing.T) {
	c := NewPN("a")
	c.Add(-5)
	for i := range 20 {
		c.Apply(PNOp{Replica: vclock.ReplicaID(fmt.Sprintf("r%02d", i)), P: uint64(i + 1), N: 1})
	}
	want, _ := c.MarshalBinary()
	v0 := vclock.Of(map[vclock.ReplicaID]uint64{"r03": 2})
	vb, _ := v0.MarshalBinary()
	value, fp := c.Value(), c.Fingerprint()
	concurrently(t, func() error {
		if c.Value() != value || c.Fingerprint() != fp || !c.Equal(c) {
			return fmt.Errorf("Value/Fingerprint/Equal changed")
		}
		_ = c.Version()
		_ = c.DeltaSince(v0)
		if _, err := c.DeltaSinceBinary(vb); err != nil {
			return err
		}
		if b, err := c.MarshalBinary(); err != nil || string(b) != string(want) {
			return fmt.Errorf("MarshalBinary: %v", err)
		}
		if _, err := c.VersionBinary(); err != nil {
			return err
		}
		cl := c.Clone()
		target := NewPN("z")
		target.Merge(c)
		if !target.Equal(cl) || target.Fingerprint() != fp {
			return fmt.Errorf("merging into an empty counter does not copy it")
		}
		return nil
	})
}
