package crdt

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/activeactive/crdt/codec"
)

// ErrNotFresh is returned by [Replica.Restore] on a replica that has
// already restored a snapshot, ticked, or made or received updates.
var ErrNotFresh = errors.New("crdt: restore into a replica that is not fresh")

// ErrRestoreFailed is returned by every call that saves, sends, takes in
// or changes anything on a replica whose [Replica.Restore] failed after
// it had begun merging the snapshot's states into the objects, or whose
// [Replica.Replay] failed after it had begun applying a record: the
// replica holds part of the snapshot or record and must be discarded.
var ErrRestoreFailed = errors.New("crdt: the replica holds part of a snapshot it failed to restore; discard it")

// Snapshot encodes everything the replica must not lose in a crash: every
// object's state, the log of local ops some peer has not acknowledged, and
// how far it has applied each peer's ops. After a restart, hand it to
// [Replica.Restore].
//
// To persist a replica, use [Replica.SaveSnapshot], which learns when the
// snapshot is safely stored. Snapshot alone makes a copy the replica does
// not count on: from the first one on, the replica reports as durable only
// the versions of snapshots saved through SaveSnapshot (see [Collector]),
// since the host might come back from any snapshot it took.
func (r *Replica) Snapshot() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken != nil {
		return nil, r.broken
	}
	out, _, err := r.snapshot()
	if err == nil {
		r.snapshotted = true
	}
	return out, err
}

// SaveSnapshot takes a snapshot, as [Replica.Snapshot] does, and calls save
// with it; save must put it on stable storage, in place of the previous
// one, before it returns nil. Only then does the replica count the
// snapshot as durable: it tells its peers that it cannot lose the versions
// the snapshot holds, and they discard metadata (delete markers, records
// of removals) once every replica's durable version covers it. If save
// fails, SaveSnapshot returns its error and nothing new counts as durable;
// whichever snapshot survives on storage, the previous one or this one, is
// safe to restore.
//
// A host that saves after every local update, before acknowledging the
// update to its own client, loses nothing it acknowledged. A snapshot
// costs what the whole state costs; [Replica.SaveOps] persists just the
// new ops, in a journal that continues the last snapshot. After a crash,
// restore the latest saved snapshot, and replay the journal.
//
// Once a snapshot has been saved (or restored), the replica holds back
// what a crash could take from it: its local ops leave for its peers only
// once a saved snapshot holds them, and catch-up states only while every
// local op is saved. Otherwise a peer could keep a change the replica lost
// in a crash, and the replica, restarted, would make another change under
// the same identity (dot). So save after local updates, as acknowledging
// them needs anyway; while saves fail, the replica's own changes wait.
// Likewise its votes on the retirement of finished writers (see
// [Retirer]), promises and acceptances, leave for their proposers only
// once a saved snapshot holds them: an acceptor that forgot a vote it had
// sent could vote otherwise at the same place for another proposer, and
// two different retirements would be agreed there. [Config.OnSaveNeeded]
// tells the host when a vote waits; until it saves, retirement waits.
//
// Calls are serialized, one save at a time, so a slow save never
// overwrites a newer snapshot. save runs without the replica's lock held,
// so replication and local updates go on meanwhile; it must not call
// SaveSnapshot.
func (r *Replica) SaveSnapshot(save func(snapshot []byte) error) error {
	r.saveMu.Lock()
	defer r.saveMu.Unlock()
	r.mu.Lock()
	if r.broken != nil {
		r.mu.Unlock()
		return r.broken
	}
	snap, versions, err := r.snapshot()
	seq, remoteUpTo, installs, votes, voteSeq := r.seq, r.remoteNext, r.led.installs, r.led.votes(), r.led.voteSeq
	if err == nil {
		r.snapshotted = true // from now on, only saved versions are durable
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := save(snap); err != nil {
		return fmt.Errorf("crdt: saving the snapshot: %w", err)
	}
	r.mu.Lock()
	r.durable = versions
	r.persistent = true
	r.savedSeq = max(r.savedSeq, seq)
	r.trimPending(seq)
	r.savedRemote(remoteUpTo) // and what peers sent before it
	r.led.saved = max(r.led.saved, installs)
	r.led.savedVotes = votes
	r.led.savedVoteSeq = max(r.led.savedVoteSeq, voteSeq)
	r.mu.Unlock()
	r.poke() // the ops and the votes it saved may leave now
	return nil
}

// snapshot encodes the replica and returns the encoding with the versions
// of its objects at that moment. The caller holds r.mu.
func (r *Replica) snapshot() ([]byte, map[string][]byte, error) {
	size := 64
	for _, e := range r.ops {
		size += len(e.object) + len(e.op) + 16
	}
	w := codec.NewWriter(codec.KindSnapshotSealed, size+crcSize)
	w.Replica(string(r.id))
	w.Uint(r.incarnation)
	w.Uint(r.seq) // journal records up to here are in the snapshot
	putTimestamp(w, r.clk.Last())
	putLogEntries(w, r.ops)

	ids := sortedPeerIDs(r.peers)
	w.Array(len(ids))
	for _, id := range ids {
		p := r.peers[id]
		above := slices.Sorted(func(yield func(uint64) bool) {
			for s := range p.above {
				if !yield(s) {
					return
				}
			}
		})
		w.Array(4)
		w.Replica(string(id))
		w.Uint(p.rinc)
		w.Uint(p.recv)
		w.Array(len(above))
		for _, s := range above {
			w.Uint(s)
		}
	}

	names := r.sortedObjects()
	w.Array(2 * len(names))
	for _, name := range names {
		var b []byte
		var err error
		if s, ok := r.objects[name].(Snapshotter); ok {
			b, err = s.SnapshotBinary()
		} else {
			b, err = r.objects[name].MarshalBinary()
		}
		if err != nil {
			return nil, nil, fmt.Errorf("crdt: snapshot of %q: %w", name, err)
		}
		w.String(name)
		w.Binary(r.pack(b, 0))
	}
	// The ledger of retired writers, which says how the objects' writers
	// are named; absent while it is empty, as in snapshots made before
	// writers could be retired.
	r.led.encode(w)
	// The last durable versions of the peers removed and not yet retired
	// (see RemovePeer), after the ledger.
	{
		ids := slices.Sorted(maps.Keys(r.left))
		w.Array(len(ids))
		for _, id := range ids {
			vs := r.left[id]
			w.Array(2)
			w.Replica(string(id))
			names := slices.Sorted(maps.Keys(vs))
			w.Array(2 * len(names))
			for _, name := range names {
				w.String(name)
				w.Binary(vs[name])
			}
		}
	}
	// What the snapshot holds of the journal (see Replica.Replay): the
	// changes received by this run so far, and the records of the run it
	// continued.
	w.Array(5)
	w.Uint(r.remoteNext)
	r.pos.put(w)
	out, err := w.Bytes()
	if err != nil {
		return nil, nil, err
	}
	return seal(out), r.versions(), nil
}

// versions returns the current versions of the objects that have them.
// The caller holds r.mu.
func (r *Replica) versions() map[string][]byte {
	vs := make(map[string][]byte, len(r.objects))
	for name, obj := range r.objects {
		if d, ok := obj.(DeltaObject); ok {
			if v, err := d.VersionBinary(); err == nil {
				vs[name] = v
			}
		}
	}
	return vs
}

type snapPeer struct {
	id         ReplicaID
	rinc, recv uint64
	above      []uint64
}

// Restore loads a snapshot saved by [Replica.SaveSnapshot] (or made by
// [Replica.Snapshot]) into a fresh replica. The order is NewReplica,
// Register every object, AddPeer, Restore, then [Replica.Replay] for each
// journal record; Register after Restore, and a Restore after anything else
// happened (a tick, a message, an update, another Restore), are refused.
// Each object's saved state is merged into the registered object; the op
// log is restored under a new incarnation of the replica, so that no
// sequence number is ever reused, and peers learn of the restart from the
// next message and exchange digests to make up for anything the snapshot
// lacked. The snapshot may be any one the replica ever saved, not just the
// last (an older backup): new changes are made under this run's own writer
// ([Replica.Writer]), so none can take the identity of a change the lost
// newer state had shipped. The snapshot's own timestamps are taken whatever
// the host's clock reads now.
//
// Peers listed in the snapshot are added if missing; peers removed by
// [Replica.RemovePeer] and not yet retired when it was saved hold back the
// collection of metadata again, unless the host added them. If the host keeps a
// journal ([Replica.SaveOps]), hand its records to [Replica.Replay] next.
// A snapshot that does not decode (or lists more of a peer's ops past a
// gap than a replica holds), of another replica, naming an object not
// registered, or into a replica that is not fresh is refused with nothing
// changed. One whose object states do not merge (a state
// corrupted, another type registered under the name) fails once the
// states before it were merged: the replica then refuses every call
// that saves, sends, takes in or changes anything ([ErrRestoreFailed]),
// so that a half-restored replica can neither overwrite the saved
// snapshot nor reach its peers; discard it.
func (r *Replica) Restore(snapshot []byte) (err error) {
	body, kind, err := openFrame(snapshot, codec.KindSnapshot, codec.KindSnapshotSealed)
	if err != nil {
		return fmt.Errorf("crdt: restore: %w", err)
	}
	rd := codec.NewReader(body, kind, codec.Limits{MaxBytes: max(len(body), 1)})
	id := ReplicaID(rd.Replica())
	oldInc := rd.Uint()
	oldSeq := rd.Uint()
	last := getTimestamp(rd)
	ops := getLogEntries(rd)
	n := rd.ArrayLen()
	peers := make([]snapPeer, 0, n)
	listed := make(map[ReplicaID]bool, n)
	for range n {
		if m := rd.ArrayLen(); rd.Err() == nil && m != 4 {
			rd.Fail("peer entry with %d fields", m)
		}
		sp := snapPeer{id: ReplicaID(rd.Replica()), rinc: rd.Uint(), recv: rd.Uint()}
		if rd.Err() == nil && listed[sp.id] {
			// A replica lists each peer once: the entries' lists of ops
			// past a gap would add up past the bound below.
			rd.Fail("peer %s listed twice", sp.id)
		}
		listed[sp.id] = true
		// A replica holds at most maxAbove of a peer's ops past a gap
		// (see Receive): a snapshot that lists more is not one it wrote.
		k := rd.ArrayLen()
		if rd.Err() == nil && k > maxAbove {
			rd.Fail("peer %s with %d ops past a gap, more than the %d a replica holds", sp.id, k, maxAbove)
			k = 0
		}
		if rd.Err() == nil {
			sp.above = make([]uint64, 0, k)
		}
		for range k {
			sp.above = append(sp.above, rd.Uint())
		}
		peers = append(peers, sp)
	}
	n = rd.ArrayLen()
	if rd.Err() == nil && n%2 != 0 {
		rd.Fail("object list with %d fields", n)
	}
	type saved struct {
		name  string
		state []byte
	}
	objs := make([]saved, 0, n/2)
	for range n / 2 {
		objs = append(objs, saved{rd.String(), rd.Binary()})
	}
	var led ledger
	if rd.Err() == nil && rd.Remaining() > 0 {
		var err error
		if led, err = decodeLedger(rd); err != nil {
			return fmt.Errorf("crdt: restore: %w", err)
		}
	}
	var left map[ReplicaID]map[string][]byte
	var exact bool
	var snapRemote uint64
	var cont journalPos
	if rd.Err() == nil && rd.Remaining() > 0 {
		n := rd.ArrayLen()
		left = make(map[ReplicaID]map[string][]byte, min(n, 64))
		for range n {
			if m := rd.ArrayLen(); rd.Err() == nil && m != 2 {
				rd.Fail("removed peer with %d fields", m)
			}
			id := ReplicaID(rd.Replica())
			k := rd.ArrayLen()
			if rd.Err() == nil && k%2 != 0 {
				rd.Fail("removed peer's versions with %d fields", k)
			}
			vs := map[string][]byte{}
			for range k / 2 {
				name := rd.String()
				vs[name] = slices.Clone(rd.Binary())
			}
			if rd.Err() != nil {
				break
			}
			left[id] = vs
		}
	}
	if rd.Err() == nil && rd.Remaining() > 0 {
		if m := rd.ArrayLen(); rd.Err() == nil && m != 5 {
			rd.Fail("journal position with %d fields", m)
		}
		snapRemote = rd.Uint()
		cont = getJournalPos(rd)
		exact = true
	}
	if err := rd.Done(); err != nil {
		return fmt.Errorf("crdt: restore: %w", err)
	}
	if id != r.id {
		return fmt.Errorf("%w: snapshot of replica %s restored into %s", ErrConfig, id, r.id)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.broken != nil {
		return r.broken
	}
	if r.seq != 0 || r.started || r.canReplay {
		return ErrNotFresh // restore once, before anything else happens
	}
	for _, p := range r.peers {
		if p.rinc != 0 {
			return ErrNotFresh
		}
	}
	for _, o := range objs {
		if _, ok := r.objects[o.name]; !ok {
			return fmt.Errorf("crdt: restore: %w: %q", ErrUnknownObject, o.name)
		}
	}
	// From here on a failure leaves the replica changed.
	defer func() {
		if err != nil {
			r.broken = fmt.Errorf("%w (%w)", ErrRestoreFailed, err)
		}
	}()
	r.clk.Restore(last) // its own time: no skew check
	r.quiet = true      // the replica's own state again: no news
	defer func() { r.quiet = false }()
	// The saved states are renamed: the objects that keep the
	// retirements applied to them learn of them first.
	r.renamedAll(&led)
	for _, o := range objs {
		// A saved state may be larger than any message (states travel in
		// parts): the object's decoder is held to the snapshot's size
		// for the while.
		obj := r.objects[o.name]
		state, err := codec.Decompress(o.state, codec.Limits{MaxBytes: max(r.limit.MaxBytes, codec.MaxRatio*len(o.state))})
		if err != nil {
			return fmt.Errorf("crdt: restore %q: %w", o.name, err)
		}
		l, limited := obj.(Limited)
		if limited {
			l.SetLimits(codec.Limits{MaxBytes: max(r.limit.MaxBytes, len(state)), MaxItems: max(codec.DefaultLimits().MaxItems, len(state))})
		}
		_, err = obj.MergeBinary(state)
		if limited {
			l.SetLimits(r.limit)
		}
		if err != nil {
			return fmt.Errorf("crdt: restore %q: %w", o.name, err)
		}
	}
	r.led = led
	r.led.savedVotes = led.votes()
	r.incarnation = max(r.incarnation, after(oldInc, r.step))
	r.ops = ops
	r.seq = uint64(len(ops))
	for _, sp := range peers {
		if sp.id == r.id || sp.id == "" {
			continue
		}
		p := r.peers[sp.id]
		if p == nil {
			p = newPeer(sp.id, 0)
			r.peers[sp.id] = p
		}
		p.acked, p.sent = 0, 0
		p.rinc, p.recv = sp.rinc, sp.recv
		for _, s := range sp.above {
			p.markReceived(s)
		}
		p.awaitDig, p.catchUpSent = true, 0
	}
	for _, p := range r.peers {
		p.acked, p.sent = 0, 0
	}
	for id, vs := range left {
		if _, ok := r.peers[id]; ok || id == r.id {
			continue // added back
		}
		if r.left == nil {
			r.left = map[ReplicaID]map[string][]byte{}
		}
		r.left[id] = vs
	}
	// What was restored came from storage: it is durable.
	r.durable = r.versions()
	// The restored objects may have collected metadata on the strength of
	// versions their peers reported before this restart, which are lost
	// with it; whatever they collected is within their own versions. A
	// peer below those (back from an older backup, say) gets whole states
	// of these objects until it covers them, as one that reported them
	// would (see peer.reported).
	for name, v := range r.durable {
		if _, ok := r.objects[name].(Collector); !ok {
			continue
		}
		for _, p := range r.peers {
			p.report(name, v, r.limit)
		}
	}
	r.snapshotted = true
	r.persistent = true
	r.savedSeq = r.seq
	r.canReplay, r.snapInc, r.snapExact, r.cont = true, oldInc, exact, cont
	r.pos = journalPos{inc: oldInc, next: oldSeq + 1, remote: snapRemote, remoteKnown: exact}
	return nil
}
