// Package wire holds the encodings of clock timestamps and dots that the
// data types share.
package wire

import (
	"math"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// PutTimestamp writes t as its wall and logical parts. [GetTimestamp]
// refuses a wall part of zero or less, so t must be a timestamp a clock
// issued from a real time source, not the zero Timestamp: a data type that
// may hold "no time" writes that some other way (msgpack nil, say).
func PutTimestamp(w *codec.Writer, t clock.Timestamp) {
	w.Int(t.Wall)
	w.Uint(uint64(t.Logical))
}

// GetTimestamp reads a timestamp written by PutTimestamp. A zero or
// negative wall part, or a logical part out of range, is a problem recorded
// on r.
func GetTimestamp(r *codec.Reader) clock.Timestamp {
	wall := r.Int()
	logical := r.Uint()
	if r.Err() != nil {
		return clock.Timestamp{}
	}
	if wall <= 0 {
		r.Fail("timestamp with wall time %d", wall)
		return clock.Timestamp{}
	}
	if logical > math.MaxUint32 {
		r.Fail("timestamp logical part %d out of range", logical)
		return clock.Timestamp{}
	}
	return clock.Timestamp{Wall: wall, Logical: uint32(logical)}
}

// PutDot writes d as its replica's index in the message's table and its
// sequence number.
func PutDot(w *codec.Writer, d vclock.Dot) {
	w.Replica(string(d.Replica))
	w.Uint(d.Seq)
}

// GetDot reads a dot written by PutDot, its integers in any msgpack form;
// a sequence number of zero or above vclock.MaxSeq is a problem recorded on
// r.
func GetDot(r *codec.Reader) vclock.Dot {
	return dot(r, r.Replica(), r.Uint())
}

// GetDotCanonical reads a dot written by PutDot like GetDot, but only with
// its replica index and sequence number in their shortest forms, for
// encodings that give each value exactly one encoding: any other form is a
// problem recorded on r.
func GetDotCanonical(r *codec.Reader) vclock.Dot {
	return dot(r, r.CanonicalReplica(), r.CanonicalUint())
}

// dot checks the parts of a dot just read from r (replica first: Go
// evaluates the arguments of GetDot and GetDotCanonical left to right).
func dot(r *codec.Reader, id string, seq uint64) vclock.Dot {
	if r.Err() != nil {
		return vclock.Dot{}
	}
	if seq == 0 || seq > vclock.MaxSeq {
		r.Fail("dot of replica %q with sequence number %d, not from 1 to vclock.MaxSeq", id, seq)
		return vclock.Dot{}
	}
	return vclock.Dot{Replica: vclock.ReplicaID(id), Seq: seq}
}
