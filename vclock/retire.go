package vclock

import (
	"errors"
	"fmt"
)

// Retiring finished writers.
//
// Every run of a replica writes under a writer of its own (see [Writer]), so
// a replica restarted a thousand times has named a thousand writers, and
// every version vector, causal context and state that saw their writes
// carries them all. Once a writer's run is over and every replica has seen
// all of its writes, its dots can be renamed into the replica name's
// retired writer, name!0 (epoch 0 is never drawn for a run): the finished
// writer's dot (W, n) becomes (name!0, Base+n), where Base is the number of
// dots renamed into name!0 before W. The renaming is one-to-one, so a merge,
// a remove or a context means after it exactly what it meant before; but
// every finished writer of a name is then one entry, whose events form one
// run 1..Base+Final.
//
// A Retirement is only sound when every replica applies the same ones in
// the same order (the replication engine agrees on them); the data types
// apply whatever they are given.

// ErrRetirement is returned, wrapped, for a [Retirement] that cannot be
// applied: its writers do not match, or its dots do not fit.
var ErrRetirement = errors.New("vclock: invalid retirement")

// Retired returns the retired writer of replica name: the writer every
// finished writer of name is renamed into.
func Retired(name ReplicaID) ReplicaID { return Writer(name, 0) }

// IsRetired reports whether id is a retired writer (see [Retired]).
func (id ReplicaID) IsRetired() bool {
	e, ok := id.Epoch()
	return ok && e == 0
}

// WritesFor reports whether a write made as writer id may come from
// replica from (a name, or a writer of it): id is a writer of from's name,
// and not its retired writer, which no run writes as (its dots are
// renamed ones, made by a [Retirement] every replica applies alike). The
// data types' ApplyBinaryFrom refuse other writes with [ErrForeignWrite].
func (id ReplicaID) WritesFor(from ReplicaID) bool {
	return id.Name() == from.Name() && !id.IsRetired()
}

// Retirement renames the dots of a finished writer From into To, the
// retired writer of its name: dot (From, n) becomes (To, Base+n) for
// 1 <= n <= Final. Dots of From above Final stay as they are: Final is what
// every replica held when the retirement was agreed, and a writer thought
// finished may still have written more (a second process under the same
// name, a disk restored later); those writes keep their own name, so
// nothing is lost and the renaming stays one-to-one.
//
// Base and Final count in the units of the object being retired: the
// entries of From and To in its version vector (its Version method), which
// for a dot store are dots and for a counter are its writers' event counts.
//
// Heir names a live writer of the same name, which an object may hand
// what the finished writer held but had not used, where that is safe.
// counter.Bounded hands it nothing: a writer thought finished may still
// be running, and could spend what it left as well as the heir; its
// unused rights stay with To, where nobody can use them.
//
// Up and UpKnown serve an object whose events are of two kinds, such as
// counter.PN (increments and decrements): Up is how many of From's first
// Final events are of the first kind, when UpKnown. An object holding
// more of From than Final cannot tell it from its own state, and needs it
// to keep the rest under From's name; the replication engine agrees on it
// with Final. Other objects ignore both.
type Retirement struct {
	From    ReplicaID // the finished writer
	To      ReplicaID // Retired(From.Name())
	Base    uint64    // the events renamed into To before From
	Final   uint64    // From's last event
	Heir    ReplicaID // a live writer of From's name, or empty
	Up      uint64    // of From's first Final events, those of the first kind
	UpKnown bool      // whether Up is known
}

// Check reports whether r can be applied: From is a writer with a non-zero
// epoch, To is the retired writer of its name, Heir is empty or another
// live writer of that name, Base+Final is within [MaxSeq], and Up, if
// known, is within Final.
func (r Retirement) Check() error {
	if e, ok := r.From.Epoch(); !ok || e == 0 {
		return fmt.Errorf("%w: %q is not the writer of a run", ErrRetirement, r.From)
	}
	if r.To != Retired(r.From.Name()) {
		return fmt.Errorf("%w: %q retires into %q, not %q", ErrRetirement, r.From, r.To, Retired(r.From.Name()))
	}
	if r.Heir != "" {
		if e, ok := r.Heir.Epoch(); !ok || e == 0 || r.Heir == r.From || r.Heir.Name() != r.From.Name() {
			return fmt.Errorf("%w: %q cannot inherit from %q", ErrRetirement, r.Heir, r.From)
		}
	}
	if r.Final > MaxSeq || r.Base > MaxSeq-r.Final {
		return fmt.Errorf("%w: dots %d+%d past the largest sequence number", ErrRetirement, r.Base, r.Final)
	}
	if r.UpKnown && r.Up > r.Final {
		return fmt.Errorf("%w: %d of %d events of the first kind", ErrRetirement, r.Up, r.Final)
	}
	return nil
}

// Dot returns the name of d after r: (To, Base+Seq) if d is From's and
// within Final, d itself otherwise.
func (r Retirement) Dot(d Dot) Dot {
	if d.Replica != r.From || d.Seq > r.Final || d.Seq == 0 {
		return d
	}
	return Dot{Replica: r.To, Seq: r.Base + d.Seq}
}

// Retire renames the events 1..r.Final of r.From in the context into r.To
// (see [Retirement]); r.From keeps its events above r.Final. It costs one
// pass over r.From's runs.
func (c *Context) Retire(r Retirement) {
	i, ok := c.find(r.From)
	if !ok || r.Final == 0 {
		return
	}
	from := c.r[i]
	var rest []span // From's runs above Final
	if from.max > r.Final {
		rest = append(rest, span{r.Final + 1, from.max})
	}
	for _, s := range from.extra {
		if s.hi > r.Final {
			rest = append(rest, span{max(s.lo, r.Final+1), s.hi})
		}
	}
	if len(rest) == 0 {
		c.r = append(c.r[:i], c.r[i+1:]...)
		if len(c.r) == 0 {
			c.r = nil
		}
	} else {
		c.r[i] = ctxEntry{id: r.From, extra: rest}
	}
	to := func(lo, hi uint64) {
		hi = min(hi, r.Final)
		if lo > hi {
			return
		}
		c.AddRange(r.To, r.Base+lo, r.Base+hi)
	}
	to(1, from.max)
	for _, s := range from.extra {
		to(s.lo, s.hi)
	}
}

// Retire renames r.From's count in a version vector into r.To. A count is
// a run of events from the first: r.From's events 1..n (n <= Final) become
// To's events Base+1..Base+n, which extend To's count only if To's count
// already reaches Base. Otherwise (a replica that has not seen every dot of
// the writers retired before From) From's count is left out: a version may
// claim less than was seen, never more, and a peer sends again what the
// version leaves out. From's entry goes in any case: events of From above
// Final no longer start at its first, which a count cannot say.
func (c *Clock) Retire(r Retirement) {
	n := c.Get(r.From)
	if n == 0 || r.Final == 0 {
		return
	}
	c.Set(r.From, 0)
	if t := c.Get(r.To); t >= r.Base {
		c.Set(r.To, max(t, r.Base+min(n, r.Final)))
	}
}
