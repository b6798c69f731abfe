package orset

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// seedSet returns a set with a bit of everything: several replicas,
// concurrent dots, removes (drop records) and an out-of-order op (a ghost).
func seedSet(t testing.TB) *Set[string] {
	a, b, c := New[string]("a"), New[string]("b"), New[string]("c")
	for _, op := range []Op[string]{a.Add("x"), a.Add("y"), a.Remove("x")} {
		if err := b.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	b.Add("x")
	c.Add("x")
	reAdd := c.Add("x")
	b.Merge(c.DeltaSince(vclock.Clock{}))
	if err := a.Apply(reAdd); err != nil {
		t.Fatal(err)
	}
	a.Merge(b)
	return a
}

func seedStates(f *testing.F) {
	s := seedSet(f)
	f.Add(mustMarshal(f, s))
	f.Add(mustMarshal(f, &Set[string]{}))
	f.Add(mustMarshal(f, s.DeltaSince(s.Version())))
	ghost := New[string]("g")
	a := New[string]("q")
	a.Add("x")
	a.Add("x")
	if err := ghost.Apply(a.Add("x")); err != nil {
		f.Fatal(err)
	}
	f.Add(mustMarshal(f, ghost))
	// A state in its compressed form (codec.KindCompressed).
	run := New[string]("r")
	for i := range 300 {
		run.Add(fmt.Sprintf("element-%03d", i))
		if i%7 == 0 {
			run.Remove(fmt.Sprintf("element-%03d", i/2))
		}
	}
	if z, ok := codec.Compress(mustMarshal(f, run)); ok {
		f.Add(z)
	} else {
		f.Fatal("the seed state was not compressed")
	}
}

func seedOps(f *testing.F) {
	a, b := New[string]("a"), New[string]("b")
	if err := a.Apply(b.Add("x")); err != nil {
		f.Fatal(err)
	}
	for _, op := range []Op[string]{a.Add("y"), a.Add("x"), a.Remove("x"), a.Remove("x")} {
		f.Add(mustMarshal(f, op))
	}
}

func FuzzSetUnmarshalBinary(f *testing.F) {
	seedStates(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Set[string]
		if err := s.UnmarshalBinary(data); err != nil {
			requireDecodeError(t, "UnmarshalBinary", err)
			return
		}
		// The reader takes any msgpack integer width, so the input need not
		// be the canonical encoding; what it decodes to must re-encode to
		// bytes that decode to the same state and encode the same again.
		again := mustMarshal(t, &s)
		var reread Set[string]
		if err := reread.UnmarshalBinary(again); err != nil {
			t.Fatalf("decoding a re-encoded state: %v", err)
		}
		if !reread.Equal(&s) || !bytes.Equal(mustMarshal(t, &reread), again) {
			t.Fatalf("decoded, re-encodes unstably:\n% x\n% x", data, again)
		}
		// A decoded state behaves: merging it with itself changes nothing,
		// merging it into another state (whose dots may mean other
		// mutations: the fuzzer makes up histories) gives a state that
		// encodes and decodes, and it serves deltas.
		self := s.Clone()
		self.Merge(s.Clone())
		if !self.Equal(&s) {
			t.Fatal("merging a decoded state with itself changed it")
		}
		m := seedSet(t)
		m.Merge(&s)
		var back Set[string]
		if err := back.UnmarshalBinary(mustMarshal(t, m)); err != nil || !back.Equal(m) {
			t.Fatalf("merged state does not round-trip: %v", err)
		}
		d := s.DeltaSince(m.Version())
		if _, err := d.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzSetMergeBinary(f *testing.F) {
	seedStates(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := seedSet(t)
		before := s.Clone()
		if _, err := s.MergeBinary(data); err != nil {
			requireDecodeError(t, "MergeBinary", err)
			if !s.Equal(before) {
				t.Fatal("a refused state changed the set")
			}
			return
		}
		if !mergedWith(before, data).Equal(s) {
			t.Fatal("MergeBinary differs from UnmarshalBinary + Merge")
		}
	})
}

func mergedWith(s *Set[string], data []byte) *Set[string] {
	var o Set[string]
	if err := o.UnmarshalBinary(data); err != nil {
		panic(err)
	}
	c := s.Clone()
	c.Merge(&o)
	return c
}

func FuzzOpUnmarshalBinary(f *testing.F) {
	seedOps(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var op Op[string]
		if err := op.UnmarshalBinary(data); err != nil {
			requireDecodeError(t, "UnmarshalBinary", err)
			return
		}
		// As for states: any integer width decodes, and the value
		// re-encodes stably.
		again := mustMarshal(t, op)
		var reread Op[string]
		if err := reread.UnmarshalBinary(again); err != nil {
			t.Fatalf("decoding a re-encoded op: %v", err)
		}
		if !bytes.Equal(mustMarshal(t, reread), again) {
			t.Fatalf("decoded, re-encodes unstably:\n% x\n% x", data, again)
		}
		if err := New[string]("z").Apply(op); err != nil {
			t.Fatalf("a decoded op is refused: %v", err)
		}
	})
}

func FuzzSetApplyBinary(f *testing.F) {
	seedOps(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := seedSet(t)
		before := s.Clone()
		if _, err := s.ApplyBinary(data); err != nil {
			requireDecodeError(t, "ApplyBinary", err)
			if !s.Equal(before) {
				t.Fatal("a refused op changed the set")
			}
			return
		}
		// Applying it again changes nothing.
		again := s.Clone()
		if changed, err := again.ApplyBinary(data); err != nil || changed || !again.Equal(s) {
			t.Fatalf("second apply: changed %v, %v", changed, err)
		}
	})
}

func FuzzSetDeltaSinceBinary(f *testing.F) {
	s := seedSet(f)
	f.Add(mustMarshal(f, s.Version()))
	f.Add(mustMarshal(f, vclock.Clock{}))
	served := seedSet(f) // serves every version tried, so its index is built
	f.Fuzz(func(t *testing.T, data []byte) {
		s := seedSet(t)
		d, err := s.DeltaSinceBinary(data)
		if err != nil {
			requireDecodeError(t, "DeltaSinceBinary", err)
			return
		}
		var o Set[string]
		if err := o.UnmarshalBinary(d); err != nil {
			t.Fatalf("delta does not decode: %v", err)
		}
		// The delta of a set that has served other versions before is
		// the delta of a fresh one.
		if again, err := served.DeltaSinceBinary(data); err != nil || !bytes.Equal(again, d) {
			t.Fatalf("the set that served other versions gives %x (%v), a fresh one %x", again, err, d)
		}
	})
}
