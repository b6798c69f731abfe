// Package lwwmap implements a replicated map whose keys are last-writer-wins
// registers: [Map].
//
// # Conflict rule
//
// For each key, the write with the later hybrid-logical-clock timestamp wins,
// on an exact timestamp tie the write of the replica with the smaller
// [vclock.ReplicaID] wins, and a delete is a write of "absent" ordered the
// same way.
//
// So a delete concurrent with a put resolves like two puts: if the delete has
// the later timestamp the key is gone everywhere, if the put has the later
// timestamp the key stays, with the put's value, everywhere. Unlike the
// add-wins orset.Set, a delete also removes puts it has not seen, as long as
// they are earlier. A write made after seeing another always has the later
// timestamp (taking a write in advances the replica's clock past it), so a
// put after a delete brings the key back and a delete after a put removes
// it, whatever the wall clocks say.
//
// # Usage
//
// Each replica makes its map with [New], sharing the process's clock.
// Mutators apply locally and return an [Op] to ship; the other replicas
// take it in with [Map.Apply]:
//
//	clk := clock.New()
//	m := lwwmap.New[string, string]("us-east-1", clk)
//	op := m.Put("color", "blue")
//	// elsewhere: err := other.Apply(op)   (or ApplyBinary of op's bytes)
//
// Whole states join with [Map.Merge]; [Map.DeltaSince] with a peer's
// [Map.Version] gives only what the peer lacks. Ops and states travel as
// bytes through MarshalBinary and the [github.com/activeactive/crdt.DeltaObject] methods, which the
// replication engine uses; the byte paths refuse a timestamp too far ahead
// of local time (clock.ErrClockSkew) and change nothing, so the data can be
// offered again later.
//
// # Delete markers
//
// A delete leaves a marker: without it, a put the deleting replica had not
// seen, older than the delete, would bring the key back when it arrived.
// Markers are dropped once causally stable, which takes more than every
// replica having seen the delete: every write older than the delete must
// have reached this replica too, and no replica may lose the delete again by
// coming back from an older snapshot. The replication engine sees to it
// through [Map.CollectBinary] ([Map.CollectVersions]), from the durable
// versions of every peer (those of its last saved snapshot); a host that
// replicates by itself calls CollectVersions with durable versions, or
// [Map.Collect] with a timestamp it knows to be stable. Their documentation
// says why dropping sooner is unsafe. Each write also leaves its dot in the
// map's causal context, a compact summary that does not grow with the
// number of keys.
//
// # Conflict reports
//
// [Map.SetConflictHook] takes a hook that hears of each write discarded
// for a concurrent write of the same key (a put or delete that lost, the
// write that won, their writers, timestamps and values), as a
// [vclock.Conflict], so that a program can show an edit that lost. Each
// write carries the timestamp of the latest write of the key by another
// writer that its writer had seen, which tells a concurrent write from a
// later one; the method's documentation gives the exact rule. With no
// hook set, nothing is done for reports.
//
// # Untrusted peers
//
// Every decoder refuses, changing nothing, input beyond the limits set by
// [Map.SetLimits] and any sequence number or version count above
// [vclock.MaxSeq], so no peer can leave this replica without a dot to write
// with. [Map.ApplyBinaryFrom] takes an op from an authenticated sender and
// refuses one carrying another replica's write (an error wrapping
// [vclock.ErrForeignWrite]); its documentation says what a peer can still
// do to its own writes. A failed [Map.Put] or [Map.Delete] changes nothing
// and returns an op whose MarshalBinary reports why. [Map.Fingerprint]
// hashes the visible content, so that replicas can tell cheaply whether they
// hold the same state.
package lwwmap
