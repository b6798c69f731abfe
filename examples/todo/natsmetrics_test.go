package main

import "testing"

// TestNATSTransportMetrics: a region replicating over NATS exports the
// NATS transport's counters on /metrics next to the engine's. A message
// over the server's max_payload, which the transport does not send, shows
// in crdt_nats_messages_too_large_total; what the regions published and
// took in shows too. Before, /metrics had no NATS figure at all, so a
// region whose messages the server refused (or whose subscriptions the
// client cut as slow consumers) looked healthy there.
func TestNATSTransportMetrics(t *testing.T) {
	ns, err := startNATSServer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.stop)
	rgs, _ := natsPair(t, ns.url)
	e := rgs[east]
	td := createTodo(t, e.url, "over NATS")
	natsSettle(t, rgs)
	if l := rgs[west].todos.list(); len(l) != 1 || l[0] != td {
		t.Fatalf("west lists %+v, want [%+v]", l, td)
	}
	if err := e.nl.Send(t.Context(), west, make([]byte, natsMaxPayload+1)); err == nil {
		t.Fatal("a message over the server's max_payload was sent")
	}
	nt, _ := e.nl.current()
	want := nt.Stats()
	if want.TooLarge != 1 {
		t.Fatalf("the transport counted %d messages too large, want 1 (%+v)", want.TooLarge, want)
	}
	// What the east published is all in (the regions tick only when
	// the test says); the west's last acknowledgement may still be on
	// its way in.
	for _, m := range []struct {
		name    string
		want    uint64
		atLeast bool
	}{
		{"crdt_nats_messages_too_large_total", 1, false},
		{"crdt_nats_messages_published_total", want.Published, false},
		{"crdt_nats_messages_received_total", want.Received, true},
		{"crdt_nats_slow_consumer_dropped_total", 0, false},
		{"crdt_nats_messages_dropped_total", 0, false},
	} {
		v, ok := metricValue(t, e.url, m.name, "region", string(east))
		if !ok || v != float64(m.want) && !(m.atLeast && v > float64(m.want)) {
			t.Errorf("%s = %v (found %v), want %d", m.name, v, ok, m.want)
		}
	}
	if want.Published == 0 || want.Received == 0 {
		t.Errorf("the east published %d messages and took in %d, want some of each", want.Published, want.Received)
	}
}
