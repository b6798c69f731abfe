package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/activeactive/crdt/clock"
)

// A remote record is a journal record of what peers changed: for each
// replicated object, the delta state holding what the object gained since
// the last save (DeltaSince of the version saved last), so saving a remote
// change costs what changed, as SaveOps does for local ones. The engine's
// journal (SaveOps, Replay) holds only local ops; remote records share its
// bbolt bucket, in order, and are told apart by their first bytes, which
// no engine frame starts with (an engine frame starts with its format
// version, 1):
//
//	"TDR" 0x01                         magic and version
//	wall (8 bytes), logical (4 bytes)  the region's clock when it was taken
//	count (1 byte)                     objects that follow, at most 3
//	per object: name length (1 byte), name, state length (4 bytes), state
//	CRC-32C (4 bytes) of everything before it
//
// Integers are big-endian. On a restart, each object's state is merged
// into the restored object (merging is idempotent, so a delta holding more
// than it must, or a change the snapshot already holds, is harmless) and
// the clock is raised past the recorded time, so that no local write made
// after the restart orders before a remote write the region had seen.
var remoteMagic = [4]byte{'T', 'D', 'R', 1}

// remoteRecordMin is the size of a remote record with no object.
const remoteRecordMin = 4 + 12 + 1 + 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errRemoteRecord marks a damaged remote record.
var errRemoteRecord = errors.New("damaged remote journal record")

// objectState is one object's delta state in a remote record.
type objectState struct {
	name  string
	state []byte
}

// isRemoteRecord reports whether a journal record is a remote record (by
// its magic; a damaged one still fails decodeRemoteRecord).
func isRemoteRecord(rec []byte) bool {
	return len(rec) >= len(remoteMagic) && [4]byte(rec[:4]) == remoteMagic
}

// encodeRemoteRecord encodes a remote record.
func encodeRemoteRecord(at clock.Timestamp, states []objectState) ([]byte, error) {
	if len(states) > len(objectNames) {
		return nil, fmt.Errorf("remote record of %d objects", len(states))
	}
	size := remoteRecordMin
	for _, s := range states {
		size += 1 + len(s.name) + 4 + len(s.state)
	}
	b := make([]byte, 0, size)
	b = append(b, remoteMagic[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(at.Wall))
	b = binary.BigEndian.AppendUint32(b, at.Logical)
	b = append(b, byte(len(states)))
	for _, s := range states {
		if len(s.name) > 255 || uint64(len(s.state)) > 1<<32-1 {
			return nil, fmt.Errorf("remote record: object %q of %d bytes", s.name, len(s.state))
		}
		b = append(b, byte(len(s.name)))
		b = append(b, s.name...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(s.state)))
		b = append(b, s.state...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

// decodeRemoteRecord checks and decodes a remote record: its checksum
// first, then every length against what is left, so a damaged record is
// refused whole (errRemoteRecord) at a cost linear in its size. The states
// returned share rec's memory.
func decodeRemoteRecord(rec []byte) (clock.Timestamp, []objectState, error) {
	fail := func(format string, args ...any) (clock.Timestamp, []objectState, error) {
		return clock.Timestamp{}, nil, fmt.Errorf("%w: %s", errRemoteRecord, fmt.Sprintf(format, args...))
	}
	if len(rec) < remoteRecordMin {
		return fail("%d bytes", len(rec))
	}
	body, sum := rec[:len(rec)-4], binary.BigEndian.Uint32(rec[len(rec)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return fail("bad checksum")
	}
	if [4]byte(body[:4]) != remoteMagic {
		return fail("bad magic")
	}
	at := clock.Timestamp{Wall: int64(binary.BigEndian.Uint64(body[4:])), Logical: binary.BigEndian.Uint32(body[12:])}
	n := int(body[16])
	if n > len(objectNames) {
		return fail("%d objects", n)
	}
	rest := body[17:]
	states := make([]objectState, 0, n)
	for range n {
		if len(rest) < 1 || len(rest) < 1+int(rest[0])+4 {
			return fail("object cut short")
		}
		name := string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return fail("object %q of %d bytes, %d left", name, size, len(rest))
		}
		known := false
		for _, o := range objectNames {
			known = known || o == name
		}
		for _, s := range states {
			if s.name == name {
				return fail("object %q twice", name)
			}
		}
		if !known {
			return fail("unknown object %q", name)
		}
		states = append(states, objectState{name: name, state: rest[:size]})
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return fail("%d bytes after the last object", len(rest))
	}
	return at, states, nil
}

// saveRemoteLocked saves what peers changed since the last save: the delta
// of every object since the version saved last goes to the journal (or,
// when the journal has grown as large as a snapshot, a snapshot is saved).
// The caller holds rg.mu.
func (rg *region) saveRemoteLocked() error {
	if rg.stopped {
		return errStopped
	}
	if rg.journalFull() {
		return rg.persistLocked()
	}
	at, states, versions, err := rg.todos.deltasSince(rg.savedVersions)
	if err != nil {
		return err
	}
	rec, err := encodeRemoteRecord(at, states)
	if err != nil {
		return err
	}
	if err := rg.store.appendRecord(rec); err != nil {
		return err
	}
	rg.journalLen++
	rg.journalBytes += len(rec)
	rg.savedVersions = versions
	return nil
}

// saveRemote is saveRemoteLocked under rg.mu.
func (rg *region) saveRemote() error {
	rg.mu.Lock()
	defer rg.mu.Unlock()
	return rg.saveRemoteLocked()
}

// replayRemote applies a remote record read back from the journal at
// start, before the region serves or replicates anything.
func (rg *region) replayRemote(rec []byte) error {
	at, states, err := decodeRemoteRecord(rec)
	if err != nil {
		return err
	}
	// The record's own time, taken back from its own storage: raise the
	// clock past it, without the offset check, before merging the states
	// (whose timestamps are no later).
	rg.replica.Clock().Restore(at)
	for _, s := range states {
		if err := rg.todos.mergeState(s.name, s.state); err != nil {
			return fmt.Errorf("%w: %w", errRemoteRecord, err)
		}
	}
	return nil
}
