package vclock_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

// TestHintsMatchPlainLookups checks that the methods taking a Hint do
// what the plain ones do, on a context and a clock that gain and lose
// replicas between calls (so that hints go stale), with hints shared
// between replicas and between a context and a clock, and with replica
// IDs that are equal strings with different bytes.
func TestHintsMatchPlainLookups(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []crdt.ReplicaID{"a", "b", "c", "d"}
		// copies of the IDs with bytes of their own
		idOf := func(i int, copied bool) crdt.ReplicaID {
			if copied {
				return crdt.ReplicaID(string([]byte(ids[i])))
			}
			return ids[i]
		}
		var hc, plainC vclock.Context
		var kc, plainK vclock.Clock
		var hints [2]vclock.Hint
		for range rapid.IntRange(0, 60).Draw(t, "steps") {
			id := idOf(rapid.IntRange(0, len(ids)-1).Draw(t, "id"), rapid.Bool().Draw(t, "copied"))
			h := &hints[rapid.IntRange(0, 1).Draw(t, "hint")]
			switch rapid.IntRange(0, 7).Draw(t, "op") {
			case 0:
				got, want := hc.AddNextHint(id, h), plainC.AddNext(id)
				if got != want {
					t.Fatalf("AddNextHint(%s) = %v, AddNext %v", id, got, want)
				}
			case 1:
				if got, want := hc.NextHint(id, h), plainC.Next(id); got != want {
					t.Fatalf("NextHint(%s) = %v, Next %v", id, got, want)
				}
			case 2:
				d := vclock.Dot{Replica: id, Seq: rapid.Uint64Range(0, 12).Draw(t, "seq")}
				hc.AddHint(d, h)
				plainC.Add(d)
			case 3:
				if got, want := kc.GetHint(id, h), plainK.Get(id); got != want {
					t.Fatalf("GetHint(%s) = %d, Get %d", id, got, want)
				}
			case 4:
				n := rapid.Uint64Range(0, 12).Draw(t, "n")
				kc.AdvanceHint(id, n, h)
				plainK.Advance(id, n)
			case 5:
				// Entries move: a replica leaves the clock.
				kc.Set(id, 0)
				plainK.Set(id, 0)
			case 6:
				// A context of other replicas merged in moves entries.
				var o vclock.Context
				o.Add(vclock.Dot{Replica: crdt.ReplicaID("0" + string(id)), Seq: 1})
				hc.Merge(&o)
				plainC.Merge(&o)
			case 7:
				// TryAddNext adds what AddNext would, or nothing.
				if seq := hc.TryAddNext(id, h); seq != 0 {
					if want := plainC.AddNext(id); want != (vclock.Dot{Replica: id, Seq: seq}) {
						t.Fatalf("TryAddNext(%s) = %d, AddNext %v", id, seq, want)
					}
				}
			}
			if !hc.Equal(&plainC) || !kc.Equal(plainK) {
				t.Fatalf("with hints %s %v, without %s %v", hc.String(), kc, plainC.String(), plainK)
			}
		}
	})
}

// TestTryAddNextLearnsTheWritersBytes checks that TryAddNext refuses an
// entry whose ID is an equal string with bytes of its own (a replica's
// entry taken in from elsewhere), changing nothing, and that once
// AddNextHint has minted a dot through the same hint, TryAddNext mints
// the next ones itself.
func TestTryAddNextLearnsTheWritersBytes(t *testing.T) {
	id := crdt.ReplicaID("writer")
	var from vclock.Context
	for seq := range uint64(3) {
		from.Add(vclock.Dot{Replica: crdt.ReplicaID(string([]byte(id))), Seq: seq + 1})
	}
	var c vclock.Context
	c.Add(vclock.Dot{Replica: "a", Seq: 1})
	c.Merge(&from)
	var h vclock.Hint
	c.NextHint(id, &h) // h names the entry
	if seq := c.TryAddNext(id, &h); seq != 0 || c.Next(id).Seq != 4 {
		t.Fatalf("TryAddNext through an entry of other bytes = %d, next %v", seq, c.Next(id))
	}
	if d := c.AddNextHint(id, &h); d.Seq != 4 {
		t.Fatalf("AddNextHint = %v, want seq 4", d)
	}
	if seq := c.TryAddNext(id, &h); seq != 5 {
		t.Fatalf("TryAddNext after AddNextHint = %d, want 5", seq)
	}
	if c.Next(id).Seq != 6 || c.Next("a").Seq != 2 {
		t.Fatalf("context %s", c.String())
	}
}
