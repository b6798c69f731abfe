package counter

import (
	"testing"

	"pgregory.net/rapid"
)

// A replica's totals only grow, so any two states of one replica's
// history differ in the sum of its totals. The fingerprint weighed
// increments and decrements by h and h·0x9e3779b97f4a7c15: a replica
// that added 2⁶⁴−0x9e3779b97f4a7c15 (about 7·10¹⁸, within its bound)
// and then −1 weighed h·2⁶⁴ = 0, and its counter's fingerprint was that
// of the empty counter, which had seen neither change.
func TestPNFingerprintNearTopOfRange(t *testing.T) {
	const k = 0x9e3779b97f4a7c15
	kk := uint64(k)
	a, empty := NewPN("a"), NewPN("b")
	if _, err := a.Add(int64(-kk)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Add(-1); err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint() == empty.Fingerprint() {
		t.Errorf("a counter holding +%d and −1 has the empty counter's fingerprint %#x", -kk, a.Fingerprint())
	}
	pnInvariant(t, a)
}

// Any two states of one replica's history, totals drawn over the whole
// range (or apart by a multiple of the old weights' ratio), beside the
// same other replicas, have different fingerprints.
func TestPNFingerprintSeparatesOneHistory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p1 := rapid.Uint64Range(0, maxP).Draw(t, "p1")
		n1 := rapid.Uint64Range(0, maxN).Draw(t, "n1")
		var p2, n2 uint64
		if rapid.Bool().Draw(t, "aimed") {
			// Apart by (−c·dn mod 2⁶⁴, dn) for a small odd c: the
			// differences a weight ratio of c cancels.
			c := rapid.Uint64Range(0, 1<<20).Draw(t, "c")*2 + 1
			dn := rapid.Uint64Range(1, 1<<20).Draw(t, "dn")
			p2, n2 = p1-c*dn, n1+dn
			if ratio := rapid.Bool().Draw(t, "ratio"); ratio {
				p2 = p1 - 0x9e3779b97f4a7c15*dn
			}
			if p2 < p1 || p2 > maxP || n2 > maxN {
				t.Skip("out of range")
			}
		} else {
			p2 = rapid.Uint64Range(p1, maxP).Draw(t, "p2")
			n2 = rapid.Uint64Range(n1, maxN).Draw(t, "n2")
		}
		if p1 == p2 && n1 == n2 {
			t.Skip("one state")
		}
		x, y := twoStatesOfR(t, p1, n1, p2, n2)
		if x.Fingerprint() == y.Fingerprint() {
			t.Fatalf("states (%d, %d) and (%d, %d) of one replica have one fingerprint %#x", p1, n1, p2, n2, x.Fingerprint())
		}
	})
}

// Two processes counting under one ID can make states that split one
// version differently: one +1, the other −1. Their values differ, and
// nothing but the fingerprint tells them apart (their versions are
// equal), so the fingerprints must differ. A share weighing the sum of
// the totals alone gave every such pair one fingerprint.
func TestPNFingerprintSeparatesSplitsOfOneVersion(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p1 := rapid.Uint64Range(0, 1<<40).Draw(t, "p1")
		n1 := rapid.Uint64Range(0, 1<<40).Draw(t, "n1")
		d := rapid.Uint64Range(1, 1<<20).Draw(t, "d")
		if n1 < d {
			t.Skip("no split")
		}
		p2, n2 := p1+d, n1-d
		x, y := twoStatesOfR(t, p1, n1, p2, n2)
		if x.Fingerprint() == y.Fingerprint() {
			t.Fatalf("states (%d, %d) and (%d, %d) of one replica, values %d and %d, have one fingerprint %#x", p1, n1, p2, n2, x.Value(), y.Value(), x.Fingerprint())
		}
	})
}

// twoStatesOfR returns two counters holding the same random other
// replicas' totals, and replica r's totals p1, n1 and p2, n2.
func twoStatesOfR(t *rapid.T, p1, n1, p2, n2 uint64) (x, y *PN) {
	base := pnFromHistories(t, pnHistories(t), "others")
	x, y = base.Clone(), base.Clone()
	for _, c := range []struct {
		pn   *PN
		p, n uint64
	}{{x, p1, n1}, {y, p2, n2}} {
		if c.p > 0 || c.n > 0 {
			if err := c.pn.Apply(PNOp{Replica: "r", P: c.p, N: c.n}); err != nil {
				t.Fatal(err)
			}
		}
		pnInvariant(t, c.pn)
	}
	return x, y
}
