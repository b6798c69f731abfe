package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestFeedNamesChangedItems: the feed answers a cursor with the to-dos
// changed since, and only those, whoever changed them: a peer (creates,
// edits, a delete, found by walking the list) or the region itself; a
// cursor it cannot answer gets the whole list.
func TestFeedNamesChangedItems(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	f := c.region(west).feed
	start := f.since("")
	if !start.Reset || len(start.Todos) != 0 {
		t.Fatalf("first answer %+v, want an empty reset", start)
	}
	step := func(cur string, what string, todos []Todo, removed []string) string {
		t.Helper()
		ch := f.since(cur)
		slices.SortFunc(todos, func(a, b Todo) int { return strings.Compare(a.ID, b.ID) })
		slices.Sort(removed) // the feed names items in order of ID, not of creation
		if ch.Reset || !slices.Equal(ch.Todos, todos) || !slices.Equal(ch.Removed, removed) {
			t.Fatalf("%s: %+v; want todos %+v, removed %v", what, ch, todos, removed)
		}
		return ch.Cursor
	}
	cur := start.Cursor

	a := createTodo(t, e, "a")
	b := createTodo(t, e, "b")
	c.settle()
	cur = step(cur, "two remote creates", []Todo{a, b}, []string{})
	cur = step(cur, "nothing new", []Todo{}, []string{})

	a = patchTodo(t, e, a.ID, `{"done": true}`)
	d := createTodo(t, e, "d")
	c.settle()
	cur = step(cur, "a remote edit and create", []Todo{a, d}, []string{})

	deleteTodo(t, e, b.ID)
	c.settle()
	cur = step(cur, "a remote delete", []Todo{}, []string{b.ID})

	x := createTodo(t, w, "x")
	deleteTodo(t, w, a.ID)
	old := cur
	cur = step(cur, "a local create and delete", []Todo{x}, []string{a.ID})
	// An older cursor gets everything changed since it, as it is now.
	step(start.Cursor, "from the start", []Todo{d, x}, []string{a.ID, b.ID})
	step(old, "again", []Todo{x}, []string{a.ID})

	for _, bad := range []string{"", "nonsense", "0123456789abcdef:1", f.run + ":99999", f.run + ":-1", f.run + ":x"} {
		if ch := f.since(bad); !ch.Reset || len(ch.Todos) != 2 || len(ch.Removed) != 0 {
			t.Errorf("cursor %q: %+v, want the whole list", bad, ch)
		}
	}

	// A reader left further behind than the log holds starts over.
	rg := c.region(west)
	err := rg.write(func() error {
		for i := range maxFeedLog + 1 {
			if err := rg.todos.create(fmt.Sprintf("%028x", i), "bulk"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ch := f.since(cur); !ch.Reset || len(ch.Todos) != maxFeedLog+3 {
		t.Errorf("a cursor before the log's floor: reset %v, %d to-dos; want the whole list of %d", ch.Reset, len(ch.Todos), maxFeedLog+3)
	}
}

// TestEventsCarryChangedItems: the page's event stream opens with the
// whole list, then sends with each change only the to-dos it changed.
func TestEventsCarryChangedItems(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	first := createTodo(t, e, "first")
	c.settle()

	type event struct {
		Origin string `json:"origin"`
		changes
	}
	events := openEvents(t, w+"/api/events")
	next := func() event {
		t.Helper()
		var ev event
		if err := json.Unmarshal([]byte(events.next(t)), &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	if ev := next(); ev.Origin != "open" || !ev.Reset || !slices.Equal(ev.Todos, []Todo{first}) {
		t.Fatalf("opening event %+v", ev)
	}
	second := createTodo(t, e, "second")
	c.settle()
	ev := next()
	if ev.Origin != "remote" || ev.Reset || !slices.Equal(ev.Todos, []Todo{second}) || len(ev.Removed) != 0 {
		t.Fatalf("event after a remote create %+v, want just %+v", ev, second)
	}
	deleteTodo(t, w, first.ID)
	for ev = next(); ev.Origin != "local"; ev = next() { // a late remote one may come first
		if len(ev.Todos) != 0 || len(ev.Removed) != 0 {
			t.Fatalf("event %+v names to-dos no one changed", ev)
		}
	}
	if ev.Reset || len(ev.Todos) != 0 || !slices.Equal(ev.Removed, []string{first.ID}) {
		t.Fatalf("event after a local delete %+v", ev)
	}
}
