package codec

import "fmt"

// Version is the newest format version: readers accept every version from
// 1 up to Version.
//
// Version 2 changed the layout of a few kinds only (the LWW-map's put and
// delete ops, the LWW-map's state once it has collected writes, and the
// engine's checksummed messages; their packages say how), so a [Writer]
// writes version 1 unless [Writer.SetVersion] says otherwise: every other
// kind is written as it always was, and its golden files stand. Version 3
// changed the LWW-map's put and delete ops, and gave them a short
// header (see [Writer]), and added a layout of the LWW-map's state that
// only its saved snapshots use (lwwmap.Map.SnapshotBinary). A [Reader] refuses, with [ErrVersion], a version
// above the newest its kind was ever written in (version 2 or 3 of a kind
// those versions left alone), and any version above Version. A reader that
// knows only older versions refuses every message of a newer one whole,
// with [ErrVersion]: a short header reads there as a version of 64 to 127.
const Version = 3

// newestVersion returns the newest format version kind k is written in:
// 3 for the LWW-map's ops and state, 2 for the other kinds whose layout
// version 2 changed, 1 for this module's other kinds, and Version for users' kinds,
// whose decoders read [Reader.Version] themselves.
func newestVersion(k Kind) uint64 {
	switch {
	case k == KindMapPut, k == KindMapDelete, k == KindMap:
		return 3
	case k == KindEngineSealed, k == KindORMap, k == KindORMapOp:
		return 2
	case k >= KindUser:
		return Version
	}
	return 1
}

// The short header, of format version 3: one byte h from shortMin to
// shortMax, then the replica table's one ID, of h&shortLen bytes, raw. h
// names the kind: KindMapPut if h&shortDelete is 0, else KindMapDelete. A
// length of 0 is a reference left by OmitReplica, which no Reader accepts.
// Read by an older reader, h is a positive fixint: a format version from
// 64 to 127, refused with ErrVersion.
const (
	shortMin    = 0x40
	shortMax    = 0x7f
	shortDelete = 0x20
	shortLen    = 0x1f
	// shortVersion is the format version a short header stands for.
	shortVersion = 3
)

// isShort reports whether msg starts with a short header.
func isShort(msg []byte) bool { return len(msg) > 0 && msg[0] >= shortMin && msg[0] <= shortMax }

// shortKind returns the kind a short header h names.
func shortKind(h byte) Kind {
	if h&shortDelete != 0 {
		return KindMapDelete
	}
	return KindMapPut
}

// hasShortForm reports whether kind k, in format version v, is written
// with a short header when its replica table is one ID of 1 to 31 bytes.
func hasShortForm(v uint64, k Kind) bool {
	return v == shortVersion && (k == KindMapPut || k == KindMapDelete)
}

// Kind says what a message holds. It is written right after the format
// version, so a decoder refuses a message meant for another type with a
// clear error instead of misreading it.
//
// Kinds below [KindUser] belong to this module; a user's own data type may
// use kinds from KindUser up.
type Kind uint8

// The kinds of message this module writes.
const (
	KindClock   Kind = 0x01 // vclock.Clock
	KindContext Kind = 0x02 // vclock.Context

	KindLWW   Kind = 0x10 // register.LWW state
	KindLWWOp Kind = 0x11 // register.LWW op
	KindMV    Kind = 0x12 // register.MV state
	KindMVOp  Kind = 0x13 // register.MV op

	KindG    Kind = 0x20 // counter.G state
	KindGOp  Kind = 0x21 // counter.G op
	KindPN   Kind = 0x22 // counter.PN state
	KindPNOp Kind = 0x23 // counter.PN op

	KindBounded   Kind = 0x24 // counter.Bounded state
	KindBoundedOp Kind = 0x25 // counter.Bounded op

	KindSet       Kind = 0x30 // orset.Set state
	KindSetAdd    Kind = 0x31 // orset.Set add op
	KindSetRemove Kind = 0x32 // orset.Set remove op

	KindMap       Kind = 0x40 // lwwmap.Map state
	KindMapPut    Kind = 0x41 // lwwmap.Map put op
	KindMapDelete Kind = 0x42 // lwwmap.Map delete op
	KindMapTTL    Kind = 0x43 // lwwmap.Map expire or persist op

	KindORMap   Kind = 0x50 // ormap.Map state
	KindORMapOp Kind = 0x51 // ormap.Map op

	KindEngine   Kind = 0x60 // replication engine message
	KindSnapshot Kind = 0x61 // replication engine snapshot
	KindJournal  Kind = 0x62 // replication engine journal record

	// The engine's frames of its second format: each ends with a CRC-32C
	// (Castagnoli) of every byte before it, checked before anything is
	// decoded. Readers still accept the unchecked kinds above.
	KindEngineSealed   Kind = 0x63 // replication engine message, checksummed
	KindSnapshotSealed Kind = 0x64 // replication engine snapshot, checksummed
	KindJournalSealed  Kind = 0x65 // replication engine journal record, checksummed

	// KindUser is the first kind free for users' own types.
	KindUser Kind = 0x80
)

func kindName(k Kind) string {
	switch k {
	case KindClock:
		return "version vector"
	case KindContext:
		return "causal context"
	case KindLWW:
		return "LWW register"
	case KindLWWOp:
		return "LWW register op"
	case KindMV:
		return "MV register"
	case KindMVOp:
		return "MV register op"
	case KindG:
		return "G-counter"
	case KindGOp:
		return "G-counter op"
	case KindPN:
		return "PN-counter"
	case KindPNOp:
		return "PN-counter op"
	case KindBounded:
		return "bounded counter"
	case KindBoundedOp:
		return "bounded counter op"
	case KindSet:
		return "OR-Set"
	case KindSetAdd:
		return "OR-Set add op"
	case KindSetRemove:
		return "OR-Set remove op"
	case KindMap:
		return "LWW-map"
	case KindMapPut:
		return "LWW-map put op"
	case KindMapDelete:
		return "LWW-map delete op"
	case KindMapTTL:
		return "LWW-map expire or persist op"
	case KindORMap:
		return "OR-Map"
	case KindORMapOp:
		return "OR-Map op"
	case KindEngine:
		return "engine message"
	case KindSnapshot:
		return "engine snapshot"
	case KindJournal:
		return "engine journal record"
	case KindEngineSealed:
		return "checksummed engine message"
	case KindSnapshotSealed:
		return "checksummed engine snapshot"
	case KindJournalSealed:
		return "checksummed engine journal record"
	case KindCompressed:
		return "compressed message"
	}
	return ""
}

// String returns a short name for k, such as "OR-Set".
func (k Kind) String() string {
	if s := kindName(k); s != "" {
		return s
	}
	if k >= KindUser {
		return fmt.Sprintf("user kind %#x", uint8(k))
	}
	return fmt.Sprintf("unknown kind %#x", uint8(k))
}
