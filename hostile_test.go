package crdt

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// pickyObject is a stubObject whose DeltaSinceBinary refuses versions it
// cannot decode, as every real type does.
type pickyObject struct{ stubObject }

func (p *pickyObject) DeltaSinceBinary(v []byte) ([]byte, error) {
	if len(v) == 0 || v[0] == 0xff {
		return nil, &codec.DecodeError{Kind: codec.KindClock, Reason: "not a version", Err: codec.ErrMalformed}
	}
	return p.stubObject.DeltaSinceBinary(v)
}

type rawOp []byte

func (o rawOp) MarshalBinary() ([]byte, error) { return o, nil }

// Regression (accident 7): a digest whose version cannot be decoded made the
// catch-up skip the object yet declare every op delivered, so the peer
// lacked them for good once anti-entropy was off. Now the bad version is
// counted, the catch-up is not numbered or counted as delivered, and the
// peer is asked for its digest again.
func TestRegressionUndecodableDigestNotCountedDelivered(t *testing.T) {
	tr := &sentTo{}
	a, _ := stubReplica(t, "a", tr)
	obj := &pickyObject{stubObject{version: []byte{1}}}
	a.objects["obj"] = obj
	h := &Handle[*pickyObject]{r: a, name: "obj", obj: obj}
	if err := h.Update(func(*pickyObject) (Op, error) { return rawOp{1}, nil }); err != nil {
		t.Fatal(err)
	}
	bad := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "obj", Version: []byte{0xff}}}}
	if err := deliver(t, a, bad); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.envs {
		if e.CatchUp != 0 || e.StatesUpTo != 0 {
			t.Fatalf("a declared a catch-up (number %d, up to %d) from an undecodable digest", e.CatchUp, e.StatesUpTo)
		}
	}
	p := a.peers["b"]
	if !p.awaitDig || p.stats.refused[ReasonMalformed] != 1 {
		t.Fatalf("awaitDig %v, refused %v; want the peer still owed a catch-up and one malformed version counted", p.awaitDig, p.stats.refused)
	}
	// A good digest then gets a numbered catch-up, which b confirms.
	good := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "obj", Version: []byte{0}}}}
	if err := deliver(t, a, good); err != nil {
		t.Fatal(err)
	}
	tr.envs = nil
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tr.envs) != 1 || tr.envs[0].CatchUp == 0 || tr.envs[0].StatesUpTo != a.seq {
		t.Fatalf("after a good digest a sent %+v; want a numbered catch-up up to %d", tr.envs, a.seq)
	}
	ack := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation, AckSeq: a.seq, CatchUpAck: tr.envs[0].CatchUp}
	if err := deliver(t, a, ack); err != nil {
		t.Fatal(err)
	}
	if p.awaitDig {
		t.Fatal("the confirmed catch-up did not settle the peer")
	}
}

// Regression (issue 9, finding 9): acknowledgements were checked against
// the last op made, not what was sent; a peer acknowledged ops a persisting
// replica had not saved, hence not sent, and they were never sent. Such an
// acknowledgement, and one of a catch-up never sent, is refused whole and
// counted.
func TestRegressionAckOfUnsentOps(t *testing.T) {
	tr := &sentTo{}
	a, obj := stubReplica(t, "a", tr)
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 1}); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveSnapshot(func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	h := &Handle[*stubObject]{r: a, name: "obj", obj: obj}
	for range 2 {
		if err := h.Update(func(*stubObject) (Op, error) { return rawOp{1}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	_ = a.Tick(context.Background()) // nothing saved: nothing shipped
	for _, forged := range []*envelope{
		{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation, AckSeq: 2},
		{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation, CatchUpAck: 7},
	} {
		if err := deliver(t, a, forged); !errors.Is(err, ErrBadAck) {
			t.Fatalf("Receive of %+v = %v, want ErrBadAck", forged, err)
		}
	}
	st := a.Stats().Peers[0]
	if st.PendingOps != 2 || st.Refused[ReasonAck] != 2 {
		t.Fatalf("pending %d, refused %v; want 2 pending and 2 bad acknowledgements", st.PendingOps, st.Refused)
	}
	// Saved, the ops leave, and their real acknowledgement counts.
	if err := a.SaveOps(func([]byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation, AckSeq: 2}); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats().Peers[0]; st.PendingOps != 0 {
		t.Fatalf("pending %d after the real acknowledgement", st.PendingOps)
	}
}

// Regression (issue 9, finding 8): one message claiming to be peer b with
// incarnation 2^64-1 made every real message of b stale, even after a
// restart (the value was saved in the snapshot). No incarnation makes
// another stale any more: a change of incarnation, up or down, makes the
// replica start over with the peer.
func TestRegressionIncarnationLockOut(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	real := &envelope{From: "b", To: "a", Incarnation: 1_795_000_000_000_000_000 - 1}
	if err := deliver(t, a, real); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: math.MaxUint64}); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, a, real); err != nil {
		t.Fatalf("b's real incarnation after a forged one: %v", err)
	}
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: math.MaxUint64}); err != nil {
		t.Fatal(err)
	}
	snap, err := a.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := stubReplica(t, "a", &sentTo{})
	if err := a2.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, a2, real); err != nil {
		t.Fatalf("b's real incarnation after a restart: %v", err)
	}
	if p := a2.peers["b"]; p.rinc != real.Incarnation || p.stats.refused[ReasonStale] != 0 {
		t.Fatalf("b at incarnation %d, refused %v; want b's real incarnation and nothing refused", p.rinc, p.stats.refused)
	}
}

// Regression (issue 9, finding 1): a digest naming one object thousands of
// times made one tick compute that object's catch-up state once per entry,
// under the replica's lock. A digest must name each object once, in order;
// anything else is refused whole before any state is computed.
func TestRegressionDigestAmplification(t *testing.T) {
	a, obj := stubReplica(t, "a", &sentTo{})
	d := make([]digestEntry, 2000)
	for i := range d {
		d[i] = digestEntry{Object: "obj", Version: []byte{0}}
	}
	err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true, Digest: d})
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("Receive = %v, want a *codec.DecodeError", err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(obj.asked) != 0 {
		t.Fatalf("computed %d deltas from a refused digest", len(obj.asked))
	}
	if n := a.Stats().Peers[0].Refused[ReasonMalformed]; n != 1 {
		t.Fatalf("refused as malformed: %d, want 1", n)
	}
}
