// Package ormap implements an observed-remove map of nested CRDTs
// ([Map]): a replicated map whose values are counters ([Counter]),
// multi-value registers ([Register]), add-wins sets ([Set]) or further
// maps, and which any replica can update and delete keys of.
//
// Conflict rule: each key holds the value its writers built, concurrent
// updates to one key merge by the value's own rule, and a delete is
// observed-remove: it deletes what its replica had seen of the key, so an
// update concurrent with a delete survives with only the concurrent part
// (add-wins on the key, reset-remove on the value, as in Riak's maps and
// the OR-Map of the delta-state CRDT papers).
//
// For two replicas A and B, following Redis Active-Active's hashes:
//
//   - A updates field f while B deletes the key: the update survives.
//   - A and B both increment counter f by 1 and 2: f is 3 everywhere.
//   - f holds 10 at both; A increments it by 5 while B deletes it: f is 5.
//   - A writes register f = "x" while B writes "y": f holds both values
//     until a later write replaces them.
//
// # Expiry
//
// [Map.Expire] gives a key, at any depth, a time to live, and
// [Map.Persist] takes it away, with Redis Active-Active's rules: of
// concurrent expiries the one that lets the key live longest wins, a
// persist wins over a concurrent expiry, and an expiry or persist made
// after seeing another replaces it. Once a replica's clock reaches a key's
// expiry, the key reads as absent there at once, and a write to it starts
// it afresh; [Map.CollectVersions] deletes it later, once every replica
// has seen its writes and this replica has seen every write the others
// have. An expiry is a write of its own with a dot, like a register
// value under the key, which is why "concurrent" is exact.
//
// Expiry is judged by the hybrid logical clock given to [Map.SetClock]
// (with the engine, the replica's): an expiry's time is the expiring
// replica's clock reading plus the ttl, and a key has expired at a
// replica once that replica's clock reads at least that time. No replica
// can make a key expire early elsewhere: the time travels with the
// expiry, fixed, and a clock running ahead only makes its own expiries
// later. A replica's clock reads the later of its own physical clock and
// the timestamps it has taken in; the engine takes in none more than the
// clock's maximum offset ahead of local physical time (clock.ErrClockSkew),
// so a key can expire early at a replica by at most that offset, plus that
// replica's own physical clock error, which nothing can detect.
//
// Collection deletes an expired key once no peer's version is ahead of
// the collector's. The map's writes carry no timestamps, so the collector
// cannot tell from them where the others' clocks are: the replication
// engine tells it ([Map.CollectVersionsAt], from the timestamps of the
// peers' messages), and the key goes only once every replica's clock has
// passed its expiry, so that a replica whose clock ran ahead (stepped
// forward, then back) does not delete a key the others still read. Called
// directly, [Map.CollectVersions] judges by the collector's clock alone.
//
// # How it works
//
// A map is a single dot store, after Almeida, Shoker and Baquero's
// delta-state CRDTs (2018): every write, at any depth, is a leaf tagged
// with a dot of its own (a counter's running total, a register value, a
// set element) under its key path, and the map and everything nested in it
// share one causal context, the set of dots seen. A key is present while
// one of the leaves under it survives. Deleting a key drops the dots of
// the leaves under it that its replica holds; a replica that merges the
// delete sees those dots in the context and drops them too, while a leaf
// it holds that the deleter never saw survives. That is why a write
// concurrent with a delete survives it, and why no tombstone is kept per
// deleted key (a deleted counter's note, below, goes once every replica
// has seen the delete).
//
// An expiry or persist is a leaf at the key's own path, kept apart from
// the value's leaves: it does not make the key present, and a delete of
// the key drops it with the rest.
//
// Delete information: the metadata a delete leaves behind is the
// context's record of the dropped dots (folded into a version vector once
// there are no gaps), for a delete of counters its note of the totals it
// saw (below), and, for [Map.DeltaSince], one drop record per recent
// delete, overwrite or remove: the mutation's dot and the dots it
// dropped. A counter's increment keeps none: its leaf replaces its
// replica's previous leaf at the counter (below) and holds its total, so
// wherever the two meet, by op or by merge, the newer drops the older
// without a record, and a peer behind by any number of increments still
// gets a delta.
// [Map.Collect] (the engine calls it, as a crdt.Collector, through
// [Map.CollectBinary]) discards the records every replica has seen; the
// list is also capped, and a peer older than a discarded record is sent
// the whole state instead of a delta.
//
// A counter keeps one leaf per replica that increments it, holding the
// running total of that replica's increments: each increment replaces the
// replica's leaf with one holding the new total, so a counter incremented
// a million times holds one leaf, not a million. For a delete to remove
// exactly the increments it saw (reset-remove), a delete that drops
// counter leaves also writes, under its own dot, what it saw of each
// (the replica, the leaf's sequence number and its total): an increment
// concurrent with the delete then counts only what it added past that
// total. A delete's note does not make the key present; a later delete
// above it carries it on, and [Map.CollectVersions] (the engine's
// collection) drops it once no replica can hold a leaf that needs it,
// without a write of its own: the notes are left out of
// [Map.Fingerprint]. A gap that never fills in other writers' updates
// (an op every replica refused, say) does not hold a note back; one in
// the chain it covers does. A register keeps one leaf per concurrent value, a
// set one per element (more while concurrent adds are unmerged).
//
// # Usage
//
//	carts := ormap.New[string, *ormap.Map[string, *ormap.Counter]]("us-east-1")
//	op := carts.At("alice").At("apple").Add(2)
//	b, _ := op.MarshalBinary()          // ship b to the other regions
//	// ... in eu-west-1:
//	changed, err := west.ApplyBinary(b)
//
// Values are read and written through views ([Map.At], [Map.Get]) that
// share the top-level map's state; every mutator returns an [Op] for the
// top-level map at the other replicas. [Add] increments a key's counter
// without making a view: ormap.Add(views, page, 1) is
// views.At(page).Add(1), one allocation fewer. Whole states travel with
// [Map.MarshalBinary] and [Map.MergeBinary]; [Map.DeltaSince] of a peer's
// [Map.Version] sends it only what it lacks. A state or delta larger than
// a message travels in parts ([Map.ChunksBinary], [Map.MergeChunkBinary]),
// each safe to merge alone: the replication engine sends a large map to a
// peer that needs a catch-up that way, and heals a diverged one with
// [Map.HealChunkBinary].
//
// # Conflict reports
//
// [Map.SetConflictHook] takes a hook that hears, as a [vclock.Conflict],
// each time one of the map's registers starts holding siblings after
// concurrent writes met: the register's key path and every value with its
// writer. The replication engine passes the reports on with the object's
// name (crdt.Config.OnConflict). Without a hook the map does no work for
// reports.
//
// # Untrusted peers
//
// Every decoding method checks its input whole before changing anything,
// within the limits given to [Map.SetLimits], at a cost linear in the
// input: keys and values must be of the map's types and its depth.
// [Map.ApplyBinaryFrom] takes an op only if its own dot is the sender's,
// and refuses one that drops another replica's write the map has not seen,
// whether the op lists it or a delete's note of what it saw of a counter
// (see above) names it. As with orset, the dots an op drops are what its
// sender claims to have seen, and a state's causal context speaks for
// every replica: take states only from peers you trust. The totals in a
// delete's note, which every replica subtracts from the later leaves of
// the replicas it names, are the sender's word too. In a map of counters a
// crafted drop can do more than delete: a counter leaf that continues a
// chain stands for the chain's earlier leaves, which replicas drop without
// a record, so an op that drops such a leaf (or a delete's reset) without
// the reset a delete writes can leave a replica that still holds an
// earlier leaf of the chain reading a different value from the others, at
// the same version: [Map.Merge] trusts drop records, and keeps that leaf
// through every merge. The replication engine counts that as a divergence
// (the two replicas' fingerprints differ) and heals it: each sends the
// other its whole state, merged with [Map.HealBinary], which drops every
// write the state has seen and does not hold, record or not. [Map.Heal]
// does the same for a map at hand. The replicas then agree on the causal
// join of what they hold: a write that any of them has seen dropped is
// dropped.
//
// A peer may also send two replicas two different writes under one of its
// dots. Each takes the one it gets, and no merge takes the other (its
// dot is seen), while [Map.Fingerprint], which hashes a write by its dot,
// agrees. [Map.ContentFingerprint] hashes the writes' values too: the
// engine compares it (crdt.ContentFingerprinter), counts the divergence,
// and heals it, and a heal drops a dot that both sides hold with
// different writes, so that the replicas agree on neither.
//
// # Keys and values
//
// Keys, set elements and register values are encoded with
// [codec.PutValue]: strings, integers, booleans and float64 directly, any
// other type through msgpack and its struct tags.
package ormap
