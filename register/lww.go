package register

import (
	"fmt"
	"math"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

// stamp identifies one write and orders it against the others: its
// timestamp, then its replica. The zero stamp means "nothing written" and
// orders before every write.
type stamp struct {
	ts clock.Timestamp
	id vclock.ReplicaID
}

// after reports whether s wins over o in LWW order: the later timestamp
// wins; on an exact tie the smaller replica ID wins.
func (s stamp) after(o stamp) bool {
	if c := s.ts.Compare(o.ts); c != 0 {
		return c > 0
	}
	return s.id < o.id
}

// isSet reports whether s names a write.
func (s stamp) isSet() bool { return !s.ts.IsZero() }

// hash returns the hash of the write s names, for [LWW.Fingerprint]; 0
// for no write.
func (s stamp) hash() uint64 {
	if !s.isSet() {
		return 0
	}
	h := codec.HashString(codec.HashSeed, string(s.id))
	return codec.HashUint(codec.HashUint(h, uint64(s.ts.Wall)), uint64(s.ts.Logical))
}

// check reports why s cannot name a write, or nil.
func (s stamp) check() error {
	switch {
	case s.ts.Wall <= 0:
		return fmt.Errorf("%w: timestamp %v has no wall time", ErrInvalidOp, s.ts)
	case s.id == "":
		return fmt.Errorf("%w: empty replica ID", ErrInvalidOp)
	}
	return nil
}

// LWW is a last-writer-wins register holding one value of type T.
//
// Conflict rule: the write with the later timestamp wins, and on an exact
// timestamp tie the write of the replica with the smaller ID wins.
//
// Each write is stamped with a timestamp from the replica's hybrid logical
// clock and with the replica's ID. Taking in a remote write ([LWW.Apply],
// [LWW.Merge], [LWW.MergeBinary], [LWW.ApplyBinary]) advances the clock past
// its timestamp, so a write made after seeing another always wins over it,
// whatever the replicas' wall clocks say.
//
// LWW has no Version or DeltaSince: its state is a single write and does not
// grow with use, so the whole state is already the smallest delta.
//
// The zero value is an empty register with no replica ID and no clock. It
// can be read, compared, cloned, merged into and decoded into, and it takes
// in remote writes without advancing any clock or refusing skewed ones; but
// it cannot write: [LWW.Set] panics on it. Use [NewLWW] for a replica that
// writes.
//
// An LWW is not safe for concurrent use: guard it as you would a map. It may
// be copied; the copy, like one made by [LWW.Clone], shares the clock and
// whatever memory the value refers to.
type LWW[T any] struct {
	id   vclock.ReplicaID
	clk  *clock.Clock
	w    stamp           // the winning write; zero if none
	base clock.Timestamp // w's base (see SetConflictHook)
	// lostTo is, while w is this replica's own write, the latest write of
	// another writer that lost to it here: seen, so the base of the next
	// write must name it. Zero otherwise.
	lostTo clock.Timestamp
	v      T
	fp     uint64       // w.hash(), kept with w
	lim    codec.Limits // for the decoders; zero fields take the defaults

	// hook, if set, is told of every write discarded for a concurrent
	// one (see SetConflictHook); seen remembers, while a hook is set, the
	// latest write of each writer met, so that a write delivered again is
	// not reported again.
	hook func(vclock.Conflict)
	seen []stamp
}

// NewLWW returns an empty register that writes as replica id, stamping its
// writes with clk. Every data type of one replica process should share one
// clock.
//
// NewLWW panics if id is empty or clk is nil: both are programming errors,
// not conditions to handle at run time.
func NewLWW[T any](id vclock.ReplicaID, clk *clock.Clock) *LWW[T] {
	if id == "" {
		panic("register: NewLWW with an empty replica ID")
	}
	if clk == nil {
		panic("register: NewLWW with a nil clock")
	}
	return &LWW[T]{id: id, clk: clk}
}

// SetWriter makes the register write as w from now on: its writes carry w
// beside their timestamps; on an exact tie of timestamps, writers compare
// as their replica names do, then by epoch.
// The replication engine calls it when the register is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (r *LWW[T]) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		r.id = w
	}
}

// SetConflictHook makes the register call f with a report of each write it
// discards for a concurrent one; nil (the default) reports nothing, and
// then the register does no work and keeps no memory for reports.
//
// Every write carries its base: the timestamp of the latest write of
// another writer that its writer had seen, whether it overwrote that write
// or the write lost there to one of its own (zero if it wrote over
// nothing). The latter is kept in memory only: after a restart from a
// saved state, the base names the latest write overwritten.
//
// Whenever two writes meet here and one is discarded (a held write
// displaced by a write taken in, or a write taken in that loses to the
// held one, by [LWW.Apply], [LWW.Merge], [LWW.ApplyBinary],
// [LWW.ApplyBinaryFrom], [LWW.MergeBinary], or [LWW.Set] itself), the
// discarded write is reported as [vclock.Conflict].Lost, with the kept one
// as Won, unless
//   - both have the same writer (one run of one replica writes in
//     sequence), or
//   - the kept write's base is not earlier than the discarded write (its
//     writer had seen the discarded write, or a later one), or
//   - the discarded write was met here before (a write delivered again is
//     not reported again).
//
// So when two replicas write concurrently, the replica whose write lost
// reports it once, when the winner reaches it, and a write made after
// seeing another reports nothing. The replica whose write won reports the
// loser too if the lost write reaches it (its op, or the state of a
// replica still holding it); a state sent after the losing side took the
// winner in holds only the winner, so catching up by state, the winning
// side may not report.
//
// With two writers the rule is exact: the base is then always a write of
// the other writer, and a writer's writes are made in order. With three
// or more, the base summarizes every other writer by one timestamp, and a
// write is taken as seen whenever the kept write's writer had seen any
// later write: a write of A concurrent with a write b of B is not reported
// if B had seen a later write of C (a false negative). There are no false
// positives short of clock skew, a restart (which forgets the writes that
// lost to this replica's own) or forged bases. A Set that loses, which
// happens only while the register holds a write whose timestamp its clock
// refused as too far ahead (see [LWW.Set]), is reported: it is discarded
// though made later.
//
// De-duplication keeps, while a hook is set, the latest write of up to 8
// writers met; a write of a writer forgotten since (with more than 8
// writers meeting at one register) may be reported twice. Reports are not
// persisted: a write delivered again after a restart may be reported
// again. [LWW.UnmarshalBinary] replaces the state and reports nothing. Set
// the hook before taking writes in.
//
// f is called during the method that discarded the write, after the
// register has decided but before it returns; f must not use the register.
func (r *LWW[T]) SetConflictHook(f func(vclock.Conflict)) {
	r.hook, r.seen = f, nil
}

// LWWOp is one write to an [LWW] register: a value, the timestamp it was
// written at and the replica that wrote it. [LWW.Set] returns it; apply it at
// other replicas with [LWW.Apply], or ship it as bytes with
// [LWWOp.MarshalBinary] and [LWW.ApplyBinary].
//
// The zero LWWOp names no write: [LWW.Apply] refuses it. An LWWOp may be
// copied freely; copies share whatever memory the value refers to.
type LWWOp[T any] struct {
	w    stamp
	base clock.Timestamp // see LWW.SetConflictHook
	v    T
	err  error // why the Set that returned the op changed nothing
}

// Timestamp returns the time the write was made at.
func (op LWWOp[T]) Timestamp() clock.Timestamp { return op.w.ts }

// Replica returns the replica that made the write.
func (op LWWOp[T]) Replica() vclock.ReplicaID { return op.w.id }

// Value returns the value written.
func (op LWWOp[T]) Value() T { return op.v }

// Set writes v, stamped with a new timestamp from the register's clock, and
// returns the write to apply at the other replicas. A v holding
// interfaces is held as peers decode it (see [codec.HeldValue]): Set(5) on
// an LWW[any] reads back an int8 5, here as everywhere.
//
// The write wins locally, because the clock has been advanced past every
// write the register has taken in; the one exception is a write taken in by
// [LWW.Merge] whose timestamp the clock refused as too far ahead: it keeps
// winning until the clock catches up with it.
//
// If v cannot be encoded (a func in an LWW[any], say), Set changes nothing
// (the clock is not read) and returns an op whose MarshalBinary reports the
// error, a [*codec.EncodeError], and which [LWW.Apply] refuses. Check Set's
// result by encoding it, as you must to ship it anyway.
//
// Set panics on a register without a replica ID or clock (the zero value).
func (r *LWW[T]) Set(v T) LWWOp[T] {
	if r.clk == nil || r.id == "" {
		panic("register: Set on an LWW register made without NewLWW")
	}
	v, err := codec.HeldValue(v) // held as peers decode it: see codec.HeldValue
	if err != nil {
		return LWWOp[T]{v: v, err: &codec.EncodeError{Kind: codec.KindLWWOp, Err: err}}
	}
	op := LWWOp[T]{w: stamp{ts: r.clk.Now(), id: r.id}, base: r.overwrites(), v: v}
	r.take(op.w, op.base, op.v)
	return op
}

// Get returns the value of the winning write, and false if no write has
// been made or taken in yet.
func (r *LWW[T]) Get() (T, bool) {
	return r.v, r.w.isSet()
}

// overwrites returns the base of a write this replica makes now: the
// timestamp of the latest write of another writer it overwrites, directly
// or through earlier writes of its own (zero if none).
func (r *LWW[T]) overwrites() clock.Timestamp {
	if r.w.id == r.id {
		if r.lostTo.After(r.base) {
			return r.lostTo
		}
		return r.base
	}
	return r.w.ts
}

// take makes (w, v), whose base is base, the register's write if it wins
// over the current one, and reports whether it did. With a conflict hook
// set, it reports the write it discards if the two were concurrent.
func (r *LWW[T]) take(w stamp, base clock.Timestamp, v T) bool {
	if !w.after(r.w) {
		if r.w.id == r.id && w.id != r.id && w.ts.After(r.lostTo) {
			r.lostTo = w.ts
		}
		if r.hook != nil && w != r.w && !r.met(w) {
			r.report(w, v, r.w, r.base, r.v)
		}
		return false
	}
	if r.hook != nil {
		r.met(w)
		if r.w.isSet() {
			r.met(r.w) // a held write is displaced once: no need to ask
			r.report(r.w, r.v, w, base, v)
		}
	}
	r.w, r.base, r.v, r.fp, r.lostTo = w, base, v, w.hash(), clock.Timestamp{}
	return true
}

// maxSeen bounds the writers SetConflictHook's de-duplication remembers.
const maxSeen = 8

// report tells the hook that the write lost (value lv) was discarded for
// the write won (base wbase, value wv), unless the two were not
// concurrent. The caller checked that a hook is set.
func (r *LWW[T]) report(lost stamp, lv T, won stamp, wbase clock.Timestamp, wv T) {
	if lost.id == won.id || !wbase.Before(lost.ts) {
		return // one writer's writes, or won was made over lost: not concurrent
	}
	r.hook(vclock.Conflict{
		Lost: vclock.Write{Writer: lost.id, Time: lost.ts, Value: lv},
		Won:  vclock.Write{Writer: won.id, Time: won.ts, Value: wv},
	})
}

// met reports whether a write of s's writer as late as s was met before,
// and remembers s. It keeps the latest write of up to maxSeen writers,
// forgetting the one met longest ago in LWW order beyond that.
func (r *LWW[T]) met(s stamp) bool {
	low := -1
	for i, x := range r.seen {
		if x.id == s.id {
			if !s.ts.After(x.ts) {
				return true
			}
			r.seen[i] = s
			return false
		}
		if low < 0 || r.seen[low].after(x) {
			low = i
		}
	}
	if len(r.seen) < maxSeen {
		r.seen = append(r.seen, s)
	} else {
		r.seen[low] = s
	}
	return false
}

// observe advances the register's clock past ts, or reports why the clock
// refused it (an error matching [clock.ErrClockSkew]).
func (r *LWW[T]) observe(w stamp) error {
	if r.clk == nil {
		return nil
	}
	if _, err := r.clk.Update(w.ts); err != nil {
		return fmt.Errorf("register: write of replica %q: %w", w.id, err)
	}
	return nil
}

// Apply takes in a write made at another replica (or this one): it wins if
// it orders after the current write. Applying a write twice, or after a
// later one, changes nothing.
//
// Apply refuses, with an error matching [ErrInvalidOp] and no change, an op
// with a zero timestamp or an empty replica ID. If the register's clock
// refuses the op's timestamp as too far ahead of local time, Apply returns
// that error (matching [clock.ErrClockSkew]) and changes nothing, the clock
// included: keep the op and apply it again later.
func (r *LWW[T]) Apply(op LWWOp[T]) error {
	_, err := r.apply(op)
	return err
}

func (r *LWW[T]) apply(op LWWOp[T]) (bool, error) {
	if op.err != nil {
		return false, op.err
	}
	if err := op.w.check(); err != nil {
		return false, err
	}
	if err := r.observe(op.w); err != nil {
		return false, err
	}
	return r.take(op.w, op.base, op.v), nil
}

// Merge sets r to the join of r and o: the winning write of the two.
// Merge is commutative, associative and idempotent, and never fails. A nil
// or empty o changes nothing.
//
// Merge trusts its argument: it advances the clock past o's timestamp and,
// if the clock refuses that timestamp as too far ahead, takes o's write in
// anyway. Bytes from the network should go through [LWW.MergeBinary], which
// refuses a skewed state.
func (r *LWW[T]) Merge(o *LWW[T]) {
	if o == nil || !o.w.isSet() {
		return
	}
	if r.clk != nil {
		_, _ = r.clk.Update(o.w.ts) // a refusal is ignored: see the doc comment
	}
	r.take(o.w, o.base, o.v)
}

// Heal merges o into r as [LWW.Merge] does and, if both hold the same
// write (timestamp and replica) with different values, keeps on both
// sides the value with the greater hash. No honest writer makes two such
// writes; a peer that sent two replicas one each leaves them differing
// for good, since a merge keeps the write it has: [LWW.ContentFingerprint]
// shows it, and a heal with each other's states ends it, whichever heals
// first. A nil or empty o changes nothing.
func (r *LWW[T]) Heal(o *LWW[T]) {
	if o == nil || !o.w.isSet() {
		return
	}
	if r.clk != nil {
		_, _ = r.clk.Update(o.w.ts) // a refusal is ignored, as in Merge
	}
	r.heal(o.w, o.base, o.v)
}

// heal is take, and if w is r's write with another value, takes it when
// its value's hash is the greater.
func (r *LWW[T]) heal(w stamp, base clock.Timestamp, v T) bool {
	if w != r.w || !w.isSet() || valueHash(v) <= valueHash(r.v) {
		return r.take(w, base, v)
	}
	r.base, r.v = base, v
	return true
}

// valueHash hashes a value for ContentFingerprint and heal, as
// codec.HashValue does (a value that cannot be encoded hashes as nothing).
func valueHash[T any](v T) uint64 {
	h, _ := codec.HashValue(codec.HashSeed, v)
	return h
}

// ContentFingerprint returns a hash of the register's content with its
// value, where [LWW.Fingerprint] hashes the winning write's stamp alone:
// registers that hold one stamp with two values (a peer sent each a
// different write under it) differ in it. It implements
// crdt.ContentFingerprinter, and costs a hash of the value.
func (r *LWW[T]) ContentFingerprint() uint64 {
	if !r.w.isSet() {
		return r.fp
	}
	return codec.Mix(r.fp ^ codec.Mix(valueHash(r.v)))
}

// Clone returns a copy of r with the same replica ID and clock, and no
// conflict hook. The value is copied as Go assigns it: memory it refers to
// is shared.
func (r *LWW[T]) Clone() *LWW[T] {
	c := *r
	c.hook, c.seen = nil, nil
	return &c
}

// Equal reports whether r and o hold the same write: the same timestamp and
// replica, or both nothing. Values are not compared: a write is unique by its
// timestamp and replica (a clock never issues a timestamp twice and replica
// IDs are never reused), so equal stamps mean the same value.
func (r *LWW[T]) Equal(o *LWW[T]) bool {
	return r.w == o.w
}

// The encodings, version 1, after the codec header (format version, kind,
// replica table):
//
//	LWW state   array of 0 fields (nothing written), or of 4 or 6:
//	            wall, logical, replica, value[, base wall, base logical]
//	LWW op      array of 4 or 6 fields: the same as a state's
//
// wall and logical are the parts of the write's timestamp; replica is the
// writer, as its index in the message's replica table, which lists exactly
// the writer (or nothing, for an empty state); value is written by
// codec.PutValue. Integers and headers take their shortest form, so a write
// has exactly one encoding. The base is the timestamp of the write the
// writer overwrote (see [LWW.SetConflictHook]); it is written only when it
// is not zero, so a write made over nothing, and every write encoded
// before bases existed, has 4 fields.

const (
	lwwFields     = 4
	lwwBaseFields = 6
)

func putWrite[T any](w *codec.Writer, s stamp, base clock.Timestamp, v T) {
	if base.IsZero() {
		w.Array(lwwFields)
	} else {
		w.Array(lwwBaseFields)
	}
	wire.PutTimestamp(w, s.ts)
	w.Replica(string(s.id))
	codec.PutValue(w, v)
	if !base.IsZero() {
		wire.PutTimestamp(w, base)
	}
}

// getWrite reads the n fields of a write written by putWrite, holding
// them to the one form putWrite writes: shortest integers, a base only if
// it is not zero, and a replica table that is exactly the writer.
func getWrite[T any](r *codec.Reader, n int) (stamp, clock.Timestamp, T) {
	var zero T
	ts := getTimestamp(r)
	id := vclock.ReplicaID(r.CanonicalReplica())
	v := codec.GetValue[T](r)
	var base clock.Timestamp
	if n == lwwBaseFields {
		base = getTimestamp(r)
	}
	switch {
	case r.Err() != nil:
		return stamp{}, clock.Timestamp{}, zero
	case !dotkernel.TableIs(r, []vclock.ReplicaID{id}):
		r.Fail("replica table %q is not exactly the writer %q", r.Replicas(), id)
		return stamp{}, clock.Timestamp{}, zero
	}
	return stamp{ts: ts, id: id}, base, v
}

// getTimestamp reads a timestamp written by wire.PutTimestamp in its
// shortest form, refusing one without a wall time.
func getTimestamp(r *codec.Reader) clock.Timestamp {
	wall := r.CanonicalUint()
	logical := r.CanonicalUint()
	switch {
	case r.Err() != nil:
	case wall == 0 || wall > math.MaxInt64:
		r.Fail("timestamp with wall time %d", wall)
	case logical > math.MaxUint32:
		r.Fail("timestamp logical part %d out of range", logical)
	default:
		return clock.Timestamp{Wall: int64(wall), Logical: uint32(logical)}
	}
	return clock.Timestamp{}
}

// MarshalBinary encodes the register's state (its winning write, not its
// replica ID or clock).
func (r *LWW[T]) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindLWW, 32)
	if !r.w.isSet() {
		w.Array(0)
	} else {
		putWrite(w, r.w, r.base, r.v)
	}
	return w.Bytes()
}

// decodeLWW decodes a state written by [LWW.MarshalBinary]: the winning
// write, its base and its value.
func decodeLWW[T any](data []byte, lim codec.Limits) (stamp, clock.Timestamp, T, error) {
	r := codec.NewReader(data, codec.KindLWW, lim)
	var s stamp
	var base clock.Timestamp
	var v T
	switch n := r.CanonicalArrayLen(1); {
	case r.Err() != nil:
	case n == 0:
		if !dotkernel.TableIs(r, nil) {
			r.Fail("replica table %q in an empty register", r.Replicas())
		}
	case n == lwwFields || n == lwwBaseFields:
		s, base, v = getWrite[T](r, n)
	default:
		r.Fail("LWW register with %d fields, want 0, %d or %d", n, lwwFields, lwwBaseFields)
	}
	if err := r.Done(); err != nil {
		var zero T
		return stamp{}, clock.Timestamp{}, zero, err
	}
	return s, base, v, nil
}

// UnmarshalBinary replaces the register's state with one encoded by
// [LWW.MarshalBinary], keeping its replica ID and clock, and advances the
// clock past the decoded timestamp without the skew check
// ([clock.Clock.Restore]): the bytes are trusted as this replica's own
// saved state, whose timestamp its next write must follow even if the
// host's clock was stepped back since. To take in another replica's state
// use [LWW.MergeBinary].
//
// On error the register is unchanged and the error is a [*codec.DecodeError].
func (r *LWW[T]) UnmarshalBinary(data []byte) error {
	s, base, v, err := decodeLWW[T](data, r.lim)
	if err != nil {
		return err
	}
	if s.isSet() && r.clk != nil {
		r.clk.Restore(s.ts) // its own time: see the doc comment
	}
	r.w, r.base, r.v, r.fp, r.lostTo = s, base, v, s.hash(), clock.Timestamp{}
	return nil
}

// MergeBinary decodes a state encoded by [LWW.MarshalBinary] and merges it
// in, like [LWW.Merge]. It reports whether a different write now wins (the
// value may happen to be equal to the old one).
//
// Unlike Merge it refuses, changing nothing, a state whose timestamp the
// clock finds too far ahead of local time: the error matches
// [clock.ErrClockSkew], and the state should be offered again later. A
// decoding error is a [*codec.DecodeError].
func (r *LWW[T]) MergeBinary(state []byte) (changed bool, err error) {
	return r.mergeBinary(state, r.take)
}

// mergeBinary decodes state and, once the clock has taken its timestamp,
// merges it in with take (LWW.take, or LWW.heal).
func (r *LWW[T]) mergeBinary(state []byte, take func(stamp, clock.Timestamp, T) bool) (changed bool, err error) {
	s, base, v, err := decodeLWW[T](state, r.lim)
	if err != nil {
		return false, err
	}
	if !s.isSet() {
		return false, nil
	}
	if err := r.observe(s); err != nil {
		return false, err
	}
	return take(s, base, v), nil
}

// HealBinary decodes a state encoded by [LWW.MarshalBinary] and merges it
// in with [LWW.Heal], with the checks and errors of [LWW.MergeBinary]. It
// implements crdt.Healer: the replication engine merges a peer's state
// with it while that peer's digest shows the register diverged.
func (r *LWW[T]) HealBinary(state []byte) (changed bool, err error) {
	return r.mergeBinary(state, r.heal)
}

// ApplyBinary decodes an op encoded by [LWWOp.MarshalBinary] and applies it
// like [LWW.Apply]. It reports whether a different write now wins. A
// decoding error is a [*codec.DecodeError]; an error matching
// [clock.ErrClockSkew] means the op is valid but too far ahead of local
// time, and should be offered again later. On any error r is unchanged.
func (r *LWW[T]) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeLWWOp[T](op, r.lim)
	if err != nil {
		return false, err
	}
	return r.apply(o)
}

// ApplyBinaryFrom is [LWW.ApplyBinary] for an op received from replica
// from: it refuses, changing nothing, an op whose writer is not from, with
// an error wrapping [vclock.ErrForeignWrite]. A replica may only speak for
// itself, so no peer can pass a write off as another replica's (and win
// timestamp ties in its name).
func (r *LWW[T]) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeLWWOp[T](op, r.lim)
	if err != nil {
		return false, err
	}
	if !o.w.id.WritesFor(from) {
		return false, fmt.Errorf("register: write of replica %q received from %q: %w", o.w.id, from, vclock.ErrForeignWrite)
	}
	return r.apply(o)
}

// Fingerprint returns a hash of the register's content: the winning
// write's timestamp and replica (0 if nothing was written). Two registers
// that are [LWW.Equal] have the same fingerprint, and registers holding
// different writes almost surely have different ones. The value is not
// hashed, as [LWW.Equal] does not compare it: a write is unique by its
// timestamp and replica, unless a peer sent two different writes under
// one stamp ([LWW.ContentFingerprint] tells those apart). The hash is the same in every process and on every
// machine, and is kept with the write, so Fingerprint costs nothing.
func (r *LWW[T]) Fingerprint() uint64 { return r.fp }

// SetLimits sets the limits the decoding methods of r apply to their input
// ([LWW.UnmarshalBinary], [LWW.MergeBinary], [LWW.ApplyBinary],
// [LWW.ApplyBinaryFrom]). Zero fields, as in the zero LWW, mean the values
// of [codec.DefaultLimits].
func (r *LWW[T]) SetLimits(l codec.Limits) { r.lim = l }

// MarshalBinary encodes the op. The zero op, or any op that names no write,
// cannot be encoded: the error matches [ErrInvalidOp].
func (op LWWOp[T]) MarshalBinary() ([]byte, error) {
	if op.err != nil {
		return nil, op.err
	}
	if err := op.w.check(); err != nil {
		return nil, err
	}
	w := codec.NewWriter(codec.KindLWWOp, 32)
	putWrite(w, op.w, op.base, op.v)
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [LWWOp.MarshalBinary] into op. On
// error op is unchanged and the error is a [*codec.DecodeError].
func (op *LWWOp[T]) UnmarshalBinary(data []byte) error {
	o, err := decodeLWWOp[T](data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = o
	return nil
}

func decodeLWWOp[T any](data []byte, lim codec.Limits) (LWWOp[T], error) {
	r := codec.NewReader(data, codec.KindLWWOp, lim)
	n := r.CanonicalArrayLen(1)
	if r.Err() == nil && n != lwwFields && n != lwwBaseFields {
		r.Fail("LWW register op with %d fields, want %d or %d", n, lwwFields, lwwBaseFields)
	}
	s, base, v := getWrite[T](r, n)
	if err := r.Done(); err != nil {
		return LWWOp[T]{}, err
	}
	return LWWOp[T]{w: s, base: base, v: v}, nil
}
