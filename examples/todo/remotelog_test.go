package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
)

// journalOf reads a running region's store: its snapshot and how many of
// its journal records are remote records.
func journalOf(t *testing.T, rg *region) (snap []byte, records, remote int) {
	t.Helper()
	snap, journal, err := rg.store.load()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range journal {
		if isRemoteRecord(rec) {
			remote++
		}
	}
	return snap, len(journal), remote
}

// TestRemoteChangesAreJournaled: what a peer changes is saved as a journal
// record of what changed, not as a new snapshot of everything, and comes
// back after a crash, the peer out of reach: creates, edits and deletes,
// and the region's own later edit of a to-do its peer made.
func TestRemoteChangesAreJournaled(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	snap0, _, _ := journalOf(t, c.region(west))

	a := createTodo(t, e, "a")
	b := createTodo(t, e, "b")
	c.settle()
	a = patchTodo(t, e, a.ID, `{"title": "a, retitled", "done": true}`)
	deleteTodo(t, e, b.ID)
	want := c.settle()
	if !slices.Equal(want, []Todo{a}) {
		t.Fatalf("converged on %+v, want %+v", want, []Todo{a})
	}
	snap, records, remote := journalOf(t, c.region(west))
	if !bytes.Equal(snap, snap0) {
		t.Error("the west saved a new snapshot for its peer's changes")
	}
	if remote == 0 || remote != records {
		t.Errorf("the west's journal holds %d records, %d of them remote; want only remote ones", records, remote)
	}

	// The west's own writes, one on a to-do its peer made, go to the same
	// journal, in order.
	x := createTodo(t, w, "x")
	a = patchTodo(t, w, a.ID, `{"title": "a, retitled in the west"}`)
	want = []Todo{a, x}
	if _, records2, remote2 := journalOf(t, c.region(west)); records2 != records+2 || remote2 != remote {
		t.Errorf("after two local writes the journal holds %d records (%d remote); want %d (%d)", records2, remote2, records+2, remote)
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

// TestTornRemoteRecord: a remote record torn by a crash, the journal's
// last, stops the region with errDamaged naming -recover; -recover drops
// it, and the region catches up from its peer.
func TestTornRemoteRecord(t *testing.T) {
	c := newCluster(t, nil)
	td := createTodo(t, c.url(east), "from the east")
	c.settle()
	c.cut.Store(true)
	c.crash(west)
	db := c.cfgs[west].DataDir + "/todo.db"
	var last []byte
	setJournal(t, db, -1, func(b []byte) []byte { last = b; return b[:len(b)-3] })
	if !isRemoteRecord(last) {
		t.Fatal("the west's last journal record is not a remote one")
	}
	if _, err := startRegion(c.cfgs[west]); !errors.Is(err, errDamaged) || !strings.Contains(err.Error(), "-recover") {
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

// TestRemoteRecordEncoding pins the layout (derived by hand below) and
// checks that a record cut short anywhere, or with any byte changed, is
// refused as damaged.
func TestRemoteRecordEncoding(t *testing.T) {
	at := clock.Timestamp{Wall: 0x0102030405060708, Logical: 9}
	rec, err := encodeRemoteRecord(at, []objectState{{objDone, []byte{0xaa, 0xbb}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{'T', 'D', 'R', 1, // magic, version
		1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 9, // wall, logical
		1,                                              // one object
		9, 't', 'o', 'd', 'o', '.', 'd', 'o', 'n', 'e', // its name
		0, 0, 0, 2, 0xaa, 0xbb, // its state
	}
	if !bytes.Equal(rec[:len(rec)-4], want) {
		t.Fatalf("record\n%x\nwant\n%x", rec[:len(rec)-4], want)
	}
	gotAt, states, err := decodeRemoteRecord(rec)
	if err != nil || gotAt != at || len(states) != 1 || states[0].name != objDone || !bytes.Equal(states[0].state, []byte{0xaa, 0xbb}) {
		t.Fatalf("decoded %v %+v %v", gotAt, states, err)
	}
	for n := range len(rec) {
		if _, _, err := decodeRemoteRecord(rec[:n]); !errors.Is(err, errRemoteRecord) {
			t.Errorf("cut to %d bytes: %v", n, err)
		}
	}
	for i := range rec {
		b := bytes.Clone(rec)
		b[i] ^= 0x10
		if _, _, err := decodeRemoteRecord(b); !errors.Is(err, errRemoteRecord) {
			t.Errorf("byte %d changed: %v", i, err)
		}
	}
}

// FuzzRemoteRecord: a remote record read from disk never panics the
// decoder, and one it accepts encodes back to the same bytes.
func FuzzRemoteRecord(f *testing.F) {
	rec, err := encodeRemoteRecord(clock.Timestamp{Wall: 1, Logical: 2},
		[]objectState{{objItems, []byte("x")}, {objTitle, nil}, {objDone, []byte("yz")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add(rec[:len(rec)-1])
	f.Fuzz(func(t *testing.T, rec []byte) {
		at, states, err := decodeRemoteRecord(rec)
		if err != nil {
			if !errors.Is(err, errRemoteRecord) {
				t.Fatalf("error not marked damaged: %v", err)
			}
			return
		}
		again, err := encodeRemoteRecord(at, states)
		if err != nil || !bytes.Equal(again, rec) {
			t.Fatalf("re-encoded %x, %v; want %x", again, err, rec)
		}
	})
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
