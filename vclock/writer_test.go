package vclock_test

import (
	"cmp"
	"testing"

	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

var nameGen = rapid.StringMatching(`[a-z0-9][a-z0-9._-]{0,12}`)

// A writer keeps its replica's name and epoch, and writers sort as
// (name, epoch) pairs do, so the LWW tie rule still reads as names.
func TestWriterRoundTripAndOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n1, n2 := vclock.ReplicaID(nameGen.Draw(t, "n1")), vclock.ReplicaID(nameGen.Draw(t, "n2"))
		e1, e2 := rapid.Uint64().Draw(t, "e1"), rapid.Uint64().Draw(t, "e2")
		if err := vclock.CheckName(n1); err != nil {
			t.Fatal(err)
		}
		w1, w2 := vclock.Writer(n1, e1), vclock.Writer(n2, e2)
		if w1.Name() != n1 {
			t.Fatalf("Name(%q) = %q, want %q", w1, w1.Name(), n1)
		}
		if e, ok := w1.Epoch(); !ok || e != e1 {
			t.Fatalf("Epoch(%q) = %d, %v; want %d", w1, e, ok, e1)
		}
		if n1 != n2 {
			if got, want := cmp.Compare(w1, w2), cmp.Compare(n1, n2); got != want {
				t.Fatalf("writers %q, %q compare %d; names compare %d", w1, w2, got, want)
			}
		}
		if _, ok := n1.Epoch(); ok || n1.Name() != n1 {
			t.Fatalf("a bare name %q has an epoch or another name", n1)
		}
	})
}

func TestCheckNameRefuses(t *testing.T) {
	for _, bad := range []vclock.ReplicaID{"", "us east", "a!b", "tab\there", "nul\x00", vclock.ReplicaID(make([]byte, 256))} {
		if err := vclock.CheckName(bad); err == nil {
			t.Errorf("CheckName(%q) = nil", bad)
		}
	}
}
