// Package orset implements an add-wins observed-remove set ([Set]): a
// replicated set of comparable elements that any replica can add to and
// remove from.
//
// Conflict rule: a remove deletes only the adds its replica had seen, so an
// add concurrent with a remove of the same element wins.
//
// This is the optimized OR-Set of Bieniusa et al. (2012) as a delta-state
// CRDT (Almeida, Shoker and Baquero, 2018), with the semantics of Redis
// Active-Active sets. Each add is tagged with a dot, a (replica, sequence
// number) pair, and each replica keeps a causal context: the set of dots
// it has seen. An element is present while one of its dots survives. A
// remove drops the dots its replica holds for the element; a peer that
// merges the remover's state sees those dots in its context and drops them
// too, while a dot it has and the remover never saw (a concurrent add)
// survives. No tombstone is kept per removed element.
//
// Some examples of the rule, for two replicas A and B:
//
//   - A adds x, B removes x without having seen A's add: x stays.
//   - A adds x, B sees it and removes x; concurrently A adds x again: x stays
//     (A's second add is new to B).
//   - A adds x, B sees it and removes x: x is gone everywhere, even at a
//     replica that receives B's remove before A's add.
//   - Removing an element the replica does not hold does nothing anywhere.
//
// # Usage
//
// Each replica builds its set and mutates it; every mutator returns an op
// to apply at the other replicas, in any order and any number of times:
//
//	east := orset.New[string]("us-east-1")
//	op := east.Add("milk")
//	b, _ := op.MarshalBinary()          // ship b to the other regions
//	// ... in eu-west-1:
//	changed, err := west.ApplyBinary(b)
//
// Whole states travel with [Set.MarshalBinary] and [Set.MergeBinary]. To
// send a peer only what it lacks, ask it for its [Set.Version] and send it
// [Set.DeltaSince] of that version; merging the delta gives the peer the
// same state as merging the whole.
//
// # Metadata
//
// A set keeps, besides one dot per element (more while concurrent adds of
// the element have not been merged), its causal context (a version vector
// plus any runs of events received out of order) and a bounded list of
// drop records: for each recent add or remove that dropped dots, which
// dots it dropped, so that [Set.DeltaSince] can tell a peer about drops it
// missed, and so that merging a delta costs in proportion to the delta,
// not to the set. [Set.Collect] discards the records every replica has
// seen; the list is also capped (16,384 records), and a peer whose
// version is older than a discarded record is sent the whole state
// instead of a delta.
//
// In memory a set of 100,000 short strings takes about as much as a
// map[string]struct{} of them (see the benchmarks): each element's dot is
// packed in one word beside it.
//
// # Retiring finished writers
//
// A replica writes under a new writer for each run (a replica name and an
// epoch, see [vclock.Writer]), so a set that lived through many restarts
// names many writers in its dots, its context and its version. Once every
// replica holds a finished writer's dots up to an agreed count, the
// replication engine calls [Set.Retire] on every replica, in the same
// order: the writer's dots become dots of its name's retired writer
// (name!0), numbered on after those of the writers of that name retired
// before it. The elements do not change, retired replicas merge and send
// deltas as before, and the writers of a name, however many runs they
// were, take one entry. Dots above the agreed count, which a writer may
// have made after all (a second process under its name), keep their
// writer's name.
//
// # Untrusted peers
//
// Every decoding method checks its input whole before changing anything,
// within the limits given to [Set.SetLimits], at a cost linear in the
// input. [Set.ApplyBinaryFrom] takes an op only if its own dot is the
// sender's: a peer can write only as itself. [Set.Fingerprint] hashes the
// elements and their dots, so that replicas at the same version can check
// they hold the same content.
//
// What a peer can still do: the dots a remove (or re-add) drops are what
// its sender claims to have seen, and cannot be checked. A remove that
// names a dot another replica has not yet made makes every replica that
// applies it treat that write as removed when it arrives, whatever element
// it adds; the replicas still agree with one another. The causal context
// of a state or delta ([Set.MergeBinary]) likewise speaks for every
// replica, and a forged one can make the receiver take any replica's
// future writes as already seen and removed. A dot far beyond its
// replica's last one, in a sender's own op, holds back only that
// replica's entry of [Set.Version]. Take states only from peers you
// trust, and ops from others only through ApplyBinaryFrom.
//
// # Elements
//
// Elements are encoded with [codec.PutValue]: strings, integers, booleans,
// float64 directly, any other comparable type through msgpack and its
// struct tags.
//
// An element is held in one form (see [codec.CanonicalKey]): a
// floating-point zero in it is +0, since −0 and +0 are equal in Go but
// encode differently, and an element holding a NaN, which is not equal to
// itself and so could never be found or removed, is refused by the
// mutators and by every decoder. An element holding interfaces or structs
// with unexported fields is held as a peer decodes it: a number in an
// interface as the smallest integer type of its value (so Add(1) and
// Add(int64(1)) add one element), unexported fields zero, a time.Time
// without its monotonic reading and in time.Local; [Set.Contains] looks
// elements up in that form. An element type holding a pointer or a
// channel (outside an interface) is refused with [codec.ErrKey]: it
// compares by address, and a peer's copy of an element would be another
// element.
package orset
