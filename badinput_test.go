package crdt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
)

// recorder is a Transport that keeps what it is given.
type recorder struct{ msgs [][]byte }

func (r *recorder) Send(_ context.Context, _ crdt.ReplicaID, msg []byte) error {
	r.msgs = append(r.msgs, slices.Clone(msg))
	return nil
}

// sender makes a replica "a" with a gset under name, adds elems, and
// returns the message it sends to "b".
func sender(t *testing.T, name string, elems ...string) []byte {
	t.Helper()
	rec := &recorder{}
	a, err := crdt.NewReplica(crdt.Config{ID: "a", Transport: rec, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(a, name, newGSet("a"))
	_ = a.AddPeer("b")
	for _, e := range elems {
		_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.msgs) != 1 {
		t.Fatalf("sender sent %d messages, want 1", len(rec.msgs))
	}
	return rec.msgs[0]
}

// bcastRecorder is a recorder that also broadcasts, keeping the broadcasts
// apart.
type bcastRecorder struct {
	recorder
	bcasts [][]byte
}

func (r *bcastRecorder) Broadcast(_ context.Context, _ []crdt.ReplicaID, msg []byte) error {
	r.bcasts = append(r.bcasts, slices.Clone(msg))
	return nil
}

// broadcaster makes a replica "a" with a gset "s" and peers "b" and "c",
// adds elems, and returns the broadcast it sends to both.
func broadcaster(t testing.TB, elems ...string) []byte {
	t.Helper()
	rec := &bcastRecorder{}
	a, err := crdt.NewReplica(crdt.Config{ID: "a", Transport: rec, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(a, "s", newGSet("a"))
	_ = a.AddPeer("b")
	_ = a.AddPeer("c")
	for _, e := range elems {
		_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add(e), nil })
	}
	if err := a.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.bcasts) != 1 {
		t.Fatalf("sent %d broadcasts (and %d messages), want 1", len(rec.bcasts), len(rec.msgs))
	}
	return rec.bcasts[0]
}

func testClock() *clock.Clock {
	return clock.New(clock.WithSource(func() int64 { return 1_795_000_000_000_000_000 }))
}

// receiver makes replica "b" with a gset "s" and peer "a".
func receiver(t *testing.T, cfg func(*crdt.Config)) (*crdt.Replica, *crdt.Handle[*gset]) {
	t.Helper()
	c := crdt.Config{ID: "b", Transport: &recorder{}, Clock: testClock()}
	if cfg != nil {
		cfg(&c)
	}
	b, err := crdt.NewReplica(c)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := crdt.Register(b, "s", newGSet("b"))
	_ = b.AddPeer("a")
	return b, h
}

func elemsOf(h *crdt.Handle[*gset]) []string {
	var out []string
	h.Read(func(s *gset) { out = s.Elems() })
	return out
}

func refusals(r *crdt.Replica) map[string]uint64 {
	out := map[string]uint64{}
	st := r.Stats()
	for k, v := range st.Refused {
		out[k] += v
	}
	for _, p := range st.Peers {
		for k, v := range p.Refused {
			out[k] += v
		}
	}
	return out
}

func TestReceiveValidMessage(t *testing.T) {
	msg := sender(t, "s", "x", "y")
	b, h := receiver(t, nil)
	if err := b.Receive(context.Background(), "a", msg); err != nil {
		t.Fatal(err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("elems = %v, want [x y]", got)
	}
}

func TestReceiveRefusesTruncatedAtEveryOffset(t *testing.T) {
	msg := sender(t, "s", "x", "y")
	for n := range len(msg) {
		b, h := receiver(t, nil)
		err := b.Receive(context.Background(), "a", msg[:n])
		var de *codec.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("truncated to %d bytes: err = %v, want a *codec.DecodeError", n, err)
		}
		if got := elemsOf(h); len(got) != 0 {
			t.Fatalf("truncated to %d bytes changed the state: %v", n, got)
		}
		if refusals(b)[crdt.ReasonMalformed]+refusals(b)[crdt.ReasonTooLarge] == 0 {
			t.Fatalf("truncated to %d bytes: refusal not counted: %v", n, refusals(b))
		}
	}
}

func TestReceiveRefusesCorruptBytes(t *testing.T) {
	msg := sender(t, "s", "x", "y")
	for i := range msg {
		for _, v := range []byte{0x00, 0xc1, 0xff, msg[i] ^ 0x55} {
			bad := slices.Clone(msg)
			bad[i] = v
			b, h := receiver(t, nil)
			if bytes.Equal(bad, msg) {
				continue
			}
			err := b.Receive(context.Background(), "a", bad) // must not panic
			// Messages end with a checksum: every corruption is refused
			// whole, before anything is decoded, and changes nothing.
			var de *codec.DecodeError
			if !errors.As(err, &de) || len(elemsOf(h)) != 0 {
				t.Fatalf("byte %d = %#x: err %v, state %v; want the message refused and nothing changed", i, v, err, elemsOf(h))
			}
			total := uint64(0)
			for _, n := range refusals(b) {
				total += n
			}
			if total != 1 {
				t.Fatalf("byte %d = %#x: refusals %v, want one", i, v, refusals(b))
			}
		}
	}
}

func TestReceiveRefusesFutureVersion(t *testing.T) {
	msg := sender(t, "s", "x")
	msg[0] = codec.Version + 1
	// A replica of a later version checksums what it writes.
	body := msg[:len(msg)-4]
	binary.BigEndian.PutUint32(msg[len(body):], crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	b, h := receiver(t, nil)
	err := b.Receive(context.Background(), "a", msg)
	if !errors.Is(err, codec.ErrVersion) {
		t.Fatalf("err = %v, want codec.ErrVersion", err)
	}
	if len(elemsOf(h)) != 0 || refusals(b)[crdt.ReasonVersion] != 1 {
		t.Fatalf("state %v, refusals %v", elemsOf(h), refusals(b))
	}
}

func TestReceiveRefusesOversized(t *testing.T) {
	msg := sender(t, "s", strings.Repeat("x", crdt.MinMessageBytes))
	b, h := receiver(t, func(c *crdt.Config) { c.MaxMessageBytes = len(msg) - 1 })
	err := b.Receive(context.Background(), "a", msg)
	if !errors.Is(err, crdt.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if len(elemsOf(h)) != 0 || refusals(b)[crdt.ReasonTooLarge] != 1 {
		t.Fatalf("state %v, refusals %v", elemsOf(h), refusals(b))
	}
}

func TestReceiveRefusesUnknownPeer(t *testing.T) {
	msg := sender(t, "s", "x")
	b, h := receiver(t, nil)
	b.RemovePeer("a")
	err := b.Receive(context.Background(), "a", msg)
	if !errors.Is(err, crdt.ErrUnknownPeer) {
		t.Fatalf("err = %v, want ErrUnknownPeer", err)
	}
	if len(elemsOf(h)) != 0 || b.Stats().Refused[crdt.ReasonUnknownPeer] != 1 {
		t.Fatalf("state %v, stats %+v", elemsOf(h), b.Stats())
	}
}

func TestReceiveRefusesMisaddressed(t *testing.T) {
	msg := sender(t, "s", "x")
	b, h := receiver(t, nil)
	_ = b.AddPeer("c")
	// The transport says it came from c, the message says a.
	err := b.Receive(context.Background(), "c", msg)
	if !errors.Is(err, crdt.ErrMisaddressed) {
		t.Fatalf("err = %v, want ErrMisaddressed", err)
	}
	if len(elemsOf(h)) != 0 {
		t.Fatalf("state changed: %v", elemsOf(h))
	}
}

func TestReceiveBroadcast(t *testing.T) {
	msg := broadcaster(t, "x", "y")
	b, h := receiver(t, nil)
	if err := b.Receive(context.Background(), "a", msg); err != nil {
		t.Fatal(err)
	}
	if got := elemsOf(h); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("elems = %v, want [x y]", got)
	}

	// A replica the broadcast does not name refuses it.
	d, err := crdt.NewReplica(crdt.Config{ID: "d", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	hd, _ := crdt.Register(d, "s", newGSet("d"))
	_ = d.AddPeer("a")
	if err := d.Receive(context.Background(), "a", msg); !errors.Is(err, crdt.ErrMisaddressed) {
		t.Fatalf("err = %v, want ErrMisaddressed", err)
	}
	if len(elemsOf(hd)) != 0 || refusals(d)[crdt.ReasonMisaddressed] != 1 {
		t.Fatalf("state %v, refusals %v", elemsOf(hd), refusals(d))
	}
}

func TestReceiveRefusesUnknownObject(t *testing.T) {
	msg := sender(t, "other", "x")
	b, h := receiver(t, nil)
	err := b.Receive(context.Background(), "a", msg)
	if !errors.Is(err, crdt.ErrUnknownObject) {
		t.Fatalf("err = %v, want ErrUnknownObject", err)
	}
	if len(elemsOf(h)) != 0 || refusals(b)[crdt.ReasonUnknownObject] == 0 {
		t.Fatalf("state %v, refusals %v", elemsOf(h), refusals(b))
	}
	// The op was not acknowledged: the sender will offer it again.
	if st := b.Stats(); st.Peers[0].OpsApplied != 0 {
		t.Fatalf("ops applied = %d, want 0", st.Peers[0].OpsApplied)
	}
}

// wrongType is an object of another type registered under the same name.
type wrongType struct{ gset }

func (w *wrongType) ApplyBinary(b []byte) (bool, error) {
	r := codec.NewReader(b, codec.KindUser+7, codec.Limits{})
	return false, r.Err()
}

func TestReceiveRefusesWrongType(t *testing.T) {
	msg := sender(t, "s", "x")
	b, err := crdt.NewReplica(crdt.Config{ID: "b", Transport: &recorder{}, Clock: testClock()})
	if err != nil {
		t.Fatal(err)
	}
	w := &wrongType{*newGSet("b")}
	_, _ = crdt.Register(b, "s", w)
	_ = b.AddPeer("a")
	err = b.Receive(context.Background(), "a", msg)
	if !errors.Is(err, codec.ErrKind) {
		t.Fatalf("err = %v, want codec.ErrKind", err)
	}
	if len(w.elems) != 0 || refusals(b)[crdt.ReasonWrongType] == 0 {
		t.Fatalf("state %v, refusals %v", w.elems, refusals(b))
	}
}

func FuzzReceive(f *testing.F) {
	addReceiveSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		// Most inputs go behind the checksum, so that mutations reach the
		// decoder; the rest test the checksum itself.
		if len(msg) > 0 && msg[len(msg)-1]&1 == 0 {
			msg = resealed(msg)
		}
		var (
			b   *crdt.Replica
			err error
		)
		checkCost(t, len(msg), func() {
			b, err = crdt.NewReplica(crdt.Config{ID: "b", Transport: &recorder{}, Clock: testClock()})
			if err != nil {
				t.Fatal(err)
			}
			_, _ = crdt.Register(b, "s", newGSet("b"))
			_ = b.AddPeer("a")
			err = b.Receive(context.Background(), "a", msg)
		})
		if err != nil {
			return
		}
		// Whatever was accepted must leave a replica that still works.
		if _, err := b.Snapshot(); err != nil {
			t.Fatalf("snapshot after accepted message: %v", err)
		}
		_ = b.Tick(context.Background())
	})
}

// FuzzReceiveCost holds the handling of one message by a replica built
// beforehand to the bounds of package costcheck with a fixed allowance of
// 64 KiB: FuzzReceive's allowance, 1 MiB, covers building the replica
// too, and so hid work of a few hundred KB for a message of a few dozen
// bytes. A compressed message counts for what it expands to
// (costcheck.Weight).
func FuzzReceiveCost(f *testing.F) {
	addReceiveSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		if len(msg) > 0 && msg[len(msg)-1]&1 == 0 {
			msg = resealed(msg)
		}
		b, err := crdt.NewReplica(crdt.Config{ID: "b", Transport: &recorder{}, Clock: testClock()})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = crdt.Register(b, "s", newGSet("b"))
		_ = b.AddPeer("a")
		costcheck.Check(t, "receiving", costcheck.Weight(msg), 64<<10, func() {
			_ = b.Receive(context.Background(), "a", msg)
		})
	})
}

// addReceiveSeeds adds the messages FuzzReceive and FuzzReceiveCost start
// from.
func addReceiveSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0x60})
	rec := &recorder{}
	a, _ := crdt.NewReplica(crdt.Config{ID: "a", Transport: rec, Clock: testClock()})
	h, _ := crdt.Register(a, "s", newGSet("a"))
	_ = a.AddPeer("b")
	_ = h.Update(func(s *gset) (crdt.Op, error) { return s.Add("x"), nil })
	_ = a.Tick(context.Background())
	for _, m := range rec.msgs {
		f.Add(m)
		// The same message as a replica of the first format version
		// writes it: ops whole, no writer.
		if m1, err := crdt.AsVersion1(m); err == nil {
			f.Add(m1)
		} else {
			f.Fatal(err)
		}
	}
	f.Add(broadcaster(f, "x", "y"))
	if m, err := crdt.RetiringMessage(); err == nil {
		f.Add(m)
	} else {
		f.Fatal(err)
	}
	if m, err := crdt.GapDigestMessage(); err == nil {
		f.Add(m)
	} else {
		f.Fatal(err)
	}
	for _, m := range chunkedCatchUp(f) {
		f.Add(m)
	}
	far, err := crdt.FarPartMessages()
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range far {
		f.Add(m)
	}
}

// chunkedCatchUp returns the messages a replica "a" holding a set too
// large for one message sends a new replica "b": a request for its
// digest, then a catch-up in chunks with their acknowledgements and a
// digest in parts, for fuzzing to start from.
func chunkedCatchUp(tb testing.TB) [][]byte {
	recA, recB := &recorder{}, &recorder{}
	mk := func(id crdt.ReplicaID, tr crdt.Transport, peer crdt.ReplicaID) (*crdt.Replica, *crdt.Handle[*gset]) {
		r, err := crdt.NewReplica(crdt.Config{ID: id, Transport: tr, Clock: testClock(), MaxMessageBytes: crdt.MinMessageBytes})
		if err != nil {
			tb.Fatal(err)
		}
		h, _ := crdt.Register(r, "s", newGSet(id))
		for i := range 30 {
			// Objects enough that the digest takes several messages.
			_, _ = crdt.Register(r, fmt.Sprintf("o%02d", i), newGSet(id))
		}
		_ = r.AddPeer(peer)
		return r, h
	}
	a, h := mk("a", recA, "b")
	b, _ := mk("b", recB, "a")
	for i := range 40 {
		_ = h.Update(func(s *gset) (crdt.Op, error) {
			return s.Add(fmt.Sprintf("element-%03d-%s", i, strings.Repeat("x", 20))), nil
		})
	}
	ctx := context.Background()
	var out [][]byte
	for range 4 {
		_ = a.Tick(ctx)
		_ = b.Tick(ctx)
		for _, m := range recA.msgs {
			_ = b.Receive(ctx, "a", m)
		}
		for _, m := range recB.msgs {
			_ = a.Receive(ctx, "b", m)
		}
		out = append(out, recA.msgs...)
		recA.msgs, recB.msgs = nil, nil
	}
	return out
}
