package main

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// feed tracks which to-dos changed, so the page's event stream sends the
// changed items, not the whole list. Every change is numbered; a cursor
// ("run:number") says up to which change a reader has seen, and
// feed.since answers with the items changed after it.
//
// Which items a change touched: the region's own writes name them; for a
// peer's, the feed asks each object for its delta since the versions it
// saw last, whose keys are the items written (a cost that grows with the
// change, not with the list). A removal leaves no key a delta can show
// (the library does not list an OR-Set's drops or an LWW-Map's delete
// markers), so the feed keeps the set of items it knows, and when the
// list's length disagrees with it, walks the list to find what left.
//
// A feed is safe for concurrent use.
type feed struct {
	todos *todos
	run   string // this run's token: a cursor of another run starts over

	mu    sync.Mutex
	seq   uint64                  // the number of the latest change
	log   []feedEntry             // changes in order, from floor on
	floor uint64                  // cursors before it can no longer be answered
	known map[string]struct{}     // the items present as of the last scan
	base  map[string]vclock.Clock // the objects' versions as of the last scan
}

type feedEntry struct {
	seq uint64
	id  string
}

// maxFeedLog bounds the feed's log; a reader further behind is sent the
// whole list again.
const maxFeedLog = 8192

// newFeed returns the feed of a region's to-dos, as they are now.
func newFeed(t *todos) *feed {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	f := &feed{todos: t, run: hex.EncodeToString(b[:]), known: map[string]struct{}{}, base: map[string]vclock.Clock{}}
	f.scan()
	f.log, f.floor = nil, f.seq
	return f
}

// scan finds the items changed since the last scan and logs them as one
// change. ids are items the caller knows it changed (a local write).
func (f *feed) scan(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cand := map[string]struct{}{}
	for _, id := range ids {
		cand[id] = struct{}{}
	}
	present := map[string]bool{}
	t := f.todos
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) {
			d := s.DeltaSince(f.base[objItems])
			for id := range d.All() {
				cand[id] = struct{}{}
			}
			f.base[objItems] = s.Version()
		})
		_ = t.title.ReadIn(tx, func(m *lwwmap.Map[string, string]) {
			for id := range m.DeltaSince(f.base[objTitle]).Keys() {
				cand[id] = struct{}{}
			}
			f.base[objTitle] = m.Version()
		})
		_ = t.done.ReadIn(tx, func(m *lwwmap.Map[string, bool]) {
			for id := range m.DeltaSince(f.base[objDone]).Keys() {
				cand[id] = struct{}{}
			}
			f.base[objDone] = m.Version()
		})
		_ = t.created.ReadIn(tx, func(m *lwwmap.Map[string, string]) {
			for id := range m.DeltaSince(f.base[objCreated]).Keys() {
				cand[id] = struct{}{}
			}
			f.base[objCreated] = m.Version()
		})
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) {
			for id := range cand {
				present[id] = s.Contains(id)
			}
			// The number of items once the candidates are counted in.
			n := len(f.known)
			for id, in := range present {
				switch _, was := f.known[id]; {
				case in && !was:
					n++
				case !in && was:
					n--
				}
			}
			if n == s.Len() {
				return
			}
			// Something left (or came) that no delta showed: walk the
			// list and the known items.
			for id := range f.known {
				if _, ok := present[id]; !ok && !s.Contains(id) {
					present[id] = false
				}
			}
			for id := range s.All() {
				if _, ok := f.known[id]; !ok {
					present[id] = true
				}
			}
		})
	})
	var changed []string
	for id, in := range present {
		_, was := f.known[id]
		if in {
			f.known[id] = struct{}{}
		} else {
			delete(f.known, id)
		}
		if in || was {
			changed = append(changed, id)
		}
	}
	if len(changed) == 0 {
		return
	}
	f.seq++
	slices.Sort(changed) // a stable order for tests and readers
	for _, id := range changed {
		f.log = append(f.log, feedEntry{f.seq, id})
	}
	if len(f.log) > maxFeedLog {
		// Keep the newer half, whole changes only.
		cut := len(f.log) - maxFeedLog/2
		for cut < len(f.log) && f.log[cut].seq == f.log[cut-1].seq {
			cut++
		}
		f.floor = f.log[cut-1].seq
		f.log = slices.Clone(f.log[cut:])
	}
}

// changes is what feed.since answers: the items changed after a cursor
// (present ones in todos, removed ones in removed), or, with reset, the
// whole list, and the cursor to ask from next.
type changes struct {
	Cursor  string   `json:"cursor"`
	Reset   bool     `json:"reset"`
	Todos   []Todo   `json:"todos"`
	Removed []string `json:"removed"`
}

// since returns the items changed after cursor, read as they are now, or
// the whole list if cursor is empty, of another run, or too old.
func (f *feed) since(cursor string) changes {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := changes{Cursor: f.run + ":" + strconv.FormatUint(f.seq, 10), Todos: []Todo{}, Removed: []string{}}
	run, n, ok := strings.Cut(cursor, ":")
	from, err := strconv.ParseUint(n, 10, 64)
	if !ok || err != nil || run != f.run || from < f.floor || from > f.seq {
		ch.Reset = true
		if list := f.todos.list(); list != nil {
			ch.Todos = list
		}
		return ch
	}
	i, _ := slices.BinarySearchFunc(f.log, from+1, func(e feedEntry, seq uint64) int {
		switch {
		case e.seq < seq:
			return -1
		case e.seq > seq:
			return 1
		}
		return 0
	})
	seen := map[string]struct{}{}
	var ids []string
	for _, e := range f.log[i:] {
		if _, dup := seen[e.id]; !dup {
			seen[e.id] = struct{}{}
			ids = append(ids, e.id)
		}
	}
	slices.Sort(ids)
	present, removed := f.todos.getAll(ids)
	ch.Todos = append(ch.Todos, present...)
	ch.Removed = append(ch.Removed, removed...)
	return ch
}
