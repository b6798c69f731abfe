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

// TestSkewedWriteRefusedThenAccepted: a region whose wall clock runs two
// seconds ahead writes a register. The other region refuses the write (its
// maximum offset is 500ms), counts the refusal and does not acknowledge
// it; once its own time has caught up, the re-sent write is accepted.
func TestSkewedWriteRefusedThenAccepted(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano())
	net := memnet.New(1)
	ctx := context.Background()
	mk := func(id, peer crdt.ReplicaID, ahead time.Duration) (*crdt.Replica, *crdt.Handle[*register.LWW[string]]) {
		clk := clock.New(clock.WithSource(func() int64 { return now.Load() + int64(ahead) }))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: -1})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := crdt.Register(r, "reg", register.NewLWW[string](id, clk))
		_ = r.AddPeer(peer)
		net.Attach(id, r)
		return r, h
	}
	fast, fastReg := mk("fast", "slow", 2*time.Second)
	slow, slowReg := mk("slow", "fast", 0)
	round := func() {
		_ = fast.Tick(ctx)
		_ = slow.Tick(ctx)
		net.DeliverAll(ctx)
		now.Add(int64(50 * time.Millisecond))
	}
	get := func() (v string, ok bool) {
		slowReg.Read(func(r *register.LWW[string]) { v, ok = r.Get() })
		return v, ok
	}

	if err := fastReg.Update(func(r *register.LWW[string]) (crdt.Op, error) { return r.Set("from the future"), nil }); err != nil {
		t.Fatal(err)
	}
	for range 10 { // 500ms: still more than 500ms ahead of the slow region
		round()
	}
	if v, ok := get(); ok {
		t.Fatalf("skewed write accepted too early: %q", v)
	}
	if n := slow.Stats().Peers[0].Refused[crdt.ReasonClockSkew]; n == 0 {
		t.Fatalf("refusals = %v, want clock skew counted", slow.Stats().Peers[0].Refused)
	}
	if p := fast.Stats().Peers[0]; p.PendingOps != 1 {
		t.Fatalf("fast region: %d ops pending, want the refused write still pending", p.PendingOps)
	}
	for range 40 { // two more seconds: the write is no longer too far ahead
		round()
	}
	if v, ok := get(); !ok || v != "from the future" {
		t.Fatalf("after time caught up: %q, %v; want the write accepted", v, ok)
	}
	if p := fast.Stats().Peers[0]; p.PendingOps != 0 {
		t.Fatalf("fast region: %d ops pending after acceptance", p.PendingOps)
	}
}
