package crdt

import (
	"errors"
	"fmt"

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
)

// SaveOps is the cheap way to persist local updates: it encodes the local
// ops made since the last save (of ops or of a snapshot) as one journal
// record and calls save with it, which must append it to stable storage
// before it returns nil. It costs what the new ops cost, where
// [Replica.SaveSnapshot] costs what the whole state costs; a host calls
// SaveOps after each local update and SaveSnapshot now and then, and
// after a crash calls [Replica.Restore] with the last snapshot, then
// [Replica.Replay] with every record appended since, in order.
//
// SaveSnapshot's save can discard every record appended before it: the
// snapshot holds their ops (saves are serialized, so no record is appended
// between the snapshot and its save). What SaveOps saves also counts as
// saved for shipping (see SaveSnapshot): the ops leave for the peers once
// journaled.
//
// With nothing new to save, SaveOps returns nil without calling save. It
// returns [ErrNoSnapshot] before any snapshot was saved or restored, and
// [ErrSnapshotNeeded] if more local ops than the op log's bounds were made
// since the last save, and so are no longer all held. If save fails,
// SaveOps returns its error and the ops stay unsaved.
func (r *Replica) SaveOps(save func(record []byte) error) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	switch {
	case !r.persistent:
		r.mu.Unlock()
		return ErrNoSnapshot
	case r.savedSeq >= r.seq:
		r.mu.Unlock()
		return nil
	case len(r.pending) == 0 || r.pendingFirst > r.savedSeq+1:
		r.mu.Unlock()
		return ErrSnapshotNeeded
	}
	first := r.savedSeq + 1
	ops := r.pending[first-r.pendingFirst:]
	size := 48 + len(r.id)
	for _, e := range ops {
		size += len(e.object) + len(e.op) + 16
	}
	w := codec.NewWriter(codec.KindJournalSealed, size+crcSize)
	w.Replica(string(r.id))
	w.Uint(r.incarnation)
	w.Uint(first)
	putTimestamp(w, r.clk.Last())
	putLogEntries(w, ops)
	upTo := r.seq
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
	r.mu.Unlock()
	r.poke() // the ops may leave now
	return nil
}

// Replay applies a journal record made by [Replica.SaveOps] to a replica
// that has just been restored: call [Replica.Restore] with the last saved
// snapshot, then Replay with every record appended since, in the order
// they were appended, before the replica receives, ticks or updates
// anything. Records the snapshot already holds are skipped, so replaying
// the whole journal is safe. The replayed ops become the replica's local
// ops again: they are shipped to the peers that lack them.
//
// A record that is not a journal record of this replica, or that names an
// object the replica lacks, is refused with an error, and nothing changes.
// If applying one of its ops fails (an op the object refuses), the error
// says so and the replica may hold part of the record: discard it.
func (r *Replica) Replay(record []byte) error {
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
	if rd.Err() == nil && (len(ops) == 0 || first == 0) {
		rd.Fail("empty journal record, or one starting at sequence number 0")
	}
	if err := rd.Done(); err != nil {
		return fmt.Errorf("crdt: replay: %w", err)
	}
	if id != r.id {
		return fmt.Errorf("%w: journal of replica %s replayed into %s", ErrConfig, id, r.id)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.canReplay || r.started {
		return ErrNotReplayable
	}
	// Skip what the snapshot holds: records of earlier incarnations (the
	// snapshot was taken after they were replayed) and, of its own, the
	// ops up to its sequence number.
	switch {
	case inc < r.snapInc:
		return nil
	case inc == r.snapInc && first <= r.snapSeq:
		skip := r.snapSeq - first + 1
		if skip >= uint64(len(ops)) {
			return nil
		}
		ops = ops[skip:]
	}
	for _, e := range ops {
		if _, ok := r.objects[e.object]; !ok {
			return fmt.Errorf("crdt: replay: %w: %q", ErrUnknownObject, e.object)
		}
	}
	r.clk.Restore(last) // its own time: no skew check
	r.quiet = true      // the replica's own ops again: no news
	defer func() { r.quiet = false }()
	group := make([]txOp, 0, 4)
	for _, e := range ops {
		if _, err := r.objects[e.object].ApplyBinary(e.op); err != nil {
			return fmt.Errorf("crdt: replay on %q: %w", e.object, err)
		}
		group = append(group, txOp{object: e.object, op: e.op})
		if !e.more {
			r.appendGroup(group)
			group = group[:0]
		}
	}
	if len(group) > 0 {
		r.appendGroup(group)
	}
	// A record of a later incarnation than the snapshot's was made after a
	// restart the snapshot did not see: the incarnation must pass it too,
	// or peers would take this one for that one and skip its ops.
	r.incarnation = max(r.incarnation, inc+1)
	r.started = false  // appendGroup marks it; more records may follow
	r.savedSeq = r.seq // they are in the journal already
	r.trimPending(r.seq)
	return nil
}
