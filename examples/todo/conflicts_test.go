package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/activeactive/crdt"
)

type conflictsAnswer struct {
	Region    string         `json:"region"`
	Conflicts []conflictView `json:"conflicts"`
}

func getConflicts(t *testing.T, base string) conflictsAnswer {
	t.Helper()
	r := do(t, "GET", base+"/api/conflicts", "")
	mustStatus(t, r, http.StatusOK)
	return decode[conflictsAnswer](t, r)
}

// Two regions retitle one to-do while cut off; once healed, the region
// whose edit lost lists it, with the value that won and whose it was.
// Edits made after seeing each other add nothing.
func TestConflictsListTheEditThatLost(t *testing.T) {
	c := newCluster(t, nil)
	td := createTodo(t, c.url(east), "Water the plants")
	c.settle()

	c.cut.Store(true)
	patchTodo(t, c.url(east), td.ID, `{"title":"Water the plants and the lawn"}`)
	c.clk.advance(time.Millisecond) // the west's edit is the later one
	patchTodo(t, c.url(west), td.ID, `{"title":"Water the roses","done":true}`)
	c.tickAll()
	if got := getConflicts(t, c.url(east)).Conflicts; len(got) != 0 {
		t.Fatalf("conflicts while cut off: %+v", got)
	}
	c.cut.Store(false)
	list := c.settle()
	if len(list) != 1 || list[0].Title != "Water the roses" || !list[0].Done {
		t.Fatalf("converged on %+v", list)
	}

	got := getConflicts(t, c.url(east))
	if got.Region != string(east) || len(got.Conflicts) != 1 {
		t.Fatalf("the east lists %+v, want one conflict", got)
	}
	cv := got.Conflicts[0]
	want := conflictView{Seq: 1, At: cv.At, ID: td.ID, Field: "title",
		Lost: "Water the plants and the lawn", LostRegion: string(east), Won: "Water the roses", WonRegion: string(west)}
	if cv != want || cv.At.IsZero() {
		t.Fatalf("the east lists %+v, want %+v", cv, want)
	}
	// The winning side lists the same conflict if the losing write reached
	// it before the east's state replaced it; never anything else.
	for _, w := range getConflicts(t, c.url(west)).Conflicts {
		if w.Lost != want.Lost || w.Won != want.Won || w.LostRegion != want.LostRegion {
			t.Fatalf("the west lists %+v", w)
		}
	}

	// Ordered edits: no new conflict.
	patchTodo(t, c.url(east), td.ID, `{"title":"Water the roses twice"}`)
	c.settle()
	patchTodo(t, c.url(west), td.ID, `{"done":false}`)
	c.settle()
	if got := getConflicts(t, c.url(east)).Conflicts; len(got) != 1 {
		t.Fatalf("after ordered edits the east lists %+v", got)
	}

	// A concurrent completion: "done" conflicts are listed too.
	c.cut.Store(true)
	patchTodo(t, c.url(west), td.ID, `{"done":true}`)
	c.clk.advance(time.Millisecond)
	patchTodo(t, c.url(east), td.ID, `{"done":false}`)
	c.cut.Store(false)
	c.settle()
	got = getConflicts(t, c.url(west))
	last := got.Conflicts[len(got.Conflicts)-1]
	if last.Field != "done" || last.Lost != "true" || last.LostRegion != string(west) || last.Won != "false" || last.WonRegion != string(east) {
		t.Fatalf("the west lists %+v", got.Conflicts)
	}

	mustStatus(t, do(t, "POST", c.url(east)+"/api/conflicts", "{}"), http.StatusMethodNotAllowed)
}

func TestConflictLogKeepsTheLatest(t *testing.T) {
	var l conflictLog
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := range maxConflicts + 5 {
		c := crdt.Conflict{Object: objTitle}
		c.Key = fmt.Sprintf("id%d", i)
		c.Lost.Value, c.Lost.Writer = "a", "us-east-1!x1"
		c.Won.Value, c.Won.Writer = "b", "eu-west-1!y2"
		if !l.add(c, now) {
			t.Fatal("a title conflict was not kept")
		}
	}
	got := l.recent()
	if len(got) != maxConflicts || got[0].ID != "id5" || got[maxConflicts-1].Seq != maxConflicts+5 || got[0].LostRegion != "us-east-1" {
		t.Fatalf("kept %+v", got)
	}
	if l.add(crdt.Conflict{Object: objItems}, now) || len(l.recent()) != maxConflicts {
		t.Fatal("a conflict of another object was kept")
	}
}

// TestBrowserConflictShown cuts the link, retitles one to-do in both
// regions, heals, and checks that the page shows the losing region the
// edit it lost and to which region's.
func TestBrowserConflictShown(t *testing.T) {
	chromium := needChromium(t)
	c, err := startConsole(consoleConfig{Regions: embeddedRegions, DataDir: t.TempDir(), Tick: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.shutdown(context.Background()) })
	ctx := newBrowser(t, chromium, c.url+"/")
	shots := screenshotDir(t)
	p := &page{t: t, ctx: ctx, shots: shots, explain: func() string {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
		views, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`JSON.stringify([...views.values()].map(v => ({up: v.up, es: v.es && v.es.readyState, todos: v.todos})))`))
		dcancel()
		return fmt.Sprintf("; the regions hold %+v and %+v; the page's views %s",
			listTodos(t, c.url+"/r/us-east-1"), listTodos(t, c.url+"/r/eu-west-1"), views)
	}}
	step, until := p.do, p.until
	col := func(region string) string { return `section[data-region="` + region + `"]` }
	item := func(region, id string) string { return col(region) + ` ul.todos li[data-id="` + id + `"]` }
	titleIs := func(region, id, title string) string {
		return fmt.Sprintf("(e => e !== null && e.dataset.title === %s)(document.querySelector(%s))", strconv.Quote(title), strconv.Quote(item(region, id)))
	}

	step("page loads", chromedp.WaitVisible(chromedp.CSS(col("eu-west-1")+" form.add input")))
	step("add a to-do in us-east-1",
		chromedp.SendKeys(chromedp.CSS(col("us-east-1")+" form.add input"), "Water the plants"),
		chromedp.Click(chromedp.CSS(col("us-east-1")+" form.add button")),
	)
	until("it appears in eu-west-1", fmt.Sprintf(`document.querySelector(%s) !== null`,
		strconv.Quote(col("eu-west-1")+` li[data-title="Water the plants"]`)))
	id := listTodos(t, c.url+"/r/eu-west-1")[0].ID

	step("cut the link", chromedp.Click(chromedp.ID("link-toggle")))
	until("the link shows cut", `document.getElementById("link-state").textContent === "cut"`)
	step("retitle in us-east-1",
		chromedp.SetValue(chromedp.CSS(item("us-east-1", id)+" input.title"), "Water the lawn"),
		chromedp.SendKeys(chromedp.CSS(item("us-east-1", id)+" input.title"), kb.Enter),
	)
	until("the east shows its edit", titleIs("us-east-1", id, "Water the lawn"))
	// The west's edit comes later, so it wins.
	step("retitle in eu-west-1",
		chromedp.SetValue(chromedp.CSS(item("eu-west-1", id)+" input.title"), "Water the roses"),
		chromedp.SendKeys(chromedp.CSS(item("eu-west-1", id)+" input.title"), kb.Enter),
	)
	until("the west shows its edit", titleIs("eu-west-1", id, "Water the roses"))
	step("heal the link", chromedp.Click(chromedp.ID("link-toggle")))
	until("the link shows up", `document.getElementById("link-state").textContent === "up"`)
	until("both show the later edit", titleIs("us-east-1", id, "Water the roses")+" && "+titleIs("eu-west-1", id, "Water the roses"))

	lost := fmt.Sprintf("document.querySelector(%s)", strconv.Quote(col("us-east-1")+` .conflicts li[data-id="`+id+`"]`))
	until("the east shows its edit lost, and to whom", fmt.Sprintf(
		`(e => e !== null && e.offsetParent !== null && e.textContent.includes("Your edit") && e.textContent.includes("“Water the lawn”") && e.textContent.includes("lost to eu-west-1’s “Water the roses”"))(%s)`, lost))
	shot(t, ctx, filepath.Join(shots, "conflict.png"))
}
