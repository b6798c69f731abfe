package register

import (
	"fmt"
	"slices"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// MV is a multi-value register: it keeps every value written concurrently
// (siblings) until a later write replaces them.
//
// Conflict rule: a write replaces exactly the values its replica had seen
// when it wrote, so concurrent writes are all kept and a write made after
// seeing every sibling replaces them all.
//
// Each write is named by a dot (its replica and a sequence number); the
// register holds the dots of its current values and a causal context of
// every dot it has seen, so it needs no clock. Read the siblings with
// [MV.Values]; resolve a conflict by writing the value the application
// settles on.
//
// The zero value is an empty register with no replica ID: it can be read,
// compared, cloned, merged into and decoded into, and it takes in remote
// writes, but it cannot write: [MV.Set] panics on it. Use [NewMV] for a
// replica that writes.
//
// An MV is not safe for concurrent use: guard it as you would a map. Its
// reading methods (Values, Version, Equal, DeltaSince, Clone,
// MarshalBinary, Fingerprint, and being the argument of Merge) may run
// together. It must not be copied after first use; use [MV.Clone].
//
// From untrusted peers take writes through [MV.ApplyBinaryFrom], which
// refuses a write that is not its sender's own. The dots a write replaced
// are what its sender claims to have seen, and cannot be checked: a write
// that names another replica's future dot makes that write, when it
// comes, count as replaced everywhere. A state's causal context
// ([MV.MergeBinary]) speaks for every replica in the same way: take states
// only from trusted peers.
type MV[T any] struct {
	id vclock.ReplicaID
	// k maps each current write's dot to its value (the key is the dot
	// itself). Its context holds every write seen, kept or replaced.
	//
	// MV makes no drop records. The kernel needs them only to build a delta
	// that carries part of the context: such a delta cannot otherwise say
	// that an old value was replaced. MV.DeltaSince never sends part of a
	// context (it sends the whole state or nothing, see there), and a whole
	// context says everything: a dot it holds that the store does not was
	// replaced. Making none keeps the state bounded by the siblings and the
	// context, whatever the history; to that end Apply drops dots with
	// Kernel.Drop and inserts with no dropped dots, since Kernel.Insert with
	// dropped dots keeps a record.
	k dotkernel.Kernel[vclock.Dot, T]

	lim codec.Limits // for every decoder; zero fields take the defaults

	hook func(vclock.Conflict) // see SetConflictHook
}

// SetConflictHook makes the register call f whenever taking in writes
// leaves it holding a value it did not hold before beside at least one
// other: concurrent writes met, and it now holds siblings. The report's
// Siblings lists every value held, with its writer and sequence number, in
// the order of [MV.Values]; its Key, Lost and Won are zero, as an MV
// discards nothing. nil (the default) reports nothing, and then the
// register does no work for reports.
//
// [MV.Apply], [MV.Merge], [MV.ApplyBinary], [MV.ApplyBinaryFrom] and
// [MV.MergeBinary] report; [MV.Set] replaces every value and never does,
// nor does [MV.UnmarshalBinary]. Causality is exact here (each write
// names the dots it replaced), and a write taken in twice changes nothing
// the second time, so it is never reported twice; a third concurrent
// value joining two siblings is reported again, with all three.
//
// f is called during the method, once the register holds its new
// values, before the method returns; f must not use the register.
func (m *MV[T]) SetConflictHook(f func(vclock.Conflict)) { m.hook = f }

// reportSiblings calls the hook if the register holds siblings of which
// one is new: not in before (sorted dots, held before the change). The
// caller checked that a hook is set.
func (m *MV[T]) reportSiblings(before []vclock.Dot) {
	if m.k.Len() < 2 {
		return
	}
	now := m.dots()
	fresh := false
	for _, d := range now {
		if _, ok := slices.BinarySearchFunc(before, d, vclock.Dot.Compare); !ok {
			fresh = true
			break
		}
	}
	if !fresh {
		return
	}
	sib := make([]vclock.Write, len(now))
	for i, d := range now {
		v, _ := m.k.Get(d)
		sib[i] = vclock.Write{Writer: d.Replica, Seq: d.Seq, Value: v}
	}
	m.hook(vclock.Conflict{Siblings: sib})
}

// SetLimits sets the limits every decoding method of the register applies
// to its input: [MV.UnmarshalBinary], [MV.MergeBinary], [MV.ApplyBinary],
// [MV.ApplyBinaryFrom] and the version of [MV.DeltaSinceBinary]. Zero
// fields take the values of [codec.DefaultLimits], as they do in the zero
// MV. Clones keep the limits; decoding a state does not change them.
func (m *MV[T]) SetLimits(l codec.Limits) { m.lim = l }

// NewMV returns an empty register that writes as replica id.
//
// NewMV panics if id is empty: that is a programming error, not a condition
// to handle at run time.
func NewMV[T any](id vclock.ReplicaID) *MV[T] {
	if id == "" {
		panic("register: NewMV with an empty replica ID")
	}
	return &MV[T]{id: id}
}

// SetWriter makes the register write as w from now on: its next write takes
// the first dot of w it has not seen.
// The replication engine calls it when the register is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (m *MV[T]) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		m.id = w
	}
}

// MVOp is one write to an [MV] register: a value, the write's dot, and the
// dots of the values it replaced (the siblings its replica held). [MV.Set]
// returns it; apply it at other replicas with [MV.Apply], or ship it as
// bytes with [MVOp.MarshalBinary] and [MV.ApplyBinary].
//
// The zero MVOp names no write: [MV.Apply] refuses it. An MVOp may be
// copied freely; copies share whatever memory the value refers to.
type MVOp[T any] struct {
	dot      vclock.Dot
	v        T
	replaced []vclock.Dot // sorted by vclock.Dot.Compare, no repeats
	err      error        // why the Set that made it failed
}

// Err returns why the [MV.Set] that made op failed, or nil: such an op
// names no write, changed nothing where it was made, and cannot be encoded
// or applied.
func (op MVOp[T]) Err() error { return op.err }

// Dot returns the dot that names the write.
func (op MVOp[T]) Dot() vclock.Dot { return op.dot }

// Value returns the value written.
func (op MVOp[T]) Value() T { return op.v }

// Replaced returns the dots of the values the write replaced, in increasing
// order of replica ID and sequence number.
func (op MVOp[T]) Replaced() []vclock.Dot { return slices.Clone(op.replaced) }

// check reports why op cannot be a write, or nil.
func (op MVOp[T]) check() error {
	if op.err != nil {
		return op.err
	}
	if !op.dot.Valid() || op.dot.Seq > vclock.MaxSeq {
		return fmt.Errorf("%w: dot %v names no event", ErrInvalidOp, op.dot)
	}
	for i, x := range op.replaced {
		switch {
		case !x.Valid() || x.Seq > vclock.MaxSeq:
			return fmt.Errorf("%w: replaced dot %v names no event", ErrInvalidOp, x)
		case x.Replica == op.dot.Replica && x.Seq >= op.dot.Seq:
			return fmt.Errorf("%w: write %v replaces its replica's later write %v", ErrInvalidOp, op.dot, x)
		case i > 0 && op.replaced[i-1].Compare(x) >= 0:
			return fmt.Errorf("%w: replaced dots out of order at %v", ErrInvalidOp, x)
		}
	}
	return nil
}

// dots returns the dots of the current values, in increasing order of
// replica ID and sequence number.
func (m *MV[T]) dots() []vclock.Dot {
	if m.k.Len() == 0 {
		return nil
	}
	out := make([]vclock.Dot, 0, m.k.Len())
	for d := range m.k.All() {
		out = append(out, d)
	}
	slices.SortFunc(out, vclock.Dot.Compare)
	return out
}

// Set writes v, replacing every value the register holds, and returns the
// write to apply at the other replicas.
//
// If v cannot be encoded (a type msgpack cannot encode), or the replica
// has no sequence number left for a new dot ([vclock.ErrSeqExhausted]),
// Set changes nothing and returns an op that reports the error through
// [MVOp.Err], [MVOp.MarshalBinary] and [MV.Apply].
//
// A v holding interfaces is held as peers decode it (see
// [codec.HeldValue]): Set(5) on an MV[any] reads back an int8 5, here as
// everywhere.
//
// Set panics on a register without a replica ID (the zero value).
func (m *MV[T]) Set(v T) MVOp[T] {
	if m.id == "" {
		panic("register: Set on an MV register made without NewMV")
	}
	// One encoding both checks v and makes the form it is held in.
	v, err := codec.HeldValue(v) // held as peers decode it: see codec.HeldValue
	if err != nil {
		return MVOp[T]{v: v, err: fmt.Errorf("%w: value cannot be encoded: %w", ErrInvalidOp, &codec.EncodeError{Kind: codec.KindMVOp, Err: err})}
	}
	if _, err := m.k.Next(m.id); err != nil {
		return MVOp[T]{v: v, err: fmt.Errorf("register: MV.Set: %w", err)}
	}
	replaced := m.dots()
	for _, x := range replaced {
		m.k.Remove(x)
	}
	d := m.k.Mint(m.id)
	m.k.Put(d, v, d)
	return MVOp[T]{dot: d, v: v, replaced: replaced}
}

// Values returns the current values: one after a write that saw every
// other, several after concurrent writes, none before any write. They are
// in the order of their writes' dots: by replica ID, then by the replica's
// sequence number, the same on every replica.
func (m *MV[T]) Values() []T {
	if m.k.Len() == 0 {
		return nil
	}
	out := make([]T, 0, m.k.Len())
	for _, d := range m.dots() {
		v, _ := m.k.Get(d)
		out = append(out, v)
	}
	return out
}

// Apply takes in a write made at another replica (or this one): the values
// it replaced go, and its value joins the siblings unless a write that
// replaced it was seen first. Applying a write twice, or after a write that
// replaced it, changes nothing.
//
// Apply refuses, with an error matching [ErrInvalidOp] and no change, the
// zero op and any op whose dots name no event.
func (m *MV[T]) Apply(op MVOp[T]) error {
	_, err := m.apply(op)
	return err
}

func (m *MV[T]) apply(op MVOp[T]) (bool, error) {
	if err := op.check(); err != nil {
		return false, err
	}
	var before []vclock.Dot
	if m.hook != nil {
		before = m.dots()
		defer m.reportSiblings(before)
	}
	changed := false
	for i, x := range op.replaced {
		// The key of a value is its dot: drop each dot from its own key.
		if m.k.Drop(x, op.replaced[i:i+1]) {
			changed = true
		}
	}
	if m.k.Insert(op.dot, op.v, op.dot, nil) {
		changed = true
	}
	return changed, nil
}

// Merge sets m to the join of m and o: a value survives if both hold it, or
// if one holds it and the other has never seen its write. Merge is
// commutative, associative and idempotent, and never fails. A nil o
// changes nothing.
func (m *MV[T]) Merge(o *MV[T]) {
	if o == nil || o == m {
		return
	}
	if m.hook != nil {
		defer m.reportSiblings(m.dots())
	}
	m.k.Join(&o.k)
}

// Heal merges o into m as [MV.Merge] does, and also drops every write
// that both hold under one dot with different values: a peer that sent
// two replicas two different writes under one of its dots leaves each
// holding its own, which no merge changes (each has seen the other's
// dot), and which [MV.Fingerprint] (the dots alone) does not tell apart;
// [MV.ContentFingerprint] does. Healing with each other's states drops
// both, so the replicas agree on neither, whichever heals first. A nil o
// changes nothing.
func (m *MV[T]) Heal(o *MV[T]) {
	if o == nil || o == m {
		return
	}
	m.heal(&o.k)
}

// heal is Heal with o's kernel, and reports whether the values changed.
func (m *MV[T]) heal(o *dotkernel.Kernel[vclock.Dot, T]) bool {
	if m.hook != nil {
		defer m.reportSiblings(m.dots())
	}
	m.k.SameValue = func(a, b T) bool { return hashMV(a) == hashMV(b) }
	defer func() { m.k.SameValue = nil }()
	return m.k.Heal(o)
}

// hashMV hashes a value for ContentFingerprint and heal: as codec.HashValue
// does, a value that cannot be encoded hashing as nothing.
func hashMV[T any](v T) uint64 {
	h, _ := codec.HashValue(codec.HashSeed, v)
	return h
}

// ContentFingerprint returns a hash of the register's writes with their
// values, where [MV.Fingerprint] hashes their dots alone: registers told
// two different writes under one dot differ in it. It implements
// crdt.ContentFingerprinter, and costs a pass over the current values.
func (m *MV[T]) ContentFingerprint() uint64 {
	return m.k.ContentFingerprint(func(v T) (uint64, bool) { return hashMV(v), true })
}

// Version returns a version vector summarizing the writes m has seen: for
// each replica, the count n such that its writes 1 to n have all been seen.
// Pass it to another replica's [MV.DeltaSince].
func (m *MV[T]) Version() vclock.Clock { return m.k.Version() }

// DeltaSince returns a state holding what a replica whose version is v
// lacks: merging it there has the same effect as merging all of m. v must
// be a version that replica really has (its [MV.Version]).
//
// An MV's state is bounded by its siblings and its causal context (a
// version vector, plus any writes seen out of order); it does not grow with
// the history of writes.
// So the delta is the whole state when m has seen a write v has not, and
// an empty state otherwise. That is correct: if every write m has seen is
// within v, the receiver has seen them all too, and has taken in each
// write's replacements with it (a write is never taken in without the
// values it replaced going), so m has nothing to teach it. And it is small:
// the values, plus a version vector's worth of context.
//
// The delta has no replica ID: it is for merging, not for writing.
func (m *MV[T]) DeltaSince(v vclock.Clock) *MV[T] {
	d := &MV[T]{}
	if !m.k.Context().CoveredBy(v) {
		d.k = *m.k.Clone()
	}
	return d
}

// Retire renames the finished writer r.From into r.To, its name's retired
// writer (see [vclock.Retirement]): each dot (From, n) with
// 1 <= n <= r.Final, of a value or in the causal context, becomes
// (To, r.Base+n). The renaming is one-to-one: the values do not change
// (only, since [MV.Values] orders them by dot, possibly their order), and
// merging retired registers gives what merging them first and retiring
// after would. Dots of From above r.Final stay as they are, under From (a
// writer may have written past the final count agreed for it: nothing is
// lost). r.Base and r.Final count writes, the units of [MV.Version], which
// no longer names From afterwards (see [vclock.Clock.Retire]). The
// fingerprint follows. No conflict is reported: no write is taken in.
//
// The replication engine calls Retire on every replica, with the same
// retirements in the same order, once every replica has seen From's
// writes up to r.Final. A write of From within r.Final taken in after it
// would count as new: the engine settles a writer's writes before it
// retires it.
//
// Retire refuses, with an error wrapping [vclock.ErrRetirement], a
// retirement whose Check fails, one of the writer the register itself
// writes as (call [MV.SetWriter] first), and one whose renamed dots would
// land on dots of To the register has already seen; the register is then
// unchanged. The retirement of a writer the register never saw changes
// nothing and returns nil. It costs a pass over the values and a step per
// run of From's writes in the context.
func (m *MV[T]) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	if m.id == r.From {
		return fmt.Errorf("%w: the register writes as %q", vclock.ErrRetirement, r.From)
	}
	return m.k.Retire(r)
}

// Fingerprint returns a hash of the register's content: the dots of its
// current values. Values themselves are left out: a write is unique by its
// dot (see [MV.Equal]), unless a peer sent two different writes under one
// ([MV.ContentFingerprint] tells those apart). It does not depend on the
// order writes and merges arrived in: registers that are [MV.Equal] have
// the same fingerprint, and registers holding different writes almost
// surely do not. The causal context is left out. It is the same on every
// machine, kept up to date by every change, and costs nothing to read.
func (m *MV[T]) Fingerprint() uint64 { return m.k.Fingerprint() }

// HasGaps reports whether the register holds writes that its
// [MV.Version] leaves out, received past a gap in their writer's sequence
// (as after a restart from an older snapshot). Two registers at one
// version hold the same content, and so the same [MV.Fingerprint], if
// they hold the same writes past it: none, or those [MV.GapHash] names
// alike; the replication engine compares fingerprints only then.
func (m *MV[T]) HasGaps() bool { return m.k.HasGaps() }

// GapHash returns a hash of the writes the register holds past its
// [MV.Version] (0 if none), the same on every machine and whatever order
// they arrived in, with the writes it has seen only as overwritten, and
// true (a register is never sent in parts, so nothing is set aside). Two
// registers at one version with equal gap hashes hold the same writes, so
// the replication engine compares their fingerprints even across a gap.
func (m *MV[T]) GapHash() (uint64, bool) { return m.k.GapHash() }

// Clone returns an independent copy of m with the same replica ID. Values
// are copied as Go assigns them: memory they refer to is shared.
//
// Only one of m and its clone may go on writing: both would name their
// next writes with the same dots.
func (m *MV[T]) Clone() *MV[T] {
	c := &MV[T]{id: m.id, lim: m.lim}
	c.k = *m.k.Clone()
	return c
}

// Equal reports whether m and o hold the same writes and have seen the same
// writes. Values are not compared: a write is unique by its dot (a replica
// never names two writes with one dot and replica IDs are never reused), so
// equal dots mean equal values.
func (m *MV[T]) Equal(o *MV[T]) bool {
	return m.k.Equal(&o.k, func(T, T) bool { return true })
}

// The encodings, version 1, after the codec header (format version, kind,
// replica table):
//
//	MV state   the dot store, as the dot kernel encodes it: the causal
//	           context, the number of values, and for each replica with
//	           values, its values' sequence numbers (as steps), each with
//	           its key (the dot again, as an array of replica and sequence
//	           number) and its value; an MV state has no drop records
//	MV op      array of 3+2n fields: the write's replica and sequence
//	           number, the value, then the replica and sequence number of
//	           each of the n dots it replaced, in increasing order
//
// The replica table of a state lists exactly the replicas of its context,
// in increasing order; that of an op, the replicas of its dots in the order
// they first appear. Integers and headers take their shortest form, so a
// state or op has exactly one encoding.

func putDotKey(w *codec.Writer, d vclock.Dot) {
	w.Array(2)
	w.Replica(string(d.Replica))
	w.Uint(d.Seq)
}

func getDotKey(r *codec.Reader) vclock.Dot {
	if n := r.CanonicalArrayLen(1); r.Err() == nil && n != 2 {
		r.Fail("MV register key with %d fields, want 2", n)
		return vclock.Dot{}
	}
	return dotkernel.GetDot(r)
}

// MarshalBinary encodes the register's state (its values and causal
// context, not its replica ID).
func (m *MV[T]) MarshalBinary() ([]byte, error) {
	w := codec.NewWriter(codec.KindMV, 0) // sized by Encode
	m.k.Encode(w, putDotKey, codec.PutValue[T])
	return w.Bytes()
}

// decodeMV decodes a state written by [MV.MarshalBinary].
func decodeMV[T any](data []byte, lim codec.Limits) (*dotkernel.Kernel[vclock.Dot, T], error) {
	r := codec.NewReader(data, codec.KindMV, lim)
	k := dotkernel.DecodeWithoutRecords(r, getDotKey, codec.GetValue[T])
	if r.Err() == nil {
		checkMV(r, k)
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return k, nil
}

// checkMV records on r what the kernel's decoder does not know about MV:
// each value's key is its own dot, there are no drop records, and the
// replica table is exactly the context's replicas.
func checkMV[T any](r *codec.Reader, k *dotkernel.Kernel[vclock.Dot, T]) {
	for key := range k.All() {
		if ds := k.Dots(key); len(ds) != 1 || ds[0] != key {
			r.Fail("MV register value under key %v supported by dots %v", key, ds)
			return
		}
	}
	if len(k.Records()) > 0 || !k.Horizon().IsZero() {
		r.Fail("MV register state with drop records")
		return
	}
	var ids []vclock.ReplicaID
	for rg := range k.Context().Ranges() {
		if len(ids) == 0 || ids[len(ids)-1] != rg.Replica {
			ids = append(ids, rg.Replica)
		}
	}
	if !dotkernel.TableIs(r, ids) {
		r.Fail("replica table %q is not exactly the causal context's replicas", r.Replicas())
	}
}

// UnmarshalBinary replaces the register's state with one encoded by
// [MV.MarshalBinary], keeping its replica ID. Restore only this replica's
// latest saved state (or start a new replica ID from another's): a replica
// restored to an older state would name its next writes with dots it
// already used. To take in another replica's state use [MV.MergeBinary].
//
// On error the register is unchanged and the error is a [*codec.DecodeError].
func (m *MV[T]) UnmarshalBinary(data []byte) error {
	k, err := decodeMV[T](data, m.lim)
	if err != nil {
		return err
	}
	m.k = *k
	return nil
}

// MergeBinary decodes a state or delta encoded by [MV.MarshalBinary] or
// [MV.DeltaSinceBinary] and merges it in, like [MV.Merge]. It reports
// whether the set of values changed. A decoding error is a
// [*codec.DecodeError], and leaves m unchanged.
func (m *MV[T]) MergeBinary(state []byte) (changed bool, err error) {
	k, err := decodeMV[T](state, m.lim)
	if err != nil {
		return false, err
	}
	if m.hook != nil {
		defer m.reportSiblings(m.dots())
	}
	return m.k.Join(k), nil
}

// HealBinary decodes a state encoded by [MV.MarshalBinary] and merges it
// in with [MV.Heal]. It reports whether the set of values changed. A
// decoding error is a [*codec.DecodeError], and leaves m unchanged. It
// implements crdt.Healer: the replication engine merges a peer's state
// with it while that peer's digest shows the register diverged.
func (m *MV[T]) HealBinary(state []byte) (changed bool, err error) {
	k, err := decodeMV[T](state, m.lim)
	if err != nil {
		return false, err
	}
	return m.heal(k), nil
}

// ApplyBinary decodes an op encoded by [MVOp.MarshalBinary] and applies it
// like [MV.Apply]. It reports whether the set of values changed. A decoding
// error is a [*codec.DecodeError], and leaves m unchanged.
func (m *MV[T]) ApplyBinary(op []byte) (changed bool, err error) {
	o, err := decodeMVOp[T](op, m.lim)
	if err != nil {
		return false, err
	}
	return m.apply(o)
}

// ApplyBinaryFrom is [MV.ApplyBinary] for a write received from the
// replica from (the authenticated sender): the write's dot must be
// from's. A write whose dot names another replica is refused with an
// error wrapping [vclock.ErrForeignWrite], and m is unchanged. The dots a
// write replaced may be any replica's: they are what from had seen, not
// writes; but a dot of another replica that m has not seen yet is refused
// with an error wrapping [vclock.ErrUnseen], and m is unchanged, until it
// has (the engine has the op sent again).
func (m *MV[T]) ApplyBinaryFrom(op []byte, from vclock.ReplicaID) (changed bool, err error) {
	o, err := decodeMVOp[T](op, m.lim)
	if err != nil {
		return false, err
	}
	if !o.dot.Replica.WritesFor(from) {
		return false, fmt.Errorf("register: MV write %v received from %q: %w", o.dot, from, vclock.ErrForeignWrite)
	}
	for _, d := range o.replaced {
		if d.Replica.Name() != from.Name() && !m.k.Context().Contains(d) {
			return false, fmt.Errorf("register: MV write %v received from %q replaces %v: %w", o.dot, from, d, vclock.ErrUnseen)
		}
	}
	return m.apply(o)
}

// VersionBinary encodes [MV.Version] as a version vector message
// ([vclock.Clock.MarshalBinary]).
func (m *MV[T]) VersionBinary() ([]byte, error) {
	return m.Version().MarshalBinary()
}

// DeltaSinceBinary decodes a version encoded by [MV.VersionBinary] and
// returns [MV.DeltaSince] of it, encoded like [MV.MarshalBinary]. A
// decoding error is a [*codec.DecodeError].
func (m *MV[T]) DeltaSinceBinary(version []byte) ([]byte, error) {
	v, err := vclock.UnmarshalClock(version, m.lim)
	if err != nil {
		return nil, err
	}
	return m.DeltaSince(v).MarshalBinary()
}

// MarshalBinary encodes the op. The zero op, or any op that names no write,
// cannot be encoded: the error matches [ErrInvalidOp].
func (op MVOp[T]) MarshalBinary() ([]byte, error) {
	if err := op.check(); err != nil {
		return nil, err
	}
	w := codec.NewWriter(codec.KindMVOp, 16+4*len(op.replaced))
	w.Array(3 + 2*len(op.replaced))
	w.Replica(string(op.dot.Replica))
	w.Uint(op.dot.Seq)
	codec.PutValue(w, op.v)
	for _, x := range op.replaced {
		w.Replica(string(x.Replica))
		w.Uint(x.Seq)
	}
	return w.Bytes()
}

// UnmarshalBinary decodes an op encoded by [MVOp.MarshalBinary] into op. On
// error op is unchanged and the error is a [*codec.DecodeError].
func (op *MVOp[T]) UnmarshalBinary(data []byte) error {
	o, err := decodeMVOp[T](data, codec.Limits{})
	if err != nil {
		return err
	}
	*op = o
	return nil
}

func decodeMVOp[T any](data []byte, lim codec.Limits) (MVOp[T], error) {
	r := codec.NewReader(data, codec.KindMVOp, lim)
	n := r.CanonicalArrayLen(1)
	if r.Err() == nil && (n < 3 || (n-3)%2 != 0) {
		r.Fail("MV register op with %d fields", n)
	}
	dot := dotkernel.GetDot(r)
	v := codec.GetValue[T](r)
	ids := replicaList{ids: []vclock.ReplicaID{dot.Replica}}
	var replaced []vclock.Dot
	if r.Err() == nil && n > 3 {
		replaced = make([]vclock.Dot, 0, (n-3)/2)
	}
	for i := 0; r.Err() == nil && i < (n-3)/2; i++ {
		x := dotkernel.GetDot(r)
		if r.Err() != nil {
			break
		}
		switch {
		case x.Replica == dot.Replica && x.Seq >= dot.Seq:
			r.Fail("write %v replaces its replica's later write %v", dot, x)
		case len(replaced) > 0 && replaced[len(replaced)-1].Compare(x) >= 0:
			r.Fail("replaced dots out of order at %v", x)
		}
		replaced = append(replaced, x)
		ids.add(x.Replica)
	}
	if r.Err() == nil && !dotkernel.TableIs(r, ids.ids) {
		r.Fail("replica table %q is not exactly the op's replicas %q", r.Replicas(), ids)
	}
	if err := r.Done(); err != nil {
		return MVOp[T]{}, err
	}
	return MVOp[T]{dot: dot, v: v, replaced: replaced}, nil
}

// replicaList lists replica IDs in the order they are first added, as a
// codec.Writer builds its replica table.
type replicaList struct {
	ids  []vclock.ReplicaID
	seen map[vclock.ReplicaID]struct{} // once the list grows past a few
}

func (l *replicaList) add(id vclock.ReplicaID) {
	if l.seen == nil {
		if slices.Contains(l.ids, id) {
			return
		}
		l.ids = append(l.ids, id)
		if len(l.ids) > 8 {
			l.seen = make(map[vclock.ReplicaID]struct{}, 2*len(l.ids))
			for _, x := range l.ids {
				l.seen[x] = struct{}{}
			}
		}
		return
	}
	if _, ok := l.seen[id]; !ok {
		l.seen[id] = struct{}{}
		l.ids = append(l.ids, id)
	}
}
