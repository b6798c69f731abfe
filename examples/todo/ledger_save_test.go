package main

import (
	"context"
	"errors"
	"testing"

	"github.com/activeactive/crdt"
)

var errProbe = errors.New("probe: not saved")

// unsaved asks rg's engine what it holds that its disk does not: nil for
// nothing, crdt.ErrSnapshotNeeded for what only a snapshot carries (a
// vote on a retirement, an installed retirement, or more than the log
// holds), an error wrapping errProbe for changes a journal record would
// carry. It saves nothing.
func unsaved(rg *region) error {
	return rg.replica.SaveOps(func([]byte) error { return errProbe })
}

// TestEveryMessageTakenInIsSaved: a region that takes in a peer's message
// saves what the message changed in its engine before it answers, even
// when no to-do changed: a vote on the retirement of a restarted peer's
// finished writer (a promise or an acceptance, which only a snapshot
// holds), the installed retirement, and changes that raised what an
// object has seen without changing a value. Left in memory, a kill -9
// loses them: a lost vote lets two processes under one region name (a
// copied data directory) each have a different retirement agreed at one
// place, and the regions stay apart for good. What a region's own ticks
// change (the retirements it proposes) its periodic save saves.
func TestEveryMessageTakenInIsSaved(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)
	td := createTodo(t, e, "one")
	deleteTodo(t, e, td.ID)
	createTodo(t, e, "two")
	c.settle()
	c.crash(east)
	c.restart(east) // a new run: the last one's writer is retired
	other := map[crdt.ReplicaID]crdt.ReplicaID{east: west, west: east}
	for i := 0; i < 400 && (c.region(east).replica.Stats().RetiredWriters == 0 || c.region(west).replica.Stats().RetiredWriters == 0); i++ {
		for _, n := range []crdt.ReplicaID{east, west} {
			p := c.region(other[n])
			// The periodic save (every second) saves what the peer's own
			// ticks changed: the retirements it proposed, installed, and
			// its votes for them.
			if err := p.retrySave(); err != nil {
				t.Fatal(err)
			}
			if err := unsaved(p); err != nil {
				t.Fatalf("step %d: after its periodic save, %s holds what it did not save: %v", i, other[n], err)
			}
			_ = c.region(n).tick(context.Background())
			// n's messages were taken in and answered: the peer holds
			// nothing its disk does not.
			if err := unsaved(p); err != nil {
				t.Fatalf("step %d: after %s's messages, %s holds what it did not save: %v", i, n, other[n], err)
			}
		}
	}
	for _, n := range []crdt.ReplicaID{east, west} {
		if got := c.region(n).replica.Stats().RetiredWriters; got == 0 {
			t.Fatalf("%s retired no writer", n)
		}
	}
}
