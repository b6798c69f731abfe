package main

import (
	"bufio"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

// labelValue escapes a Prometheus label value.
func labelValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// serveMetrics writes the region's figures in the Prometheus text format.
func (rg *region) serveMetrics(w http.ResponseWriter, r *http.Request) {
	st := rg.replica.Stats()
	reg := labelValue(string(st.Replica))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	b := bufio.NewWriter(w)
	defer b.Flush()

	metric := func(name, typ, help string) {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	perPeer := func(name, typ, help string, value func(i int) string) {
		metric(name, typ, help)
		for i, p := range st.Peers {
			fmt.Fprintf(b, "%s{region=\"%s\",peer=\"%s\"} %s\n", name, reg, labelValue(string(p.Peer)), value(i))
		}
	}
	metric("todo_items", "gauge", "To-do items in this region.")
	fmt.Fprintf(b, "todo_items{region=\"%s\"} %d\n", reg, len(rg.todos.list()))
	metric("crdt_log_ops", "gauge", "Local ops some peer has not acknowledged yet.")
	fmt.Fprintf(b, "crdt_log_ops{region=\"%s\"} %d\n", reg, st.LogOps)

	perPeer("crdt_replication_lag_seconds", "gauge",
		"Age of the oldest local op the peer has not acknowledged: the data at risk if this region failed now.",
		func(i int) string { return fmt.Sprint(st.Peers[i].Lag.Seconds()) })
	perPeer("crdt_replication_pending_ops", "gauge", "Local ops the peer has not acknowledged.",
		func(i int) string { return fmt.Sprint(st.Peers[i].PendingOps) })
	perPeer("crdt_replication_pending_bytes", "gauge", "Bytes of local ops the peer has not acknowledged (those still in the log).",
		func(i int) string { return fmt.Sprint(st.Peers[i].PendingBytes) })
	perPeer("crdt_replication_catching_up", "gauge", "1 if the peer will be brought up to date by digest because the ops it lacks left the log.",
		func(i int) string { return boolNum(st.Peers[i].CatchingUp) })
	perPeer("crdt_replication_last_contact_timestamp_seconds", "gauge", "When the last message from the peer arrived (Unix time; 0 if never).",
		func(i int) string {
			if t := st.Peers[i].LastContact; !t.IsZero() {
				return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1000)
			}
			return "0"
		})
	perPeer("crdt_replication_messages_sent_total", "counter", "Messages sent to the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].MessagesSent) })
	perPeer("crdt_replication_messages_received_total", "counter", "Messages received from the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].MessagesReceived) })
	perPeer("crdt_replication_bytes_sent_total", "counter", "Bytes sent to the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].BytesSent) })
	perPeer("crdt_replication_bytes_received_total", "counter", "Bytes received from the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].BytesReceived) })
	perPeer("crdt_replication_ops_applied_total", "counter", "The peer's ops applied here.",
		func(i int) string { return fmt.Sprint(st.Peers[i].OpsApplied) })
	perPeer("crdt_replication_send_errors_total", "counter", "Failed sends to the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].SendErrors) })
	perPeer("crdt_replication_digest_rounds_total", "counter", "Catch-up rounds served to the peer.",
		func(i int) string { return fmt.Sprint(st.Peers[i].DigestRounds) })
	perPeer("crdt_replication_full_states_total", "counter", "Whole object states sent to the peer in catch-up rounds (deltas are not counted).",
		func(i int) string { return fmt.Sprint(st.Peers[i].FullStates) })

	metric("crdt_replication_refused_total", "counter",
		`Replication messages (or parts of them) refused, by peer and reason; reason "unauthenticated" counts requests without valid credentials (peer "unknown" if the claimed sender is not a peer), peer "" those the engine could not tie to a peer.`)
	for _, row := range rg.refusals() {
		fmt.Fprintf(b, "crdt_replication_refused_total{region=\"%s\",peer=\"%s\",reason=\"%s\"} %d\n",
			reg, labelValue(row.peer), labelValue(row.reason), row.n)
	}
}

func boolNum(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

type refusal struct {
	peer, reason string
	n            uint64
}

// refusals lists every refusal count, sorted by peer and reason.
func (rg *region) refusals() []refusal {
	st := rg.replica.Stats()
	var rows []refusal
	for _, p := range st.Peers {
		for _, reason := range slices.Sorted(maps.Keys(p.Refused)) {
			rows = append(rows, refusal{string(p.Peer), reason, p.Refused[reason]})
		}
	}
	for _, reason := range slices.Sorted(maps.Keys(st.Refused)) {
		rows = append(rows, refusal{"", reason, st.Refused[reason]})
	}
	rg.authRefused.Range(func(k, v any) bool {
		key := k.(refusalKey)
		rows = append(rows, refusal{key.peer, key.reason, v.(*atomic.Uint64).Load()})
		return true
	})
	slices.SortFunc(rows, func(a, b refusal) int {
		if c := strings.Compare(a.peer, b.peer); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	return rows
}

// peerStatus is what the page shows of replication to one peer.
type peerStatus struct {
	Peer          string            `json:"peer"`
	LagMillis     int64             `json:"lag_ms"`
	PendingOps    uint64            `json:"pending_ops"`
	PendingBytes  int               `json:"pending_bytes"`
	CatchingUp    bool              `json:"catching_up"`
	LastContactMs int64             `json:"last_contact_ms_ago"` // -1: never
	SendErrors    uint64            `json:"send_errors"`
	LastSendError string            `json:"last_send_error,omitempty"`
	Refused       map[string]uint64 `json:"refused,omitempty"`
}

type regionStatus struct {
	Region string       `json:"region"`
	Items  int          `json:"items"`
	Peers  []peerStatus `json:"peers"`
}

func (rg *region) serveStatus(w http.ResponseWriter, r *http.Request) {
	st := rg.replica.Stats()
	out := regionStatus{Region: string(st.Replica), Items: len(rg.todos.list()), Peers: []peerStatus{}}
	refused := map[string]map[string]uint64{}
	for _, row := range rg.refusals() {
		if refused[row.peer] == nil {
			refused[row.peer] = map[string]uint64{}
		}
		refused[row.peer][row.reason] = row.n
	}
	for _, p := range st.Peers {
		ps := peerStatus{
			Peer:          string(p.Peer),
			LagMillis:     p.Lag.Milliseconds(),
			PendingOps:    p.PendingOps,
			PendingBytes:  p.PendingBytes,
			CatchingUp:    p.CatchingUp,
			LastContactMs: -1,
			SendErrors:    p.SendErrors,
			LastSendError: p.LastSendError,
			Refused:       refused[string(p.Peer)],
		}
		if !p.LastContact.IsZero() {
			ps.LastContactMs = max(0, time.Since(p.LastContact).Milliseconds())
		}
		out.Peers = append(out.Peers, ps)
	}
	writeJSON(w, http.StatusOK, out)
}
