package orset

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
)

// compressPart compresses a part of ChunksBinary: its kind byte, then the
// message, compressed.
func compressPart(c *codec.Compressor, part []byte) []byte {
	z, _ := c.Compress(part[1:])
	return append([]byte{part[0]}, z...)
}

// TestCompressedStatesDecodeAsPlain: the compressed form of a random
// state, of a delta and of the parts of a state decode to what the plain
// forms decode to, by every decoder: UnmarshalBinary, MergeBinary and
// MergeChunkBinary.
func TestCompressedStatesDecodeAsPlain(t *testing.T) {
	var c codec.Compressor
	compressed := 0
	rapid.Check(t, func(t *rapid.T) {
		w := run(t, 2, 4, 60)
		i := rapid.IntRange(0, len(w.sets)-1).Draw(t, "sender")
		j := rapid.IntRange(0, len(w.sets)-1).Draw(t, "receiver")
		sender, receiver := w.sets[i].Clone(), w.sets[j]
		// Elements added in runs, so that most states pay for compressing.
		for k := range rapid.IntRange(0, 200).Draw(t, "run") {
			sender.Add(fmt.Sprintf("element-%04d", k))
		}
		version, err := receiver.VersionBinary()
		if err != nil {
			t.Fatal(err)
		}
		delta, err := sender.DeltaSinceBinary(version)
		if err != nil {
			t.Fatal(err)
		}
		for _, plain := range [][]byte{mustMarshal(t, sender), delta} {
			z, ok := c.Compress(plain)
			if !ok {
				continue
			}
			compressed++
			var fromPlain, fromZ Set[string]
			if err := fromPlain.UnmarshalBinary(plain); err != nil {
				t.Fatal(err)
			}
			if err := fromZ.UnmarshalBinary(z); err != nil {
				t.Fatal(err)
			}
			requireEqual(t, &fromZ, &fromPlain, "UnmarshalBinary")
			a, b := receiver.Clone(), receiver.Clone()
			chA, err := a.MergeBinary(plain)
			if err != nil {
				t.Fatal(err)
			}
			chB, err := b.MergeBinary(z)
			if err != nil {
				t.Fatal(err)
			}
			requireEqual(t, b, a, "MergeBinary")
			if chA != chB {
				t.Fatalf("MergeBinary reports a change %v plain, %v compressed", chA, chB)
			}
		}
		parts, _, err := sender.ChunksBinary(nil, rapid.IntRange(300, 2000).Draw(t, "budget"))
		if err != nil {
			t.Fatal(err)
		}
		a, b := receiver.Clone(), receiver.Clone()
		for _, p := range parts {
			if _, err := a.MergeChunkBinary(p); err != nil {
				t.Fatal(err)
			}
			if _, err := b.MergeChunkBinary(compressPart(&c, p)); err != nil {
				t.Fatal(err)
			}
		}
		requireEqual(t, b, a, "MergeChunkBinary")
	})
	if compressed == 0 {
		t.Fatal("no state was compressed")
	}
}
