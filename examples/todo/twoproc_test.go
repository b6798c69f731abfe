package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// TestTwoProcessesUnderOneRegionName: an operator copies us-east-1's data
// directory and starts a second process on it (a failover drill gone
// wrong) while the first runs; both take writes, and the second one's
// messages reach eu-west-1, whose answers go to the first. Once the second
// is stopped, the first and eu-west-1 converge on every write either of
// them acknowledged, and on those of the second that eu-west-1 took.
func TestTwoProcessesUnderOneRegionName(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	for i := range 3 {
		createTodo(t, e, fmt.Sprintf("before %d", i))
	}
	c.settle()
	c.crash(east)
	cfg2 := c.cfgs[east]
	cfg2.DataDir = filepath.Join(t.TempDir(), "copy")
	copyDir(t, c.cfgs[east].DataDir, cfg2.DataDir)
	cfg2.Listen = "127.0.0.1:0"
	c.restart(east)
	second, err := startRegion(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer second.crash()
	wantTitles := []string{"before 0", "before 1", "before 2"}
	tick := func() {
		c.tickAll()
		_ = second.tick(context.Background())
	}
	for i := range 30 {
		c.clk.advance(time.Millisecond)
		switch i % 3 {
		case 0:
			createTodo(t, e, fmt.Sprintf("first %d", i))
			wantTitles = append(wantTitles, fmt.Sprintf("first %d", i))
		case 1:
			createTodo(t, second.url, fmt.Sprintf("second %d", i))
		case 2:
			createTodo(t, w, fmt.Sprintf("west %d", i))
			wantTitles = append(wantTitles, fmt.Sprintf("west %d", i))
		}
		tick()
	}
	for range 300 {
		tick()
	}
	tookFromSecond := map[string]bool{}
	for _, td := range c.region(west).todos.list() {
		tookFromSecond[td.Title] = true
	}
	second.crash()
	for range 300 {
		c.tickAll()
	}
	list := c.settle()
	var got []string
	for _, td := range list {
		got = append(got, td.Title)
	}
	for _, want := range wantTitles {
		if !slices.Contains(got, want) {
			t.Errorf("lost %q: converged on %v", want, got)
		}
	}
	for title := range tookFromSecond {
		if !slices.Contains(got, title) {
			t.Errorf("lost %q, which eu-west-1 took from the second process: converged on %v", title, got)
		}
	}
	// The regions propose the retirement of a finished writer once per
	// AntiEntropyTicks (100 by default), and a proposal crossed by the
	// second process's (eu-west-1 refuses the lower ballot, and tells
	// us-east-1's address so) is agreed within the 4*RetransmitTicks (12)
	// its prepare is sent again in, plus a round trip per phase: a
	// retirement has had 630 ticks by now. Tick at most one more proposal
	// round and its retransmissions.
	retiredAtBoth := func() bool {
		return c.region(east).replica.Stats().RetiredWriters > 0 && c.region(west).replica.Stats().RetiredWriters > 0
	}
	for i := 0; i < 100+4*3 && !retiredAtBoth(); i++ {
		c.tickAll()
	}
	for _, n := range []crdt.ReplicaID{east, west} {
		st := c.region(n).replica.Stats()
		if st.RetiredWriters == 0 || st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Errorf("%s: retired %d writers, ledger conflicts %d, retire failures %d; want some, 0, 0", n, st.RetiredWriters, st.LedgerConflicts, st.RetireFailures)
		}
	}
}
