package crdt

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with the hex dump in testdata/name, or rewrites it
// with -update, so that a change of the wire format is a reviewed diff.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(hex.Dump(got)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), hex.Dump(got)); d != "" {
		t.Fatalf("%s changed (-want +got):\n%s", name, d)
	}
}

func fullEnvelope() *envelope {
	return &envelope{
		From:        "us-east-1",
		To:          "eu-west-1",
		Incarnation: 7,
		Now:         clock.Timestamp{Wall: 1_795_000_000_000_000_000, Logical: 2},
		AckInc:      9,
		AckSeq:      41,
		CatchUpAck:  5,
		WantDigest:  true,
		FirstSeq:    42,
		Ops:         []opEntry{{"cart", []byte{1, 2}}, {"todos", []byte{3}}, {"cart", []byte{4}}},
		HasDigest:   true,
		Digest:      []digestEntry{{"cart", []byte{5}, []byte{6}}, {"count", nil, nil}},
		StatesUpTo:  44,
		CatchUp:     6,
		States:      []stateEntry{{"cart", []byte{7, 8, 9}}},
	}
}

func broadcastEnvelope() *envelope {
	return &envelope{
		From:        "us-east-1",
		Incarnation: 7,
		Now:         clock.Timestamp{Wall: 1_795_000_000_000_000_000, Logical: 2},
		Broadcast:   true,
		Recipients:  []recipient{{"ap-south-1", 3, 10, 0}, {"eu-west-1", 9, 41, 2}},
		FirstSeq:    42,
		Ops:         []opEntry{{"cart", []byte{1, 2}}, {"todos", []byte{3}}},
	}
}

func TestBroadcastEnvelopeGolden(t *testing.T) {
	b, err := broadcastEnvelope().encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "broadcast.golden", b)
}

// A broadcast must name its recipients in order, once each, and carry only
// ops and acknowledgements; anything else is refused.
func TestBroadcastEnvelopeRefusals(t *testing.T) {
	for name, edit := range map[string]func(e *envelope){
		"no recipients":      func(e *envelope) { e.Recipients = nil },
		"out of order":       func(e *envelope) { slices.Reverse(e.Recipients) },
		"repeated":           func(e *envelope) { e.Recipients[1].ID = e.Recipients[0].ID },
		"sender as receiver": func(e *envelope) { e.Recipients[1].ID = e.From },
		"digest":             func(e *envelope) { e.HasDigest, e.Digest = true, []digestEntry{{"cart", []byte{1}, nil}} },
		"want digest":        func(e *envelope) { e.WantDigest = true },
		"states":             func(e *envelope) { e.StatesUpTo, e.States = 3, []stateEntry{{"cart", []byte{1}}} },
		"states up to":       func(e *envelope) { e.StatesUpTo = 3 },
		"catch-up number":    func(e *envelope) { e.CatchUp = 3 },
	} {
		e := broadcastEnvelope()
		edit(e)
		b, err := e.encode()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var de *codec.DecodeError
		if _, err := decodeEnvelope(b, codec.Limits{}); !errors.As(err, &de) {
			t.Errorf("%s: decoded with error %v, want a *codec.DecodeError", name, err)
		}
	}

	// The addressee is nil exactly when the broadcast flag is set. Flip
	// the flag of each kind of message by hand: both are refused.
	flip := func(e *envelope, flagsThenNext []byte, flags byte) {
		t.Helper()
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		i := bytes.Index(b, flagsThenNext)
		if i < 0 {
			t.Fatalf("no % x in % x", flagsThenNext, b)
		}
		b[i+3] = flags
		var de *codec.DecodeError
		if _, err := decodeEnvelope(b, codec.Limits{}); !errors.As(err, &de) || !strings.Contains(err.Error(), "disagree") {
			t.Errorf("flags %#x on % x: %v, want the addressee refused", flags, b, err)
		}
	}
	// Acknowledgements 0, 0, 0, flags 4, then the recipient array of 8
	// fields.
	flip(broadcastEnvelope(), []byte{0x00, 0x00, 0x00, flagBroadcast, 0x98}, 0)
	// Acknowledgements 0, 0, 0, flags 0, then the empty object table.
	flip(&envelope{From: "a", To: "b", Incarnation: 1}, []byte{0x00, 0x00, 0x00, 0x00, 0x90}, flagBroadcast)
}

func TestEnvelopeGolden(t *testing.T) {
	b, err := fullEnvelope().encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope.golden", b)
	// The bytes start with the format version and the engine's kind, and
	// name each replica once.
	if b[0] != codec.Version || codec.Kind(b[1]) != codec.KindEngine {
		t.Fatalf("header % x, want version %d and kind %#x", b[:2], codec.Version, codec.KindEngine)
	}
	if n := strings.Count(string(b), "us-east-1"); n != 1 {
		t.Fatalf("replica ID written %d times, want once", n)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []*envelope{fullEnvelope(), broadcastEnvelope(), {From: "a", To: "b", Incarnation: 1}} {
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEnvelope(b, codec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(e, got, cmp.AllowUnexported(envelope{}, opEntry{}, digestEntry{}, stateEntry{})); d != "" {
			t.Fatalf("round trip (-sent +received):\n%s", d)
		}
	}
}

func TestEnvelopeRefusesTruncation(t *testing.T) {
	for _, e := range []*envelope{fullEnvelope(), broadcastEnvelope()} {
		refusesTruncation(t, e)
	}
}

func refusesTruncation(t *testing.T, e *envelope) {
	t.Helper()
	b, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		var de *codec.DecodeError
		if _, err := decodeEnvelope(b[:n], codec.Limits{}); !errors.As(err, &de) {
			t.Fatalf("truncated to %d bytes: %v, want a *codec.DecodeError", n, err)
		}
	}
}

// The snapshot format is pinned too: a host restores snapshots written by
// earlier versions of the library.
func TestSnapshotGolden(t *testing.T) {
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	r, err := NewReplica(Config{ID: "us-east-1", Transport: nopTransport{}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	r.incarnation = 3 // fixed, not the clock's reading, for stable bytes
	if err := r.AddPeer("eu-west-1"); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.appendGroup([]txOp{{"cart", []byte{1, 2, 3}}, {"todos", []byte{4}}})
	r.peers["eu-west-1"].rinc, r.peers["eu-west-1"].recv = 5, 9
	r.peers["eu-west-1"].markReceived(12)
	r.mu.Unlock()
	b, err := r.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "snapshot.golden", b)
}

type nopTransport struct{}

func (nopTransport) Send(_ context.Context, _ ReplicaID, _ []byte) error { return nil }
