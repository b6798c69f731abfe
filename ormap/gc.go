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
// cap (16,384) piled up count as neither. It implements
// crdt.GarbageReporter, and panics on a nested map, like [Map.Collect].
func (m *Map[K, V]) Garbage() (pending, collected uint64) {
	return m.readTop("Garbage").k.Garbage()
}
