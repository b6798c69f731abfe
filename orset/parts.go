package orset

import (
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
)

// Parts.
//
// A part (see [Set.ChunksBinary]) is one byte saying what it carries (a
// run of elements with their dots, drop records, removed dots, or the
// context and horizon: dotkernel's part kinds 1 to 4) followed by a state
// as [Set.MarshalBinary] writes it.

// elemSize estimates the encoded size of an element.
func elemSize[E comparable](e E, _ struct{}) int {
	if s, ok := any(e).(string); ok {
		return len(s) + 5
	}
	return 16 // a guess; a part found too large is cut in two
}

// FreezeChunks returns nil if the set's state (version nil) or its delta
// since version likely fits in max bytes (as [Set.ChunksBinary] would find
// it), else a function that cuts a copy taken now: what
// ChunksBinary(version, max) returns now, whatever happens to s after. The
// copy is the delta itself (what ChunksBinary would cut), or for a whole
// state a copy of the set, which costs a small part of the cut; so a
// replica holds its lock for the copy only, and a peer a few writes behind
// costs the few writes, not a copy of the set. The function may run on
// any goroutine, at the same time as writes to s.
func (s *Set[E]) FreezeChunks(version []byte, max int) func() (parts [][]byte, ordered int, err error) {
	k, full, own, err := s.k.ToCut(version, s.lim)
	if err != nil || k.SizeAtMost(elemSize[E]) <= max {
		return nil // ChunksBinary, called instead, tells the error
	}
	if !own {
		k = k.Clone()
	}
	return func() ([][]byte, int, error) { return cutSet(k, full, max) }
}

// ChunksBinary returns the set's state (if version is nil) or its delta
// since the encoded version (as [Set.DeltaSinceBinary] takes it), cut
// into parts of at most max bytes each, for [Set.MergeChunkBinary] to
// merge one at a time; or no parts if the whole fits in max bytes, to be
// sent whole ([Set.MarshalBinary] or [Set.DeltaSinceBinary]). Merging
// every part has the effect of merging the whole. Each part is safe to
// merge on its own: it never brings back an element that the receiver saw
// removed, nor makes the receiver take a removal for seen before the
// removal's effect is merged. parts[ordered:] must each be merged only
// after every part before it; the others, in any order, first. An element
// added at several replicas, whose dots do not fit in max bytes together,
// has them spread over several parts; an element that does not fit with
// one dot, or a removal record that does not fit alone, makes it fail.
//
// Like the other reading methods, it may run at the same time as other
// readers.
func (s *Set[E]) ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error) {
	k, full, _, err := s.k.ToCut(version, s.lim)
	if err != nil {
		return nil, 0, err
	}
	// Most likely the whole fits, if it does by a generous estimate.
	if k.SizeAtMost(elemSize[E]) <= max {
		return nil, 0, nil
	}
	return cutSet(k, full, max)
}

// cutSet cuts the kernel k (a state, full, or a delta) into parts of at
// most max bytes.
func cutSet[E comparable](k *dotkernel.Kernel[E, struct{}], full bool, max int) (parts [][]byte, ordered int, err error) {
	parts, ordered, err = k.Cut(full, max, elemSize[E], func(p *dotkernel.Kernel[E, struct{}]) ([]byte, error) {
		w := codec.NewWriter(codec.KindSet, 64)
		p.Encode(w, nil, nil) // elements as putElem writes them
		return w.Bytes()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("orset: cutting a state into parts of %d bytes: %w", max, err)
	}
	return parts, ordered, nil
}

// MergeChunkBinary decodes a part made by [Set.ChunksBinary] and merges it
// in, at a cost that grows with the part (and, for a part of removed dots
// some of which the set has seen, as a set that had elements of its own
// before the catch-up may, with the set; a new replica never pays that).
// It reports whether the set's
// elements changed. On error the set is unchanged and the error is a
// [*codec.DecodeError].
func (s *Set[E]) MergeChunkBinary(part []byte) (changed bool, err error) {
	return s.mergeChunk(part, false)
}

// HealChunkBinary merges a part of a whole state made by
// [Set.ChunksBinary] as [Set.MergeChunkBinary] does, trusting no more
// than [Set.HealBinary] does for the whole: a part of elements drops each
// element of s added under one of the part's dots with another element (a
// hostile writer that sent two replicas two adds under one dot), as the
// other side does when it heals with s's parts. Merging every part of a
// whole state so heals as HealBinary of the whole does. It implements
// crdt.ChunkHealer: the replication engine heals a set larger than a
// message with it.
func (s *Set[E]) HealChunkBinary(part []byte) (changed bool, err error) {
	return s.mergeChunk(part, true)
}

// mergeChunk is MergeChunkBinary, or HealChunkBinary if heal is set.
func (s *Set[E]) mergeChunk(part []byte, heal bool) (changed bool, err error) {
	if len(part) == 0 || !dotkernel.PartKind(part[0]).Valid() {
		return false, &codec.DecodeError{Kind: codec.KindSet, Reason: "not a part of a set", Err: codec.ErrMalformed}
	}
	kind := dotkernel.PartKind(part[0])
	k, err := decodeState[E](part[1:], false, s.lim)
	if err != nil {
		return false, err
	}
	if why := k.CheckPart(kind); why != "" {
		return false, &codec.DecodeError{Kind: codec.KindSet, Reason: why, Err: codec.ErrMalformed}
	}
	if heal {
		return s.k.HealPart(kind, k), nil
	}
	return s.k.JoinPart(kind, k), nil
}
