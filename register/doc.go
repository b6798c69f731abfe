// Package register implements two replicated registers, each holding one
// value of any type T.
//
//   - [LWW] is a last-writer-wins register: the write with the later
//     timestamp wins, and on an exact tie the write of the replica with the
//     smaller ID wins.
//   - [MV] is a multi-value register: concurrent writes are all kept as
//     siblings, and a write replaces exactly the values its replica had seen.
//
// LWW follows the conflict rule of Redis Active-Active strings; MV is the
// multi-value register of Shapiro et al. (2011), built on dots and a causal
// context.
//
// # Usage
//
// Each replica builds its register and writes to it; every mutator applies
// locally and returns an op to apply at the other replicas, in any order
// and any number of times:
//
//	clk := clock.New()                                 // one per process
//	reg := register.NewLWW[string]("us-east-1", clk)
//	op := reg.Set("blue")
//	msg, err := op.MarshalBinary()                     // send msg to the other regions
//
//	// in eu-west-1, with its own register and clock:
//	changed, err := reg.ApplyBinary(msg)
//	if errors.Is(err, clock.ErrClockSkew) { /* keep msg, offer it again later */ }
//
// Whole states travel the same way with MarshalBinary and MergeBinary, and
// [MV] can send a peer only what it lacks with [MV.DeltaSince]. Both types
// implement the byte-level interfaces of the replication engine:
// [github.com/activeactive/crdt.Object] for LWW and [github.com/activeactive/crdt.DeltaObject] for MV.
//
// # Time
//
// An LWW write is stamped by a hybrid logical clock ([clock.Clock]) shared
// by every data type of the replica. Taking in a remote write advances the
// clock past its timestamp, so a write made after seeing another wins over
// it even if the writer's wall clock is behind. A remote timestamp too far
// ahead of local time is refused by the byte-level methods with an error
// matching [clock.ErrClockSkew]: the data is valid, and is accepted when
// offered again once local time has caught up.
//
// MV needs no clock: it orders writes by what each replica had seen, with a
// dot (replica, sequence number) per write and a causal context.
//
// # Values
//
// Values are encoded with [codec.PutValue]: strings, integers, booleans,
// float64 and byte slices directly, any other type through msgpack and its
// struct tags. A register stores the values it is given as Go assigns them:
// a value that refers to memory (a slice, a map, a pointer) must not be
// modified after it was written or taken in. [LWW.Set] checks that its
// value can be encoded before changing anything: a value that cannot (a
// func in an LWW[any]) leaves the register unchanged, and the op Set returns
// reports the error when encoded.
//
// # Conflict reports
//
// [LWW.SetConflictHook] and [MV.SetConflictHook] take a hook that hears
// of each write an LWW register discards for a concurrent one (the lost
// and the kept write, their writers, timestamps and values) and of each
// time an MV register starts holding siblings, as a [vclock.Conflict]. An
// LWW write carries the timestamp of the latest write of another writer
// its writer had seen, which tells a concurrent write from a later one;
// the methods' documentation gives the exact rule. With no hook set,
// nothing is done for reports.
//
// # Retiring finished writers
//
// Every run of a replica writes under a writer of its own.
// [LWW.Retire] renames the write of a finished writer into its name's
// retired writer (see vclock.Retirement), keeping its timestamp and
// value. The renamed write sorts, on an exact tie of timestamps, before
// every live writer of its name, so retiring can change the winner of
// such a tie, and only of such a tie; every replica applies the same
// retirements in the same order, so replicas still converge.
//
// # Untrusted peers
//
// [LWW.ApplyBinaryFrom] takes an op from an authenticated sender and
// refuses one whose writer is another replica (an error wrapping
// [vclock.ErrForeignWrite]); [LWW.SetLimits] bounds what every decoding
// method accepts; [LWW.Fingerprint] hashes the winning write, so that
// replicas can tell cheaply whether they hold the same one.
package register
