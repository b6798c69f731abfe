package dotkernel

import (
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestHealDropsUnrecordedDrop: o has seen the dot of k's "x" and dropped
// it without a record (as a data type's implied drop, or a drop whose
// record a hostile peer rewrote, leaves it). Join trusts o's records and
// keeps "x"; Heal, the causal join, drops it, and leaves k's RecordsAll
// set, so that the joins after it stay on the fast path.
func TestHealDropsUnrecordedDrop(t *testing.T) {
	a1 := vclock.Dot{Replica: wA1, Seq: 1}
	a2 := vclock.Dot{Replica: wA1, Seq: 2}
	make2 := func() (k, o *kern) {
		k = &kern{RecordsAll: true}
		k.Insert("x", unit{}, a1, nil)
		o = &kern{RecordsAll: true}
		o.Insert("x", unit{}, a1, nil)
		o.Remove("x") // no Record: the drop of a1 is implied, not recorded
		o.Insert("y", unit{}, a2, nil)
		return k, o
	}

	k, o := make2()
	k.Join(o)
	if !k.Has("x") {
		t.Fatalf("Join dropped %v without a record; the test no longer shows what Heal adds: %s", a1, dump(k))
	}

	k, o = make2()
	changed := k.Heal(o)
	if k.Has("x") || !k.Has("y") || !changed {
		t.Fatalf("Heal: got %s (changed %v), want y alone", dump(k), changed)
	}
	if !k.RecordsAll {
		t.Fatal("Heal cleared RecordsAll")
	}
	if k.ix != nil && k.ix.Order() != nil {
		t.Fatal("Heal kept the order of dots it made")
	}
	if k.Fingerprint() != k.ScanFingerprint() || k.Fingerprint() != o.Fingerprint() {
		t.Fatalf("fingerprint %x, from the store %x, o's %x", k.Fingerprint(), k.ScanFingerprint(), o.Fingerprint())
	}
	checkKernel(t, k, true)

	// RecordsAll stays set even when o does not set it.
	k, o = make2()
	o.RecordsAll = false
	k.Heal(o)
	if !k.RecordsAll || k.Has("x") {
		t.Fatalf("Heal with a kernel without RecordsAll: RecordsAll %v, %s", k.RecordsAll, dump(k))
	}
}

// TestHealIsTheSlowJoin: on kernels of one consistent history, Heal gives
// what Join gives when it cannot trust o's records (o without
// RecordsAll): the same store, context, records and fingerprint; and on
// such kernels, whose drops all have records, what Join gives with them
// trusted too. Only RecordsAll differs: Heal keeps k's.
func TestHealIsTheSlowJoin(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := run(t)
		i := rapid.IntRange(0, len(s.ks)-1).Draw(t, "i")
		j := rapid.IntRange(0, len(s.ks)-1).Draw(t, "j")
		o := s.ks[j]
		if rapid.Bool().Draw(t, "delta") {
			o = o.DeltaSince(s.ks[i].Version())
		}
		healed, slow, fast := s.ks[i].Clone(), s.ks[i].Clone(), s.ks[i].Clone()
		healed.RecordsAll, slow.RecordsAll, fast.RecordsAll = s.ks[i].RecordsAll, s.ks[i].RecordsAll, s.ks[i].RecordsAll
		untrusted := o.Clone()
		untrusted.RecordsAll = false
		ch := healed.Heal(o)
		chSlow := slow.Join(untrusted)
		fast.Join(o)
		requireEqual(t, healed, slow, "Heal against Join without trusted records")
		requireEqual(t, healed, fast, "Heal against Join")
		if ch != chSlow {
			t.Fatalf("Heal reports changed %v, Join %v", ch, chSlow)
		}
		if healed.Fingerprint() != slow.Fingerprint() || healed.Fingerprint() != healed.ScanFingerprint() {
			t.Fatalf("fingerprints: healed %x (from the store %x), joined %x", healed.Fingerprint(), healed.ScanFingerprint(), slow.Fingerprint())
		}
		if healed.RecordsAll != s.ks[i].RecordsAll {
			t.Fatalf("Heal changed RecordsAll from %v", s.ks[i].RecordsAll)
		}
		checkInvariants(t, healed)
		s.checkRecorded(t, healed)
	})
}

// TestHealDropsEquivocatedDot: a writer sent two different writes under
// one dot, one to each side. Both sides hold the dot under one key, with
// different values, so the dot-keyed fingerprints agree and no join can
// tell. With SameValue set, Heal drops the dot on both sides, whichever
// heals first, and no join brings it back; the keys whose values agree
// stay, one of two dots among them. Without SameValue, each side keeps
// its own. Both ways of finding the dots: by the order and by a pass
// over the store (scanSeen).
func TestHealDropsEquivocatedDot(t *testing.T) {
	type ikern = Kernel[string, int]
	e1 := vclock.Dot{Replica: "evil", Seq: 1}
	e2 := vclock.Dot{Replica: "evil", Seq: 2}
	b1 := vclock.Dot{Replica: "b", Seq: 1}
	b2 := vclock.Dot{Replica: "b", Seq: 2}
	b3 := vclock.Dot{Replica: "b", Seq: 3}
	same := func(a, b int) bool { return a == b }
	make2 := func(withSame bool) (k, o *ikern) {
		k, o = &ikern{RecordsAll: true}, &ikern{RecordsAll: true}
		if withSame {
			k.SameValue, o.SameValue = same, same
		}
		k.Insert("x", 1, e1, nil) // what evil told k
		o.Insert("x", 2, e1, nil) // what evil told o, under the same dot
		k.Insert("v", 5, e2, nil)
		o.Insert("v", 6, e2, nil)
		for _, m := range []*ikern{k, o} {
			m.Insert("y", 7, b1, nil) // honest keys, held alike
			m.Insert("z", 3, b2, nil)
			m.Insert("z", 3, b3, nil) // a key of two dots
		}
		return k, o
	}
	for _, scan := range []bool{false, true} {
		scanSeen = scan
		k, o := make2(false)
		if k.Fingerprint() != o.Fingerprint() {
			t.Fatal("the fingerprints tell the values apart; the test no longer shows what SameValue adds")
		}
		k.Heal(o)
		o.Heal(k)
		if v, _ := k.Get("x"); v != 1 {
			t.Fatalf("scan %v: without SameValue, k's x is %d, want its own 1", scan, v)
		}

		k, o = make2(true)
		kc, oc := k.Clone(), o.Clone()
		kc.SameValue, oc.SameValue = same, same
		if !k.Heal(o) {
			t.Fatalf("scan %v: the heal reports no change", scan)
		}
		if got := keysOf(k); !slices.Equal(got, []string{"y", "z"}) {
			t.Fatalf("scan %v: k after its heal: %v", scan, got)
		}
		o.Heal(k)   // o heals with k's state after k's heal
		oc.Heal(kc) // and with k's state before it
		kc.Heal(oc)
		for i, m := range []*ikern{k, o, kc, oc} {
			if got := keysOf(m); !slices.Equal(got, []string{"y", "z"}) || len(m.Dots("z")) != 2 {
				t.Fatalf("scan %v, kernel %d: %v, z on %v", scan, i, got, m.Dots("z"))
			}
			if !m.Context().Contains(e1) || !m.Context().Contains(e2) {
				t.Fatalf("scan %v, kernel %d: the dropped dots left the context", scan, i)
			}
			if m.Fingerprint() != k.Fingerprint() || !m.Equal(k, same) {
				t.Fatalf("scan %v, kernel %d differs from k", scan, i)
			}
		}
		// Nothing brings either write back.
		for _, src := range []*ikern{make2Side(e1, 1), make2Side(e1, 2)} {
			k.Join(src)
			if k.Has("x") {
				t.Fatalf("scan %v: a join brought x back", scan)
			}
		}
		// Values that agree stay.
		k, _ = make2(true)
		k.Heal(k.Clone())
		if k.Len() != 4 {
			t.Fatalf("scan %v: a heal with an equal state dropped keys: %v", scan, keysOf(k))
		}
	}
	scanSeen = false
}

// make2Side is a kernel holding one write of x under d with value v.
func make2Side(d vclock.Dot, v int) *Kernel[string, int] {
	k := &Kernel[string, int]{RecordsAll: true}
	k.Insert("x", v, d, nil)
	return k
}

// keysOf lists k's keys, sorted.
func keysOf(k *Kernel[string, int]) []string {
	var out []string
	for key := range k.All() {
		out = append(out, key)
	}
	slices.Sort(out)
	return out
}
