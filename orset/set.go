package orset

import (
	"fmt"
	"iter"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Set is an add-wins observed-remove set of elements of type E.
//
// Conflict rule: a remove deletes only the adds its replica had seen, so an
// add concurrent with a remove of the same element wins.
//
// The zero Set is an empty set with no replica ID: it can be read, merged
// into, decoded into, and can take ops and states from other replicas, but
// it cannot mutate: [Set.Add] and [Set.Remove] panic on it. Use [New] for a
// replica that writes.
//
// A Set is not safe for concurrent use: guard it as you would a map. Its
// reading methods (Contains, Len, All, Equal, DeltaSince, Version,
// MarshalBinary, Clone, Fingerprint, and being the argument of Merge) may
// run together, as under a read lock. It must not be copied after first
// use (the copy would share its maps); use [Set.Clone].
type Set[E comparable] struct {
	id  vclock.ReplicaID
	k   dotkernel.Kernel[E, struct{}]
	lim codec.Limits // for every decoder; zero fields take the defaults
	// plain says that every value of E can be encoded (a string, an
	// integer, ...), so that Add and Remove need not check their element.
	plain bool
}

// SetLimits sets the limits every decoding method of the set applies to
// its input: [Set.UnmarshalBinary], [Set.MergeBinary], [Set.ApplyBinary],
// [Set.ApplyBinaryFrom], the version of [Set.DeltaSinceBinary] and the
// versions of [Set.CollectBinary]. Zero fields take the values of
// [codec.DefaultLimits], as they do in the zero Set. Clones keep the
// limits; decoding a state does not change them.
func (s *Set[E]) SetLimits(l codec.Limits) { s.lim = l }

// New returns an empty set that mutates as replica id.
//
// New panics if id is empty: that is a programming error, not a condition
// to handle at run time.
func New[E comparable](id vclock.ReplicaID) *Set[E] {
	if id == "" {
		panic("orset: New with an empty replica ID")
	}
	s := &Set[E]{id: id, plain: plainElem[E]()}
	s.k.RecordsAll = true // every mutation that drops dots is recorded
	return s
}

// ID returns the replica the set mutates as, or "" for the zero Set.
func (s *Set[E]) ID() vclock.ReplicaID { return s.id }

// SetWriter makes the set write as w from now on: its next add takes
// the first dot of w it has not seen.
// The replication engine calls it when the set is registered, with
// the writer of the replica's current run (a replica ID and an epoch, see
// vclock.Writer), so that a replica back from an empty disk or an older
// backup never makes two different writes under one identity. An empty w
// changes nothing.
func (s *Set[E]) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		s.id = w
		s.plain = plainElem[E]()
	}
}

type opKind uint8

const (
	opInvalid opKind = iota // the zero Op
	opAdd
	opRemove
	opNoop // a remove of an element the replica did not hold
)

// Op is one add or remove of an element, made at one replica: the element,
// the dot (replica, sequence number) that names the mutation, and the dots
// of the element it dropped. [Set.Add] and [Set.Remove] return it; apply it
// at other replicas with [Set.Apply], or ship it as bytes with
// [Op.MarshalBinary] and [Set.ApplyBinary].
//
// A remove of an element the replica did not hold returns an op that does
// nothing anywhere ([Op.IsNoop]); it need not be shipped, but applying it
// is harmless.
//
// The zero Op names no mutation: [Set.Apply] refuses it with
// [ErrInvalidOp]. So does an Op returned by a mutator that failed (see
// [Set.Add]): [Op.MarshalBinary] and [Set.Apply] return its error. An Op
// may be copied freely.
type Op[E comparable] struct {
	kind    opKind
	elem    E
	dot     vclock.Dot
	dropped []vclock.Dot // sorted by vclock.Dot.Compare; never modified
	// own, if not 0, is the one dot the op dropped, of the op's own
	// replica: (dot.Replica, own), held without a slice; dropped is then
	// nil. Remove makes such ops; decoding never does.
	own uint64
	err error // why the mutator that made it failed
}

// drops returns the dots the op dropped, sorted; a new slice if the op
// holds its one dropped dot as own.
func (op *Op[E]) drops() []vclock.Dot {
	if op.own != 0 {
		return []vclock.Dot{{Replica: op.dot.Replica, Seq: op.own}}
	}
	return op.dropped
}

// numDrops returns the number of dots the op dropped.
func (op *Op[E]) numDrops() int {
	if op.own != 0 {
		return 1
	}
	return len(op.dropped)
}

// Err returns why the mutator that made op failed, or nil: an Op that
// reports an error names no mutation, changed nothing where it was made,
// and cannot be encoded or applied.
func (op Op[E]) Err() error { return op.err }

// failed returns the op of a mutator of e that failed with err.
func failed[E comparable](e E, err error) Op[E] {
	return Op[E]{elem: e, err: err}
}

// Elem returns the element the op adds or removes.
func (op Op[E]) Elem() E { return op.elem }

// IsRemove reports whether the op is a remove (including a remove that does
// nothing).
func (op Op[E]) IsRemove() bool { return op.kind == opRemove || op.kind == opNoop }

// IsNoop reports whether the op does nothing: a remove of an element its
// replica did not hold.
func (op Op[E]) IsNoop() bool { return op.kind == opNoop }

// Dot returns the dot that names the mutation: its replica and sequence
// number. A no-op has none.
func (op Op[E]) Dot() vclock.Dot { return op.dot }

// String describes the op, for example "add(milk)@us-east-1:3".
func (op Op[E]) String() string {
	switch op.kind {
	case opAdd:
		return fmt.Sprintf("add(%v)@%v", op.elem, op.dot)
	case opRemove:
		return fmt.Sprintf("remove(%v)@%v", op.elem, op.dot)
	case opNoop:
		return fmt.Sprintf("remove(%v): no-op", op.elem)
	}
	return "invalid op"
}

// check reports why op cannot be applied, or nil.
func (op Op[E]) check() error {
	if op.err != nil {
		return op.err
	}
	switch op.kind {
	case opNoop:
		return nil
	case opAdd, opRemove:
	default:
		return fmt.Errorf("%w: the zero Op", ErrInvalidOp)
	}
	dropped := op.dropped
	if op.own != 0 {
		if op.dropped != nil {
			return fmt.Errorf("%w: an op with two kinds of dropped dots", ErrInvalidOp)
		}
		var one [1]vclock.Dot
		one[0] = vclock.Dot{Replica: op.dot.Replica, Seq: op.own}
		dropped = one[:]
	}
	if why := dotkernel.CheckOp(op.dot, dropped, op.kind == opRemove, false); why != "" {
		return fmt.Errorf("%w: %s", ErrInvalidOp, why)
	}
	return nil
}

func (s *Set[E]) mustWrite(what string) {
	if s.id == "" {
		panic("orset: " + what + " on a Set made without New")
	}
}

// checkElem is checkElem, skipped when every E is an element as it is.
func (s *Set[E]) checkElem(e E) (E, error) {
	if s.plain {
		return e, nil
	}
	return checkElem(e)
}

// Add adds e and returns the op to apply at the other replicas. The add
// gets a new dot, which becomes e's only support here: the dots e had
// before are dropped, and the op tells the other replicas to drop them too.
//
// If e cannot be encoded (a type msgpack cannot encode), holds a NaN (an
// error matching [codec.ErrKey]: a NaN is not equal to itself, and could
// never be found or removed), or the replica has no sequence number left
// for a new dot ([vclock.ErrSeqExhausted]), Add changes nothing and
// returns an op that reports the error through [Op.Err],
// [Op.MarshalBinary] and [Set.Apply]. A floating-point zero in e is added
// as +0: −0 and +0 are one element.
//
// Add panics on a set without a replica ID (the zero Set).
func (s *Set[E]) Add(e E) Op[E] {
	s.mustWrite("Add")
	e, err := s.checkElem(e)
	if err != nil {
		return failed(e, err)
	}
	d, dropped, err := s.k.MintPut(s.id, e, struct{}{})
	if err != nil {
		return failed(e, fmt.Errorf("orset: Add: %w", err))
	}
	return Op[E]{kind: opAdd, elem: e, dot: d, dropped: dropped}
}

// Remove removes e and returns the op to apply at the other replicas: it
// drops the dots of e this replica holds, and only those, so an add of e
// this replica has not seen survives it. The remove gets a dot of its own,
// so that the set's version advances and [Set.DeltaSince] conveys it.
//
// If e is not in the set, Remove does nothing and returns an op that does
// nothing ([Op.IsNoop]). If e cannot be encoded, or the replica has no
// sequence number left for a new dot, Remove changes nothing and returns
// an op that reports the error, as [Set.Add] does.
//
// Remove panics on a set without a replica ID (the zero Set).
func (s *Set[E]) Remove(e E) Op[E] {
	s.mustWrite("Remove")
	e, err := s.checkElem(e)
	if err != nil {
		return failed(e, err)
	}
	d, own, dropped, err := s.k.MintRemoveOwn(s.id, e) // one look-up of e
	switch {
	case err != nil:
		return failed(e, fmt.Errorf("orset: Remove: %w", err))
	case dropped == nil && own == 0:
		return Op[E]{kind: opNoop, elem: e}
	}
	return Op[E]{kind: opRemove, elem: e, dot: d, dropped: dropped, own: own}
}

// Contains reports whether e is in the set. An element holding interfaces
// is looked up in the form the set holds it in (see
// [codec.CanonicalKey]): Contains(1) finds the 1 a Set[any] holds as an
// int8.
func (s *Set[E]) Contains(e E) bool {
	e, ok := codec.LookupKey(e)
	return ok && s.k.Has(e)
}

// Len returns the number of elements in the set.
func (s *Set[E]) Len() int { return s.k.Len() }

// All returns an iterator over the elements of the set, in unspecified
// order. The set must not be modified during the iteration.
func (s *Set[E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		for e := range s.k.All() {
			if !yield(e) {
				return
			}
		}
	}
}

// Apply applies an op made at another replica (or this one). Ops may
// arrive in any order and any number of times: applying one twice, or
// after ops that came later, is harmless. In particular a remove that
// arrives before the add it observed still beats that add.
//
// Apply refuses an invalid op (the zero Op, a dot with an empty replica or
// a zero sequence number) with an error matching [ErrInvalidOp], and
// changes nothing.
func (s *Set[E]) Apply(op Op[E]) error {
	_, err := s.apply(op)
	return err
}

// apply applies op and reports whether e's presence changed.
func (s *Set[E]) apply(op Op[E]) (bool, error) {
	if err := op.check(); err != nil {
		return false, err
	}
	if op.kind == opNoop || s.k.Applied(op.dot) {
		return false, nil // nothing to do, or done before
	}
	before := s.k.Has(op.elem)
	if dropped := op.drops(); len(dropped) > 0 {
		s.k.Drop(op.elem, dropped)
		s.k.Record(op.dot, op.elem, dropped)
	}
	if op.kind == opAdd {
		s.k.Insert(op.elem, struct{}{}, op.dot, nil)
	} else {
		s.k.Observe(op.dot)
	}
	return s.k.Has(op.elem) != before, nil
}

// Merge sets s to the join of s and o: an element's dot survives if both
// hold it, or if one holds it and the other has never seen it. Merge is
// commutative, associative and idempotent, and never fails. A nil o
// changes nothing.
func (s *Set[E]) Merge(o *Set[E]) {
	if o == nil {
		return
	}
	s.k.Join(&o.k)
}

// Heal merges o into s as [Set.Merge] does, without trusting o's drop
// records: it drops every add of s that o has seen and does not hold,
// recorded or not. It is for sets known to have diverged (the same
// version, different fingerprints): a peer that sent two replicas two
// different adds under one of its dots (one element to each) leaves each
// holding its own, which no Merge removes, since each has seen the
// other's dot. Healing with each other's states drops both, so the
// replicas agree on neither, whichever heals first. It costs a look at
// every add of s within o's context. A nil o changes nothing.
func (s *Set[E]) Heal(o *Set[E]) {
	if o == nil {
		return
	}
	s.k.Heal(&o.k)
}

// Version returns the set's version: for each replica, how many of its
// adds and removes the set has seen, counting only those received without
// gaps. Pass a peer's version to [Set.DeltaSince] to send it what it
// lacks.
func (s *Set[E]) Version() vclock.Clock { return s.k.Version() }

// DeltaSince returns a set holding what a replica whose version is v
// lacks: the elements with dots v has not seen, the events beyond v, and
// the drops v has not seen. Merging it into a replica whose version is v
// gives the same state as merging all of s. If v is older than a drop
// record s has discarded (see [Set.Collect]), the delta is a full copy.
//
// v must be a version the receiving replica really has, as its
// [Set.Version] reported it: the delta leaves out everything v claims.
// The delta has no replica ID: it is for merging and encoding, not for
// mutating.
//
// Its cost grows with the delta, not with the set: the set indexes its
// elements and drop records by dot once a first DeltaSince needs it. That
// first call, and one for a version older than every version asked about
// since the last [Set.Collect], go through the whole set instead. Like the
// other reading methods, DeltaSince may be called by several readers at
// once.
func (s *Set[E]) DeltaSince(v vclock.Clock) *Set[E] {
	return &Set[E]{k: *s.k.DeltaSince(v)}
}

// Retire renames the finished writer r.From into r.To, its name's
// retired writer (see [vclock.Retirement]): each dot (From, n) with
// 1 <= n <= r.Final, of an element, in the causal context or in a drop
// record, becomes (To, r.Base+n). The renaming is one-to-one: the elements
// do not change, and merging retired sets gives what merging them first
// and retiring after would. Dots of From above r.Final stay as they are,
// under From (a writer may have written past the final count agreed for
// it: nothing is lost). r.Base and r.Final count dots, the units of
// [Set.Version], which no longer names From afterwards (see
// [vclock.Clock.Retire]). The fingerprint, the drop records and the
// set's table of replicas follow; the table does not grow.
//
// The replication engine calls Retire on every replica, with the same
// retirements in the same order, once every replica has seen all of
// From's dots. Ops made before by From and not yet delivered still name
// From: the engine has them settled first.
//
// Retire refuses, with an error wrapping [vclock.ErrRetirement], a
// retirement whose Check fails, one of the writer the set itself writes
// as (call [Set.SetWriter] first), and one whose renamed dots would land
// on dots of To the set has already seen; the set is then unchanged. The
// retirement of a writer the set never saw changes nothing and returns
// nil. It costs a pass over the elements and the drop records, and
// allocates only for records that dropped a dot of From.
func (s *Set[E]) Retire(r vclock.Retirement) error {
	if err := r.Check(); err != nil {
		return err
	}
	if s.id == r.From {
		return fmt.Errorf("%w: the set writes as %q", vclock.ErrRetirement, r.From)
	}
	return s.k.Retire(r)
}

// Collect discards the drop records of the adds and removes that every
// replica has seen, and returns how many it discarded. stable must be a
// version every replica has reached; the replication engine computes it as
// the meet ([vclock.Clock.Meet]) of the versions of all replicas, its own
// included. Collecting never changes the set's value or its state as
// [Set.Equal] sees it; it only keeps the metadata small. A peer whose
// version is older than stable (one that was not counted in it) is later
// sent a full copy instead of a delta.
func (s *Set[E]) Collect(stable vclock.Clock) int { return s.k.Collect(stable) }

// Clone returns an independent copy of s, with the same replica ID. Do not
// mutate both the original and the clone: they would make different
// mutations with the same dots.
func (s *Set[E]) Clone() *Set[E] {
	return &Set[E]{id: s.id, k: *s.k.Clone(), lim: s.lim, plain: s.plain}
}

// Equal reports whether s and o are in the same state: the same elements,
// supported by the same dots, after seeing the same adds and removes. Two
// replicas that have taken in the same ops and states are Equal; two sets
// built independently with the same elements are not. Replica IDs and drop
// records are not compared. A nil set equals an empty one.
func (s *Set[E]) Equal(o *Set[E]) bool {
	if s == nil || o == nil {
		return (s == nil || s.isEmpty()) && (o == nil || o.isEmpty())
	}
	return s.k.Equal(&o.k, func(struct{}, struct{}) bool { return true })
}

// Fingerprint returns a hash of the set's content: its elements with the
// dots that support them. It does not depend on the order in which adds,
// removes and merges arrived: replicas whose states are [Set.Equal] have
// the same fingerprint, and sets whose elements or dots differ almost
// surely do not. Drop records, the causal context and indexes, which
// replicas hold for different times, are left out. It is the same on
// every machine, kept up to date by every change (constant work per dot),
// and costs nothing to read.
func (s *Set[E]) Fingerprint() uint64 { return s.k.Fingerprint() }

// HasGaps reports whether the set holds adds or removes that its
// [Set.Version] leaves out, received past a gap in their writer's
// sequence (as after a restart from an older snapshot). Two sets at one
// version hold the same content, and so the same [Set.Fingerprint], if
// they hold the same updates past it: none, or those [Set.GapHash]
// names alike; the replication engine compares fingerprints only then.
func (s *Set[E]) HasGaps() bool { return s.k.HasGaps() }

// GapHash returns a hash of the adds and removes the set holds past its
// [Set.Version] (0 if none), the same on every machine and whatever order
// they arrived in, with the adds it has seen only as removed, and true;
// or false while a part of a large catch-up has set removes aside, which
// the hash does not describe. Two sets at one version with equal gap
// hashes hold the same content, so the replication engine compares their
// fingerprints even across a gap.
func (s *Set[E]) GapHash() (uint64, bool) { return s.k.GapHash() }

func (s *Set[E]) isEmpty() bool { return s.k.Len() == 0 && s.k.Context().IsEmpty() }
