package crdt_test

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/lwwmap"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/register"
)

// honestAnyValueRounds runs two honest regions over memnet, h0 writing
// each of values into the object under "o" with write, and returns the
// divergences they count over 40 rounds after each write, and the
// content fingerprints of the object at h0 and h1 at the end.
func honestAnyValueRounds[O crdt.Object](t *testing.T, make func(crdt.ReplicaID, *clock.Clock) O, write func(O, any) crdt.Op, values []any) (divergences uint64, cfp0, cfp1 uint64) {
	t.Helper()
	var now int64 = 1_795_000_000_000_000_000
	src := func() int64 { return now }
	net := memnet.New(1)
	ids := []crdt.ReplicaID{"h0", "h1"}
	regions := map[crdt.ReplicaID]*crdt.Replica{}
	objs := map[crdt.ReplicaID]*crdt.Handle[O]{}
	for _, id := range ids {
		clk := clock.New(clock.WithSource(src))
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: clk, AntiEntropyTicks: 5})
		if err != nil {
			t.Fatal(err)
		}
		if objs[id], err = crdt.Register(r, "o", make(id, clk)); err != nil {
			t.Fatal(err)
		}
		for _, p := range ids {
			if p != id {
				if err := r.AddPeer(p); err != nil {
					t.Fatal(err)
				}
			}
		}
		regions[id] = r
		net.Attach(id, r)
	}
	ctx := context.Background()
	for _, v := range values {
		if err := objs["h0"].Update(func(o O) (crdt.Op, error) { return write(o, v), nil }); err != nil {
			t.Fatal(err)
		}
		for range 40 {
			for _, id := range ids {
				_ = regions[id].Tick(ctx)
			}
			net.DeliverAll(ctx)
			now += 1_000_000
		}
	}
	for _, id := range ids {
		for _, p := range regions[id].Stats().Peers {
			divergences += p.Divergences
		}
	}
	cfp := func(id crdt.ReplicaID) (c uint64) {
		objs[id].Read(func(o O) { c = any(o).(crdt.ContentFingerprinter).ContentFingerprint() })
		return c
	}
	return divergences, cfp("h0"), cfp("h1")
}

// The values written: numbers of Go types that a peer decodes, held in
// an interface, as other types (an int 5 as an int8), and a struct,
// which a peer decodes as a map.
var anyValues = []any{5, -3, uint(7), int64(1) << 40, int32(9), struct{ A any }{2}, map[string]any{"n": 1}, []any{1, "x"}}

// TestHonestAnyRegisterCountsNoDivergence: an LWW register of any type
// holding a number written as an int. The writer held the int, every
// peer the int8 its decoder gives back; the content fingerprint hashes
// the value's encoding, which differs between the two (an int 5 encodes
// in one byte, an int8 in two), so two honest regions at one write
// counted a divergence at every exchange of digests, for good.
func TestHonestAnyRegisterCountsNoDivergence(t *testing.T) {
	d, c0, c1 := honestAnyValueRounds(t, func(id crdt.ReplicaID, clk *clock.Clock) *register.LWW[any] {
		return register.NewLWW[any](id, clk)
	}, func(r *register.LWW[any], v any) crdt.Op { return r.Set(v) }, anyValues)
	if d != 0 || c0 != c1 {
		t.Fatalf("two honest regions counted %d divergences; content fingerprints %#x and %#x", d, c0, c1)
	}
}

// TestHonestAnyMapCountsNoDivergence is TestHonestAnyRegisterCountsNoDivergence
// for the values of an LWW-map.
func TestHonestAnyMapCountsNoDivergence(t *testing.T) {
	d, c0, c1 := honestAnyValueRounds(t, func(id crdt.ReplicaID, clk *clock.Clock) *lwwmap.Map[string, any] {
		return lwwmap.New[string, any](id, clk)
	}, func(m *lwwmap.Map[string, any], v any) crdt.Op { return m.Put("k", v) }, anyValues)
	if d != 0 || c0 != c1 {
		t.Fatalf("two honest regions counted %d divergences; content fingerprints %#x and %#x", d, c0, c1)
	}
}

// TestHonestAnyMVCountsNoDivergence is TestHonestAnyRegisterCountsNoDivergence
// for a multi-value register, whose heal drops a dot that two replicas
// hold with different values: an honest Set(5) was erased at both
// regions, a confirmed write lost.
func TestHonestAnyMVCountsNoDivergence(t *testing.T) {
	held := map[crdt.ReplicaID]*register.MV[any]{}
	d, c0, c1 := honestAnyValueRounds(t, func(id crdt.ReplicaID, _ *clock.Clock) *register.MV[any] {
		held[id] = register.NewMV[any](id)
		return held[id]
	}, func(r *register.MV[any], v any) crdt.Op { return r.Set(v) }, []any{5})
	v0, v1 := held["h0"].Values(), held["h1"].Values()
	if d != 0 || c0 != c1 || len(v0) != 1 || len(v1) != 1 {
		t.Fatalf("two honest regions counted %d divergences; content fingerprints %#x and %#x; h0 reads %v, h1 %v after Set(5)", d, c0, c1, v0, v1)
	}
	d, c0, c1 = honestAnyValueRounds(t, func(id crdt.ReplicaID, _ *clock.Clock) *register.MV[any] {
		return register.NewMV[any](id)
	}, func(r *register.MV[any], v any) crdt.Op { return r.Set(v) }, anyValues)
	if d != 0 || c0 != c1 {
		t.Fatalf("two honest regions counted %d divergences; content fingerprints %#x and %#x", d, c0, c1)
	}
}
