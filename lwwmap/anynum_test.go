package lwwmap

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// In a map whose keys are of an interface type, a peer holds what
// msgpack decodes: the key 1, put as an int, arrives as an int8. The
// writer held it as an int, so a concurrent put of 1 elsewhere left it
// with two keys where every other replica had one, with other
// fingerprints. Keys holding interfaces are held in the form a decoder
// gives them, whoever made them.
func TestNumbersInInterfaceKeysAreOneKey(t *testing.T) {
	ft := &fakeTime{now: start}
	mk := func(id string, off int64) *Map[any, string] {
		return New[any, string](vclock.ReplicaID(id), clock.New(clock.WithSource(ft.source(off))))
	}
	a, b := mk("a", 0), mk("b", 1)
	x := a.Put(1, "a")
	y := b.Put(int64(1), "b")
	bx, err := x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	by, err := y.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ApplyBinary(by); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyBinary(bx); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 1 || b.Len() != 1 || !a.Equal(b) || a.Fingerprint() != b.Fingerprint() {
		t.Errorf("one key written twice: %d and %d keys, fingerprints %x and %x", a.Len(), b.Len(), a.Fingerprint(), b.Fingerprint())
	}
	for _, k := range []any{1, int8(1), int64(1), uint(1)} {
		if _, ok := a.Get(k); !ok {
			t.Errorf("Get(%T %v) finds nothing", k, k)
		}
	}
}
