package ormap

import (
	"iter"
	"slices"

	"github.com/activeactive/crdt/vclock"
)

// Value is the constraint on the values of a [Map]: one of the nested
// types of this package, [*Counter], [*Register], [*Set] or [*Map] (a map
// nested in a map). Its methods are unexported: a value lives in the dot
// store of the map that holds it and shares that map's causal context,
// which only the types of this package know how to do.
type Value[V any] interface {
	// view returns the value at key path p of the map whose state is s.
	// It is called on the zero V (a nil pointer).
	view(s *state, p string) V
	// viewTop returns the value of the key whose segment is seg in the
	// top-level map whose state is s: the view of the key's path, which
	// the view may build only when it needs it. It is called on the
	// zero V.
	viewTop(s *state, seg string) V
	// shapeOf describes the leaves of the value below its key.
	shapeOf() shape
}

// Map is an observed-remove map whose values are nested CRDTs: counters,
// registers, sets or further maps.
//
// Conflict rule: each key holds the value its writers built, concurrent
// updates to one key merge by the value's own rule, and a delete removes
// only what its replica had seen of the key, so an update concurrent with
// a delete survives with only its own part (add-wins on the key,
// reset-remove on the value).
//
// A Map made by [New] is a top-level map: it owns the state (the dot
// store, its causal context, the replica ID) that every value and nested
// map in it shares. [Map.At] and [Map.Get] return views of the values,
// which read and mutate that shared state; each mutator returns an [Op]
// for the top-level map's [Map.Apply] at the other replicas. The methods
// that take in or give out the whole state (Apply, Merge, DeltaSince,
// Version, Collect, Clone, Equal, Fingerprint and the binary methods)
// belong to the top-level map and panic on a nested one.
//
// The zero Map is an empty top-level map with no replica ID: it can be
// read, merged into, decoded into and applied to, but its mutators panic.
// Use [New] for a replica that writes.
//
// A Map and its views are not safe for concurrent use: guard them as you
// would a Go map. Reading methods may run together, as under a read lock.
// A Map must not be copied after first use; use [Map.Clone].
type Map[K comparable, V Value[V]] struct {
	s      *state // nil until a zero Map is first written to
	own    state  // the state of a zero Map, once it is written to
	path   string // the key path of a nested map; "" at the top
	nested bool
	err    error // why the key of a nested map could not be encoded
}

// New returns an empty map that mutates as replica id.
//
// New panics if id is empty: that is a programming error, not a condition
// to handle at run time.
func New[K comparable, V Value[V]](id vclock.ReplicaID) *Map[K, V] {
	if id == "" {
		panic("ormap: New with an empty replica ID")
	}
	m := &Map[K, V]{}
	m.s = newState(id, m.shapeOf())
	return m
}

func (*Map[K, V]) view(s *state, p string) *Map[K, V] {
	return &Map[K, V]{s: s, path: p, nested: true}
}

func (m *Map[K, V]) viewTop(s *state, seg string) *Map[K, V] { return m.view(s, appendSeg("", seg)) }

func (*Map[K, V]) shapeOf() shape {
	var v V
	vs := v.shapeOf()
	return shape{segs: append([]segCodec{segCodecOf[K]()}, vs.segs...), kind: vs.kind, val: vs.val}
}

// st returns the map's state, making it for a zero Map: only methods
// that write call it, so that readers of a zero Map write nothing.
func (m *Map[K, V]) st() *state {
	if m.s == nil {
		sh := m.shapeOf()
		m.own.sh = &sh
		m.own.k.RecordsAll = true
		m.own.watch()
		m.s = &m.own
	}
	return m.s
}

// rd returns the map's state for reading: that of a zero Map never
// written to is empty, without a shape.
func (m *Map[K, V]) rd() *state {
	if m.s != nil {
		return m.s
	}
	return &m.own
}

// shape returns the shape of the map's type.
func (m *Map[K, V]) shape() *shape {
	if s := m.rd(); s.sh != nil {
		return s.sh
	}
	sh := m.shapeOf()
	return &sh
}

// mustTop returns the state for a method that writes it, and panics on a
// nested map.
func (m *Map[K, V]) mustTop(what string) *state {
	m.notNested(what)
	return m.st()
}

// readTop is mustTop for a method that only reads.
func (m *Map[K, V]) readTop(what string) *state {
	m.notNested(what)
	return m.rd()
}

func (m *Map[K, V]) notNested(what string) {
	if m.nested {
		panic("ormap: " + what + " on a nested map; call it on the top-level map")
	}
}

// ID returns the replica the map mutates as, or "" for the zero Map.
func (m *Map[K, V]) ID() vclock.ReplicaID { return m.rd().id }

// SetWriter makes the map, and every value in it, write as w from now on.
// The replication engine calls it when the map is registered, with the
// writer of the replica's current run (see vclock.Writer), so that a
// replica back from an empty disk or an older backup never makes two
// different writes under one identity. An empty w changes nothing.
func (m *Map[K, V]) SetWriter(w vclock.ReplicaID) {
	if w != "" {
		m.mustTop("SetWriter").id = w
	}
}

// keyPath returns the key path of k in m.
func (m *Map[K, V]) keyPath(k K) (string, error) {
	if m.err != nil {
		return "", m.err
	}
	seg, err := encSeg(k)
	if err != nil {
		return "", err
	}
	return appendSeg(m.path, seg), nil
}

// At returns the value of key k, whether or not k is present: an absent
// key reads as an empty value (a counter of 0, a register with no value,
// an empty set or map), and a mutation of the value makes the key
// present. The view reads and mutates the map's state: it sees later
// changes, and stays valid as long as the map does.
//
// If k cannot be encoded, the value reads as empty and its mutators
// return an op that reports the error.
func (m *Map[K, V]) At(k K) V {
	var v V
	if !m.nested {
		if seg, err := encSeg(k); err == nil {
			return v.viewTop(m.rd(), seg)
		}
	}
	p, err := m.keyPath(k)
	out := v.view(m.rd(), p)
	if err != nil {
		setErr(any(out), err)
	}
	return out
}

// setErr records in a fresh view that its key could not be encoded.
func setErr(v any, err error) {
	if x, ok := v.(interface{ setErr(error) }); ok {
		x.setErr(err)
	}
}

func (m *Map[K, V]) setErr(err error) { m.err = err }

// Get returns the value of key k and whether k is present.
func (m *Map[K, V]) Get(k K) (V, bool) {
	v := m.At(k)
	return v, m.Has(k)
}

// Has reports whether key k is present: whether some write to its value
// survives.
func (m *Map[K, V]) Has(k K) bool {
	if !m.nested {
		// The path of a top-level key, on the stack: a look-up keeps
		// no string.
		seg, err := encSeg(k)
		var buf topPathBuf
		if p, ok := buf.path(seg); ok && err == nil {
			return m.rd().find(p) != nil
		}
	}
	p, err := m.keyPath(k)
	return err == nil && m.rd().find(p) != nil
}

// Len returns the number of present keys.
func (m *Map[K, V]) Len() int {
	if n := m.rd().find(m.path); n != nil {
		return m.rd().numKids(n)
	}
	return 0
}

// All returns an iterator over the present keys and their values, in
// unspecified order. The map must not be modified during the iteration.
func (m *Map[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		s := m.rd()
		n := s.find(m.path)
		if n == nil || m.err != nil {
			return
		}
		var zero V
		s.eachKid(n, func(p string, _ *node) bool {
			k, ok := decSeg[K](lastSeg(p, m.path))
			return !ok || yield(k, zero.view(s, p))
		})
	}
}

// Keys returns an iterator over the present keys, in unspecified order.
func (m *Map[K, V]) Keys() iter.Seq[K] {
	return func(yield func(K) bool) {
		s := m.rd()
		n := s.find(m.path)
		if n == nil || m.err != nil {
			return
		}
		s.eachKid(n, func(p string, _ *node) bool {
			k, ok := decSeg[K](lastSeg(p, m.path))
			return !ok || yield(k)
		})
	}
}

// Delete deletes key k and returns the op to apply at the other replicas.
// It drops every write to k's value that this replica holds, and only
// those: a write to k that this replica has not seen survives the delete,
// and k stays present with just the value that write built (an increment
// made concurrently counts alone; a register keeps the concurrent value;
// a set keeps the concurrently added elements). The delete gets a dot of
// its own, so the map's version advances and [Map.DeltaSince] conveys it.
//
// If k is not present, Delete does nothing and returns an op that does
// nothing ([Op.IsNoop]), unless k has expired or holds an expiry alone
// (see [Map.Expire]): then it drops what k holds. If k cannot be encoded, or the replica has no
// sequence number left, Delete changes nothing and returns an op that
// reports the error.
//
// Delete panics on a map without a replica ID (the zero Map).
func (m *Map[K, V]) Delete(k K) Op {
	s := m.st()
	s.mustWrite("Delete")
	p, err := m.keyPath(k)
	if err != nil {
		return Op{err: err}
	}
	return s.del("Delete", p, s.dotsUnder(p))
}

// Counter is a counter nested in a [Map]: its value is the sum of the
// increments made to it and not deleted since.
//
// Conflict rule: concurrent increments add up; a delete of the counter's
// key resets it to the increments the deleting replica had not seen.
//
// Each increment is a write of its own, with a dot, which replaces the
// incrementing replica's previous leaf of the counter: a counter holds one
// leaf per replica that increments it (the replica's running total), not
// one per increment. A delete of the key notes, under its own dot, the
// totals it saw, so that an increment made concurrently with it counts
// only what it added (see the package documentation). A Counter is a view
// of its map's state, got from [Map.At] or [Map.Get]; it is not safe for
// concurrent use, and its zero value is not usable. [Add] increments the
// counter of a key without making a view.
type Counter struct {
	s *state
	// path is the counter's key path or, if top, the segment of its key
	// in the top-level map: Add of a key the map holds then takes the
	// path the index holds, and makes no new string (see state.addCounter).
	path string
	// nest is nil for the counter of a top-level key; else it says that
	// path is a whole key path, and why the key could not be encoded,
	// if it could not. A view is made for each call of At, mostly for
	// one Add: as one pointer, not a bool and an error, it takes 32
	// bytes, not 48.
	nest *counterNest
}

// counterNest is what a view of a counter below the top level holds
// besides its path.
type counterNest struct{ err error }

// nested is the counterNest of every view of a counter below the top
// level whose key could be encoded: it is never written.
var nested = &counterNest{}

func (*Counter) view(s *state, p string) *Counter { return &Counter{s: s, path: p, nest: nested} }
func (*Counter) viewTop(s *state, seg string) *Counter {
	return &Counter{s: s, path: seg}
}
func (*Counter) shapeOf() shape     { return shape{kind: kindCounter} }
func (c *Counter) setErr(err error) { c.nest = &counterNest{err: err} }

// top reports whether c is the counter of a top-level key, whose path
// is the key's segment.
func (c *Counter) top() bool { return c.nest == nil }

// err returns why the counter's key could not be encoded, or nil.
func (c *Counter) err() error {
	if c.nest == nil {
		return nil
	}
	return c.nest.err
}

// Value returns the counter's value: the sum of its increments,
// saturated to the range of an int64 (concurrent increments from several
// replicas can together pass it).
func (c *Counter) Value() int64 {
	if c.err() != nil {
		return 0
	}
	if !c.top() {
		return c.s.value(c.s.find(c.path), c.path)
	}
	var buf topPathBuf
	p, ok := buf.path(c.path)
	if !ok {
		p = appendSeg("", c.path)
	}
	return c.s.value(c.s.find(p), p)
}

// Add adds n (which may be negative) to the counter and returns the op to
// apply at the other replicas. Adding 0 returns an op that does nothing.
//
// If the value as this replica sees it, or the running total of this
// replica's increments that its leaf holds, would leave the range of an
// int64, Add changes nothing and returns an op reporting [ErrOverflow]; if the
// key cannot be encoded or the replica has no sequence number left, it
// likewise returns an op that reports the error.
//
// Add panics on a map without a replica ID (the zero Map).
func (c *Counter) Add(n int64) (op Op) {
	c.s.addCounter(c.path, c.top(), c.err(), n, &op) // op, the result, is zero
	return op
}

// Add adds n (which may be negative) to the counter of key k in m and
// returns the op to apply at the other replicas: it is m.At(k).Add(n),
// the same op, the same state, the same errors and panics (see
// [Counter.Add]), without the view At makes. A view is a small
// allocation, and a Go method cannot narrow its receiver's type
// parameter to *Counter, so the increment of a key in one call is a
// function, as in the maps and slices packages: the map first, then the
// key and the amount, like Redis's HINCRBY.
//
// m may be a nested map (say, m.At(user) of a map of maps of counters):
// its counters are added to as through At.
//
// Add panics on a map without a replica ID (the zero Map).
func Add[K comparable](m *Map[K, *Counter], k K, n int64) (op Op) {
	if !m.nested {
		if p, ok := any(&k).(*string); ok {
			// A string is its own segment (encSeg's first case), told
			// here without the call.
			m.rd().addCounter(*p, true, nil, n, &op)
			return op
		}
		if seg, err := encSeg(k); err == nil {
			m.rd().addCounter(seg, true, nil, n, &op)
			return op
		}
	}
	p, err := m.keyPath(k)
	m.rd().addCounter(p, false, err, n, &op)
	return op
}

// Register is a multi-value register nested in a [Map], like
// register.MV: a write overwrites exactly the values its replica has
// seen, and concurrent writes are all kept (siblings) until a later write
// overwrites them.
//
// Conflict rule: concurrent writes are all kept; a delete of the
// register's key removes the values its replica had seen, so a value
// written concurrently with it survives.
//
// A Register is a view of its map's state, got from [Map.At] or
// [Map.Get]; it is not safe for concurrent use, and its zero value is
// not usable.
type Register[T any] struct {
	s    *state
	path string
	err  error
}

func (*Register[T]) view(s *state, p string) *Register[T] { return &Register[T]{s: s, path: p} }
func (r *Register[T]) viewTop(s *state, seg string) *Register[T] {
	return r.view(s, appendSeg("", seg))
}
func (*Register[T]) shapeOf() shape {
	return shape{kind: kindRegister, val: segCodecOf[T]()}
}
func (r *Register[T]) setErr(err error) { r.err = err }

// Values returns the register's values, one per concurrent write, in the
// order of their dots; none if it was never written or was deleted.
func (r *Register[T]) Values() []T {
	if r.err != nil {
		return nil
	}
	n := r.s.find(r.path)
	if n == nil || len(n.dots()) == 0 {
		return nil
	}
	ds := slices.Clone(n.dots())
	slices.SortFunc(ds, vclock.Dot.Compare)
	out := make([]T, 0, len(ds))
	for _, d := range ds {
		l, _ := r.s.k.Get(d)
		if v, ok := decSeg[T](l.val()); ok {
			out = append(out, v)
		}
	}
	return out
}

// Set writes v, overwriting every value this replica holds, and returns
// the op to apply at the other replicas. If v cannot be encoded, or the
// replica has no sequence number left, Set changes nothing and returns an
// op that reports the error.
//
// Set panics on a map without a replica ID (the zero Map).
func (r *Register[T]) Set(v T) Op {
	r.s.mustWrite("Register.Set")
	if r.err != nil {
		return Op{err: r.err}
	}
	seg, err := encSeg(v)
	if err != nil {
		return Op{err: err}
	}
	return r.s.write("Register.Set", regLeaf(r.path, seg), r.s.dotsAt(r.path))
}

// Set is an add-wins observed-remove set nested in a [Map], like
// orset.Set.
//
// Conflict rule: a remove deletes only the adds its replica had seen, so
// an add concurrent with a remove of the same element wins; a delete of
// the set's key likewise keeps the elements added concurrently with it.
//
// A Set is a view of its map's state, got from [Map.At] or [Map.Get]; it
// is not safe for concurrent use, and its zero value is not usable.
type Set[E comparable] struct {
	s    *state
	path string
	err  error
}

func (*Set[E]) view(s *state, p string) *Set[E]        { return &Set[E]{s: s, path: p} }
func (t *Set[E]) viewTop(s *state, seg string) *Set[E] { return t.view(s, appendSeg("", seg)) }
func (*Set[E]) shapeOf() shape {
	return shape{segs: []segCodec{segCodecOf[E]()}, kind: kindSet}
}
func (t *Set[E]) setErr(err error) { t.err = err }

func (t *Set[E]) elemPath(e E) (string, error) {
	if t.err != nil {
		return "", t.err
	}
	seg, err := encSeg(e)
	if err != nil {
		return "", err
	}
	return appendSeg(t.path, seg), nil
}

// Contains reports whether e is in the set.
func (t *Set[E]) Contains(e E) bool {
	p, err := t.elemPath(e)
	return err == nil && t.s.find(p) != nil
}

// Len returns the number of elements in the set.
func (t *Set[E]) Len() int {
	if t.err != nil {
		return 0
	}
	if n := t.s.find(t.path); n != nil {
		return t.s.numKids(n)
	}
	return 0
}

// All returns an iterator over the elements, in unspecified order. The
// map must not be modified during the iteration.
func (t *Set[E]) All() iter.Seq[E] {
	return func(yield func(E) bool) {
		if t.err != nil {
			return
		}
		n := t.s.find(t.path)
		if n == nil {
			return
		}
		t.s.eachKid(n, func(p string, _ *node) bool {
			e, ok := decSeg[E](lastSeg(p, t.path))
			return !ok || yield(e)
		})
	}
}

// Add adds e and returns the op to apply at the other replicas; the add
// replaces the dots e had here. If e cannot be encoded, or the replica
// has no sequence number left, Add changes nothing and returns an op that
// reports the error.
//
// Add panics on a map without a replica ID (the zero Map).
func (t *Set[E]) Add(e E) Op {
	t.s.mustWrite("Set.Add")
	p, err := t.elemPath(e)
	if err != nil {
		return Op{err: err}
	}
	return t.s.write("Set.Add", leaf{pv: p}, t.s.dotsAt(p))
}

// Remove removes e and returns the op to apply at the other replicas: it
// drops the adds of e this replica holds, and only those. If e is not in
// the set it returns an op that does nothing ([Op.IsNoop]).
//
// Remove panics on a map without a replica ID (the zero Map).
func (t *Set[E]) Remove(e E) Op {
	t.s.mustWrite("Set.Remove")
	p, err := t.elemPath(e)
	if err != nil {
		return Op{err: err}
	}
	if t.s.find(p) == nil {
		return Op{kind: opNoop, leaf: leaf{pv: p}, sh: t.s.sh}
	}
	return t.s.remove("Set.Remove", p, t.s.dotsAt(p))
}
