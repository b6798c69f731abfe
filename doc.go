// Package crdt is the root of an embeddable library of conflict-free
// replicated data types (CRDTs) for services that run active-active in
// several regions: every region takes writes at local latency, any region can
// fail without a failover step, and replicas converge on their own after
// concurrent writes.
//
// # Vocabulary
//
// A replica is one copy of the data, named by a [ReplicaID] such as
// "us-east-1". A region keeps its ID whatever happens to its disk: each run
// of a replica writes under a writer of its own, the ID and an epoch drawn
// when the run starts ([Replica.Writer]), so a region back from an empty
// disk or an older backup, or a second process started under the same ID
// by mistake, never makes two changes under one identity. Messages,
// snapshots and journal records end with a CRC-32C, and digests carry each
// object's content fingerprint, so that a replica that diverged anyway is
// counted ([PeerStats].Divergences) rather than silent, and healed: the two
// replicas send each other the object's whole state, which an object that
// can ([Healer]) merges without trusting what the state says it dropped.
// Two replicas compare an object's fingerprints when they hold it at the
// same version and hold the same updates past that version, if any
// (updates received past a gap in their writer's sequence: see
// [GapHasher]), so a gap that never fills does not switch the check off.
// An object whose fingerprint hashes each write by its dot alone (a dot
// names one write) also sends a fingerprint of its writes' values
// ([ContentFingerprinter]), so that a peer that sent two replicas two
// different writes under one dot is caught too; the OR-Map's heal then
// drops that dot on both sides. A counter.Bounded, which has no version,
// catches such a peer in its merge ([EquivocationReporter], counted in
// [Stats].Equivocations) and keeps the same one of the two entries on
// every replica.
//
// Every data type (see the register, counter, orset, lwwmap and ormap packages)
// offers three ways to replicate one state:
//
//   - op-based: each mutator applies locally and returns an Op; Apply the op
//     at any other replica, in any order, any number of times;
//   - state-based: Merge(other) joins two whole states;
//   - delta-state: DeltaSince(v) returns a small state holding only what a
//     replica at version v lacks, for types whose state grows with use.
//
// Conflicts are resolved by rules that fit in one sentence, stated in each
// package's documentation. Time comes from the hybrid logical clock in
// package clock, which a skewed wall clock cannot fool.
//
// # Packages
//
//   - clock: hybrid logical clock; timestamps order causally related events.
//   - vclock: version vectors, dots and causal contexts.
//   - codec: the versioned msgpack wire format.
//   - register: last-writer-wins and multi-value registers.
//   - counter: grow-only and positive-negative counters.
//   - orset: add-wins observed-remove set.
//   - lwwmap: map whose keys are last-writer-wins registers.
//   - ormap: observed-remove map of nested counters, registers, sets and maps.
//
// The data-type packages are pure: they do no I/O, start no goroutines, read
// no clocks of their own and hold no global state.
//
// # Replication engine
//
// A [Replica] turns data types into active-active replication. It owns
// named objects (any [Object]: every data type of this module is one),
// captures the op of every local change made through a [Handle], and ships
// ops to its peers in batches over a [Transport], a one-method interface the
// host implements with the network it already runs. A transport that can
// reach several replicas at once (a multicast group, a message bus) also
// implements the optional [Broadcaster], and a run of ops due to several
// peers then leaves once. Inbound bytes enter through [Replica.Receive]. The engine does no I/O of its own and reads time
// only through its clock, so tests drive it deterministically (see package
// memnet); [Replica.Run] is a small runner for hosts that want one.
//
// Nothing is assumed of the network. Ops are numbered per replica and
// acknowledged by sequence number, and sent again until acknowledged;
// applying them is idempotent and order-free, so loss, duplication and
// reordering are harmless. The log of unacknowledged ops is bounded: a peer
// that stays away longer than the log lasts, that is new, or that restarted
// from an older snapshot, catches up by exchanging version digests and
// receives only what it lacks ([DeltaObject]), so the bytes sent after a
// partition grow with what changed during it, not with the size of the data.
// [Replica.SaveSnapshot] and [Replica.Restore] persist a replica across
// crashes without ever reusing a sequence number; [Replica.SaveOps] and
// [Replica.Replay] keep a journal of the ops made since the last snapshot,
// and of the changes received from peers, so that saving an update costs
// what the update costs.
//
// Every message is at most Config.MaxMessageBytes (default 1 MiB). A
// catch-up too large for one message travels as a sequence of chunks, each
// acknowledged on its own and sent again alone if lost; a state too large
// for one message is cut into parts by its [Chunker], each safe to merge
// alone and merged under the replica's lock for as long as it takes, not
// the whole state. [PeerStats] shows the chunks and bytes still to go.
// Replicas may be set up with different limits: each names its own in its
// digests, and its peers send it nothing larger; a transport may have one
// of its own ([Limiter]), and a send that fails with an error wrapping
// [ErrTooLarge] makes the replica send that peer smaller messages
// ([PeerStats].MessageLimit shows what each peer gets).
// States and parts of at least Config.CompressAbove bytes (default 4 KiB)
// go compressed, in catch-ups and in snapshots, when that makes them
// smaller (codec.KindCompressed: columns, then DEFLATE); the engine
// decompresses them, within its limits, before the objects see them: the
// states of one message, and the parts of one chunk, take at most
// Config.MaxMessageBytes decompressed together, and a message or chunk
// carrying more is refused whole.
//
// An op travels in a message with its writer left out when the writer is
// the sender's own ([Replica.Writer]): the message names the sender's
// epoch once, and the receiver puts the writer back before the op is
// decoded and checked, so an op names its writer by reference and still
// can carry only the sender's writes. Messages of this form are of the
// codec's format version 2. A replica of a release that reads only
// version 1 refuses every such message whole, counted as a future version
// ([ReasonVersion]), and replicates with its peers again once it is
// upgraded too; messages of version 1 are still read. Snapshots and journal
// records keep every op whole. The LWW-map's ops are of format version 3
// (see package lwwmap): a replica of a release that reads only versions 1
// and 2 refuses each of them, counted as a future version
// ([ReasonVersion]). During a rolling upgrade the writes still reach it,
// in the catch-up states that both releases read, once its peers' digests
// show it lacks them; the refusals stop when it is upgraded. To roll a
// replica back to such a release, save a snapshot first: that release
// restores this one's snapshots, but refuses a journal record holding a
// version-3 op (codec.ErrVersion), and changes nothing.
//
// Restarts do not make metadata grow for good. Once every replica holds
// all of a finished run's writes, the group agrees to retire its writer:
// every replica renames the writer's dots into its ID's retired writer
// (vclock.Retired), in the same order everywhere, so versions, contexts,
// digests and states name one finished writer per ID. The order is a
// ledger per replica ID, extended one entry at a time with the agreement
// of every replica of the group; replicas whose ledgers differ trade the
// missing entries before any data. A replica removed from every replica
// ([Replica.RemovePeer]) has its writers retired the same way. Objects
// take part through [Retirer], whose documentation tells the protocol.
//
// [Replica.Update] changes several objects in one transaction ([Tx]): its
// ops ship as one group, and every replica applies the group at once.
// [Replica.View] reads several objects at one instant.
//
// [Replica.Stats] reports, per peer, the replication lag (the age of the
// oldest local op the peer has not acknowledged: the data at risk if this
// region failed now), pending ops and bytes, last contact, and every refused
// message by reason. Config.OnRemoteUpdate tells the host which object a
// remote update changed, so a UI can refresh; Config.OnConflict hands it
// each write an object's conflict rule discarded for a concurrent one
// ([Conflict]), so a UI can show an edit that lost.
//
// # Usage
//
//	r, err := crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: myTransport})
//	todos, err := crdt.Register(r, "todos", orset.New[string]("us-east-1"))
//	err = r.AddPeer("eu-west-1")
//	go r.Run(ctx, 100*time.Millisecond)
//
//	// local writes: the op is shipped to every peer
//	err = todos.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("milk"), nil })
//	// reads
//	todos.Read(func(s *orset.Set[string]) { fmt.Println(s.Len()) })
//	// in the HTTP handler (or consumer) that receives a peer's bytes
//	err = r.Receive(ctx, from, body)
package crdt

import "github.com/activeactive/crdt/vclock"

// ReplicaID names one replica, for example "us-east-1". IDs are compared as
// strings: on an exact timestamp tie between two writes, the write of the
// replica with the smaller ID wins. The empty ID is not a valid replica.
//
// It is [vclock.ReplicaID]: the data-type packages name replicas without
// importing this package.
type ReplicaID = vclock.ReplicaID
