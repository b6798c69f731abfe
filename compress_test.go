package crdt_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/orset"
)

// A peer's catch-up state in the compressed form is merged like the plain
// one; one whose plain form would exceed MaxMessageBytes, or that is
// damaged, is refused whole with its reason counted, and nothing changes.
func TestCompressedStateFromAPeer(t *testing.T) {
	r, err := crdt.NewReplica(crdt.Config{ID: "a", Transport: &recorder{}, Clock: testClock(), MaxMessageBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(r, "set", orset.New[string]("a"))
	_ = r.AddPeer("b")
	state := func(n int) []byte {
		s := orset.New[string]("b")
		for i := range n {
			s.Add(fmt.Sprintf("element-%06d", i))
		}
		plain, err := s.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		z, ok := codec.Compress(plain)
		if !ok {
			t.Fatal("not compressed")
		}
		return z
	}
	catchUp := 0
	send := func(z []byte) error {
		catchUp++
		msg, err := crdt.Forge(crdt.Forgery{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(),
			StatesUpTo: 0, CatchUp: uint64(catchUp), States: []crdt.ForgedEntry{{Object: "set", Bytes: z}}})
		if err != nil {
			t.Fatal(err)
		}
		return r.Receive(context.Background(), "b", msg)
	}
	size := func() (n int) {
		h.Read(func(s *orset.Set[string]) { n = s.Len() })
		return n
	}
	refused := func(reason string) uint64 { return r.Stats().Peers[0].Refused[reason] }

	// 5,000 elements: 75 KB plain, over the 4 KiB limit, in a few hundred
	// bytes.
	big := state(5000)
	if len(big) > 1024 {
		t.Fatalf("compressed state of %d bytes", len(big))
	}
	_ = send(big)
	if size() != 0 || refused(crdt.ReasonTooLarge) != 1 {
		t.Fatalf("a state of 75 KB plain: %d elements merged, refusals %v", size(), r.Stats().Peers[0].Refused)
	}
	damaged := state(200)
	damaged[len(damaged)-3] ^= 0xff // inside the DEFLATE stream
	_ = send(damaged)
	if size() != 0 || refused(crdt.ReasonMalformed) != 1 {
		t.Fatalf("a damaged state: %d elements merged, refusals %v", size(), r.Stats().Peers[0].Refused)
	}
	if err := send(state(200)); err != nil {
		t.Fatal(err)
	}
	if size() != 200 {
		t.Fatalf("a compressed state within the limit: %d of 200 elements merged", size())
	}
}
