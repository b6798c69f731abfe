package dotkernel

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestPutNewMatchesPut: a write under a fresh dot through PutNew leaves
// the kernel as one through Put does (the store, the fingerprint, the
// look-ups by key), through removes that leave deleted marks and tables
// that grow over many inserts (moves spread out, as for a large table).
func TestPutNewMatchesPut(t *testing.T) {
	spreadMoves(t)
	rapid.Check(t, func(t *rapid.T) {
		var slow, fast Kernel[vclock.Dot, int]
		var live []vclock.Dot
		ids := []vclock.ReplicaID{"a", "b"}
		for i := range rapid.IntRange(0, 400).Draw(t, "steps") {
			if len(live) > 0 && rapid.IntRange(0, 3).Draw(t, "remove") == 0 {
				j := rapid.IntRange(0, len(live)-1).Draw(t, "which")
				slow.Remove(live[j])
				fast.Remove(live[j])
				live = append(live[:j], live[j+1:]...)
				continue
			}
			id := ids[rapid.IntRange(0, 1).Draw(t, "id")]
			d := slow.Mint(id)
			if fd := fast.Mint(id); fd != d {
				t.Fatalf("minted %v and %v", d, fd)
			}
			slow.Put(d, i, d)
			fast.PutNew(d, i, d)
			live = append(live, d)
		}
		if !slow.Equal(&fast, func(a, b int) bool { return a == b }) {
			t.Fatal("PutNew left another store than Put")
		}
		if slow.Fingerprint() != fast.Fingerprint() || fast.Fingerprint() != fast.ScanFingerprint() {
			t.Fatalf("fingerprints %x, %x, scanned %x", slow.Fingerprint(), fast.Fingerprint(), fast.ScanFingerprint())
		}
		if slow.Len() != fast.Len() || fast.Len() != len(live) {
			t.Fatalf("%d and %d keys, want %d", slow.Len(), fast.Len(), len(live))
		}
		n := 0
		for d, v := range fast.All() {
			n++
			if sv, ok := slow.Get(d); !ok || sv != v {
				t.Fatalf("key %v: %d, Put's %d %v", d, v, sv, ok)
			}
		}
		if n != len(live) {
			t.Fatalf("%d keys listed, want %d", n, len(live))
		}
		for _, d := range live {
			if v, ok := fast.Get(d); !ok {
				t.Fatalf("key %v lost (%d)", d, v)
			}
		}
	})
}
