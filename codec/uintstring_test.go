package codec

import (
	"bytes"
	"strings"
	"testing"
)

// TestUintStringWritesUintThenString: UintString writes the bytes of Uint
// and then String, for steps and strings about every bound of their
// forms, including the common case's (a step below 128, a string below
// 32 bytes) and just past it. The first pair is read back by hand: a
// positive fixint 5, then fixstr "ab" (0xa0|2).
func TestUintStringWritesUintThenString(t *testing.T) {
	w := NewWriter(KindSet, 0)
	w.UintString(5, "ab")
	if got, want := w.body[w.head:], []byte{0x05, 0xa2, 'a', 'b'}; !bytes.Equal(got, want) {
		t.Fatalf("UintString(5, \"ab\") wrote % x, want % x", got, want)
	}
	for _, u := range []uint64{0, 1, 127, 128, 255, 256, 1<<16 - 1, 1 << 16, 1<<32 - 1, 1 << 32} {
		for _, n := range []int{0, 1, 31, 32, 255, 256, 1<<16 - 1, 1 << 16} {
			s := strings.Repeat("k", n)
			a, b := NewWriter(KindSet, 0), NewWriter(KindSet, 0)
			a.UintString(u, s)
			b.Uint(u)
			b.String(s)
			if !bytes.Equal(a.body[a.head:], b.body[b.head:]) {
				t.Fatalf("UintString(%d, %d bytes) wrote % x..., Uint and String % x...", u, n,
					a.body[a.head:min(len(a.body), a.head+8)], b.body[b.head:min(len(b.body), b.head+8)])
			}
		}
	}
}
