package main

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/activeactive/crdt"
)

// This file shows conflicts on the page: the engine's conflict reports
// (crdt.Config.OnConflict) for the fields of to-dos, kept in a short list
// that GET /api/conflicts serves and the page polls.

// maxConflicts is how many recent conflicts a region keeps to show.
const maxConflicts = 20

// conflictView is one conflict as the API shows it: an edit of a field of
// a to-do that lost to a concurrent edit, and to which region's.
type conflictView struct {
	Seq        uint64    `json:"seq"` // 1 for the first conflict this run saw, and so on
	At         time.Time `json:"at"`  // when this region saw it
	ID         string    `json:"id"`  // the to-do
	Field      string    `json:"field"`
	Lost       string    `json:"lost"` // the value that lost, as text; "" for a delete
	LostRegion string    `json:"lost_region"`
	LostDelete bool      `json:"lost_delete,omitempty"`
	Won        string    `json:"won"`
	WonRegion  string    `json:"won_region"`
	WonDelete  bool      `json:"won_delete,omitempty"`
}

// conflictLog keeps the latest conflicts a region saw, newest last. It is
// safe for concurrent use.
type conflictLog struct {
	mu   sync.Mutex
	seq  uint64
	list []conflictView
}

// add records a conflict report and reports whether it was about a to-do
// field (the only objects with conflicts here).
func (l *conflictLog) add(c crdt.Conflict, now time.Time) bool {
	field := ""
	switch c.Object {
	case objTitle:
		field = "title"
	case objDone:
		field = "done"
	}
	id, ok := c.Key.(string)
	if field == "" || !ok {
		return false
	}
	text := func(v any, deleted bool) string {
		if deleted || v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.list = append(l.list, conflictView{
		Seq: l.seq, At: now.UTC(), ID: id, Field: field,
		Lost: text(c.Lost.Value, c.Lost.Deleted), LostRegion: string(c.Lost.Writer.Name()), LostDelete: c.Lost.Deleted,
		Won: text(c.Won.Value, c.Won.Deleted), WonRegion: string(c.Won.Writer.Name()), WonDelete: c.Won.Deleted,
	})
	if n := len(l.list); n > maxConflicts {
		l.list = append(l.list[:0:0], l.list[n-maxConflicts:]...)
	}
	return true
}

// recent returns the conflicts kept, newest last.
func (l *conflictLog) recent() []conflictView {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]conflictView{}, l.list...)
}

// onConflict is the engine's conflict hook. The engine calls it without
// its lock held; it only records and notifies.
func (rg *region) onConflict(c crdt.Conflict) {
	if rg.conflicts.add(c, time.Now()) {
		rg.log.Info("conflict", "object", c.Object, "id", c.Key,
			"lost", c.Lost.Value, "lost_region", c.Lost.Writer.Name(), "won", c.Won.Value, "won_region", c.Won.Writer.Name())
	}
}

// serveConflicts answers GET /api/conflicts: the region's name and the
// recent conflicts it saw, newest last.
func (rg *region) serveConflicts(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Region    string         `json:"region"`
		Conflicts []conflictView `json:"conflicts"`
	}{string(rg.cfg.Name), rg.conflicts.recent()})
}
