package lwwmap

import (
	"errors"
	"strings"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// sharedDotMap returns a map in which keys k0 and k1 hold writes with the
// same dot, m:1, made the only way it can happen: m restores a state
// older than its last and writes again under the same ID, reissuing a
// dot that a peer already holds for another write, and then merges that
// peer.
func sharedDotMap(t *testing.T) *Map[string, int] {
	t.Helper()
	clk := clock.New()
	a, m, p := New[string, int]("a", clk), New[string, int]("m", clk), New[string, int]("p", clk)
	a.Put("k0", 1)
	p.Put("k1", 0) // so that p's merge below does not take k1 for deleted
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
	m.Put("k1", 3) // dot m:1 again
	m.Merge(p)     // k0's write m:1 is newer than a:1, and wins
	e0, e1 := entryOf(m, "k0"), entryOf(m, "k1")
	if e0.writer() != e1.writer() || e0.seq != e1.seq || m.reps[e0.writer()] != "m" || e0.seq != 1 {
		t.Fatalf("set-up: k0 and k1 hold %s:%d and %s:%d, want both m:1",
			m.reps[e0.writer()], e0.seq, m.reps[e1.writer()], e1.seq)
	}
	return m
}

// TestSharedDotRefusedByEncoder checks that a map whose keys share a dot
// is not encoded into bytes that no decoder accepts (a snapshot that
// cannot be restored): both encoders, by place and sorted, refuse it with
// ErrSharedDot naming the keys, and the map encodes again once one of the
// keys is written anew.
func TestSharedDotRefusedByEncoder(t *testing.T) {
	m := sharedDotMap(t)
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
	b, err = m.marshalSorted(w)
	check("marshalSorted", b, err)

	m.Put("k1", 4) // a new dot, m:2
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
