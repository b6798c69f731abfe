package counter

import "errors"

var (
	// ErrOverflow means an increment or decrement was refused because the
	// replica's own totals or the counter's value would leave their range.
	// Nothing was changed.
	ErrOverflow = errors.New("counter: overflow")

	// ErrNoReplica means a counter with no replica ID of its own (a zero
	// value, a counter made with an empty ID, or a delta) was asked to
	// count. Such a counter can still be read, merged and have ops applied.
	ErrNoReplica = errors.New("counter: no replica ID to count for")

	// ErrInvalidOp means an op was refused by Apply: it names no replica,
	// or its totals cannot have been produced by a replica. Nothing was
	// changed.
	ErrInvalidOp = errors.New("counter: invalid op")
)
