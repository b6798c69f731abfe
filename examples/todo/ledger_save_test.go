package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
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

// TestNoMessageLeavesBeforeItIsSaved: what a region's message tells its
// peer (a vote on a retirement above all: a promise, an acceptance) is on
// its disk before the message leaves. Receive makes a vote and pokes the
// engine's Run loop, which may tick and send the vote before the handler
// that called Receive has saved it; and the region's own ticks make the
// proposer's votes and installs, saved only by the periodic save. A kill
// -9 in between loses a vote the peer has counted. The test ticks
// eu-west-1 inside its handler, after Receive and before the save, as the
// Run loop may, and checks each region's disk every time it sends.
func TestNoMessageLeavesBeforeItIsSaved(t *testing.T) {
	var (
		probing    atomic.Bool
		mu         sync.Mutex
		violations = map[string]string{}
		c          *cluster
	)
	c = newCluster(t, func(cfg *regionConfig) {
		name := cfg.Name
		cfg.Blocked = func(to crdt.ReplicaID) bool {
			if probing.Load() {
				if rg := c.region(name); rg != nil {
					if err := unsaved(rg); err != nil {
						kind := "changes taken in"
						if errors.Is(err, crdt.ErrSnapshotNeeded) {
							kind = "a vote or a retirement"
						}
						mu.Lock()
						if k := string(name) + ", " + kind; violations[k] == "" {
							violations[k] = fmt.Sprintf("%s sent to %s before saving %s: %v", name, to, kind, err)
						}
						mu.Unlock()
					}
				}
			}
			return c.cut.Load()
		}
	})
	td := createTodo(t, c.url(east), "one")
	deleteTodo(t, c.url(east), td.ID)
	c.settle()
	c.crash(east)
	c.restart(east) // a new run: the last one's writer is retired
	var inTick atomic.Bool
	wr := c.region(west)
	hook := func() {
		if !inTick.Swap(true) {
			_ = wr.tick(context.Background())
			inTick.Store(false)
		}
	}
	wr.onReceived.Store(&hook)
	probing.Store(true)
	for i := 0; i < 400 && (c.region(east).replica.Stats().RetiredWriters == 0 || wr.replica.Stats().RetiredWriters == 0); i++ {
		c.tickAll()
	}
	probing.Store(false)
	for _, k := range slices.Sorted(maps.Keys(violations)) {
		t.Error(violations[k])
	}
	for _, n := range []crdt.ReplicaID{east, west} {
		if got := c.region(n).replica.Stats().RetiredWriters; got == 0 {
			t.Fatalf("%s retired no writer", n)
		}
	}
}
