package lwwmap

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
