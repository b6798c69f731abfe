package dotkernel

import (
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// Keys hash as codec's content hashes do (which are the same in every
// process and pinned by codec's tests), and a dot's parts cannot run into
// each other.
func TestFingerprintHashes(t *testing.T) {
	for _, s := range []string{"", "a", "milk", "us-east-1"} {
		want, err := codec.HashValue(codec.HashSeed, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := hashKey(s); got != want {
			t.Fatalf("hashKey(%q) = %x, codec.HashValue gives %x", s, got, want)
		}
	}
	if hashDot(vclock.Dot{Replica: "a", Seq: 11}) == hashDot(vclock.Dot{Replica: "a1", Seq: 1}) {
		t.Fatal("dots a:11 and a1:1 hash alike")
	}
	if hashKey(vclock.Dot{Replica: "a", Seq: 1}) != hashDot(vclock.Dot{Replica: "a", Seq: 1}) {
		t.Fatal("a dot key does not hash as the dot")
	}
}
