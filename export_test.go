package crdt

import (
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"time"
)

// This file exports test-only hooks to the package's external tests.

// Forgery describes an engine message an adversarial peer sends: any
// field, well-formed on the wire, true or not.
type Forgery struct {
	From, To                   ReplicaID
	Incarnation                uint64
	Now                        clock.Timestamp
	AckInc, AckSeq, CatchUpAck uint64
	WantDigest                 bool
	FirstSeq                   uint64
	Writer                     ReplicaID     // ops naming it leave it out (From and an epoch)
	Ops                        []ForgedEntry // object and op
	HasDigest                  bool
	Digest                     []ForgedEntry // object and version
	StatesUpTo, CatchUp        uint64
	States                     []ForgedEntry // object and state
}

// ForgedEntry is one object's op, version or state in a Forgery.
type ForgedEntry struct {
	Object string
	Bytes  []byte
}

// Forge encodes f as a replica would encode a real message.
func Forge(f Forgery) ([]byte, error) {
	e := &envelope{From: f.From, To: f.To, Incarnation: f.Incarnation, Now: f.Now,
		AckInc: f.AckInc, AckSeq: f.AckSeq, CatchUpAck: f.CatchUpAck, WantDigest: f.WantDigest,
		FirstSeq: f.FirstSeq, Writer: f.Writer, HasDigest: f.HasDigest, StatesUpTo: f.StatesUpTo, CatchUp: f.CatchUp}
	for _, o := range f.Ops {
		e.Ops = append(e.Ops, opEntry{Object: o.Object, Op: o.Bytes})
	}
	for _, d := range f.Digest {
		e.Digest = append(e.Digest, digestEntry{Object: d.Object, Version: d.Bytes, Durable: d.Bytes})
	}
	for _, s := range f.States {
		e.States = append(e.States, stateEntry{Object: s.Object, State: s.Bytes})
	}
	return e.encode()
}

// Incarnation returns the replica's current incarnation, which a peer
// learns from its messages.
func (r *Replica) Incarnation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.incarnation
}

// AsVersion1 returns an engine message written again in the layout of the
// first format version, with every op whole, as a replica of an earlier
// release writes it.
func AsVersion1(msg []byte) ([]byte, error) {
	e, err := decodeEnvelope(msg, codec.Limits{})
	if err != nil {
		return nil, err
	}
	return e.encodeAs(1)
}

// TickHold returns the longest time a Tick held the replica's lock to
// prepare its messages.
func (r *Replica) TickHold() time.Duration {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.tickHold
}

// RetiringMessage returns a message from a to b carrying every part of a
// retirement section, with entries of a's list, for fuzzing to start from.
func RetiringMessage() ([]byte, error) {
	e := &envelope{From: "a", To: "b", Incarnation: 7}
	entry := retireEntry{From: "a!5", Heir: "a!9", Finals: []objFinal{{"s", 3}}}
	e.Retire = &retireSection{
		Sum:       0x5eed,
		Lens:      []nameLen{{"a", 1, entry.hash(0)}},
		Entries:   []ledgerEntry{{"a", 0, entry}},
		Proposals: []proposalMsg{{Name: "a", Index: 1, B: ballot{7, 9, "a"}, Cand: "a!6"}, {Name: "c", Index: 0, B: ballot{7, 9, "a"}, Accept: &retireEntry{From: "c!2", Finals: []objFinal{{"s", 1}}}}},
		Promises:  []promiseMsg{{Name: "b", Index: 0, B: ballot{3, 4, "b"}, Counts: []objFinal{{"s", 12}}, Members: 0x1234}},
		Accepteds: []acceptedMsg{{Name: "b", Index: 0, B: ballot{3, 4, "b"}}},
	}
	return e.encode()
}

// LedgerRetired reports whether the replica's ledger has retired writer w:
// the dots it still names are writes beyond the count retired.
func (r *Replica) LedgerRetired(w ReplicaID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.led.retired[string(w)]
}

// GapDigestMessage returns a message from a to b whose digest carries a
// content entry and a gap entry for the object s (see contentPrefix and
// gapPrefix) beside s's own entry, for fuzzing to start from.
func GapDigestMessage() ([]byte, error) {
	v := []byte{0x91, 0xa1, 'a', 0x03} // not read: only the entries' forms matter
	e := &envelope{From: "a", To: "b", Incarnation: 3, HasDigest: true,
		Digest: []digestEntry{contentEntry("s", 0x5eed, 0xc0de), gapEntry("s", 0x5eed, 0xf00d), {Object: "s", Version: v, Durable: v}}}
	return e.encode()
}

// UnnumberedRecord returns the journal record rec as releases before
// received changes were numbered wrote it: without the number of its
// first received change.
func UnnumberedRecord(rec []byte) []byte {
	body, kind, err := openFrame(rec, codec.KindJournal, codec.KindJournalSealed)
	if err != nil {
		panic(err)
	}
	rd := codec.NewReader(body, kind, codec.Limits{MaxBytes: len(body)})
	id, inc, first, last := rd.Replica(), rd.Uint(), rd.Uint(), getTimestamp(rd)
	ops := getLogEntries(rd)
	var theirs []remoteEntry
	if rd.Remaining() > 0 {
		theirs = getRemoteEntries(rd)
	}
	w := codec.NewWriter(codec.KindJournalSealed, len(rec))
	w.Replica(id)
	w.Uint(inc)
	w.Uint(first)
	putTimestamp(w, last)
	putLogEntries(w, ops)
	if len(theirs) > 0 {
		putRemoteEntries(w, theirs)
	}
	out, err := w.Bytes()
	if err != nil {
		panic(err)
	}
	return seal(out)
}

// FarPartMessages returns messages from a to b numbering the last part
// of a digest in maxChunks parts, and the last chunk of a catch-up in
// maxChunks chunks, for fuzzing to start from.
func FarPartMessages() ([][]byte, error) {
	var out [][]byte
	for _, e := range []*envelope{
		{From: "a", To: "b", Incarnation: 3, HasDigest: true, Digest: []digestEntry{{Object: "s", Version: []byte{0x90}}},
			DigestRound: 1, DigestPart: maxChunks - 1, DigestParts: maxChunks},
		{From: "a", To: "b", Incarnation: 3, CatchUp: 1, HasChunk: true, ChunkIndex: maxChunks - 1, ChunkCount: maxChunks,
			Parts: []partEntry{{Object: "s", Data: []byte{0x90}}}},
	} {
		b, err := e.encode()
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// LedgerAccepted reports whether the replica, as a member, holds an
// accepted value for the next entry of name's list.
func (r *Replica) LedgerAccepted(name ReplicaID) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	nl := r.led.lists[name]
	return nl != nil && !nl.accepted.zero()
}
