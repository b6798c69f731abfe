package crdt_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
)

// Regions that restarted at once each propose to retire their finished
// writer at once. In messages of the smallest size, the retirement part of
// a message had room for a proposal and no more; proposals went first, so
// each region's own proposal crowded out the promise the other was
// waiting for, every time, and no writer was ever retired: metadata grew
// with every restart. Promises now go before proposals.
func TestRetireConcurrentProposalsInSmallMessages(t *testing.T) {
	ctx := context.Background()
	net := memnet.New(3)
	var now int64 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC).UnixNano()
	ids := []crdt.ReplicaID{"region-0", "region-1", "region-2", "region-3"}
	regions := map[crdt.ReplicaID]*region{}
	var starts uint64
	start := func(id crdt.ReplicaID, snap []byte) {
		starts++
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:], starts)
		clk := clock.New(clock.WithSource(func() int64 { return now }))
		g := &region{up: true}
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk,
			AntiEntropyTicks: 30, MaxMessageBytes: crdt.MinMessageBytes, Entropy: rand.NewChaCha8(key),
			OnSaveNeeded: func() { g.snap = savedSnapshot(t, g.r) }})
		if err != nil {
			t.Fatal(err)
		}
		g.r = r
		g.set, _ = crdt.Register(r, "set", orset.New[string](id))
		g.kv, _ = crdt.Register(r, "kv", lwwmap.New[string, string](id, clk))
		g.count, _ = crdt.Register(r, "count", counter.NewPN(id))
		attachRestored(t, net, r, snap, ids...)
		regions[id] = g
	}
	round := func() {
		for _, id := range ids {
			_ = regions[id].r.Tick(ctx)
		}
		net.DeliverAll(ctx)
		now += int64(5 * time.Millisecond)
	}
	write := func() {
		for i, id := range ids {
			g := regions[id]
			e := fmt.Sprintf("%s-%d", id, starts)
			_ = g.set.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(e), nil })
			_ = g.kv.Update(func(m *lwwmap.Map[string, string]) (crdt.Op, error) { return m.Put(e, "v"), nil })
			_ = g.count.Update(func(c *counter.PN) (crdt.Op, error) { return c.Add(int64(i + 1)) })
			if err := g.r.SaveSnapshot(func(b []byte) error { g.snap = b; return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range ids {
		start(id, nil)
	}
	write()
	for range 100 {
		round()
	}
	// Every region restarts at once, three times: each time, four
	// finished writers to retire, and a longer ledger in every message.
	for run := range 3 {
		for _, id := range ids {
			net.Detach(id)
			start(id, regions[id].snap)
		}
		write()
		for i := 0; ; i++ {
			finished := 0
			for _, id := range ids {
				for _, w := range regions[id].writers() {
					if !w.IsRetired() && w != regions[w.Name()].r.Writer() {
						finished++
					}
				}
			}
			if finished == 0 {
				break
			}
			if i == 3000 {
				t.Fatalf("restart %d: %d finished writers still named after %d rounds", run+1, finished, i)
			}
			round()
		}
	}
	for _, id := range ids {
		if st := regions[id].r.Stats(); st.RetireFailures != 0 || st.LedgerConflicts != 0 {
			t.Fatalf("%s: %d refused retirements, %d ledger conflicts", id, st.RetireFailures, st.LedgerConflicts)
		}
	}
}
