package ormap

import "testing"

// A key of an interface type travels as msgpack, which has one integer
// type: the key 1, made as an int here, arrives as an int8 at a peer,
// whose segment (the key's in-memory form) was another. A key added at
// two replicas made two keys, each with half the count, where the
// replicas should hold one. Keys holding interfaces take the segment of
// the form a peer decodes them in.
func TestNumbersInInterfaceKeysAreOneKey(t *testing.T) {
	a := New[any, *Counter]("a")
	b := New[any, *Counter]("b")
	x, y := a.At(1).Add(1), b.At(int64(1)).Add(1)
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
	for _, m := range []*Map[any, *Counter]{a, b} {
		if m.Len() != 1 || m.At(1).Value() != 2 {
			t.Errorf("%s: %d keys, key 1 counts %d; want one key counting 2", m.ID(), m.Len(), m.At(1).Value())
		}
	}
}
