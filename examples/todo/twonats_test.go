package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestTwoProcessesUnderOneRegionNameOverNATS: as
// TestTwoProcessesUnderOneRegionName, over NATS, where both processes
// under us-east-1 take every message eu-west-1 sends it (both subscribe
// to its subject). Once the second stops, the first and eu-west-1
// converge on every write either acknowledged and on those of the
// second that eu-west-1 took.
func TestTwoProcessesUnderOneRegionNameOverNATS(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	rgs, _ := natsPair(t, ns.url)
	for i := range 3 {
		createTodo(t, rgs[east].url, fmt.Sprintf("before %d", i))
	}
	natsSettle(t, rgs)
	cfg := rgs[east].cfg
	rgs[east].crash()
	cfg2 := cfg
	cfg2.DataDir = filepath.Join(t.TempDir(), "copy")
	copyDir(t, cfg.DataDir, cfg2.DataDir)
	nc2, err := connectNATS(ns.url, east, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc2.Close)
	cfg2.NATS = nc2
	nc1, err := connectNATS(ns.url, east, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc1.Close)
	cfg.NATS = nc1
	first, err := startRegion(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(first.crash)
	rgs[east] = first
	second, err := startRegion(cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer second.crash()
	want := []string{"before 0", "before 1", "before 2"}
	for i := range 30 {
		switch i % 3 {
		case 0:
			createTodo(t, first.url, fmt.Sprintf("first %d", i))
			want = append(want, fmt.Sprintf("first %d", i))
		case 1:
			createTodo(t, second.url, fmt.Sprintf("second %d", i))
		case 2:
			createTodo(t, rgs[west].url, fmt.Sprintf("west %d", i))
			want = append(want, fmt.Sprintf("west %d", i))
		}
		for _, rg := range []*region{first, second, rgs[west]} {
			_ = rg.tick(context.Background())
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && (first.replica.Stats().RetiredWriters < 2 || rgs[west].replica.Stats().RetiredWriters < 2) {
		for _, rg := range []*region{first, second, rgs[west]} {
			_ = rg.tick(context.Background())
		}
	}
	took := map[string]bool{}
	for _, td := range rgs[west].todos.list() {
		took[td.Title] = true
	}
	second.crash()
	list := natsSettle(t, rgs)
	got := map[string]bool{}
	for _, td := range list {
		got[td.Title] = true
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("lost %q", w)
		}
	}
	for w := range took {
		if !got[w] {
			t.Errorf("lost %q, which eu-west-1 took from the second process", w)
		}
	}
	for _, rg := range rgs {
		if st := rg.replica.Stats(); st.LedgerConflicts != 0 || st.RetireFailures != 0 {
			t.Errorf("%s: ledger conflicts %d, retire failures %d; want 0", rg.cfg.Name, st.LedgerConflicts, st.RetireFailures)
		}
	}
}
