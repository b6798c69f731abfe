package ormap_test

import (
	"errors"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
)

// entryReset crafts the op of writer m, under the dot (m, 2) and dropping
// its own dot (m, 1), that deletes the counter at key "k" with one reset
// entry: the chain of writer w starting at c, seen up to sequence number
// s with total t.
func entryReset(t testing.TB, m, w vclock.ReplicaID, c, s uint64, total int64) []byte {
	b := codec.NewWriter(codec.KindORMapOp, 128)
	b.SetVersion(2)
	b.Array(5)
	b.Replica(string(m))
	b.Uint(2)
	b.Array(1)
	b.Array(3)
	b.Bool(false)
	b.Array(1)
	b.Array(4)
	b.String(string(w))
	b.Uint(c)
	b.Uint(s - c)
	b.Int(total)
	b.String("k")
	b.Replica(string(m))
	b.Uint(1)
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestResetEntryOfUnseenWriteRefused: a reset entry drops the leaves of
// its chain up to the sequence number it names, so ApplyBinaryFrom refuses
// one that names another replica's write the map has not seen, as it
// refuses a listed drop of one, and the map stays as it was: a peer cannot
// delete, ahead of time, writes no one has seen.
func TestResetEntryOfUnseenWriteRefused(t *testing.T) {
	m := vclock.Writer("mallory", 1)
	aID := vclock.Writer("alice", 1)
	a := ormap.New[string, *ormap.Counter](aID)
	b := ormap.New[string, *ormap.Counter](vclock.Writer("bob", 1))

	for _, op := range [][]byte{
		entryReset(t, m, aID, 1, 1, 0),     // alice's first write, not seen yet
		entryReset(t, m, aID, 1, 1<<40, 0), // and far beyond it
	} {
		before := b.Version()
		if _, err := b.ApplyBinaryFrom(op, m); !errors.Is(err, vclock.ErrUnseen) {
			t.Fatalf("reset entry of an unseen write: err %v, want ErrUnseen", err)
		}
		if !b.Version().Equal(before) {
			t.Fatalf("refused op changed the version: %v, was %v", b.Version(), before)
		}
	}
	add, err := a.At("k").Add(5).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ApplyBinaryFrom(add, aID); err != nil {
		t.Fatal(err)
	}
	if got := b.At("k").Value(); got != 5 {
		t.Errorf("counter k = %d after alice's Add(5), want 5", got)
	}

	// Once bob has seen alice's write, a delete that saw it is taken, as
	// is one that names the sender's own chains, seen or not.
	if _, err := b.ApplyBinaryFrom(entryReset(t, m, aID, 1, 1, 5), m); err != nil {
		t.Fatalf("reset entry of a write seen here: %v", err)
	}
	if got := b.At("k").Value(); got != 0 {
		t.Errorf("counter k = %d after a delete that saw alice's Add(5), want 0", got)
	}
	own := ormap.New[string, *ormap.Counter](vclock.Writer("carol", 1))
	if _, err := own.ApplyBinaryFrom(entryReset(t, m, vclock.Writer("mallory", 2), 1, 7, 3), m); err != nil {
		t.Fatalf("reset entry of the sender's own chain: %v", err)
	}
}
