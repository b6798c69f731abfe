package wire_test

import (
	"errors"
	"math"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/wire"
	"github.com/activeactive/crdt/vclock"
)

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ts := clock.Timestamp{
			Wall:    rapid.Int64Range(1, math.MaxInt64).Draw(t, "wall"),
			Logical: rapid.Uint32().Draw(t, "logical"),
		}
		d := vclock.Dot{
			Replica: crdt.ReplicaID(rapid.StringMatching(`[a-z]{1,12}(-[0-9])?`).Draw(t, "replica")),
			Seq:     rapid.Uint64Range(1, vclock.MaxSeq).Draw(t, "seq"),
		}
		w := codec.NewWriter(codec.KindUser, 0)
		wire.PutTimestamp(w, ts)
		wire.PutDot(w, d)
		wire.PutDot(w, d)
		msg, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
		gotTS, gotD1, gotD2 := wire.GetTimestamp(r), wire.GetDot(r), wire.GetDot(r)
		if err := r.Done(); err != nil {
			t.Fatal(err)
		}
		if gotTS != ts || gotD1 != d || gotD2 != d {
			t.Fatalf("round trip %v %v -> %v %v %v", ts, d, gotTS, gotD1, gotD2)
		}
		if len(r.Replicas()) != 1 {
			t.Fatalf("replica written %d times in the table", len(r.Replicas()))
		}
	})
}

func TestRefusesInvalid(t *testing.T) {
	for name, write := range map[string]func(*codec.Writer){
		"zero wall":          func(w *codec.Writer) { w.Int(0); w.Uint(1) },
		"negative wall":      func(w *codec.Writer) { w.Int(-5); w.Uint(0) },
		"logical above 2^32": func(w *codec.Writer) { w.Int(1); w.Uint(math.MaxUint32 + 1) },
		"wall not integer":   func(w *codec.Writer) { w.String("x"); w.Uint(0) },
		"logical missing":    func(w *codec.Writer) { w.Int(1) },
	} {
		w := codec.NewWriter(codec.KindUser, 0)
		write(w)
		msg, _ := w.Bytes()
		r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
		if ts := wire.GetTimestamp(r); !ts.IsZero() || r.Err() == nil {
			t.Errorf("timestamp with %s: %v, %v", name, ts, r.Err())
		}
		var de *codec.DecodeError
		if !errors.As(r.Err(), &de) {
			t.Errorf("timestamp with %s: error %v is not a *codec.DecodeError", name, r.Err())
		}
	}
	for name, write := range map[string]func(*codec.Writer){
		"sequence 0":        func(w *codec.Writer) { w.Replica("a"); w.Uint(0) },
		"sequence past max": func(w *codec.Writer) { w.Replica("a"); w.Uint(vclock.MaxSeq + 1) },
		"index past table":  func(w *codec.Writer) { w.Replica("a"); w.Uint(1); w.Uint(1); w.Uint(1) },
		"seq negative":      func(w *codec.Writer) { w.Replica("a"); w.Int(-1) },
	} {
		w := codec.NewWriter(codec.KindUser, 0)
		write(w)
		msg, _ := w.Bytes()
		r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
		d := wire.GetDot(r)
		if name == "index past table" {
			d = wire.GetDot(r) // the first dot is fine
		}
		if !d.IsZero() || !errors.Is(r.Err(), codec.ErrMalformed) {
			t.Errorf("dot with %s: %v, %v", name, d, r.Err())
		}
	}
}

func FuzzGetTimestampAndDot(f *testing.F) {
	w := codec.NewWriter(codec.KindUser, 0)
	wire.PutTimestamp(w, clock.Timestamp{Wall: 1 << 60, Logical: 3})
	wire.PutDot(w, vclock.Dot{Replica: "us-east-1", Seq: 9})
	seed, _ := w.Bytes()
	f.Add(seed)
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
		ts, d := wire.GetTimestamp(r), wire.GetDot(r)
		if r.Done() != nil {
			return
		}
		if ts.Wall <= 0 || !d.Valid() {
			t.Fatalf("accepted %v %v", ts, d)
		}
		w := codec.NewWriter(codec.KindUser, 0)
		wire.PutTimestamp(w, ts)
		wire.PutDot(w, d)
		out, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r = codec.NewReader(out, codec.KindUser, codec.Limits{})
		if ts2, d2 := wire.GetTimestamp(r), wire.GetDot(r); r.Done() != nil || ts2 != ts || d2 != d {
			t.Fatalf("%v %v wrote back as %x, read as %v %v, %v", ts, d, out, ts2, d2, r.Err())
		}
	})
}

// TestGetDotCanonical checks that GetDotCanonical reads what PutDot writes
// and, unlike GetDot, refuses a replica index or sequence number in a
// wider form than the shortest, at that integer's first byte.
func TestGetDotCanonical(t *testing.T) {
	w := codec.NewWriter(codec.KindUser, 0)
	wire.PutDot(w, vclock.Dot{Replica: "a", Seq: 200})
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	// The header names "a"; the body is the index 00 and the sequence
	// number cc c8.
	hdr := len(msg) - 3
	if string(msg[hdr:]) != "\x00\xcc\xc8" {
		t.Fatalf("message %x does not end with 00 cc c8", msg)
	}
	r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
	if d := wire.GetDotCanonical(r); r.Done() != nil || d != (vclock.Dot{Replica: "a", Seq: 200}) {
		t.Fatalf("read %v, %v", d, r.Err())
	}
	for name, tc := range map[string]struct {
		body string
		at   int // offset of the problem after the header
	}{
		"index in uint8":     {"\xcc\x00\xcc\xc8", 0},
		"sequence in uint16": {"\x00\xcd\x00\xc8", 1},
		"sequence in int16":  {"\x00\xd1\x00\xc8", 1},
	} {
		in := append(append([]byte{}, msg[:hdr]...), tc.body...)
		r := codec.NewReader(in, codec.KindUser, codec.Limits{})
		if d := wire.GetDot(r); r.Done() != nil || d.Seq != 200 {
			t.Errorf("%s: GetDot read %v, %v", name, d, r.Err())
		}
		r = codec.NewReader(in, codec.KindUser, codec.Limits{})
		d := wire.GetDotCanonical(r)
		var de *codec.DecodeError
		if !d.IsZero() || !errors.As(r.Err(), &de) || !errors.Is(de, codec.ErrMalformed) || de.Offset != hdr+tc.at {
			t.Errorf("%s: GetDotCanonical read %v, %v; want ErrMalformed at byte %d", name, d, r.Err(), hdr+tc.at)
		}
	}
}
