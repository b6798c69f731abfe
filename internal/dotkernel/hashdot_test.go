package dotkernel

import (
	"hash/maphash"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestDotHashKeptMatchesFresh: a dot key hashes the same whatever
// replica a mutation hashed last (the replica's hash kept or not, an ID
// of equal bytes in another string, the empty ID), after the table is
// emptied and made again with a new seed, and in a clone; and a table of
// dots finds every key it holds through all that.
func TestDotHashKeptMatchesFresh(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "", vclock.ReplicaID(string([]byte("a"))), "a-longer-replica-id"}
		var tab Table[vclock.Dot, int]
		live := map[vclock.Dot]int{}
		for i := range rapid.IntRange(1, 200).Draw(t, "steps") {
			d := vclock.Dot{
				Replica: ids[rapid.IntRange(0, len(ids)-1).Draw(t, "id")],
				Seq:     rapid.Uint64Range(0, 40).Draw(t, "seq"),
			}
			switch rapid.IntRange(0, 5).Draw(t, "what") {
			case 0:
				tab.Remove(d)
				delete(live, d)
			case 1:
				if rapid.IntRange(0, 9).Draw(t, "empty") == 0 {
					for x := range live {
						tab.Remove(x)
					}
					clear(live)
					tab = tab.Clone() // empty: the next insert draws a new seed
				} else {
					tab = tab.Clone()
				}
			default:
				tab.Put(d, i)
				live[d] = i
			}
			if tab.ctrl != nil {
				if got, want := tab.hash(d), mixSeq(maphash.String(tab.seed, string(d.Replica)), d.Seq); got != want {
					t.Fatalf("%v hashes to %x, %x from scratch (kept %q)", d, got, want, tab.rep)
				}
			}
			for x, v := range live {
				if got, ok := tab.Get(x); !ok || got != v {
					t.Fatalf("%v: %d %v, want %d", x, got, ok, v)
				}
			}
			if tab.Len() != len(live) {
				t.Fatalf("%d keys, want %d", tab.Len(), len(live))
			}
		}
	})
}
