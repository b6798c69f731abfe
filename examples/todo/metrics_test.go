package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetrics scrapes /metrics, served by client_golang from a collector
// over the replica's Stats: well-formed, and the per-peer figures follow
// what happens. With the link cut, a write stays pending for the west and
// its lag grows with the clock; healed, both drop to zero.
func TestMetrics(t *testing.T) {
	c := newCluster(t, nil)
	e := c.url(east)

	c.cut.Store(true)
	createTodo(t, e, "pending")
	c.tickAll()
	c.clk.advance(3 * time.Second)

	r := do(t, "GET", e+"/metrics", "")
	mustStatus(t, r, http.StatusOK)
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("/metrics is not the text format: %v\n%s", err, r.body)
	}
	for _, name := range []string{
		"todo_items", "crdt_log_ops", "crdt_log_bytes",
		"crdt_replication_lag_seconds", "crdt_replication_pending_ops", "crdt_replication_pending_bytes",
		"crdt_replication_catching_up", "crdt_replication_send_errors_total",
		"crdt_replication_full_states_total", "crdt_replication_delta_states_total", "crdt_replication_digest_rounds_total",
	} {
		f, ok := families[name]
		if !ok || f.GetHelp() == "" || len(f.GetMetric()) == 0 {
			t.Errorf("metric %s missing or without help", name)
		}
	}
	lag, _ := metricValue(t, e, "crdt_replication_lag_seconds", "region", string(east), "peer", string(west))
	pending, _ := metricValue(t, e, "crdt_replication_pending_ops", "peer", string(west))
	bytes, _ := metricValue(t, e, "crdt_replication_pending_bytes", "peer", string(west))
	errs, _ := metricValue(t, e, "crdt_replication_send_errors_total", "peer", string(west))
	if lag < 3 || pending == 0 || bytes == 0 || errs == 0 {
		t.Errorf("link cut: lag %vs, pending %v ops / %v bytes, %v send errors; want lag >= 3s and the rest > 0", lag, pending, bytes, errs)
	}
	if n, _ := metricValue(t, e, "todo_items"); n != 1 {
		t.Errorf("todo_items %v, want 1", n)
	}

	c.cut.Store(false)
	c.settle()
	lag, _ = metricValue(t, e, "crdt_replication_lag_seconds", "peer", string(west))
	pending, _ = metricValue(t, e, "crdt_replication_pending_ops", "peer", string(west))
	if lag != 0 || pending != 0 {
		t.Errorf("healed: lag %v, pending %v; want 0", lag, pending)
	}
	if n, _ := metricValue(t, c.url(west), "todo_items"); n != 1 {
		t.Errorf("west todo_items %v, want 1", n)
	}
}
