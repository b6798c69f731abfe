package lwwmap

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// A map whose values are Go maps: its content fingerprint hashed each
// value's msgpack encoding, whose entries come in a different order from
// run to run, so equal maps had different fingerprints, and the engine
// counted divergences and healed them for ever.
func TestMapValueContentFingerprintStable(t *testing.T) {
	clk := clock.New()
	a := New[string, map[string]int](vclock.Writer("a", 1), clk)
	v := map[string]int{}
	for i := range 16 {
		v[fmt.Sprint("k", i)] = i
	}
	a.Put("x", v)
	enc, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for range 20 {
		b := New[string, map[string]int](vclock.Writer("b", 1), clk)
		if _, err := b.MergeBinary(enc); err != nil {
			t.Fatal(err)
		}
		seen[b.ContentFingerprint()] = true
	}
	if len(seen) != 1 {
		t.Fatalf("equal maps, %d content fingerprints", len(seen))
	}
}
