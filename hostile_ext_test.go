package crdt_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
)

// Regression (issue 9, finding 12): Handle.Update changed the object
// before the op was encoded, so a value that cannot be encoded (a func in
// a map of any) stayed in the local map, never shipped, and every later
// snapshot failed. The mutation now changes nothing, Update returns the
// encoding error, and the replica goes on saving.
func TestRegressionFailedUpdateChangesNothing(t *testing.T) {
	r, err := crdt.NewReplica(crdt.Config{ID: "a", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(r, "kv", lwwmap.New[string, any]("a", r.Clock()))
	if err := h.Update(func(m *lwwmap.Map[string, any]) (crdt.Op, error) { return m.Put("ok", 1), nil }); err != nil {
		t.Fatal(err)
	}
	err = h.Update(func(m *lwwmap.Map[string, any]) (crdt.Op, error) { return m.Put("bad", func() {}), nil })
	if err == nil {
		t.Fatal("Update with a value that cannot be encoded succeeded")
	}
	h.Read(func(m *lwwmap.Map[string, any]) {
		if _, ok := m.Get("bad"); ok || m.Len() != 1 {
			t.Fatalf("the failed update left %d keys, bad present %v", m.Len(), ok)
		}
	})
	if st := r.Stats(); st.Seq != 1 {
		t.Fatalf("seq %d after one good and one failed update, want 1", st.Seq)
	}
	if err := r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
		t.Fatalf("a snapshot after the failed update: %v", err)
	}
}
