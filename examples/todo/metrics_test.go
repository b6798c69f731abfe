package main

import (
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
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
		"crdt_divergences_total", "crdt_awaiting_catch_up", "crdt_replication_message_limit_bytes", "crdt_gc_pending", "crdt_gc_collected_total", "crdt_uncompared_objects",
		"crdt_messages_oversize_total", "todo_save_failing", "todo_save_failures_total",
	} {
		f, ok := families[name]
		if !ok || f.GetHelp() == "" || len(f.GetMetric()) == 0 {
			t.Errorf("metric %s missing or without help", name)
		}
	}
	if f := families["crdt_gc_pending"]; f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("crdt_gc_pending is a %v, want a gauge", f.GetType())
	}
	if f := families["crdt_gc_collected_total"]; f.GetType() != dto.MetricType_COUNTER {
		t.Errorf("crdt_gc_collected_total is a %v, want a counter", f.GetType())
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
	if v, ok := metricValue(t, e, "crdt_awaiting_catch_up", "peer", string(west)); !ok || v != 1 {
		t.Errorf("link cut from the start: crdt_awaiting_catch_up %v (found %v), want 1", v, ok)
	}
	if v, ok := metricValue(t, e, "crdt_replication_message_limit_bytes", "peer", string(west)); !ok || v != maxReplicateBody {
		t.Errorf("crdt_replication_message_limit_bytes %v (found %v), want the region's own limit %d", v, ok, maxReplicateBody)
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
	// The catch-up is confirmed within a few rounds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, _ := metricValue(t, e, "crdt_awaiting_catch_up", "peer", string(west))
		b, _ := metricValue(t, c.url(west), "crdt_awaiting_catch_up", "peer", string(east))
		if a == 0 && b == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healed: crdt_awaiting_catch_up stays %v (east) and %v (west)", a, b)
		}
		c.tickAll()
	}
	if d, ok := metricValue(t, e, "crdt_divergences_total", "peer", string(west)); !ok || d != 0 {
		t.Errorf("crdt_divergences_total %v (found %v), want 0", d, ok)
	}
}

// TestMetricsPerPeerAgreement checks that crdt_divergences_total and
// crdt_awaiting_catch_up report each peer's PeerStats, and
// crdt_messages_oversize_total the replica's Stats (neither divergences
// nor oversize messages can be made to happen without a bug).
func TestMetricsPerPeerAgreement(t *testing.T) {
	c := newCluster(t, nil)
	m := newMetrics(c.region(east))
	st := crdt.Stats{Replica: east, Oversize: 2, Peers: []crdt.PeerStats{
		{Peer: west, Divergences: 3, AwaitingCatchUp: true},
		{Peer: "ap-south-1"},
	}}
	ch := make(chan prometheus.Metric, 100)
	m.collect(ch, st)
	close(ch)
	got := map[string]float64{}
	for metric := range ch {
		var pb dto.Metric
		if err := metric.Write(&pb); err != nil {
			t.Fatal(err)
		}
		peer := ""
		for _, l := range pb.GetLabel() {
			if l.GetName() == "peer" {
				peer = l.GetValue()
			}
		}
		desc := metric.Desc().String()
		for _, name := range []string{"crdt_divergences_total", "crdt_awaiting_catch_up", "crdt_messages_oversize_total"} {
			if strings.Contains(desc, `"`+name+`"`) {
				v := pb.GetCounter().GetValue() + pb.GetGauge().GetValue()
				got[name+"/"+peer] = v
			}
		}
	}
	want := map[string]float64{
		"crdt_divergences_total/eu-west-1": 3, "crdt_awaiting_catch_up/eu-west-1": 1,
		"crdt_divergences_total/ap-south-1": 0, "crdt_awaiting_catch_up/ap-south-1": 0,
		"crdt_messages_oversize_total/": 2,
	}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestMetricsLagMaxMin: with three regions and only the link from the east
// to the west cut, the east's greatest lag is the west's and its smallest
// the other peer's, which took the write.
func TestMetricsLagMaxMin(t *testing.T) {
	const south = crdt.ReplicaID("ap-south-1")
	var cut atomic.Bool
	c := newCluster(t, func(cfg *regionConfig) {
		if cfg.Name == east {
			cfg.Blocked = func(to crdt.ReplicaID) bool { return to == west && cut.Load() }
		}
	}, east, west, south)
	e := c.url(east)
	cut.Store(true)
	createTodo(t, e, "pending for the west")
	for range 3 {
		c.tickAll()
	}
	c.clk.advance(3 * time.Second)
	hi, okHi := metricValue(t, e, "crdt_replication_lag_max_seconds", "region", string(east))
	lo, okLo := metricValue(t, e, "crdt_replication_lag_min_seconds", "region", string(east))
	toWest, _ := metricValue(t, e, "crdt_replication_lag_seconds", "peer", string(west))
	toSouth, _ := metricValue(t, e, "crdt_replication_lag_seconds", "peer", string(south))
	if !okHi || !okLo || hi < 3 || hi != toWest || lo != 0 || lo != toSouth {
		t.Errorf("lag max %v (found %v), min %v (found %v); per peer: west %v, south %v; want max = west's >= 3, min = south's = 0",
			hi, okHi, lo, okLo, toWest, toSouth)
	}
}

// TestMetricsGC: deleting a to-do leaves four delete records in each
// region (its record in the set of items, its title, creation title and
// done markers),
// which crdt_gc_pending counts until both regions have saved a snapshot
// holding the delete; then they are collected, and crdt_gc_collected_total
// counts them.
func TestMetricsGC(t *testing.T) {
	c := newCluster(t, nil)
	e, w := c.url(east), c.url(west)
	td := createTodo(t, e, "to be deleted")
	c.settle()
	for _, base := range []string{e, w} {
		if p, ok := metricValue(t, base, "crdt_gc_pending"); !ok || p != 0 {
			t.Fatalf("%s: crdt_gc_pending %v (found %v) before any delete, want 0", base, p, ok)
		}
	}
	deleteTodo(t, e, td.ID)
	if p, _ := metricValue(t, e, "crdt_gc_pending"); p != 4 {
		t.Fatalf("east: crdt_gc_pending %v after a delete, want 4", p)
	}
	c.settle()
	// Journaled, not yet in a snapshot: nothing can be collected.
	for range 10 {
		c.tickAll()
	}
	for _, base := range []string{e, w} {
		p, _ := metricValue(t, base, "crdt_gc_pending")
		n, _ := metricValue(t, base, "crdt_gc_collected_total")
		if p != 4 || n != 0 {
			t.Fatalf("%s: crdt_gc_pending %v, crdt_gc_collected_total %v before any snapshot holds the delete; want 4, 0", base, p, n)
		}
	}
	for _, name := range []crdt.ReplicaID{east, west} {
		if err := c.region(name).persist(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pe, _ := metricValue(t, e, "crdt_gc_pending")
		pw, _ := metricValue(t, w, "crdt_gc_pending")
		ne, _ := metricValue(t, e, "crdt_gc_collected_total")
		nw, _ := metricValue(t, w, "crdt_gc_collected_total")
		if pe == 0 && pw == 0 && ne == 4 && nw == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after snapshots: crdt_gc_pending %v (east) %v (west), crdt_gc_collected_total %v, %v; want 0, 0, 4, 4", pe, pw, ne, nw)
		}
		c.tickAll()
	}
}
