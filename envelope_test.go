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
		Digest:      []digestEntry{{"cart", []byte{5}, []byte{6}, 0xfeedface, true}, {"count", nil, nil, 0, false}},
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

// testWriter is the sender's writer in the envelopes of the second
// format: "us-east-1" and epoch 12345, "9ix" in base 36.
const testWriter = ReplicaID("us-east-1!9ix")

// writerOp is an op of testWriter in the codec's framing, an OR-Set add
// of "x" with sequence number 1: version 1, kind 0x31, the one-entry
// replica table as a bare string (0xad and 13 bytes), "x" (0xa1 'x'), 1.
var writerOp = append(append([]byte{0x01, 0x31, 0xad}, testWriter...), 0xa1, 'x', 0x01)

// withWriterOps gives e the sender's writer and two more ops: one of the
// writer, which travels without it, and one of an earlier run of the
// sender, which travels whole.
func withWriterOps(e *envelope) *envelope {
	e.Writer = testWriter
	earlier := append(append([]byte{0x01, 0x31, 0xad}, "us-east-1!8zz"...), 0xa1, 'y', 0x07)
	e.Ops = append(e.Ops, opEntry{"cart", writerOp}, opEntry{"cart", earlier})
	return e
}

func TestBroadcastEnvelopeGolden(t *testing.T) {
	b, err := withWriterOps(broadcastEnvelope()).encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "broadcast_v2.golden", b)
}

// A broadcast must name its recipients in order, once each, and carry only
// ops and acknowledgements; anything else is refused.
func TestBroadcastEnvelopeRefusals(t *testing.T) {
	for name, edit := range map[string]func(e *envelope){
		"no recipients":      func(e *envelope) { e.Recipients = nil },
		"out of order":       func(e *envelope) { slices.Reverse(e.Recipients) },
		"repeated":           func(e *envelope) { e.Recipients[1].ID = e.Recipients[0].ID },
		"sender as receiver": func(e *envelope) { e.Recipients[1].ID = e.From },
		"digest":             func(e *envelope) { e.HasDigest, e.Digest = true, []digestEntry{{"cart", []byte{1}, nil, 0, false}} },
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
		b = seal(b[:len(b)-crcSize]) // a consistent frame, to reach the check
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
	b, err := withWriterOps(fullEnvelope()).encode()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "envelope_v2.golden", b)
	// The bytes start with the format version and the engine's kind, and
	// name each replica once; the writer's op names its writer by
	// reference, the other op spells its own.
	if b[0] != 2 || codec.Kind(b[1]) != codec.KindEngineSealed {
		t.Fatalf("header % x, want version 2 and kind %#x", b[:2], codec.KindEngineSealed)
	}
	if n := strings.Count(string(b), "us-east-1"); n != 2 || strings.Contains(string(b), string(testWriter)) {
		t.Fatalf("replica ID written %d times, want twice, and the writer not at all", n)
	}
	// The writer's op travels as version, kind, the reference (nil), "x"
	// and 1, after its object's index times two plus one (cart is object
	// 0) and a bin header of 6 bytes; its epoch (12345, 0xcd 30 39)
	// follows the first sequence number (42).
	for _, want := range [][]byte{{0x01, 0xc4, 0x06, 0x01, 0x31, 0xc0, 0xa1, 'x', 0x01}, {0x2a, 0xcd, 0x30, 0x39}} {
		if !bytes.Contains(b, want) {
			t.Fatalf("no % x in % x", want, b)
		}
	}
}

// An op of the sender's writer costs, inside a message, what it costs
// alone less its writer's name and epoch (the message names them once),
// plus one byte.
func TestEnvelopeOpLeavesOutItsWriter(t *testing.T) {
	alone := &envelope{From: "us-east-1", To: "eu-west-1", Incarnation: 1, FirstSeq: 1,
		Ops: []opEntry{{"cart", writerOp}}}
	b1, err := alone.encode()
	if err != nil {
		t.Fatal(err)
	}
	alone.Writer = testWriter
	b2, err := alone.encode()
	if err != nil {
		t.Fatal(err)
	}
	// The epoch costs 3 bytes (0xcd 30 39) once; the op saves the
	// writer's 14 bytes less the reference's one.
	if want := len(b1) - 13 + 3; len(b2) != want {
		t.Fatalf("%d bytes with the writer by reference, %d without; want %d", len(b2), len(b1), want)
	}
	got, err := decodeEnvelope(b2, codec.Limits{})
	if err != nil || !bytes.Equal(got.Ops[0].Op, writerOp) || got.Writer != testWriter {
		t.Fatalf("decoded %+v, %v; want the op whole", got, err)
	}
}

// The writer's reference is refused where the message names no writer,
// and an op the reference cannot be put back in is refused with its
// message.
func TestEnvelopeRefusesBadReferences(t *testing.T) {
	e := withWriterOps(&envelope{From: "us-east-1", To: "eu-west-1", Incarnation: 1, FirstSeq: 1})
	b, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func([]byte) []byte{
		// Flags 0x40 (the writer) cleared: the reference names nothing,
		// and the epoch is read as the op list.
		"no writer": func(b []byte) []byte {
			i := bytes.Index(b, []byte{0x00, 0x00, 0x00, flagWriter, 0x91})
			b[i+3] = 0
			return b
		},
		// The short op's reference (after 01 31) turned into a second
		// string "x": no reference left.
		"no reference": func(b []byte) []byte {
			i := bytes.Index(b, []byte{0x01, 0x31, 0xc0})
			b[i+2] = 0x90 // an empty table
			return b
		},
	} {
		bad := edit(slices.Clone(b))
		bad = seal(bad[:len(bad)-crcSize])
		var de *codec.DecodeError
		if got, err := decodeEnvelope(bad, codec.Limits{}); !errors.As(err, &de) {
			t.Errorf("%s: decoded %+v, %v; want a *codec.DecodeError", name, got, err)
		}
	}
	// A writer that is not the sender's name and an epoch is never written.
	e.Writer = "eu-west-1!9ix"
	if _, err := e.encode(); err == nil {
		t.Error("encoded a message whose writer is another replica's")
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, e := range []*envelope{fullEnvelope(), broadcastEnvelope(), {From: "a", To: "b", Incarnation: 1},
		withWriterOps(fullEnvelope()), withWriterOps(broadcastEnvelope())} {
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
	for _, e := range []*envelope{fullEnvelope(), broadcastEnvelope(), withWriterOps(fullEnvelope())} {
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

// A snapshot of the second format, which did not say what it holds of
// the journal, still restores; Replay then treats records as that format
// did: records of earlier runs are held, and a record of received changes
// alone right after the snapshot's last op is applied.
func TestSnapshotSecondFormatStillRestores(t *testing.T) {
	r, err := NewReplica(Config{ID: "us-east-1", Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(readGolden(t, "snapshot_v2.golden")); err != nil {
		t.Fatal(err)
	}
	p := r.peers["eu-west-1"]
	if r.seq != 2 || p == nil || p.rinc != 5 || p.recv != 9 || !p.received(12) || p.received(11) {
		t.Fatalf("restored seq %d, peer %+v; want seq 2 and eu-west-1 at incarnation 5, ops up to 9 and 12", r.seq, p)
	}
	if r.snapExact || r.pos != (journalPos{inc: 3, next: 3}) {
		t.Fatalf("journal position %+v (exact %v), want op 3 of run 3, changes unnumbered", r.pos, r.snapExact)
	}
}

type nopTransport struct{}

func (nopTransport) Send(_ context.Context, _ ReplicaID, _ []byte) error { return nil }

// readGolden returns the bytes of a hex dump in testdata, as golden writes
// them.
func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	dump, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for line := range strings.Lines(string(dump)) {
		// "00000000  01 60 a9 ...  |.`.|": the bytes sit between the offset
		// and the two spaces before the text column.
		if len(line) < 10 {
			continue
		}
		hexPart, _, _ := strings.Cut(line[10:], "  |")
		b, err := hex.DecodeString(strings.ReplaceAll(strings.ReplaceAll(hexPart, " ", ""), "\n", ""))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, b...)
	}
	return out
}

// Checksummed messages of the first format version, written before ops
// could leave out their writer, still decode.
func TestEnvelopeSealedVersion1StillDecodes(t *testing.T) {
	for name, want := range map[string]*envelope{"envelope.golden": fullEnvelope(), "broadcast.golden": broadcastEnvelope()} {
		b := readGolden(t, name)
		if b[0] != 1 {
			t.Fatalf("%s: version %d, want 1", name, b[0])
		}
		// The layout of version 1 is still written, for tests: the same
		// bytes.
		if again, err := want.encodeAs(1); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("%s: version 1 written again as % x, %v", name, again, err)
		}
		got, err := decodeEnvelope(b, codec.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got, cmp.AllowUnexported(envelope{}, opEntry{}, digestEntry{}, stateEntry{})); d != "" {
			t.Fatalf("%s (-want +got):\n%s", name, d)
		}
	}
	// The first version had no writer: its flag is refused there.
	b := readGolden(t, "broadcast.golden")
	i := bytes.Index(b, []byte{0x00, 0x00, 0x00, flagBroadcast, 0x98})
	b[i+3] |= flagWriter
	b = seal(b[:len(b)-crcSize])
	if _, err := decodeEnvelope(b, codec.Limits{}); err == nil || !strings.Contains(err.Error(), "unknown flags") {
		t.Fatalf("version 1 with the writer's flag: %v, want unknown flags", err)
	}
}

// Messages of the first format, written before messages were checksummed,
// still decode: replicas of both versions talk during a rolling upgrade.
func TestEnvelopeFirstFormatStillDecodes(t *testing.T) {
	for name, want := range map[string]*envelope{"envelope_v1.golden": fullEnvelope(), "broadcast_v1.golden": broadcastEnvelope()} {
		for i := range want.Digest {
			want.Digest[i].Fingerprint, want.Digest[i].HasFingerprint = 0, false // the first format has none
		}
		got, err := decodeEnvelope(readGolden(t, name), codec.Limits{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if d := cmp.Diff(want, got, cmp.AllowUnexported(envelope{}, opEntry{}, digestEntry{}, stateEntry{})); d != "" {
			t.Fatalf("%s (-want +got):\n%s", name, d)
		}
	}
}

// One flipped bit anywhere in a message, in transit or in a buffer, is
// refused before anything is decoded (accident: a replica ID "a" turned
// into "c" by one flip was stored as another replica's write).
func TestEnvelopeRefusesEveryBitFlip(t *testing.T) {
	for _, e := range []*envelope{fullEnvelope(), broadcastEnvelope(), withWriterOps(broadcastEnvelope())} {
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(b) * 8 {
			flipped := slices.Clone(b)
			flipped[i/8] ^= 1 << (i % 8)
			var de *codec.DecodeError
			if got, err := decodeEnvelope(flipped, codec.Limits{}); !errors.As(err, &de) {
				t.Fatalf("bit %d flipped: decoded %+v, err %v; want a *codec.DecodeError", i, got, err)
			}
		}
	}
}

// A digest names each object at most once, in order: a digest naming one
// object many times would make the receiver compute its catch-up state
// once per entry.
func TestEnvelopeRefusesRepeatedDigestEntries(t *testing.T) {
	for name, d := range map[string][]digestEntry{
		"repeated":     {{"cart", []byte{1}, nil, 0, false}, {"cart", []byte{1}, nil, 0, false}},
		"out of order": {{"todos", nil, nil, 0, false}, {"cart", nil, nil, 0, false}},
		"empty name":   {{"", nil, nil, 0, false}},
	} {
		e := &envelope{From: "a", To: "b", Incarnation: 1, HasDigest: true, Digest: d}
		b, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		var de *codec.DecodeError
		if _, err := decodeEnvelope(b, codec.Limits{}); !errors.As(err, &de) {
			t.Errorf("%s: %v, want a *codec.DecodeError", name, err)
		}
	}
	e := &envelope{From: "a", To: "b", Incarnation: 1, StatesUpTo: 1, CatchUp: 1,
		States: []stateEntry{{"cart", []byte{1}}, {"cart", []byte{2}}}}
	b, err := e.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeEnvelope(b, codec.Limits{}); err == nil {
		t.Error("catch-up states naming one object twice were accepted")
	}
}

// A snapshot of the first format, written before snapshots were
// checksummed, still restores: a host upgrades with its old files on disk.
func TestSnapshotFirstFormatStillRestores(t *testing.T) {
	r, err := NewReplica(Config{ID: "us-east-1", Transport: nopTransport{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(readGolden(t, "snapshot_v1.golden")); err != nil {
		t.Fatal(err)
	}
	p := r.peers["eu-west-1"]
	if r.seq != 2 || p == nil || p.rinc != 5 || p.recv != 9 || !p.received(12) || p.received(11) {
		t.Fatalf("restored seq %d, peer %+v; want seq 2 and eu-west-1 at incarnation 5, ops up to 9 and 12", r.seq, p)
	}
}
