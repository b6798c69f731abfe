package crdt_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/counter"
	"github.com/activeactive/crdt/memnet"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/register"
)

// TestManyObjectsThroughSmallMessages has a replica with many objects
// catch a new peer up through the smallest messages allowed: the digests
// go in parts and the catch-up in chunks, no message is over the limit,
// and the peer ends up with everything.
func TestManyObjectsThroughSmallMessages(t *testing.T) {
	const objects = 120
	net := memnet.New(7)
	net.Loss = 0.1
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var hs [][]*crdt.Handle[*gset]
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			t.Fatal(err)
		}
		var own []*crdt.Handle[*gset]
		for j := range objects {
			h, err := crdt.Register(r, fmt.Sprintf("object-%03d", j), newGSet(id))
			if err != nil {
				t.Fatal(err)
			}
			own = append(own, h)
		}
		if i == 0 {
			for _, h := range own {
				_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add("an element of some length"), nil })
			}
		}
		rs, hs = append(rs, r), append(hs, own)
	}
	for i, r := range rs {
		_ = r.AddPeer(ids[1-i])
		net.Attach(ids[i], r)
	}
	ctx := context.Background()
	done := func() bool {
		for _, h := range hs[1] {
			n := 0
			h.Read(func(s *gset) { n = len(s.elems) })
			if n != 1 {
				return false
			}
		}
		return true
	}
	for round := 0; !done(); round++ {
		if round == 500 {
			t.Fatalf("not caught up after %d rounds: %+v", round, rs[0].Stats().Peers[0])
		}
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	if got := net.Stats().Largest; got > crdt.MinMessageBytes {
		t.Fatalf("a message of %d bytes; the limit is %d", got, crdt.MinMessageBytes)
	}
	if s := rs[0].Stats().Peers[0]; s.ChunksSent == 0 {
		t.Fatalf("the catch-up went without chunks: %+v", s)
	}
}

// Regression: objects are held to MaxMessageBytes when decoding, and a
// saved state may be far larger than any message (states travel in
// parts): restoring it must still work, whether the snapshot holds the
// state plain or compressed.
func TestRestoreStateLargerThanAMessage(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testRestoreStateLargerThanAMessage(t, -1) })
	t.Run("compressed", func(t *testing.T) { testRestoreStateLargerThanAMessage(t, 0) })
}

func testRestoreStateLargerThanAMessage(t *testing.T, compressAbove int) {
	cfg := func() crdt.Config {
		return crdt.Config{ID: "us-east-1", Transport: &recorder{}, Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes, CompressAbove: compressAbove}
	}
	r, err := crdt.NewReplica(cfg())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(r, "set", bigSet(2000))
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	plain, _ := bigSet(2000).MarshalBinary()
	switch {
	case compressAbove < 0 && len(snap) < 10*crdt.MinMessageBytes:
		t.Fatalf("a snapshot of %d bytes: want one far larger than a message", len(snap))
	case compressAbove >= 0 && len(snap) > len(plain)/10:
		t.Fatalf("a snapshot of %d bytes for a state of %d: not compressed", len(snap), len(plain))
	}
	r2, err := crdt.NewReplica(cfg())
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := crdt.Register(r2, "set", orset.New[string]("us-east-1"))
	if err := r2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	h.Read(func(a *orset.Set[string]) {
		h2.Read(func(b *orset.Set[string]) {
			if !a.Equal(b) {
				t.Fatal("restored set differs")
			}
		})
	})
	// The limits are back to a message's for what peers send.
	big, _ := bigSet(2000).MarshalBinary()
	if err := h2.Update(func(b *orset.Set[string]) (crdt.Op, error) { _, err := b.MergeBinary(big); return nil, err }); err == nil {
		t.Fatal("a state larger than a message merged after Restore: the limits were not put back")
	}
}

// A catch-up in chunks cut off by a long partition goes on where it
// stopped once the link heals: it is not started over.
func TestChunkedCatchUpSurvivesLongPartition(t *testing.T) {
	net := memnet.New(3)
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var hs []*crdt.Handle[*orset.Set[string]]
	set := bigSet(5000)
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: 4096, AntiEntropyTicks: -1})
		if err != nil {
			t.Fatal(err)
		}
		s := orset.New[string](id)
		if i == 0 {
			s = set.Clone()
		}
		h, _ := crdt.Register(r, "set", s)
		_ = r.AddPeer(ids[1-i])
		net.Attach(id, r)
		rs, hs = append(rs, r), append(hs, h)
	}
	ctx := context.Background()
	round := func() {
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	for rs[0].Stats().Peers[0].CatchUpChunksLeft == 0 || rs[0].Stats().Peers[0].CatchUpChunksLeft > rs[0].Stats().Peers[0].CatchUpChunks/2 {
		round()
	}
	net.Partition(ids[0], ids[1])
	for range 500 {
		round()
	}
	net.HealAll()
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatalf("no convergence: %+v", rs[0].Stats().Peers[0])
		}
		n := 0
		hs[1].Read(func(s *orset.Set[string]) { n = s.Len() })
		if n == set.Len() && !rs[0].Stats().Peers[0].AwaitingCatchUp {
			break
		}
		round()
	}
	if s := rs[0].Stats().Peers[0]; s.DigestRounds != 1 {
		t.Fatalf("%d catch-ups served: the partition made it start over", s.DigestRounds)
	}
}

// plainSet is a gset that cannot take parts: only the Object methods.
type plainSet struct{ g *gset }

func (p plainSet) MarshalBinary() ([]byte, error)     { return p.g.MarshalBinary() }
func (p plainSet) MergeBinary(b []byte) (bool, error) { return p.g.MergeBinary(b) }
func (p plainSet) ApplyBinary(b []byte) (bool, error) { return p.g.ApplyBinary(b) }

// A peer that keeps refusing a chunk (here: parts for an object that
// cannot take them) while it is heard from makes the catch-up be given up
// and asked for again, not sent forever.
func TestRefusedChunkGivesUp(t *testing.T) {
	net := memnet.New(5)
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	for i, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes, AntiEntropyTicks: -1})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			h, _ := crdt.Register(r, "s", newGSet(id))
			for j := range 100 {
				_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add(fmt.Sprintf("element-%03d", j)), nil })
			}
		} else {
			_, _ = crdt.Register(r, "s", plainSet{newGSet(id)})
		}
		_ = r.AddPeer(ids[1-i])
		net.Attach(id, r)
		rs = append(rs, r)
	}
	ctx := context.Background()
	for range 300 {
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	if s := rs[0].Stats().Peers[0]; s.DigestRounds < 2 || !s.AwaitingCatchUp {
		t.Fatalf("served %d catch-ups, awaiting %v: want the refused one given up and another tried", s.DigestRounds, s.AwaitingCatchUp)
	}
	if got := rs[1].Stats().Peers[0].Refused[crdt.ReasonWrongType]; got == 0 {
		t.Fatalf("refusals %v: want parts refused as of the wrong type", rs[1].Stats().Peers[0].Refused)
	}
}

// A register holding a value larger than a message cannot reach a peer (a
// register is not cut into parts: its one value is what is too large).
// The engine sends no message over the limit, counts the state it could
// not make (StatesFailed), keeps the peer AwaitingCatchUp, and still
// brings the peer every other object.
func TestUncuttableStateLargerThanAMessage(t *testing.T) {
	net := memnet.New(5)
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var notes []*crdt.Handle[*register.MV[string]]
	var sets []*crdt.Handle[*orset.Set[string]]
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			t.Fatal(err)
		}
		n, err := crdt.Register(r, "note", register.NewMV[string](id))
		if err != nil {
			t.Fatal(err)
		}
		s, err := crdt.Register(r, "set", orset.New[string](id))
		if err != nil {
			t.Fatal(err)
		}
		rs, notes, sets = append(rs, r), append(notes, n), append(sets, s)
	}
	for i, r := range rs {
		_ = r.AddPeer(ids[1-i])
		net.Attach(ids[i], r)
	}
	huge := strings.Repeat("x", 3*crdt.MinMessageBytes)
	if err := notes[0].Update(func(m *register.MV[string]) (crdt.Op, error) { return m.Set(huge), nil }); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		_ = sets[0].Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add(fmt.Sprintf("element-%02d", i)), nil })
	}
	ctx := context.Background()
	for range 200 {
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	n := 0
	sets[1].Read(func(s *orset.Set[string]) { n = s.Len() })
	if n != 50 {
		t.Fatalf("the set reached the peer with %d of 50 elements", n)
	}
	notes[1].Read(func(m *register.MV[string]) {
		if len(m.Values()) != 0 {
			t.Fatal("the register's value reached the peer: it fits a message after all")
		}
	})
	if got := net.Stats().Largest; got > crdt.MinMessageBytes {
		t.Fatalf("a message of %d bytes; the limit is %d", got, crdt.MinMessageBytes)
	}
	ps := rs[0].Stats().Peers[0]
	if ps.StatesFailed == 0 || !ps.AwaitingCatchUp || rs[0].Stats().Oversize != 0 {
		t.Fatalf("StatesFailed %d, AwaitingCatchUp %v, Oversize %d: want the failure counted, the peer still owed a catch-up, no message over the limit",
			ps.StatesFailed, ps.AwaitingCatchUp, rs[0].Stats().Oversize)
	}
}

// A bounded counter with more writers' entries than a message holds
// reaches a new peer in chunks (counter.Bounded implements Chunker): the
// peer ends with the same value and entries, no message is over the limit.
func TestBoundedCounterThroughSmallMessages(t *testing.T) {
	net := memnet.New(11)
	net.Loss = 0.1
	ids := []crdt.ReplicaID{"us-east-1", "eu-west-1"}
	var rs []*crdt.Replica
	var hs []*crdt.Handle[*counter.Bounded]
	// Entries of 400 writers that are no longer around, as a restored
	// state would bring them.
	past := counter.NewBounded("", 0)
	for i := range 400 {
		w := counter.NewBounded(crdt.ReplicaID(fmt.Sprintf("writer-%03d", i)), 0)
		if _, err := w.Inc(uint64(i)); err != nil {
			t.Fatal(err)
		}
		past.Merge(w)
	}
	if state, err := past.MarshalBinary(); err != nil || len(state) < 4*crdt.MinMessageBytes {
		t.Fatalf("a state of %d bytes (%v): want several messages' worth", len(state), err)
	}
	for _, id := range ids {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: net.Transport(id), Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			t.Fatal(err)
		}
		b := counter.NewBounded(id, 0)
		if id == ids[0] {
			b.Merge(past)
		}
		h, err := crdt.Register(r, "stock", b)
		if err != nil {
			t.Fatal(err)
		}
		rs, hs = append(rs, r), append(hs, h)
	}
	for i, r := range rs {
		_ = r.AddPeer(ids[1-i])
		net.Attach(ids[i], r)
	}
	ctx := context.Background()
	same := func() bool {
		eq := false
		hs[0].Read(func(a *counter.Bounded) { hs[1].Read(func(b *counter.Bounded) { eq = a.Equal(b) }) })
		return eq
	}
	for round := 0; !same(); round++ {
		if round == 500 {
			t.Fatalf("not caught up after %d rounds: %+v", round, rs[0].Stats().Peers[0])
		}
		for _, r := range rs {
			_ = r.Tick(ctx)
		}
		net.DeliverAll(ctx)
	}
	if got := net.Stats().Largest; got > crdt.MinMessageBytes {
		t.Fatalf("a message of %d bytes; the limit is %d", got, crdt.MinMessageBytes)
	}
	if s := rs[0].Stats().Peers[0]; s.ChunksSent == 0 || s.StatesFailed != 0 {
		t.Fatalf("%d chunks sent, %d states failed: want the counter in chunks", s.ChunksSent, s.StatesFailed)
	}
}
