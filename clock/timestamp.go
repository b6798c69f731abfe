package clock

import (
	"fmt"
	"time"
)

// Timestamp is a hybrid logical clock reading: a wall part, in nanoseconds
// since the Unix epoch, and a logical part that orders events sharing a wall
// part. Timestamps are totally ordered by (Wall, Logical); the zero Timestamp
// is smaller than every timestamp a [Clock] issues and means "no time".
//
// Timestamp is a small comparable value: use == for equality and
// [Timestamp.Compare] for order.
type Timestamp struct {
	Wall    int64  // nanoseconds since the Unix epoch
	Logical uint32 // counts events within one wall value
}

// Compare returns -1 if t orders before u, +1 if after, and 0 if they are
// equal.
func (t Timestamp) Compare(u Timestamp) int {
	// Spelled out rather than through cmp.Compare, so that Compare,
	// Before and After inline.
	switch {
	case t.Wall < u.Wall:
		return -1
	case t.Wall > u.Wall:
		return 1
	case t.Logical < u.Logical:
		return -1
	case t.Logical > u.Logical:
		return 1
	}
	return 0
}

// Before reports whether t orders before u.
func (t Timestamp) Before(u Timestamp) bool { return t.Compare(u) < 0 }

// After reports whether t orders after u.
func (t Timestamp) After(u Timestamp) bool { return t.Compare(u) > 0 }

// IsZero reports whether t is the zero Timestamp.
func (t Timestamp) IsZero() bool { return t == Timestamp{} }

// Time returns the wall part as a [time.Time] in UTC.
func (t Timestamp) Time() time.Time { return time.Unix(0, t.Wall).UTC() }

// String formats t as the wall part in RFC 3339 with nanoseconds, a plus
// sign and the logical part, for example "2026-11-23T10:00:00.000000001Z+3".
func (t Timestamp) String() string {
	return fmt.Sprintf("%s+%d", t.Time().Format(time.RFC3339Nano), t.Logical)
}
