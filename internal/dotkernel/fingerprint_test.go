package dotkernel

import (
	"hash/fnv"
	"testing"
)

// TestFingerprintHashIsFNV checks the hash of keys against the standard
// library's FNV-1a, so that fingerprints do not depend on the process.
func TestFingerprintHashIsFNV(t *testing.T) {
	for _, s := range []string{"", "a", "milk", "us-east-1"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got := hashKey(s); got != h.Sum64() {
			t.Fatalf("hashKey(%q) = %x, FNV-1a gives %x", s, got, h.Sum64())
		}
	}
}
