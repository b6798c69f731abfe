package crdt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// peer is what a replica knows of one peer, both directions.
type peer struct {
	id ReplicaID

	// Outbound: our ops of this incarnation.
	acked     uint64 // the peer has applied our ops up to here
	sent      uint64 // we have sent up to here since the last (re)send
	sentTick  uint64 // tick of the last send of ops
	ackTick   uint64 // tick the acknowledgement last moved
	lastSend  uint64 // tick of the last message of any kind
	askedTick uint64 // tick we last asked for the peer's digest
	wantDig   bool   // ask the peer for its digest at the next tick
	// awaitDig is set while the peer may lack what the op log no longer
	// holds (it is new, restarted, or fell out of the log): its digest is
	// asked for again and again until a catch-up computed from one is
	// confirmed (catchUpSent acknowledged).
	awaitDig    bool
	catchUps    uint64 // catch-ups sent to the peer, numbering them
	catchUpSent uint64 // the number of the last catch-up sent, 0 if none since awaitDig was set
	// shipped is the last of our ops (of this incarnation) handed to the
	// transport for the peer, in a run of ops or covered by a catch-up: the
	// peer cannot have applied more, so no acknowledgement counts beyond.
	shipped uint64
	// late is set for a peer added while the replica was running (a new
	// member, or one removed and added again): its first contact may be
	// a run that follows others this replica no longer knows of.
	late    bool
	owedDig bool // the peer asked for our digest
	// leftTo is the last op of the peer's run rinc left to its state (an
	// op made before a writer it names was retired): this replica's
	// digest goes to the peer every few retransmission intervals, at
	// leftToTick, until a catch-up that accounts for the op is merged. A
	// digest sent once may be lost, and the op was acknowledged: nothing
	// else would bring its effect.
	leftTo, leftToTick uint64
	theirDig           []digestEntry
	hasTheir           bool              // theirDig is set: send catch-up states
	versions           map[string][]byte // the peer's durable versions of the objects registered here, from its last digest
	// versionsBy is the writer of the run whose digest reported versions
	// (empty if unknown, as for the versions kept of a removed peer).
	versionsBy ReplicaID
	// runs holds the writers of the peer's runs whose digests reached this
	// replica, the one of the latest digest last, at most maxRuns of them
	// (see noteRun).
	runs []runSeen
	// reported holds durable versions the peer reported before it
	// restarted, that its digests since have not shown it back at: it may
	// have come back from an older backup, after this replica collected
	// metadata (see Collector) on the strength of them. A delta since its
	// version would leave out what was collected; those objects get whole
	// states until its version covers them again. A restored replica
	// holds its own restored versions here for every peer: it may have
	// collected on the strength of versions it no longer knows, but only
	// within its own. Only objects that collect are kept, each version
	// held to the object's own here (see reportVersions): at most one
	// entry per object, none larger than the replica's own version.
	reported map[string][]byte
	// behindSince is, while the peer lacks ops that have left the log, the
	// physical time of the oldest of them known (see PeerStats.Lag).
	behindSince int64

	// Inbound: the peer's ops.
	rinc       uint64              // the peer's incarnation as last seen
	newest     clock.Timestamp     // the latest clock reading of the peer's taken from its messages
	runNow     clock.Timestamp     // the same, of its present incarnation's messages only (see ClockCollector)
	past       map[uint64]inbound  // what was applied of a few earlier incarnations (see switchIncarnation)
	recv       uint64              // its ops applied up to here
	above      map[uint64]struct{} // its ops applied beyond recv
	gapTick    uint64              // tick since which recv is gapRecv with ops applied beyond
	gapRecv    uint64
	catchUpGot uint64 // the number of its last catch-up merged here
	needAck    bool

	// diverged holds the objects that the peer's last digest showed at our
	// version with other content (see Fingerprinter); their next catch-up
	// carries the whole state.
	diverged map[string]bool
	// heal holds the objects that the peer's last digest showed at our
	// version with other content: the states of them it sends are merged
	// by HealBinary (see Healer and mergeState).
	heal map[string]bool

	// out is the catch-up being sent to the peer in chunks, if any; in is
	// the peer's being received, and chunkAcks the chunks of it to
	// acknowledge. digIn gathers the parts of the peer's digest; digRounds
	// numbers ours.
	out       *outCatchUp
	frozen    *frozenCut // copies of large states, cut outside the lock for the next catch-up
	heardTick uint64     // tick of the last message from the peer
	in        inCatchUp
	chunkAcks []uint64
	digIn     digestIn
	digRounds uint64
	// limit is the largest message the peer takes, as its digests name
	// it (see limitEntry), at least MinMessageBytes; 0 until one does.
	// toldTick is one past the tick this replica last owed the peer its
	// digest for a message of the peer's it refused as too large (see
	// tellLimit); 0 if never.
	limit    int
	toldTick uint64
	// cap bounds the messages to the peer after the transport refused
	// one as too large (see shrink); 0 if it never did, or if it has
	// grown back (see regrow). capTick is the tick cap last changed, and
	// capUsed whether, since then, the transport took a message to the
	// peer of more than half of cap, or cap held back something no message
	// within it could carry (an op, a state that could not be cut small
	// enough).
	cap     int
	capTick uint64
	capUsed bool

	// Retirement (see retire.go): the peer's ledger lengths and hashes
	// from its last message, and the answers to its proposal to send it.
	retSum      uint64 // its ledger's sum, from its last message
	retLens     map[ReplicaID]nameLen
	retPromises map[ReplicaID]*promiseMsg // by name
	retAccepted map[ReplicaID]acceptedMsg // by name
	// partsIn gathers the parts of an entry the peer sends cut (see
	// entryPart); partsOut counts the parts sent to it, so that each
	// message sends the next ones.
	partsIn  *partsIn
	partsOut uint64

	stats peerCounters
}

// outCatchUp is a catch-up sent in chunks.
type outCatchUp struct {
	num, upTo uint64
	limit     int // the largest message the peer took when it was cut (see limitTo)
	chunks    []outChunk
	left      int    // chunks not acknowledged
	bytesLeft int    // their bytes
	progress  uint64 // tick it started or a chunk was last acknowledged
	unacked   int    // ticks since then in which the peer was heard from
}

type outChunk struct {
	parts    []partEntry
	size     int
	plain    int // the bytes of its parts decompressed: at most the limit (see unpackParts)
	ordered  bool
	acked    bool
	sentTick uint64 // 0 if not sent yet
}

// inCatchUp is how far a catch-up received in chunks is merged.
type inCatchUp struct {
	num, upTo, count uint64
	// done holds bit i%64 of word i/64 set once chunk i is merged; only
	// the words holding a merged chunk are kept, so that a chunk number
	// near maxChunks costs no more than a low one.
	done   map[uint64]uint64
	merged uint64 // chunks merged
	prefix uint64 // chunks 0 to prefix-1 are all merged
}

func (in *inCatchUp) has(i uint64) bool {
	return in.done[i/64]&(1<<(i%64)) != 0
}

func (in *inCatchUp) set(i uint64) {
	if in.done == nil {
		in.done = map[uint64]uint64{}
	}
	in.done[i/64] |= 1 << (i % 64)
	in.merged++
	for in.prefix < in.count && in.has(in.prefix) {
		in.prefix++
	}
}

// digestIn gathers the parts of a peer's digest sent in several messages.
// Once a round is whole, round still names it and done is set (parts is
// 0): its parts that come again are dropped.
type digestIn struct {
	round, parts uint64
	done         bool
	got          inCatchUp // which parts arrived (num and upTo unused)
	entries      []digestEntry
	named        map[string]bool // the objects of entries: each once
}

type peerCounters struct {
	lastContact   int64 // physical time of the last message received
	msgsSent      uint64
	msgsRecv      uint64
	bytesSent     uint64
	bytesRecv     uint64
	opsApplied    uint64
	sendErrors    uint64
	statesSent    uint64
	statesFull    uint64
	statesFailed  uint64
	digestRounds  uint64
	divergences   uint64
	runsReturned  uint64
	chunksSent    uint64
	ledgerWaits   uint64
	refused       map[string]uint64
	lastSendError string
}

func newPeer(id ReplicaID, acked uint64) *peer {
	// The ops up to acked count as handed over: the peer gets them by
	// digest, and may acknowledge them (it was a peer before, removed and
	// added again).
	return &peer{id: id, acked: acked, sent: acked, shipped: acked, awaitDig: true}
}

// Refusal reasons, as counted in [PeerStats].Refused.
const (
	ReasonMalformed     = "malformed"
	ReasonTooLarge      = "too large"
	ReasonVersion       = "future version"
	ReasonWrongType     = "wrong type"
	ReasonUnknownPeer   = "unknown peer"
	ReasonUnknownObject = "unknown object"
	ReasonMisaddressed  = "misaddressed"
	ReasonClockSkew     = "clock skew"
	ReasonStale         = "stale incarnation"
	ReasonForeignWrite  = "foreign write"
	ReasonUnseen        = "drops unseen dot"
	ReasonAck           = "bad acknowledgement"
	// ReasonLedgerFull counts ledger entries put off because the
	// retirement ledger holds as many lists as it may and none can give
	// way to the entry's (a member made lists for made-up names): the
	// sender is not at fault, and sends the entry again.
	ReasonLedgerFull = "ledger full"
)

func reasonFor(err error) string {
	switch {
	case errors.Is(err, clock.ErrClockSkew):
		return ReasonClockSkew
	case errors.Is(err, codec.ErrVersion):
		return ReasonVersion
	case errors.Is(err, codec.ErrKind):
		return ReasonWrongType
	case errors.Is(err, codec.ErrLimit), errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrUnknownObject):
		return ReasonUnknownObject
	case errors.Is(err, ErrUnknownPeer):
		return ReasonUnknownPeer
	case errors.Is(err, ErrMisaddressed):
		return ReasonMisaddressed
	case errors.Is(err, ErrStale):
		return ReasonStale
	case errors.Is(err, vclock.ErrForeignWrite):
		return ReasonForeignWrite
	case errors.Is(err, vclock.ErrUnseen):
		return ReasonUnseen
	case errors.Is(err, ErrBadAck):
		return ReasonAck
	}
	return ReasonMalformed
}

func (p *peer) refuse(reason string) {
	if p.stats.refused == nil {
		p.stats.refused = map[string]uint64{}
	}
	p.stats.refused[reason]++
}

// startCatchUp makes the replica bring the peer up to date by digest: ask
// for its digest until a catch-up computed from one is confirmed.
func (p *peer) startCatchUp() {
	if !p.awaitDig {
		p.awaitDig = true
		p.catchUpSent = 0
	}
}

// inbound is how far a replica has applied one incarnation of a peer.
type inbound struct {
	recv       uint64
	above      map[uint64]struct{}
	catchUpGot uint64
	dig        digestIn // the parts of the run's digest round gathered so far
}

// maxPastIncarnations bounds the incarnations of a peer whose progress a
// replica remembers besides the current one.
const maxPastIncarnations = 4

// maxAbove bounds the peer's ops a replica applies past a gap in their
// sequence numbers (peer.above), each remembered until the gap is
// filled: past it, an op past the gap is not taken now. It is not
// acknowledged, so the peer sends it again, once it has sent the gap
// again (see RetransmitTicks), or a catch-up brings its effect. The
// numbers are the peer's to choose: without a bound, ops past gaps it
// never fills would each be remembered for good.
const maxAbove = 1 << 16

// switchIncarnation makes inc the peer's current incarnation. What was
// applied of the one it replaces is kept, with the parts of its digest
// round gathered so far, and those of inc are taken back: a message of an earlier run still in flight, or
// two processes wrongly running under one ID, make the incarnation go back
// and forth, and starting each one over from nothing would wait forever for
// ops its sender knows were acknowledged.
func (p *peer) switchIncarnation(inc uint64) {
	if p.rinc != 0 {
		if p.past == nil {
			p.past = map[uint64]inbound{}
		}
		p.past[p.rinc] = inbound{p.recv, p.above, p.catchUpGot, p.digIn}
	}
	in := p.past[inc]
	delete(p.past, inc)
	for len(p.past) > maxPastIncarnations {
		delete(p.past, slices.Min(slices.Collect(maps.Keys(p.past))))
	}
	p.rinc = inc
	p.runNow = clock.Timestamp{} // a run's clock may start behind its predecessor's
	p.recv, p.above, p.catchUpGot, p.digIn = in.recv, in.above, in.catchUpGot, in.dig
	p.in, p.chunkAcks = inCatchUp{}, nil
	p.leftTo = 0 // of another run: the new one's catch-ups bring what it holds
}

// caughtUp records that a catch-up accounting for the peer's ops up to
// upTo was merged: an op left to the peer's state up to there is in.
func (p *peer) caughtUp(upTo uint64) {
	if upTo >= p.leftTo {
		p.leftTo = 0
	}
}

// markReceived records that the peer's op seq was applied.
func (p *peer) markReceived(seq uint64) {
	switch {
	case seq <= p.recv:
	case seq == p.recv+1:
		p.recv = seq
		for {
			if _, ok := p.above[p.recv+1]; !ok {
				break
			}
			delete(p.above, p.recv+1)
			p.recv++
		}
	default:
		if p.above == nil {
			p.above = map[uint64]struct{}{}
		}
		p.above[seq] = struct{}{}
	}
}

func (p *peer) received(seq uint64) bool {
	if seq <= p.recv {
		return true
	}
	_, ok := p.above[seq]
	return ok
}

// raiseRecv records that every op of the peer up to seq is accounted for.
func (p *peer) raiseRecv(seq uint64) {
	if seq <= p.recv {
		return
	}
	p.recv = seq
	for s := range p.above {
		if s <= seq {
			delete(p.above, s)
		}
	}
	for {
		if _, ok := p.above[p.recv+1]; !ok {
			break
		}
		delete(p.above, p.recv+1)
		p.recv++
	}
}

// outbound is a message to send at the end of a tick: to one peer through
// Send, or to several through Broadcast.
type outbound struct {
	to        []ReplicaID
	env       *envelope
	broadcast bool
	limit     int // the largest message every one of to takes (see limitTo)
}

// Tick does one round of the engine's work: it sends each peer the ops it
// has not acknowledged (again, if the last send went unanswered for
// RetransmitTicks ticks), acknowledgements, digests and catch-up states,
// through the Transport (and its Broadcast method, if it is a
// [Broadcaster]). The host calls Tick periodically, or lets [Replica.Run]
// do it. It returns the errors of the sends that failed, joined; the
// engine retries them at a later tick anyway.
func (r *Replica) Tick(ctx context.Context) error {
	bc, canBroadcast := r.cfg.Transport.(Broadcaster)
	lim, limited := r.cfg.Transport.(Limiter)
	busLimit := 0
	if limited {
		busLimit = lim.MaxMessageBytes()
	}
	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	held := time.Now()
	r.ticks++
	r.started = true
	if limited && busLimit != r.busLimit {
		was := r.ownLimit()
		r.busLimit = busLimit
		fell := r.ownLimit() < was
		for _, p := range r.peers {
			r.recut(p)
			// A limit that fell is named to the peers at once, in the
			// digest they are owed: a transport that drops larger
			// messages (rather than handing them to Receive to be
			// refused, see tellLimit) would not tell them otherwise
			// until the next exchange of digests.
			p.owedDig = p.owedDig || fell
		}
	}
	r.retireStep()
	out := make([]outbound, 0, len(r.peers))
	var more []outbound // digest parts and chunks, always by Send
	for _, id := range sortedPeerIDs(r.peers) {
		p := r.peers[id]
		r.regrow(p)
		env, extra := r.prepare(p)
		limit := r.limitTo(p)
		if env != nil {
			out = append(out, outbound{to: []ReplicaID{id}, env: env, limit: limit})
		}
		for _, e := range extra {
			more = append(more, outbound{to: []ReplicaID{id}, env: e, limit: limit})
		}
	}
	if canBroadcast && len(out) > 1 {
		out = r.groupBroadcasts(out)
	}
	out = append(out, more...)
	var cuts []*frozenCut
	for _, p := range r.peers {
		if f := p.frozen; f != nil && !f.started {
			f.started = true
			cuts = append(cuts, f)
		}
	}
	r.tickHold = max(r.tickHold, time.Since(held))
	r.mu.Unlock()
	if len(cuts) > 0 {
		// The copies are the cuts' own: cut them without the lock, and
		// let the next tick send the catch-up.
		for _, f := range cuts {
			f.run()
		}
		r.mu.Lock()
		for _, f := range cuts {
			f.done = true
		}
		r.mu.Unlock()
	}

	var errs []error
	for _, o := range out {
		msg, err := o.env.encode()
		sent := false // handed to the transport
		if err == nil && len(msg) > o.limit {
			// A bug in the engine's accounting; never sent, so that no
			// peer refuses it, and counted.
			r.log.Error("message over MaxMessageBytes not sent", "bytes", len(msg), "limit", o.limit)
			err = fmt.Errorf("%w: %d bytes to send, limit %d", ErrTooLarge, len(msg), o.limit)
			r.mu.Lock()
			r.oversize++
			r.mu.Unlock()
		}
		if err == nil {
			sent = true
			if o.broadcast {
				err = bc.Broadcast(ctx, o.to, msg)
			} else {
				err = r.cfg.Transport.Send(ctx, o.to[0], msg)
			}
		}
		r.mu.Lock()
		if o.broadcast && err == nil {
			r.broadcasts++
		}
		for _, id := range o.to {
			p := r.peers[id]
			if p == nil {
				continue
			}
			p.stats.msgsSent++
			p.stats.bytesSent += uint64(len(msg))
			if o.env.HasChunk {
				p.stats.chunksSent++
			}
			if err == nil && p.cap > 0 && len(msg) > p.cap/2 {
				p.capUsed = true
			}
			if err != nil {
				p.stats.sendErrors++
				p.stats.lastSendError = err.Error()
				if !o.env.HasChunk {
					p.sent = p.acked // send again at the next tick
				}
				if sent && errors.Is(err, ErrTooLarge) {
					r.shrink(p, len(msg))
				}
			}
		}
		r.mu.Unlock()
		if err != nil {
			if o.broadcast {
				errs = append(errs, fmt.Errorf("crdt: broadcasting to %v: %w", o.to, err))
			} else {
				errs = append(errs, fmt.Errorf("crdt: sending to %s: %w", o.to[0], err))
			}
		}
	}
	return errors.Join(errs...)
}

// groupBroadcasts takes the run of ops out of the messages of peers that
// are due the same run, and sends it once to as many of them as one
// message fits with their recipient entries (see recipientBytes), with
// each one's acknowledgement. A message left with nothing else to carry
// is dropped; the others still go by Send. The caller holds r.mu; out
// holds one message per peer, sorted by peer.
func (r *Replica) groupBroadcasts(out []outbound) []outbound {
	type run struct{ first, n uint64 }
	groups := map[run][]int{}
	var order []run
	for i, o := range out {
		if len(o.env.Ops) == 0 {
			continue
		}
		k := run{o.env.FirstSeq, uint64(len(o.env.Ops))}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	drop := make([]bool, len(out))
	var bcasts []outbound
	for _, k := range order {
		members := groups[k]
		base := headerBytes + 3*len(r.id) + r.led.summaryBytes() + opsSize(out[members[0]].env.Ops)
		for len(members) >= 2 {
			// The broadcast goes to the longest run of members it fits
			// with their recipient entries, within each one's limit; a
			// member it does not fit keeps its run of ops, and the rest
			// may make another broadcast.
			size, limit, n := base, r.ownLimit(), 0
			for _, i := range members {
				s, l := size+recipientBytes(out[i].env.To), min(limit, out[i].limit)
				if s > l {
					break
				}
				size, limit, n = s, l, n+1
			}
			if n < 2 {
				members = members[max(n, 1):]
				continue
			}
			bcasts = append(bcasts, r.broadcastOf(out, members[:n], limit, drop))
			members = members[n:]
		}
	}
	if len(bcasts) == 0 {
		return out
	}
	kept := bcasts
	for i, o := range out {
		if !drop[i] {
			kept = append(kept, o)
		}
	}
	return kept
}

// broadcastOf returns the broadcast of the run of ops that the messages
// out[i], i in members, all carry, to their peers, and takes the run out
// of those messages, marking in drop the ones left with nothing else to
// carry. limit is the smallest of the members' limits. The caller holds
// r.mu.
func (r *Replica) broadcastOf(out []outbound, members []int, limit int, drop []bool) outbound {
	first := out[members[0]].env
	b := &envelope{
		From: r.id, Incarnation: r.incarnation, Now: first.Now,
		Broadcast: true, FirstSeq: first.FirstSeq, Ops: first.Ops, Writer: r.writer,
	}
	if r.led.sum != 0 {
		b.Retire = &retireSection{Sum: r.led.sum} // the same for every recipient
	}
	to := make([]ReplicaID, 0, len(members))
	for _, i := range members {
		env := out[i].env
		to = append(to, env.To)
		b.Recipients = append(b.Recipients, recipient{ID: env.To, AckInc: env.AckInc, AckSeq: env.AckSeq, CatchUpAck: env.CatchUpAck})
		env.FirstSeq, env.Ops = 0, nil
		drop[i] = !env.WantDigest && !env.HasDigest && env.StatesUpTo == 0 && len(env.States) == 0 && len(env.ChunkAcks) == 0 &&
			(env.Retire == nil || env.Retire.onlyLens())
	}
	return outbound{to: to, env: b, broadcast: true, limit: limit}
}

// recipientBytes is the most a broadcast's recipient entry for id takes:
// the ID in the message's table of replicas, its index and three
// acknowledgements.
func recipientBytes(id ReplicaID) int { return len(id) + 48 }

// prepare builds the message due to p at this tick, or nil, and the
// further messages due (parts of a digest, chunks of a catch-up, a
// retirement promise too large to ride along), each
// within Config.MaxMessageBytes. The caller holds r.mu.
func (r *Replica) prepare(p *peer) (*envelope, []*envelope) {
	env := &envelope{From: r.id, To: p.id, Incarnation: r.incarnation, Writer: r.writer}
	room := r.room(p) // what the message may carry beyond its header
	// Retirements first: what they carry beyond the ledger's summary
	// (which room counts) takes at most half the room; a promise, an
	// entry or a proposal larger than that goes in a message of its own,
	// with this one.
	due, alone := r.retireOut(p, env, room/2)
	var extra []*envelope
	if env.Retire != nil {
		room -= env.Retire.size() - r.led.summaryBytes()
	}

	if p.needAck {
		due = true
		p.needAck = false
	}

	// Retransmission: go back to the last acknowledged op if the peer has
	// not acknowledged anything for a while.
	if p.sent > p.acked && r.ticks-max(p.sentTick, p.ackTick) >= uint64(r.cfg.RetransmitTicks) {
		p.sent = p.acked
	}
	from := max(p.sent, p.acked) + 1
	switch {
	case from > r.shippable():
		// Nothing new to send (or not yet saved).
	case from < r.firstSeq():
		// The ops the peer lacks have left the log: catch up by digest.
		p.startCatchUp()
	default:
		ops, skip := r.batch(from, r.shippable(), min(r.cfg.MaxBatchBytes, room))
		if skip > 0 {
			// A group of ops too large for any message: the peer gets it
			// by catch-up, and the ops after it as usual.
			p.capUsed = p.capUsed || p.cap > 0
			p.startCatchUp()
			p.sent = from + skip - 1
			p.sentTick = r.ticks
			break
		}
		env.FirstSeq = from
		env.Ops = ops
		p.sent = from + uint64(len(env.Ops)) - 1
		p.shipped = max(p.shipped, p.sent)
		p.sentTick = r.ticks
		room -= opsSize(ops)
		due = true
	}

	if r.cfg.AntiEntropyTicks > 0 && r.ticks%uint64(r.cfg.AntiEntropyTicks) == 0 && p.out == nil {
		p.wantDig = true
	}
	// Until a catch-up is confirmed, ask again once the last request had
	// time to be answered and its catch-up to be acknowledged (not while
	// a catch-up in chunks is under way: it would start over).
	if p.awaitDig && p.out == nil && (p.askedTick == 0 || r.ticks-p.askedTick >= uint64(4*r.cfg.RetransmitTicks)) {
		p.wantDig = true
	}
	if p.wantDig {
		env.WantDigest = true
		p.wantDig = false
		p.askedTick = r.ticks
		due = true
	}
	// The peer's ops past a gap that retransmission does not fill: the
	// peer counts the ops of the gap as applied here, though this
	// replica no longer knows it applied them (it removed the peer and
	// added it again), and will not send them again. This replica's
	// digest makes it send a catch-up, which covers them.
	if len(p.above) == 0 || p.gapRecv != p.recv {
		p.gapTick, p.gapRecv = r.ticks, p.recv
	} else if r.ticks-p.gapTick >= uint64(4*r.cfg.RetransmitTicks) {
		p.owedDig = true
		p.gapTick = r.ticks
	}
	if p.leftTo != 0 && r.ticks-p.leftToTick >= uint64(4*r.cfg.RetransmitTicks) {
		p.owedDig = true
		p.leftToTick = r.ticks
	}
	if p.owedDig {
		d := r.digest()
		if digestSize(d) <= room {
			env.HasDigest, env.Digest = true, d
			room -= digestSize(d)
		} else {
			extra = append(extra, r.digestParts(p, d)...)
		}
		p.owedDig = false
		due = true
	}
	if p.hasTheir && r.shippable() == r.seq {
		if f := p.frozen; f != nil && f.room > r.room(p) {
			// Cut for larger messages than go to p now (see limitTo):
			// copied and cut again. A Tick still cutting it finishes
			// on its own copies.
			p.frozen = nil
		}
		if p.out == nil && p.frozen == nil {
			p.frozen = r.freeze(p) // nil if every state is small enough to cut here
		}
		if p.frozen == nil || p.frozen.done {
			if p.out == nil {
				room -= r.catchUp(p, env, room)
			}
			p.hasTheir = false
			p.theirDig = nil
			p.frozen = nil
			due = true
		}
	}
	chunks := r.chunksDue(p)
	if len(p.chunkAcks) > 0 {
		n := min(len(p.chunkAcks), maxChunkAcks)
		env.ChunkAckOf, env.ChunkAcks = p.in.num, slices.Clone(p.chunkAcks[:n])
		p.chunkAcks = p.chunkAcks[n:]
		if len(p.chunkAcks) == 0 {
			p.chunkAcks = nil
		} else {
			p.needAck = true // the rest at the next tick
		}
		due = true
	}
	idle := r.ticks-p.lastSend < uint64(r.cfg.HeartbeatTicks)
	if !due && len(extra) == 0 && len(chunks) == 0 && idle {
		return nil, nil
	}
	if due || !idle {
		// This message goes: the retirements too large for it go beside
		// it (a proposal rides on the messages that go anyway).
		extra = append(extra, alone...)
	}
	env.AckInc, env.AckSeq, env.CatchUpAck = p.rinc, p.recv, p.catchUpGot
	env.Now = r.clk.Now()
	p.lastSend = r.ticks
	extra = append(extra, chunks...)
	for _, e := range extra {
		e.From, e.To, e.Incarnation = r.id, p.id, r.incarnation
		e.AckInc, e.AckSeq, e.CatchUpAck, e.Now = env.AckInc, env.AckSeq, env.CatchUpAck, env.Now
		if r.led.sum != 0 && e.Retire == nil {
			e.Retire = &retireSection{Sum: r.led.sum} // its data is named as this ledger says
		}
	}
	if !due && idle {
		return nil, extra // they carry the acknowledgements
	}
	return env, extra
}

// Sizes of what messages carry, at most, beside the bytes themselves.
const (
	headerBytes = 360 // a message's fixed fields, chunk acknowledgements and the sender's epoch included
	entryBytes  = 16  // an op, state or part: its object (as an index or beside the name) and headers
)

// room returns what a message to the peer p can carry beyond its
// header: the bytes of its ops, digest, states or parts, each counted
// with what opsSize, digestSize and entrySize add.
func (r *Replica) room(p *peer) int {
	return r.limitTo(p) - headerBytes - 3*(len(r.id)+len(p.id)) - r.led.summaryBytes()
}

// limitTo returns the largest message this replica sends the peer p: its
// own limit (see ownLimit), or the peer's if its digests named a smaller
// one (see limitEntry), or less if the transport refused larger ones to p
// (see shrink). The caller holds r.mu.
func (r *Replica) limitTo(p *peer) int {
	n := r.ownLimit()
	if p.limit > 0 {
		n = min(n, p.limit)
	}
	if p.cap > 0 {
		n = min(n, p.cap)
	}
	return n
}

// ownLimit returns the largest message this replica sends and names in
// its digests: Config.MaxMessageBytes, or its transport's limit if that
// is smaller (see Limiter), read at the last tick. The caller holds r.mu.
func (r *Replica) ownLimit() int {
	if r.busLimit > 0 {
		return min(max(r.busLimit, MinMessageBytes), r.cfg.MaxMessageBytes)
	}
	return r.cfg.MaxMessageBytes
}

// entrySize is what an op, state or part of object takes in a message.
func entrySize(object string, data []byte) int { return len(object) + len(data) + entryBytes }

func opsSize(ops []opEntry) int {
	n := 0
	for _, o := range ops {
		n += entrySize(o.Object, o.Op)
	}
	return n
}

func digestSize(d []digestEntry) int {
	n := 0
	for _, e := range d {
		n += digestEntrySize(e)
	}
	return n
}

func digestEntrySize(e digestEntry) int {
	return len(e.Object) + len(e.Version) + len(e.Durable) + 3*entryBytes
}

// digestParts cuts a digest too large for one message into parts, each
// sent in a message of its own. The caller holds r.mu.
func (r *Replica) digestParts(p *peer, d []digestEntry) []*envelope {
	room := r.room(p)
	p.digRounds++
	var out []*envelope
	size := room + 1
	for _, e := range d {
		n := digestEntrySize(e)
		if n > room {
			r.log.Warn("digest entry too large for a message: left out", "object", e.Object, "peer", string(p.id))
			continue
		}
		if size+n > room {
			out = append(out, &envelope{HasDigest: true, DigestRound: p.digRounds})
			size = 0
		}
		last := out[len(out)-1]
		last.Digest = append(last.Digest, e)
		size += n
	}
	for i, e := range out {
		e.DigestPart, e.DigestParts = uint64(i), uint64(len(out))
	}
	return out
}

// shippable returns the sequence number of the last local op that may
// leave: the last one, or, once the host persists the replica, the last
// one a saved snapshot holds. The caller holds r.mu.
func (r *Replica) shippable() uint64 {
	if r.persistent {
		return min(r.savedSeq, r.seq)
	}
	return r.seq
}

// batch returns the ops from sequence number from up to last that fit in
// one message: within budget bytes (as opsSize counts them), never
// splitting a group (see Tx), so a receiver applies each group at once.
// If the first group alone is larger than budget, it returns no ops and
// the group's length, to skip: no message can carry it. The caller holds
// r.mu; from is in the log.
func (r *Replica) batch(from, last uint64, budget int) (ops []opEntry, skip uint64) {
	first := r.firstSeq()
	n, whole := 0, 0 // ops taken; ops up to the end of the last whole group
	for s := from; s <= last; s++ {
		e := &r.ops[s-first]
		c := entrySize(e.object, e.op)
		if c > budget {
			if whole > 0 {
				break
			}
			// The first group does not fit: find its end.
			end := s
			for end < r.seq && r.ops[end-first].more {
				end++
			}
			return nil, end - from + 1
		}
		budget -= c
		n++
		if !e.more {
			whole = n
		}
	}
	if whole == 0 {
		whole = n // the log ends inside a group: send what there is
	}
	ops = make([]opEntry, whole)
	for i := range ops {
		e := &r.ops[from+uint64(i)-first]
		ops[i] = opEntry{Object: e.object, Op: e.op}
	}
	return ops, 0
}

// digest lists the replica's objects and their versions. The caller holds
// r.mu.
func (r *Replica) digest() []digestEntry {
	names := r.sortedObjects()
	d := make([]digestEntry, 0, len(names))
	var gaps []digestEntry     // entries of the objects with gaps (see gapEntry)
	var contents []digestEntry // content entries (see contentEntry)
	for _, name := range names {
		e := digestEntry{Object: name}
		var gap, content digestEntry
		if f, ok := r.objects[name].(Fingerprinter); ok {
			if h, ok := gapHash(r.objects[name]); !ok {
				// Updates past a gap the object cannot name: equal
				// versions may hold different content.
			} else {
				if h == noGaps {
					e.Fingerprint, e.HasFingerprint = f.Fingerprint(), true
				} else {
					gap = gapEntry(name, h, f.Fingerprint())
				}
				if c, ok := f.(ContentFingerprinterAt); ok {
					cfp, wall := c.ContentFingerprintNow()
					content = contentEntry(name, h, cfp)
					content.Version = binary.BigEndian.AppendUint64(content.Version, uint64(wall))
				} else if c, ok := f.(ContentFingerprinter); ok {
					content = contentEntry(name, h, c.ContentFingerprint())
				}
			}
		}
		if dobj, ok := r.objects[name].(DeltaObject); ok {
			v, err := dobj.VersionBinary()
			if err != nil {
				r.log.Warn("encoding a version failed", "object", name, "err", err)
				continue
			}
			e.Version = v
			e.Durable = v
			if r.snapshotted {
				e.Durable = r.durable[name]
			}
			if gap.Object != "" {
				gaps = append(gaps, gap)
			}
			if content.Object != "" {
				contents = append(contents, content)
			}
		} else if content.Object != "" {
			// No version: compared where the fingerprints agree (see
			// compareWhole).
			contents = append(contents, content)
		}
		d = append(d, e)
	}
	// Their names sort before every object's (no object's name starts
	// with a NUL byte): the content entries', then the gap entries', each
	// kind among itself as the objects', then the limit entry.
	return slices.Concat(contents, gaps, []digestEntry{limitEntry(r.ownLimit()), writerEntry(r.writer)}, d)
}

// writerName is the name of a digest's writer entry, which names the
// writer of the run that sent the digest (see [Replica.Writer]) in its
// Version, with no Fingerprint and no Durable: the durable versions the
// digest reports are that run's word, and a collector that needs to know
// which run has seen what (see [RunCollector]) is told. It sorts after the
// limit entry and before every object's. It is an ordinary digest entry,
// as the limit entry is: a release that knows nothing of writer entries
// takes it for the entry of an object it does not have, and ignores it.
const writerName = "\x00writer"

// writerEntry returns the writer entry naming w.
func writerEntry(w ReplicaID) digestEntry {
	return digestEntry{Object: writerName, Version: []byte(w)}
}

// writerOf reads the writer entry of a digest from the peer named from:
// the writer it names, if that is a writer of from's (its name and an
// epoch); ok is false for any other entry, a malformed one, or one naming
// another replica's writer.
func writerOf(d digestEntry, from ReplicaID) (w ReplicaID, ok bool) {
	if d.Object != writerName || d.Durable != nil || d.HasFingerprint || len(d.Version) == 0 {
		return "", false
	}
	w = ReplicaID(d.Version)
	if _, hasEpoch := w.Epoch(); !hasEpoch || w.Name() != from {
		return "", false
	}
	return w, true
}

// maxRuns is how many of a peer's runs noteRun remembers.
const maxRuns = 4

// runSeen is a run of a peer whose digests reached this replica: its
// writer, and the latest clock reading heard in its digests.
type runSeen struct {
	w    ReplicaID
	last clock.Timestamp
}

// noteRun records that a digest of the peer sent at now (zero if unknown)
// came from its run w, and counts in PeerStats.RunsReturned a run whose
// digests had been followed by another run's, and that sends one later
// than the latest reading heard from any run that followed it. A run does
// not come back once a later one started, unless both run at once (a
// second process started from the peer's disk, the network reaching one
// or the other): a run that is still going takes in this replica's clock,
// which took in the other run's readings, and its next messages are
// later. A digest of a run that ended, delayed past its successor's, is
// older than the successor's, which started later (unless the
// successor's clock reads behind, within the clocks' offset: see
// PeerStats.RunsReturned); it is not counted, and leaves the successor the
// latest run.
// So is the first digest heard from a run that is older than a later
// run's: it is placed before that run. Messages of an earlier run older
// than the latest reading by more than the clocks' offset are refused
// before (see staleRun). The caller holds r.mu.
func (r *Replica) noteRun(p *peer, w ReplicaID, now clock.Timestamp) {
	after := func(t clock.Timestamp) bool { return now.IsZero() || now.Compare(t) > 0 }
	n := len(p.runs)
	if n > 0 && p.runs[n-1].w == w {
		if after(p.runs[n-1].last) {
			p.runs[n-1].last = now
		}
		return
	}
	i := slices.IndexFunc(p.runs, func(s runSeen) bool { return s.w == w })
	if i >= 0 {
		for _, s := range p.runs[i+1:] {
			if !after(s.last) {
				return // delayed: a run that followed it sent later
			}
		}
		p.stats.runsReturned++
		r.log.Warn("two runs under one replica ID: a run's digest came after a later run's", "peer", string(p.id),
			"run", string(w), "later_run", string(p.runs[n-1].w))
		p.runs = slices.Delete(p.runs, i, i+1)
		p.runs = append(p.runs, runSeen{w, now})
		return
	}
	// A run not heard from before goes after every run that sent no
	// later digest.
	k := n
	for k > 0 && !after(p.runs[k-1].last) {
		k--
	}
	if n == maxRuns {
		if k == 0 {
			return // older than every run remembered
		}
		p.runs = slices.Delete(p.runs, 0, 1)
		k--
	}
	p.runs = slices.Insert(p.runs, k, runSeen{w, now})
}

// limitName is the name of a digest's limit entry, which names the
// largest message its sender takes (its Config.MaxMessageBytes) in its
// Fingerprint, with no Version and no Durable. Every digest carries one,
// so that replicas configured with different limits (during a rolling
// change of the setting, say, or in regions whose buses carry messages of
// different sizes) send each other messages each can take: a replica
// sends a peer nothing larger than the smaller of the two limits once a
// digest of the peer's has named its own (see limitTo), and owes a peer
// its digest when it refuses a message of the peer's as too large (see
// tellLimit). It is an ordinary digest entry, as a gap entry is (see
// gapPrefix): a release that knows nothing of limit entries takes it for
// the entry of an object it does not have, without a version, and
// ignores it.
const limitName = "\x00limit"

// limitEntry returns the limit entry naming the limit n.
func limitEntry(n int) digestEntry {
	return digestEntry{Object: limitName, Fingerprint: uint64(n), HasFingerprint: true}
}

// limitOf reads a limit entry: the limit it names, held to at least
// MinMessageBytes (no replica takes less); ok is false for any other
// entry, or a malformed one.
func limitOf(d digestEntry) (n int, ok bool) {
	if d.Object != limitName || d.Version != nil || d.Durable != nil || !d.HasFingerprint {
		return 0, false
	}
	return int(max(min(d.Fingerprint, math.MaxInt32), MinMessageBytes)), true
}

// learnLimit records the limit n that the peer p's digest named. A
// catch-up in chunks under way to the peer, cut for larger messages than
// it takes now, is given up, and the peer gets a new one cut to fit (an
// honest peer's limit changes only when it restarts, which gives up the
// catch-up anyway). The caller holds r.mu.
func (r *Replica) learnLimit(p *peer, n int) {
	p.limit = n
	r.recut(p)
}

// shrink makes p's messages smaller after the transport refused one of
// size bytes to it as too large (an error wrapping ErrTooLarge): a proxy
// on the way with a smaller limit, say. From then on, p gets messages of
// at most half that size (not less than MinMessageBytes), so that a few
// refusals find what the way takes, until regrow lets them grow again.
// The caller holds r.mu.
func (r *Replica) shrink(p *peer, size int) {
	n := max(size/2, MinMessageBytes)
	if p.cap == 0 || n < p.cap {
		p.cap, p.capTick, p.capUsed = n, r.ticks, false
		r.log.Warn("the transport refused a message as too large: sending the peer smaller ones", "peer", string(p.id), "bytes", size, "limit", n)
		r.recut(p)
	}
}

// regrow doubles the bound that shrink set on p's messages once
// regrowTicks ticks have passed since it last changed, if since then the
// transport took a message to p of more than half the bound, or the bound
// held back an op or a state that no message within it could carry (see
// capUsed), and drops it once it reaches what p would get without it (see
// limitTo): the way's limit may have been raised again (an operator
// undoing a proxy's setting, say). If it was not, the next messages over
// the way's limit are refused and shrink halves the bound back: where the
// way took more than half the bound, at most two refusals bring it under
// the way's limit again, so a way that still takes no more costs at most
// two refused messages in regrowTicks ticks (a few more where something
// larger was held back). It waits while a catch-up in chunks is under way
// to p, which a refusal would start over (see recut). The caller holds
// r.mu.
func (r *Replica) regrow(p *peer) {
	if p.cap == 0 || !p.capUsed || p.out != nil || r.ticks < p.capTick+regrowTicks {
		return
	}
	n := p.cap * 2
	p.cap, p.capTick, p.capUsed = 0, r.ticks, false
	if n < r.limitTo(p) {
		p.cap = n
	}
}

// regrowTicks is how many ticks pass, at least, between two doublings of
// the bound on a peer's messages that the transport's refusals set (see
// regrow).
const regrowTicks = 1000

// recut gives up the catch-up in chunks under way to p if it was cut for
// larger messages than go to p now (see limitTo): p gets a new one, cut
// to fit. The caller holds r.mu.
func (r *Replica) recut(p *peer) {
	if o := p.out; o != nil && r.limitTo(p) < o.limit {
		r.log.Warn("catch-up in chunks cut for larger messages than go to the peer now: starting over", "peer", string(p.id), "limit", r.limitTo(p))
		p.out = nil
		p.awaitDig, p.catchUpSent = true, 0
	}
}

// tellLimit owes the peer from this replica's digest, after a message
// from it was refused as too large: the digest names the largest message
// this replica takes, and the peer cuts what it sends again to fit. It
// owes one at most once in tellTicks ticks (the transport's word for the
// sender is all there is to go by, and a digest is what any peer may ask
// for anyway).
func (r *Replica) tellLimit(from ReplicaID) {
	r.mu.Lock()
	p := r.peers[from]
	owed := p != nil && (p.toldTick == 0 || r.ticks+1 >= p.toldTick+tellTicks)
	if owed {
		p.owedDig, p.toldTick = true, r.ticks+1
	}
	r.mu.Unlock()
	if owed {
		r.poke()
	}
}

// tellTicks is how many ticks pass, at least, between digests owed to a
// peer for its messages refused as too large.
const tellTicks = 10

// noGaps is the gap hash of an object that holds no update past its
// version (see [GapHasher]).
const noGaps = 0

// gapPrefix starts the name of a digest's gap entry: for an object that
// holds updates past its version, an entry of its own that carries its
// fingerprint and its gap hash (see [GapHasher]). The object's entry
// carries no fingerprint, as before gap entries existed.
//
// A gap entry is an ordinary digest entry, so a release that knows
// nothing of them reads a message carrying them (its decoder is strict,
// and would refuse a new field or flag whole), and takes it for the entry
// of an object it does not have: it ignores it, as it ignores the digest
// entries of objects registered at the sender only. It therefore compares
// no fingerprint across a gap, as before, and counts no divergence. A
// replica needs to know nothing of its peer's release to send them. No
// object can be registered under such a name (see [Register]).
//
// The entry's Version holds the gap hash (8 bytes, big-endian), and its
// Fingerprint the object's; its Durable is nil, so that no release takes
// it for a version the peer holds.
const gapPrefix = "\x00gap\x00"

// gapEntry returns the gap entry of the object name with gap hash h and
// fingerprint fp.
func gapEntry(name string, h, fp uint64) digestEntry {
	return digestEntry{Object: gapPrefix + name, Version: binary.BigEndian.AppendUint64(nil, h), Fingerprint: fp, HasFingerprint: true}
}

// gapOf reads a gap entry: the object it is for, its gap hash and its
// fingerprint; ok is false for any other entry, or a malformed one.
func gapOf(d digestEntry) (name string, h, fp uint64, ok bool) {
	name, found := strings.CutPrefix(d.Object, gapPrefix)
	if !found || name == "" || len(d.Version) != 8 || d.Durable != nil || !d.HasFingerprint {
		return "", 0, 0, false
	}
	return name, binary.BigEndian.Uint64(d.Version), d.Fingerprint, true
}

// contentPrefix starts the name of a digest's content entry: for an
// object that is a [ContentFingerprinter], an entry of its own that
// carries its content fingerprint and its gap hash (noGaps if none), so
// that it is compared only where the gap entry's fingerprint, or the
// object entry's, would be. It is an ordinary digest entry, as a gap
// entry is (see gapPrefix): a release that knows nothing of content
// entries ignores it, and sends none, so nothing is compared with it.
//
// The entry's Version holds the gap hash (8 bytes, big-endian), and its
// Fingerprint the content fingerprint; it has no Durable. For a
// [ContentFingerprinterAt], the Version goes on with the wall time the
// content fingerprint is at (8 bytes more); a release that reads 8 bytes
// alone ignores such an entry.
const contentPrefix = "\x00content\x00"

// contentEntry returns the content entry of the object name with gap hash
// h and content fingerprint cfp.
func contentEntry(name string, h, cfp uint64) digestEntry {
	return digestEntry{Object: contentPrefix + name, Version: binary.BigEndian.AppendUint64(nil, h), Fingerprint: cfp, HasFingerprint: true}
}

// contentOf reads a content entry: the object it is for, its gap hash
// and its content fingerprint; ok is false for any other entry, or a
// malformed one. See contentWall for the wall time the fingerprint is at.
func contentOf(d digestEntry) (name string, h, cfp uint64, ok bool) {
	name, found := strings.CutPrefix(d.Object, contentPrefix)
	if !found || name == "" || (len(d.Version) != 8 && len(d.Version) != 16) || d.Durable != nil || !d.HasFingerprint {
		return "", 0, 0, false
	}
	return name, binary.BigEndian.Uint64(d.Version), d.Fingerprint, true
}

// contentWall returns the wall time that the content fingerprint of the
// content entry d is at (see [ContentFingerprinterAt]), and false if d
// has none.
func contentWall(d digestEntry) (int64, bool) {
	if len(d.Version) != 16 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(d.Version[8:])), true
}

// gapHash returns the gap hash of obj (see [GapHasher]): noGaps for an
// object without gaps or that does not report them, and false for one
// with gaps it cannot name.
func gapHash(obj Object) (uint64, bool) {
	if !hasGaps(obj) {
		return noGaps, true
	}
	g, ok := obj.(GapHasher)
	if !ok {
		return 0, false
	}
	h, ok := g.GapHash()
	if !ok || h == noGaps {
		return 0, false // gaps it says are none: compare nothing
	}
	return h, true
}

// catchUp brings p what it lacks according to its digest: a delta for
// every object with a version, the whole state of the others. If they fit
// in room bytes they go in env, as one catch-up, and catchUp returns the
// bytes they take; otherwise they go as a catch-up in chunks (p.out),
// sent by chunksDue, the states too large for one message cut into parts
// by their [Chunker]. The caller holds r.mu.
//
// The catch-up counts as delivered (it is numbered, for the peer to
// confirm, and accounts for every op made so far) only if a state could be
// made for every object the digest names: if one could not (the peer's
// version cannot be decoded, encoding failed, or a state too large for a
// message cannot be cut), the states that fit in env still go, but the
// peer stays owed a catch-up and is asked for its digest again.
func (r *Replica) catchUp(p *peer, env *envelope, room int) int {
	p.stats.digestRounds++
	upTo, frozen := r.seq, p.frozen
	if frozen != nil {
		upTo = frozen.upTo // the copies were taken then
	}
	complete := true
	partRoom := r.room(p)
	// sized is a state or part with the bytes it takes decompressed.
	type sized struct {
		partEntry
		plain int
	}
	var whole, free, later []sized // whole states; parts in any order; parts in order
	for _, d := range p.theirDig {
		obj, ok := r.objects[d.Object]
		if !ok {
			continue // the peer has an object we do not: it is its to send
		}
		var (
			state []byte
			plain int // its bytes before it was compressed
			err   error
		)
		dobj, isDelta := obj.(DeltaObject)
		useDelta := isDelta && d.Version != nil && !p.diverged[d.Object]
		var version []byte
		if useDelta {
			version = d.Version
		} else if isDelta && d.Version != nil {
			// The whole state goes, whatever the version: a bad one is
			// refused and counted all the same, as it is when a delta
			// is made from it.
			derr := (*codec.DecodeError)(nil)
			if err := checkVersion(dobj, d.Version, r.limit); errors.As(err, &derr) {
				p.refuse(reasonFor(err))
			}
		}
		c, isChunker := obj.(Chunker)
		var parts [][]byte
		ordered := 0
		if isChunker {
			// In parts, unless the whole fits.
			if f, ok := frozen.partsOf(d.Object); ok {
				parts, ordered, err = f.parts, f.ordered, f.err
			} else {
				parts, ordered, err = c.ChunksBinary(version, partRoom-entrySize(d.Object, nil))
			}
		}
		if err == nil && parts == nil {
			if useDelta {
				state, err = dobj.DeltaSinceBinary(d.Version)
			} else {
				state, err = obj.MarshalBinary()
			}
			plain = len(state)
			if err == nil {
				state = r.pack(state, r.limitTo(p))
			}
			if err == nil && entrySize(d.Object, state) > partRoom {
				if isChunker {
					parts, ordered, err = c.ChunksBinary(version, (partRoom-entrySize(d.Object, nil))/2)
				} else {
					err = fmt.Errorf("%w: a state of %d bytes and the object cannot cut it (see Chunker)", ErrTooLarge, len(state))
				}
			}
		}
		if derr := (*codec.DecodeError)(nil); err != nil && useDelta && errors.As(err, &derr) {
			// The peer's version is bad. A state that could not be cut
			// small enough (an element larger than a message to the
			// peer) or made is no fault of the peer's: StatesFailed
			// counts it, below.
			p.refuse(reasonFor(err))
		}
		if !useDelta {
			p.stats.statesFull++
		}
		if err == nil && parts != nil {
			p.stats.statesSent++
			for i, b := range parts {
				e := sized{partEntry{Object: d.Object, Data: r.pack(b, r.limitTo(p)), Part: true}, len(b)}
				if i < ordered {
					free = append(free, e)
				} else {
					later = append(later, e)
				}
			}
			continue
		}
		if err != nil {
			complete = false
			p.stats.statesFailed++
			p.capUsed = p.capUsed || p.cap > 0 // perhaps too large for the bound
			r.log.Warn("making a catch-up state failed", "object", d.Object, "peer", string(p.id), "err", err)
			continue
		}
		p.stats.statesSent++
		whole = append(whole, sized{partEntry{Object: d.Object, Data: state}, plain})
	}
	p.diverged = nil
	// The states of one message take at most the peer's limit
	// decompressed, as it takes them (see apply), like a chunk's parts.
	size, plain, limit := 0, 0, r.limitTo(p)
	for _, e := range whole {
		size += entrySize(e.Object, e.Data)
		plain += e.plain
	}
	inEnv := len(free) == 0 && len(later) == 0 && size <= room && plain <= limit
	if !complete || inEnv {
		used, usedPlain := 0, 0
		for _, e := range whole {
			if n := entrySize(e.Object, e.Data); used+n <= room && usedPlain+e.plain <= limit {
				env.States = append(env.States, stateEntry{Object: e.Object, State: e.Data})
				used += n
				usedPlain += e.plain
			}
		}
		if !complete {
			p.awaitDig, p.catchUpSent = true, 0 // ask again; no older catch-up settles it
			return used
		}
		// The states hold every op made so far; send ops after them.
		env.StatesUpTo = upTo
		p.catchUps++
		env.CatchUp = p.catchUps
		r.caughtUp(p, upTo)
		return used
	}
	// In chunks: the whole states and the parts that may go in any order
	// first, then the others, each chunk as full as it can be. Its parts
	// take at most the peer's limit decompressed, as the peer takes them
	// (see unpackParts): compressed parts share a chunk only that far.
	o := &outCatchUp{upTo: upTo, progress: r.ticks, limit: r.limitTo(p)}
	add := func(e sized, ordered bool) {
		n := entrySize(e.Object, e.Data)
		if k := len(o.chunks); k == 0 || o.chunks[k-1].size+n > partRoom || o.chunks[k-1].plain+e.plain > o.limit {
			o.chunks = append(o.chunks, outChunk{})
		}
		c := &o.chunks[len(o.chunks)-1]
		c.parts = append(c.parts, e.partEntry)
		c.size += n
		c.plain += e.plain
		c.ordered = c.ordered || ordered
		o.bytesLeft += n
	}
	for _, e := range whole {
		add(e, false)
	}
	for _, e := range free {
		add(e, false)
	}
	for _, e := range later {
		add(e, true)
	}
	if len(o.chunks) > maxChunks {
		r.log.Warn("catch-up in more chunks than a peer accepts: not sent", "chunks", len(o.chunks), "peer", string(p.id))
		p.awaitDig, p.catchUpSent = true, 0
		return 0
	}
	o.left = len(o.chunks)
	p.catchUps++
	o.num = p.catchUps
	p.out = o
	r.caughtUp(p, upTo)
	return 0
}

// caughtUp records that the catch-up just numbered accounts for every op
// up to upTo. The caller holds r.mu.
func (r *Replica) caughtUp(p *peer, upTo uint64) {
	p.catchUpSent = p.catchUps
	p.sent = max(p.sent, upTo)
	p.shipped = max(p.shipped, upTo)
	p.sentTick = r.ticks
}

// frozenCut holds copies of the large states of a catch-up, taken under
// the lock at op upTo, and once done, their parts, cut outside it.
type frozenCut struct {
	upTo    uint64
	room    int // what a message to the peer carried beyond its header when cut (see room)
	cut     map[string]func() ([][]byte, int, error)
	parts   map[string]cutParts
	started bool // a Tick is cutting them
	done    bool // parts is complete; read under the lock
}

type cutParts struct {
	parts   [][]byte
	ordered int
	err     error
}

// partsOf returns the parts cut of the named object's copy, if any (f may
// be nil).
func (f *frozenCut) partsOf(name string) (cutParts, bool) {
	if f == nil {
		return cutParts{}, false
	}
	c, ok := f.parts[name]
	return c, ok
}

// run cuts the copies. It runs without the lock, on copies no one else
// holds.
func (f *frozenCut) run() {
	parts := make(map[string]cutParts, len(f.cut))
	for name, cut := range f.cut {
		var c cutParts
		c.parts, c.ordered, c.err = cut()
		parts[name] = c
	}
	f.parts, f.cut = parts, nil
}

// freeze copies, for the catch-up due to p, the states of the objects
// that cut them outside the lock (see ChunkFreezer), or returns nil if
// none needs it. The caller holds r.mu; ops up to r.seq are saved.
func (r *Replica) freeze(p *peer) *frozenCut {
	var f *frozenCut
	partRoom := r.room(p)
	for _, d := range p.theirDig {
		obj, ok := r.objects[d.Object]
		if !ok {
			continue
		}
		fr, ok := obj.(ChunkFreezer)
		if !ok {
			continue
		}
		var version []byte
		if _, isDelta := obj.(DeltaObject); isDelta && d.Version != nil && !p.diverged[d.Object] {
			version = d.Version
		}
		cut := fr.FreezeChunks(version, partRoom-entrySize(d.Object, nil))
		if cut == nil {
			continue
		}
		if f == nil {
			f = &frozenCut{upTo: r.seq, room: partRoom, cut: map[string]func() ([][]byte, int, error){}}
		}
		f.cut[d.Object] = cut
	}
	return f
}

// checkVersion checks a peer's version v of obj without using it: a
// [Collector]'s versions are [vclock.Clock] messages, decoded as such (as
// its durable versions are); another's are checked by DeltaSinceBinary,
// whose result is dropped.
func checkVersion(obj DeltaObject, v []byte, lim codec.Limits) error {
	if _, isC := obj.(Collector); isC {
		_, err := vclock.UnmarshalClock(v, lim)
		return err
	}
	_, err := obj.DeltaSinceBinary(v)
	return err
}

// chunksDue returns the chunks of p's catch-up to send at this tick: those
// never sent, and those sent RetransmitTicks ago and not acknowledged, at
// most chunkWindow; a chunk to be merged in order only once every chunk
// before it is acknowledged. A catch-up that the peer, heard from, has not
// acknowledged any of for long (it keeps refusing a chunk) is given up,
// and the peer asked for its digest again. The caller holds r.mu.
func (r *Replica) chunksDue(p *peer) []*envelope {
	o := p.out
	if o == nil {
		return nil
	}
	// Given up only if the peer is heard from all along without
	// acknowledging: an unreachable peer is waited for, so that a long
	// partition does not make the catch-up start over.
	if p.heardTick+1 >= r.ticks && o.progress+1 < r.ticks {
		o.unacked++ // a tick in which the peer spoke and acknowledged nothing
	}
	if o.unacked > stallRetransmits*r.cfg.RetransmitTicks {
		r.log.Warn("catch-up in chunks stalled: starting over", "peer", string(p.id), "chunks_left", o.left)
		p.out = nil
		p.awaitDig, p.catchUpSent = true, 0
		return nil
	}
	var out []*envelope
	allAcked := true // every chunk before the current one is acknowledged
	for i := range o.chunks {
		c := &o.chunks[i]
		if c.acked {
			continue
		}
		before := allAcked
		allAcked = false
		if c.sentTick != 0 && r.ticks-c.sentTick < uint64(r.cfg.RetransmitTicks) {
			continue
		}
		if c.ordered && !before {
			continue
		}
		c.sentTick = r.ticks
		out = append(out, &envelope{
			StatesUpTo: o.upTo, CatchUp: o.num,
			HasChunk: true, ChunkIndex: uint64(i), ChunkCount: uint64(len(o.chunks)), Ordered: c.ordered, Parts: c.parts,
		})
		if len(out) == chunkWindow {
			break
		}
	}
	return out
}

const (
	// chunkWindow bounds the chunks sent to a peer at one tick.
	chunkWindow = 16
	// stallRetransmits is how many retransmission periods a catch-up in
	// chunks may go without an acknowledgement before it is given up.
	stallRetransmits = 20
)

// Receive takes in a message that the peer from sent through its
// Transport. It applies what the message carries, and records what to
// answer at the next [Replica.Tick]. The message may be a duplicate, late
// or out of order.
//
// A message that is truncated, corrupt, too large, of a future format
// version, from an unknown peer or misaddressed is refused whole: the error
// says why, and nothing changes. Within a valid message each op and state
// is applied or refused on its own: an op for an unknown object, of the
// wrong type, or carrying a timestamp too far ahead of this replica's clock
// is refused and not acknowledged, so the peer sends it again later (a
// skewed op is accepted once the clocks allow). Every refusal is counted
// in [Replica.Stats].
//
// Every message ends with a CRC-32C of its bytes, checked first: a
// message damaged in transit is refused as malformed. Ops are applied
// through [OriginChecker] where the object has it, so a peer's op carrying
// another replica's write is refused ([ReasonForeignWrite]); an
// acknowledgement of ops or a catch-up never sent is refused whole
// ([ErrBadAck]), and so is a message of another run of the peer, one heard
// from before, sent longer before the latest message of the peer than
// clocks may differ (the clock's maximum offset): late, or delivered again,
// it would otherwise make the replica start over with the peer
// ([ErrStale]).
// Receive does not keep msg: the host may reuse it once Receive returns.
func (r *Replica) Receive(ctx context.Context, from ReplicaID, msg []byte) error {
	if len(msg) > r.cfg.MaxMessageBytes {
		err := fmt.Errorf("%w: %d bytes from %s, limit %d", ErrTooLarge, len(msg), from, r.cfg.MaxMessageBytes)
		r.countRefusal(from, err)
		r.tellLimit(from)
		return err
	}
	env, err := decodeEnvelope(msg, r.limit)
	if err != nil {
		err = fmt.Errorf("crdt: message from %s: %w", from, err)
		r.countRefusal(from, err)
		return err
	}
	if env.From != from {
		err := fmt.Errorf("%w: message from %s claims to be from %s", ErrMisaddressed, from, env.From)
		r.countRefusal(from, err)
		return err
	}
	if env.Broadcast {
		i, found := slices.BinarySearchFunc(env.Recipients, r.id, func(rc recipient, id ReplicaID) int {
			return strings.Compare(string(rc.ID), string(id))
		})
		if !found {
			err := fmt.Errorf("%w: broadcast from %s does not name %s", ErrMisaddressed, from, r.id)
			r.countRefusal(from, err)
			return err
		}
		rc := env.Recipients[i]
		env.AckInc, env.AckSeq, env.CatchUpAck = rc.AckInc, rc.AckSeq, rc.CatchUpAck
	} else if env.To != r.id {
		err := fmt.Errorf("%w: message from %s is for %s", ErrMisaddressed, from, env.To)
		r.countRefusal(from, err)
		return err
	}

	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	p := r.peers[from]
	if p == nil {
		r.mu.Unlock()
		err := fmt.Errorf("%w: %s", ErrUnknownPeer, from)
		r.countRefusal(from, err)
		return err
	}
	if env.AckInc == r.incarnation && (env.AckSeq > p.shipped || env.CatchUpAck > p.catchUps) {
		// Acknowledging ops or a catch-up never sent: a bug or a forgery.
		// Believing it would leave the peer without them. Whatever run of
		// the peer sent it (a new one too: what this run shipped to the
		// peer only grows, and a peer removed and added again starts at
		// every op made by then), nothing past what was shipped can have
		// reached it.
		p.refuse(ReasonAck)
		r.mu.Unlock()
		return fmt.Errorf("%w: %s acknowledged ops up to %d and catch-up %d; sent up to %d and %d",
			ErrBadAck, from, env.AckSeq, env.CatchUpAck, p.shipped, p.catchUps)
	}
	if err := p.checkChunkAcks(env, r.incarnation); err != nil {
		p.refuse(ReasonAck)
		r.mu.Unlock()
		return fmt.Errorf("%w: %s: %w", ErrBadAck, from, err)
	}
	if _, seen := p.past[env.Incarnation]; seen && r.clk.MaxOffset() > 0 && !env.Now.IsZero() && env.Now.Wall < p.newest.Wall-int64(r.clk.MaxOffset()) {
		// A message of another run of the peer, one this replica took
		// messages of before, sent longer before the latest message heard
		// from the peer than clocks may differ (delayed, or delivered
		// again): taking it would make the replica start over with the
		// peer, and a stream of them would keep a catch-up from ever
		// ending. A run that is still going (a second process under the
		// peer's name) sends messages as recent as the others; a new run,
		// whatever its incarnation, is not one seen before.
		p.refuse(ReasonStale)
		r.mu.Unlock()
		return fmt.Errorf("%w: a message of %s's run %d, %v older than the latest heard from it (run %d)",
			ErrStale, from, env.Incarnation, time.Duration(p.newest.Wall-env.Now.Wall), p.rinc)
	}
	changed, errs := r.apply(p, env, len(msg))
	answer := p.needAck || p.owedDig || p.hasTheir || p.wantDig
	cs := r.takeConflicts()
	saveVotes := r.led.unsaved
	r.led.unsaved = false
	r.mu.Unlock()

	r.passConflicts(cs)

	if r.cfg.OnRemoteUpdate != nil {
		for _, name := range changed {
			r.cfg.OnRemoteUpdate(name)
		}
	}
	if saveVotes && r.cfg.OnSaveNeeded != nil {
		r.cfg.OnSaveNeeded()
	}
	if answer {
		r.poke()
	}
	return errors.Join(errs...)
}

// apply takes in a decoded message from p. The caller holds r.mu.
func (r *Replica) apply(p *peer, env *envelope, size int) (changed []string, errs []error) {
	r.started = true
	p.heardTick = r.ticks
	p.stats.msgsRecv++
	p.stats.bytesRecv += uint64(size)
	p.stats.lastContact = r.clk.Physical()
	tookNow := false
	if !env.Now.IsZero() {
		// Keep clocks moving together; a skewed sender's clock is simply
		// not followed (its data is judged op by op), nor taken as the
		// latest reading of the peer's.
		if _, err := r.clk.Update(env.Now); err == nil {
			tookNow = true
			if env.Now.Compare(p.newest) > 0 {
				p.newest = env.Now
			}
		}
	}

	firstContact := false
	if env.Incarnation != p.rinc {
		// First contact, or the peer restarted (possibly from an older
		// snapshot): forget what it had acknowledged unless this message
		// says it again, and exchange digests so it gets back what it lost.
		//
		// Any other incarnation counts, lower ones too: a message of an
		// earlier run still in flight, a second process started under the
		// peer's name by mistake, or a forged incarnation makes the
		// replica start over with the peer once more, never refuse it for
		// good. Every run writes under a writer of its own (see
		// vclock.Writer), so the data of any run is safe to merge.
		first := p.rinc == 0
		firstContact = first
		p.switchIncarnation(env.Incarnation)
		r.reportVersions(p)
		p.versions = nil // it may have lost state: its old versions overstate it
		// A digest of its earlier incarnation may overstate it too: a
		// delta computed from it would leave out what it lost.
		p.theirDig, p.hasTheir = nil, false
		p.out = nil    // computed from such a digest
		p.frozen = nil // likewise
		p.acked = 0
		if env.AckInc == r.incarnation {
			p.acked = min(env.AckSeq, p.shipped)
		}
		p.sent = p.acked
		p.behindSince = 0
		if p.acked+1 < r.firstSeq() {
			// It lacks ops that are no longer logged; when they were made
			// is not known, so count from now.
			p.behindSince = r.clk.Physical()
		}
		// Only a confirmed catch-up settles what it may have lost.
		p.awaitDig, p.catchUpSent = true, 0
		if first && env.AckInc == r.incarnation {
			// The peer heard from this run before it was added: it was
			// removed and added again. It counts ops of its own as
			// applied here that this replica no longer knows it applied,
			// and will not send them again: it owes a catch-up, which
			// this replica's digest asks for.
			p.owedDig = true
		}
		if !first {
			r.log.Info("peer restarted", "peer", string(p.id))
			// The peer may have come back without what it owed the others
			// (an empty disk, an older backup): writes of its earlier run
			// that this replica holds and another peer lacks would then
			// reach that peer from no one. Serve every other peer a
			// catch-up from its digest.
			//
			// A catch-up already on its way to such a peer was computed
			// before this replica could hold what the restarted peer now
			// brings it (its writes restored from a snapshot, say): it
			// no longer settles anything, and the peer is asked for its
			// digest again once it is merged.
			for _, q := range r.peers {
				if q != p {
					q.awaitDig, q.catchUpSent = true, 0
				}
			}
		}
	} else if env.AckInc == r.incarnation {
		// Receive refused acknowledgements of what was never sent.
		if env.AckSeq > p.acked {
			p.acked = env.AckSeq
			p.ackTick = r.ticks
			if p.sent < p.acked {
				p.sent = p.acked
			}
		}
		if p.awaitDig && p.catchUpSent != 0 && env.CatchUpAck == p.catchUpSent {
			p.awaitDig, p.catchUpSent = false, 0 // the peer has merged it
		}
		if o := p.out; o != nil {
			if env.CatchUpAck >= o.num {
				p.out = nil // merged whole
			} else if env.ChunkAckOf == o.num {
				for _, i := range env.ChunkAcks {
					if c := &o.chunks[i]; !c.acked {
						c.acked = true
						c.parts = nil // never sent again: let it go
						o.left--
						o.bytesLeft -= c.size
						o.progress, o.unacked = r.ticks, 0
					}
				}
			}
		}
	}
	r.truncateLog()

	if env.HasDigest {
		// The limit the peer's digest (or this part of it) names says how
		// large a message it takes, nothing of its data: it is taken even
		// while the ledgers differ. Were it set aside with the data, a
		// peer of smaller messages whose ledger lacks an entry would
		// refuse every message too large for it, the entry's among them,
		// for good.
		for _, d := range env.Digest {
			if n, ok := limitOf(d); ok && n != p.limit {
				r.learnLimit(p, n)
			}
		}
	}
	if !r.retireIn(p, env.Retire, env.Incarnation) {
		// The two ledgers of retired writers differ, so the same dot may
		// have two names: the message's data waits until they agree (its
		// ops are not acknowledged, and come again).
		return nil, nil
	}

	note := func(name string) {
		if !slices.Contains(changed, name) { // a message touches few objects
			changed = append(changed, name)
		}
	}
	refuse := func(err error) {
		p.refuse(reasonFor(err))
		errs = append(errs, err)
	}

	for i, o := range env.Ops {
		seq := env.FirstSeq + uint64(i)
		if p.received(seq) || (seq > p.recv+1 && len(p.above) >= maxAbove) {
			continue
		}
		obj, ok := r.objects[o.Object]
		if !ok {
			refuse(fmt.Errorf("%w: op %d from %s for %q", ErrUnknownObject, seq, p.id, o.Object))
			continue
		}
		if r.namesRetired(o.Op) {
			// Made before a writer it names was retired: its dots have
			// other names now. The peer's state brings its effect, from
			// this replica's digest, sent until it does.
			p.markReceived(seq)
			p.owedDig = true
			p.leftTo, p.leftToTick = max(p.leftTo, seq), r.ticks
			continue
		}
		ch, err := applyFrom(obj, o.Op, p.id)
		if err != nil {
			refuse(fmt.Errorf("crdt: op %d from %s on %q: %w", seq, p.id, o.Object, err))
			continue
		}
		p.markReceived(seq)
		p.stats.opsApplied++
		if ch {
			note(o.Object)
		}
		// Kept for the journal even if the value did not change: the
		// op still changed what the object has seen (a remove of an
		// element never held here), and changes received later may
		// build on it (a catch-up since the version it raised).
		r.keepRemote(o.Object, o.Op, remoteOp)
	}
	if len(env.Ops) > 0 {
		p.needAck = true
	}
	if firstContact && (len(changed) > 0 || p.late) {
		// Ops of a run of the peer this replica had not heard from: the
		// run may be over (a message of it delivered late, or again, to a
		// replica that restarted or added the peer since), and its ops
		// then reach the other peers from no one. Or the first run heard
		// from a peer added while this replica ran: it may follow runs of
		// the peer that this replica heard from before it removed the
		// peer, whose writes it holds and the others may lack, as after a
		// restart. Serve them a catch-up from their digests, as when a
		// peer restarts.
		for _, q := range r.peers {
			if q != p {
				q.awaitDig, q.catchUpSent = true, 0
			}
		}
	}

	if tookNow && env.Now.Compare(p.runNow) > 0 {
		p.runNow = env.Now
	}

	if env.WantDigest {
		p.owedDig = true
	}
	if env.HasDigest && env.DigestParts > 1 {
		if err := p.digestTotalDisagrees(env); err != nil {
			refuse(err)
			env.HasDigest = false
		} else {
			env.HasDigest = p.gatherDigest(env, r.objects)
		}
	}
	if env.HasDigest {
		for _, d := range env.Digest {
			if n, ok := limitOf(d); ok {
				r.learnLimit(p, n)
			}
		}
		p.theirDig = env.Digest
		p.hasTheir = true
		p.frozen = nil // copied for an older digest
		// Only the objects registered here are collected: the versions
		// of others are not kept (the digest may name any number).
		p.versions = make(map[string][]byte, min(len(env.Digest), len(r.objects)))
		p.versionsBy = ""
		// A durable version that does not decode is refused, and not
		// kept: collection would fail on it at every digest.
		taken := clock.Timestamp{} // unknown: a skewed reading orders nothing
		if tookNow {
			taken = env.Now
		}
		for _, d := range env.Digest {
			if w, ok := writerOf(d, p.id); ok {
				p.versionsBy = w
				r.noteRun(p, w, taken)
			}
			obj, ok := r.objects[d.Object]
			if !ok || d.Durable == nil {
				continue
			}
			if _, isC := obj.(Collector); isC {
				if _, err := vclock.UnmarshalClock(d.Durable, r.limit); err != nil {
					refuse(fmt.Errorf("crdt: durable version from %s for %q: %w", p.id, d.Object, err))
					continue
				}
			}
			p.versions[d.Object] = d.Durable
		}
		// The objects this digest shows diverged, apart from those an
		// earlier digest did, whose whole states are still to go.
		owed := p.diverged
		p.diverged = nil
		r.compareFingerprints(p, env.Digest)
		p.heal = p.diverged
		for name := range owed {
			if p.diverged == nil {
				p.diverged = map[string]bool{}
			}
			p.diverged[name] = true
		}
		r.compareReported(p, env.Digest)
		r.collect(p)
	}

	if (len(env.States) > 0 || env.StatesUpTo > 0 || env.HasChunk) && env.AckInc != r.incarnation {
		// Catch-up states computed from the digest of an earlier
		// incarnation of this replica: they may leave out what it lost in
		// the restart. The sender learns of the restart and asks again.
		refuse(fmt.Errorf("%w: catch-up states from %s computed for an earlier incarnation of this replica", ErrStale, p.id))
	} else if !env.HasChunk && (len(env.States) > 0 || env.StatesUpTo > 0) {
		// The states of one message take at most the limit decompressed
		// together, as the parts of a chunk do (see unpackParts): over
		// it, none is merged, and the catch-up is not confirmed.
		parts := make([]partEntry, len(env.States))
		for i, s := range env.States {
			parts[i] = partEntry{Object: s.Object, Data: s.State}
		}
		plain, unpacked, err := r.unpackParts(parts)
		if err != nil {
			refuse(fmt.Errorf("crdt: catch-up %d from %s: %w", env.CatchUp, p.id, err))
			p.needAck = true
			return changed, errs
		}
		ok := true
		for i, s := range env.States {
			obj, found := r.objects[s.Object]
			if !found {
				refuse(fmt.Errorf("%w: state from %s for %q", ErrUnknownObject, p.id, s.Object))
				ok = false
				continue
			}
			state, err := plain[i], unpacked[i]
			ch := false
			if err == nil {
				ch, err = r.mergeState(p, s.Object, obj, state)
			}
			if err != nil {
				refuse(fmt.Errorf("crdt: state from %s for %q: %w", p.id, s.Object, err))
				ok = false
				continue
			}
			if ch {
				note(s.Object)
			}
			r.keepRemote(s.Object, s.State, remoteState) // even so, as an op

		}
		if ok {
			p.raiseRecv(env.StatesUpTo)
			p.caughtUp(env.StatesUpTo)
			p.catchUpGot = max(p.catchUpGot, env.CatchUp)
		}
		p.needAck = true
	}
	if env.HasChunk && env.AckInc == r.incarnation {
		r.applyChunk(p, env, note, refuse)
	}
	return changed, errs
}

// mergeState merges a state of the named object received from p: by
// HealBinary if the object is a [Healer] and p's last digest showed the
// object diverged (p.heal), by MergeBinary otherwise.
//
// Why the receiver's own flag, and not a mark from the sender: a
// divergence shows on both sides. The sender sends the whole state
// because its comparison of this replica's digest showed the object at
// one version with another fingerprint; this replica's comparison of the
// sender's digest shows the same, since both compare the same two
// contents. Replicas ask each other for digests alike (anti-entropy, and
// after every gap or restart), and a catch-up goes out with the digest
// its sender owes, which the receiver compares before it merges the
// states beside it. If the state arrives first all the same, it is merged
// as usual and heals nothing; the contents still differ at one version,
// the next exchange of digests shows it on both sides again (and counts
// it again), and the flag, set by the sender's digest, stays set until
// the sender's next digest: in a quiet moment that digest shows the
// divergence too, and the whole state that follows it is healed. So no
// mark on the wire is needed, and older releases, whose decoders refuse
// fields they do not know, keep talking to this one.
//
// The flag is not cleared by the heal: states of the object that arrive
// before the peer's next digest (deltas, say) are healed too. That costs
// more than a merge (see ormap.Map.Heal) and gives the same on content
// that agrees. The journal keeps the state as any other, and a replay
// after a restart merges it as usual: if that leaves the divergence, it
// is found and healed again.
func (r *Replica) mergeState(p *peer, name string, obj Object, state []byte) (bool, error) {
	if h, ok := obj.(Healer); ok && p.heal[name] {
		r.log.Debug("healing a diverged object with the peer's state", "object", name, "peer", string(p.id))
		return h.HealBinary(state)
	}
	return obj.MergeBinary(state)
}

// applyChunk merges a chunk of the peer's catch-up, unless it was merged
// before, or must wait for the chunks before it; it is acknowledged
// either way once merged. Once every chunk of the catch-up is merged, the
// catch-up counts as merged, as one sent in a single message does. A
// chunk of an older catch-up is dropped: its sender has moved on. The
// caller holds r.mu.
func (r *Replica) applyChunk(p *peer, env *envelope, note func(string), refuse func(error)) {
	in := &p.in
	switch {
	case env.CatchUp <= p.catchUpGot || env.CatchUp < in.num:
		p.needAck = true // merged whole already, or superseded
		return
	case env.CatchUp > in.num:
		*in = inCatchUp{num: env.CatchUp, upTo: env.StatesUpTo, count: env.ChunkCount}
		p.chunkAcks = nil
	case env.ChunkCount != in.count || env.StatesUpTo != in.upTo:
		refuse(fmt.Errorf("crdt: chunk %d of catch-up %d from %s claims %d chunks up to op %d, an earlier one %d up to %d",
			env.ChunkIndex, env.CatchUp, p.id, env.ChunkCount, env.StatesUpTo, in.count, in.upTo))
		return
	}
	p.needAck = true
	if in.has(env.ChunkIndex) {
		p.ackChunk(env.ChunkIndex)
		return
	}
	if env.Ordered && in.prefix < env.ChunkIndex {
		return // merged once every chunk before it is; sent again until then
	}
	plain, unpacked, err := r.unpackParts(env.Parts)
	if err != nil {
		refuse(fmt.Errorf("crdt: chunk %d of catch-up %d from %s: %w", env.ChunkIndex, env.CatchUp, p.id, err))
		return // not acknowledged: sent again, if it was ever to be taken
	}
	ok := true
	for i, pe := range env.Parts {
		obj, found := r.objects[pe.Object]
		if !found {
			refuse(fmt.Errorf("%w: chunk part from %s for %q", ErrUnknownObject, p.id, pe.Object))
			ok = false
			continue
		}
		var ch bool
		data, err := plain[i], unpacked[i]
		switch {
		case err != nil:
		case pe.Part:
			c, isC := obj.(Chunker)
			if !isC {
				refuse(fmt.Errorf("crdt: chunk part from %s for %q, which cannot take parts: %w", p.id, pe.Object, codec.ErrKind))
				ok = false
				continue
			}
			if h, isH := obj.(ChunkHealer); isH && p.heal[pe.Object] {
				// A part of the whole state that a divergence made the
				// peer send (see mergeState).
				r.log.Debug("healing a diverged object with a part of the peer's state", "object", pe.Object, "peer", string(p.id))
				ch, err = h.HealChunkBinary(data)
			} else {
				ch, err = c.MergeChunkBinary(data)
			}
		default:
			ch, err = r.mergeState(p, pe.Object, obj, data)
		}
		if err != nil {
			refuse(fmt.Errorf("crdt: chunk part from %s for %q: %w", p.id, pe.Object, err))
			ok = false
			continue
		}
		if ch {
			note(pe.Object)
		}
		kind := remoteState
		if pe.Part {
			kind = remotePart
		}
		r.keepRemote(pe.Object, pe.Data, kind) // even so, as an op
	}
	if !ok {
		return // not acknowledged: sent again
	}
	in.set(env.ChunkIndex)
	p.ackChunk(env.ChunkIndex)
	if in.merged == in.count {
		p.raiseRecv(in.upTo)
		p.caughtUp(in.upTo)
		p.catchUpGot = max(p.catchUpGot, in.num)
	}
}

// unpackParts returns the plain forms of the parts of a chunk (see
// unpack), with, for each part that cannot be decompressed, why. Together
// they are held to Limits.MaxBytes, as a sender cuts its chunks (see
// catchUp): a compressed part may expand up to the limit, MaxRatio times
// its own size, and a chunk may carry any number of parts, so a message
// within the limit could otherwise make this replica decompress and merge
// many times it. A chunk whose parts exceed it is refused whole: err says
// so, and what follows the part that reached the limit is not
// decompressed.
func (r *Replica) unpackParts(parts []partEntry) (plain [][]byte, errs []error, err error) {
	plain = make([][]byte, len(parts))
	errs = make([]error, len(parts))
	left := r.limit.MaxBytes
	for i, pe := range parts {
		if left <= 0 {
			return nil, nil, fmt.Errorf("%w: parts %d to %d beyond the %d bytes its parts may hold in all", codec.ErrLimit, i, len(parts)-1, r.limit.MaxBytes)
		}
		lim := r.limit
		lim.MaxBytes = left
		data, err := codec.Decompress(pe.Data, lim)
		if errors.Is(err, codec.ErrLimit) || len(data) > left {
			if err == nil {
				err = fmt.Errorf("%w: %d bytes", codec.ErrLimit, len(data))
			}
			return nil, nil, fmt.Errorf("part %d for %q, over what remains of the %d bytes its parts may hold in all: %w", i, pe.Object, r.limit.MaxBytes, err)
		}
		left -= len(data)
		plain[i], errs[i] = data, err
	}
	return plain, errs, nil
}

// ackChunk queues the acknowledgement of chunk i of the peer's catch-up,
// unless too many are queued (the chunk is then sent again, and
// acknowledged then).
func (p *peer) ackChunk(i uint64) {
	if len(p.chunkAcks) < 4*maxChunkAcks {
		p.chunkAcks = append(p.chunkAcks, i)
	}
}

// checkChunkAcks reports acknowledgements of chunks never sent: of a
// catch-up not made yet, or of a chunk the catch-up does not have.
// Acknowledgements of an earlier catch-up, given up since, are no
// matter.
func (p *peer) checkChunkAcks(env *envelope, inc uint64) error {
	if len(env.ChunkAcks) == 0 || env.Incarnation != p.rinc || env.AckInc != inc {
		return nil
	}
	if env.ChunkAckOf > p.catchUps {
		return fmt.Errorf("acknowledged chunks of catch-up %d; sent up to %d", env.ChunkAckOf, p.catchUps)
	}
	if p.out != nil && env.ChunkAckOf == p.out.num {
		for _, i := range env.ChunkAcks {
			if i >= uint64(len(p.out.chunks)) {
				return fmt.Errorf("acknowledged chunk %d of catch-up %d, of %d chunks", i, env.ChunkAckOf, len(p.out.chunks))
			}
		}
	}
	return nil
}

// digestTotalDisagrees reports a part of the round of the peer's digest
// being gathered that gives the round another number of parts than its
// parts gathered so far do. The sender cuts each round once, and numbers
// its rounds anew in each of its runs (whose digests start over here: see
// switchIncarnation), so such a part is forged or corrupt: it is refused,
// and the round goes on being gathered, rather than start over without
// the parts gathered.
func (p *peer) digestTotalDisagrees(env *envelope) error {
	g := &p.digIn
	if g.parts == 0 || g.done || env.DigestRound != g.round || env.DigestParts == g.parts {
		return nil
	}
	return fmt.Errorf("crdt: digest part %d of round %d from %s claims %d parts, the round's others %d",
		env.DigestPart, env.DigestRound, p.id, env.DigestParts, g.parts)
}

// digestRoundsBack is how many rounds before the one being gathered a
// part of the peer's digest may be and still count as older (see
// gatherDigest).
const digestRoundsBack = 1 << 10

// gatherDigest takes in a part of the peer's digest, keeping the entries
// of the objects registered here (the others play no part), and reports
// whether the digest is now whole, in which case env.Digest holds it.
//
// A part of a newer round starts over: the peer has moved on. A part of
// an older round, or of the round last taken in whole, is dropped: it was
// delayed or delivered again, and starting over on it would throw away
// the parts of the newer round gathered so far; a link that reorders
// steadily would keep every digest of the peer from completing. The
// sender numbers its rounds to this replica one by one from 1 in each of
// its runs (a new run of the peer, with a new incarnation, starts here
// from nothing: see switchIncarnation), so a round is older if it is at
// most digestRoundsBack behind, counting modulo 2^64: a round number far
// ahead of the ones the peer sends (forged, or corrupt past the
// checksums) is taken as newer by the peer's next round, and keeps its
// digests from completing for no more than digestRoundsBack rounds.
// A dropped part is no fault of the peer, and is not counted as refused.
func (p *peer) gatherDigest(env *envelope, objects map[string]Object) bool {
	g := &p.digIn
	known := g.parts > 0 || g.done
	if back := g.round - env.DigestRound; known && (back > 0 && back < digestRoundsBack || back == 0 && g.done) {
		return false // older, or taken in already
	}
	if !known || env.DigestRound != g.round || env.DigestParts != g.parts {
		*g = digestIn{round: env.DigestRound, parts: env.DigestParts, got: inCatchUp{count: env.DigestParts}}
	}
	if g.got.has(env.DigestPart) {
		return false
	}
	g.got.set(env.DigestPart)
	for _, d := range env.Digest {
		name := d.Object
		if n, _, _, ok := gapOf(d); ok {
			name = n // a gap entry is kept with its object
		} else if n, _, _, ok := contentOf(d); ok {
			name = n // and so is a content entry
		}
		_, ok := objects[name]
		if _, limit := limitOf(d); (ok || limit || d.Object == writerName) && !g.named[d.Object] {
			if g.named == nil {
				g.named = map[string]bool{}
			}
			g.named[d.Object] = true
			g.entries = append(g.entries, d)
		}
	}
	if g.got.merged < g.parts {
		return false
	}
	slices.SortFunc(g.entries, func(a, b digestEntry) int { return strings.Compare(a.Object, b.Object) })
	env.Digest = g.entries
	p.digIn = digestIn{round: g.round, done: true}
	return true
}

// compareFingerprints checks the peer's digest against this replica's
// objects: an object at the same version on both sides, holding the same
// updates past that version on both (none, or the same ones past a gap:
// see [GapHasher]), must have the same content. If the fingerprints
// differ, or agree while the content fingerprints differ (see
// [ContentFingerprinter]), the replicas have diverged (a bug, a
// corruption that got past the checksums, one change made twice under
// one identity, or a peer that sent what it should not have): the
// divergence is counted and logged, and the peer's next catch-up carries
// the object's whole state, so that whatever a merge (or a heal) can heal
// is healed. The caller holds r.mu.
//
// Why equal versions and equal gap hashes mean equal content: the
// version and the updates past it are together the updates the object
// has seen, and a type's state is a function of those (a join keeps what
// either side holds unless the other has seen it and removed it). Where
// that needs care, the types' GapHash says so: a dot seen only as removed
// (a ghost, whose update is not applied) is hashed apart from the dots
// applied, so equal hashes mean equal updates applied; a dot set aside by
// a part of a catch-up makes GapHash say false, and nothing is compared
// until the catch-up's other parts come. Drop records and horizons are not
// content (fingerprints leave them out: replicas collect them at
// different times); a retired writer's dots are renamed alike everywhere,
// and replicas whose ledgers differ exchange no data until they agree.
func (r *Replica) compareFingerprints(p *peer, digest []digestEntry) {
	var gapped map[string][2]uint64     // the peer's gap entries: gap hash, fingerprint
	var contents map[string]peerContent // the peer's content entries
	for _, d := range digest {
		if name, h, fp, ok := gapOf(d); ok {
			if gapped == nil {
				gapped = map[string][2]uint64{}
			}
			gapped[name] = [2]uint64{h, fp}
		} else if name, h, cfp, ok := contentOf(d); ok {
			if contents == nil {
				contents = map[string]peerContent{}
			}
			wall, atWall := contentWall(d)
			contents[name] = peerContent{gaps: h, cfp: cfp, wall: wall, atWall: atWall}
		}
	}
	for _, d := range digest {
		if strings.HasPrefix(d.Object, "\x00") {
			continue // a gap or content entry
		}
		if d.Version == nil {
			if tc, ok := contents[d.Object]; ok && d.HasFingerprint {
				r.compareWhole(p, d, tc)
			}
			continue
		}
		theirGaps, theirs := uint64(noGaps), d.Fingerprint
		if !d.HasFingerprint {
			g, ok := gapped[d.Object]
			if !ok {
				continue // no fingerprint: gaps the peer cannot name
			}
			theirGaps, theirs = g[0], g[1]
		}
		obj, ok := r.objects[d.Object]
		if !ok {
			continue
		}
		f, isF := obj.(Fingerprinter)
		dobj, isD := obj.(DeltaObject)
		if !isF || !isD {
			continue
		}
		if myGaps, ok := gapHash(obj); !ok || myGaps != theirGaps {
			continue // different updates past the version: different content is no divergence
		}
		mine := f.Fingerprint()
		// If the fingerprints agree, the content fingerprints may not
		// (see ContentFingerprinter), where both sides have one.
		byContent := mine == theirs
		c, isC := obj.(ContentFingerprinter)
		tc, sent := contents[d.Object]
		if byContent && (!isC || !sent || tc.gaps != theirGaps) {
			continue
		}
		v, err := dobj.VersionBinary()
		if err != nil || !bytes.Equal(v, d.Version) {
			continue // different versions: replication is still under way
		}
		if byContent {
			mine := c.ContentFingerprint
			if a, ok := c.(ContentFingerprinterAt); ok && tc.atWall {
				if !r.nearClock(p, tc.wall) {
					continue
				}
				mine = func() uint64 { return a.ContentFingerprintAt(tc.wall) }
			}
			if mine() == tc.cfp {
				continue // computed last: it may cost a pass over the object
			}
		}
		p.stats.divergences++
		if p.diverged == nil {
			p.diverged = map[string]bool{}
		}
		p.diverged[d.Object] = true
		r.log.Warn("replicas diverged: same version, different content", "object", d.Object, "peer", string(p.id),
			"fingerprint", mine, "peer_fingerprint", theirs, "gaps", theirGaps != noGaps, "by_content", byContent)
	}
}

// compareWhole checks the digest entry d of an object without a version
// (not a [DeltaObject], such as register.LWW), with the peer's content
// entry tc for it, against this replica's object: replicas that hold one
// write hold one fingerprint (the LWW register's hashes the winning
// write's stamp), and must then hold one content. Equal fingerprints with
// different content fingerprints are a divergence (a peer sent two
// replicas two values under one stamp), counted and healed as
// compareFingerprints does; different fingerprints are replication under
// way, which the whole states exchanged at every catch-up settle. The
// caller holds r.mu.
func (r *Replica) compareWhole(p *peer, d digestEntry, tc peerContent) {
	obj, ok := r.objects[d.Object]
	if !ok {
		return
	}
	if _, isD := obj.(DeltaObject); isD {
		return
	}
	c, isC := obj.(ContentFingerprinter)
	if !isC || tc.gaps != noGaps || c.Fingerprint() != d.Fingerprint {
		return
	}
	if h, ok := gapHash(obj); !ok || h != noGaps {
		return
	}
	if c.ContentFingerprint() == tc.cfp {
		return
	}
	p.stats.divergences++
	if p.diverged == nil {
		p.diverged = map[string]bool{}
	}
	p.diverged[d.Object] = true
	r.log.Warn("replicas diverged: same write, different content", "object", d.Object, "peer", string(p.id),
		"fingerprint", d.Fingerprint)
}

// nearClock reports whether wall, the wall time of a content entry of
// the peer p (see [ContentFingerprinterAt]), is within twice the clock's
// maximum offset of this replica's clock (the later of its physical time
// and of its last timestamp, as an object's own wall time is), or of the
// latest clock reading of p's taken from its messages (p.newest). An
// honest peer's is: clocks stay within the offset, and a digest names the
// time its message was sent at, so one a message's latency old (a slow
// link, a queue) is near the reading its own message carried. Another is
// not compared: computed at a time of the peer's choosing, a content
// fingerprint costs a pass over the object whenever an expiry lies
// between that time and the last one asked, so a peer naming one time
// after another could make every digest cost a pass. p.newest only moves
// forward, and not past this replica's clock by more than the offset
// (see apply), so the peer's choice stays within two windows of four
// offsets. A digest that old cannot name keys this replica has collected
// since at the version it holds (see lwwmap.Map.CollectVersions): a key
// is collected once every replica holds a write stamped past its expiry,
// and a peer that held it at the digest's time had a clock past the
// expiry too. Without a maximum offset (clock checks off) every time is
// compared.
func (r *Replica) nearClock(p *peer, wall int64) bool {
	off := int64(r.clk.MaxOffset())
	if off <= 0 || off > math.MaxInt64/8 {
		return true
	}
	near := func(t int64) bool { return wall >= t-2*off && wall <= t+2*off }
	if near(max(r.clk.Physical(), r.clk.Last().Wall)) {
		return true
	}
	return !p.newest.IsZero() && p.newest.Wall > math.MinInt64/2 && near(p.newest.Wall)
}

// peerContent is a peer's content entry (see contentEntry).
type peerContent struct {
	gaps, cfp uint64
	wall      int64 // the wall time cfp is at, if atWall
	atWall    bool
}

// versionAndOwn decodes v, a version a peer reported of the object c, and
// c's own version. The caller holds r.mu.
func (r *Replica) versionAndOwn(v []byte, c Collector) (was, own vclock.Clock, err error) {
	if was, err = vclock.UnmarshalClock(v, r.limit); err != nil {
		return
	}
	mine, err := c.VersionBinary()
	if err != nil {
		return
	}
	own, err = vclock.UnmarshalClock(mine, r.limit)
	return
}

// reportVersions keeps the durable versions p reported in its last digest
// among those it reported before it restarted (see peer.reported), as its
// incarnation changes. Only what was collected here on the strength of
// them matters: versions of objects that collect nothing here are not
// kept, and the others are held to this replica's own version (joined
// with what was kept before, they could grow with every restart of the
// peer, by whatever writers its digests name). Metadata collected on
// the strength of a peer's version is within that version and the
// object's own when it was collected, which the object's later versions
// cover (a retirement renames the kept versions as it does the object's),
// so the meet still covers all that was collected, and compareReported,
// which judges by the meet with the object's version, judges alike. The
// caller holds r.mu.
func (r *Replica) reportVersions(p *peer) {
	for name, v := range p.versions {
		c, ok := r.objects[name].(Collector)
		if !ok {
			continue
		}
		was, own, err := r.versionAndOwn(v, c)
		if err != nil {
			continue // nothing to judge by, as compareReported would find
		}
		was.Meet(own)
		if was.IsZero() {
			continue // nothing collected on its strength
		}
		if b, err := was.MarshalBinary(); err == nil {
			p.report(name, b, r.limit)
		}
	}
}

// report adds v to the versions of the object name that the peer
// reported before it restarted (see peer.reported): joined to one held
// already, since the replica may have collected on the strength of
// either.
func (p *peer) report(name string, v []byte, lim codec.Limits) {
	if p.reported == nil {
		p.reported = map[string][]byte{}
	}
	old, ok := p.reported[name]
	if !ok {
		p.reported[name] = v
		return
	}
	was, err := vclock.UnmarshalClock(old, lim)
	if err != nil {
		p.reported[name] = v
		return
	}
	now, err := vclock.UnmarshalClock(v, lim)
	if err != nil {
		return
	}
	was.Merge(now)
	if b, err := was.MarshalBinary(); err == nil {
		p.reported[name] = b
	}
}

// compareReported checks the peer's digest against the durable versions
// it reported before it last restarted (see peer.reported): an object the
// peer now holds at a version below them may lack metadata this replica
// has collected since (a delete marker, a record of a removal), which no
// delta since its version carries, so its next catch-up carries the
// object's whole state. A version that covers them again, as far as this
// replica has seen, settles the object. The caller holds r.mu.
func (r *Replica) compareReported(p *peer, digest []digestEntry) {
	if len(p.reported) == 0 {
		return
	}
	for _, d := range digest {
		old, ok := p.reported[d.Object]
		if !ok || d.Version == nil {
			continue
		}
		c, isC := r.objects[d.Object].(Collector)
		if !isC {
			delete(p.reported, d.Object)
			continue
		}
		was, own, err := r.versionAndOwn(old, c)
		if err != nil {
			delete(p.reported, d.Object) // nothing to judge by
			continue
		}
		// Only what this replica has seen can have been collected
		// here: writes the peer lost that no one else holds must not
		// keep its catch-ups whole for good.
		was.Meet(own)
		now, err := vclock.UnmarshalClock(d.Version, r.limit)
		if err != nil {
			continue // the catch-up refuses it
		}
		if was.LessOrEqual(now) {
			delete(p.reported, d.Object)
			continue
		}
		if p.diverged == nil {
			p.diverged = map[string]bool{}
		}
		p.diverged[d.Object] = true
	}
}

// RunCollector is an optional interface of a [ClockCollector] that also
// takes, for each version it is handed, the writer of the run that
// reported it (see [Replica.Writer]; empty if unknown, as for a removed
// peer's): runs[i] reported peerVersions[i], and this replica's own
// version, when it is among them, comes with this run's writer. A peer's
// version speaks for the run that reported it, not for every run of its
// name: a second process started under the name by mistake writes under
// a writer of its own, and may not have seen what the other reported.
// ormap.Map keeps what a delete of counters noted of a writer's counter
// chains until that writer's own run has reported the delete, or the
// writer is retired, so that an increment the writer makes before it
// sees the delete does not count the deleted increments again. The
// engine calls CollectBinaryFrom in place of CollectBinaryAt.
type RunCollector interface {
	ClockCollector
	CollectBinaryFrom(peerVersions [][]byte, runs []ReplicaID, peersAt clock.Timestamp) error
}

// hasGaps reports whether obj holds updates its version leaves out (see
// [GapReporter]).
func hasGaps(obj Object) bool {
	g, ok := obj.(GapReporter)
	return ok && g.HasGaps()
}

// applyFrom applies an op received from a peer, through ApplyBinaryFrom
// if the object can check that the op carries only the peer's own writes.
func applyFrom(obj Object, op []byte, from ReplicaID) (bool, error) {
	if o, ok := obj.(OriginChecker); ok {
		return o.ApplyBinaryFrom(op, from)
	}
	return obj.ApplyBinary(op)
}

// collect hands every Collector among the objects named in p's versions
// the durable versions of all peers, and of the peers removed whose
// writers are not retired yet (see RemovePeer), if it has one from each,
// and its own. It runs when p's digest came: an object the digest did not
// name has no version of p's, so it cannot be collected, and going
// through every object would cost a digest naming none a pass over all
// of them. The caller holds r.mu.
func (r *Replica) collect(p *peer) {
	for name := range p.versions {
		c, ok := r.objects[name].(Collector)
		if !ok {
			continue
		}
		vs := make([][]byte, 0, len(r.peers)+len(r.left)+1)
		runs := make([]ReplicaID, 0, cap(vs))
		for _, q := range r.peers {
			if v, ok := q.versions[name]; ok {
				vs = append(vs, v)
				runs = append(runs, q.versionsBy)
			}
		}
		for _, lv := range r.left {
			if v, ok := lv[name]; ok {
				vs = append(vs, v)
				runs = append(runs, "")
			}
		}
		if len(vs) < len(r.peers)+len(r.left) {
			continue
		}
		if r.snapshotted {
			// Its own durable version too: what a crash can take back
			// here is not stable, and a whole state sent from here
			// makes its receiver drop what this replica collected.
			own, ok := r.durable[name]
			if !ok {
				continue
			}
			vs = append(vs, own)
			runs = append(runs, r.writer)
		}
		var err error
		switch cc := c.(type) {
		case RunCollector:
			err = cc.CollectBinaryFrom(vs, runs, r.peersAt())
		case ClockCollector:
			err = cc.CollectBinaryAt(vs, r.peersAt())
		default:
			err = c.CollectBinary(vs)
		}
		if err != nil {
			r.log.Warn("collecting metadata failed", "object", name, "err", err)
		}
	}
}

// peersAt returns a time every peer's clock has reached, by the clock
// readings taken in from their present runs' messages (see
// ClockCollector): the earliest of the latest reading of each, or zero
// while some peer has sent none. Removed peers do not count: they read
// and write nothing more. The caller holds r.mu.
func (r *Replica) peersAt() clock.Timestamp {
	var at clock.Timestamp
	first := true
	for _, p := range r.peers {
		if first || p.runNow.Before(at) {
			at, first = p.runNow, false
		}
	}
	return at
}

func (r *Replica) countRefusal(from ReplicaID, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason := reasonFor(err)
	if p := r.peers[from]; p != nil {
		p.refuse(reason)
		return
	}
	r.refused[reason]++
}

// Run calls [Replica.Tick] every interval, and soon after local updates and
// inbound messages that need an answer, until ctx is done. It returns
// ctx's error. Send errors are logged, not returned: the engine retries.
func (r *Replica) Run(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: tick interval %v", ErrConfig, interval)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-r.nudge:
		}
		if err := r.Tick(ctx); err != nil {
			r.log.Debug("tick", "err", err)
		}
	}
}
