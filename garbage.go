package crdt

// GarbageReporter is an optional interface of an object that keeps records
// of deletes (and of other writes that replace data) only until every
// replica has seen them (see [Collector]): the OR-Set's and the OR-Map's
// records of removals and replaced writes, the OR-Map's notes of the
// counter chains its deletes reset, the LWW-map's delete markers.
// [Replica.Stats] sums its figures over the registered objects as
// [Stats].GCPending and [Stats].GCCollected. orset.Set, ormap.Map and
// lwwmap.Map implement it; register.MV keeps no such records (its context
// says what was replaced), nor do the other types.
type GarbageReporter interface {
	// Garbage returns how many such records the object holds (pending)
	// and how many it has discarded because every replica had seen them
	// (collected), since it was made or last replaced by UnmarshalBinary.
	Garbage() (pending, collected uint64)
}

// garbage sums the figures of the objects that report them. The caller
// holds r.mu.
func (r *Replica) garbage() (pending, collected uint64) {
	for _, obj := range r.objects {
		if g, ok := obj.(GarbageReporter); ok {
			p, c := g.Garbage()
			pending += p
			collected += c
		}
	}
	return pending, collected
}
