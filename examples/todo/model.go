package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
)

// Todo is one item of the list, as the API shows it.
type Todo struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Done  bool   `json:"done"`
}

// Names of the replicated objects. Every region registers the same three.
const (
	objItems = "todo.items" // orset of item IDs: which items exist
	objTitle = "todo.title" // lwwmap ID → title
	objDone  = "todo.done"  // lwwmap ID → done
)

// maxTitleRunes bounds a title's length.
const maxTitleRunes = 500

var (
	errNotFound = errors.New("no to-do with that id")
	errTitle    = errors.New("title must not be empty")
	errTooLong  = errors.New("title longer than 500 characters")
)

// todos is the data model of one region: the membership of items in an
// add-wins set of IDs, and each field in its own last-writer-wins map keyed
// by ID. So:
//
//   - edits of different fields of one item touch different registers and
//     both survive;
//   - edits of one field resolve by the LWW order of the library: the later
//     hybrid-logical-clock timestamp wins, on a tie the smaller region name;
//   - an edit never adds the item to the set, so a delete (which removes the
//     ID from the set and deletes its fields) wins over any edit made
//     concurrently in another region: the item is gone everywhere.
//
// A todos is safe for concurrent use (the engine's handles lock); callers
// that check-then-write hold the region's write lock.
type todos struct {
	items *crdt.Handle[*orset.Set[string]]
	title *crdt.Handle[*lwwmap.Map[string, string]]
	done  *crdt.Handle[*lwwmap.Map[string, bool]]
}

func registerTodos(r *crdt.Replica) (*todos, error) {
	id := r.ID()
	items, err := crdt.Register(r, objItems, orset.New[string](id))
	if err != nil {
		return nil, err
	}
	title, err := crdt.Register(r, objTitle, lwwmap.New[string, string](id, r.Clock()))
	if err != nil {
		return nil, err
	}
	done, err := crdt.Register(r, objDone, lwwmap.New[string, bool](id, r.Clock()))
	if err != nil {
		return nil, err
	}
	return &todos{items: items, title: title, done: done}, nil
}

// list returns every item, oldest first (IDs begin with their creation
// time).
func (t *todos) list() []Todo {
	var out []Todo
	t.items.Read(func(s *orset.Set[string]) {
		for id := range s.All() {
			out = append(out, Todo{ID: id})
		}
	})
	slices.SortFunc(out, func(a, b Todo) int { return strings.Compare(a.ID, b.ID) })
	t.title.Read(func(m *lwwmap.Map[string, string]) {
		for i := range out {
			out[i].Title, _ = m.Get(out[i].ID)
		}
	})
	t.done.Read(func(m *lwwmap.Map[string, bool]) {
		for i := range out {
			out[i].Done, _ = m.Get(out[i].ID)
		}
	})
	return out
}

// get returns one item.
func (t *todos) get(id string) (Todo, bool) {
	var ok bool
	t.items.Read(func(s *orset.Set[string]) { ok = s.Contains(id) })
	if !ok {
		return Todo{}, false
	}
	td := Todo{ID: id}
	t.title.Read(func(m *lwwmap.Map[string, string]) { td.Title, _ = m.Get(id) })
	t.done.Read(func(m *lwwmap.Map[string, bool]) { td.Done, _ = m.Get(id) })
	return td, true
}

// create adds a new item. The title is written before the ID joins the
// set, so a peer applying the ops in order never shows an untitled item.
func (t *todos) create(id, title string) error {
	err := t.title.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
		return m.Put(id, title), nil
	})
	if err != nil {
		return err
	}
	return t.items.Update(func(s *orset.Set[string]) (crdt.Op, error) {
		return s.Add(id), nil
	})
}

// setTitle and setDone write one field. They never touch the set: an
// edit does not bring back a deleted item.
func (t *todos) setTitle(id, title string) error {
	return t.title.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
		return m.Put(id, title), nil
	})
}

func (t *todos) setDone(id string, done bool) error {
	return t.done.Update(func(m *lwwmap.Map[string, bool]) (crdt.Op, error) {
		return m.Put(id, done), nil
	})
}

// remove deletes an item: its ID leaves the set first, then its fields.
func (t *todos) remove(id string) error {
	err := t.items.Update(func(s *orset.Set[string]) (crdt.Op, error) {
		return s.Remove(id), nil
	})
	if err != nil {
		return err
	}
	err = t.title.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
		return m.Delete(id), nil
	})
	if err != nil {
		return err
	}
	return t.done.Update(func(m *lwwmap.Map[string, bool]) (crdt.Op, error) {
		return m.Delete(id), nil
	})
}

// newID returns a new item ID, unique across regions without any
// coordination: 48 bits of creation time in milliseconds (so IDs sort
// oldest first) and 64 random bits from crypto/rand, in hex.
func newID(now time.Time) string {
	var b [14]byte
	ms := uint64(now.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// cleanTitle trims a title and checks it.
func cleanTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errTitle
	}
	if utf8.RuneCountInString(s) > maxTitleRunes {
		return "", errTooLong
	}
	return s, nil
}
