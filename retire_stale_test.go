package crdt_test

import (
	"context"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/memnet"
)

// recordingReceiver passes messages on to a replica and keeps them.
type recordingReceiver struct {
	r    *crdt.Replica
	msgs [][]byte
}

func (x *recordingReceiver) Receive(ctx context.Context, from crdt.ReplicaID, msg []byte) error {
	x.msgs = append(x.msgs, append([]byte(nil), msg...))
	return x.r.Receive(ctx, from, msg)
}

// A proposal to retire a writer that arrives again after its entry was
// installed (a retransmission delivered late, or twice) is stale, not
// malformed: the replica ignores it, as it does any proposal for a place
// of a list it has filled, and counts nothing against the proposer.
func TestStaleRetirementProposalIsNotRefused(t *testing.T) {
	net := memnet.New(3)
	ctx := context.Background()
	first := startCountNode(t, net, "a", "b", nil)
	b := startCountNode(t, net, "b", "a", nil)
	rounds := roundsOf(net, (*countNode).replica)
	if err := first.count(3); err != nil {
		t.Fatal(err)
	}
	rounds(30, first, b)
	old := first.r.Writer()
	// a restarts from its disk: its first run's writer is finished.
	second := startCountNode(t, net, "a", "b", savedSnapshot(t, first.r))
	rec := &recordingReceiver{r: b.r}
	net.Attach("b", rec)
	runUntilRetired(t, rounds, b, old, second, b)
	rounds(5, second, b)
	// Every message a sent b arrives once more.
	for _, msg := range rec.msgs {
		_ = b.r.Receive(ctx, "a", msg)
	}
	if n := b.r.Stats().Peers[0].Refused[crdt.ReasonMalformed]; n != 0 {
		t.Fatalf("b refused %d of a's messages as malformed, all of them sent by an honest a", n)
	}
}
