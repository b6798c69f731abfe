package crdt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/orset"
)

// Accident: after a code change, the host registers another type under a
// name its snapshot holds ("b": a set saved, a counter registered).
// Restore merges the objects in order and fails at "b", holding the saved
// state of "a" but nothing else of the snapshot: no op log, no peers'
// progress, no ledger, not persistent. A host that logs the error and goes
// on with the replica (as a fresh one, say) would then save a snapshot of
// it over the good one on disk, losing everything the replica held after
// "a", and send its half-restored objects to peers. Restore cannot undo
// the merge of "a", so the replica refuses to go on: every call that
// saves, sends, takes in or changes anything returns an error, and
// nothing leaves it.
func TestRestoreFailedPartWayRefusesToGoOn(t *testing.T) {
	src, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := crdt.Register(src, "a", orset.New[string]("r0"))
	b, _ := crdt.Register(src, "b", orset.New[string]("r0"))
	_ = src.AddPeer("r1")
	_ = a.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("x"), nil })
	_ = b.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("y"), nil })
	snap := savedSnapshot(t, src)

	rec := &recorder{}
	r, err := crdt.NewReplica(crdt.Config{ID: "r0", Transport: rec, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := crdt.Register(r, "a", orset.New[string]("r0"))
	rb, _ := crdt.Register(r, "b", counter.NewG("r0"))
	_ = r.AddPeer("r1")
	if err := r.Restore(snap); err == nil {
		t.Fatal("a counter restored from a set's state")
	}
	var holds bool
	ra.Read(func(s *orset.Set[string]) { holds = s.Contains("x") })
	if !holds {
		t.Fatal("the failed restore merged nothing: the accident did not happen")
	}
	ctx := context.Background()
	var saved []byte
	calls := map[string]error{
		"SaveSnapshot": r.SaveSnapshot(func(s []byte) error { saved = s; return nil }),
		"Tick":         r.Tick(ctx),
		"Update":       ra.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("z"), nil }),
		"counter":      rb.Update(func(c *counter.G) (crdt.Op, error) { return c.Inc(1) }),
		"Restore":      r.Restore(snap),
		"Receive":      r.Receive(ctx, "r1", sender(t, "a", "w")),
	}
	refusesToGoOn(t, "a restore that failed part way", r, calls, saved, rec)
}

// refusesToGoOn checks that r, holding part of what it failed to take in
// (after says what), refuses every call that saves, sends, takes in or
// changes anything: calls are the errors of such calls the test made, to
// which it adds Snapshot's and SaveOps'; each is ErrRestoreFailed but
// Receive's (refused as it comes, with its own error). saved is what the
// test's SaveSnapshot saved, and sent the replica's transport: nothing
// was saved, and nothing leaves at a Tick.
func refusesToGoOn(t *testing.T, after string, r *crdt.Replica, calls map[string]error, saved []byte, sent *recorder) {
	t.Helper()
	_, snapErr := r.Snapshot()
	calls["Snapshot"] = snapErr
	calls["SaveOps"] = r.SaveOps(func([]byte) error { return nil })
	for name, err := range calls {
		if err == nil {
			t.Errorf("%s after %s: no error", name, after)
		} else if name != "Receive" && !errors.Is(err, crdt.ErrRestoreFailed) {
			t.Errorf("%s after %s: %v, want ErrRestoreFailed", name, after, err)
		}
	}
	if saved != nil {
		t.Errorf("a snapshot was saved after %s (%d bytes)", after, len(saved))
	}
	_ = r.Tick(context.Background())
	if len(sent.msgs) != 0 {
		t.Errorf("the replica sent %d messages after %s", len(sent.msgs), after)
	}
}
