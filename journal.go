package crdt

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/activeactive/crdt/codec"
)

// Errors of the journal.
var (
	// ErrNoSnapshot is returned by [Replica.SaveOps] before any snapshot
	// was saved or restored: the journal continues a saved snapshot.
	ErrNoSnapshot = errors.New("crdt: no saved snapshot for the journal to continue")
	// ErrSnapshotNeeded is returned by [Replica.SaveOps] when local ops
	// made since the last save were dropped from memory (more than the op
	// log's bounds were made without a save): save a snapshot instead.
	ErrSnapshotNeeded = errors.New("crdt: unsaved ops no longer held; save a snapshot")
	// ErrNotReplayable is returned by [Replica.Replay] on a replica that
	// did not just restore a snapshot.
	ErrNotReplayable = errors.New("crdt: replay only right after Restore")
	// ErrJournalGap is returned by [Replica.Replay] for a record that does
	// not continue the snapshot and the records replayed before it: a
	// record between them is missing (lost, or deleted), the snapshot is
	// older than the journal or was taken by a run that never replayed the
	// record, or records come out of order (two processes appending to one
	// journal).
	ErrJournalGap = errors.New("crdt: journal records missing or out of order")
)

// SaveOps is the cheap way to persist updates: it encodes the local ops
// made since the last save (of ops or of a snapshot), and the changes
// received from peers since then (their ops and catch-up states, as they
// arrived, those that changed no value too: later ones may build on what
// they changed), as one journal record and calls save with it, which must
// append it to stable storage before it returns nil. It costs what
// changed, where [Replica.SaveSnapshot] costs what the whole state costs;
// a host calls SaveOps after each local update (and, to keep what peers
// send across a crash, after [Config.OnRemoteUpdate] reports a change),
// SaveSnapshot now and then, and after a crash calls [Replica.Restore]
// with the last snapshot, then [Replica.Replay] with every record appended
// since, in order.
//
// SaveSnapshot's save can discard every record appended before it: the
// snapshot holds their ops (saves are serialized, so no record is appended
// between the snapshot and its save). What SaveOps saves also counts as
// saved for shipping (see SaveSnapshot): the ops leave for the peers once
// journaled.
//
// With nothing new to save, SaveOps returns nil without calling save. It
// returns [ErrNoSnapshot] before any snapshot was saved or restored, and
// [ErrSnapshotNeeded] if more local ops, or more changes from peers, than
// the op log's bounds (MaxLogOps, MaxLogBytes) came since the last save,
// and so are no longer all held, or if, since the last snapshot, a
// finished writer was retired (see [Retirer]: a journal record cannot say
// how the writers it names were renamed) or this replica promised or
// accepted a proposal to retire one (an acceptor that forgets its votes
// in a crash may let two proposers, such as two processes under one
// name, each have a different entry agreed at one place), even with
// nothing else to save: such a vote leaves for its proposer only once a
// saved snapshot holds it, so a host calls SaveOps when
// [Config.OnSaveNeeded] says a vote waits, and SaveSnapshot on
// ErrSnapshotNeeded. If save fails, SaveOps returns its error
// and what it would have saved stays unsaved.
func (r *Replica) SaveOps(save func(record []byte) error) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	local, remote := r.savedSeq < r.seq, r.remoteSaved < r.remoteNext
	switch {
	case r.broken != nil:
		r.mu.Unlock()
		return r.broken
	case !r.persistent:
		r.mu.Unlock()
		return ErrNoSnapshot
	case r.led.installs > r.led.saved, // a retirement: no journal record carries one
		r.led.votes() != r.led.savedVotes, r.led.voteSeq > r.led.savedVoteSeq: // nor a promise or acceptance of one
		r.mu.Unlock()
		return ErrSnapshotNeeded
	case !local && !remote:
		r.mu.Unlock()
		return nil
	case local && (len(r.pending) == 0 || r.pendingFirst > r.savedSeq+1),
		remote && r.remoteLost > r.remoteSaved:
		r.mu.Unlock()
		return ErrSnapshotNeeded
	}
	first := r.savedSeq + 1
	var ops []logEntry
	if local {
		ops = r.pending[first-r.pendingFirst:]
	}
	var theirs []remoteEntry
	if remote {
		theirs = r.remote[r.remoteSaved-r.remoteFirst:]
	}
	size := 58 + len(r.id)
	for _, e := range ops {
		size += len(e.object) + len(e.op) + 16
	}
	for _, e := range theirs {
		size += len(e.object) + len(e.data) + 24
	}
	w := codec.NewWriter(codec.KindJournalSealed, size+crcSize)
	w.Replica(string(r.id))
	w.Uint(r.incarnation)
	w.Uint(first)
	putTimestamp(w, r.clk.Last())
	putLogEntries(w, ops)
	if len(theirs) > 0 {
		putRemoteEntries(w, theirs)
		w.Uint(r.remoteSaved) // the number of the first, in this run
	}
	upTo, remoteUpTo := r.seq, r.remoteNext
	r.mu.Unlock()
	rec, err := w.Bytes()
	if err != nil {
		return err
	}
	rec = seal(rec)
	if err := save(rec); err != nil {
		return fmt.Errorf("crdt: saving ops: %w", err)
	}
	r.mu.Lock()
	r.savedSeq = max(r.savedSeq, upTo)
	r.trimPending(upTo)
	r.savedRemote(remoteUpTo)
	r.mu.Unlock()
	r.poke() // the ops may leave now
	return nil
}

// after returns inc+step, or the largest incarnation if that is past it.
func after(inc, step uint64) uint64 {
	if inc > math.MaxUint64-step {
		return math.MaxUint64
	}
	return inc + step
}

// remoteEntry is a change a peer made, as it was applied after local op
// number after: an op, a catch-up state (or delta) merged, or a part of
// one merged through Chunker.
type remoteEntry struct {
	object string
	data   []byte
	kind   remoteKind
	after  uint64
}

// remoteKind says how a received change was applied.
type remoteKind uint8

const (
	remoteOp    remoteKind = 0 // ApplyBinary
	remoteState remoteKind = 1 // MergeBinary
	remotePart  remoteKind = 2 // Chunker.MergeChunkBinary
)

// limitObjects sets the limits of every object's decoders. The caller
// holds r.mu.
func (r *Replica) limitObjects(l codec.Limits) {
	for _, obj := range r.objects {
		if o, ok := obj.(Limited); ok {
			o.SetLimits(l)
		}
	}
}

// journalPos is a place in the journal: in the records of run inc, before
// local op next and, if remoteKnown, before received change remote (each
// run numbers the changes it journals from 0). A zero journalPos is no
// place: a run that restored no snapshot.
type journalPos struct {
	inc, next, remote uint64
	remoteKnown       bool
}

func (p journalPos) put(w *codec.Writer) {
	w.Uint(p.inc)
	w.Uint(p.next)
	w.Uint(p.remote)
	w.Bool(p.remoteKnown)
}

func getJournalPos(r *codec.Reader) journalPos {
	return journalPos{inc: r.Uint(), next: r.Uint(), remote: r.Uint(), remoteKnown: r.Bool()}
}

// holds reports whether the records of run p.inc up to p held a record of
// that run starting at local op first, with ops local ops and, if
// numbered, received changes rf to rf+theirs-1.
func (p journalPos) holds(first uint64, ops int, rf uint64, numbered bool, theirs int) bool {
	if first+uint64(ops) > p.next {
		return false
	}
	// Without numbers (records or snapshots of earlier releases), a
	// record of received changes alone right after the last op held is
	// taken for held, as those releases took every record of an earlier
	// run.
	return !numbered || theirs == 0 || !p.remoteKnown || rf+uint64(theirs) <= p.remote
}

// keepRemote keeps a change received from a peer for SaveOps to journal,
// if the host persists the replica. data is kept, not copied: it must be
// the replica's own, as the ops, states and parts of a decoded message are
// (decoding copies them out of the message, which the host may reuse), and
// no one may modify it. The caller holds r.mu.
func (r *Replica) keepRemote(object string, data []byte, kind remoteKind) {
	if !r.persistent {
		return
	}
	if len(r.remote) == 0 {
		r.remoteFirst = r.remoteNext
	}
	r.remote = append(r.remote, remoteEntry{object: object, data: data, kind: kind, after: r.seq})
	r.remoteBytes += len(data)
	r.remoteNext++
	if len(r.remote) > r.cfg.MaxLogOps || r.remoteBytes > r.cfg.MaxLogBytes {
		// Too much to hold until the next save: only a snapshot can save
		// what arrived since the last one.
		r.log.Debug("changes received since the last save over the op log's bounds; a snapshot must save them", "changes", len(r.remote))
		clear(r.remote)
		r.remote, r.remoteBytes = nil, 0
		r.remoteFirst, r.remoteLost = r.remoteNext, r.remoteNext
	}
}

// savedRemote records that the received changes numbered below upTo are
// saved, and drops them. The caller holds r.mu.
func (r *Replica) savedRemote(upTo uint64) {
	r.remoteSaved = max(r.remoteSaved, upTo)
	if len(r.remote) == 0 || r.remoteSaved <= r.remoteFirst {
		return
	}
	n := int(min(r.remoteSaved-r.remoteFirst, uint64(len(r.remote))))
	for _, e := range r.remote[:n] {
		r.remoteBytes -= len(e.data)
	}
	clear(r.remote[:n])
	r.remote = slices.Delete(r.remote, 0, n)
	r.remoteFirst += uint64(n)
	if len(r.remote) == 0 {
		r.remote, r.remoteBytes = nil, 0
	}
}

// putRemoteEntries writes received changes as journal records hold them:
// object, op or state, how it was applied (a remoteKind), and the number
// of the last local op applied before it.
func putRemoteEntries(w *codec.Writer, es []remoteEntry) {
	w.Array(4 * len(es))
	for _, e := range es {
		w.String(e.object)
		w.Binary(e.data)
		w.Uint(uint64(e.kind))
		w.Uint(e.after)
	}
}

// getRemoteEntries reads received changes written by putRemoteEntries.
func getRemoteEntries(r *codec.Reader) []remoteEntry {
	n := r.ArrayLen()
	if r.Err() == nil && (n == 0 || n%4 != 0) {
		r.Fail("list of received changes with %d fields, not a positive multiple of 4", n)
	}
	es := make([]remoteEntry, 0, n/4)
	for range n / 4 {
		e := remoteEntry{object: r.String(), data: r.Binary()}
		kind := r.Uint()
		e.after = r.Uint()
		if r.Err() == nil && kind > uint64(remotePart) {
			r.Fail("received change applied in an unknown way (%d)", kind)
		}
		if r.Err() != nil {
			return nil
		}
		e.kind = remoteKind(kind)
		es = append(es, e)
	}
	return es
}

// Replay applies a journal record made by [Replica.SaveOps] to a replica
// that has just been restored: call [Replica.Restore] with the last saved
// snapshot, then Replay with every record appended since, in the order
// they were appended, before the replica receives, ticks or updates
// anything. Records the snapshot already holds are skipped, so replaying
// the whole journal is safe, and so is what earlier records replayed (a
// record appended twice): a snapshot says how far its run had journaled,
// local ops and received changes alike (each is numbered), and how far
// that run replayed the records of the runs before it. A record that does
// not continue the snapshot and the records replayed before it is refused
// with [ErrJournalGap] and changes nothing: a record between them is
// missing (the first record of a run too: a run's records start where the
// replay that began it stood), the snapshot is older than the journal,
// the journal holds records of an earlier run that the snapshot's run
// never replayed, or records of two runs interleave. The host may stop
// there and run with what replayed: its peers bring back what they hold.
// The replayed ops become the replica's local ops again: they are shipped
// to the peers that lack them. A record is decoded within its own size,
// and each received state it holds within MaxRatio times its own (see
// codec.MaxRatio), whatever [Config.MaxMessageBytes] says now: it was
// written under the limit of its day.
//
// A record that is not a journal record of this replica, that names an
// object the replica lacks, or that holds a part of a state for an object
// that cannot take parts ([Chunker]), is refused with an error, and
// nothing changes, as when its first change fails to apply (a change that
// fails changes nothing). If a later change fails (an op the object
// refuses: another type registered under the name, say), the replica
// holds part of the record and cannot take back what it applied: like a
// replica whose Restore failed part way, it then refuses every call that
// saves, sends, takes in or changes anything ([ErrRestoreFailed]), so that
// it can neither overwrite the saved snapshot nor reach its peers; discard
// it.
func (r *Replica) Replay(record []byte) (err error) {
	body, kind, err := openFrame(record, codec.KindJournal, codec.KindJournalSealed)
	if err != nil {
		return fmt.Errorf("crdt: replay: %w", err)
	}
	rd := codec.NewReader(body, kind, codec.Limits{MaxBytes: max(len(body), 1)})
	id := ReplicaID(rd.Replica())
	inc := rd.Uint()
	first := rd.Uint()
	last := getTimestamp(rd)
	ops := getLogEntries(rd)
	var theirs []remoteEntry
	var rf uint64 // the number of the first received change, if numbered
	numbered := false
	if rd.Err() == nil && rd.Remaining() > 0 {
		theirs = getRemoteEntries(rd)
		if rd.Err() == nil && rd.Remaining() > 0 {
			rf, numbered = rd.Uint(), true
			if rd.Err() == nil && rf > math.MaxUint64-uint64(len(theirs)) {
				rd.Fail("received changes numbered from %d", rf)
			}
		}
	}
	if rd.Err() == nil && (len(ops)+len(theirs) == 0 || first == 0 || first > math.MaxUint64-uint64(len(ops))) {
		rd.Fail("empty journal record, or one starting at sequence number %d", first)
	}
	// Received changes come in the order they were applied, each after
	// the local ops of the record made before it.
	for i, e := range theirs {
		if rd.Err() == nil && (e.after+1 < first || e.after-(first-1) > uint64(len(ops)) || i > 0 && e.after < theirs[i-1].after) {
			rd.Fail("received change after local op %d, outside the record's ops %d..%d or out of order", e.after, first, first-1+uint64(len(ops)))
		}
	}
	if err := rd.Done(); err != nil {
		return fmt.Errorf("crdt: replay: %w", err)
	}
	if id != r.id {
		return fmt.Errorf("%w: journal of replica %s replayed into %s", ErrConfig, id, r.id)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken != nil {
		return r.broken
	}
	if !r.canReplay || r.started {
		return ErrNotReplayable
	}
	// Skip what the snapshot holds, and what earlier records replayed (a
	// record appended twice, as a host that retries a save may do). The
	// snapshot holds the records of its own run up to where that run
	// stood when it took it, and those of earlier runs up to where the
	// run replayed them when it started (cont). A record of the run
	// replayed last must continue it, and the first record of a later
	// run must start where the replay stands: that run started there.
	// Whether the records' numbers say exactly what the snapshot holds: a
	// record of this release, replayed onto a snapshot that says where its
	// run stood, or of a later run.
	exact := numbered && (r.pos.remoteKnown || inc > r.pos.inc)
	switch {
	case inc < r.snapInc:
		if !r.snapExact || inc < r.cont.inc || inc == r.cont.inc && r.cont.holds(first, len(ops), rf, numbered, len(theirs)) {
			return nil
		}
		return fmt.Errorf("crdt: replay: %w: a record of run %d that the snapshot does not hold (taken by run %d, which did not replay it)", ErrJournalGap, inc, r.snapInc)
	case inc < r.pos.inc:
		return fmt.Errorf("crdt: replay: %w: a record of run %d after one of run %d", ErrJournalGap, inc, r.pos.inc)
	case inc > r.pos.inc:
		if first != r.seq+1 || numbered && rf != 0 {
			return fmt.Errorf("crdt: replay: %w: the first record of run %d starts at op %d and received change %d, where that run started at op %d and change 0", ErrJournalGap, inc, first, rf, r.seq+1)
		}
	default:
		if first > r.pos.next {
			return fmt.Errorf("crdt: replay: %w: a record starting at op %d of run %d, where op %d comes next", ErrJournalGap, first, inc, r.pos.next)
		}
		if exact && rf > r.pos.remote {
			return fmt.Errorf("crdt: replay: %w: a record starting at received change %d of run %d, where change %d comes next", ErrJournalGap, rf, inc, r.pos.remote)
		}
		if first < r.pos.next {
			skip := min(r.pos.next-first, uint64(len(ops)))
			ops = ops[skip:]
			first += skip
			if !exact && len(ops) == 0 {
				// Held whole: without numbers, its received changes
				// count as applied with its ops.
				return nil
			}
		}
		if exact {
			skip := min(r.pos.remote-rf, uint64(len(theirs)))
			theirs = theirs[skip:]
			rf += skip
		}
		if len(ops)+len(theirs) == 0 {
			return nil
		}
	}
	for _, e := range ops {
		if _, ok := r.objects[e.object]; !ok {
			return fmt.Errorf("crdt: replay: %w: %q", ErrUnknownObject, e.object)
		}
	}
	for _, e := range theirs {
		obj, ok := r.objects[e.object]
		if !ok {
			return fmt.Errorf("crdt: replay: %w: %q", ErrUnknownObject, e.object)
		}
		if _, isC := obj.(Chunker); e.kind == remotePart && !isC {
			return fmt.Errorf("crdt: replay: a part of a state received for %q, which cannot take parts: %w", e.object, ErrConfig)
		}
	}
	// A failure once a change of the record was applied leaves the
	// replica holding part of it (a change that fails changes nothing: so
	// a record whose first change fails leaves the replica as it was).
	applied := false
	defer func() {
		if err != nil && applied {
			r.broken = fmt.Errorf("%w (%w)", ErrRestoreFailed, err)
		}
	}()
	received := len(theirs)
	r.clk.Restore(last) // its own time: no skew check
	// The record was written under the limits of its day, which may have
	// been larger (a restart with a smaller MaxMessageBytes): it is held
	// to its own size for the while, as Restore holds a saved state.
	lim := r.limit
	if len(body) > lim.MaxBytes {
		lim = codec.Limits{MaxBytes: len(body), MaxItems: max(codec.DefaultLimits().MaxItems, len(body))}
		r.limitObjects(lim)
		defer r.limitObjects(r.limit)
	}
	// applyTheirs applies the received changes made before local op seq.
	applyTheirs := func(seq uint64) error {
		for len(theirs) > 0 && theirs[0].after < seq {
			e := theirs[0]
			theirs = theirs[1:]
			obj := r.objects[e.object]
			data, err := e.data, error(nil)
			if e.kind != remoteOp {
				// Kept as it arrived, and taken in within the limit of its
				// day, which may have been larger than the limit now and
				// than the record: read within MaxRatio times its own
				// size, as Restore reads a saved state.
				data, err = codec.Decompress(e.data, codec.Limits{MaxBytes: max(lim.MaxBytes, codec.MaxRatio*len(e.data))})
			}
			if err == nil && (e.kind == remoteOp || !exact) && r.namesRetired(data) {
				// An op naming a retired writer, which the replica
				// refuses as it arrives (see namesRetired): its effect
				// comes with a state. Received states are applied
				// whatever writers they name when the record's numbers
				// place it after the snapshot: a record follows a
				// retirement only after a snapshot that took it in (see
				// SaveOps), so the record was made under the ledger the
				// snapshot restored, and a retired writer it names holds
				// writes made past the retirement's Final (a second
				// process under the writer's name), kept under its name.
				// A record without numbers (of an earlier release) may
				// be one the snapshot holds, made before the retirement:
				// a state of it naming the writer is not applied, lest
				// the writer's renamed events count twice.
				continue
			}
			// Its object decodes it within its size, as Restore does.
			l, raised := obj.(Limited)
			raised = raised && err == nil && len(data) > lim.MaxBytes
			if raised {
				l.SetLimits(codec.Limits{MaxBytes: len(data), MaxItems: max(codec.DefaultLimits().MaxItems, len(data))})
			}
			switch {
			case err != nil:
			case e.kind == remoteOp:
				_, err = obj.ApplyBinary(data)
			case e.kind == remoteState:
				_, err = obj.MergeBinary(data)
			case e.kind == remotePart:
				_, err = obj.(Chunker).MergeChunkBinary(data) // checked above
			}
			if raised {
				l.SetLimits(lim)
			}
			if err != nil {
				return fmt.Errorf("crdt: replay of a change received on %q: %w", e.object, err)
			}
			applied = true
		}
		return nil
	}
	// The replica's own ops, and changes it took in and reported before
	// the crash: no news.
	r.quiet = true
	defer func() { r.quiet = false }()
	group := make([]txOp, 0, 4)
	for i, e := range ops {
		if err := applyTheirs(first + uint64(i)); err != nil {
			return err
		}
		if _, err := r.objects[e.object].ApplyBinary(e.op); err != nil {
			return fmt.Errorf("crdt: replay on %q: %w", e.object, err)
		}
		applied = true
		group = append(group, txOp{object: e.object, op: e.op})
		if !e.more {
			r.appendGroup(group)
			group = group[:0]
		}
	}
	if len(group) > 0 {
		r.appendGroup(group)
	}
	if err := applyTheirs(math.MaxUint64); err != nil {
		return err
	}
	// A record of a later incarnation than the snapshot's was made after a
	// restart the snapshot did not see: the incarnation must pass it too,
	// or peers would take this one for that one and skip its ops.
	r.incarnation = max(r.incarnation, after(inc, r.step))
	if inc != r.pos.inc {
		r.pos = journalPos{inc: inc, remoteKnown: true} // a run numbers its changes from 0
	}
	r.pos.next = first + uint64(len(ops))
	if numbered {
		r.pos.remote = rf + uint64(received)
	} else if received > 0 {
		r.pos.remoteKnown = false
	}
	r.started = false  // appendGroup marks it; more records may follow
	r.savedSeq = r.seq // they are in the journal already
	r.trimPending(r.seq)
	return nil
}
