package counter

import (
	"errors"
	"fmt"
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
