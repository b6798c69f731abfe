package crdt

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// applyCounter is a stubObject that counts the ops applied to it.
type applyCounter struct {
	stubObject
	applied int
}

func (a *applyCounter) ApplyBinary([]byte) (bool, error) { a.applied++; return true, nil }

// Hostile peer: a run of ops numbered past 2^64-1. Its numbers wrapped
// around to 0 and the ops after the wrap were taken for ops applied long
// ago; the message is now refused whole as malformed, and nothing is
// applied.
func TestHostileOpNumbersWrapAround(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	obj := &applyCounter{}
	a.objects["counted"] = obj
	ops := []opEntry{{Object: "counted", Op: []byte{0xc0}}, {Object: "counted", Op: []byte{0xc0}}}
	for _, first := range []uint64{math.MaxUint64, math.MaxUint64 - 1} {
		e := &envelope{From: "b", To: "a", Incarnation: 1, FirstSeq: first, Ops: ops}
		msg, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		err = a.Receive(context.Background(), "b", msg)
		var de *codec.DecodeError
		switch {
		case first == math.MaxUint64 && !errors.As(err, &de):
			t.Fatalf("ops numbered from %d: Receive = %v, want a *codec.DecodeError", first, err)
		case first == math.MaxUint64 && obj.applied != 0:
			t.Fatalf("ops numbered past 2^64-1: %d applied", obj.applied)
		case first < math.MaxUint64 && (err != nil || obj.applied != 2):
			t.Fatalf("ops numbered up to 2^64-1: Receive = %v, %d applied, want both", err, obj.applied)
		}
	}
	if got := a.Stats().Peers[0].Refused[ReasonMalformed]; got != 1 {
		t.Fatalf("%d refused as malformed, want 1", got)
	}
}
