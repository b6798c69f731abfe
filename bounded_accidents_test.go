package crdt_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"pgregory.net/rapid"
)

// stockProc is one process of a region holding a counter.Bounded: its
// replica and the disk it saves to.
type stockProc struct {
	r     *crdt.Replica
	h     *crdt.Handle[*counter.Bounded]
	snaps [][]byte
}

// TestBoundedSalesUnderAccidents: three regions sell stock from a
// counter.Bounded with floor 0, the first having put it in (and every
// region having seen it), and pass
// rights around (transfers, requests answered by the host from the
// request hook, sometimes twice), under partitions, stepped clocks,
// crashes restarting from the last snapshot, an older backup or an empty
// disk, and second processes started from a region's disk, the network
// routed to either, both selling, then stopped. At every step, every
// running process reads a value at or above the floor and the sales that
// succeeded, anywhere, never pass the stock. Once the accidents stop, the
// regions read one value, no lower than the stock less every sale unless
// a disk was lost or taken back (which may take sales, or the stock
// itself, from every disk).
func TestBoundedSalesUnderAccidents(t *testing.T) {
	checksUnlessSet(t, 200)
	var sales, salesElsewhere, twinSales, answers, restarts int
	defer func() {
		t.Logf("sales %d (%d outside the first region, %d by second processes), transfers answering requests %d, restarts %d",
			sales, salesElsewhere, twinSales, answers, restarts)
	}()
	rapid.Check(t, func(rt *rapid.T) {
		const stock = 20
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		ctx := context.Background()
		var now atomic.Int64
		now.Store(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC).UnixNano())
		ids := []crdt.ReplicaID{"a", "b", "c"}
		offsets := map[crdt.ReplicaID]*atomic.Int64{}
		procs := map[crdt.ReplicaID]*stockProc{}
		twins := map[crdt.ReplicaID]*stockProc{}
		answerTwice := rapid.Bool().Draw(rt, "answerTwice")
		start := func(id crdt.ReplicaID, snap []byte) *stockProc {
			off := offsets[id]
			if off == nil {
				off = new(atomic.Int64)
				offsets[id] = off
			}
			p := &stockProc{}
			r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), AntiEntropyTicks: 4,
				Clock:        clock.New(clock.WithSource(func() int64 { return now.Load() + off.Load() })),
				OnSaveNeeded: func() { p.save(rt) }})
			if err != nil {
				rt.Fatal(err)
			}
			p.r = r
			c := counter.NewBounded(id, 0)
			if p.h, err = crdt.Register(r, "stock", c); err != nil {
				rt.Fatal(err)
			}
			for _, q := range ids {
				if q != id {
					if err := r.AddPeer(q); err != nil {
						rt.Fatal(err)
					}
				}
			}
			if snap != nil {
				if err := r.Restore(snap); err != nil {
					rt.Fatal(err)
				}
			}
			p.save(rt)
			net.Attach(id, r)
			return p
		}
		for _, id := range ids {
			procs[id] = start(id, nil)
		}
		sold := uint64(0)
		lossy := false // a disk lost or taken back: sales, or the stock, may be gone
		running := func() []*stockProc {
			var out []*stockProc
			for _, id := range ids {
				out = append(out, procs[id])
				if twins[id] != nil {
					out = append(out, twins[id])
				}
			}
			return out
		}
		value := func(p *stockProc) (v int64) {
			p.h.Read(func(c *counter.Bounded) { v = c.Value() })
			return v
		}
		check := func(what string) {
			if sold > stock {
				rt.Fatalf("%s: %d sold of a stock of %d", what, sold, stock)
			}
			for _, p := range running() {
				if v := value(p); v < 0 {
					rt.Fatalf("%s: %s reads %d, below the floor", what, p.r.Writer(), v)
				}
			}
		}
		update := func(p *stockProc, f func(c *counter.Bounded) (counter.BoundedOp, error)) error {
			err := p.h.Update(func(c *counter.Bounded) (crdt.Op, error) { return f(c) })
			if err == nil {
				p.save(rt)
			}
			return err
		}
		// The host answers requests from the hook, after the update that
		// delivered them (the hook runs inside it).
		answer := func(p *stockProc) {
			var open []counter.RightsRequest
			p.h.Read(func(c *counter.Bounded) { open = c.Requests() })
			for _, q := range open {
				for range 1 + btoi(answerTwice) {
					err := update(p, func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Transfer(q.Replica, q.Rights) })
					if err == nil {
						answers++
					} else if !errors.Is(err, counter.ErrInsufficientRights) {
						rt.Fatal(err)
					}
				}
			}
		}
		round := func() {
			for _, p := range running() {
				_ = p.r.Tick(ctx)
			}
			net.DeliverAll(ctx)
			for _, p := range running() {
				p.save(rt)
				answer(p)
			}
			now.Add(int64(10 * time.Millisecond))
			check("a round")
		}
		if err := update(procs["a"], func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Inc(stock) }); err != nil {
			rt.Fatal(err)
		}
		// a gives each other region a share of the rights.
		for _, q := range ids[1:] {
			to := procs[q].r.Writer()
			if err := update(procs["a"], func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Transfer(to, 6) }); err != nil {
				rt.Fatal(err)
			}
		}
		for i := 0; ; i++ {
			all := true
			for _, id := range ids {
				all = all && value(procs[id]) == stock
			}
			if all {
				break
			}
			if i == 100 {
				rt.Fatal("the stock did not reach every region")
			}
			round()
		}
		pickID := rapid.SampledFrom(ids)
		for range rapid.IntRange(5, 60).Draw(rt, "steps") {
			id := pickID.Draw(rt, "region")
			p := procs[id]
			if twins[id] != nil && rapid.Bool().Draw(rt, "onTwin") {
				p = twins[id]
			}
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1: // a sale
				k := uint64(rapid.IntRange(1, 3).Draw(rt, "k"))
				err := update(p, func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Dec(k) })
				switch {
				case err == nil:
					sold += k
					sales++
					if id != "a" {
						salesElsewhere++
					}
					if p != procs[id] {
						twinSales++
					}
				case !errors.Is(err, counter.ErrInsufficientRights):
					rt.Fatal(err)
				}
			case 2: // rights given to another region's process
				q := pickID.Draw(rt, "to")
				if q == id {
					continue
				}
				n := uint64(rapid.IntRange(1, 5).Draw(rt, "n"))
				to := procs[q].r.Writer()
				if twins[q] != nil && rapid.Bool().Draw(rt, "toSecond") {
					to = twins[q].r.Writer()
				}
				err := update(p, func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Transfer(to, n) })
				if err != nil && !errors.Is(err, counter.ErrInsufficientRights) {
					rt.Fatal(err)
				}
			case 3: // rights asked for
				var hs []counter.Rights
				p.h.Read(func(c *counter.Bounded) { hs = c.Holders() })
				me := p.r.Writer()
				hs = slices.DeleteFunc(hs, func(h counter.Rights) bool { return h.Replica == me })
				if len(hs) == 0 {
					continue
				}
				from := hs[rapid.IntRange(0, len(hs)-1).Draw(rt, "holder")].Replica
				n := uint64(rapid.IntRange(1, 5).Draw(rt, "n"))
				if err := update(p, func(c *counter.Bounded) (counter.BoundedOp, error) { return c.Request(from, n) }); err != nil {
					rt.Fatal(err)
				}
			case 4: // kill -9, and a restart
				if p != procs[id] || twins[id] != nil {
					continue
				}
				var snap []byte
				switch rapid.IntRange(0, 2).Draw(rt, "disk") {
				case 0:
					snap = p.snaps[len(p.snaps)-1]
				case 1:
					snap = p.snaps[rapid.IntRange(0, len(p.snaps)-1).Draw(rt, "backup")]
					lossy = true
				default:
					lossy = true
				}
				net.Detach(id)
				procs[id] = start(id, snap)
				restarts++
			case 5: // a second process from the region's disk, or the network
				// routed to the other process, or the second process stopped
				switch {
				case twins[id] == nil:
					twins[id] = start(id, procs[id].snaps[len(procs[id].snaps)-1])
				case rapid.Bool().Draw(rt, "stop"):
					if rapid.Bool().Draw(rt, "stopFirst") {
						procs[id] = twins[id]
					}
					twins[id] = nil
					net.Attach(id, procs[id].r)
				case rapid.Bool().Draw(rt, "toTwin"):
					net.Attach(id, twins[id].r)
				default:
					net.Attach(id, procs[id].r)
				}
			case 6: // a partition, or its healing
				x, y := pickID.Draw(rt, "x"), pickID.Draw(rt, "y")
				if x != y {
					if net.Cut(x, y) {
						net.Heal(x, y)
					} else {
						net.Partition(x, y)
					}
				}
			case 7: // a host clock stepped, or set right
				offsets[id].Store(int64(rapid.SampledFrom([]time.Duration{0, time.Second, -time.Hour}).Draw(rt, "step")))
			default:
				for range rapid.IntRange(1, 15).Draw(rt, "rounds") {
					round()
				}
			}
			check("a step")
		}
		// The accidents stop.
		for _, id := range ids {
			if twins[id] != nil {
				twins[id] = nil
				net.Attach(id, procs[id].r)
			}
			offsets[id].Store(0)
		}
		net.HealAll()
		now.Add(int64(2 * time.Hour))
		for i := 0; ; i++ {
			v0 := value(procs["a"])
			same, busy := true, net.Pending() > 0
			for _, id := range ids {
				same = same && value(procs[id]) == v0
				for _, ps := range procs[id].r.Stats().Peers {
					busy = busy || ps.PendingOps != 0 || ps.AwaitingCatchUp || ps.CatchingUp
				}
			}
			if same && !busy {
				if !lossy && v0 < stock-int64(sold) {
					rt.Fatalf("the regions read %d, below the stock %d less the %d sold", v0, stock, sold)
				}
				return
			}
			if i == 600 {
				for _, id := range ids {
					rt.Logf("%s: %d %+v", id, value(procs[id]), procs[id].r.Stats())
				}
				rt.Fatalf("the regions do not agree after %d rounds", i)
			}
			round()
		}
	})
}

func (p *stockProc) save(t *rapid.T) {
	if err := p.r.SaveSnapshot(func(b []byte) error { p.snaps = append(p.snaps, b); return nil }); err != nil {
		t.Fatal(err)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
