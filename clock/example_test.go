package clock_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/activeactive/crdt/clock"
)

func ExampleWithSource() {
	// A physical clock the example moves by hand.
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	clk := clock.New(
		clock.WithSource(func() int64 { return now }),
		clock.WithMaxOffset(time.Second),
	)

	fmt.Println(clk.Now())
	fmt.Println(clk.Now()) // physical time stood still: the logical part counts

	now -= int64(time.Minute) // the wall clock steps back a minute
	fmt.Println(clk.Now())    // still later than everything before

	// A timestamp from a replica whose clock runs an hour ahead is refused,
	// and changes nothing.
	ahead := clock.Timestamp{Wall: now + int64(time.Hour)}
	_, err := clk.Update(ahead)
	fmt.Println(errors.Is(err, clock.ErrClockSkew), clk.Last())

	// The wall clock is put right; a timestamp half a second ahead is
	// accepted, and every later event orders after it.
	now += int64(time.Minute)
	remote := clock.Timestamp{Wall: now + int64(500*time.Millisecond), Logical: 4}
	ts, err := clk.Update(remote)
	fmt.Println(ts, err)
	// Output:
	// 2026-11-23T10:00:00Z+0
	// 2026-11-23T10:00:00Z+1
	// 2026-11-23T10:00:00Z+2
	// true 2026-11-23T10:00:00Z+2
	// 2026-11-23T10:00:00.5Z+5 <nil>
}
