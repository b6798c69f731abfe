package crdt

import (
	"errors"
	"testing"
)

// An acknowledgement of ops or a catch-up never sent is refused whole and
// counted in the first message of a run of the peer too (its first
// contact, or the first message after it restarted), as it is in any
// later one; the peer is not switched to that run.
func TestAckOfUnsentOpsInNewRunRefused(t *testing.T) {
	for name, first := range map[string]bool{"first contact": true, "restart": false} {
		a, _ := stubReplica(t, "a", &sentTo{})
		if !first {
			if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 1}); err != nil {
				t.Fatal(err)
			}
		}
		rinc := a.peers["b"].rinc
		for _, forged := range []*envelope{
			{From: "b", To: "a", Incarnation: 2, AckInc: a.incarnation, AckSeq: 5},
			{From: "b", To: "a", Incarnation: 2, AckInc: a.incarnation, CatchUpAck: 7},
		} {
			if err := deliver(t, a, forged); !errors.Is(err, ErrBadAck) {
				t.Errorf("%s: Receive of %+v = %v, want ErrBadAck", name, forged, err)
			}
		}
		if got := a.Stats().Peers[0].Refused[ReasonAck]; got != 2 {
			t.Errorf("%s: refused %d bad acknowledgements, want 2", name, got)
		}
		if p := a.peers["b"]; p.rinc != rinc {
			t.Errorf("%s: switched to run %d on a refused message, want %d", name, p.rinc, rinc)
		}
	}
}
