// Package clock implements a hybrid logical clock (HLC), after Kulkarni et
// al., "Logical Physical Clocks and Consistent Snapshots in Globally
// Distributed Databases" (2014).
//
// A [Timestamp] pairs a physical wall time with a logical counter. A [Clock]
// issues timestamps that
//
//   - strictly increase, even when the physical clock stands still or jumps
//     backwards;
//   - order after every remote timestamp the clock has seen through
//     [Clock.Update], so a write made after seeing another always orders
//     after it, whatever the wall clocks say;
//   - stay within the clock offset between replicas of physical time.
//
// A remote timestamp more than the clock's maximum offset ahead of local
// physical time is refused with [ErrClockSkew] and changes nothing: a
// replica whose clock runs hours ahead cannot drag the others' clocks with
// it. The caller keeps the refused data and offers it again later.
//
// # Usage
//
// One Clock per replica process, shared by every data type that needs
// timestamps:
//
//	clk := clock.New()                  // system wall clock, 500ms max offset
//	t := clk.Now()                      // a local event
//	_, err := clk.Update(remoteStamp)   // a remote event was received
//	if errors.Is(err, clock.ErrClockSkew) { /* keep it, retry later */ }
//
// Tests drive time explicitly with [WithSource].
//
// The system clock is read in whole milliseconds ([Resolution]): the
// logical part orders a replica's events within a millisecond, and a wall
// time in whole milliseconds encodes shorter.
package clock
