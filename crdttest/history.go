package crdttest

import (
	mathbits "math/bits"
	"slices"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
)

// Event is one local mutation of a run, as the harness recorded it.
type Event[O any] struct {
	// Index is the event's position in its [History].
	Index int
	// Replica is the replica that made the mutation.
	Replica crdt.ReplicaID
	// Op is the op Mutate returned.
	Op O
	// Time is the last timestamp of the replica's clock right after
	// Mutate returned: the mutation's own timestamp, for a mutator that
	// reads the clock once. It is zero for types that never read it.
	Time clock.Timestamp
	// Seen lists, in increasing order, the indexes of the events the
	// replica had seen when it made this one: its own earlier events, the
	// ops it had applied, and everything the replicas whose states (or
	// deltas) it had merged had seen.
	Seen []int
}

// History is the causal history of a run: every event, in the order they
// happened, each with what its replica had seen. [Type.Model] computes the
// expected value from it.
type History[O any] []Event[O]

// Saw reports whether the replica that made event j had seen event i when
// it made j: made it, applied its op, or merged a state (or delta) of a
// replica that had seen it. This is not the transitive closure
// ([History.HappenedBefore]): a replica that applied the op of j alone has
// not seen the events j's replica had seen. Nor is it always all the
// replica knew of: an op may tell its receiver about events it did not
// carry (an OR-Set remove names the adds it deletes); a Model that needs
// that knowledge derives it from Saw and the ops.
func (h History[O]) Saw(i, j int) bool {
	if j < 0 || j >= len(h) {
		return false
	}
	_, ok := slices.BinarySearch(h[j].Seen, i)
	return ok
}

// HappenedBefore reports whether event i happened before event j in the
// causal order: j's replica saw i, or saw an event that i happened before.
func (h History[O]) HappenedBefore(i, j int) bool {
	if i < 0 || j < 0 || i >= len(h) || j >= len(h) || i >= j {
		return false // an event only sees earlier ones
	}
	visited := make([]bool, len(h))
	stack := []int{j}
	for len(stack) > 0 {
		k := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range h[k].Seen {
			if p == i {
				return true
			}
			if p > i && !visited[p] {
				visited[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false
}

// Concurrent reports whether events i and j are distinct and neither
// happened before the other.
func (h History[O]) Concurrent(i, j int) bool {
	return i != j && !h.HappenedBefore(i, j) && !h.HappenedBefore(j, i)
}

// Maximal returns, in increasing order, the indexes of the events for
// which keep returns true and that happened before no other such event:
// the writes no other write overwrote, for a register.
func (h History[O]) Maximal(keep func(e Event[O]) bool) []int {
	past := h.pasts()
	var in []int
	for i := range h {
		if keep(h[i]) {
			in = append(in, i)
		}
	}
	var out []int
	for _, i := range in {
		overwritten := false
		for _, j := range in {
			if past[j].has(i) {
				overwritten = true
				break
			}
		}
		if !overwritten {
			out = append(out, i)
		}
	}
	return out
}

// LastWrite returns, of the events [History.Maximal] returns for keep,
// the one a last-writer-wins rule keeps: the greatest Time, and on an
// exact tie the smaller Replica. It returns -1 if keep accepts no event.
// The causal order comes from the history, not from the timestamps: a
// write made after seeing another wins whatever the clocks say.
func (h History[O]) LastWrite(keep func(e Event[O]) bool) int {
	best := -1
	for _, i := range h.Maximal(keep) {
		if best < 0 {
			best = i
			continue
		}
		if c := h[i].Time.Compare(h[best].Time); c > 0 || c == 0 && h[i].Replica < h[best].Replica {
			best = i
		}
	}
	return best
}

// bits is a set of event indexes.
type bits []uint64

func (b bits) has(i int) bool { return i>>6 < len(b) && b[i>>6]&(1<<(i&63)) != 0 }

func (b *bits) add(i int) {
	for i>>6 >= len(*b) {
		*b = append(*b, 0)
	}
	(*b)[i>>6] |= 1 << (i & 63)
}

func (b *bits) union(o bits) {
	for len(*b) < len(o) {
		*b = append(*b, 0)
	}
	for w, x := range o {
		(*b)[w] |= x
	}
}

func (b bits) count() int {
	n := 0
	for _, x := range b {
		n += mathbits.OnesCount64(x)
	}
	return n
}

func (b bits) equal(o bits) bool {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	for len(o) > 0 && o[len(o)-1] == 0 {
		o = o[:len(o)-1]
	}
	return slices.Equal(b, o)
}

// list returns the members in increasing order.
func (b bits) list() []int {
	var out []int
	for w, x := range b {
		for x != 0 {
			i := w*64 + mathbits.TrailingZeros64(x)
			out = append(out, i)
			x &= x - 1
		}
	}
	return out
}

// pasts returns, for each event, the set of events that happened before
// it. An event only sees earlier events, so one pass in order suffices.
func (h History[O]) pasts() []bits {
	words := (len(h) + 63) / 64
	past := make([]bits, len(h))
	for j := range h {
		p := make(bits, words)
		for _, i := range h[j].Seen {
			if i < 0 || i >= j {
				continue
			}
			p[i>>6] |= 1 << (i & 63)
			for w, x := range past[i] {
				p[w] |= x
			}
		}
		past[j] = p
	}
	return past
}
