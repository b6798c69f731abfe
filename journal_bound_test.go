package crdt

import (
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
)

// TestReplayOfCatchUpsBeyondTheLimitTogether: the received states of one
// journal record are decompressed each within the limit and MaxRatio
// times its own size, not held to the limit together as the states of
// one catch-up message are. That is no fault, and such a bound would be
// one: a record holds what came in since the last save, from any number
// of messages, each within the limit decompressed, so its states may take
// many times the limit together (here 8 catch-ups of half the limit each,
// journaled in one record); refusing the record would lose the local ops
// it holds too. Replay costs what taking the messages in cost: each
// state is decompressed once, to at most MaxRatio times its size, so the
// record's states take at most MaxRatio times the record, and replaying
// it allocates within a small multiple of that.
func TestReplayOfCatchUpsBeyondTheLimitTogether(t *testing.T) {
	r, obj := stubReplica(t, "a", &sentTo{})
	var snap []byte
	if err := r.SaveSnapshot(func(b []byte) error { snap = b; return nil }); err != nil {
		t.Fatal(err)
	}
	const messages = 8
	half := r.cfg.MaxMessageBytes / 2
	state := compressedPart(t, half)
	for i := range messages {
		env := &envelope{From: "b", To: "a", Incarnation: 1, AckInc: r.Incarnation(), CatchUp: uint64(i + 1),
			States: []stateEntry{{Object: "obj", State: state}}}
		if err := deliver(t, r, env); err != nil {
			t.Fatal(err)
		}
	}
	if len(obj.merged) != messages {
		t.Fatalf("%d catch-ups merged, want %d; refusals %v", len(obj.merged), messages, r.Stats().Peers[0].Refused)
	}
	var record []byte
	if err := r.SaveOps(func(b []byte) error { record = b; return nil }); err != nil {
		t.Fatal(err)
	}
	one, err := codec.Decompress(state, r.limit)
	if err != nil {
		t.Fatal(err)
	}
	plain := messages * len(one)
	if plain <= r.cfg.MaxMessageBytes || plain > codec.MaxRatio*len(record) {
		t.Fatalf("a record of %d bytes holding states of %d bytes plain", len(record), plain)
	}

	r2, obj2 := restartedStub(t, Config{}, snap, nil)
	restored := len(obj2.merged)
	got := costcheck.Allocated(func() { err = r2.Replay(record) })
	if err != nil {
		t.Fatalf("replaying a record of %d catch-ups, %d bytes plain together: %v", messages, plain, err)
	}
	n := 0
	for _, m := range obj2.merged[restored:] {
		n += len(m)
	}
	if len(obj2.merged)-restored != messages || n != plain {
		t.Fatalf("replay merged %d states of %d bytes plain in all, want %d of %d", len(obj2.merged)-restored, n, messages, plain)
	}
	// Decompressing a state takes its columns (at most twice the plain
	// state) and the plain state.
	if limit := uint64(4*plain + 1<<20); !costcheck.Race && got > limit {
		t.Errorf("replaying a record of %d bytes, %d plain, allocated %d bytes, more than %d", len(record), plain, got, limit)
	}
	t.Logf("record of %d bytes, %d bytes plain: replay allocated %d bytes", len(record), plain, got)
}

// restartedStub starts replica "a" again, with cfg (its ID, transport,
// clock and anti-entropy set here), a stubObject "obj", the objects
// register adds (if not nil) and peer "b", and restores snap into it.
func restartedStub(t *testing.T, cfg Config, snap []byte, register func(*Replica)) (*Replica, *stubObject) {
	t.Helper()
	cfg.ID, cfg.Transport, cfg.AntiEntropyTicks = "a", &sentTo{}, -1
	cfg.Clock = clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
	r, err := NewReplica(cfg)
	if err != nil {
		t.Fatal(err)
	}
	obj := &stubObject{version: []byte{1}}
	if _, err := Register(r, "obj", obj); err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(r)
	}
	if err := r.AddPeer("b"); err != nil {
		t.Fatal(err)
	}
	if err := r.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return r, obj
}
