package clock

import (
	"sync/atomic"
	"time"
)

// resync is how long the system source trusts the monotonic clock alone
// before it reads the wall clock again.
const resync = int64(time.Second)

// systemSource returns a Source that reads the system wall clock. A wall
// clock reading costs two system clock reads in Go (wall and monotonic); this
// source pays for one in the common case by adding monotonic time elapsed to
// the last wall reading, and reads the wall clock again at least once a
// second, so a step of the wall clock (an NTP correction, say) is followed
// within a second.
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
		return offset.Load() + el
	}
}
