package crdt

import (
	"maps"
	"time"
)

// Stats is a snapshot of a replica's replication figures.
type Stats struct {
	// Replica is the replica's ID.
	Replica ReplicaID
	// Seq is the sequence number of the replica's last local op.
	Seq uint64
	// LogOps and LogBytes measure the log of ops some peer has not
	// acknowledged yet.
	LogOps, LogBytes int
	// Peers holds one entry per peer, sorted by ID.
	Peers []PeerStats
	// Broadcasts counts the messages sent through the transport's
	// Broadcast method (see [Broadcaster]); each also counts as a message
	// sent, with all its bytes, in the PeerStats of every recipient.
	Broadcasts uint64
	// Refused counts messages refused before they could be tied to a peer
	// (from unknown peers, say), by reason.
	Refused map[string]uint64
	// Oversize counts messages the replica made over
	// Config.MaxMessageBytes and therefore did not send. It should stay
	// zero: every message is made to fit.
	Oversize uint64
	// GCPending counts the delete records (see [GarbageReporter]) that the
	// registered objects hold, waiting for every replica to see them:
	// OR-Set and OR-Map records of removed or replaced writes, the OR-Map's
	// notes of the counter chains its deletes reset, LWW-map delete
	// markers. An object discards one only once it holds a durable
	// version (see [Collector]) from every peer that counts the delete,
	// and its own saved snapshot holds it, so while any peer is away, or
	// saves no snapshot, GCPending does not fall; a steady rise means
	// collection is stuck. A record can also go without being collected:
	// when a later write of its key replaces an LWW-map marker, or when an
	// OR-Set or OR-Map holds more records than its cap and discards the
	// oldest.
	GCPending uint64
	// GCCollected counts the delete records the registered objects have
	// discarded because every replica had seen them, since each was
	// registered: a restarted replica counts from zero.
	GCCollected uint64
	// RemovedHolding counts the peers removed by [Replica.RemovePeer] (and
	// not added back) that still hold back the collection of delete
	// records: until the group agrees that such a peer has left (its
	// writers retired, or, if it has none, its leaving recorded in the
	// ledger; see RemovePeer), the versions it last reported count as a
	// peer's do. While it is nonzero, GCPending may rise for want of that
	// peer. One that stays nonzero means that the group has not agreed yet:
	// some replica has not removed the peer, or a member is away, or a
	// write of the peer that a member holds has not reached every member
	// yet (the group's first replica by name proposes the retirement of
	// the peer's writers once it holds them; any member holding the peer
	// back proposes that it has left once no member holds a writer of it).
	RemovedHolding int
	// RetiredWriters counts the finished writers retired in the ledger this
	// replica holds, every name together (see [Retirer]); each was renamed
	// into its name's retired writer in every object that implements
	// Retirer. The entries that record a removed peer's leaving, retiring
	// no writer (see [Replica.RemovePeer]), do not count.
	RetiredWriters int
	// UnretirableWriters counts the finished writers this run found, in
	// the lists it proposes retirements for (its own name's; a removed
	// peer's, at the group's first replica by name), that can never be
	// retired: an object counts more than vclock.MaxSeq (2^62) of their
	// events, as a counter.PN or counter.G does of a writer whose totals
	// passed it, and a retirement's Final is at most MaxSeq. Every object
	// keeps such a writer under its own name, at the cost of its entry;
	// the name's other writers are retired as usual. (A removed peer with
	// such a writer is never recorded as having left.)
	UnretirableWriters int
	// LedgerConflicts counts entries of a peer's ledger of retired writers
	// that differ from this replica's at the same place. It should stay
	// zero: the two replicas name some dots differently, and exchange no
	// data until an operator steps in. Each one is logged.
	LedgerConflicts uint64
	// RetireFailures counts objects that refused to rename a writer the
	// group agreed to retire (see [Retirer]). It should stay zero: such an
	// object names the writer's dots otherwise than its peers do. Each
	// one is logged.
	RetireFailures uint64
	// RetiredPastFinal counts, since this run started, the objects that
	// held, when this replica installed a retirement, more events of the
	// retired writer than the count the group agreed (its Final): the
	// writer went on after the agreement, as a second process under the
	// name does, or a disk copied and started twice. Dot stores, register
	// values, counter.G, and counter.PN (a [SplitCounter], when the
	// retirement was agreed with the split of the writer's events) keep
	// those events under the writer's own name, and lose nothing, but for
	// one case of ormap.Map's counters: an increment the writer made
	// before it saw a delete of the counter may count the increments the
	// delete removed again, once the delete's note of the writer's
	// counter chain was collected on the strength of its retirement. A
	// counter.Bounded, or a PN retired by an entry agreed without the
	// split (by a release before it), cannot tell which of its totals the
	// agreed events raised, and folds all of the writer's entry into its
	// name's retired writer: when two successive retirements of one name
	// leave such events at different replicas, the counter converges to
	// a value that misses some of them. It should stay zero; each one is
	// logged.
	RetiredPastFinal uint64
	// RetiredPastFinalEvents sums, over the installs RetiredPastFinal
	// counts, the events each object held past Final, in the object's
	// units (a counter.Bounded's are those of its totals, see
	// counter.Bounded.Events), saturating at math.MaxUint64. Summed over
	// every replica of the group, it bounds how far a counter.Bounded
	// that folded them may read from the value its changes make once
	// the replicas merged: the merged counter converges, stays at or
	// above its floor, and misses at most that many units, of
	// increments (it reads low) or of decrements (it reads high). Zero
	// means no folded counter missed anything.
	RetiredPastFinalEvents uint64
	// Uncompared counts the registered objects that hold updates past a
	// gap, which their versions leave out (see [GapReporter]), so that
	// equal versions may hold different content without a divergence.
	// Such an object's fingerprint is compared only with a peer's that
	// holds the same updates past the same version (see [GapHasher]), or
	// not at all if it cannot name them: until the gap fills, a
	// divergence from a peer whose gaps differ does not show in
	// [PeerStats].Divergences. It is nonzero for a while after a restart
	// from an older state or a lossy spell; one that stays nonzero means
	// a gap that does not fill (an op of a writer that every replica
	// refused, say), in which case replicas that agree on what they hold
	// past it still compare.
	Uncompared int
	// Equivocations sums, over the registered objects that report it
	// (see [EquivocationReporter]), the writers of which an object met
	// two changes that no one history of the writer makes: a peer that
	// sent replicas different changes under one identity, or two
	// processes writing as one writer. It should stay zero; each object
	// keeps the same one of the two on every replica, so that replicas
	// do not differ for good, but what the writer did twice (a sale of
	// stock, say) happened twice.
	Equivocations int
	// LateWrites sums, over the registered objects that report it (see
	// [LateWriteReporter]), the writes each took in after collecting a
	// delete that, by the conflict rule, the delete should have
	// overwritten: an LWW-map put of a key the map held no entry of,
	// stamped before a delete marker it had collected, or at its instant.
	// It should stay zero. A put that a run of a peer made before it saw
	// the delete and that the version the peer reported leaves out (a
	// second process started from the peer's disk reported the delete in
	// its stead, or the put was on its way when the peer came back from an
	// older backup) comes after the marker is gone, and takes the deleted
	// key back at the replicas that collected the marker, and at every
	// replica once they merge if all had: they then agree, so no
	// divergence shows, and this (with [PeerStats].RunsReturned for a
	// second process) is the only sign. If a replica still held the
	// marker when the put reached it, the delete wins: that replica's
	// context names the put as seen and overwritten, and its next delta
	// or state (healed, if a digest showed the difference first) removes
	// the key where it came back. It can also count a put of another
	// key, from such a run, that lost nothing. A run restored from a
	// snapshot knows what was collected before it (lwwmap.Map keeps the
	// latest write it collected in its snapshots: see [Snapshotter]); a
	// run started from a snapshot of an older release, or from none,
	// knows only what it collects itself.
	LateWrites uint64
}

// PeerStats describes replication to and from one peer.
type PeerStats struct {
	// Peer is the peer's ID.
	Peer ReplicaID
	// Lag is the age of the oldest local op the peer has not
	// acknowledged: how much data would be at risk if this replica failed
	// now. Zero when the peer is up to date. For a peer whose missing ops
	// have left the log (CatchingUp), it counts from the oldest of them
	// that was still logged when the peer fell behind, or, for a peer that
	// came back from a restart missing ops no longer logged, from when it
	// came back. It is read on the host's clock: after the clock is
	// stepped back, an op made before the step reads as zero age until the
	// clock passes the time it was made; PendingOps counts it all the same.
	Lag time.Duration
	// PendingOps and PendingBytes count the local ops the peer has not
	// acknowledged; PendingBytes counts only those still in the log.
	PendingOps   uint64
	PendingBytes int
	// CatchingUp is true when the ops the peer lacks have left the log,
	// so it will be brought up to date by digest.
	CatchingUp bool
	// LastContact is when the last message from the peer arrived (zero if
	// none has).
	LastContact time.Time
	// Message and byte counts in each direction.
	MessagesSent, MessagesReceived uint64
	BytesSent, BytesReceived       uint64
	// OpsApplied counts the peer's ops applied here.
	OpsApplied uint64
	// SendErrors counts failed sends; LastSendError is the latest one's
	// text.
	SendErrors    uint64
	LastSendError string
	// DigestRounds counts catch-up rounds served to the peer; StatesSent
	// counts the object states and deltas they carried, and FullStates
	// those that were whole states (objects without versions).
	DigestRounds, StatesSent, FullStates uint64
	// Refused counts what was refused from the peer, by reason
	// (ReasonMalformed, ReasonClockSkew, ...).
	Refused map[string]uint64
	// AwaitingCatchUp is true while the peer may lack updates that no
	// pending op carries (it is new, restarted, fell out of the log, or its
	// last digest could not be served): it is asked for its digest until a
	// catch-up computed from one is confirmed. Replicas may differ until
	// then, even with no pending ops.
	AwaitingCatchUp bool
	// CatchUpChunksLeft and CatchUpBytesLeft measure the catch-up being
	// sent to the peer in chunks (see Config.MaxMessageBytes): the chunks
	// it has not acknowledged yet and their bytes, zero when none is under
	// way. CatchUpChunks is the number of chunks of that catch-up, and
	// ChunksSent counts every chunk sent to the peer, resends included.
	// With CatchUpChunksLeft, a host can draw a progress bar.
	CatchUpChunks, CatchUpChunksLeft int
	CatchUpBytesLeft                 int
	ChunksSent                       uint64
	// IncomingChunksLeft is the number of chunks of the peer's catch-up
	// in chunks that are not merged here yet, zero when none is under way.
	IncomingChunksLeft uint64
	// StatesFailed counts the catch-up states that could not be made for
	// the peer: a state larger than a message that its object cannot cut
	// into parts (see [Chunker]: a register holding a value larger than a
	// message, say), or one that failed to encode. Each is logged, and the
	// peer stays AwaitingCatchUp; the other objects' states still go.
	StatesFailed uint64
	// Divergences counts the objects that the peer's digests showed at this
	// replica's version with different content (see [Fingerprinter]):
	// replicas that saw the same updates yet hold different data. An
	// object holding updates past a gap, which its version leaves out, is
	// compared only if both replicas hold the same updates past it (see
	// [GapHasher]); a peer of a release before gap hashes compares none
	// such, and sends none. Where both replicas send content fingerprints
	// ([ContentFingerprinter]), a difference in those counts too: the
	// same writes under the same dots with different values. It should
	// stay zero; each one is logged, and answered with the object's whole
	// state (merged by [Healer].HealBinary where the object implements
	// it).
	Divergences uint64
	// RunsReturned counts the digests of the peer from a run (a writer,
	// see [Replica.Writer]) whose digests had been followed by another
	// run's. A run of a replica does not come back once a later one has
	// started, unless two processes run under the replica's ID at once
	// (a disk copied and started twice, the network reaching one or the
	// other): each then writes before it has seen the other's writes and
	// reports versions that leave them out, so that an LWW-map delete may
	// be collected on the word of the one while the other still holds a
	// put of the key, stamped before the delete, that takes the key back
	// once the marker is gone (see [Stats].LateWrites). Only a digest sent
	// later (by its clock reading) than the latest heard from every run
	// that followed its own counts: a run still going takes in this
	// replica's clock, which took in the other's readings, while a run
	// that ended (a restart, one process at a time) sent its last digests
	// before its successor's, and those the network delays past the
	// successor's are not counted. A restart can still count when the
	// restarted run's first digests read behind the ended run's last one
	// (a clock set back, another machine's clock, or one that has not yet
	// taken in this replica's, all within the clocks' maximum offset) and
	// that digest arrives after them: it counts, and so does the
	// successor's next digest, read later. A digest whose reading this
	// replica's clock refused (too far ahead) orders nothing and counts
	// as before. It should stay zero; each one is logged.
	RunsReturned uint64
	// LedgerWaits counts the peer's messages whose data was set aside
	// because the peer's ledger of retired writers differed from this
	// replica's (see [Retirer]). The two exchange the entries either lacks
	// with the next messages, so it rises by a few after each retirement;
	// a steady rise means the ledgers conflict (see Stats.LedgerConflicts).
	LedgerWaits uint64
	// MessageLimit is the largest message this replica sends the peer: its
	// own Config.MaxMessageBytes (or its transport's limit, if smaller: see
	// [Limiter]), or the peer's, once the peer's digests have named it, if
	// that is smaller; or less, if the transport refused a message to the
	// peer as too large (see [Transport]). A peer that refuses messages as
	// too large (Refused[ReasonTooLarge] at the peer) is sent its digest's
	// worth of them no more once its digest arrives here.
	MessageLimit int
}

// Stats returns the replica's replication figures.
func (r *Replica) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	now := r.clk.Physical()
	s := Stats{
		Replica:    r.id,
		Seq:        r.seq,
		LogOps:     len(r.ops),
		Refused:    maps.Clone(r.refused),
		Broadcasts: r.broadcasts,
		Oversize:   r.oversize,
	}
	s.GCPending, s.GCCollected = r.garbage()
	s.RemovedHolding = len(r.left)
	for _, obj := range r.objects {
		if hasGaps(obj) {
			s.Uncompared++
		}
		if e, ok := obj.(EquivocationReporter); ok {
			s.Equivocations += e.Equivocations()
		}
		if l, ok := obj.(LateWriteReporter); ok {
			s.LateWrites += l.LateWrites()
		}
	}
	s.LedgerConflicts, s.RetireFailures, s.RetiredPastFinal = r.led.conflicts, r.led.failures, r.led.pastFinal
	s.RetiredPastFinalEvents = r.led.pastEvents
	s.UnretirableWriters = len(r.led.unretirable)
	for _, nl := range r.led.lists {
		for _, e := range nl.entries {
			if !e.leaves() {
				s.RetiredWriters++
			}
		}
	}
	if n := len(r.ops); n > 0 {
		s.LogBytes = r.ops[n-1].cum - r.cumBefore(0)
	}
	first := r.firstSeq()
	for _, id := range sortedPeerIDs(r.peers) {
		p := r.peers[id]
		ps := PeerStats{
			Peer:             id,
			PendingOps:       r.seq - min(p.acked, r.seq),
			MessagesSent:     p.stats.msgsSent,
			MessagesReceived: p.stats.msgsRecv,
			BytesSent:        p.stats.bytesSent,
			BytesReceived:    p.stats.bytesRecv,
			OpsApplied:       p.stats.opsApplied,
			SendErrors:       p.stats.sendErrors,
			LastSendError:    p.stats.lastSendError,
			DigestRounds:     p.stats.digestRounds,
			StatesSent:       p.stats.statesSent,
			FullStates:       p.stats.statesFull,
			StatesFailed:     p.stats.statesFailed,
			Refused:          maps.Clone(p.stats.refused),
			AwaitingCatchUp:  p.awaitDig,
			Divergences:      p.stats.divergences,
			RunsReturned:     p.stats.runsReturned,
			ChunksSent:       p.stats.chunksSent,
			LedgerWaits:      p.stats.ledgerWaits,
			MessageLimit:     r.limitTo(p),
		}
		if o := p.out; o != nil {
			ps.CatchUpChunks, ps.CatchUpChunksLeft, ps.CatchUpBytesLeft = len(o.chunks), o.left, o.bytesLeft
		}
		if p.in.num > p.catchUpGot {
			ps.IncomingChunksLeft = p.in.count - p.in.merged
		}
		if p.stats.lastContact != 0 {
			ps.LastContact = time.Unix(0, p.stats.lastContact)
		}
		if ps.PendingOps > 0 {
			ps.CatchingUp = p.acked+1 < first
			oldest := max(p.acked+1, first)
			if oldest <= r.seq {
				ps.PendingBytes = r.ops[len(r.ops)-1].cum - r.cumBefore(int(oldest-first))
			}
			switch {
			case ps.CatchingUp && p.behindSince != 0:
				ps.Lag = time.Duration(max(0, now-p.behindSince))
			case oldest <= r.seq:
				ps.Lag = time.Duration(max(0, now-r.ops[oldest-first].at))
			}
		}
		s.Peers = append(s.Peers, ps)
	}
	return s
}
