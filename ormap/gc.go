package ormap

// Garbage returns how many drop records the map holds (pending), and how
// many it has discarded because every replica had seen their writes and
// deletes (collected), since it was made or last replaced by
// [Map.UnmarshalBinary]. A delete, a register's set and a set's add or
// remove make a record when they replace earlier writes (a counter's
// increment does not: its leaf implies the drop of its chain's older
// leaf); [Map.Collect]
// (or [Map.CollectBinary]) discards it once every replica has seen it, and
// a merged state that shows a record discarded at its sender discards it
// here too, counted as collected. Records discarded because more than the
// cap (16,384) piled up count as neither.
//
// The notes a delete of counters keeps of the chains it reset (see
// [Counter]) count too: pending while the map holds them, collected once
// [Map.CollectVersions] (the engine's collection) removes them, so that a
// collection that stalls shows. A note a merged state drops (its sender
// collected it) is no longer pending, and is not counted as collected.
//
// It implements crdt.GarbageReporter, and panics on a nested map, like
// [Map.Collect].
func (m *Map[K, V]) Garbage() (pending, collected uint64) {
	s := m.readTop("Garbage")
	pending, collected = s.k.Garbage()
	return pending + uint64(len(s.resetDots)), collected + s.resetsGone
}
