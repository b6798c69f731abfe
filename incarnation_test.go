package crdt

import (
	"context"
	"errors"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// stubObject is a DeltaObject that records what it is handed.
type stubObject struct {
	merged  [][]byte
	version []byte
	asked   [][]byte // versions DeltaSinceBinary was asked for
}

func (s *stubObject) MarshalBinary() ([]byte, error) { return []byte{0xc0}, nil }
func (s *stubObject) MergeBinary(b []byte) (bool, error) {
	s.merged = append(s.merged, b)
	return true, nil
}
func (s *stubObject) ApplyBinary([]byte) (bool, error) { return false, nil }
func (s *stubObject) VersionBinary() ([]byte, error)   { return s.version, nil }
func (s *stubObject) DeltaSinceBinary(v []byte) ([]byte, error) {
	s.asked = append(s.asked, v)
	return []byte{0xc0}, nil
}

// sentTo is a Transport that decodes what it is given.
type sentTo struct{ envs []*envelope }

func (s *sentTo) Send(_ context.Context, _ ReplicaID, msg []byte) error {
	e, err := decodeEnvelope(msg, codec.Limits{})
	if err != nil {
		return err
	}
	s.envs = append(s.envs, e)
	return nil
}

func stubReplica(t *testing.T, id ReplicaID, tr Transport) (*Replica, *stubObject) {
	t.Helper()
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	r, err := NewReplica(Config{ID: id, Transport: tr, Clock: clk, AntiEntropyTicks: -1})
	if err != nil {
		t.Fatal(err)
	}
	obj := &stubObject{version: []byte{1}}
	if _, err := Register(r, "obj", obj); err != nil {
		t.Fatal(err)
	}
	if err := r.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	return r, obj
}

func deliver(t *testing.T, r *Replica, e *envelope) error {
	t.Helper()
	msg, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	return r.Receive(context.Background(), e.From, msg)
}

// A digest the peer sent before it restarted may count updates it lost in
// the restart; a delta computed from it would leave them out. Once the
// peer shows up under a new incarnation, the old digest is forgotten and
// a new one asked for.
func TestDigestOfEarlierIncarnationForgotten(t *testing.T) {
	tr := &sentTo{}
	a, obj := stubReplica(t, "a", tr)
	old := &envelope{From: "b", To: "a", Incarnation: 1, HasDigest: true,
		Digest: []digestEntry{{Object: "obj", Version: []byte{9, 9}}}}
	if err := deliver(t, a, old); err != nil {
		t.Fatal(err)
	}
	// b restarts from an older snapshot before a answers.
	if err := deliver(t, a, &envelope{From: "b", To: "a", Incarnation: 2}); err != nil {
		t.Fatal(err)
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(obj.asked) != 0 {
		t.Fatalf("a computed deltas from b's earlier digest: versions %v", obj.asked)
	}
	if len(tr.envs) != 1 || !tr.envs[0].WantDigest || len(tr.envs[0].States) != 0 {
		t.Fatalf("a sent %+v; want one message asking for b's digest, with no states", tr.envs)
	}
}

// Catch-up states in flight when the receiver restarted were computed from
// the digest of its earlier incarnation: they are refused, unmerged.
func TestStatesForEarlierIncarnationRefused(t *testing.T) {
	a, obj := stubReplica(t, "a", &sentTo{})
	e := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation - 1,
		StatesUpTo: 3, States: []stateEntry{{Object: "obj", State: []byte{0xc0}}}}
	if err := deliver(t, a, e); !errors.Is(err, ErrStale) {
		t.Fatalf("Receive = %v, want ErrStale", err)
	}
	if len(obj.merged) != 0 || a.peers["b"].recv != 0 {
		t.Fatalf("stale states merged (%d) or counted (recv %d)", len(obj.merged), a.peers["b"].recv)
	}
	if n := a.Stats().Peers[0].Refused[ReasonStale]; n != 1 {
		t.Fatalf("refused as stale: %d, want 1", n)
	}
	// The same states for this incarnation are merged.
	e.AckInc = a.incarnation
	if err := deliver(t, a, e); err != nil {
		t.Fatal(err)
	}
	if len(obj.merged) != 1 || a.peers["b"].recv != 3 {
		t.Fatalf("merged %d, recv %d; want 1 and 3", len(obj.merged), a.peers["b"].recv)
	}
}
