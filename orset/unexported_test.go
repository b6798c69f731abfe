package orset

import "testing"

// msgpack writes a struct's exported fields only: two elements that
// differ in an unexported field alone are two elements to the replica
// that added them and one, with both dots, to every peer, where the two
// encodings decode alike. The replicas then differ in content (two
// elements against one) under one fingerprint, which hashes the
// encodings. Elements are held as a peer decodes them, unexported fields
// zero.
func TestUnexportedFieldsDoNotMakeTwoElements(t *testing.T) {
	type item struct {
		Name string
		note string // not replicated
	}
	a, b := New[item]("a"), New[item]("b")
	for _, op := range []Op[item]{a.Add(item{"milk", "x"}), a.Add(item{"milk", "y"})} {
		if err := b.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	st, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := New[item]("c")
	if _, err := c.MergeBinary(st); err != nil {
		t.Fatal(err)
	}
	if a.Len() != c.Len() || a.Len() != 1 {
		t.Errorf("a holds %d elements, a replica that took its state %d (fingerprints %x, %x)", a.Len(), c.Len(), a.Fingerprint(), c.Fingerprint())
	}
	if !a.Equal(c) || !a.Equal(b) {
		t.Error("a differs from replicas that took its ops and its state")
	}
	if !a.Contains(item{"milk", "z"}) {
		t.Error("Contains of the element with another unexported field: false")
	}
}
