package register

import (
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
)

// A replica restarted from its own saved state on a host whose clock was
// stepped back (by more than the clock's maximum offset) must still
// write after what it wrote before: its next Set must win over its own
// earlier one. UnmarshalBinary advanced the clock with Update, which
// refused the saved timestamp as too far ahead and was ignored, so the
// new write was stamped before the old one and lost to it.
func TestLWWRestoredAfterClockSteppedBack(t *testing.T) {
	var now fakeTime
	now.ns.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	r := NewLWW[string]("us", clock.New(clock.WithSource(now.ns.Load)))
	r.Set("before the restart")
	saved, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := int64(10 * time.Second) // the host's clock stepped back
	s := NewLWW[string]("us!2", clock.New(clock.WithSource(func() int64 { return now.ns.Load() - back })))
	if err := s.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	s.Set("after the restart")
	if v, _ := s.Get(); v != "after the restart" {
		t.Errorf("after a restart with the clock stepped back, Get = %q: the new write lost to the old", v)
	}
}
