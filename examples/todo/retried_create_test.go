package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
)

// TestRetriedCreateLosesToADelete: a client creates a to-do in us-east-1
// with an Idempotency-Key and, its answer lost, retries in eu-west-1
// while the link is down; meanwhile the to-do is deleted in us-east-1.
// The delete saw only us-east-1's add of the ID, so eu-west-1's add
// survives it in the set of items (add-wins), but the delete's markers,
// later than both titles, win over the title. The delete wins: once the
// link heals, neither region shows the to-do, nor counts it, and a
// request for it answers 404, as for any deleted to-do.
func TestRetriedCreateLosesToADelete(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	c.cut.Store(true)
	first := createKeyed(t, e, "order-7", "pay the invoice")
	mustStatus(t, first, http.StatusCreated)
	td := decode[Todo](t, first)
	c.clk.advance(time.Second)
	mustStatus(t, createKeyed(t, w, "order-7", "pay the invoice"), http.StatusCreated)
	c.clk.advance(time.Second)
	deleteTodo(t, e, td.ID)
	c.cut.Store(false)
	for _, got := range c.settle() {
		if got.ID == td.ID {
			t.Fatalf("both regions list %+v, which us-east-1 deleted", got)
		}
	}
	for _, base := range []string{e, w} {
		if r := do(t, "GET", base+"/api/todos/"+td.ID, ""); r.status != http.StatusNotFound {
			t.Errorf("GET %s/api/todos/%s: %d %s, want 404", base, td.ID, r.status, r.body)
		}
		if n, _ := metricValue(t, base, "todo_items"); n != 0 {
			t.Errorf("%s: todo_items = %v, want 0", base, n)
		}
	}
}

// TestRetriedCreateKeepsALaterRename: a client creates a to-do in
// us-east-1, naming it with an Idempotency-Key or choosing its "id"; its
// answer lost, it retries in eu-west-1 while the link is down, after the
// to-do was renamed in us-east-1. The rename was made after the create;
// the retry is the same create again, and must not bring the first title
// back over the rename, whichever clock is later. Once the link heals both
// regions show the rename, and a retry in either region answers the to-do
// as it is.
func TestRetriedCreateKeepsALaterRename(t *testing.T) {
	clientID := newID(time.Now())
	for name, create := range map[string]func(t *testing.T, base string) response{
		"Idempotency-Key": func(t *testing.T, base string) response {
			return createKeyed(t, base, "order-9", "pay the invoice")
		},
		"id": func(t *testing.T, base string) response {
			return rawRequest(t, "POST", base+"/api/todos", `{"id":"`+clientID+`","title":"pay the invoice"}`,
				map[string]string{"Content-Type": "application/json"})
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t, nil)
			e, w := c.url(east), c.url(west)
			c.cut.Store(true)
			first := create(t, e)
			mustStatus(t, first, http.StatusCreated)
			td := decode[Todo](t, first)
			c.clk.advance(time.Second)
			patchTodo(t, e, td.ID, `{"title":"pay invoice 9 by Friday"}`)
			c.clk.advance(time.Second) // the retry's clock is the later one
			mustStatus(t, create(t, w), http.StatusCreated)
			c.cut.Store(false)
			want := Todo{ID: td.ID, Title: "pay invoice 9 by Friday"}
			if got := c.settle(); len(got) != 1 || got[0] != want {
				t.Fatalf("converged on %+v, want only %+v", got, want)
			}
			for _, base := range []string{e, w} {
				r := create(t, base)
				mustStatus(t, r, http.StatusOK)
				if got := decode[Todo](t, r); got != want || r.header.Get("Idempotent-Replayed") != "true" {
					t.Errorf("retry at %s answered %+v (%v), want %+v", base, got, r.header, want)
				}
			}
		})
	}
}

// TestCreateWithClientIDRefusesBadIDs: an "id" not of the server's form,
// or given with an Idempotency-Key, is refused and changes nothing.
func TestCreateWithClientIDRefusesBadIDs(t *testing.T) {
	c := newCluster(t, nil, east)
	e := c.url(east)
	good := newID(time.Now())
	for _, body := range []string{
		`{"id":"","title":"x"}`,
		`{"id":"` + good[:27] + `","title":"x"}`,
		`{"id":"` + good + `0","title":"x"}`,
		`{"id":"` + strings.ToUpper(good[:27]) + `A","title":"x"}`,
		`{"id":"../../../etc/passwdxxxxxxxxxx","title":"x"}`,
		`{"id":7,"title":"x"}`,
	} {
		if r := rawRequest(t, "POST", e+"/api/todos", body, map[string]string{"Content-Type": "application/json"}); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", body, r.status, r.body)
		}
	}
	both := rawRequest(t, "POST", e+"/api/todos", `{"id":"`+good+`","title":"x"}`,
		map[string]string{"Content-Type": "application/json", "Idempotency-Key": "k-1"})
	if both.status != http.StatusBadRequest {
		t.Errorf("id and Idempotency-Key: %d %s, want 400", both.status, both.body)
	}
	if got := listTodos(t, e); len(got) != 0 {
		t.Fatalf("refused creates made %+v", got)
	}
}

// TestRetriedCreatesNeverUndoARename is the property behind
// TestRetriedCreateKeepsALaterRename: whatever the order of a keyed
// create, its retries in either region, renames where the to-do is known,
// cuts and heals of the link and the clocks' steps, once the link heals
// both regions show the same to-do, with the title of a rename if any
// rename was made, never the creation's again.
func TestRetriedCreatesNeverUndoARename(t *testing.T) {
	c := newCluster(t, nil)
	bases := map[crdt.ReplicaID]string{east: c.url(east), west: c.url(west)}
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		key := fmt.Sprintf("retry-%d", n)
		const created = "the title at creation"
		c.cut.Store(true)
		at := rapid.SampledFrom([]crdt.ReplicaID{east, west})
		first := createKeyed(t, bases[at.Draw(rt, "first")], key, created)
		mustStatus(t, first, http.StatusCreated)
		id := decode[Todo](t, first).ID
		renamed := map[string]bool{}
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for i := range steps {
			c.clk.advance(time.Duration(rapid.IntRange(-2, 5).Draw(rt, "step")) * time.Millisecond)
			r := at.Draw(rt, "region")
			switch rapid.IntRange(0, 3).Draw(rt, "action") {
			case 0:
				if got := createKeyed(t, bases[r], key, created); got.status != http.StatusCreated && got.status != http.StatusOK {
					rt.Fatalf("retry at %s: %d %s", r, got.status, got.body)
				}
			case 1:
				title := fmt.Sprintf("rename %d", i)
				b, _ := json.Marshal(map[string]string{"title": title})
				switch got := do(t, "PATCH", bases[r]+"/api/todos/"+id, string(b)); got.status {
				case http.StatusOK:
					renamed[title] = true
				case http.StatusNotFound: // not there yet
				default:
					rt.Fatalf("rename at %s: %d %s", r, got.status, got.body)
				}
			case 2:
				c.cut.Store(!c.cut.Load())
			case 3:
				c.tickAll()
			}
		}
		c.cut.Store(false)
		var got Todo
		for _, td := range c.settle() {
			if td.ID == id {
				got = td
			}
		}
		switch {
		case got.ID == "":
			rt.Fatalf("the to-do %s is gone", id)
		case len(renamed) == 0 && got.Title != created:
			rt.Fatalf("no rename, but the title is %q", got.Title)
		case len(renamed) > 0 && !renamed[got.Title]:
			rt.Fatalf("renamed to %v, but the title is %q", renamed, got.Title)
		}
	})
}
