package crdt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/orset"
	"github.com/activeactive/crdt/vclock"
)

// orsetPair makes replicas a and b, peers of each other, each with an
// orset.Set[string] "s"; a draws its epoch from entropy.
func orsetPair(t *testing.T, entropy []byte) (a *crdt.Replica, ha *crdt.Handle[*orset.Set[string]], rec *recorder, b *crdt.Replica, hb *crdt.Handle[*orset.Set[string]]) {
	t.Helper()
	rec = &recorder{}
	a, err := crdt.NewReplica(crdt.Config{ID: "us-east-1", Transport: rec, Clock: testClock(), Entropy: bytes.NewReader(entropy)})
	if err != nil {
		t.Fatal(err)
	}
	b, err = crdt.NewReplica(crdt.Config{ID: "eu-west-1", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	ha, _ = crdt.Register(a, "s", orset.New[string](a.ID()))
	hb, _ = crdt.Register(b, "s", orset.New[string](b.ID()))
	_ = a.AddPeer(b.ID())
	_ = b.AddPeer(a.ID())
	return a, ha, rec, b, hb
}

// Goal of issue 8: one add op of a 10-byte key costs at most 24 bytes
// inside the engine too. The op names its writer by reference to the
// message, which names the sender's epoch once; the receiver applies it
// as the writer's own.
func TestAddOpInsideMessageLeavesOutItsWriter(t *testing.T) {
	a, ha, rec, b, hb := orsetPair(t, []byte{0, 0, 0, 0, 0, 0, 0x30, 0x39}) // epoch 12345
	if a.Writer() != "us-east-1!9ix" {
		t.Fatalf("writer %q", a.Writer())
	}
	if err := ha.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("0123456789"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg := rec.msgs[0]
	if strings.Contains(string(msg), string(a.Writer())) {
		t.Fatalf("the writer %q is spelled out in % x", a.Writer(), msg)
	}
	// Alone the op is version 1, kind 0x31, the writer (0xad and its 13
	// bytes), the key (0xaa and 10 bytes) and sequence number 1: 28
	// bytes. In the message it is 15: the reference (0xc0) replaces the
	// writer; its bin header (0xc4 0x0f) is the message's framing.
	op := append([]byte{0xc4, 15, 0x01, 0x31, 0xc0, 0xaa}, "0123456789"...)
	op = append(op, 0x01)
	if !bytes.Contains(msg, op) {
		t.Fatalf("no % x in % x", op, msg)
	}
	// The epoch travels once, after the first sequence number: 1, then
	// 12345 as 0xcd 30 39.
	if !bytes.Contains(msg, []byte{0x01, 0xcd, 0x30, 0x39}) {
		t.Fatalf("no epoch in % x", msg)
	}
	if err := b.Receive(context.Background(), a.ID(), msg); err != nil {
		t.Fatal(err)
	}
	var got []string
	var from uint64
	hb.Read(func(s *orset.Set[string]) {
		got = slices.Sorted(s.All())
		from = s.Version().Get(a.Writer())
	})
	if len(got) != 1 || got[0] != "0123456789" || from != 1 {
		t.Fatalf("b holds %v, with %d writes of %s", got, from, a.Writer())
	}
}

// A replica restarted from a snapshot that holds ops not yet sent ships
// them under its earlier writer, whole, and its new ops by reference to
// its new writer; the peer takes both as the writers' own.
func TestOpsOfAnEarlierRunTravelWhole(t *testing.T) {
	a, ha, _, _, _ := orsetPair(t, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	if err := ha.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("old"), nil }); err != nil {
		t.Fatal(err)
	}
	var snap []byte
	if err := a.SaveSnapshot(func(b []byte) error { snap = bytes.Clone(b); return nil }); err != nil {
		t.Fatal(err)
	}
	earlier := a.Writer()

	a2, ha2, rec, b, hb := orsetPair(t, []byte{0, 0, 0, 0, 0, 0, 0, 2})
	if err := a2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := ha2.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("new"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := a2.SaveSnapshot(func([]byte) error { return nil }); err != nil { // ops leave once saved
		t.Fatal(err)
	}
	if err := a2.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	var sent []byte
	for _, m := range rec.msgs {
		if bytes.Contains(m, []byte("new")) {
			sent = m
		}
	}
	if sent == nil {
		t.Fatalf("no message carries the new op: %d messages", len(rec.msgs))
	}
	if !strings.Contains(string(sent), string(earlier)) || strings.Contains(string(sent), string(a2.Writer())) {
		t.Fatalf("message % x: want %q spelled out and %q by reference", sent, earlier, a2.Writer())
	}
	if err := b.Receive(context.Background(), a2.ID(), sent); err != nil {
		t.Fatal(err)
	}
	var got []string
	hb.Read(func(s *orset.Set[string]) { got = slices.Sorted(s.All()) })
	if strings.Join(got, ",") != "new,old" {
		t.Fatalf("b holds %v, want [new old]", got)
	}
}

// A message of the first format version (every op whole, no epoch), as a
// replica of an earlier release sends it, is still applied.
func TestVersion1MessageStillApplies(t *testing.T) {
	a, ha, rec, b, hb := orsetPair(t, []byte{0, 0, 0, 0, 0, 0, 0, 1})
	if err := ha.Update(func(s *orset.Set[string]) (crdt.Op, error) { return s.Add("x"), nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	m1, err := crdt.AsVersion1(rec.msgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if m1[0] != 1 || !strings.Contains(string(m1), string(a.Writer())) {
		t.Fatalf("version-1 message % x: want version 1 and the writer spelled out", m1)
	}
	if err := b.Receive(context.Background(), a.ID(), m1); err != nil {
		t.Fatal(err)
	}
	var got []string
	hb.Read(func(s *orset.Set[string]) { got = slices.Sorted(s.All()) })
	if len(got) != 1 || got[0] != "x" {
		t.Fatalf("b holds %v, want [x]", got)
	}
}

// Every op that leaves out the sender's writer gets it back: a message of
// many tiny ops costs allocation linear in its size only because the
// writer is a valid name, at most 255 bytes and an epoch; a longer one is
// refused.
func TestOpsLeavingOutTheWriterCostLinearWork(t *testing.T) {
	for _, n := range []int{255, 256, 4000} {
		name := crdt.ReplicaID(strings.Repeat("a", n))
		writer := vclock.Writer(name, math.MaxUint64)
		op := append([]byte{0x01, 0x31, 0xd9, byte(len(writer))}, writer...)
		if len(writer) > 255 {
			op = binary.BigEndian.AppendUint16([]byte{0x01, 0x31, 0xda}, uint16(len(writer)))
			op = append(op, writer...)
		}
		f := crdt.Forgery{From: name, To: "b", Incarnation: 1, FirstSeq: 1, Writer: writer}
		for range 20000 {
			f.Ops = append(f.Ops, crdt.ForgedEntry{Object: "s", Bytes: op})
		}
		msg, err := crdt.Forge(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > 20000*7+2*len(writer)+100 {
			t.Fatalf("%d bytes: the ops did not leave out their writer", len(msg))
		}
		var recvErr error
		checkCost(t, len(msg), func() {
			b, _ := receiver(t, func(c *crdt.Config) { c.MaxMessageBytes = 1 << 22 })
			recvErr = b.Receive(context.Background(), name, msg)
		})
		if n <= 255 && !errors.Is(recvErr, crdt.ErrUnknownPeer) {
			t.Fatalf("name of %d bytes: %v, want the message decoded and refused as from an unknown peer", n, recvErr)
		}
		if n > 255 && (recvErr == nil || !strings.Contains(recvErr.Error(), "sender's writer")) {
			t.Fatalf("name of %d bytes: %v, want the writer refused", n, recvErr)
		}
	}
}
