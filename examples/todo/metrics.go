package main

import (
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/activeactive/crdt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}

// metrics is the region's Prometheus collector: every scrape reads the
// replica's Stats (and the to-do count) once and reports them, so the
// figures of one scrape are consistent with each other.
type metrics struct {
	rg *region

	items, logOps, logBytes, seq, broadcasts, oversize *prometheus.Desc

	lagMax, lagMin                                         *prometheus.Desc
	lag, pendingOps, pendingBytes, catchingUp, lastContact *prometheus.Desc
	msgsSent, msgsReceived, bytesSent, bytesReceived       *prometheus.Desc
	opsApplied, sendErrors, digestRounds                   *prometheus.Desc
	fullStates, deltaStates                                *prometheus.Desc
	divergences, awaitingCatchUp                           *prometheus.Desc
	messageLimit                                           *prometheus.Desc
	gcPending, gcCollected                                 *prometheus.Desc
	uncompared                                             *prometheus.Desc

	refused *prometheus.Desc

	// The NATS transport's counts (see natstransport.Stats), sent only
	// when the region replicates over NATS.
	natsPublished, natsPublishedBytes, natsReceived, natsReceivedBytes *prometheus.Desc
	natsReceiveErrors, natsIgnored, natsTooLarge, natsDropped          *prometheus.Desc
	natsSlowConsumer                                                   *prometheus.Desc

	saveFailing, saveFailures *prometheus.Desc
}

func newMetrics(rg *region) *metrics {
	region := prometheus.Labels{"region": string(rg.cfg.Name)}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, region)
	}
	peer := func(name, help string) *prometheus.Desc { return desc(name, help, "peer") }
	return &metrics{
		rg:    rg,
		items: desc("todo_items", "To-do items in this region."),
		saveFailing: desc("todo_save_failing",
			"1 while the region's last save failed: a write it answered 202 (applied, not saved) is not saved, nor sent to the peers, until a save succeeds (tried every second), and new writes are refused with 503; /healthz answers 503 meanwhile."),
		saveFailures: desc("todo_save_failures_total", "Saves (of a write, or of what a peer sent) that failed, since the region started."),
		logOps:       desc("crdt_log_ops", "Local ops some peer has not acknowledged yet (in the log)."),
		logBytes:     desc("crdt_log_bytes", "Bytes of the local ops in the log."),
		seq:          desc("crdt_local_seq", "Sequence number of the region's last local op."),
		broadcasts:   desc("crdt_broadcasts_total", "Messages sent to every peer at once."),
		oversize: desc("crdt_messages_oversize_total",
			"Messages the region made over the limit of the peers they were for, and so did not send: a fault in the engine's accounting of sizes. Should stay 0; each one is logged."),

		lagMax: desc("crdt_replication_lag_max_seconds",
			"The greatest crdt_replication_lag_seconds over the peers: the data at risk if this region failed now. Absent without peers."),
		lagMin: desc("crdt_replication_lag_min_seconds",
			"The smallest crdt_replication_lag_seconds over the peers: every peer has every local op older than this. Absent without peers."),
		lag: peer("crdt_replication_lag_seconds",
			"Age of the oldest local op the peer has not acknowledged: the data at risk if this region failed now."),
		pendingOps:   peer("crdt_replication_pending_ops", "Local ops the peer has not acknowledged."),
		pendingBytes: peer("crdt_replication_pending_bytes", "Bytes of local ops the peer has not acknowledged (those still in the log)."),
		catchingUp: peer("crdt_replication_catching_up",
			"1 if the ops the peer lacks left the log, so a digest round (a partial or full sync) will bring it up to date."),
		lastContact:   peer("crdt_replication_last_contact_timestamp_seconds", "When the last message from the peer arrived (Unix time; 0 if never)."),
		msgsSent:      peer("crdt_replication_messages_sent_total", "Messages sent to the peer."),
		msgsReceived:  peer("crdt_replication_messages_received_total", "Messages received from the peer."),
		bytesSent:     peer("crdt_replication_bytes_sent_total", "Bytes sent to the peer."),
		bytesReceived: peer("crdt_replication_bytes_received_total", "Bytes received from the peer."),
		opsApplied:    peer("crdt_replication_ops_applied_total", "The peer's ops applied here."),
		sendErrors:    peer("crdt_replication_send_errors_total", "Failed sends to the peer."),
		digestRounds:  peer("crdt_replication_digest_rounds_total", "Catch-up (digest) rounds served to the peer."),
		fullStates: peer("crdt_replication_full_states_total",
			"Whole object states sent to the peer in catch-up rounds: full syncs of an object."),
		deltaStates: peer("crdt_replication_delta_states_total",
			"Deltas sent to the peer in catch-up rounds: partial syncs of an object, only what it lacked."),

		divergences: peer("crdt_divergences_total",
			"Objects the peer's digests showed at this region's version with different content: regions that saw the same updates yet hold different data. Should stay 0; each one is logged and answered with the object's whole state."),
		messageLimit: peer("crdt_replication_message_limit_bytes",
			"The largest message sent to the peer: this region's limit, or the peer's once its digest named it, if smaller; less for a while after the link refused a larger one as too large."),
		awaitingCatchUp: peer("crdt_awaiting_catch_up",
			"1 while the peer may lack updates that no pending op carries (it is new, restarted, or fell out of the log), until a catch-up from its digest is confirmed: the regions may differ even with no pending ops."),

		gcPending: desc("crdt_gc_pending",
			"Delete records (removed to-dos' set records and title and done markers) held until every region has them in a saved snapshot. Does not fall while a peer is away; it falls once every region saved a snapshot holding the deletes."),
		gcCollected: desc("crdt_gc_collected_total",
			"Delete records discarded because every region had them in a saved snapshot, since the region started."),
		uncompared: desc("crdt_uncompared_objects",
			"Replicated objects whose content cannot be compared with the peers' now, because they hold updates past a gap (after a restart from an older state, or a lossy spell) that their versions leave out: a divergence of theirs would not show in crdt_divergences_total until the gap fills. Should fall back to 0."),

		refused: desc("crdt_replication_refused_total",
			`Replication messages (or parts of them) refused, by peer and reason; reasons "unauthenticated" (bad or missing credentials, or a body that does not match its signed digest), "unknown_sender" (not a peer), "clock_apart" (signed with a time more than 5 minutes from the receiver's clock: a clock stepped at either end), "busy" (every place for the peer's bodies taken) and "body_timeout" (a body not sent in time) count requests refused before the engine saw them (peer "unknown" if the claimed sender is not a peer), peer "" what the engine could not tie to a peer.`,
			"peer", "reason"),

		natsPublished:      desc("crdt_nats_messages_published_total", "Replication messages handed to NATS (over NATS only)."),
		natsPublishedBytes: desc("crdt_nats_bytes_published_total", "Bytes of the replication messages handed to NATS."),
		natsReceived:       desc("crdt_nats_messages_received_total", "Replication messages taken in from NATS and handed on to be checked and applied."),
		natsReceivedBytes:  desc("crdt_nats_bytes_received_total", "Bytes of the replication messages taken in from NATS."),
		natsReceiveErrors: desc("crdt_nats_receive_errors_total",
			"Replication messages taken in from NATS and refused (a bad signature, a paused link, or what the engine refused)."),
		natsIgnored: desc("crdt_nats_messages_ignored_total",
			"Messages on the region's NATS subjects not handed on: its own broadcasts coming back, broadcasts for others, senders that are not valid region names."),
		natsTooLarge: desc("crdt_nats_messages_too_large_total",
			"Replication messages not sent because they exceed the NATS server's max_payload. Should stay 0: the engine sends nothing larger than the server takes."),
		natsDropped: desc("crdt_nats_messages_dropped_total",
			"Replication messages not sent for another reason: disconnected from the NATS server, or refused by the client. The engine sends what they carried again."),
		natsSlowConsumer: desc("crdt_nats_slow_consumer_dropped_total",
			"Inbound replication messages the NATS client dropped because the region fell behind taking them in (slow consumer). The sender's engine sends what they carried again."),
	}
}

// Describe sends every metric's description.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		m.items, m.logOps, m.logBytes, m.seq, m.broadcasts, m.oversize,
		m.lagMax, m.lagMin, m.lag, m.pendingOps, m.pendingBytes, m.catchingUp, m.lastContact,
		m.msgsSent, m.msgsReceived, m.bytesSent, m.bytesReceived,
		m.opsApplied, m.sendErrors, m.digestRounds, m.fullStates, m.deltaStates,
		m.divergences, m.awaitingCatchUp, m.messageLimit, m.gcPending, m.gcCollected, m.uncompared, m.refused,
		m.saveFailing, m.saveFailures,
		m.natsPublished, m.natsPublishedBytes, m.natsReceived, m.natsReceivedBytes,
		m.natsReceiveErrors, m.natsIgnored, m.natsTooLarge, m.natsDropped, m.natsSlowConsumer,
	} {
		ch <- d
	}
}

// Collect reads the replica's figures and sends them.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.collect(ch, m.rg.replica.Stats())
}

// collect sends the figures of st.
func (m *metrics) collect(ch chan<- prometheus.Metric, st crdt.Stats) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(m.items, float64(m.rg.todos.count()))
	gauge(m.saveFailing, boolNum(m.rg.saveFailing.Load()))
	counter(m.saveFailures, m.rg.saveFailures.Load())
	gauge(m.logOps, float64(st.LogOps))
	gauge(m.logBytes, float64(st.LogBytes))
	gauge(m.seq, float64(st.Seq))
	counter(m.broadcasts, st.Broadcasts)
	counter(m.oversize, st.Oversize)
	gauge(m.gcPending, float64(st.GCPending))
	counter(m.gcCollected, st.GCCollected)
	gauge(m.uncompared, float64(st.Uncompared))
	if len(st.Peers) > 0 {
		lo, hi := st.Peers[0].Lag, st.Peers[0].Lag
		for _, p := range st.Peers[1:] {
			lo, hi = min(lo, p.Lag), max(hi, p.Lag)
		}
		gauge(m.lagMax, hi.Seconds())
		gauge(m.lagMin, lo.Seconds())
	}
	for _, p := range st.Peers {
		peer := string(p.Peer)
		gauge(m.lag, p.Lag.Seconds(), peer)
		gauge(m.pendingOps, float64(p.PendingOps), peer)
		gauge(m.pendingBytes, float64(p.PendingBytes), peer)
		gauge(m.catchingUp, boolNum(p.CatchingUp), peer)
		last := 0.0
		if !p.LastContact.IsZero() {
			last = float64(p.LastContact.UnixMilli()) / 1000
		}
		gauge(m.lastContact, last, peer)
		counter(m.msgsSent, p.MessagesSent, peer)
		counter(m.msgsReceived, p.MessagesReceived, peer)
		counter(m.bytesSent, p.BytesSent, peer)
		counter(m.bytesReceived, p.BytesReceived, peer)
		counter(m.opsApplied, p.OpsApplied, peer)
		counter(m.sendErrors, p.SendErrors, peer)
		counter(m.digestRounds, p.DigestRounds, peer)
		counter(m.fullStates, p.FullStates, peer)
		counter(m.deltaStates, p.StatesSent-min(p.FullStates, p.StatesSent), peer)
		counter(m.divergences, p.Divergences, peer)
		gauge(m.awaitingCatchUp, boolNum(p.AwaitingCatchUp), peer)
		gauge(m.messageLimit, float64(p.MessageLimit), peer)
	}
	for _, row := range m.rg.refusalsOf(st) {
		counter(m.refused, row.n, row.peer, row.reason)
	}
	if m.rg.nl != nil {
		ns := m.rg.nl.stats()
		counter(m.natsPublished, ns.Published)
		counter(m.natsPublishedBytes, ns.PublishedBytes)
		counter(m.natsReceived, ns.Received)
		counter(m.natsReceivedBytes, ns.ReceivedBytes)
		counter(m.natsReceiveErrors, ns.ReceiveErrors)
		counter(m.natsIgnored, ns.Ignored)
		counter(m.natsTooLarge, ns.TooLarge)
		counter(m.natsDropped, ns.Dropped)
		counter(m.natsSlowConsumer, ns.SlowConsumer)
	}
}

// metricsHandler serves the region's metrics in the Prometheus formats.
func (rg *region) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetrics(rg))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(rg.log.Handler(), slog.LevelWarn)})
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

type refusal struct {
	peer, reason string
	n            uint64
}

// refusals lists every refusal count, sorted by peer and reason.
func (rg *region) refusals() []refusal { return rg.refusalsOf(rg.replica.Stats()) }

// refusalsOf lists the refusals of st and those counted before the engine.
func (rg *region) refusalsOf(st crdt.Stats) []refusal {
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
	out := regionStatus{Region: string(st.Replica), Items: rg.todos.count(), Peers: []peerStatus{}}
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
