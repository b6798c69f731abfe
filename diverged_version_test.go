package crdt

import (
	"context"
	"testing"

	"github.com/activeactive/crdt/orset"
)

// TestBadVersionOfDivergedObjectCounted: a peer's digest shows an object
// diverged (same version, different fingerprint); before this replica
// answers, the peer's next digest names a version of the object that does
// not decode. The catch-up carries the object's whole state, owed since
// the first digest, and never read the bad version: it went unrefused
// and uncounted, where the same bytes for an object not diverged are
// refused and counted as malformed. They are counted here too, and the
// whole state still goes.
func TestBadVersionOfDivergedObjectCounted(t *testing.T) {
	tr := &sentTo{}
	r, _ := stubReplica(t, "a", tr)
	set := orset.New[string]("a")
	set.Add("x")
	if _, err := Register(r, "set", set); err != nil {
		t.Fatal(err)
	}
	v, err := set.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	diverged := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "set", Version: v, Fingerprint: set.Fingerprint() + 1, HasFingerprint: true}}}
	if err := deliver(t, r, diverged); err != nil {
		t.Fatal(err)
	}
	bad := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "set", Version: []byte{0xde, 0xad, 0xbe, 0xef}}}}
	if err := deliver(t, r, bad); err != nil {
		t.Fatal(err)
	}
	if err := r.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	var refused, divergences uint64
	for _, ps := range r.Stats().Peers {
		if ps.Peer == "b" {
			refused, divergences = ps.Refused[ReasonMalformed], ps.Divergences
		}
	}
	if divergences != 1 {
		t.Fatalf("divergences: %d, want 1", divergences)
	}
	if refused != 1 {
		t.Errorf("the peer's version that does not decode, refused as malformed: %d times, want 1", refused)
	}
	whole := false
	for _, e := range tr.envs {
		for _, s := range e.States {
			if s.Object == "set" {
				whole = true
			}
		}
	}
	if !whole {
		t.Error("the catch-up left out the diverged object's whole state")
	}
}
