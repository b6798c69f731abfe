package dotkernel

// Garbage returns how many drop records the kernel holds (pending: each
// waits for [Kernel.Collect] to find its mutation seen by every replica)
// and how many it has discarded since it was made, decoded or cloned from
// one that was (collected), not counting those the cap on records
// (MaxRecords) discarded.
//
// Collected counts the records discarded by Collect, and those a joined
// kernel's horizon showed discarded there ([Kernel.Join]): a peer collected
// them first. A record the cap discards is counted by neither figure. A
// record that a discard by the cap left within the horizon (see
// liveRecords) counts as pending until it goes: by Collect, counted by
// neither figure; by Join, counted as collected. A decoded kernel starts
// with the records it decoded pending and none collected.
func (k *Kernel[K, V]) Garbage() (pending, collected uint64) {
	held := uint64(k.recs.len())
	// Every record the ring took in got the next id; each has been
	// discarded by the cap, discarded otherwise, or is held.
	return held, k.recs.next - held - k.capped
}
