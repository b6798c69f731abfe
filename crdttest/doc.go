// Package crdttest checks that a replicated data type obeys the laws every
// CRDT of this module obeys, in the spirit of testing/fstest and
// testing/slogtest. Every data type of the module runs it; users run it on
// their own types and compositions.
//
// A [Type] describes a data type to the harness: how to make a replica, how
// to draw a random local mutation, how to apply an op, merge, clone and
// compare states, and optionally how to take deltas, encode states and ops,
// read the observable value and compute the value a naive model predicts.
// [Run] checks every law the Type can be checked for, one subtest each,
// with property-based tests driven by pgregory.net/rapid: failures are
// shrunk to a small case and reported with the steps that led to it and a
// go-cmp diff of the values. [Check] does the same without a *testing.T and
// returns the first [Violation] as an error.
//
// # Laws
//
// The laws, in the order [Check] tries them ([Laws] lists them):
//
//   - [LawIndependence]: Clone, Merge, DeltaSince and ops share no mutable
//     storage with their sources (needs Value or MarshalState).
//   - [LawMergeIdempotent], [LawMergeCommutative], [LawMergeAssociative]:
//     Merge is a join, on states reached by random ops on random replicas
//     with random partial merges and op deliveries.
//   - [LawOps]: applying every op of a run at a fresh replica, in any order
//     and with duplicates, gives the state of merging every replica.
//   - [LawDelta]: b.Merge(a.DeltaSince(b.Version())) equals b.Merge(a)
//     (needs Version and DeltaSince).
//   - [LawParts]: a's state, or its delta since b's version, cut into
//     parts (as crdt.Chunker cuts them) and merged into b part by part,
//     some lost, some twice, leaves b at a version from which a's delta
//     completes it, and all the parts give b.Merge(a) (needs Chunks and
//     MergeChunk).
//   - [LawEncoding]: states and ops survive their binary encoding (needs
//     MarshalState/UnmarshalState or MarshalOp/UnmarshalOp).
//   - [LawConvergence]: 2 to 5 replicas mutate while ops are lost and
//     redelivered, duplicated, reordered and cut off by partitions, mixed
//     with state and delta exchanges; after a final reliable exchange every
//     replica is Equal.
//   - [LawModel]: after the same, every replica's Value equals the Model
//     computed from the whole causal [History] (needs Value and Model).
//     A Type with CollectVersions has its replicas collect during the
//     run, each at its own moments, and after it: a collection must not
//     change a Value, nor what a later write means at a replica that has
//     not collected yet.
//
// # Time
//
// The harness runs every replica on its own hybrid logical clock
// ([clock.Clock]) fed by a deterministic time source the harness drives:
// each replica's physical clock is a shared manual time plus a per-replica
// skew, so replicas disagree about the time, wall clocks step backwards, and
// exact timestamp ties happen. [Type.New] receives the replica's clock; a
// type with timestamps (such as an LWW register) reads it, and one without
// ignores it. No real time is read and nothing sleeps, so every run is
// reproducible from rapid's seed. The clocks' maximum offset check is off:
// the laws are about convergence, not about refusing skewed peers.
//
// # Usage
//
// For a grow-only set type gset.Set, in a test of its package (a sketch):
//
//	func TestLaws(t *testing.T) {
//		crdttest.Run(t, crdttest.Type[*gset.Set, gset.Op]{
//			Name:   "gset",
//			New:    func(id crdt.ReplicaID, _ *clock.Clock) *gset.Set { return gset.New(id) },
//			Mutate: func(t *rapid.T, s *gset.Set) gset.Op {
//				return s.Add(rapid.IntRange(0, 9).Draw(t, "elem"))
//			},
//			Apply: func(s *gset.Set, op gset.Op) error { return s.Apply(op) },
//			Merge: func(dst, src *gset.Set) { dst.Merge(src) },
//			Clone: (*gset.Set).Clone,
//			Equal: func(a, b *gset.Set) bool { return a.Equal(b) },
//			Value: func(s *gset.Set) any { return s.Sorted() },
//			Model: func(h crdttest.History[gset.Op]) any { /* every element added */ },
//		})
//	}
//
// Ops whose type hides what they do (unexported fields) can be wrapped:
// Mutate returns a test-local struct holding the real op and a description
// of it (the element added, the amount counted) for the Model to read, and
// Apply and MarshalOp unwrap it.
//
// Run and Check use rapid's command-line flags: -rapid.checks (100 cases
// per law by default), -rapid.steps (30 steps per case on average: ops,
// merges, deliveries, clock ticks), -rapid.seed to replay a run,
// -rapid.nofailfile, -rapid.shrinktime.
package crdttest
