package lwwmap

import (
	"errors"
	"strings"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// reusedDotPair returns maps m and p after m reissued a dot: m writes k0
// (dot m:1), p merges m, then m restores a state older than that write
// and, under the same ID, writes k1 with m:1 again. p also holds an older
// write of k1, so that no merge takes k1 for deleted.
func reusedDotPair(t *testing.T) (m, p *Map[string, int]) {
	t.Helper()
	clk := clock.New()
	a := New[string, int]("a", clk)
	m, p = New[string, int]("m", clk), New[string, int]("p", clk)
	a.Put("k0", 1)
	p.Put("k1", 0)
	m.Merge(a)
	saved, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m.Put("k0", 2) // dot m:1
	p.Merge(m)
	if err := m.UnmarshalBinary(saved); err != nil {
		t.Fatal(err)
	}
	if d := m.Put("k1", 3).Dot(); d.Replica != "m" || d.Seq != 1 {
		t.Fatalf("set-up: the write of k1 took %v, want m:1 again", d)
	}
	return m, p
}

// TestMergeIgnoresReissuedDot checks that a merge takes no write whose dot
// the map has seen, even when it is newer than the key's entry, as an op
// would be ignored: after a writer reissued a dot, the two writes under
// it are each ignored where the other was seen first, as UnmarshalBinary
// warns, and no map ends with two keys holding one dot (which no encoding
// can express). The replicas then differ, and their fingerprints say so.
func TestMergeIgnoresReissuedDot(t *testing.T) {
	m, p := reusedDotPair(t)
	m.Merge(p) // k0's m:1 (the first write) is newer than m's k0 (a:1): ignored
	p.Merge(m) // k1's m:1 (the second) is newer than p's k1 (p:1): ignored
	for _, x := range []*Map[string, int]{m, p} {
		e0, e1 := entryOf(x, "k0"), entryOf(x, "k1")
		if e0.writer() == e1.writer() && e0.seq == e1.seq {
			t.Fatalf("%s: k0 and k1 both hold %s:%d", x.id, x.reps[e0.writer()], e0.seq)
		}
		b, err := x.MarshalBinary()
		if err != nil {
			t.Fatalf("%s: %v", x.id, err)
		}
		var back Map[string, int]
		if err := back.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: its state does not decode: %v", x.id, err)
		}
	}
	if v, _ := m.Get("k0"); v != 1 {
		t.Errorf("m: k0 = %d, want 1 (a's write: m's first k0 was lost with the older state)", v)
	}
	if v, _ := p.Get("k1"); v != 0 {
		t.Errorf("p: k1 = %d, want 0 (p's write: m's reissued m:1 is ignored)", v)
	}
	if m.Fingerprint() == p.Fingerprint() {
		t.Error("m and p differ, yet their fingerprints are equal")
	}
}

// TestSharedDotRefusedByEncoder checks that a map in which two keys hold
// writes with one dot, which no merge, op or decoding makes (see
// TestMergeIgnoresReissuedDot) but a bug might, is not encoded into bytes
// that no decoder accepts (a snapshot that cannot be restored): both
// encoders, by place and sorted, refuse it with ErrSharedDot naming the
// keys and the dot, and the map encodes again once one of the keys is
// written anew.
func TestSharedDotRefusedByEncoder(t *testing.T) {
	m := New[string, int]("m", clock.New())
	m.Put("k0", 1) // m:1
	m.Put("k1", 2) // m:2
	*m.m.Find("k1") = *m.m.Find("k0")
	m.m.Find("k1").v = 2
	check := func(how string, b []byte, err error) {
		t.Helper()
		if !errors.Is(err, ErrSharedDot) {
			var back Map[string, int]
			t.Fatalf("%s: got %d bytes and error %v (decoding them: %v), want ErrSharedDot", how, len(b), err, back.UnmarshalBinary(b))
		}
		if b != nil || !strings.Contains(err.Error(), "k0") || !strings.Contains(err.Error(), "k1") || !strings.Contains(err.Error(), "m:1") {
			t.Fatalf("%s: got %d bytes and %q, want no bytes and an error naming k0, k1 and m:1", how, len(b), err)
		}
	}
	b, err := m.MarshalBinary()
	check("MarshalBinary", b, err)
	w := codec.NewWriter(codec.KindMap, 0)
	w.Table(m.ctx.ReplicaIDs()...)
	m.ctx.Encode(w)
	b, err = m.marshalSorted(w, nil)
	check("marshalSorted", b, err)

	m.Put("k1", 4) // a new dot, m:3
	b, err = m.MarshalBinary()
	if err != nil {
		t.Fatalf("after a new write of k1: %v", err)
	}
	var back Map[string, int]
	if err := back.UnmarshalBinary(b); err != nil {
		t.Fatalf("after a new write of k1, the state does not decode: %v", err)
	}
	if !back.Equal(m) {
		t.Fatal("after a new write of k1, the state decodes to another map")
	}
}
