package crdt

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

// A part of an older round of the peer's digest, delivered late (a link
// that reorders, or a duplicate), is dropped: it does not throw away the
// parts of the newer round gathered so far, which then completes.
func TestDigestPartOfOlderRoundDropped(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	part := func(round, i uint64) *envelope {
		return &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
			DigestRound: round, DigestPart: i, DigestParts: 2,
			Digest: []digestEntry{{Object: "obj", Version: []byte{1}, Durable: []byte{byte(round)}}}}
	}
	for _, e := range []*envelope{part(2, 0), part(1, 1), part(1, 0), part(2, 1)} {
		if err := deliver(t, a, e); err != nil {
			t.Fatal(err)
		}
	}
	p := a.peers["b"]
	if got := p.versions["obj"]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("durable version taken from the peer's digest %v, want [2]: round 2 never completed", got)
	}
	if n := a.Stats().Peers[0].Refused; len(n) != 0 {
		t.Fatalf("refused %v: a late part is no fault", n)
	}
}

// A part whose round is far from the one being gathered (a forged or
// corrupt round number, or a counter that wrapped) is not taken as older:
// it starts over, and the peer's later rounds still complete.
func TestDigestRoundFarAheadDoesNotLockOut(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	p := a.peers["b"]
	part := func(round, i, n uint64) *envelope {
		return &envelope{HasDigest: true, DigestRound: round, DigestPart: i, DigestParts: n,
			Digest: []digestEntry{{Object: "obj", Version: []byte{1}}}}
	}
	if p.gatherDigest(part(math.MaxUint64-3, 0, 1000), a.objects) {
		t.Fatal("whole after one part of a thousand")
	}
	if p.gatherDigest(part(5, 0, 2), a.objects) {
		t.Fatal("whole after one part of two")
	}
	if !p.gatherDigest(part(5, 1, 2), a.objects) {
		t.Fatal("a round far behind a forged one never completes")
	}
	// Wrapping: round 1 after the largest is the newer.
	a, _ = stubReplica(t, "a", &sentTo{})
	p = a.peers["b"]
	p.gatherDigest(part(math.MaxUint64, 0, 2), a.objects)
	p.gatherDigest(part(1, 0, 2), a.objects)
	if p.gatherDigest(part(math.MaxUint64, 1, 2), a.objects) {
		t.Fatal("a round before the wrap completed after a newer one began")
	}
	if !p.gatherDigest(part(1, 1, 2), a.objects) {
		t.Fatal("the round after the wrap never completes")
	}
}

// However parts of older rounds, and duplicates, are mixed in, the newest
// round begun completes once each of its parts has arrived, and then with
// its own entries; a round completed is not completed again.
func TestDigestPartsNewestRoundCompletes(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, _ := stubReplica(&testing.T{}, "a", &sentTo{})
		p := a.peers["b"]
		for _, n := range []string{"x0", "x1", "x2", "x3", "x4", "x5"} {
			a.objects[n] = &stubObject{version: []byte{1}}
		}
		first := rapid.Uint64().Draw(t, "first")
		rounds := rapid.IntRange(1, 4).Draw(t, "rounds")
		for k := 0; k < rounds; k++ {
			round := first + uint64(k)
			n := rapid.Uint64Range(2, 6).Draw(t, "parts")
			order := rapid.Permutation([]uint64{0, 1, 2, 3, 4, 5}[:n]).Draw(t, "order")
			for j, i := range order {
				// Late parts of earlier rounds, and duplicates of this one's.
				for range rapid.IntRange(0, 2).Draw(t, "late") {
					back := rapid.Uint64Range(0, uint64(k)).Draw(t, "back")
					old := round - back
					e := &envelope{HasDigest: true, DigestRound: old, DigestPart: 0, DigestParts: 7,
						Digest: []digestEntry{{Object: "x0", Version: []byte{9}}}}
					if back == 0 {
						if j == 0 {
							continue
						}
						e.DigestPart, e.DigestParts = order[rapid.IntRange(0, j-1).Draw(t, "dup")], n
						e.Digest = []digestEntry{{Object: "x0", Version: []byte{8}}}
					}
					if p.gatherDigest(e, a.objects) {
						t.Fatalf("round %d completed by a late part of round %d", round, old)
					}
				}
				e := &envelope{HasDigest: true, DigestRound: round, DigestPart: i, DigestParts: n,
					Digest: []digestEntry{{Object: "x" + string(rune('0'+i)), Version: []byte{byte(k)}}}}
				whole := p.gatherDigest(e, a.objects)
				if whole != (j == len(order)-1) {
					t.Fatalf("round %d: whole %v after %d parts of %d", round, whole, j+1, n)
				}
				if whole {
					if len(e.Digest) != int(n) {
						t.Fatalf("round %d: %d entries, want %d", round, len(e.Digest), n)
					}
					for _, d := range e.Digest {
						if d.Version[0] != byte(k) {
							t.Fatalf("round %d: entry %v of another round", round, d)
						}
					}
				}
			}
		}
	})
}

// A part of the round being gathered that gives the round another number
// of parts (forged, or a buggy sender: an honest one cuts each round
// once) is refused and counted; it made the round start over, silently,
// throwing away the parts gathered, so that the round never completed.
func TestDigestPartsWhoseTotalsDisagreeRefused(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	part := func(i, n uint64) *envelope {
		return &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
			DigestRound: 5, DigestPart: i, DigestParts: n,
			Digest: []digestEntry{{Object: "obj", Version: []byte{1}, Durable: []byte{byte(n)}}}}
	}
	for _, e := range []*envelope{part(0, 2), part(1, 3), part(2, 3), part(1, 2)} {
		_ = deliver(t, a, e)
	}
	p := a.peers["b"]
	if got := p.versions["obj"]; len(got) != 1 || got[0] != 2 {
		t.Fatalf("durable version taken from the peer's digest %v, want [2]: the round of 2 parts never completed", got)
	}
	if n := a.Stats().Peers[0].Refused[ReasonMalformed]; n != 2 {
		t.Fatalf("refused %v, want the 2 parts that claim 3 parts counted as malformed", a.Stats().Peers[0].Refused)
	}
}
