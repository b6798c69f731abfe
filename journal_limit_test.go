package crdt

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/orset"
)

// TestReplayAfterTheLimitWasLowered: an operator restarts a replica with
// a smaller MaxMessageBytes (a proxy on the way takes less, say). Its
// journal holds a catch-up state received under the limit of its day:
// half that limit plain, compressed to a record far smaller than the new
// limit. Replay decompressed it within the new limit, or the record's
// size if larger, and refused the record: the local ops and received
// changes it held, and those of the records after it, were lost to the
// replica. A record is read under the limit of its day, as Replay says:
// each received state within MaxRatio times its own size, as Restore
// reads a snapshot's states.
func TestReplayAfterTheLimitWasLowered(t *testing.T) {
	r, obj := stubReplica(t, "a", &sentTo{})
	// And a set, whose decoders are held to the limit (see Limited).
	if _, err := Register(r, "set", orset.New[string]("a")); err != nil {
		t.Fatal(err)
	}
	theirs := orset.New[string]("b")
	for i := range 20000 {
		theirs.Add(fmt.Sprintf("key-%06d", i))
	}
	setState, err := theirs.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	setZ, ok := codec.Compress(setState)
	if !ok {
		t.Fatal("the set's state did not compress")
	}
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	state := compressedPart(t, r.cfg.MaxMessageBytes/2)
	env := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(), CatchUp: 1,
		States: []stateEntry{{Object: "obj", State: state}, {Object: "set", State: setZ}}}
	if err := deliver(t, r, env); err != nil {
		t.Fatal(err)
	}
	if len(obj.merged) != 1 {
		t.Fatalf("the catch-up was not merged; refusals %v", r.Stats().Peers[0].Refused)
	}
	var record []byte
	if err := r.SaveOps(func(b []byte) error { record = b; return nil }); err != nil {
		t.Fatal(err)
	}
	plain, err := codec.Decompress(state, r.limit)
	if err != nil {
		t.Fatal(err)
	}
	const lowered = 16 << 10
	if len(record) >= lowered || len(plain) <= lowered || len(setState) <= lowered {
		t.Fatalf("a record of %d bytes holding a state of %d bytes plain, for a limit of %d", len(record), len(plain), lowered)
	}

	var set2 *Handle[*orset.Set[string]]
	r2, obj2 := restartedStub(t, Config{MaxMessageBytes: lowered}, snap, func(r2 *Replica) {
		if set2, err = Register(r2, "set", orset.New[string]("a")); err != nil {
			t.Fatal(err)
		}
	})
	restored := len(obj2.merged)
	if err := r2.Replay(record); err != nil {
		t.Fatalf("replaying a record of %d bytes under a limit of %d: %v", len(record), lowered, err)
	}
	if got := obj2.merged[restored:]; len(got) != 1 || len(got[0]) != len(plain) {
		t.Fatalf("replay merged %d states, want the one of %d bytes", len(got), len(plain))
	}
	var n int
	set2.Read(func(s *orset.Set[string]) { n = s.Len() })
	if n != 20000 {
		t.Errorf("the set holds %d elements after the replay, want 20000", n)
	}
}
