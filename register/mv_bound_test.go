package register

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// An MV register's state is bounded by its writers, not by its history:
// it holds at most one value per writer (a write replaces every value its
// writer has seen, its own earlier ones included), and once the writers
// have exchanged their states its context is one run per writer. So its
// encoded size stays within writers times (largest value plus a dot and a
// name), however many writes were made. That is why the registers do not
// implement the engine's Chunker: a register larger than a message is a
// value larger than a message (see the root package's
// TestUncuttableStateLargerThanAMessage for what the engine does then).
func TestMVStateBoundedByWriters(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "writers")
		const maxLen = 40
		regs := make([]*MV[string], n)
		for i := range regs {
			regs[i] = NewMV[string](vclock.ReplicaID(fmt.Sprintf("writer-%d", i)))
		}
		writes := 0
		for range rapid.IntRange(1, 200).Draw(t, "steps") {
			i := rapid.IntRange(0, n-1).Draw(t, "who")
			if rapid.Bool().Draw(t, "write") {
				regs[i].Set(strings.Repeat("v", rapid.IntRange(0, maxLen).Draw(t, "len")))
				writes++
			} else {
				regs[i].Merge(regs[rapid.IntRange(0, n-1).Draw(t, "from")].Clone())
			}
			if got := len(regs[i].Values()); got > n {
				t.Fatalf("%d values held by %d writers", got, n)
			}
		}
		all := NewMV[string]("reader")
		for _, r := range regs {
			all.Merge(r.Clone())
		}
		if got := len(all.Values()); got > n {
			t.Fatalf("%d values held by %d writers", got, n)
		}
		runs := 0
		for range all.k.Context().Ranges() {
			runs++
		}
		if runs > n {
			t.Fatalf("a context of %d runs for %d writers", runs, n)
		}
		b, err := all.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		// Per writer: its name (writer-N), a run of the context (two
		// numbers of up to 9 bytes), and one value with its dot.
		if bound := 16 + n*(len("writer-0")+2+2*9+(maxLen+2)+2*9); len(b) > bound {
			t.Fatalf("a state of %d bytes after %d writes by %d writers: over %d", len(b), writes, n, bound)
		}
	})
}
