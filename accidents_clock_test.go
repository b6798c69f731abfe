package crdt_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/register"
)

// stepPair is two regions, "us" and "eu", each holding a register, over
// memnet, with time driven by the test and us's host clock off by step.
type stepPair struct {
	t    *testing.T
	net  *memnet.Network
	now  atomic.Int64
	step atomic.Int64
	r    map[crdt.ReplicaID]*crdt.Replica
	reg  map[crdt.ReplicaID]*crdt.Handle[*register.LWW[string]]
}

func newStepPair(t *testing.T) *stepPair {
	p := &stepPair{t: t, net: memnet.New(41), r: map[crdt.ReplicaID]*crdt.Replica{}, reg: map[crdt.ReplicaID]*crdt.Handle[*register.LWW[string]]{}}
	p.now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		src := p.now.Load
		if id == "us" {
			src = func() int64 { return p.now.Load() + p.step.Load() }
		}
		clk := clock.New(clock.WithSource(src))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: p.net.Transport(id), Clock: clk, AntiEntropyTicks: 10})
		if err != nil {
			t.Fatal(err)
		}
		if p.reg[id], err = crdt.Register(r, "title", register.NewLWW[string](id, clk)); err != nil {
			t.Fatal(err)
		}
		_ = r.AddPeer(map[crdt.ReplicaID]crdt.ReplicaID{"us": "eu", "eu": "us"}[id])
		p.r[id] = r
		p.net.Attach(id, r)
	}
	return p
}

func (p *stepPair) set(id crdt.ReplicaID, v string) {
	p.t.Helper()
	if err := p.reg[id].Update(func(l *register.LWW[string]) (crdt.Op, error) { return l.Set(v), nil }); err != nil {
		p.t.Fatal(err)
	}
}

func (p *stepPair) get(id crdt.ReplicaID) (v string) {
	p.reg[id].Read(func(l *register.LWW[string]) { v, _ = l.Get() })
	return v
}

// rounds ticks both, delivers, and moves time on by d, n times.
func (p *stepPair) rounds(n int, d time.Duration) {
	for range n {
		for _, r := range p.r {
			_ = r.Tick(context.Background())
		}
		p.net.DeliverAll(context.Background())
		p.now.Add(int64(d))
	}
}

func (p *stepPair) stats(id crdt.ReplicaID) crdt.PeerStats { return p.r[id].Stats().Peers[0] }

// Accident: us's host clock is stepped back an hour in the middle of a
// run (a bad NTP server, a VM moved). Its writes still order after
// everything it wrote or saw before. Its peer's messages are now an hour
// ahead of its host clock: it refuses them (clock skew, counted), and its
// peer shows the write waiting; once us's clock has caught up, nothing is
// lost.
func TestAccidentClockSteppedBackAnHourMidRun(t *testing.T) {
	p := newStepPair(t)
	p.set("us", "first")
	p.rounds(10, 10*time.Millisecond)
	p.set("eu", "second")
	p.rounds(10, 10*time.Millisecond)
	if p.get("us") != "second" {
		t.Fatalf("us holds %q before the step", p.get("us"))
	}
	p.step.Store(-int64(time.Hour))
	p.set("us", "third") // made after us saw "second": it wins
	p.rounds(10, 10*time.Millisecond)
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		if got := p.get(id); got != "third" {
			t.Fatalf("%s holds %q, want us's write made after the step", id, got)
		}
	}
	p.rounds(10, time.Second)
	p.set("eu", "fourth")
	p.rounds(30, time.Second)
	if n := p.stats("us").Refused[crdt.ReasonClockSkew]; n == 0 {
		t.Fatalf("us refused nothing from eu as skewed: %v", p.stats("us").Refused)
	}
	if got := p.get("us"); got != "third" {
		t.Fatalf("us took %q from a peer an hour ahead of its clock", got)
	}
	if st := p.stats("eu"); st.PendingOps == 0 || st.Lag == 0 {
		t.Fatalf("eu: %d ops pending, lag %v: no figure shows its write waiting", st.PendingOps, st.Lag)
	}
	p.rounds(70, time.Minute) // the hour passes
	p.rounds(20, 10*time.Millisecond)
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		if got, st := p.get(id), p.stats(id); got != "fourth" || st.PendingOps != 0 {
			t.Fatalf("%s holds %q with %d ops pending once the clock caught up, want eu's later write and none", id, got, st.PendingOps)
		}
	}
}

// Accident: us's host clock jumps a day ahead, us writes, and the clock is
// set right again. Its hybrid clock does not go back, so everything it
// writes for the next day is stamped a day ahead: its peer refuses those
// writes (clock skew, counted; they stay pending at us) rather than let a
// day-ahead clock into its own, while it keeps sending its own writes,
// which us takes. Once the day has passed, they converge with nothing
// lost, and the write stamped a day ahead is the latest.
func TestAccidentClockSteppedForwardADayThenBack(t *testing.T) {
	p := newStepPair(t)
	p.set("us", "before")
	p.rounds(10, 10*time.Millisecond)
	p.step.Store(int64(24 * time.Hour))
	p.set("us", "a day ahead")
	p.rounds(3, 10*time.Millisecond)
	p.step.Store(0)
	p.set("eu", "from eu")
	p.rounds(30, time.Second)
	if n := p.stats("eu").Refused[crdt.ReasonClockSkew]; n == 0 {
		t.Fatalf("eu refused nothing from a clock a day ahead: %v", p.stats("eu").Refused)
	}
	if got := p.get("eu"); got != "from eu" {
		t.Fatalf("eu holds %q, want its own write, a day-ahead one refused", got)
	}
	if p.stats("us").PendingOps == 0 {
		t.Fatal("us shows nothing pending while its peer refuses its write")
	}
	p.rounds(25, time.Hour) // the day passes
	p.rounds(30, 10*time.Millisecond)
	for _, id := range []crdt.ReplicaID{"us", "eu"} {
		if got, st := p.get(id), p.stats(id); got != "a day ahead" || st.PendingOps != 0 {
			t.Fatalf("%s holds %q with %d ops pending a day later", id, got, st.PendingOps)
		}
	}
}

// Accident: a region is restored from an older backup on a host whose
// clock was stepped back an hour, so that its new run's incarnation is
// lower than its lost run's, and its messages carry earlier times than
// the lost run's last ones. They look like messages of an earlier run
// delivered late, which a replica refuses; but this run is one its peer
// never heard from, and it is taken as the new run it is: the region is
// not locked out, and the two converge.
func TestAccidentOlderBackupOnAClockSteppedBack(t *testing.T) {
	var offset atomic.Int64
	c := newCluster(t, 53, 2, nil)
	c.cfg = func(cfg *crdt.Config) {
		if cfg.ID == "r0" {
			cfg.Clock = clock.New(clock.WithSource(func() int64 { return c.now.Load() + offset.Load() }))
		}
	}
	c.crash("r0")
	c.restart("r0")
	c.add("r0", "x")
	c.settle([]string{"x"}, 50)
	backup := c.nodes["r0"].snap
	c.crash("r0")
	c.restart("r0")
	c.add("r0", "y")
	c.settle([]string{"x", "y"}, 50)
	lost := c.nodes["r0"].r.Stats()

	offset.Store(-int64(time.Hour))
	c.crash("r0")
	c.start("r0", backup, nil)
	if now := c.nodes["r0"].r; now.Writer() == crdt.ReplicaID(lost.Replica) {
		t.Fatal("the new run writes under the lost run's writer")
	}
	c.add("r0", "z")
	c.settle([]string{"x", "y", "z"}, 200)
	c.add("r1", "w")
	c.settle([]string{"w", "x", "y", "z"}, 200)
}
