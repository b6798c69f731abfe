package dotkernel

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

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

// TestJoinWatchedDisjointFingerprint checks the join of two kernels whose
// contexts share no dot, which adds o's fingerprint at once rather than
// each dot's hash, also when a Watch hears of every dot: the fingerprint
// is the one computed from the store, and the Watch hears of each dot of
// o once, for keys of dots (a map's leaves) and of strings (several dots
// to a key, one key held on both sides).
func TestJoinWatchedDisjointFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		m := rapid.IntRange(1, 300).Draw(t, "m")
		var k, o Kernel[vclock.Dot, int]
		var ks, os kern
		for i := range n {
			d := k.Mint("a")
			k.PutNew(d, i, d)
			ks.Insert(fmt.Sprint("k", i%17), unit{}, vclock.Dot{Replica: "a", Seq: uint64(i + 1)}, nil)
		}
		for i := range m {
			id := vclock.ReplicaID([]string{"b", "c"}[i%2])
			d := o.Mint(id)
			o.PutNew(d, i, d)
			os.Insert(fmt.Sprint("k", i%13), unit{}, d, nil)
		}
		heard := map[vclock.Dot]int{}
		k.Watch = func(key vclock.Dot, _ int, d vclock.Dot, added bool) {
			if !added || key != d {
				t.Fatalf("the Watch heard %v at %v, added %v", d, key, added)
			}
			heard[d]++
		}
		heardS := 0
		ks.Watch = func(string, unit, vclock.Dot, bool) { heardS++ }
		k.Join(&o)
		ks.Join(&os)
		if k.Fingerprint() != k.ScanFingerprint() || ks.Fingerprint() != ks.ScanFingerprint() {
			t.Fatalf("fingerprints %x and %x, from the store %x and %x", k.Fingerprint(), ks.Fingerprint(), k.ScanFingerprint(), ks.ScanFingerprint())
		}
		for d := range o.All() {
			if heard[d] != 1 {
				t.Fatalf("the Watch heard of %v %d times", d, heard[d])
			}
		}
		if len(heard) != m || heardS != m || k.Len() != n+m {
			t.Fatalf("the Watch heard of %d and %d dots, the store holds %d; want %d, %d", len(heard), heardS, k.Len(), m, n+m)
		}
	})
}

// TestDisjointJoinGrowsOnce: a join of kernels keyed by dots whose
// contexts share none grows the table before its adds, when they take it
// past its load (makeRoom), to the size the adds would have grown it to:
// no larger, and with no migration left.
func TestDisjointJoinGrowsOnce(t *testing.T) {
	for _, c := range []struct{ n, m int }{{100, 10}, {100, 60}, {5000, 3000}, {5000, 5000}, {70000, 60000}} {
		var k, o, ref Kernel[vclock.Dot, int]
		for i := range c.n {
			d := k.Mint("a")
			k.PutNew(d, i, d)
			ref.Insert(d, i, d, nil)
		}
		for i := range c.m {
			d := o.Mint("b")
			o.PutNew(d, i, d)
			ref.Insert(d, i, d, nil)
		}
		before := len(k.m.slots)
		k.Join(&o)
		if k.Len() != c.n+c.m || k.Fingerprint() != ref.Fingerprint() {
			t.Fatalf("%v: the join holds %d keys", c, k.Len())
		}
		if len(k.m.slots) != len(ref.m.slots) || k.m.oldCtrl != nil || (len(k.m.slots) > before) != (len(ref.m.slots) > before) {
			t.Errorf("%v: %d slots after the join (from %d), %d by inserts", c, len(k.m.slots), before, len(ref.m.slots))
		}
	}
}
