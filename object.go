package crdt

import (
	"encoding"

	"github.com/activeactive/crdt/clock"
)

// Object is what the replication engine needs of a data type: its whole
// state as bytes, and the means to take in another replica's state or op as
// bytes. Every data type of this module implements it; a user's own type
// that does can be replicated too.
//
// Implementations decode and validate the whole input before changing
// anything: on error the object is unchanged. An error that wraps
// clock.ErrClockSkew means the input is valid but carries a timestamp too
// far ahead of local time; the engine keeps it and offers it again later.
type Object interface {
	// MarshalBinary encodes the whole state.
	encoding.BinaryMarshaler
	// MergeBinary decodes a state or delta encoded by MarshalBinary or
	// DeltaSinceBinary of the same type and merges it in. It reports
	// whether the object's value changed. The engine keeps state for its
	// journal (see Replica.SaveOps): the method must not modify it.
	MergeBinary(state []byte) (changed bool, err error)
	// ApplyBinary decodes an op encoded by the MarshalBinary method of one
	// of the type's ops and applies it. Applying an op twice, or out of
	// order, is harmless. It reports whether the object's value changed.
	// As with MergeBinary, the method must not modify op.
	ApplyBinary(op []byte) (changed bool, err error)
}

// DeltaObject is an [Object] whose state grows with use and that can send a
// peer only what the peer lacks, given the peer's version.
type DeltaObject interface {
	Object
	// VersionBinary encodes the object's version: a summary of every
	// update it has seen.
	VersionBinary() ([]byte, error)
	// DeltaSinceBinary returns, encoded like MarshalBinary, a state holding
	// what a replica whose version is the given encoded version lacks.
	DeltaSinceBinary(version []byte) ([]byte, error)
}

// Collector is a [DeltaObject] that keeps some metadata only until every
// replica has seen it (the OR-Set's records of recent removals, the
// LWW-map's delete markers). Whenever the engine holds a durable version of
// the object from every peer, it hands them to CollectBinary, with its own
// durable version once it saves snapshots and the last durable version of
// every peer removed but not yet retired (see [Replica.RemovePeer]), and
// the object discards what every replica has seen and none can lose. A peer's durable version is
// that of the last snapshot it saved with [Replica.SaveSnapshot] (its
// current one if it never takes snapshots), so no crash can take the peer
// back before it; the versions arrive with
// the digests of anti-entropy rounds. A peer that comes back below them all
// the same (restored from an older backup) may lack what was collected,
// which no delta since its version carries: until its version covers them
// again, as far as this replica has seen, its catch-ups carry the whole
// state of such objects. A replica restored from a snapshot no longer
// knows the versions it collected on the strength of: until a peer's
// version covers the restored one, its catch-ups to that peer carry the
// whole state of such objects too. The engine holds all this in memory
// (and renames it with the objects when a retired writer is renamed). The
// module's collectors also keep, in their own state, how far they have
// collected, and their DeltaSince gives the whole state to a version below
// it: that record travels with their states, so a replica that took one in
// guards its peers too (an object of the host's may do the same). The engine assumes a full
// mesh: every replica is a peer of every other.
//
// A peer's durable versions are its own word. One that reports more than
// it holds (a bug, a hostile peer) lets the others collect what it has not
// seen, so that a write it holds and the group deleted may come back
// through it, to every replica it then sends it to. Its report stands for
// itself alone: collection waits for every other peer's own version, so
// no report makes a replica that has not seen a delete miss it.
type Collector interface {
	DeltaObject
	// CollectBinary takes the encoded durable versions of the object at
	// every peer, and this replica's own once it saves snapshots, as
	// VersionBinary made them, and discards the metadata that this
	// replica and all of them have seen. It does not change the
	// object's value (ormap.Map also deletes there the keys that have
	// expired, which already read as absent; see its Collect).
	CollectBinary(peerVersions [][]byte) error
}

// ClockCollector is an optional interface of a [Collector] whose
// collection also depends on how far every replica's clock has gone:
// ormap.Map deletes a key that has expired only once every replica's
// clock has passed its expiry, for the delete removes the key everywhere,
// and its writes carry no timestamps to tell the collector where the
// others' clocks are. The engine calls CollectBinaryAt in place of
// CollectBinary, with peersAt a time every peer's clock has reached: the
// earliest, over the peers, of the latest clock reading taken in from the
// peer's present run (the Now of its messages, those within the clock's
// maximum offset of this replica's time), zero while some peer has sent
// none since it last restarted. A peer's clock never goes back within a
// run, so whatever reaches it later finds its clock at least there.
type ClockCollector interface {
	Collector
	CollectBinaryAt(peerVersions [][]byte, peersAt clock.Timestamp) error
}
