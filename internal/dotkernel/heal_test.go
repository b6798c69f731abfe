package dotkernel

import (
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
