// Package counter implements replicated counters: [G], a grow-only counter
// of uint64, [PN], a counter of int64 that can go up and down, and
// [Bounded], a counter that never goes below a floor (stock that must not
// be oversold).
//
// Conflict rule: each replica owns its own contribution, which only grows,
// and merging takes for every replica the larger of the two contributions,
// so concurrent increments all count and none counts twice. A [Bounded]
// adds an escrow: a replica may decrement only the rights it holds
// (increments give rights, transfers move them), so concurrent decrements
// can never take the value below the floor.
//
// # State
//
// A [G] keeps, for every replica, the total that replica has added. A [PN]
// keeps, for every replica, the total of its increments (P) and the total of
// its decrements (N); its value is ΣP − ΣN. A counter's state therefore grows
// with the number of replicas that ever counted, not with the number of
// increments.
//
// # Replication
//
// The three modes of the module work over one state and may be mixed:
//
//   - op-based: [G.Inc] and [PN.Add] return an op ([GOp], [PNOp]) carrying the
//     replica's new absolute totals, not a difference; [G.Apply] and
//     [PN.Apply] take an op at another replica. An op may arrive late, twice,
//     or after a newer one: applying it is idempotent and commutative, and
//     an old op is simply absorbed.
//   - state-based: [G.Merge] and [PN.Merge] join two whole states.
//   - delta-state: [G.Version] and [PN.Version] summarise a state as a
//     [vclock.Clock]; [G.DeltaSince] and [PN.DeltaSince] return only the
//     replicas a peer at that version lacks news of.
//
// Every counter implements [github.com/activeactive/crdt.DeltaObject], so the replication engine
// can carry it as bytes.
//
// # Overflow
//
// Nothing wraps around silently. [G.Inc] and [PN.Add] refuse, with an error
// matching [ErrOverflow] and without changing anything, an update that would
// overflow the replica's own totals. Nothing another replica sends can make
// them fail: merging never fails, and replicas that each stayed in range can
// together exceed it, so [G.Value] and [PN.Value] saturate at the bound,
// while the state keeps the exact per-replica totals, so the value comes back
// into range as soon as the true total does (for a PN, after enough
// decrements).
//
// # Untrusted peers
//
// [G.ApplyBinaryFrom] and [PN.ApplyBinaryFrom] take an op from an
// authenticated sender and refuse one that carries another replica's totals
// (an error wrapping [vclock.ErrForeignWrite]). [G.SetLimits] and
// [PN.SetLimits] bound what every decoding method accepts. [G.Fingerprint]
// and [PN.Fingerprint] hash the content, so that replicas can tell cheaply
// whether they hold the same state.
//
// # Retiring finished writers
//
// Every run of a replica counts under a writer of its own, so restarts
// add entries. [G.Retire], [PN.Retire] and [Bounded.Retire] fold the entry
// of a finished writer into its name's retired writer (see
// vclock.Retirement), which the replication engine calls on every replica
// in the same order. For G and PN the retired writer's entry absorbs the
// finished one's by addition, so the value does not change and replicas
// that held equal counters hold equal counters after it; a replica that
// held an older state keeps counting exactly what it held, below the
// others, and a merge with any of them brings it up to date. A Bounded
// counter absorbs a finished writer's entry alike, whatever its count of
// [Bounded.Events]; the rights it held unused stay with the retired
// writer, counted in the value, and no live writer spends them (the
// finished writer's process may still be running). Each method's
// documentation gives the exact rule.
//
// # Usage
//
//	a := counter.NewPN("us-east-1")
//	op, err := a.Add(-3)
//	if err != nil { /* overflow: nothing changed */ }
//	data, _ := op.MarshalBinary() // ship data to the other regions
//
//	b := counter.NewPN("eu-west-1")
//	_, err = b.ApplyBinary(data) // b.Value() == -3
//
// # Wire format
//
// States and ops are encoded through package codec (kinds [codec.KindG],
// [codec.KindPN], [codec.KindGOp], [codec.KindPNOp]) with replicas in
// increasing order and integers and headers in their shortest form, so a
// state has exactly one encoding. Decoding checks that order and those
// forms and refuses duplicate replicas, empty entries and totals that do
// not fit; on any error the receiver is unchanged and the error is a
// [*codec.DecodeError].
package counter
