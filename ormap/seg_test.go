package ormap

import (
	"encoding/binary"
	"testing"

	"pgregory.net/rapid"
)

// TestNextSegFastPath: nextSeg reads a short segment's length from its
// first byte directly; it must split every key path, well formed or not,
// as reading the length as a uvarint does.
func TestNextSegFastPath(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var p string
		if rapid.Bool().Draw(t, "made") {
			for range rapid.IntRange(0, 3).Draw(t, "segs") {
				p = appendSeg(p, rapid.String().Draw(t, "seg"))
			}
			p += rapid.StringN(0, 3, -1).Draw(t, "tail")
		} else {
			p = string(rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "bytes"))
		}
		seg, rest, ok := nextSeg(p)
		n, k := binary.Uvarint([]byte(p))
		want := k > 0 && uint64(len(p)-k) >= n
		if ok != want {
			t.Fatalf("nextSeg(%q) ok=%v, want %v", p, ok, want)
		}
		if ok && (seg != p[k:k+int(n)] || rest != p[k+int(n):]) {
			t.Fatalf("nextSeg(%q) = %q, %q, want %q, %q", p, seg, rest, p[k:k+int(n)], p[k+int(n):])
		}
	})
}
