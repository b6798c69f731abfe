package lwwmap

import (
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
)

// A replica restarted from its own saved state on a host whose clock was
// stepped back (by more than the clock's maximum offset) must still
// write after what it wrote before: its next put of a key must win over
// its own earlier put. UnmarshalBinary advanced the clock with Update,
// which refused the saved timestamps as too far ahead and was ignored,
// so the new put was stamped before the old one and lost to it, here
// and everywhere.
func TestRestoredStateAfterClockSteppedBack(t *testing.T) {
	ft := &fakeTime{now: start}
	m := New[string, string]("us", clock.New(clock.WithSource(ft.source(0))))
	m.Put("k", "before the restart")
	saved, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := -int64(10 * time.Second) // the host's clock stepped back
	r := New[string, string]("us!2", clock.New(clock.WithSource(ft.source(back))))
	if err := r.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	r.Put("k", "after the restart")
	if v, _ := r.Get("k"); v != "after the restart" {
		t.Errorf("after a restart with the clock stepped back, Get = %q: the new put lost to the old", v)
	}
}
