package lwwmap

import (
	"fmt"
	"sync"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// Read-only methods may run at the same time on one map, including as the
// argument of other maps' Merge: run with -race.
func TestConcurrentReaders(t *testing.T) {
	ft := &fakeTime{now: start}
	m := New[string, int]("a", clock.New(clock.WithSource(ft.source(0))))
	other := New[string, int]("b", clock.New(clock.WithSource(ft.source(0))))
	for i := range 200 {
		m.Put(fmt.Sprint(i), i)
		if i%3 == 0 {
			m.Delete(fmt.Sprint(i))
		}
		if i%5 == 0 {
			m.Apply(other.Put(fmt.Sprint(i+1000), i))
		}
	}
	early := vclock.Of(map[vclock.ReplicaID]uint64{"a": 50})
	ev, _ := early.MarshalBinary()
	want, _ := m.MarshalBinary()
	wantLen, wantFP := m.Len(), m.Fingerprint()
	wantCFP := m.ContentFingerprint()
	m.cfp.Store(nil) // each reader may compute it, and cache it, at once
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if v, ok := m.Get("1"); !ok || v != 1 {
					errs <- fmt.Errorf("Get = %v, %v", v, ok)
				}
				n := 0
				for range m.All() {
					n++
				}
				for range m.Keys() {
					n--
				}
				if n != 0 || m.Len() != wantLen || m.Fingerprint() != wantFP || m.ContentFingerprint() != wantCFP {
					errs <- fmt.Errorf("All/Keys/Len/Fingerprint disagree")
				}
				if !m.Equal(m) {
					errs <- fmt.Errorf("not Equal to itself")
				}
				_ = m.Version()
				if g%2 == 0 {
					_ = m.DeltaSince(early)
				} else if _, err := m.DeltaSinceBinary(ev); err != nil {
					errs <- err
				}
				if b, err := m.MarshalBinary(); err != nil || string(b) != string(want) {
					errs <- fmt.Errorf("MarshalBinary: %v", err)
				}
				if _, err := m.VersionBinary(); err != nil {
					errs <- err
				}
				c := m.Clone()
				target := &Map[string, int]{}
				target.Merge(m)
				if !target.Equal(c) || target.Fingerprint() != wantFP {
					errs <- fmt.Errorf("merging the map into an empty one does not copy it")
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
