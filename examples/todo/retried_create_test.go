package main

import (
	"net/http"
	"testing"
	"time"
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
