package crdt_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/activeactive/crdt"
)

// TestLogBoundedWhilePeerAway checks that a peer that stays away does not
// grow the sender's memory, and that it catches up by digest when it comes
// back.
func TestLogBoundedWhilePeerAway(t *testing.T) {
	const maxOps = 32
	c := newCluster(t, 7, 2, func(cfg *crdt.Config) {
		cfg.MaxLogOps = maxOps
		cfg.MaxLogBytes = 1 << 10
		cfg.AntiEntropyTicks = -1
	})
	c.settle([]string{}, 10)
	c.net.Partition("r0", "r1")
	t0 := c.now.Load() // when the first write the peer misses is made
	var want []string
	for i := range 1000 {
		e := fmt.Sprintf("e%04d", i)
		c.add("r0", e)
		want = append(want, e)
		if i%10 == 0 {
			c.round()
		}
		st := c.nodes["r0"].r.Stats()
		if st.LogOps > maxOps || st.LogBytes > 1<<10 {
			t.Fatalf("after %d writes the log holds %d ops, %d bytes; bounds are %d ops, %d bytes", i+1, st.LogOps, st.LogBytes, maxOps, 1<<10)
		}
	}
	p := c.nodes["r0"].r.Stats().Peers[0]
	// The lag counts from the first missed write, long gone from the log.
	if lag := time.Duration(c.now.Load() - t0); p.PendingOps != 1000 || !p.CatchingUp || p.Lag != lag {
		t.Fatalf("while away: pending %d, catching up %v, lag %v; want 1000, true, %v", p.PendingOps, p.CatchingUp, p.Lag, lag)
	}
	c.net.HealAll()
	c.settle(want, 50)
	if p := c.nodes["r0"].r.Stats().Peers[0]; p.DigestRounds == 0 || p.Lag != 0 {
		t.Fatalf("after healing: %d digest rounds, lag %v; want a digest round and no lag", p.DigestRounds, p.Lag)
	}
}

// TestConcurrentUse runs writers, readers, ticks and inbound delivery on
// real goroutines at once; run it with -race.
func TestConcurrentUse(t *testing.T) {
	c := newCluster(t, 3, 2, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	var want []string
	var mu sync.Mutex
	for w := range 4 {
		id := c.ids[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := c.nodes[id]
			for i := range 50 {
				e := fmt.Sprintf("w%d-%02d", w, i)
				update := func() error {
					return n.set.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
				}
				if w >= 2 { // half the writers go through transactions
					update = func() error {
						return n.r.Update(func(tx *crdt.Tx) error {
							return n.set.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
						})
					}
				}
				if err := update(); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				want = append(want, e)
				mu.Unlock()
			}
		}()
	}
	for _, id := range c.ids {
		wg.Add(2)
		go func() { // reader
			defer wg.Done()
			n := c.nodes[id]
			for range 200 {
				n.set.Read(func(s *gset) { _ = len(s.Elems()) })
				n.r.View(func(tx *crdt.Tx) {
					_ = n.set.ReadIn(tx, func(s *gset) { _ = len(s.Elems()) })
				})
				_ = n.r.Stats()
			}
		}()
		go func() { // ticker and delivery
			defer wg.Done()
			for range 100 {
				_ = c.nodes[id].r.Tick(ctx)
				c.net.Deliver(ctx)
				if err := c.nodes[id].r.SaveSnapshot(func([]byte) error { return nil }); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for _, id := range c.ids {
		c.persist(id) // the writes made after the last save leave now
	}
	slices.Sort(want)
	c.settle(want, 100)
}
