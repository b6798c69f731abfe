package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// journalOf reads a running region's store: its snapshot and how many
// journal records follow it.
func journalOf(t *testing.T, rg *region) (snap []byte, records int) {
	t.Helper()
	snap, journal, err := rg.store.load()
	if err != nil {
		t.Fatal(err)
	}
	return snap, len(journal)
}

// TestRemoteChangesAreJournaled: what a peer changes is saved as a journal
// record of what changed, not as a new snapshot of everything, and comes
// back after a crash, the peer out of reach: creates, edits and deletes,
// and the region's own later edit of a to-do its peer made.
func TestRemoteChangesAreJournaled(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	snap0, _ := journalOf(t, c.region(west))

	a := createTodo(t, e, "a")
	b := createTodo(t, e, "b")
	c.settle()
	a = patchTodo(t, e, a.ID, `{"title": "a, retitled", "done": true}`)
	deleteTodo(t, e, b.ID)
	want := c.settle()
	if !slices.Equal(want, []Todo{a}) {
		t.Fatalf("converged on %+v, want %+v", want, []Todo{a})
	}
	snap, records := journalOf(t, c.region(west))
	if !bytes.Equal(snap, snap0) {
		t.Error("the west saved a new snapshot for its peer's changes")
	}
	if records == 0 {
		t.Error("the west journaled none of its peer's changes")
	}

	// The west's own writes, one on a to-do its peer made, go to the same
	// journal, in order.
	x := createTodo(t, w, "x")
	a = patchTodo(t, w, a.ID, `{"title": "a, retitled in the west"}`)
	want = []Todo{a, x}
	if _, records2 := journalOf(t, c.region(west)); records2 != records+2 {
		t.Errorf("after two local writes the journal holds %d records; want %d", records2, records+2)
	}

	c.cut.Store(true)
	c.crash(west)
	rg := c.restart(west)
	if got := listTodos(t, w); !slices.Equal(got, want) {
		t.Fatalf("after a crash, cut off from its peer: %+v, want %+v", got, want)
	}
	// The restored region's feed starts from what it restored.
	if ch := rg.feed.since(""); !ch.Reset || !slices.Equal(ch.Todos, want) {
		t.Errorf("feed after the restart: %+v", ch)
	}
	c.cut.Store(false)
	if got := c.settle(); !slices.Equal(got, want) {
		t.Fatalf("converged on %+v after the restart, want %+v", got, want)
	}
}

// TestTornRemoteRecord: a journal record of a peer's changes torn by a
// crash, the journal's last, stops the region with errDamaged naming
// -recover; -recover drops it, and the region catches up from its peer.
func TestTornRemoteRecord(t *testing.T) {
	c := newCluster(t, nil)
	td := createTodo(t, c.url(east), "from the east")
	c.settle()
	c.cut.Store(true)
	c.crash(west)
	db := c.cfgs[west].DataDir + "/todo.db"
	setJournal(t, db, -1, func(b []byte) []byte { return b[:len(b)-3] })
	if _, err := c.start(west); !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "-recover") {
		t.Fatalf("start on a torn remote record: %v; want errDamaged naming -recover", err)
	}
	cfg := c.cfgs[west]
	cfg.Recover = true
	c.cfgs[west] = cfg
	c.restart(west)
	c.cut.Store(false)
	if got := c.settle(); !slices.Equal(got, []Todo{td}) {
		t.Fatalf("converged on %+v, want %+v", got, []Todo{td})
	}
}

// TestRemoteRecordKeepsTheClock: a region restarted from a journal of its
// peer's writes, its host's clock stepped back meanwhile, starts, and a
// write it makes then orders after the peer's writes it had seen: the
// edit of a title the peer wrote wins in both regions.
func TestRemoteRecordKeepsTheClock(t *testing.T) {
	c := newCluster(t, nil)
	w := c.url(west)
	c.clk.advance(5 * time.Second) // after the west's snapshot, made at its start
	td := createTodo(t, c.url(east), "written in the east")
	c.settle()
	c.cut.Store(true)
	c.crash(west)
	c.clk.advance(-10 * time.Second) // far beyond the clock's maximum offset
	c.restart(west)
	td = patchTodo(t, w, td.ID, `{"title": "retitled in the west after its restart"}`)
	c.cut.Store(false)
	if got := c.settle(); !slices.Equal(got, []Todo{td}) {
		t.Fatalf("converged on %+v, want the west's later edit %+v", got, td)
	}
}
