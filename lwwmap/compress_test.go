package lwwmap

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
)

// TestCompressedStatesDecodeAsPlain: the compressed form of a random
// state, of a delta and of the parts of a state decode to what the plain
// forms decode to, by every decoder: UnmarshalBinary, MergeBinary and
// MergeChunkBinary.
func TestCompressedStatesDecodeAsPlain(t *testing.T) {
	var c codec.Compressor
	compressed := 0
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		n := len(s.reps)
		from := s.reps[rapid.IntRange(0, n-1).Draw(t, "from")].Clone()
		to := s.reps[rapid.IntRange(0, n-1).Draw(t, "to")]
		// Keys written in a run, so that most states pay for compressing.
		for k := range rapid.IntRange(0, 200).Draw(t, "run") {
			from.Put(fmt.Sprintf("key-%04d", k), k)
		}
		version, err := to.VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		delta, err := from.DeltaSinceBinary(version)
		if err != nil {
			t.Fatal(err)
		}
		state, err := from.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for _, plain := range [][]byte{state, delta} {
			z, ok := c.Compress(plain)
			if !ok {
				continue
			}
			compressed++
			var fromPlain, fromZ Map[string, int]
			if err := fromPlain.UnmarshalBinary(plain); err != nil {
				t.Fatal(err)
			}
			if err := fromZ.UnmarshalBinary(z); err != nil {
				t.Fatal(err)
			}
			if !fromZ.Equal(&fromPlain) {
				t.Fatalf("UnmarshalBinary: compressed gives\n%v\nplain gives\n%v", dump(&fromZ), dump(&fromPlain))
			}
			a, b := to.Clone(), to.Clone()
			chA, errA := a.MergeBinary(plain)
			chB, errB := b.MergeBinary(z)
			if errA != nil || errB != nil {
				t.Fatalf("MergeBinary: %v plain, %v compressed", errA, errB)
			}
			if !b.Equal(a) || chA != chB {
				t.Fatalf("MergeBinary: compressed gives\n%v (%v)\nplain gives\n%v (%v)", dump(b), chB, dump(a), chA)
			}
		}
		parts, _, err := from.ChunksBinary(nil, rapid.IntRange(300, 2000).Draw(t, "budget"))
		if err != nil {
			t.Fatal(err)
		}
		a, b := to.Clone(), to.Clone()
		for _, p := range parts {
			z, _ := c.Compress(p[1:])
			if _, err := a.MergeChunkBinary(p); err != nil {
				t.Fatal(err)
			}
			if _, err := b.MergeChunkBinary(append([]byte{p[0]}, z...)); err != nil {
				t.Fatal(err)
			}
		}
		if !b.Equal(a) {
			t.Fatalf("MergeChunkBinary: compressed parts give\n%v\nplain ones give\n%v", dump(b), dump(a))
		}
	})
	if compressed == 0 {
		t.Fatal("no state was compressed")
	}
}
