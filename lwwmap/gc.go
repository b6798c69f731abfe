package lwwmap

import "github.com/activeactive/crdt/clock"

// Garbage returns how many delete markers the map holds (pending), and how
// many it has discarded because every replica had seen their deletes
// (collected), since it was made or last replaced by [Map.UnmarshalBinary].
// [Map.CollectVersions] (called by [Map.CollectBinary]) and [Map.Collect]
// collect markers; a merged state that shows a marker collected at its
// sender discards it here too, and counts it as collected. A marker that a
// later write of its key replaces leaves pending without being counted as
// collected. Keys whose time to live has run out (see [Map.Expire]) count
// like delete markers: pending while held, collected when dropped. It
// implements crdt.GarbageReporter.
func (m *Map[K, V]) Garbage() (pending, collected uint64) {
	pending = uint64(m.nDel)
	if len(m.ttl) > 0 {
		pending += uint64(m.expiredHeld(m.now()))
	}
	return pending, m.gcN
}

// LateWrites returns how many puts this map took in, new to it, of a key
// it held no entry of, stamped before a write it had collected (a delete
// marker, an expired key's entry) or at the same instant, since it was
// made or last replaced by [Map.UnmarshalBinary]. It implements
// crdt.LateWriteReporter.
//
// It should stay zero. [Map.CollectVersions] drops a marker once every
// peer's version counts it, on the ground that a write made before a
// peer took the delete in is counted by the peer's version: true of the
// run that reported the version, not of another process writing under
// the same replica ID (a disk copied and started twice, the network
// routing the ID to one or the other), nor of a put still on its way when
// its replica came back from a backup older than it, the new run
// reporting versions without it. Such a put of a deleted key, stamped
// before the delete, reaches a replica that collected the marker as a new
// write, finds no marker, and takes the key back, against the conflict
// rule: at the replicas that collected the marker, and at every replica
// once they merge if all had (they then agree, so no divergence shows).
// Each such put is counted here, at the replicas that collected a marker
// stamped after it before the put came. A put of another key, stamped
// before a collected write and new to the map, counts too: only a run
// that is not the one that reported its writer's version (as above) makes
// one, since a run's version counts what it wrote before it took a
// collected delete in, and what it writes after is stamped later.
//
// What the map collected is judged by one timestamp, that of the latest
// put or delete it collected, which its snapshot ([Map.SnapshotBinary])
// keeps: a map restored from it ([Map.UnmarshalBinary], or
// [Map.MergeBinary] into a map just made, as the replication engine
// restores) counts the late puts that reach it after the restart as it
// would have before. The count itself starts again from zero. A state
// sent to a peer ([Map.MarshalBinary], [Map.DeltaSince]) does not carry
// the timestamp, nor does a snapshot of an older release: a map restored
// from one counts only against what it collects again.
func (m *Map[K, V]) LateWrites() uint64 { return m.late }

// noteLate counts, for LateWrites, a write of k stamped ts, not yet seen
// by the map, that is a put of a key the map holds no entry of stamped
// before a write it collected or at the same instant (which the write
// loses to if its writer's ID is the greater).
func (m *Map[K, V]) noteLate(k K, del bool, ts clock.Timestamp) {
	if del || m.collTS == nil || ts.After(*m.collTS) {
		return
	}
	if m.m.Find(k) == nil {
		m.late++
	}
}
