package register

import (
	"fmt"
	"sync"
	"testing"

	"github.com/activeactive/crdt/clock"
)

// Read-only methods may run at the same time on one register, including as
// the argument of other registers' Merge: run with -race.
func TestLWWConcurrentReaders(t *testing.T) {
	r := NewLWW[string]("a", newFakeTime(t0).clock())
	r.Set("v")
	want, _ := r.MarshalBinary()
	fp := r.Fingerprint()
	var wg sync.WaitGroup
	errs := make(chan error, 8*20)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if v, ok := r.Get(); !ok || v != "v" || r.Fingerprint() != fp || !r.Equal(r) {
					errs <- fmt.Errorf("Get/Fingerprint/Equal changed")
				}
				if b, err := r.MarshalBinary(); err != nil || string(b) != string(want) {
					errs <- fmt.Errorf("MarshalBinary: %v", err)
				}
				c := r.Clone()
				target := NewLWW[string]("z", clock.New(clock.WithMaxOffset(0)))
				target.Merge(r)
				if !target.Equal(c) || target.Fingerprint() != fp {
					errs <- fmt.Errorf("merging into an empty register does not copy it")
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
