package clock

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// ErrClockSkew is returned by [Clock.Update] for a remote timestamp that is
// more than the clock's maximum offset ahead of local physical time. The
// clock is left unchanged; the caller should keep the data that carried the
// timestamp and offer it again later, when it is no longer too far ahead.
var ErrClockSkew = errors.New("clock: remote timestamp too far ahead of local physical time")

// DefaultMaxOffset is the maximum offset a [Clock] tolerates between a remote
// timestamp and its own physical time unless [WithMaxOffset] says otherwise.
// It is generous for NTP-disciplined hosts in different regions.
const DefaultMaxOffset = 500 * time.Millisecond

// Source reads physical time as nanoseconds since the Unix epoch. It must be
// safe for concurrent use. It need not be monotonic: a [Clock] stays
// monotonic whatever its source does.
type Source func() int64

// Option configures a [Clock] built by [New].
type Option func(*Clock)

// WithSource makes the clock read physical time from src instead of the
// system wall clock. Tests use it to drive time explicitly.
func WithSource(src Source) Option {
	return func(c *Clock) {
		if src != nil {
			c.src = src
		}
	}
}

// WithMaxOffset sets how far ahead of local physical time a remote timestamp
// may be before [Clock.Update] refuses it with [ErrClockSkew]. Zero or a
// negative value turns the check off.
func WithMaxOffset(d time.Duration) Option {
	return func(c *Clock) { c.maxOffset = int64(d) }
}

// Clock is a hybrid logical clock (Kulkarni et al., 2014). It issues
// timestamps that are strictly increasing, stay close to physical time, and
// order every event after every remote event it has seen through
// [Clock.Update], whatever the physical clocks of the replicas say.
//
// Create a Clock with [New]; the zero value is not usable. A Clock is safe for
// concurrent use by multiple goroutines. It must not be copied after first
// use.
type Clock struct {
	src       Source
	maxOffset int64

	mu   sync.Mutex
	last Timestamp
}

// New returns a clock reading the system wall clock in whole milliseconds
// (see [Resolution]), with [DefaultMaxOffset], unless options say
// otherwise.
func New(opts ...Option) *Clock {
	c := &Clock{maxOffset: int64(DefaultMaxOffset)}
	for _, o := range opts {
		o(c)
	}
	if c.src == nil {
		c.src = systemSource()
	}
	return c
}

// MaxOffset reports the maximum tolerated offset of a remote timestamp, or
// zero if the check is off.
func (c *Clock) MaxOffset() time.Duration {
	if c.maxOffset <= 0 {
		return 0
	}
	return time.Duration(c.maxOffset)
}

// Physical reads the clock's physical time source, in nanoseconds since the
// Unix epoch (whole milliseconds for the system clock).
func (c *Clock) Physical() int64 { return c.src() }

// Now returns a timestamp greater than every timestamp this clock has
// returned or been updated with before. Its wall part is the physical time,
// unless an earlier timestamp was already at or past it; then the wall part
// stays and the logical part counts up.
//
// When the logical part would overflow (more than 2³²-1 events without the
// wall part moving), the wall part is advanced by one nanosecond and the
// logical part restarts at zero: the clock never wraps and never fails.
// The one exception is the greatest Timestamp (wall part math.MaxInt64, in
// the year 2262, and a full logical part), which only a remote timestamp
// accepted with the offset check off can bring: there the clock saturates
// and returns it again.
func (c *Clock) Now() Timestamp {
	pt := c.src()
	c.mu.Lock()
	t := c.last.next(pt)
	c.last = t
	c.mu.Unlock()
	return t
}

// Update records the receipt of remote, a timestamp issued by another
// replica, so that every timestamp this clock issues afterwards is greater
// than remote. It returns the timestamp of the receipt event, which is
// greater than both remote and every timestamp issued before.
//
// If remote is more than the maximum offset ahead of local physical time,
// and later than every timestamp the clock has issued or taken in, Update
// returns an error matching [ErrClockSkew] and leaves the clock unchanged.
// A timestamp no later than one the clock already holds is always taken: it
// cannot move the clock, so it cannot poison it.
func (c *Clock) Update(remote Timestamp) (Timestamp, error) {
	pt := c.src()
	c.mu.Lock()
	if c.maxOffset > 0 && aheadBy(remote.Wall, pt) > uint64(c.maxOffset) && remote.Compare(c.last) > 0 {
		c.mu.Unlock()
		return Timestamp{}, skewError(remote, pt, c.maxOffset)
	}
	base := c.last
	if remote.Compare(base) > 0 {
		base = remote
	}
	t := base.next(pt)
	c.last = t
	c.mu.Unlock()
	return t, nil
}

// Restore raises the clock past t without the offset check: every
// timestamp it issues afterwards is greater than t. It is for a replica's
// own timestamps read back from its own storage after a restart, which
// must be taken even if the host's clock was stepped back meanwhile; never
// for a peer's.
func (c *Clock) Restore(t Timestamp) {
	pt := c.src()
	c.mu.Lock()
	if t.Compare(c.last) > 0 {
		c.last = t.next(pt)
	}
	c.mu.Unlock()
}

// Check reports whether remote would be accepted by [Clock.Update] now,
// without changing the clock. It returns nil or an error matching
// [ErrClockSkew].
func (c *Clock) Check(remote Timestamp) error {
	pt := c.src()
	c.mu.Lock()
	last := c.last
	c.mu.Unlock()
	if c.maxOffset > 0 && aheadBy(remote.Wall, pt) > uint64(c.maxOffset) && remote.Compare(last) > 0 {
		return skewError(remote, pt, c.maxOffset)
	}
	return nil
}

// aheadBy returns how far wall is ahead of pt, in nanoseconds, or 0 if it
// is not: computed without overflow, so that a physical reading before
// 1970 (a clock stepped back that far, a faulty source) cannot make a
// timestamp at the end of the encoding look close.
func aheadBy(wall, pt int64) uint64 {
	if wall <= pt {
		return 0
	}
	return uint64(wall) - uint64(pt)
}

// skewError is the error of a remote timestamp too far ahead of pt.
func skewError(remote Timestamp, pt, maxOffset int64) error {
	d := time.Duration(math.MaxInt64)
	if a := aheadBy(remote.Wall, pt); a < math.MaxInt64 {
		d = time.Duration(a)
	}
	return fmt.Errorf("%w: remote %v is %v ahead, more than the maximum offset %v",
		ErrClockSkew, remote, d, time.Duration(maxOffset))
}

// Last returns the greatest timestamp the clock has issued or been updated
// with, without issuing a new one.
func (c *Clock) Last() Timestamp {
	c.mu.Lock()
	t := c.last
	c.mu.Unlock()
	return t
}

// next returns the smallest-wall successor of t at physical time pt: the
// HLC send/local rule, applied to t as the greatest timestamp seen so far.
func (t Timestamp) next(pt int64) Timestamp {
	switch {
	case pt > t.Wall:
		return Timestamp{Wall: pt}
	case t.Logical < math.MaxUint32:
		return Timestamp{Wall: t.Wall, Logical: t.Logical + 1}
	case t.Wall < math.MaxInt64:
		return Timestamp{Wall: t.Wall + 1}
	}
	return t // the greatest Timestamp there is: saturate rather than wrap
}
