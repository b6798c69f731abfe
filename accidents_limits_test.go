package crdt_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/ormap"
)

// TestAccidentMessageLimitsDiffer: the regions do not agree on
// MaxMessageBytes (an operator lowered it in one region first, in a
// rolling change of the setting; or the region's bus carries smaller
// messages). eu-west-1 takes messages of at most 1 KiB, the others of
// 1 MiB, and us-east-1 writes a map of counters far larger than 1 KiB
// before eu-west-1 first hears from it, in runs of ops of tens of
// kilobytes. eu-west-1 refuses the first large messages, and its digest
// names its limit: from then on its peers send it nothing larger, so it
// refuses nothing more while every region keeps writing, and all hold
// every write at the end, with nothing pending and no divergence.
//
// Before limits were named in digests, eu-west-1 refused every run of
// ops and every catch-up us-east-1 sent, for good.
func TestAccidentMessageLimitsDiffer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		broadcast bool // a transport that sends one message to several peers
		compress  int  // Config.CompressAbove
	}{
		{"plain", false, -1},
		{"compressed", false, 0},
		{"broadcast", true, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testMessageLimitsDiffer(t, tc.broadcast, tc.compress)
		})
	}
}

func testMessageLimitsDiffer(t *testing.T, broadcast bool, compress int) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(11)
	ids := []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1"}
	limit := map[crdt.ReplicaID]int{"ap-south-1": 1 << 20, "eu-west-1": crdt.MinMessageBytes, "us-east-1": 1 << 20}
	reps := map[crdt.ReplicaID]*crdt.Replica{}
	maps := map[crdt.ReplicaID]*crdt.Handle[*ormap.Map[string, *ormap.Counter]]{}
	ref := ormap.New[string, *ormap.Counter]("ref")
	for _, id := range ids {
		tr := net.Transport(id)
		if broadcast {
			tr = net.BroadcastTransport(id)
		}
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: tr, Clock: clock.New(clock.WithSource(now.Load)),
			AntiEntropyTicks: 20, MaxMessageBytes: limit[id], CompressAbove: compress})
		if err != nil {
			t.Fatal(err)
		}
		if maps[id], err = crdt.Register(r, "hits", ormap.New[string, *ormap.Counter](id)); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		reps[id] = r
	}
	ctx := context.Background()
	round := func() {
		for _, id := range ids {
			_ = reps[id].Tick(ctx)
		}
		net.DeliverAll(ctx)
		now.Add(int64(time.Millisecond))
	}
	write := func(id crdt.ReplicaID, i int) {
		if err := maps[id].Update(func(m *ormap.Map[string, *ormap.Counter]) (crdt.Op, error) {
			op := m.At(fmt.Sprintf("page-%04d", i%700)).Add(int64(i%5 + 1))
			if err := ref.Apply(op); err != nil {
				t.Fatalf("reference: %v", err)
			}
			return op, op.Err()
		}); err != nil {
			t.Fatal(err)
		}
	}
	tooLarge := func() uint64 {
		n := uint64(0)
		for _, p := range reps["eu-west-1"].Stats().Peers {
			n += p.Refused[crdt.ReasonTooLarge]
		}
		return n
	}

	// us-east-1 writes 600 keys before anyone hears from it: its first
	// messages carry them all.
	for i := range 600 {
		write("us-east-1", i)
	}
	for _, id := range ids {
		net.Attach(id, reps[id])
	}
	for range 40 {
		round()
	}
	refused := tooLarge()
	if refused == 0 {
		t.Fatal("eu-west-1 refused no message as too large: the test does not send it any")
	}
	for _, id := range []crdt.ReplicaID{"ap-south-1", "us-east-1"} {
		for _, p := range reps[id].Stats().Peers {
			if want := min(limit[id], limit[p.Peer]); p.MessageLimit != want {
				t.Fatalf("%s sends %s messages of up to %d bytes, want %d", id, p.Peer, p.MessageLimit, want)
			}
		}
	}
	// Every region writes, in bursts of 40 between rounds.
	for i := range 400 {
		write(ids[i%3], 600+i)
		if i%40 == 39 {
			round()
		}
	}
	for range 60 {
		round()
	}
	if got := tooLarge(); got != refused {
		t.Fatalf("eu-west-1 refused %d more messages as too large once its peers knew its limit", got-refused)
	}
	want := map[string]int64{}
	for k, c := range ref.All() {
		want[k] = c.Value()
	}
	for _, id := range ids {
		got := map[string]int64{}
		maps[id].Read(func(m *ormap.Map[string, *ormap.Counter]) {
			for k, c := range m.All() {
				got[k] = c.Value()
			}
		})
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("%s (-reference +region):\n%s", id, d)
		}
		st := reps[id].Stats()
		if st.Oversize != 0 {
			t.Fatalf("%s made %d messages over its limit", id, st.Oversize)
		}
		for _, p := range st.Peers {
			if p.PendingOps != 0 || p.AwaitingCatchUp || p.Divergences != 0 {
				t.Fatalf("%s to %s: %d ops pending, awaiting a catch-up %v, %d divergences", id, p.Peer, p.PendingOps, p.AwaitingCatchUp, p.Divergences)
			}
		}
	}
	t.Logf("eu-west-1 refused %d messages as too large before its peers knew its limit", refused)
}
