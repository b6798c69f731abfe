package orset

// Garbage returns how many drop records the set holds (pending), and how
// many it has discarded because every replica had seen their adds and
// removes (collected), since it was made or last replaced by
// [Set.UnmarshalBinary]. A remove, and an add of an element already
// present, each make a record that [Set.Collect] (or [Set.CollectBinary])
// discards once every replica has seen it; a merged state that shows a
// record discarded at its sender discards it here too, and counts it as
// collected. Records discarded because more than the cap (16,384) piled
// up count as neither. It implements crdt.GarbageReporter.
func (s *Set[E]) Garbage() (pending, collected uint64) { return s.k.Garbage() }
