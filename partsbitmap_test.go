package crdt

import (
	"context"
	"testing"

	"github.com/activeactive/crdt/internal/costcheck"
)

// TestFarPartNumberCostsLittle: a message numbering the last of maxChunks
// digest parts, or the last chunk of maxChunks, made the receiver note it
// in a bitmap of every part up to it: about 256 KB allocated (and 128 KB
// kept) for a message of a few dozen bytes, again for every new round or
// catch-up it names. What a part number costs is now bounded by the
// messages that name one, whatever it is.
func TestFarPartNumberCostsLittle(t *testing.T) {
	r, obj := stubReplica(t, "a", &sentTo{})
	ctx := context.Background()
	hello := &envelope{From: "b", To: "a", Incarnation: 1}
	if err := deliver(t, r, hello); err != nil {
		t.Fatal(err)
	}
	messages := map[string]func(n uint64) *envelope{
		"digest part": func(n uint64) *envelope {
			return &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
				Digest:      []digestEntry{{Object: "obj", Version: []byte{1}}},
				DigestRound: n, DigestPart: maxChunks - 1, DigestParts: maxChunks}
		},
		"chunk": func(n uint64) *envelope {
			return &envelope{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(), CatchUp: n,
				HasChunk: true, ChunkIndex: maxChunks - 1, ChunkCount: maxChunks,
				Parts: []partEntry{{Object: "obj", Data: []byte{0x90}}}}
		},
	}
	for name, mk := range messages {
		const rounds = 16
		msgs := make([][]byte, rounds)
		size := 0
		for i := range msgs {
			b, err := mk(uint64(i + 1)).encode()
			if err != nil {
				t.Fatal(err)
			}
			msgs[i] = b
			size += len(b)
		}
		merged := len(obj.merged)
		got := costcheck.Allocated(func() {
			for _, m := range msgs {
				_ = r.Receive(ctx, "b", m)
			}
		})
		if name == "chunk" && len(obj.merged) != merged+rounds {
			t.Fatalf("%s: %d chunks merged of %d", name, len(obj.merged)-merged, rounds)
		}
		// A few KB a message for decoding and bookkeeping.
		if limit := uint64(costcheck.AllocPerByte*size + rounds*8<<10); !costcheck.Race && got > limit {
			t.Errorf("%s: %d messages of %d bytes in all allocated %d bytes, more than %d", name, rounds, size, got, limit)
		}
	}
}
