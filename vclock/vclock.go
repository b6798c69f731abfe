package vclock

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strings"
)

// ReplicaID names one replica, for example "us-east-1". IDs are compared as
// strings: on an exact timestamp tie between two writes, the write of the
// replica with the smaller ID wins. The empty ID is not a valid replica.
//
// The root package's crdt.ReplicaID is the same type.
type ReplicaID string

// Order is the outcome of comparing two version vectors.
type Order int8

// The four possible orders between two version vectors.
const (
	Equal      Order = iota // both saw exactly the same events
	Before                  // the first saw a strict subset of the second's events
	After                   // the first saw a strict superset of the second's events
	Concurrent              // each saw an event the other did not
)

// String returns the order's name.
func (o Order) String() string {
	switch o {
	case Equal:
		return "Equal"
	case Before:
		return "Before"
	case After:
		return "After"
	case Concurrent:
		return "Concurrent"
	}
	return fmt.Sprintf("Order(%d)", int8(o))
}

// Dot names one event: the Seq-th event of Replica. Sequence numbers start
// at 1; the zero Dot names no event.
type Dot struct {
	Replica ReplicaID // the replica (writer) that made the event
	Seq     uint64    // its sequence number among that replica's events
}

// String formats d as "replica:seq".
func (d Dot) String() string { return fmt.Sprintf("%s:%d", d.Replica, d.Seq) }

// IsZero reports whether d is the zero Dot.
func (d Dot) IsZero() bool { return d == Dot{} }

// Valid reports whether d names an event: a non-empty replica and a
// sequence number of at least 1.
func (d Dot) Valid() bool { return d.Replica != "" && d.Seq > 0 }

// Compare orders dots by replica, then sequence number. The order is
// arbitrary but total, for sorting.
func (d Dot) Compare(e Dot) int {
	if c := cmp.Compare(d.Replica, e.Replica); c != 0 {
		return c
	}
	return cmp.Compare(d.Seq, e.Seq)
}

type entry struct {
	id ReplicaID
	n  uint64
}

// Clock is a version vector: for each replica, how many of its events have
// been seen (events 1 to n). Replicas it does not mention count as zero.
//
// The zero Clock is an empty vector ready to use. A Clock is not safe for
// concurrent use. Copying a Clock makes a second handle on the same storage:
// use [Clock.Clone] for an independent copy.
type Clock struct {
	e []entry // sorted by id; no zero counts
}

// Of returns a Clock with the given counts. Zero counts are left out.
func Of(counts map[ReplicaID]uint64) Clock {
	var c Clock
	for id, n := range counts {
		c.Set(id, n)
	}
	return c
}

func (c Clock) find(id ReplicaID) (int, bool) {
	// Vectors are small (one entry per region); a linear scan beats binary
	// search for the sizes that matter.
	if len(c.e) <= 8 {
		for i := range c.e { // equality first, as in Context.find
			if c.e[i].id == id {
				return i, true
			}
		}
		for i := range c.e {
			if c.e[i].id >= id {
				return i, c.e[i].id == id
			}
		}
		return len(c.e), false
	}
	return slices.BinarySearchFunc(c.e, id, func(e entry, id ReplicaID) int { return cmp.Compare(e.id, id) })
}

// Get returns the count for id: how many of its events have been seen.
func (c Clock) Get(id ReplicaID) uint64 {
	if i, ok := c.find(id); ok {
		return c.e[i].n
	}
	return 0
}

// Set sets the count for id to n; zero removes the entry.
func (c *Clock) Set(id ReplicaID, n uint64) {
	i, ok := c.find(id)
	switch {
	case ok && n == 0:
		c.e = slices.Delete(c.e, i, i+1)
	case ok:
		c.e[i].n = n
	case n != 0:
		c.e = slices.Insert(c.e, i, entry{id, n})
	}
}

// Advance raises the count for id to n if it is lower.
func (c *Clock) Advance(id ReplicaID, n uint64) {
	if n == 0 {
		return
	}
	i, ok := c.find(id)
	switch {
	case ok && c.e[i].n < n:
		c.e[i].n = n
	case !ok:
		c.e = slices.Insert(c.e, i, entry{id, n})
	}
}

// GetHint is [Clock.Get], looking id up through h first (see [Hint]).
func (c Clock) GetHint(id ReplicaID, h *Hint) uint64 {
	if i := h.i; i < len(c.e) && sameID(c.e[i].id, id) {
		return c.e[i].n
	}
	i, ok := c.find(id)
	if !ok {
		return 0
	}
	h.i = i
	return c.e[i].n
}

// AdvanceHint is [Clock.Advance], looking id up through h first (see
// [Hint]).
func (c *Clock) AdvanceHint(id ReplicaID, n uint64, h *Hint) {
	if i := h.i; i < len(c.e) && sameID(c.e[i].id, id) {
		c.e[i].n = max(c.e[i].n, n)
		return
	}
	c.Advance(id, n)
	if i, ok := c.find(id); ok {
		h.i = i
	}
}

// Contains reports whether the event d is among those c has seen.
func (c Clock) Contains(d Dot) bool { return d.Seq != 0 && d.Seq <= c.Get(d.Replica) }

// Len returns the number of replicas with a non-zero count.
func (c Clock) Len() int { return len(c.e) }

// IsZero reports whether c has seen no event.
func (c Clock) IsZero() bool { return len(c.e) == 0 }

// All iterates over the replicas with a non-zero count and their counts, in
// increasing order of replica ID.
func (c Clock) All() iter.Seq2[ReplicaID, uint64] {
	return func(yield func(ReplicaID, uint64) bool) {
		for _, e := range c.e {
			if !yield(e.id, e.n) {
				return
			}
		}
	}
}

// Clone returns an independent copy of c.
func (c Clock) Clone() Clock { return Clock{e: slices.Clone(c.e)} }

// Merge sets c to the least upper bound of c and o: for each replica, the
// greater of the two counts. Merge is commutative, associative and
// idempotent. It allocates only when o names replicas c lacks.
func (c *Clock) Merge(o Clock) {
	i := 0
	for _, oe := range o.e {
		for i < len(c.e) && c.e[i].id < oe.id {
			i++
		}
		if i < len(c.e) && c.e[i].id == oe.id {
			c.e[i].n = max(c.e[i].n, oe.n)
		} else {
			c.e = slices.Insert(c.e, i, oe)
		}
		i++
	}
}

// Meet sets c to the greatest lower bound of c and o: for each replica, the
// smaller of the two counts. The meet of the versions of every replica is
// the set of events every replica has seen.
func (c *Clock) Meet(o Clock) {
	out := c.e[:0]
	j := 0
	for _, e := range c.e {
		for j < len(o.e) && o.e[j].id < e.id {
			j++
		}
		if j < len(o.e) && o.e[j].id == e.id {
			out = append(out, entry{e.id, min(e.n, o.e[j].n)})
		}
	}
	clear(c.e[len(out):])
	c.e = out
}

// Compare returns how c orders against o: Equal, Before (c saw less), After
// (c saw more) or Concurrent.
func (c Clock) Compare(o Clock) Order {
	less, more := false, false
	i, j := 0, 0
	for i < len(c.e) || j < len(o.e) {
		switch {
		case j == len(o.e) || (i < len(c.e) && c.e[i].id < o.e[j].id):
			more = true
			i++
		case i == len(c.e) || o.e[j].id < c.e[i].id:
			less = true
			j++
		default:
			if c.e[i].n > o.e[j].n {
				more = true
			} else if c.e[i].n < o.e[j].n {
				less = true
			}
			i++
			j++
		}
		if less && more {
			return Concurrent
		}
	}
	switch {
	case less:
		return Before
	case more:
		return After
	}
	return Equal
}

// Equal reports whether c and o have seen exactly the same events.
func (c Clock) Equal(o Clock) bool {
	return slices.Equal(c.e, o.e)
}

// LessOrEqual reports whether every event c has seen, o has seen too.
func (c Clock) LessOrEqual(o Clock) bool {
	ord := c.Compare(o)
	return ord == Before || ord == Equal
}

// String formats c as "{a:3 b:1}".
func (c Clock) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range c.e {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", e.id, e.n)
	}
	b.WriteByte('}')
	return b.String()
}
