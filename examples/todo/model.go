package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/orset"
)

// Todo is one item of the list, as the API shows it.
type Todo struct {
	ID    string `json:"id"`    // the item's ID, unique across regions
	Title string `json:"title"` // the latest rename's title, else the creation's
	Done  bool   `json:"done"`  // whether it is done (last writer wins)
}

// Names of the replicated objects. Every region registers the same four.
const (
	objItems   = "todo.items"   // orset of item IDs: which items exist
	objTitle   = "todo.title"   // lwwmap ID → title given by a rename
	objDone    = "todo.done"    // lwwmap ID → done
	objCreated = "todo.created" // lwwmap ID → title given at creation
)

// maxTitleRunes bounds a title's length.
const maxTitleRunes = 500

var (
	errNotFound = errors.New("no to-do with that id")
	errTitle    = errors.New("title must not be empty")
	errTooLong  = errors.New("title longer than 500 characters")
	errControl  = errors.New("title must not hold control characters (newlines, tabs, ...)")
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
//     concurrently in another region: the item is gone everywhere;
//   - the title given at creation and the titles given by renames live in
//     two maps, and a title from a rename, whenever it was made, is shown
//     over the one given at creation. A create that a client retries in
//     another region (see keyedID), which that region takes for a first
//     create, so writes the creation title again, later than a rename made
//     meanwhile where the to-do was first made, without bringing the old
//     title back over it. (Items created before the creation map existed
//     have their creation title in the title map; they read the same.)
//
// Creating and deleting an item change several objects in one engine
// transaction, and reads go through one view, so no region ever shows an
// item without its title, or half deleted.
//
// An item is shown only if it is in the set and has a title (in either
// map). The two part only when a create that a delete did not see adds the
// ID again (a client's retry of a keyed create in the other region, see
// keyedID): the set keeps that add (add-wins), but the delete's markers on
// the titles, later than the title the create wrote, win. The delete wins
// then: the item is not shown, nor counted, as if the set had dropped it.
//
// A todos is safe for concurrent use (the engine locks); callers that
// check-then-write hold the region's write lock.
type todos struct {
	r     *crdt.Replica
	items *crdt.Handle[*orset.Set[string]]
	title *crdt.Handle[*lwwmap.Map[string, string]]
	done  *crdt.Handle[*lwwmap.Map[string, bool]]
	// created holds the title each item was created with; title, the
	// titles renames gave, which are shown over it.
	created *crdt.Handle[*lwwmap.Map[string, string]]
}

// titles reads both title maps of an item in one view.
type titles struct {
	renamed, created *lwwmap.Map[string, string]
}

// get returns the title of id: the latest rename's, else the creation's.
func (ts titles) get(id string) (string, bool) {
	if v, ok := ts.renamed.Get(id); ok {
		return v, true
	}
	return ts.created.Get(id)
}

// readTitles calls f with both title maps, in tx.
func (t *todos) readTitles(tx *crdt.Tx, f func(titles)) {
	_ = t.title.ReadIn(tx, func(renamed *lwwmap.Map[string, string]) {
		_ = t.created.ReadIn(tx, func(created *lwwmap.Map[string, string]) {
			f(titles{renamed, created})
		})
	})
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
	created, err := crdt.Register(r, objCreated, lwwmap.New[string, string](id, r.Clock()))
	if err != nil {
		return nil, err
	}
	return &todos{r: r, items: items, title: title, done: done, created: created}, nil
}

// list returns every item, oldest first (IDs begin with their creation
// time).
func (t *todos) list() []Todo {
	var out []Todo
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) {
			for id := range s.All() {
				out = append(out, Todo{ID: id})
			}
		})
		t.readTitles(tx, func(ts titles) {
			out = slices.DeleteFunc(out, func(td Todo) bool { return !ts.has(td.ID) })
			for i := range out {
				out[i].Title, _ = ts.get(out[i].ID)
			}
		})
		_ = t.done.ReadIn(tx, func(m *lwwmap.Map[string, bool]) {
			for i := range out {
				out[i].Done, _ = m.Get(out[i].ID)
			}
		})
	})
	slices.SortFunc(out, func(a, b Todo) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// has reports whether the item id has a title (see todos: an item in
// the set without one lost it to a delete, and is not shown).
func (ts titles) has(id string) bool {
	_, ok := ts.get(id)
	return ok
}

// count returns the number of items.
func (t *todos) count() int {
	n := 0
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) {
			t.readTitles(tx, func(ts titles) {
				for id := range s.All() {
					if ts.has(id) {
						n++
					}
				}
			})
		})
	})
	return n
}

// fingerprints returns the content fingerprint of each replicated object,
// read in one view, by object name. Two regions whose objects hold the same
// content have the same fingerprints, whatever order the updates came in.
func (t *todos) fingerprints() map[string]uint64 {
	fps := map[string]uint64{}
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) { fps[objItems] = s.Fingerprint() })
		_ = t.title.ReadIn(tx, func(m *lwwmap.Map[string, string]) { fps[objTitle] = m.Fingerprint() })
		_ = t.done.ReadIn(tx, func(m *lwwmap.Map[string, bool]) { fps[objDone] = m.Fingerprint() })
		_ = t.created.ReadIn(tx, func(m *lwwmap.Map[string, string]) { fps[objCreated] = m.Fingerprint() })
	})
	return fps
}

// get returns one item.
func (t *todos) get(id string) (td Todo, ok bool) {
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) { ok = s.Contains(id) })
		if !ok {
			return
		}
		td.ID = id
		t.readTitles(tx, func(ts titles) { td.Title, ok = ts.get(id) })
		if !ok {
			td = Todo{}
			return
		}
		_ = t.done.ReadIn(tx, func(m *lwwmap.Map[string, bool]) { td.Done, _ = m.Get(id) })
	})
	return td, ok
}

// getAll returns the items of ids that exist, in the order of ids, and
// the ids of those that do not, read in one view.
func (t *todos) getAll(ids []string) (present []Todo, removed []string) {
	t.r.View(func(tx *crdt.Tx) {
		_ = t.items.ReadIn(tx, func(s *orset.Set[string]) {
			for _, id := range ids {
				if s.Contains(id) {
					present = append(present, Todo{ID: id})
				} else {
					removed = append(removed, id)
				}
			}
		})
		t.readTitles(tx, func(ts titles) {
			present = slices.DeleteFunc(present, func(td Todo) bool {
				if !ts.has(td.ID) {
					removed = append(removed, td.ID)
					return true
				}
				return false
			})
			for i := range present {
				present[i].Title, _ = ts.get(present[i].ID)
			}
		})
		_ = t.done.ReadIn(tx, func(m *lwwmap.Map[string, bool]) {
			for i := range present {
				present[i].Done, _ = m.Get(present[i].ID)
			}
		})
	})
	return present, removed
}

// create adds a new item: its ID joins the set and its creation title is
// written in one transaction, which every region applies at once. The
// creation title is shown until a rename (see todos).
func (t *todos) create(id, title string) error {
	return t.r.Update(func(tx *crdt.Tx) error {
		err := t.created.UpdateIn(tx, func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
			return m.Put(id, title), nil
		})
		if err != nil {
			return err
		}
		return t.items.UpdateIn(tx, func(s *orset.Set[string]) (crdt.Op, error) {
			return s.Add(id), nil
		})
	})
}

// edit writes the fields given (nil ones stay as they are) in one
// transaction. It never touches the set: an edit does not bring back a
// deleted item.
func (t *todos) edit(id string, title *string, done *bool) error {
	return t.r.Update(func(tx *crdt.Tx) error {
		if title != nil {
			err := t.title.UpdateIn(tx, func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
				return m.Put(id, *title), nil
			})
			if err != nil {
				return err
			}
		}
		if done == nil {
			return nil
		}
		return t.done.UpdateIn(tx, func(m *lwwmap.Map[string, bool]) (crdt.Op, error) {
			return m.Put(id, *done), nil
		})
	})
}

// remove deletes an item in one transaction: its ID leaves the set and
// its fields are deleted.
func (t *todos) remove(id string) error {
	return t.r.Update(func(tx *crdt.Tx) error {
		err := t.items.UpdateIn(tx, func(s *orset.Set[string]) (crdt.Op, error) {
			return s.Remove(id), nil
		})
		if err != nil {
			return err
		}
		err = t.title.UpdateIn(tx, func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
			return m.Delete(id), nil
		})
		if err != nil {
			return err
		}
		err = t.created.UpdateIn(tx, func(m *lwwmap.Map[string, string]) (crdt.Op, error) {
			return m.Delete(id), nil
		})
		if err != nil {
			return err
		}
		return t.done.UpdateIn(tx, func(m *lwwmap.Map[string, bool]) (crdt.Op, error) {
			return m.Delete(id), nil
		})
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

// errClientID refuses an "id" given to a create that is not of newID's
// form.
var errClientID = errors.New(`"id" must be 28 lowercase hex digits: 12 of the creation time in milliseconds, 16 random`)

// validID reports whether id has the form of newID's IDs (and keyedID's):
// 28 lowercase hex digits. A client may choose the ID of the to-do it
// creates (see createTodo), and so retry the create anywhere.
func validID(id string) bool {
	if len(id) != 28 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// maxIdempotencyKey bounds an Idempotency-Key header.
const maxIdempotencyKey = 200

var errIdempotencyKey = errors.New("Idempotency-Key must be 1 to 200 printable ASCII characters")

// keyedID returns the ID of the to-do created with an Idempotency-Key:
// derived from the key alone, so a retry gets the same ID in any region,
// and one region's retry of a create that reached another merges with it
// (the same ID added twice is one item). Its 112 bits come from SHA-256;
// unlike newID's, they do not sort by creation time.
func keyedID(key string) (string, error) {
	if key == "" || len(key) > maxIdempotencyKey {
		return "", errIdempotencyKey
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return "", errIdempotencyKey
		}
	}
	sum := sha256.Sum256([]byte("todo-idempotency-key-v1\n" + key))
	return hex.EncodeToString(sum[:14]), nil
}

// cleanTitle trims a title and checks it. A title is one line of text: a
// control character inside it is refused rather than kept, since the page
// edits titles in a single-line input, which would drop it.
func cleanTitle(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errTitle
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", errControl
	}
	if utf8.RuneCountInString(s) > maxTitleRunes {
		return "", errTooLong
	}
	return s, nil
}
