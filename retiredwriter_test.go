package crdt_test

import (
	"encoding"
	"errors"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
	"github.com/activeactive/crdt/vclock"
)

// A peer may write under any writer of its name, and every data type
// checked the name alone: a peer "a" could send writes as a!0, its name's
// retired writer, which no run writes as (its dots are renamed ones, made
// by retirements every replica applies alike). A replica that took such a
// write before a retirement of a's then refused the retirement or, for a
// counter, added the two up; one that took it after ignored it: apart for
// good. Every type's ApplyBinaryFrom now refuses a write of a retired
// writer with vclock.ErrForeignWrite, and still takes one of a live run.
func TestWritesAsRetiredWriterRefused(t *testing.T) {
	clk := clock.New()
	type maker struct {
		name string
		op   func(w vclock.ReplicaID) encoding.BinaryMarshaler
		into func() crdt.OriginChecker
	}
	must := func(op encoding.BinaryMarshaler, err error) encoding.BinaryMarshaler {
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	makers := []maker{
		{"G", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return must(counter.NewG(w).Inc(3)) },
			func() crdt.OriginChecker { return counter.NewG("b") }},
		{"PN", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return must(counter.NewPN(w).Add(3)) },
			func() crdt.OriginChecker { return counter.NewPN("b") }},
		{"Bounded", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return must(counter.NewBounded(w, 0).Inc(3)) },
			func() crdt.OriginChecker { return counter.NewBounded("b", 0) }},
		{"orset", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return orset.New[string](w).Add("y") },
			func() crdt.OriginChecker { return orset.New[string]("b") }},
		{"LWW", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return register.NewLWW[string](w, clk).Set("y") },
			func() crdt.OriginChecker { return register.NewLWW[string]("b", clk) }},
		{"MV", func(w vclock.ReplicaID) encoding.BinaryMarshaler { return register.NewMV[string](w).Set("y") },
			func() crdt.OriginChecker { return register.NewMV[string]("b") }},
		{"lwwmap", func(w vclock.ReplicaID) encoding.BinaryMarshaler {
			return lwwmap.New[string, string](w, clk).Put("k", "y")
		},
			func() crdt.OriginChecker { return lwwmap.New[string, string]("b", clk) }},
		{"ormap", func(w vclock.ReplicaID) encoding.BinaryMarshaler {
			return ormap.Add(ormap.New[string, *ormap.Counter](w), "k", 3)
		}, func() crdt.OriginChecker { return ormap.New[string, *ormap.Counter]("b") }},
	}
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			forged, err := m.op(vclock.Retired("a")).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if ch, err := m.into().ApplyBinaryFrom(forged, vclock.Writer("a", 3)); !errors.Is(err, vclock.ErrForeignWrite) || ch {
				t.Fatalf("a write as a's retired writer, from a: changed %v, %v; want vclock.ErrForeignWrite", ch, err)
			}
			live, err := m.op(vclock.Writer("a", 7)).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if ch, err := m.into().ApplyBinaryFrom(live, "a"); err != nil || !ch {
				t.Fatalf("a write of a's live run: changed %v, %v", ch, err)
			}
		})
	}
}
