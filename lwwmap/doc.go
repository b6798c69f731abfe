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
// A replica that comes back from a backup older than what it reported all
// the same may hold a key whose marker is gone. The map keeps, per writer,
// its newest collected write (one entry per writer, in its state and in
// the states it sends), and [Map.DeltaSince] gives a version that has not
// seen them all the whole state, whose causal context makes the receiver
// drop what was deleted: a delta would not mention the key at all.
//
// A version stands for the run of a replica that reported it. A second
// process under the replica's ID (a disk copied and started twice), or a
// run whose replica came back from a backup older than a put it had sent,
// may have put a deleted key before it saw the delete, under a dot above
// the version the collection trusted: the put comes after the marker is
// gone, as a new write, and takes the key back at the replicas that
// collected it. Telling it from a put of another key would take a record
// of every collected key; the map counts such puts instead
// ([Map.LateWrites]), against the latest write it collected, which its
// snapshots ([Map.SnapshotBinary]) keep across a restart.
//
// # Time to live
//
// [Map.Expire] gives a key a time to live, [Map.Persist] takes it away,
// and [Map.TTL] tells what is left, with Redis Active-Active's rules:
//
//   - among expires made concurrently, the longest time to live wins;
//   - a persist wins over a concurrent expire;
//   - an expire or persist made after seeing another overrides it, even
//     with a shorter time to live;
//   - a put or delete made after seeing an expire clears it, as Redis's
//     SET and DEL do; one made concurrently cannot clear what its replica
//     had not seen, so the key keeps the expire, with the value that wins.
//
// The key expires at the expire's timestamp plus its time to live, and is
// absent for every reader of a replica ([Map.Get], [Map.Len], [Map.All],
// [Map.Keys]) from the moment that replica's clock reaches that time: the
// later of its physical time and of the greatest timestamp it has issued
// or taken in. Expire and Persist refuse a key that is not present
// ([ErrAbsent]).
//
// A skewed clock cannot expire data early. A peer whose clock runs ahead
// stamps its expire later, so the key lives longer, not shorter; and the
// timestamps it sends can push this replica's clock forward only by the
// clock's maximum offset ([clock.WithMaxOffset]): an op or state stamped
// further ahead is refused ([clock.ErrClockSkew]) and taken later, so a
// key expires at most that offset before its expiry by this host's own
// clock. The host's clock itself is trusted: stepped forward, it expires
// keys sooner; stepped back, it cannot move the HLC back, but a key whose
// expiry lies between the two readings, and that no timestamp taken in
// since has passed, shows again until the host's clock passes the expiry
// again.
//
// An expired key is kept, and counted by [Map.Garbage] as pending, like a
// delete marker, until [Map.CollectVersions] (the engine's collection)
// finds that every replica's durable version counts its entry and its
// expire and persist writes, and a write stamped at or after its expiry:
// every replica's clock has then passed the expiry, so none can still
// persist or write the key before it. A replica whose own clock ran ahead
// (stepped forward, then back) hides the key early, but does not collect
// it: the others may still persist it, and the persist wins, there and
// here. Collection therefore waits for writes after the expiry; a map no
// one writes to keeps its expired keys. [Map.Collect] drops it once its
// expiry and every write of it are before the stable point. Replicas collect at
// different moments, so a write made by one that has collected cannot
// name what it collected: an expire is collected only once its instant
// is past (then no later value is touched by it, at a replica that still
// holds it either: see [Map.Expire]), and a persist only by a later write
// of its key, which overwrites it by name. A key that keeps a persist
// holds it until then. A persist or longer expire that a replica made
// before the key had expired by its own clock always finds the value: no
// replica collects the key before every clock has passed its expiry.
//
// A write that overwrote expire or persist writes leaves a drop record
// (its dot, the key, the overwritten dots), so that a delta or a late op
// cannot bring those back; [Map.CollectVersions] discards it once every
// replica has seen the write and the writes it overwrote. [Map.Collect]
// does not (records carry no timestamp), and [Map.Garbage] does not count
// them.
//
// Expire and persist writes take part in no conflict report: one that
// loses to a longer or persisting concurrent write keeps quiet, since the
// key's value is untouched. The keys that will expire are left out of
// [Map.Fingerprint], as delete markers are: replicas hide them, and
// collect them, at different moments. A persisted key counts, as a key
// without a time to live does.
//
// A map that has never had a time to live encodes exactly as before they
// existed; see ttl_encoding.go for the encodings.
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
// # Retiring finished writers
//
// Every run of a replica writes under a writer of its own, whose dots
// would otherwise stay in the causal context, the version and every
// digest for good. [Map.Retire] renames the dots of a finished writer into
// its name's retired writer (see vclock.Retirement) everywhere in the map:
// context, entries, expire and persist writes, drop records and the table
// of replicas. Renaming is one to one, so merges, deltas and collection
// go on as before; timestamps are kept, and a tie of timestamps between
// two writes of one name may be won, after it, by the other write. Each
// replica applies the same retirements in the same order, so replicas
// converge all the same.
//
// # Keys
//
// A key is held in one form (see [codec.CanonicalKey]): a floating-point
// zero in it is +0, since −0 and +0 are equal in Go but encode and hash
// differently, and a key holding a NaN, which is not equal to itself and
// so could never be found, replaced or deleted, is refused by the writers
// and by every decoder. A key holding interfaces or structs with
// unexported fields is held as a peer decodes it: a number in an
// interface as the smallest integer type of its value, unexported fields
// zero, a time.Time without its monotonic reading and in time.Local;
// [Map.Get] and [Map.TTL] look keys up in that form. A key type holding a
// pointer or a channel (outside an interface) is refused with
// [codec.ErrKey]: it compares by address, and a peer's copy of a key
// would be another key.
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
