package crdt

import (
	"errors"
	"math"
	"strconv"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// envelope is one engine message from one replica to another. Every field
// is optional but From and Incarnation; a message carries whatever is due:
// acknowledgements, a run of ops, a request for a digest, a digest, or
// catch-up states.
//
// A broadcast envelope goes to several replicas at once through a
// [Broadcaster]: To is empty, Recipients names every replica it is for
// with the acknowledgement due to each, and it carries only ops (a digest
// and catch-up states are always for one peer).
type envelope struct {
	From        ReplicaID
	To          ReplicaID
	Incarnation uint64          // the sender's incarnation
	Now         clock.Timestamp // the sender's clock when it sent

	// Broadcast marks a message for every replica in Recipients, sorted
	// by ID, each with its own acknowledgement.
	Broadcast  bool
	Recipients []recipient

	// AckInc and AckSeq acknowledge the receiver's ops: every op of the
	// receiver's incarnation AckInc up to AckSeq has been applied.
	// CatchUpAck is the number of the receiver's last catch-up (of that
	// incarnation) merged here.
	AckInc, AckSeq, CatchUpAck uint64

	WantDigest bool // the sender asks for the receiver's digest

	// Ops is a run of the sender's ops with consecutive sequence numbers
	// starting at FirstSeq.
	FirstSeq uint64
	Ops      []opEntry
	// Writer is the sender's writer (see [Replica.Writer]): From and an
	// epoch. An op whose replica table names it travels without it (see
	// codec.OmitReplica), and the receiver puts it back before anything
	// decodes the op; ops written by the sender's earlier runs travel
	// whole. Empty if the sender names none; only messages of the second
	// format version carry it.
	Writer ReplicaID

	// Digest, if HasDigest, lists the sender's objects and their versions.
	// A digest too large for one message goes in DigestParts messages
	// (if more than one), this one its part DigestPart, all numbered
	// DigestRound; the receiver takes it in once it has every part.
	HasDigest                            bool
	Digest                               []digestEntry
	DigestRound, DigestPart, DigestParts uint64

	// States carries catch-up states (deltas or whole states); once they
	// are merged, every op of the sender up to StatesUpTo is accounted for.
	// CatchUp numbers the catch-up, for the receiver to confirm it.
	StatesUpTo, CatchUp uint64
	States              []stateEntry

	// A catch-up too large for one message travels as ChunkCount chunks,
	// one a message: this one, if HasChunk, is chunk ChunkIndex of
	// catch-up CatchUp, carrying Parts (whole states, and parts of states
	// cut by a [Chunker]). An Ordered chunk is merged only once every
	// chunk before it is.
	HasChunk               bool
	ChunkIndex, ChunkCount uint64
	Ordered                bool
	Parts                  []partEntry

	// ChunkAcks acknowledges chunks of the receiver's catch-up ChunkAckOf
	// merged at the sender (or merged before, and received again).
	ChunkAckOf uint64
	ChunkAcks  []uint64

	// Retire carries the sender's ledger of retired writers and its part
	// in agreeing on the next entries (see retire.go); nil if the sender
	// has nothing to say of them.
	Retire *retireSection
}

// partEntry is an object's whole state or delta, or, if Part, a part of
// one made by its Chunker.
type partEntry struct {
	Object string
	Data   []byte
	Part   bool
}

// recipient is one addressee of a broadcast and the acknowledgement of its
// ops that the broadcast carries.
type recipient struct {
	ID                         ReplicaID
	AckInc, AckSeq, CatchUpAck uint64
}

type opEntry struct {
	Object string
	Op     []byte
}

type digestEntry struct {
	Object  string
	Version []byte // the current version; nil for an object without versions
	// Durable is the version as of the sender's last saved snapshot (its
	// current version if it never takes snapshots), which it cannot lose in
	// a crash; nil if unknown. Only durable versions decide what metadata
	// can be collected.
	Durable []byte
	// Fingerprint is the object's content fingerprint (see
	// [Fingerprinter]) at the same instant as Version, if HasFingerprint.
	Fingerprint    uint64
	HasFingerprint bool
}

type stateEntry struct {
	Object string
	State  []byte
}

const (
	flagWantDigest = 1 << iota
	flagDigest
	flagBroadcast
	flagChunk
	flagChunkAck
	flagDigestPart
	flagWriter // second format version: the sender's epoch follows FirstSeq
	flagRetire // second format version: a retirement section ends the message
	// flagEntryPart (second format version): a part of a ledger entry
	// (see entryPart) follows the retirement section. A release that
	// does not know it refuses the message whole; it is sent only in a
	// message of its own, for an entry no message to the peer can carry
	// whole.
	flagEntryPart
)

// envelopeVersion is the format version engine messages are written in.
// Version 2 added the sender's writer and ops that leave it out: a peer
// that reads only version 1 refuses such a message whole as of a future
// version (counted under [ReasonVersion]), so replicas of the two versions
// do not replicate to each other until both are upgraded.
const envelopeVersion = 2

// maxChunks bounds the chunks of one catch-up a decoder accepts, and
// maxChunkAcks the chunk acknowledgements of one message.
const (
	maxChunks    = 1 << 20
	maxChunkAcks = 32
)

// maxRecipients bounds the recipients of one broadcast a decoder accepts
// (each takes at least 3 bytes anyway, so this only caps allocation).
const maxRecipients = 1 << 16

// putTimestamp writes a clock reading, which may be zero.
func putTimestamp(w *codec.Writer, t clock.Timestamp) {
	w.Int(t.Wall)
	w.Uint(uint64(t.Logical))
}

// getTimestamp reads a clock reading written by putTimestamp.
func getTimestamp(r *codec.Reader) clock.Timestamp {
	t := clock.Timestamp{Wall: r.Int()}
	logical := r.Uint()
	if r.Err() == nil && logical > uint64(^uint32(0)) {
		r.Fail("clock logical part %d out of range", logical)
	}
	t.Logical = uint32(logical)
	return t
}

// putLogEntries writes local ops as snapshots and journal records hold
// them: object, op, time made, and whether the next op is of its group.
func putLogEntries(w *codec.Writer, ops []logEntry) {
	w.Array(4 * len(ops))
	for _, e := range ops {
		w.String(e.object)
		w.Binary(e.op)
		w.Int(e.at)
		w.Bool(e.more)
	}
}

// getLogEntries reads local ops written by putLogEntries, with their
// cumulative sizes.
func getLogEntries(r *codec.Reader) []logEntry {
	n := r.ArrayLen()
	if r.Err() == nil && n%4 != 0 {
		r.Fail("op list with %d fields, not a multiple of 4", n)
	}
	ops := make([]logEntry, 0, n/4)
	cum := 0
	for range n / 4 {
		e := logEntry{object: r.String(), op: r.Binary(), at: r.Int(), more: r.Bool()}
		cum += len(e.op)
		e.cum = cum
		ops = append(ops, e)
	}
	return ops
}

func (e *envelope) encode() ([]byte, error) { return e.encodeAs(envelopeVersion) }

// encodeAs encodes e in the layout of the given format version (1 or 2). A
// replica writes only the newest; the first is kept for tests of the
// decoder, which reads both.
func (e *envelope) encodeAs(version int) ([]byte, error) {
	size := 32
	for _, o := range e.Ops {
		size += len(o.Op) + 4
	}
	for _, s := range e.States {
		size += len(s.Object) + len(s.State) + 8
	}
	for _, d := range e.Digest {
		size += len(d.Object) + len(d.Version) + 8
	}
	for _, pe := range e.Parts {
		size += len(pe.Object) + len(pe.Data) + 12
	}
	if e.Retire != nil {
		size += e.Retire.size()
	}
	w := codec.NewWriter(codec.KindEngineSealed, size+crcSize)
	w.SetVersion(version)
	var epoch uint64
	if e.Writer != "" && version >= 2 {
		var ok bool
		epoch, ok = e.Writer.Epoch()
		if !ok || vclock.Writer(e.From, epoch) != e.Writer {
			w.Fail(errors.New("the sender's writer is not its ID and an epoch"))
		}
	}
	// Each op the sender's writer wrote leaves it out of its replica table.
	var short []byte // the ops' short forms, one after the other
	var shortEnd []int
	if e.Writer != "" && version >= 2 {
		for _, o := range e.Ops {
			short, _ = codec.OmitReplica(short, o.Op, string(e.Writer))
			shortEnd = append(shortEnd, len(short))
		}
	}
	withWriter := len(short) > 0
	w.Replica(string(e.From))
	if e.Broadcast {
		w.Nil() // the recipients follow the flags
	} else {
		w.Replica(string(e.To))
	}
	w.Uint(e.Incarnation)
	putTimestamp(w, e.Now)
	w.Uint(e.AckInc)
	w.Uint(e.AckSeq)
	w.Uint(e.CatchUpAck)
	var flags uint64
	if e.WantDigest {
		flags |= flagWantDigest
	}
	if e.HasDigest {
		flags |= flagDigest
	}
	if e.Broadcast {
		flags |= flagBroadcast
	}
	if e.HasChunk {
		flags |= flagChunk
	}
	if len(e.ChunkAcks) > 0 {
		flags |= flagChunkAck
	}
	if e.DigestParts > 1 {
		flags |= flagDigestPart
	}
	if withWriter {
		flags |= flagWriter
	}
	if e.Retire != nil {
		if version < 2 {
			w.Fail(errors.New("a retirement section in a message of the first format"))
		}
		flags |= flagRetire
		if e.Retire.Part != nil {
			flags |= flagEntryPart
		}
	}
	w.Uint(flags)
	if e.Broadcast {
		w.Array(4 * len(e.Recipients))
		for _, rc := range e.Recipients {
			w.Replica(string(rc.ID))
			w.Uint(rc.AckInc)
			w.Uint(rc.AckSeq)
			w.Uint(rc.CatchUpAck)
		}
	}

	// Ops name their object through a table, so a run of ops on one
	// object spells its name once.
	var names []string
	var index map[string]uint64
	if len(e.Ops) > 0 {
		index = make(map[string]uint64, 4)
	}
	for _, o := range e.Ops {
		if _, ok := index[o.Object]; !ok {
			index[o.Object] = uint64(len(names))
			names = append(names, o.Object)
		}
	}
	w.Array(len(names))
	for _, n := range names {
		w.String(n)
	}
	w.Uint(e.FirstSeq)
	if withWriter {
		w.Uint(epoch)
	}
	// An op is its object's index, times two, plus one if it left out the
	// writer, then its bytes.
	w.Array(2 * len(e.Ops))
	at := 0
	for i, o := range e.Ops {
		if withWriter && shortEnd[i] > at {
			w.Uint(index[o.Object]<<1 | 1)
			w.Binary(short[at:shortEnd[i]])
			at = shortEnd[i]
			continue
		}
		if version >= 2 {
			w.Uint(index[o.Object] << 1)
		} else {
			w.Uint(index[o.Object])
		}
		w.Binary(o.Op)
	}

	w.Array(digestFields * len(e.Digest))
	for _, d := range e.Digest {
		w.String(d.Object)
		for _, v := range [][]byte{d.Version, d.Durable} {
			if v == nil {
				w.Nil()
			} else {
				w.Binary(v)
			}
		}
		if d.HasFingerprint {
			w.Uint(d.Fingerprint)
		} else {
			w.Nil()
		}
	}
	w.Uint(e.StatesUpTo)
	w.Uint(e.CatchUp)
	w.Array(2 * len(e.States))
	for _, s := range e.States {
		w.String(s.Object)
		w.Binary(s.State)
	}
	if e.HasChunk {
		w.Uint(e.ChunkIndex)
		w.Uint(e.ChunkCount)
		w.Bool(e.Ordered)
		w.Array(3 * len(e.Parts))
		for _, pe := range e.Parts {
			w.String(pe.Object)
			w.Binary(pe.Data)
			w.Bool(pe.Part)
		}
	}
	if e.DigestParts > 1 {
		w.Uint(e.DigestRound)
		w.Uint(e.DigestPart)
		w.Uint(e.DigestParts)
	}
	if len(e.ChunkAcks) > 0 {
		w.Uint(e.ChunkAckOf)
		w.Array(len(e.ChunkAcks))
		for _, i := range e.ChunkAcks {
			w.Uint(i)
		}
	}
	if e.Retire != nil {
		e.Retire.encode(w)
		if e.Retire.Part != nil {
			e.Retire.Part.encode(w)
		}
	}
	b, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return seal(b), nil
}

// digestFields is the number of fields of a digest entry in a checksummed
// message: object, version, durable version, fingerprint. Messages of the
// first format have no fingerprint.
const digestFields = 4

// decodeEnvelope decodes and checks an engine message: a checksummed one,
// or one of the first format, written before messages were checksummed.
func decodeEnvelope(msg []byte, lim codec.Limits) (*envelope, error) {
	body, kind, err := openFrame(msg, codec.KindEngine, codec.KindEngineSealed)
	if err != nil {
		return nil, err
	}
	fields := digestFields
	if kind == codec.KindEngine {
		fields = 3
	}
	r := codec.NewReader(body, kind, lim)
	// Version 2 is the second layout of the checksummed kind (the reader
	// refuses version 2 of the unchecked kind, which only had the first).
	v2 := r.Version() >= 2
	known := uint64(flagWantDigest | flagDigest | flagBroadcast | flagChunk | flagChunkAck | flagDigestPart)
	if v2 {
		known |= flagWriter | flagRetire | flagEntryPart
	}
	e := &envelope{From: ReplicaID(r.Replica())}
	noTo := r.IsNil()
	if !noTo {
		e.To = ReplicaID(r.Replica())
	}
	e.Incarnation = r.Uint()
	e.Now = getTimestamp(r)
	e.AckInc = r.Uint()
	e.AckSeq = r.Uint()
	e.CatchUpAck = r.Uint()
	flags := r.Uint()
	if r.Err() == nil && flags&^known != 0 {
		r.Fail("unknown flags %#x", flags)
	}
	e.WantDigest = flags&flagWantDigest != 0
	e.HasDigest = flags&flagDigest != 0
	e.Broadcast = flags&flagBroadcast != 0
	if r.Err() == nil && e.Incarnation == 0 {
		r.Fail("incarnation 0")
	}
	if r.Err() == nil && noTo != e.Broadcast {
		r.Fail("addressee and broadcast flag disagree")
	}
	if e.Broadcast {
		decodeRecipients(r, e)
	}

	nn := r.ArrayLen()
	names := make([]string, 0, nn)
	for range nn {
		names = append(names, r.String())
	}
	e.FirstSeq = r.Uint()
	if flags&flagWriter != 0 {
		// The writer is put back in every op that leaves it out: a valid
		// name (at most 255 bytes) keeps what that costs linear in the
		// message's size.
		if err := vclock.CheckName(e.From); r.Err() == nil && err != nil {
			r.Fail("sender's writer: %v", err)
		}
		var b [64]byte // the name, '!' and the epoch, built in one string
		e.Writer = ReplicaID(strconv.AppendUint(append(append(b[:0], e.From...), '!'), r.Uint(), 36))
	}
	n := r.ArrayLen()
	if r.Err() == nil && n%2 != 0 {
		r.Fail("op list with an odd number of fields")
	}
	if r.Err() == nil && e.Writer != "" && n == 0 {
		r.Fail("the sender's writer named for no op")
	}
	if n > 0 {
		if r.Err() == nil && e.FirstSeq == 0 {
			r.Fail("ops starting at sequence number 0")
		}
		if r.Err() == nil && e.FirstSeq-1 > math.MaxUint64-uint64(n/2) {
			r.Fail("%d ops from sequence number %d: numbered past 2^64-1", n/2, e.FirstSeq)
		}
		e.Ops = make([]opEntry, 0, n/2)
	}
	for range n / 2 {
		i := r.Uint()
		op := r.BinaryBytes() // copied below, once
		if r.Err() != nil {
			break
		}
		short := false
		if v2 {
			i, short = i>>1, i&1 != 0
		}
		if i >= uint64(len(names)) {
			r.Fail("op names object %d of %d", i, len(names))
			break
		}
		if short {
			// The op left out the sender's writer: put it back, so that
			// the op is decoded, checked for its origin and kept whole.
			if e.Writer == "" {
				r.Fail("op leaving out a writer the message does not name")
				break
			}
			// Room for the writer and its string header, and for the
			// version and kind of a long header in place of a short one
			// (a writer of more than 31 bytes).
			room := len(e.Writer) + 2
			if len(e.Writer) > 31 {
				room += 3
			}
			whole, err := codec.RestoreReplica(make([]byte, 0, len(op)+room), op, string(e.Writer), lim)
			switch {
			case errors.Is(err, codec.ErrVersion):
				// An op of a format version this replica does not know:
				// its object refuses it on its own, counted as such.
				short = false
			case err != nil:
				r.Fail("op %d: %v", len(e.Ops), err)
			default:
				op = whole
			}
			if r.Err() != nil {
				break
			}
		}
		if !short {
			op = append([]byte{}, op...) // not the message's bytes: the caller may reuse them
		}
		e.Ops = append(e.Ops, opEntry{Object: names[i], Op: op})
	}

	n = r.ArrayLen()
	if r.Err() == nil && n%fields != 0 {
		r.Fail("digest with %d fields, not a multiple of %d", n, fields)
	}
	// A digest names each object once, in increasing order, so that what
	// it makes the receiver do (one catch-up state per object) is bounded
	// by the objects the receiver has, whatever the digest's size.
	for range n / fields {
		d := digestEntry{Object: r.String()}
		if !r.IsNil() {
			d.Version = r.Binary()
		}
		if !r.IsNil() {
			d.Durable = r.Binary()
		}
		if fields == digestFields {
			if !r.IsNil() {
				d.Fingerprint, d.HasFingerprint = r.Uint(), true
			}
		}
		if r.Err() != nil {
			break
		}
		if k := len(e.Digest); d.Object == "" || k > 0 && e.Digest[k-1].Object >= d.Object {
			r.Fail("digest entry %q empty, repeated or out of order", d.Object)
			break
		}
		e.Digest = append(e.Digest, d)
	}
	e.StatesUpTo = r.Uint()
	e.CatchUp = r.Uint()
	n = r.ArrayLen()
	if r.Err() == nil && n%2 != 0 {
		r.Fail("state list with an odd number of fields")
	}
	for range n / 2 {
		s := stateEntry{Object: r.String(), State: r.Binary()}
		if r.Err() != nil {
			break
		}
		if k := len(e.States); s.Object == "" || k > 0 && e.States[k-1].Object >= s.Object {
			r.Fail("catch-up state for %q empty, repeated or out of order", s.Object)
			break
		}
		e.States = append(e.States, s)
	}
	if flags&flagChunk != 0 {
		decodeChunk(r, e)
	}
	if flags&flagDigestPart != 0 {
		e.DigestRound, e.DigestPart, e.DigestParts = r.Uint(), r.Uint(), r.Uint()
		if r.Err() == nil && (!e.HasDigest || e.DigestParts < 2 || e.DigestParts > maxChunks || e.DigestPart >= e.DigestParts) {
			r.Fail("digest part %d of %d", e.DigestPart, e.DigestParts)
		}
	}
	if flags&flagChunkAck != 0 {
		decodeChunkAcks(r, e)
	}
	if flags&flagRetire != 0 {
		e.Retire = decodeRetire(r)
	}
	if flags&flagEntryPart != 0 {
		if e.Retire == nil {
			r.Fail("a ledger entry's part without a retirement section")
		} else {
			e.Retire.Part = decodeEntryPart(r)
		}
	}
	if e.Broadcast && r.Err() == nil && (e.StatesUpTo != 0 || e.CatchUp != 0 || len(e.States) > 0 || len(e.Digest) > 0 || e.HasChunk || len(e.ChunkAcks) > 0 ||
		(e.Retire != nil && !e.Retire.onlyLens())) {
		r.Fail("broadcast carrying catch-up states, chunks or a digest")
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeRecipients reads the recipients of a broadcast envelope: at least
// one, each named once, in increasing order, none of them the sender.
func decodeRecipients(r *codec.Reader, e *envelope) {
	if e.WantDigest || e.HasDigest {
		r.Fail("broadcast carrying a digest or a request for one")
		return
	}
	n := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	switch {
	case n == 0:
		r.Fail("broadcast with no recipients")
		return
	case n%4 != 0:
		r.Fail("recipient list with %d fields, not a multiple of 4", n)
		return
	case n/4 > maxRecipients:
		r.Fail("%d recipients, limit %d", n/4, maxRecipients)
		return
	}
	e.Recipients = make([]recipient, 0, n/4)
	for range n / 4 {
		rc := recipient{ID: ReplicaID(r.Replica()), AckInc: r.Uint(), AckSeq: r.Uint(), CatchUpAck: r.Uint()}
		if r.Err() != nil {
			return
		}
		if rc.ID == "" || rc.ID == e.From {
			r.Fail("broadcast recipient %q", rc.ID)
			return
		}
		if k := len(e.Recipients); k > 0 && e.Recipients[k-1].ID >= rc.ID {
			r.Fail("broadcast recipients out of order or repeated at %q", rc.ID)
			return
		}
		e.Recipients = append(e.Recipients, rc)
	}
}

// decodeChunk reads the chunk of a catch-up that a message carries: its
// place among at most maxChunks, and at least one part, each of a named
// object. A message carrying a chunk carries no other catch-up states.
func decodeChunk(r *codec.Reader, e *envelope) {
	e.HasChunk = true
	e.ChunkIndex = r.Uint()
	e.ChunkCount = r.Uint()
	e.Ordered = r.Bool()
	n := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	switch {
	case e.CatchUp == 0 || len(e.States) > 0:
		r.Fail("chunk of catch-up %d beside %d states", e.CatchUp, len(e.States))
		return
	case e.ChunkCount == 0 || e.ChunkCount > maxChunks || e.ChunkIndex >= e.ChunkCount:
		r.Fail("chunk %d of %d (at most %d)", e.ChunkIndex, e.ChunkCount, maxChunks)
		return
	case n == 0 || n%3 != 0:
		r.Fail("chunk with %d fields, not a positive multiple of 3", n)
		return
	}
	e.Parts = make([]partEntry, 0, n/3)
	for range n / 3 {
		pe := partEntry{Object: r.String(), Data: r.Binary(), Part: r.Bool()}
		if r.Err() != nil {
			return
		}
		if pe.Object == "" {
			r.Fail("chunk part for no object")
			return
		}
		e.Parts = append(e.Parts, pe)
	}
}

// decodeChunkAcks reads the acknowledgements of chunks a message carries:
// at most maxChunkAcks chunk numbers of a catch-up.
func decodeChunkAcks(r *codec.Reader, e *envelope) {
	e.ChunkAckOf = r.Uint()
	n := r.ArrayLen()
	if r.Err() != nil {
		return
	}
	if e.ChunkAckOf == 0 || n == 0 || n > maxChunkAcks {
		r.Fail("%d acknowledgements of chunks of catch-up %d (at most %d)", n, e.ChunkAckOf, maxChunkAcks)
		return
	}
	e.ChunkAcks = make([]uint64, 0, n)
	for range n {
		i := r.Uint()
		if r.Err() != nil {
			return
		}
		if i >= maxChunks {
			r.Fail("acknowledgement of chunk %d", i)
			return
		}
		e.ChunkAcks = append(e.ChunkAcks, i)
	}
}
