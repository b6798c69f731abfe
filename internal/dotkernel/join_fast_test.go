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

// TestSetAsideSettledOutsideParts: the dots a removed part set aside stop
// counting as a gap (HasGaps) once they enter the context by any way, not
// only by the context part of the same catch-up: a catch-up in parts cut
// short after its removed part (the sender restarted, say) used to leave
// them aside for good, and the object out of the comparisons of content,
// even after a whole state, a delta or the ops brought the context.
func TestSetAsideSettledOutsideParts(t *testing.T) {
	b1 := vclock.Dot{Replica: wB1, Seq: 1} // the add of x, which b removed
	b2 := vclock.Dot{Replica: wB1, Seq: 2} // b's remove of x
	b3 := vclock.Dot{Replica: wB1, Seq: 3} // b's add of y
	sender := func() *kern {
		s := &kern{RecordsAll: true}
		s.Insert("x", unit{}, b1, nil)
		s.Drop("x", []vclock.Dot{b1})
		s.Record(b2, "x", []vclock.Dot{b1})
		s.Observe(b2)
		s.Insert("y", unit{}, b3, nil)
		return s
	}
	// cutShort returns a receiver that held x and took in only the
	// removed part of the sender's catch-up.
	cutShort := func() *kern {
		k := &kern{RecordsAll: true}
		k.Insert("x", unit{}, b1, nil)
		removed := &kern{}
		removed.ctx.Add(b1)
		if why := removed.CheckPart(PartRemoved); why != "" {
			t.Fatal(why)
		}
		k.JoinPart(PartRemoved, removed)
		if k.Has("x") || !k.HasGaps() {
			t.Fatalf("after the removed part: %s, gaps %v", dump(k), k.HasGaps())
		}
		return k
	}
	for name, settle := range map[string]func(k *kern){
		"whole state": func(k *kern) { k.Join(sender()) },
		"whole state, records collected": func(k *kern) {
			s := sender()
			s.Collect(s.Version())
			k.Join(s)
		},
		"delta": func(k *kern) {
			var v vclock.Clock
			v.Set(wB1, 1)
			k.Join(sender().DeltaSince(v))
		},
		"ops": func(k *kern) {
			k.Insert("x", unit{}, b1, nil) // the add, late
			k.Drop("x", []vclock.Dot{b1})
			k.Record(b2, "x", []vclock.Dot{b1})
			k.Observe(b2)
			k.Insert("y", unit{}, b3, nil)
		},
	} {
		k := cutShort()
		settle(k)
		s := sender()
		if k.HasGaps() {
			t.Errorf("%s: the receiver still has gaps: %s", name, dump(k))
		}
		if k.Has("x") || !k.Has("y") || k.Fingerprint() != s.Fingerprint() || !k.Version().Equal(s.Version()) {
			t.Errorf("%s: the receiver %s differs from the sender %s", name, dump(k), dump(s))
		}
	}
	// A state that still holds x (a replica that has not seen the remove)
	// claims no drop of b1: b1 stays aside, and a gap.
	k := cutShort()
	old := &kern{RecordsAll: true}
	old.Insert("x", unit{}, b1, nil)
	k.Join(old)
	if k.Has("x") || !k.HasGaps() {
		t.Errorf("after a state holding x: %s, gaps %v; want x aside, a gap", dump(k), k.HasGaps())
	}
}
