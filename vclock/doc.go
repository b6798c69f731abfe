// Package vclock implements version vectors, dots and causal contexts, the
// bookkeeping of which events a replica has seen.
//
// A [Dot] names one event: the n-th event of a replica. A [Clock] is a
// version vector: for each replica, how many of its events have been seen.
// Two clocks compare as [Equal], [Before], [After] or [Concurrent], and
// [Clock.Merge] is their least upper bound.
//
// A [Context] is a causal context: any set of dots, kept compact as a
// version vector plus the runs of events that arrived out of order. The
// data types use it to tell "removed" from "not yet seen" without keeping
// tombstones: a dot the context holds but the state does not is an event
// that was seen and then overwritten or removed.
package vclock
