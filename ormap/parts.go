package ormap

import (
	"fmt"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/dotkernel"
	"github.com/activeactive/crdt/vclock"
)

// Parts.
//
// A part (see [Map.ChunksBinary]) is one byte saying what it carries (a
// run of leaves with their dots, drop records, removed dots, or the
// context and horizon: dotkernel's part kinds 1 to 4) followed by a state
// as [Map.MarshalBinary] writes it: each leaf under its own dot, a
// continued counter leaf too (decoding keys it by its chain, as for a
// state).
//
// The parts are the kernel's (dotkernel.Kernel.Split), and a map merges
// one as it merges a state: the kernel's JoinPart, then what a map's join
// does after the kernel's (see state.joinBy). So the rules a join keeps
// hold part by part:
//
//   - a store part's counter leaf that continues a chain whose earlier
//     leaf the receiver holds replaces it (the kernel keys both by the
//     chain), and one covered by what the receiver holds, a later leaf of
//     its chain or a reset that saw it, is dropped at once (settleChains),
//     as a join drops it: a part never brings back a leaf the receiver
//     had seen superseded;
//   - a reset leaf (what a delete of a counter saw of its chains) travels
//     in a store part, and drops there the leaves it covers; its drop
//     record in a record part. A leaf a part brings in before the reset
//     that covers it (in another store part, not yet merged) counts its
//     whole total for that while, as a leaf whose delete has not arrived
//     does: the receiver's version claims neither until the context parts
//     come, so a lost part leaves nothing a later catch-up does not
//     bring;
//   - expiries and persists are leaves like the others, with their
//     records: a key's expiry may arrive in one part and its value in
//     another, and the key reads as it will once both are merged, or as
//     one of the two alone does.
//
// A part is decoded with the checks of a state (decodeState) and of its
// kind (dotkernel.Kernel.CheckPart), and refused whole if either fails.

// leafSize estimates the encoded size of a leaf without its dot (Split
// adds what a dot costs).
func leafSize(_ vclock.Dot, l leaf) int { return len(l.pv) + 12 }

// FreezeChunks returns nil if the map's state (version nil) or its delta
// since version likely fits in max bytes (as [Map.ChunksBinary] would find
// it), else a function that cuts a copy taken now: what
// ChunksBinary(version, max) returns now, whatever happens to m after. The
// copy is the delta itself (what ChunksBinary would cut), or for a whole
// state a copy of the store, which costs a small part of the cut; so a
// replica holds its lock for the copy only, and a peer a few writes behind
// costs the few writes, not a copy of the map. The function may run on any
// goroutine, at the same time as writes to m. It implements
// crdt.ChunkFreezer. It panics on a nested map.
func (m *Map[K, V]) FreezeChunks(version []byte, max int) func() (parts [][]byte, ordered int, err error) {
	s := m.readTop("FreezeChunks")
	k, full, own, err := s.k.ToCut(version, s.lim)
	if err != nil || k.SizeAtMost(leafSize) <= max {
		return nil // ChunksBinary, called instead, tells the error
	}
	if !own {
		k = k.Clone()
	}
	sh := m.shape()
	return func() ([][]byte, int, error) { return cut(k, sh, full, max) }
}

// ChunksBinary returns the map's state (if version is nil) or its delta
// since the encoded version (as [Map.DeltaSinceBinary] takes it), cut
// into parts of at most max bytes each, for [Map.MergeChunkBinary] to
// merge one at a time; or no parts if the whole likely fits in max bytes,
// to be sent whole ([Map.MarshalBinary] or [Map.DeltaSinceBinary]).
// Merging every part has the effect of merging the whole. Each part is
// safe to merge on its own, twice, or never: it never brings back a write
// the receiver saw dropped, nor makes the receiver's version claim a
// write or delete whose effect it lacks. parts[ordered:] must each be
// merged only after every part before it; the others, in any order,
// first. A leaf that does not fit in a part with its dot, or a drop
// record that does not fit alone, makes it fail. It implements
// crdt.Chunker, with which the replication engine sends a map larger than
// a message to a peer that needs a whole state or a large delta.
//
// Like the other reading methods, it may run at the same time as other
// readers. It panics on a nested map.
func (m *Map[K, V]) ChunksBinary(version []byte, max int) (parts [][]byte, ordered int, err error) {
	s := m.readTop("ChunksBinary")
	k, full, _, err := s.k.ToCut(version, s.lim)
	if err != nil {
		return nil, 0, err
	}
	if k.SizeAtMost(leafSize) <= max {
		return nil, 0, nil // most likely the whole fits, if it does by a generous estimate
	}
	return cut(k, m.shape(), full, max)
}

// cut cuts the store k (a state, full, or a delta) of a map of shape sh
// into parts of at most max bytes.
func cut(k *dotkernel.Kernel[vclock.Dot, leaf], sh *shape, full bool, max int) (parts [][]byte, ordered int, err error) {
	parts, ordered, err = k.Cut(full, max, leafSize, func(p *dotkernel.Kernel[vclock.Dot, leaf]) ([]byte, error) {
		return encodeState(p, sh)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("ormap: cutting a state into parts of %d bytes: %w", max, err)
	}
	return parts, ordered, nil
}

// MergeChunkBinary decodes a part made by [Map.ChunksBinary] and merges
// it in, at a cost that grows with the part (and, for a part of removed
// dots some of which the map has seen, as a map that had writes of its
// own before the catch-up may, with the map; a new replica never pays
// that). It reports whether the map's writes changed. On error the map is
// unchanged and the error is a [*codec.DecodeError]. It implements
// crdt.Chunker.
func (m *Map[K, V]) MergeChunkBinary(part []byte) (changed bool, err error) {
	return m.mergeChunk("MergeChunkBinary", part, false)
}

// HealChunkBinary merges a part of a whole state made by
// [Map.ChunksBinary] as [Map.MergeChunkBinary] does, trusting no more than
// [Map.HealBinary] does for the whole: a part of leaves drops each leaf of
// m held under one of the part's dots with another leaf (a hostile writer
// that sent two replicas two writes under one dot), as the other side
// does when it heals with m's parts. Merging every part of a whole state
// so heals as HealBinary of the whole does. It implements
// crdt.ChunkHealer: the replication engine heals a map larger than a
// message with it.
func (m *Map[K, V]) HealChunkBinary(part []byte) (changed bool, err error) {
	return m.mergeChunk("HealChunkBinary", part, true)
}

// mergeChunk is MergeChunkBinary, or HealChunkBinary if heal is set.
func (m *Map[K, V]) mergeChunk(what string, part []byte, heal bool) (changed bool, err error) {
	s := m.mustTop(what)
	if len(part) == 0 || !dotkernel.PartKind(part[0]).Valid() {
		return false, &codec.DecodeError{Kind: codec.KindORMap, Reason: "not a part of a map", Err: codec.ErrMalformed}
	}
	kind := dotkernel.PartKind(part[0])
	k, err := decodeState(part[1:], s.sh, s.lim)
	if err != nil {
		return false, err
	}
	if why := k.CheckPart(kind); why != "" {
		return false, &codec.DecodeError{Kind: codec.KindORMap, Reason: why, Err: codec.ErrMalformed}
	}
	return s.joinPart(kind, k, heal), nil
}
