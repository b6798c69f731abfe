package clock_test

import (
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/clock"
)

// manual is a physical clock the test sets by hand.
type manual struct{ ns atomic.Int64 }

func (m *manual) source() clock.Source { return m.ns.Load }
func (m *manual) set(ns int64)         { m.ns.Store(ns) }
func (m *manual) add(d int64)          { m.ns.Add(d) }
func (m *manual) get() int64           { return m.ns.Load() }

// base is a plausible physical time (2026) so that jumps either way stay
// positive.
const base = int64(1_780_000_000) * int64(time.Second)

// physicalStep draws a change of the physical clock: standing still, a
// small or large step backwards, or a small or large step forwards.
func physicalStep(t *rapid.T) int64 {
	switch rapid.IntRange(0, 4).Draw(t, "stepKind") {
	case 0:
		return 0
	case 1:
		return -rapid.Int64Range(1, 1000).Draw(t, "smallBack")
	case 2:
		return -rapid.Int64Range(1, int64(time.Hour)).Draw(t, "bigBack")
	case 3:
		return rapid.Int64Range(1, 1000).Draw(t, "smallFwd")
	default:
		return rapid.Int64Range(1, int64(time.Hour)).Draw(t, "bigFwd")
	}
}

func TestNowStrictlyMonotonic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var pt manual
		pt.set(base + rapid.Int64Range(-int64(time.Hour), int64(time.Hour)).Draw(t, "start"))
		c := clock.New(clock.WithSource(pt.source()))
		var prev clock.Timestamp
		for i := range rapid.IntRange(1, 200).Draw(t, "events") {
			pt.add(physicalStep(t))
			now := pt.get()
			ts := c.Now()
			if ts.Compare(prev) <= 0 {
				t.Fatalf("event %d: Now()=%v not after previous %v", i, ts, prev)
			}
			// The wall part is the greater of physical time and the last
			// wall part; the logical part restarts when physical time leads.
			switch {
			case now > prev.Wall:
				if ts != (clock.Timestamp{Wall: now}) {
					t.Fatalf("event %d: physical time %d leads %v, got %v", i, now, prev, ts)
				}
			default:
				if ts != (clock.Timestamp{Wall: prev.Wall, Logical: prev.Logical + 1}) {
					t.Fatalf("event %d: physical time %d behind %v, got %v", i, now, prev, ts)
				}
			}
			if got := c.Last(); got != ts {
				t.Fatalf("Last()=%v after Now()=%v", got, ts)
			}
			prev = ts
		}
	})
}

func TestUpdateCausality(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var pt manual
		pt.set(base)
		// The offset check is off here: causality must hold for any
		// accepted remote timestamp.
		c := clock.New(clock.WithSource(pt.source()), clock.WithMaxOffset(0))
		var prev, seen clock.Timestamp // last issued; greatest remote seen
		for i := range rapid.IntRange(1, 200).Draw(t, "events") {
			pt.add(physicalStep(t))
			var ts clock.Timestamp
			if rapid.Bool().Draw(t, "remote") {
				remote := clock.Timestamp{
					Wall:    pt.get() + rapid.Int64Range(-int64(time.Hour), int64(time.Hour)).Draw(t, "remoteOffset"),
					Logical: rapid.Uint32Range(0, 5).Draw(t, "remoteLogical"),
				}
				var err error
				ts, err = c.Update(remote)
				if err != nil {
					t.Fatalf("event %d: Update(%v) with the check off: %v", i, remote, err)
				}
				if ts.Compare(remote) <= 0 {
					t.Fatalf("event %d: Update(%v)=%v not after the remote", i, remote, ts)
				}
				if remote.Compare(seen) > 0 {
					seen = remote
				}
			} else {
				ts = c.Now()
			}
			if ts.Compare(prev) <= 0 {
				t.Fatalf("event %d: %v not after previous %v", i, ts, prev)
			}
			if ts.Compare(seen) <= 0 {
				t.Fatalf("event %d: %v not after remote %v seen earlier", i, ts, seen)
			}
			prev = ts
		}
	})
}

// TestBoundedDrift runs replicas whose physical clocks never move backwards
// and stay within eps of each other, exchanging timestamps at random, and
// checks Kulkarni et al.'s bound: a timestamp's wall part is never more than
// eps ahead of the issuing replica's physical time.
func TestBoundedDrift(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(2, 5).Draw(t, "replicas")
		eps := rapid.Int64Range(1, int64(time.Second)).Draw(t, "eps")
		trueTime := base
		pts := make([]*manual, n)
		clocks := make([]*clock.Clock, n)
		for i := range n {
			pts[i] = new(manual)
			pts[i].set(trueTime + rapid.Int64Range(0, eps).Draw(t, "offset"))
			clocks[i] = clock.New(clock.WithSource(pts[i].source()), clock.WithMaxOffset(time.Duration(eps)))
		}
		type msg struct {
			to int
			ts clock.Timestamp
		}
		var inFlight []msg
		check := func(i int, ts clock.Timestamp) {
			if d := ts.Wall - pts[i].get(); d > eps {
				t.Fatalf("replica %d issued %v, %dns ahead of its physical time, more than eps=%d", i, ts, d, eps)
			}
		}
		for range rapid.IntRange(1, 300).Draw(t, "steps") {
			// True time moves on, often not at all, so that logical parts
			// climb; each physical clock follows within [true, true+eps].
			if rapid.IntRange(0, 2).Draw(t, "tick") == 0 {
				trueTime += rapid.Int64Range(1, 2*eps).Draw(t, "advance")
			}
			for i := range n {
				p := trueTime + rapid.Int64Range(0, eps).Draw(t, "jitter")
				pts[i].set(max(pts[i].get(), p))
			}
			i := rapid.IntRange(0, n-1).Draw(t, "replica")
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0: // a local event
				check(i, clocks[i].Now())
			case 1: // send to another replica
				ts := clocks[i].Now()
				check(i, ts)
				to := (i + rapid.IntRange(1, n-1).Draw(t, "to")) % n
				inFlight = append(inFlight, msg{to, ts})
			case 2: // deliver a message in flight, in any order
				if len(inFlight) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(inFlight)-1).Draw(t, "deliver")
				m := inFlight[k]
				inFlight = append(inFlight[:k], inFlight[k+1:]...)
				ts, err := clocks[m.to].Update(m.ts)
				if err != nil {
					t.Fatalf("replica %d refused %v from a clock within eps: %v", m.to, m.ts, err)
				}
				check(m.to, ts)
			}
		}
	})
}

func TestSkewRefusedThenAccepted(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var pt manual
		pt.set(base)
		maxOff := rapid.Int64Range(1, int64(time.Hour)).Draw(t, "maxOffset")
		c := clock.New(clock.WithSource(pt.source()), clock.WithMaxOffset(time.Duration(maxOff)))
		for range rapid.IntRange(0, 5).Draw(t, "warmup") {
			pt.add(physicalStep(t))
			c.Now()
		}
		if l := c.Last().Wall; l > pt.get() {
			pt.set(l) // a remote time behind what the clock holds is always taken
		}
		ahead := rapid.Int64Range(1, int64(time.Hour)).Draw(t, "beyond")
		remote := clock.Timestamp{
			Wall:    pt.get() + maxOff + ahead,
			Logical: rapid.Uint32().Draw(t, "logical"),
		}
		before := c.Last()
		if err := c.Check(remote); !errors.Is(err, clock.ErrClockSkew) {
			t.Fatalf("Check(%v) = %v, want ErrClockSkew", remote, err)
		}
		ts, err := c.Update(remote)
		if !errors.Is(err, clock.ErrClockSkew) {
			t.Fatalf("Update(%v) = %v, %v; want ErrClockSkew", remote, ts, err)
		}
		if after := c.Last(); after != before {
			t.Fatalf("refused Update changed the clock: %v -> %v", before, after)
		}
		// Physical time advances, though not enough yet.
		short := rapid.Int64Range(0, ahead-1).Draw(t, "short")
		pt.add(short)
		if _, err := c.Update(remote); !errors.Is(err, clock.ErrClockSkew) {
			t.Fatalf("still %dns beyond the offset, Update gave %v", ahead-short, err)
		}
		// Now remote is exactly MaxOffset ahead: accepted.
		pt.add(ahead - short)
		if err := c.Check(remote); err != nil {
			t.Fatalf("Check at exactly the max offset: %v", err)
		}
		ts, err = c.Update(remote)
		if err != nil {
			t.Fatalf("Update at exactly the max offset: %v", err)
		}
		if !ts.After(remote) || !c.Now().After(remote) {
			t.Fatalf("accepted remote %v, then issued %v", remote, ts)
		}
	})
}

func TestSkewErrorIsNotLost(t *testing.T) {
	var pt manual
	pt.set(base)
	c := clock.New(clock.WithSource(pt.source()))
	if c.MaxOffset() != clock.DefaultMaxOffset {
		t.Fatalf("MaxOffset() = %v, want the default %v", c.MaxOffset(), clock.DefaultMaxOffset)
	}
	_, err := c.Update(clock.Timestamp{Wall: base + int64(time.Hour)})
	var target interface{ Unwrap() error }
	if !errors.As(err, &target) || !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Update an hour ahead: %v, want a wrapped ErrClockSkew", err)
	}
	if off := clock.New(clock.WithMaxOffset(-1)).MaxOffset(); off != 0 {
		t.Fatalf("a negative max offset turns the check off, MaxOffset()=%v", off)
	}
}

func TestLogicalOverflow(t *testing.T) {
	var pt manual
	pt.set(base)
	c := clock.New(clock.WithSource(pt.source()))
	full := clock.Timestamp{Wall: base + 10, Logical: math.MaxUint32}
	c.SetLast(full)
	// Physical time behind the wall part: the wall part must move by 1ns.
	if got, want := c.Now(), (clock.Timestamp{Wall: base + 11}); got != want {
		t.Fatalf("Now() after a full logical part = %v, want %v", got, want)
	}
	if got, want := c.Now(), (clock.Timestamp{Wall: base + 11, Logical: 1}); got != want {
		t.Fatalf("next Now() = %v, want %v", got, want)
	}
	// The same through Update with a remote whose logical part is full.
	c2 := clock.New(clock.WithSource(pt.source()))
	got, err := c2.Update(full)
	if err != nil {
		t.Fatal(err)
	}
	if want := (clock.Timestamp{Wall: base + 11}); got != want {
		t.Fatalf("Update(%v) = %v, want %v", full, got, want)
	}
}

func TestSaturatesAtTheGreatestTimestamp(t *testing.T) {
	var pt manual
	pt.set(base)
	c := clock.New(clock.WithSource(pt.source()), clock.WithMaxOffset(0))
	end := clock.Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32 - 1}
	if _, err := c.Update(end); err != nil {
		t.Fatal(err)
	}
	top := clock.Timestamp{Wall: math.MaxInt64, Logical: math.MaxUint32}
	for range 3 {
		if got := c.Now(); got != top {
			t.Fatalf("Now() = %v at the end of the range, want %v (no wrap to negative)", got, top)
		}
	}
}

func TestSystemSource(t *testing.T) {
	src := clock.SystemSource()
	// The system source may differ from time.Now only by the drift
	// between the monotonic and wall clocks since it last resynchronised;
	// a minute is far beyond any such drift.
	before := time.Now().UnixNano()
	got := src()
	after := time.Now().UnixNano()
	if got < before-int64(time.Minute) || got > after+int64(time.Minute) {
		t.Fatalf("system source %d, time.Now between %d and %d", got, before, after)
	}
	for range 100 {
		if got := src(); got%int64(clock.Resolution) != 0 {
			t.Fatalf("system source read %d ns, not a whole %v", got, clock.Resolution)
		}
	}
	c := clock.New()
	prev := c.Now()
	for range 1000 {
		ts := c.Now()
		if !ts.After(prev) {
			t.Fatalf("system clock: %v not after %v", ts, prev)
		}
		if ts.Wall%int64(clock.Resolution) != 0 {
			t.Fatalf("system clock issued %v, its wall time not a whole %v", ts, clock.Resolution)
		}
		prev = ts
	}
}

func TestConcurrentNowDistinct(t *testing.T) {
	const goroutines, perG = 8, 2000
	for _, name := range []string{"frozen", "system"} {
		t.Run(name, func(t *testing.T) {
			var opts []clock.Option
			if name == "frozen" {
				// Physical time never moves: every timestamp comes from the
				// logical part, the most contended path.
				var pt manual
				pt.set(base)
				opts = append(opts, clock.WithSource(pt.source()))
			}
			c := clock.New(opts...)
			results := make([][]clock.Timestamp, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					out := make([]clock.Timestamp, 0, perG)
					for i := range perG {
						if i%4 == 3 {
							// A remote event from a replica slightly behind.
							last := c.Last()
							remote := clock.Timestamp{Wall: last.Wall - 1, Logical: 7}
							ts, err := c.Update(remote)
							if err != nil || !ts.After(remote) {
								t.Errorf("Update(%v) = %v, %v", remote, ts, err)
								return
							}
							continue
						}
						out = append(out, c.Now())
					}
					results[g] = out
				})
			}
			wg.Wait()
			seen := make(map[clock.Timestamp]int, goroutines*perG)
			for g, out := range results {
				for i, ts := range out {
					if i > 0 && !ts.After(out[i-1]) {
						t.Fatalf("goroutine %d: %v not after its previous %v", g, ts, out[i-1])
					}
					if h, dup := seen[ts]; dup {
						t.Fatalf("timestamp %v issued to goroutines %d and %d", ts, h, g)
					}
					seen[ts] = g
				}
			}
		})
	}
}

func TestTimestamp(t *testing.T) {
	a := clock.Timestamp{Wall: 5, Logical: 9}
	b := clock.Timestamp{Wall: 6}
	c := clock.Timestamp{Wall: 6, Logical: 1}
	for _, tc := range []struct {
		x, y clock.Timestamp
		want int
	}{{a, b, -1}, {b, a, 1}, {b, c, -1}, {c, c, 0}, {clock.Timestamp{}, a, -1}} {
		if got := tc.x.Compare(tc.y); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
		if tc.x.Before(tc.y) != (tc.want < 0) || tc.x.After(tc.y) != (tc.want > 0) {
			t.Errorf("Before/After disagree with Compare for %v, %v", tc.x, tc.y)
		}
	}
	if !(clock.Timestamp{}).IsZero() || a.IsZero() {
		t.Error("IsZero")
	}
	ts := clock.Timestamp{Wall: time.Date(2026, 11, 23, 10, 0, 0, 1, time.UTC).UnixNano(), Logical: 3}
	if got, want := ts.String(), "2026-11-23T10:00:00.000000001Z+3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !ts.Time().Equal(time.Date(2026, 11, 23, 10, 0, 0, 1, time.UTC)) {
		t.Errorf("Time() = %v", ts.Time())
	}
}

var (
	sinkTS   clock.Timestamp
	sinkNano int64
)

// BenchmarkTimeNow is the floor: reading the system wall clock.
func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkNano = time.Now().UnixNano()
	}
}

func BenchmarkNow(b *testing.B) {
	c := clock.New()
	b.ReportAllocs()
	for b.Loop() {
		sinkTS = c.Now()
	}
}

func BenchmarkNowParallel(b *testing.B) {
	c := clock.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ts clock.Timestamp
		for pb.Next() {
			ts = c.Now()
		}
		_ = ts
	})
}

func BenchmarkUpdate(b *testing.B) {
	c := clock.New()
	remote := c.Now()
	b.ReportAllocs()
	for b.Loop() {
		ts, err := c.Update(remote)
		if err != nil {
			b.Fatal(err)
		}
		sinkTS = ts
	}
}

// A host's clock stepped back across a restart: the replica's own saved
// timestamps are ahead of physical time by more than the maximum offset.
// Restore takes them anyway, and from then on Update takes every timestamp
// no later than what the clock holds (it cannot move the clock), while one
// later than that and too far ahead is still refused.
func TestRestoreAfterClockSteppedBack(t *testing.T) {
	var pt manual
	pt.set(base)
	c := clock.New(clock.WithSource(pt.source()), clock.WithMaxOffset(time.Second))
	saved := clock.Timestamp{Wall: base + int64(time.Hour), Logical: 3}
	if _, err := c.Update(saved); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Update of a time an hour ahead = %v, want ErrClockSkew", err)
	}
	c.Restore(saved)
	if now := c.Now(); !now.After(saved) {
		t.Fatalf("after Restore(%v), Now() = %v", saved, now)
	}
	older := clock.Timestamp{Wall: saved.Wall - 1}
	if _, err := c.Update(older); err != nil {
		t.Fatalf("Update(%v), behind what the clock holds: %v", older, err)
	}
	if err := c.Check(saved); err != nil {
		t.Fatalf("Check(%v), behind what the clock holds: %v", saved, err)
	}
	later := clock.Timestamp{Wall: c.Last().Wall + int64(time.Hour)}
	before := c.Last()
	if _, err := c.Update(later); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Update(%v) = %v, want ErrClockSkew", later, err)
	}
	if c.Last() != before {
		t.Fatal("a refused Update moved the clock")
	}
	c.Restore(clock.Timestamp{Wall: 1}) // an older time changes nothing
	if c.Last() != before {
		t.Fatal("Restore of an older time moved the clock")
	}
}

// A physical reading before 1970 (a host's clock stepped back that far, a
// faulty source) made the skew check's subtraction overflow: a remote
// timestamp at the end of the encoding looked close, was taken, and the
// clock stayed at the greatest timestamp for good.
func TestSkewCheckedBeforeTheEpoch(t *testing.T) {
	var m manual
	m.set(-int64(time.Second))
	c := clock.New(clock.WithSource(m.source()), clock.WithMaxOffset(time.Second))
	remote := clock.Timestamp{Wall: math.MaxInt64, Logical: 7}
	if err := c.Check(remote); !errors.Is(err, clock.ErrClockSkew) {
		t.Errorf("Check of %v at physical %d: %v, want ErrClockSkew", remote, m.get(), err)
	}
	if _, err := c.Update(remote); !errors.Is(err, clock.ErrClockSkew) {
		t.Fatalf("Update of a timestamp 292 years ahead: %v, want ErrClockSkew; clock now %v", err, c.Last())
	}
	// Within the offset, before the epoch too, a remote timestamp is taken.
	near := clock.Timestamp{Wall: -int64(time.Second) / 2}
	if got, err := c.Update(near); err != nil || got.Compare(near) <= 0 {
		t.Fatalf("Update of %v: %v, %v", near, got, err)
	}
}
