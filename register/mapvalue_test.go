package register

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// Registers whose values are Go maps. msgpack writes a map's entries in
// the order of a range over it, which differs from run to run, and values
// were hashed by that encoding: equal registers had different content
// fingerprints (the engine counted divergences and healed for ever), and a
// heal of two writes under one stamp broke the tie differently at each
// end, leaving the registers apart.

func mapValue(base int) map[string]int {
	v := map[string]int{}
	for i := range 16 {
		v[fmt.Sprint("k", i)] = base + i
	}
	return v
}

func TestMapValueContentFingerprintStable(t *testing.T) {
	lww := NewLWW[map[string]int](vclock.Writer("a", 1), clock.New())
	lww.Set(mapValue(0))
	mv := NewMV[map[string]int](vclock.Writer("a", 1))
	mv.Set(mapValue(0))
	enc, err := mv.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	lwwSeen, mvSeen := map[uint64]bool{}, map[uint64]bool{}
	for range 20 {
		lwwSeen[lww.Clone().ContentFingerprint()] = true
		b := NewMV[map[string]int](vclock.Writer("b", 1))
		if _, err := b.MergeBinary(enc); err != nil {
			t.Fatal(err)
		}
		mvSeen[b.ContentFingerprint()] = true
	}
	if len(lwwSeen) != 1 || len(mvSeen) != 1 {
		t.Fatalf("equal registers of a map value: %d LWW and %d MV content fingerprints, want 1 each", len(lwwSeen), len(mvSeen))
	}
	other := NewLWW[map[string]int](vclock.Writer("a", 1), clock.New())
	other.Set(mapValue(1))
	if lwwSeen[other.ContentFingerprint()] {
		t.Fatal("registers of different map values have one content fingerprint")
	}
}

func TestHealOfMapValuesAgrees(t *testing.T) {
	src := func() int64 { return 1_000_000_000 }
	for i := range 50 {
		a := NewLWW[map[string]int](vclock.Writer("a", 1), clock.New(clock.WithSource(src)))
		b := NewLWW[map[string]int](vclock.Writer("a", 1), clock.New(clock.WithSource(src)))
		a.Set(mapValue(0))
		b.Set(mapValue(100))
		ea, _ := a.MarshalBinary()
		eb, _ := b.MarshalBinary()
		if _, err := a.HealBinary(eb); err != nil {
			t.Fatal(err)
		}
		if _, err := b.HealBinary(ea); err != nil {
			t.Fatal(err)
		}
		va, _ := a.Get()
		vb, _ := b.Get()
		if !reflect.DeepEqual(va, vb) {
			t.Fatalf("pair %d: after healing each other the registers hold %v and %v", i, va, vb)
		}
	}
}
