package counter

import (
	"errors"
	"fmt"

	"github.com/activeactive/crdt/codec"
)

// Parts. A counter's state is one total (or two) per replica, and any
// subset of them is a state of its own: merging it raises those replicas'
// totals and claims nothing of the others. So a counter too large for one
// message is cut into runs of replicas, each encoded as a state, merged in
// any order.

var errPartTooLarge = errors.New("counter: one replica's totals larger than a part")

// cut encodes the entries of a state of n entries, of estimated sizes
// size(i), as runs of at most max bytes each, with enc(lo, hi) encoding
// entries lo to hi-1 as a state; or returns nil if the whole likely fits.
func cut(n, max int, size func(i int) int, enc func(lo, hi int) ([]byte, error)) ([][]byte, error) {
	est := 16
	for i := range n {
		est += size(i)
	}
	if est <= max {
		return nil, nil
	}
	var parts [][]byte
	var emit func(lo, hi int) error
	emit = func(lo, hi int) error {
		b, err := enc(lo, hi)
		if err != nil {
			return err
		}
		if len(b) <= max {
			parts = append(parts, b)
			return nil
		}
		if hi-lo == 1 {
			return errPartTooLarge
		}
		mid := (lo + hi) / 2
		return errors.Join(emit(lo, mid), emit(mid, hi))
	}
	start, acc := 0, 16
	for i := range n {
		if i > start && acc+size(i) > max {
			if err := emit(start, i); err != nil {
				return nil, err
			}
			start, acc = i, 16
		}
		acc += size(i)
	}
	if err := emit(start, n); err != nil {
		return nil, err
	}
	return parts, nil
}

// ChunksBinary returns g's state (version nil) or its delta since the
// encoded version, as states of runs of replicas of at most max bytes
// each, to be merged in any order with [G.MergeChunkBinary]; or no parts if
// the whole likely fits in max bytes.
func (g *G) ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error) {
	d := g
	if version != nil {
		v, err := decodeVersion(version, g.lim)
		if err != nil {
			return nil, 0, err
		}
		d = g.DeltaSince(v)
	}
	parts, err = cut(len(d.e), max, func(i int) int { return len(d.e[i].id) + 14 }, func(lo, hi int) ([]byte, error) {
		return (&G{e: d.e[lo:hi]}).MarshalBinary()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("counter: cutting a state into parts of %d bytes: %w", max, err)
	}
	return parts, len(parts), nil
}

// MergeChunkBinary merges a part made by [G.ChunksBinary]: a state like
// any other (see [G.MergeBinary]).
func (g *G) MergeChunkBinary(part []byte) (changed bool, err error) { return g.MergeBinary(part) }

// ChunksBinary returns c's state (version nil) or its delta since the
// encoded version, as states of runs of replicas of at most max bytes
// each, to be merged in any order with [PN.MergeChunkBinary]; or no parts
// if the whole likely fits in max bytes.
func (c *PN) ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error) {
	d := c
	if version != nil {
		v, err := decodeVersion(version, c.lim)
		if err != nil {
			return nil, 0, err
		}
		d = c.DeltaSince(v)
	}
	parts, err = cut(len(d.e), max, func(i int) int { return len(d.e[i].id) + 24 }, func(lo, hi int) ([]byte, error) {
		return (&PN{e: d.e[lo:hi]}).MarshalBinary()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("counter: cutting a state into parts of %d bytes: %w", max, err)
	}
	return parts, len(parts), nil
}

// MergeChunkBinary merges a part made by [PN.ChunksBinary]: a state like
// any other (see [PN.MergeBinary]).
func (c *PN) MergeChunkBinary(part []byte) (changed bool, err error) { return c.MergeBinary(part) }

// size estimates the encoded size of a bounded counter's entry.
func (e *bEntry) size() int {
	n := len(e.id) + 24
	for _, rs := range [][]Rights{e.in, e.out, e.ask} {
		for _, r := range rs {
			n += len(r.Replica) + 12
		}
	}
	return n
}

// ChunksBinary returns b's state as states of runs of replicas' entries
// (with b's floor) of at most max bytes each, to be merged in any order
// with [Bounded.MergeChunkBinary]; or no parts if the whole likely fits in
// max bytes. Each entry is written by its replica alone and merged on its
// own, so a part is what a run of that replica's ops brings: merging some
// parts and not others leaves the counter as a replica that has not yet
// heard from some writers, never below its floor. A Bounded has no
// version: version is ignored, and the parts always make the whole state.
// An entry that does not fit in max bytes on its own (rights exchanged
// with very many replicas) makes it fail.
func (b *Bounded) ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error) {
	ids := b.sortedIDs()
	parts, err = cut(len(ids), max, func(i int) int { return b.e[ids[i]].size() }, func(lo, hi int) ([]byte, error) {
		w := codec.NewWriter(codec.KindBounded, 16+16*(hi-lo))
		w.Int(b.floor)
		w.Array(hi - lo)
		for _, id := range ids[lo:hi] {
			putEntry(w, b.e[id].op())
		}
		return w.Bytes()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("counter: cutting a state into parts of %d bytes: %w", max, err)
	}
	return parts, len(parts), nil
}

// MergeChunkBinary merges a part made by [Bounded.ChunksBinary]: a state
// like any other (see [Bounded.MergeBinary]).
func (b *Bounded) MergeChunkBinary(part []byte) (changed bool, err error) {
	return b.MergeBinary(part)
}
