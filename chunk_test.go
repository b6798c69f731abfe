package crdt

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
	"github.com/google/go-cmp/cmp"
)

func chunkEnvelope() *envelope {
	e := fullEnvelope()
	e.States = nil
	e.HasChunk, e.ChunkIndex, e.ChunkCount, e.Ordered = true, 2, 5, true
	e.Parts = []partEntry{{"todos", []byte{1, 2}, true}, {"cart", []byte{3}, false}, {"todos", []byte{4}, true}}
	e.ChunkAckOf, e.ChunkAcks = 3, []uint64{0, 4, 1}
	e.DigestRound, e.DigestPart, e.DigestParts = 2, 1, 3
	return e
}

// The fields of chunks, chunk acknowledgements and digest parts survive a
// round trip, and a message without them is written as before.
func TestChunkEnvelopeRoundTrip(t *testing.T) {
	want := chunkEnvelope()
	b, err := want.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEnvelope(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(envelope{}, opEntry{}, digestEntry{}, stateEntry{}, partEntry{}, recipient{})); d != "" {
		t.Fatalf("round trip (-want +got):\n%s", d)
	}
}

// Chunk headers and acknowledgements are untrusted: an index, a count or
// a number of acknowledgements out of bounds is refused whole.
func TestChunkHeadersRefused(t *testing.T) {
	for name, edit := range map[string]func(e *envelope){
		"index past count":     func(e *envelope) { e.ChunkIndex = e.ChunkCount },
		"no chunks":            func(e *envelope) { e.ChunkIndex, e.ChunkCount = 0, 0 },
		"too many chunks":      func(e *envelope) { e.ChunkIndex, e.ChunkCount = 0, maxChunks+1 },
		"no parts":             func(e *envelope) { e.Parts = nil },
		"part for no object":   func(e *envelope) { e.Parts[1].Object = "" },
		"beside states":        func(e *envelope) { e.States = []stateEntry{{"cart", []byte{1}}} },
		"no catch-up number":   func(e *envelope) { e.CatchUp = 0 },
		"too many acks":        func(e *envelope) { e.ChunkAcks = make([]uint64, maxChunkAcks+1) },
		"ack past any chunk":   func(e *envelope) { e.ChunkAcks[1] = maxChunks },
		"acks of catch-up 0":   func(e *envelope) { e.ChunkAckOf = 0 },
		"digest part past all": func(e *envelope) { e.DigestPart = e.DigestParts },
		"digest part alone":    func(e *envelope) { e.DigestPart, e.DigestParts = 0, 2; e.HasDigest, e.Digest = false, nil },
		"too many digest parts": func(e *envelope) {
			e.DigestPart, e.DigestParts = 0, maxChunks+1
		},
		"broadcast chunk": func(e *envelope) {
			e.To, e.Broadcast, e.Recipients = "", true, []recipient{{"eu-west-1", 1, 1, 0}}
			e.WantDigest, e.HasDigest, e.Digest, e.DigestParts = false, false, nil, 0
			e.StatesUpTo, e.ChunkAcks = 0, nil
		},
	} {
		e := chunkEnvelope()
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
}

// chunker is a stubObject that takes parts.
type chunker struct {
	stubObject
	parts [][]byte
}

func (c *chunker) ChunksBinary([]byte, int) ([][]byte, int, error) { return nil, 0, nil }
func (c *chunker) MergeChunkBinary(b []byte) (bool, error) {
	c.parts = append(c.parts, b)
	return true, nil
}

// chunkFrom returns chunk i of n of catch-up num from b to a replica a of
// incarnation inc.
func chunkFrom(inc, num, i, n uint64, ordered bool) []byte {
	e := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: inc, StatesUpTo: 0, CatchUp: num,
		HasChunk: true, ChunkIndex: i, ChunkCount: n, Ordered: ordered,
		Parts: []partEntry{{"big", []byte{byte(i)}, true}}}
	b, err := e.encode()
	if err != nil {
		panic(err)
	}
	return b
}

// A catch-up in chunks is merged chunk by chunk, each acknowledged; an
// ordered chunk waits for every chunk before it; a duplicate is
// acknowledged again, not merged again; the catch-up counts as merged
// once every chunk is; a chunk whose header disagrees with its catch-up's
// is refused and counted.
func TestChunksMergedAndAcknowledged(t *testing.T) {
	tr := &sentTo{}
	a, _ := stubReplica(t, "a", tr)
	c := &chunker{}
	a.objects["big"] = c
	ctx := context.Background()
	recv := func(msg []byte) error { return a.Receive(ctx, "b", msg) }
	inc := a.incarnation

	if err := recv(chunkFrom(inc, 1, 2, 3, true)); err != nil { // waits for 0 and 1
		t.Fatal(err)
	}
	if len(c.parts) != 0 {
		t.Fatalf("an ordered chunk merged before the chunks before it: %v", c.parts)
	}
	for _, i := range []uint64{1, 0, 1} {
		if err := recv(chunkFrom(inc, 1, i, 3, false)); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.Stats().Peers[0].IncomingChunksLeft; got != 1 {
		t.Fatalf("%d chunks left to merge, want 1", got)
	}
	if err := recv(chunkFrom(inc, 1, 2, 3, true)); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]byte{{1}, {0}, {2}}, c.parts); d != "" {
		t.Fatalf("parts merged (-want +got):\n%s", d)
	}
	if a.peers["b"].catchUpGot != 1 {
		t.Fatalf("catch-up merged: %d, want 1", a.peers["b"].catchUpGot)
	}
	_ = a.Tick(ctx)
	last := tr.envs[len(tr.envs)-1]
	if last.CatchUpAck != 1 || last.ChunkAckOf != 1 || !cmp.Equal(last.ChunkAcks, []uint64{1, 0, 1, 2}) {
		t.Fatalf("acknowledged catch-up %d, chunks %v of %d; want 1, [1 0 1 2] of 1", last.CatchUpAck, last.ChunkAcks, last.ChunkAckOf)
	}

	// The next catch-up's chunk claiming another count than its first.
	if err := recv(chunkFrom(inc, 2, 0, 4, false)); err != nil {
		t.Fatal(err)
	}
	if err := recv(chunkFrom(inc, 2, 1, 5, false)); err == nil || a.Stats().Peers[0].Refused[ReasonMalformed] != 1 {
		t.Fatalf("a chunk disagreeing with its catch-up: err %v, refused %v", err, a.Stats().Peers[0].Refused)
	}
}

// An acknowledgement of a chunk never sent, or of a catch-up never made,
// is refused whole and counted.
func TestChunkAcksOfNothingRefused(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	ctx := context.Background()
	// First contact, so that later messages count as of a known run.
	hello := &envelope{From: "b", To: "a", Incarnation: 1}
	b, _ := hello.encode()
	if err := a.Receive(ctx, "b", b); err != nil {
		t.Fatal(err)
	}
	a.peers["b"].out = &outCatchUp{num: 1, chunks: make([]outChunk, 2), left: 2}
	a.peers["b"].catchUps = 1
	for name, e := range map[string]*envelope{
		"chunk past the catch-up": {ChunkAckOf: 1, ChunkAcks: []uint64{2}},
		"catch-up never made":     {ChunkAckOf: 2, ChunkAcks: []uint64{0}},
	} {
		e.From, e.To, e.Incarnation, e.AckInc = "b", "a", 1, a.incarnation
		msg, err := e.encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Receive(ctx, "b", msg); !errors.Is(err, ErrBadAck) {
			t.Errorf("%s: err %v, want ErrBadAck", name, err)
		}
	}
	if got := a.Stats().Peers[0].Refused[ReasonAck]; got != 2 {
		t.Fatalf("refused %d bad acknowledgements, want 2", got)
	}
	if a.peers["b"].out.left != 2 {
		t.Fatalf("a refused acknowledgement counted")
	}
}

// A digest in parts is taken in once every part has arrived, whatever
// their order, each object once; a part of a newer round starts over.
func TestDigestPartsGathered(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	for _, n := range []string{"x", "y", "z"} {
		a.objects[n] = &stubObject{version: []byte{1}}
	}
	p := a.peers["b"]
	part := func(round, i, n uint64, objs ...string) *envelope {
		e := &envelope{HasDigest: true, DigestRound: round, DigestPart: i, DigestParts: n}
		for _, o := range objs {
			e.Digest = append(e.Digest, digestEntry{Object: o, Version: []byte{1}})
		}
		return e
	}
	if p.gatherDigest(part(1, 1, 2, "z", "unknown"), a.objects) {
		t.Fatal("whole after one part of two")
	}
	if p.gatherDigest(part(2, 0, 2, "x"), a.objects) { // another round: starts over
		t.Fatal("whole after one part of a new round")
	}
	if p.gatherDigest(part(2, 0, 2, "x"), a.objects) { // a duplicate
		t.Fatal("whole after a duplicate part")
	}
	e := part(2, 1, 2, "obj", "x", "y")
	if !p.gatherDigest(e, a.objects) {
		t.Fatal("not whole after every part")
	}
	var got []string
	for _, d := range e.Digest {
		got = append(got, d.Object)
	}
	if d := cmp.Diff([]string{"obj", "x", "y"}, got); d != "" {
		t.Fatalf("digest gathered (-want +got):\n%s", d)
	}
}

// A chunk the peer has acknowledged is never sent again: its bytes are
// let go at once, so that what a catch-up holds shrinks as it goes.
func TestAcknowledgedChunksLetGo(t *testing.T) {
	a, _ := stubReplica(t, "a", &sentTo{})
	ctx := context.Background()
	hello := &envelope{From: "b", To: "a", Incarnation: 1}
	b, _ := hello.encode()
	if err := a.Receive(ctx, "b", b); err != nil {
		t.Fatal(err)
	}
	chunk := func(data string) outChunk {
		return outChunk{parts: []partEntry{{"big", []byte(data), true}}, size: len(data)}
	}
	o := &outCatchUp{num: 1, chunks: []outChunk{chunk("zero"), chunk("one"), chunk("two")}, left: 3, bytesLeft: 10}
	a.peers["b"].out, a.peers["b"].catchUps = o, 1
	ack := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: a.incarnation, ChunkAckOf: 1, ChunkAcks: []uint64{2, 0}}
	msg, err := ack.encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Receive(ctx, "b", msg); err != nil {
		t.Fatal(err)
	}
	if o.chunks[0].parts != nil || o.chunks[2].parts != nil || o.chunks[1].parts == nil {
		t.Fatalf("after acknowledging chunks 0 and 2: parts held %v, %v, %v; want only chunk 1's",
			o.chunks[0].parts, o.chunks[1].parts, o.chunks[2].parts)
	}
	if s := a.Stats().Peers[0]; s.CatchUpChunksLeft != 1 || s.CatchUpBytesLeft != 3 {
		t.Fatalf("%d chunks and %d bytes left, want 1 and 3", s.CatchUpChunksLeft, s.CatchUpBytesLeft)
	}
}

// compressedPart returns a state of about n bytes plain, compressed.
func compressedPart(t *testing.T, n int) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindSet, n)
	w.Binary(make([]byte, n-16))
	plain, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	z, ok := codec.Compress(plain)
	if !ok {
		t.Fatal("not compressed")
	}
	return z
}

// TestChunkPartsHeldToTheLimitTogether: a compressed part may expand to
// Limits.MaxBytes, MaxRatio times its size, and a chunk carried any number
// of parts, so one message within MaxMessageBytes made the receiver
// decompress and merge a hundred times that (a hundred parts of 900 KB
// plain in 120 KB: about 190 MB allocated). The parts of one message
// together are held to MaxBytes, as a sender cuts them: a chunk over it
// is refused whole, its reason counted, before anything of it is merged
// and at a cost bounded by the limit; one within it is merged.
func TestChunkPartsHeldToTheLimitTogether(t *testing.T) {
	r, obj := stubReplica(t, "a", &sentTo{})
	chunk := func(num uint64, parts ...[]byte) []byte {
		env := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(), CatchUp: num,
			HasChunk: true, ChunkIndex: 0, ChunkCount: 1}
		for _, b := range parts {
			env.Parts = append(env.Parts, partEntry{Object: "obj", Data: b})
		}
		msg, err := env.encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > r.cfg.MaxMessageBytes {
			t.Fatalf("message of %d bytes", len(msg))
		}
		return msg
	}
	big := compressedPart(t, 900<<10)
	bomb := make([][]byte, 100)
	for i := range bomb {
		bomb[i] = big
	}
	msg := chunk(1, bomb...)
	var err error
	got := costcheck.Allocated(func() { err = r.Receive(context.Background(), "b", msg) })
	if err == nil || len(obj.merged) != 0 || r.Stats().Peers[0].Refused[ReasonTooLarge] != 1 {
		t.Fatalf("a chunk of %d parts of %d bytes plain: err %v, %d merged, refusals %v", len(bomb), 900<<10, err, len(obj.merged), r.Stats().Peers[0].Refused)
	}
	if limit := uint64(4 * r.cfg.MaxMessageBytes); !costcheck.Race && got > limit {
		t.Errorf("a message of %d bytes allocated %d, more than %d", len(msg), got, limit)
	}

	third := compressedPart(t, r.cfg.MaxMessageBytes/3)
	if err := r.Receive(context.Background(), "b", chunk(2, third, third, third, third)); err == nil || len(obj.merged) != 0 {
		t.Fatalf("a chunk of four parts of a third of the limit each: err %v, %d merged", err, len(obj.merged))
	}
	if err := r.Receive(context.Background(), "b", chunk(3, third, third, third)); err != nil || len(obj.merged) != 3 {
		t.Fatalf("a chunk of three parts of a third of the limit each: err %v, %d merged", err, len(obj.merged))
	}
	if p := r.peers["b"]; p.catchUpGot != 3 {
		t.Fatalf("catch-up merged: %d, want 3", p.catchUpGot)
	}
}

// TestCatchUpStatesHeldToTheLimitTogether: the states of a catch-up in
// one message name each object once, but each was decompressed and
// merged up to Limits.MaxBytes on its own, so a message of 40 KB naming
// 40 objects made the receiver decompress 40 times the limit (36 MB
// plain, about 77 MB allocated), as the parts of a chunk did before they
// were held to the limit together. The states of one message are held
// to the limit together too: over it, none is merged and the refusal is
// counted; within it, they are merged.
func TestCatchUpStatesHeldToTheLimitTogether(t *testing.T) {
	r, obj := stubReplica(t, "a", &sentTo{})
	const objects = 40
	objs := []*stubObject{obj}
	for i := 1; i < objects; i++ {
		o := &stubObject{version: []byte{1}}
		if _, err := Register(r, fmt.Sprintf("obj%02d", i), o); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	catchUp := func(num uint64, states ...[]byte) []byte {
		env := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(), CatchUp: num, StatesUpTo: 0}
		names := []string{"obj"}
		for i := 1; i < objects; i++ {
			names = append(names, fmt.Sprintf("obj%02d", i))
		}
		for i, b := range states {
			env.States = append(env.States, stateEntry{Object: names[i], State: b})
		}
		msg, err := env.encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(msg) > r.cfg.MaxMessageBytes {
			t.Fatalf("message of %d bytes", len(msg))
		}
		return msg
	}
	merged := func() int {
		n := 0
		for _, o := range objs {
			n += len(o.merged)
		}
		return n
	}
	big := compressedPart(t, 900<<10)
	bomb := make([][]byte, objects)
	for i := range bomb {
		bomb[i] = big
	}
	msg := catchUp(1, bomb...)
	got := costcheck.Allocated(func() { _ = r.Receive(context.Background(), "b", msg) })
	if merged() != 0 || r.Stats().Peers[0].Refused[ReasonTooLarge] == 0 {
		t.Fatalf("%d states of %d bytes plain: %d merged, refusals %v", objects, 900<<10, merged(), r.Stats().Peers[0].Refused)
	}
	if limit := uint64(4 * r.cfg.MaxMessageBytes); !costcheck.Race && got > limit {
		t.Errorf("a message of %d bytes allocated %d, more than %d", len(msg), got, limit)
	}
	third := compressedPart(t, r.cfg.MaxMessageBytes/3)
	if err := r.Receive(context.Background(), "b", catchUp(2, third, third, third)); err != nil || merged() != 3 {
		t.Fatalf("three states of a third of the limit each: err %v, %d merged", err, merged())
	}
	if p := r.peers["b"]; p.catchUpGot != 2 {
		t.Fatalf("catch-up merged: %d, want 2", p.catchUpGot)
	}
}

// bigStub is a stubObject whose state is data, a message that compresses
// well.
type bigStub struct {
	stubObject
	data []byte
}

func (s *bigStub) MarshalBinary() ([]byte, error)          { return s.data, nil }
func (s *bigStub) DeltaSinceBinary([]byte) ([]byte, error) { return s.data, nil }

// TestCatchUpStatesCutToThePeersLimit: a catch-up of states that fit one
// message compressed but take more than the peer's limit plain goes in
// chunks, each held to the limit decompressed, as the peer takes them:
// the peer merges every state.
func TestCatchUpStatesCutToThePeersLimit(t *testing.T) {
	var q []queuedMsg
	clk := clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	rs := map[ReplicaID]*Replica{}
	objs := map[ReplicaID][]*bigStub{}
	plain := func(n int) []byte {
		w := codec.NewWriter(codec.KindSet, n)
		w.Binary(make([]byte, n-16))
		b, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, id := range []ReplicaID{"a", "b"} {
		r, err := NewReplica(Config{ID: id, Transport: &queued{from: id, q: &q}, Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			o := &bigStub{stubObject: stubObject{version: []byte{1}}}
			if id == "a" {
				o.data = plain(r.cfg.MaxMessageBytes / 2)
			}
			if _, err := Register(r, fmt.Sprintf("big%d", i), o); err != nil {
				t.Fatal(err)
			}
			objs[id] = append(objs[id], o)
		}
		rs[id] = r
	}
	_ = rs["a"].AddPeer("b")
	_ = rs["b"].AddPeer("a")
	ctx := context.Background()
	for range 20 {
		for _, id := range []ReplicaID{"a", "b"} {
			_ = rs[id].Tick(ctx)
		}
		batch := q
		q = nil
		for _, m := range batch {
			_ = rs[m.to].Receive(ctx, m.from, m.msg)
		}
	}
	for i, o := range objs["b"] {
		if len(o.merged) == 0 {
			t.Fatalf("b merged no state of big%d; refusals %v", i, rs["b"].Stats().Peers[0].Refused)
		}
	}
	if n := rs["b"].Stats().Peers[0].Refused[ReasonTooLarge]; n != 0 {
		t.Fatalf("b refused %d messages as too large", n)
	}
}
