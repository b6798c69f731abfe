package clock

import (
	"sync/atomic"
	"time"
)

// resync is how long the system source trusts the monotonic clock alone
// before it reads the wall clock again.
const resync = int64(time.Second)

// Resolution is the unit the system clock is read in: its readings are
// whole milliseconds. Within a millisecond the HLC's logical part orders a
// replica's events, as it does whenever physical time stands still, so
// nothing is lost by the coarser reading; a wall time in whole
// milliseconds takes 6 bytes in an op instead of 9 (see lwwmap's op
// encoding). A [Source] given to [WithSource] is used as it is.
const Resolution = time.Millisecond

// systemSource returns a Source that reads the system wall clock. A wall
// clock reading costs two system clock reads in Go (wall and monotonic); this
// source pays for one in the common case by adding monotonic time elapsed to
// the last wall reading, and reads the wall clock again at least once a
// second, so a step of the wall clock (an NTP correction, say) is followed
// within a second. Readings are rounded down to a whole [Resolution].
func systemSource() Source {
	start := time.Now()
	var offset, anchoredAt atomic.Int64 // wall = offset + monotonic elapsed
	offset.Store(start.UnixNano())
	return func() int64 {
		el := int64(time.Since(start))
		if el-anchoredAt.Load() >= resync {
			now := time.Now()
			el = int64(now.Sub(start))
			offset.Store(now.UnixNano() - el)
			anchoredAt.Store(el)
		}
		t := offset.Load() + el
		return t - t%int64(Resolution)
	}
}
