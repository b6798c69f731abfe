package dotkernel

import (
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// TestJoinKeepsRemovedAside checks the single-dot path of a join, which
// decides without a call whether a dot was seen: a dot a removed part
// set aside (seen and dropped elsewhere, not yet in the context) must not
// come back from a state that still holds it, whether or not the two
// contexts share dots, beside a dot of the same replica that is new.
func TestJoinKeepsRemovedAside(t *testing.T) {
	b1, b2 := vclock.Dot{Replica: wB1, Seq: 1}, vclock.Dot{Replica: wB1, Seq: 2}
	for _, shared := range []bool{false, true} {
		k := &kern{RecordsAll: true}
		if shared {
			k.Insert("a", unit{}, vclock.Dot{Replica: wA1, Seq: 1}, nil)
		}
		removed := &kern{}
		removed.ctx.Add(b1)
		if why := removed.CheckPart(PartRemoved); why != "" {
			t.Fatal(why)
		}
		k.JoinPart(PartRemoved, removed)

		o := &kern{RecordsAll: true}
		o.Insert("x", unit{}, b1, nil)
		o.Insert("y", unit{}, b2, nil)
		if shared {
			o.Insert("a", unit{}, vclock.Dot{Replica: wA1, Seq: 1}, nil)
		}
		k.Join(o)
		if k.Has("x") {
			t.Fatalf("shared %v: the join brought back %v, which a removed part set aside: %s", shared, b1, dump(k))
		}
		if !k.Has("y") {
			t.Fatalf("shared %v: the join left out the new dot %v: %s", shared, b2, dump(k))
		}
		if k.Fingerprint() != k.ScanFingerprint() {
			t.Fatalf("shared %v: fingerprint %x, from the store %x", shared, k.Fingerprint(), k.ScanFingerprint())
		}
	}
}
