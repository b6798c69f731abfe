package codec

import (
	"errors"
	"fmt"
)

// Errors a [*DecodeError] wraps, to test with [errors.Is].
var (
	// ErrTruncated means the input ended in the middle of a value.
	ErrTruncated = errors.New("codec: truncated input")
	// ErrLimit means the input declares more than the reader's limits
	// allow: a message, string or collection too large.
	ErrLimit = errors.New("codec: limit exceeded")
	// ErrVersion means the message was written by a newer, unknown format
	// version (or version 0, which was never written).
	ErrVersion = errors.New("codec: unsupported format version")
	// ErrKind means the message holds another kind of value than the one
	// being decoded.
	ErrKind = errors.New("codec: wrong message kind")
	// ErrMalformed means the bytes are not a valid encoding: an unexpected
	// msgpack type, a value out of range, an invariant of the data type
	// broken.
	ErrMalformed = errors.New("codec: malformed input")
)

// DecodeError reports why and where decoding failed. It wraps one of
// [ErrTruncated], [ErrLimit], [ErrVersion], [ErrKind] or [ErrMalformed].
type DecodeError struct {
	Kind   Kind   // the kind of message being decoded
	Offset int    // byte offset in the input where the problem was found
	Reason string // what was wrong, for people
	Err    error  // the class of problem, one of the Err variables
}

// Error describes the problem, for example
// "codec: decoding OR-Set at byte 12: string of 4000 bytes, 7 left: codec: truncated input".
func (e *DecodeError) Error() string {
	return fmt.Sprintf("codec: decoding %v at byte %d: %s: %v", e.Kind, e.Offset, e.Reason, e.Err)
}

// Unwrap returns the class of problem.
func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a value the wire format cannot carry, such as a user
// type msgpack cannot encode.
type EncodeError struct {
	Kind Kind  // the kind of message being encoded
	Err  error // what the underlying encoder said
}

// Error describes the problem.
func (e *EncodeError) Error() string {
	return fmt.Sprintf("codec: encoding %v: %v", e.Kind, e.Err)
}

// Unwrap returns the underlying encoder's error.
func (e *EncodeError) Unwrap() error { return e.Err }
