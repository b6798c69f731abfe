package crdt_test

import (
	"context"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
)

// Accident: after a code change, the host registers a set of another
// element type under a name its journal holds ops of ("b": a set of
// strings saved, a set of integers registered). The saved snapshot
// holds both sets empty, and restores; the journal record holds an op
// on "a", then one on "b". Replay applied the op on "a", and the one on
// "b" failed: the replica held part of the record, with none of its
// later ops nor of the records after it, and nothing kept the host from
// going on with it as it may after a gap in the journal: a snapshot of
// it saved over the good one, its ops sent to its peers, while the rest
// of the journal could no longer be replayed. Like a Restore that fails
// part way, the replica now refuses to go on.
func TestReplayFailedPartWayRefusesToGoOn(t *testing.T) {
	sent := &recorder{}
	snap, rec := journalOfTwoSets(t, "a:x", "b:y", "a:z")
	r, ra, rb := replicaOfSetAndInts(t, sent, snap)
	if err := r.Replay(rec); err == nil {
		t.Fatal("a set of integers replayed an op adding a string")
	}
	var holds bool
	ra.Read(func(s *orset.Set[string]) { holds = s.Contains("x") })
	if !holds {
		t.Fatal("the failed replay applied nothing: the accident did not happen")
	}
	ctx := context.Background()
	var saved []byte
	calls := map[string]error{
		"SaveSnapshot": r.SaveSnapshot(func(s []byte) error { saved = s; return nil }),
		"Tick":         r.Tick(ctx),
		"Update":       ra.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("w"), nil }),
		"other":        rb.Update(func(s *orset.Set[int]) (crdt.Op, error) { return s.Add(1), nil }),
		"Replay":       r.Replay(rec),
		"Receive":      r.Receive(ctx, "r1", sender(t, "a", "v")),
	}
	refusesToGoOn(t, "a replay that failed part way", r, calls, saved, sent)
}

// A record whose first change fails to apply (here an op of a set of
// strings replayed on a set of integers) leaves the replica as it was: a
// change that fails changes nothing, so Replay refuses the record whole
// and the replica goes on.
func TestReplayWhoseFirstChangeFailsChangesNothing(t *testing.T) {
	snap, rec := journalOfTwoSets(t, "b:y", "a:x")
	r, ra, _ := replicaOfSetAndInts(t, &recorder{}, snap)
	if err := r.Replay(rec); err == nil {
		t.Fatal("a set of integers replayed an op adding a string")
	}
	var holds bool
	ra.Read(func(s *orset.Set[string]) { holds = s.Contains("x") })
	if holds {
		t.Fatal("the refused record's later op was applied")
	}
	if err := ra.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("w"), nil }); err != nil {
		t.Fatalf("Update after a record refused whole: %v", err)
	}
	if err := r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
		t.Fatalf("SaveSnapshot after a record refused whole: %v", err)
	}
}

// journalOfTwoSets returns a snapshot of replica r0 holding two empty
// sets of strings, "a" and "b", and the journal record of the adds
// after it, each "set:element", in order.
func journalOfTwoSets(t *testing.T, adds ...string) (snap, rec []byte) {
	t.Helper()
	src, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]*crdt.Handle[*orset.Set[string]]{}
	for _, name := range []string{"a", "b"} {
		if sets[name], err = crdt.Register(src, name, orset.New[string]("r0")); err != nil {
			t.Fatal(err)
		}
	}
	_ = src.AddPeer("r1")
	snap = savedSnapshot(t, src)
	for _, add := range adds {
		name, e, _ := strings.Cut(add, ":")
		if err := sets[name].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.SaveOps(func(b []byte) error { rec = b; return nil }); err != nil || rec == nil {
		t.Fatalf("SaveOps: %v, %d bytes", err, len(rec))
	}
	return snap, rec
}

// replicaOfSetAndInts is replica r0 after a code change: "a" still a set
// of strings, "b" now a set of integers, restored from snap.
func replicaOfSetAndInts(t *testing.T, tr crdt.Transport, snap []byte) (*crdt.Replica, *crdt.Handle[*orset.Set[string]], *crdt.Handle[*orset.Set[int]]) {
	t.Helper()
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: tr, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := crdt.Register(r, "a", orset.New[string]("r0"))
	rb, _ := crdt.Register(r, "b", orset.New[int]("r0"))
	_ = r.AddPeer("r1")
	if err := r.Restore(snap); err != nil {
		t.Fatalf("the snapshot of two empty sets did not restore: %v", err)
	}
	return r, ra, rb
}
