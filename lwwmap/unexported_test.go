package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
)

// msgpack writes a struct's exported fields only: two keys that differ in
// an unexported field alone were two keys to the replica that wrote them,
// whose state then held one key twice for every decoder ("key twice"),
// so no peer could take it. Keys are held as a peer decodes them,
// unexported fields zero.
func TestUnexportedKeyFieldsDoNotMakeTwoKeys(t *testing.T) {
	type key struct {
		Name string
		note string // not replicated
	}
	ft := &fakeTime{now: start}
	a := New[key, string]("a", clock.New(clock.WithSource(ft.source(0))))
	a.Put(key{"k", "x"}, "1")
	ft.now += 10
	a.Put(key{"k", "y"}, "2")
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := New[key, string]("c", clock.New(clock.WithSource(ft.source(1))))
	if _, err := c.MergeBinary(st); err != nil {
		t.Fatalf("a peer cannot take a's state: %v", err)
	}
	if a.Len() != 1 || !a.Equal(c) {
		t.Errorf("a holds %d keys, a replica that took its state %d", a.Len(), c.Len())
	}
	if v, ok := a.Get(key{"k", "z"}); !ok || v != "2" {
		t.Errorf("Get of the key with another unexported field = %q, %v", v, ok)
	}
}
