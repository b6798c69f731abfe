package crdt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/memnet"
	"pgregory.net/rapid"
)

// txNode is a replica with three gsets: every transaction adds one
// element to both "a" and "b"; "c" gets single writes in between.
type txNode struct {
	r       *crdt.Replica
	a, b, c *crdt.Handle[*gset]
	snap    []byte
	up      bool
}

func (n *txNode) view() (a, b, c []string) {
	n.r.View(func(tx *crdt.Tx) {
		_ = n.a.ReadIn(tx, func(s *gset) { a = s.Elems() })
		_ = n.b.ReadIn(tx, func(s *gset) { b = s.Elems() })
		_ = n.c.ReadIn(tx, func(s *gset) { c = s.Elems() })
	})
	return a, b, c
}

// TestTransactionsAppliedWhole: replicas make transactions that add the
// same element to two objects, over a network that loses, duplicates,
// reorders and delays, with partitions, crashes and restarts, a log so
// small that peers fall out of it, and a batch limit that lets only one
// group into a message. After every single delivery, every replica holds
// the same elements in both objects: no group is ever seen in part. At the
// end every replica holds every acknowledged write.
func TestTransactionsAppliedWhole(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		ctx := context.Background()
		net := memnet.New(rapid.Uint64().Draw(rt, "seed"))
		net.Loss = rapid.Float64Range(0, 0.3).Draw(rt, "loss")
		net.Duplicate = rapid.Float64Range(0, 0.2).Draw(rt, "dup")
		net.Reorder = rapid.Bool().Draw(rt, "reorder")
		net.MaxDelay = rapid.IntRange(0, 2).Draw(rt, "delay")
		batch := rapid.SampledFrom([]int{1, 40, 0}).Draw(rt, "maxBatchBytes")
		var now atomic.Int64
		now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
		ids := []crdt.ReplicaID{"r0", "r1", "r2"}[:rapid.IntRange(2, 3).Draw(rt, "replicas")]
		nodes := map[crdt.ReplicaID]*txNode{}

		start := func(id crdt.ReplicaID, snap []byte) {
			r, err := crdt.NewReplica(crdt.Config{
				ID: id, Transport: net.Transport(id), Clock: clock.New(clock.WithSource(now.Load)),
				MaxLogOps: 8, MaxBatchBytes: batch, AntiEntropyTicks: 20,
			})
			if err != nil {
				rt.Fatal(err)
			}
			n := &txNode{r: r, snap: snap, up: true}
			n.a, _ = crdt.Register(r, "a", newGSet(id))
			n.b, _ = crdt.Register(r, "b", newGSet(id))
			n.c, _ = crdt.Register(r, "c", newGSet(id))
			attachRestored(rt, net, r, snap, ids...)
			nodes[id] = n
		}
		for _, id := range ids {
			start(id, nil)
		}
		save := func(n *txNode) {
			if err := n.r.SaveSnapshot(func(b []byte) error { n.snap = b; return nil }); err != nil {
				rt.Fatal(err)
			}
		}
		check := func() {
			for _, id := range ids {
				if n := nodes[id]; n.up {
					if a, b, _ := n.view(); !slices.Equal(a, b) {
						rt.Fatalf("%s sees part of a transaction: a = %v, b = %v", id, a, b)
					}
				}
			}
		}
		round := func() {
			for _, id := range ids {
				if n := nodes[id]; n.up {
					_ = n.r.Tick(ctx)
				}
			}
			for net.Pending() > 0 && net.Deliver(ctx) {
				check()
			}
			net.DeliverAll(ctx) // ends the round (held-back messages wait)
			check()
			now.Add(int64(10 * time.Millisecond))
		}

		var pairs, singles []string
		pick := rapid.SampledFrom(ids)
		for i := range rapid.IntRange(1, 80).Draw(rt, "steps") {
			switch rapid.IntRange(0, 9).Draw(rt, "action") {
			case 0, 1, 2:
				n := nodes[pick.Draw(rt, "writer")]
				if !n.up {
					continue
				}
				e := fmt.Sprintf("p%03d", i)
				err := n.r.Update(func(tx *crdt.Tx) error {
					if err := n.a.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
						return err
					}
					return n.b.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
				})
				if err != nil {
					rt.Fatal(err)
				}
				save(n)
				pairs = append(pairs, e)
			case 3:
				n := nodes[pick.Draw(rt, "writer")]
				if !n.up {
					continue
				}
				e := fmt.Sprintf("s%03d", i)
				if err := n.c.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil }); err != nil {
					rt.Fatal(err)
				}
				save(n)
				singles = append(singles, e)
			case 4, 5, 6:
				round()
			case 7:
				if a, b := pick.Draw(rt, "a"), pick.Draw(rt, "b"); a != b {
					net.Partition(a, b)
				}
			case 8:
				net.Heal(pick.Draw(rt, "a"), pick.Draw(rt, "b"))
			case 9:
				id := pick.Draw(rt, "crash")
				if n := nodes[id]; n.up {
					net.Detach(id)
					n.up = false
				} else {
					start(id, n.snap)
				}
			}
		}
		for _, id := range ids {
			if !nodes[id].up {
				start(id, nodes[id].snap)
			}
		}
		net.HealAll()
		net.Loss, net.Duplicate = 0, 0
		slices.Sort(pairs)
		slices.Sort(singles)
		for range 300 {
			done := true
			for _, id := range ids {
				a, b, c := nodes[id].view()
				done = done && slices.Equal(a, pairs) && slices.Equal(b, pairs) && slices.Equal(c, singles)
			}
			if done {
				// Restarts from snapshots leave replicas behind, never
				// holding other data at one version.
				for _, id := range ids {
					for _, p := range nodes[id].r.Stats().Peers {
						if p.Divergences != 0 {
							rt.Fatalf("%s counted %d divergences from %s", id, p.Divergences, p.Peer)
						}
					}
				}
				return
			}
			round()
		}
		for _, id := range ids {
			a, b, c := nodes[id].view()
			rt.Logf("%s: a %v b %v c %v", id, a, b, c)
		}
		rt.Fatalf("no convergence on pairs %v, singles %v", pairs, singles)
	})
}

func TestTransactionErrors(t *testing.T) {
	r, h := receiver(t, nil)
	other, oh := receiver(t, nil)
	_ = other

	// Changes made before f fails stay made and are shipped.
	boom := errors.New("boom")
	err := r.Update(func(tx *crdt.Tx) error {
		if err := h.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add("kept"), nil }); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("elems = %v, want [kept]", got)
	}
	if st := r.Stats(); st.Seq != 1 || st.Peers[0].PendingOps != 1 {
		t.Fatalf("seq %d, pending %d: the change made before the error must ship", st.Seq, st.Peers[0].PendingOps)
	}

	// A change whose function fails ships nothing.
	err = r.Update(func(tx *crdt.Tx) error {
		return h.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return nil, boom })
	})
	if !errors.Is(err, boom) || r.Stats().Seq != 1 {
		t.Fatalf("Update = %v, seq %d; want boom and no new op", err, r.Stats().Seq)
	}

	// Misuse is refused with ErrTx and changes nothing.
	var kept *crdt.Tx
	for name, use := range map[string]func(tx *crdt.Tx) error{
		"other replica's handle": func(tx *crdt.Tx) error {
			return oh.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add("x"), nil })
		},
		"kept past its function": func(tx *crdt.Tx) error {
			kept = tx
			return nil
		},
		"nil": func(*crdt.Tx) error {
			return h.UpdateIn(nil, func(s *gset) (crdt.Op, error) { return s.Add("x"), nil })
		},
	} {
		if err := r.Update(use); name != "kept past its function" && !errors.Is(err, crdt.ErrTx) {
			t.Errorf("%s: %v, want ErrTx", name, err)
		}
	}
	if err := h.UpdateIn(kept, func(s *gset) (crdt.Op, error) { return s.Add("x"), nil }); !errors.Is(err, crdt.ErrTx) {
		t.Errorf("a kept transaction: %v, want ErrTx", err)
	}
	if err := h.ReadIn(kept, func(*gset) {}); !errors.Is(err, crdt.ErrTx) {
		t.Errorf("reading in a kept transaction: %v, want ErrTx", err)
	}
	r.View(func(tx *crdt.Tx) {
		if err := h.UpdateIn(tx, func(s *gset) (crdt.Op, error) { return s.Add("x"), nil }); !errors.Is(err, crdt.ErrTx) {
			t.Errorf("change in a view: %v, want ErrTx", err)
		}
	})
	if got := elemsOf(h); !slices.Equal(got, []string{"kept"}) || elemsOf(oh) != nil || r.Stats().Seq != 1 {
		t.Fatalf("misuse changed something: %v, %v, seq %d", got, elemsOf(oh), r.Stats().Seq)
	}
}
