package lwwmap

import (
	"errors"
	"math"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// recomputeFingerprint computes m's fingerprint from scratch: the hash of
// every live entry that will not expire, summed.
func recomputeFingerprint[K comparable, V any](t interface{ Fatalf(string, ...any) }, m *Map[K, V]) uint64 {
	var fp uint64
	for k, e := range entries(m) {
		if e.deleted() {
			continue
		}
		if ws, ok := m.ttl[k]; ok && deadline(ws, e.wall) != 0 {
			continue
		}
		kh, err := codec.HashValue(codec.HashSeed, k)
		if err != nil {
			t.Fatalf("hashing key %v: %v", k, err)
		}
		fp += entryHash(kh, codec.HashString(codec.HashSeed, string(m.reps[e.writer()])), e.ts(), e.seq)
	}
	return fp
}

func checkFingerprint[K comparable, V any](t interface {
	Helper()
	Fatalf(string, ...any)
}, m *Map[K, V]) {
	checkBases(t, m)
	if got, want := m.Fingerprint(), recomputeFingerprint(t, m); got != want {
		t.Fatalf("Fingerprint() = %#x kept incrementally, %#x recomputed", got, want)
	}
}

// Regression (issue 9, finding 12): Put changed the map before the value
// was encoded, so an unencodable value (a func in a Map[string, any])
// stayed in the local state and every later snapshot failed.
func TestRegressionLWWMapFailedPutChangesNothing(t *testing.T) {
	ft := &fakeTime{now: start}
	m := New[string, any]("a", clock.New(clock.WithSource(ft.source(0))))
	m.Put("keep", "me")
	before := m.Clone()
	snap, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	op := m.Put("bad", func() {})
	if _, err := op.MarshalBinary(); err == nil {
		t.Fatal("an op putting a func encodes")
	} else if ee := (*codec.EncodeError)(nil); !errors.As(err, &ee) {
		t.Fatalf("error %v is not a *codec.EncodeError", err)
	}
	if !m.Equal(before) || m.Len() != 1 {
		t.Fatalf("a failed Put changed the map: %s", dump(m))
	}
	if _, ok := m.Get("bad"); ok {
		t.Fatal("the unencodable value is visible")
	}
	again, err := m.MarshalBinary()
	if err != nil {
		t.Fatalf("snapshot after a failed Put: %v", err)
	}
	if string(again) != string(snap) {
		t.Fatal("snapshot after a failed Put differs from the one before")
	}
	if err := m.Apply(op); err == nil {
		t.Fatal("Apply took the failed op")
	}
	// The next good write takes the next dot: no dot was used up.
	if op := m.Put("next", 1); op.Dot().Seq != 2 {
		t.Fatalf("next write has dot %v, want sequence number 2", op.Dot())
	}
	checkFingerprint(t, m)
}

// Regression (issue 9, finding 5): a 91-byte put whose dot was (receiver,
// 2⁶⁴−1) made the receiver's next dot 0: its next writes failed yet changed
// the local map, and its next snapshot could not be restored.
func TestRegressionLWWMapPeerPoisonsOwnWrites(t *testing.T) {
	ft := &fakeTime{now: start}
	clk := clock.New(clock.WithSource(ft.source(0)))
	m := New[string, string]("me", clk)
	m.Put("a", "1")
	v := "x"
	for _, seq := range []uint64{math.MaxUint64, vclock.MaxSeq + 1} {
		msg := rawOp(codec.KindMapPut, "me", seq, start, 0, putFields, "k", &v)
		if _, err := m.ApplyBinary(msg); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("put with dot (me, %d): %v, want ErrMalformed", seq, err)
		}
		if _, err := m.ApplyBinaryFrom(msg, "me"); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("put with dot (me, %d) from me: %v, want ErrMalformed", seq, err)
		}
		st := rawState(ctxOf(vclock.Range{Replica: "me", Lo: seq, Hi: seq}), start,
			rawGroup{id: "me", entries: []rawEntry{{ds: seq, tag: 0, key: "k", value: "x", hasValue: true}}})
		if _, err := m.MergeBinary(st); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("state with dot (me, %d): %v, want ErrMalformed", seq, err)
		}
	}
	// The own writes still work, and the snapshot restores.
	op := m.Put("b", "2")
	if _, err := op.MarshalBinary(); err != nil || op.Dot().Seq != 2 {
		t.Fatalf("own write: dot %v, %v", op.Dot(), err)
	}
	snap, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := New[string, string]("me", clk).UnmarshalBinary(snap); err != nil {
		t.Fatalf("restoring the snapshot: %v", err)
	}

	// At the very last sequence number a decoder accepts, the next write
	// cannot mint a dot: it changes nothing and says why.
	last := New[string, string]("me", clk)
	last.ctx.AddRange("me", 1, vclock.MaxSeq)
	before := last.Clone()
	op = last.Put("c", "3")
	if _, err := op.MarshalBinary(); !errors.Is(err, ErrNoDot) {
		t.Fatalf("write without a dot left: %v, want ErrNoDot", err)
	}
	if !last.Equal(before) || last.Len() != 0 {
		t.Fatalf("a write without a dot changed the map: %s", dump(last))
	}
	if op := last.Delete("c"); op.failure() == nil || !last.Equal(before) {
		t.Fatalf("delete without a dot: %v; map %s", op.failure(), dump(last))
	}
}

// Issue 9, finding 7: with ApplyBinaryFrom a peer can only bring its own
// dots into the receiver's causal context, so nothing it sends makes the
// receiver take a third replica's writes as seen and ignore them later.
func TestRegressionLWWMapFabricatedDotsStayWithTheirSender(t *testing.T) {
	ft := &fakeTime{now: start}
	a := New[string, string]("a", clock.New(clock.WithSource(ft.source(0))))
	c := New[string, string]("c", clock.New(clock.WithSource(ft.source(0))))
	v := "forged"

	// b forges c's future write: refused whole.
	forged := rawOp(codec.KindMapPut, "c", 1, start, 0, putFields, "k", &v)
	before := a.Clone()
	if _, err := a.ApplyBinaryFrom(forged, "b"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("b sending c's write: %v, want ErrForeignWrite", err)
	}
	if !a.Equal(before) {
		t.Fatal("a refused op changed the map")
	}
	// b fabricates its own dots far ahead: accepted, and it hurts only b.
	own := rawOp(codec.KindMapPut, "b", 1000, start, 0, putFields, "k", &v)
	if _, err := a.ApplyBinaryFrom(own, "b"); err != nil {
		t.Fatal(err)
	}
	// c's real writes still arrive, by op and by state.
	op1 := c.Put("k1", "c1")
	b1, _ := op1.MarshalBinary()
	if ch, err := a.ApplyBinaryFrom(b1, "c"); err != nil || !ch {
		t.Fatalf("c's real write: %v, %v", ch, err)
	}
	c.Put("k2", "c2")
	ver, _ := a.VersionBinary()
	delta, err := c.DeltaSinceBinary(ver)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.MergeBinary(delta); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"k1": "c1", "k2": "c2"} {
		if got, ok := a.Get(k); !ok || got != want {
			t.Fatalf("c's write of %s lost at a: %q, %v", k, got, ok)
		}
	}
	if got := a.Version().Get("c"); got != 2 {
		t.Fatalf("a's version of c is %d, want 2", got)
	}
	checkFingerprint(t, a)
}

// The limits set by SetLimits apply to every decoding method.
func TestLWWMapSetLimits(t *testing.T) {
	src, put, _ := sample()
	state, _ := src.MarshalBinary()
	opb, _ := put.MarshalBinary()
	ver, _ := src.VersionBinary()
	m := New[string, string]("x", clock.New())
	m.SetLimits(codec.Limits{MaxBytes: 8})
	checks := map[string]error{}
	checks["UnmarshalBinary"] = m.UnmarshalBinary(state)
	_, checks["MergeBinary"] = m.MergeBinary(state)
	_, checks["ApplyBinary"] = m.ApplyBinary(opb)
	_, checks["ApplyBinaryFrom"] = m.ApplyBinaryFrom(opb, put.Replica())
	_, checks["DeltaSinceBinary"] = m.DeltaSinceBinary(ver)
	checks["CollectBinary"] = m.CollectBinary([][]byte{ver})
	for name, err := range checks {
		if !errors.Is(err, codec.ErrLimit) {
			t.Errorf("%s over MaxBytes: %v, want ErrLimit", name, err)
		}
	}
	if m.Len() != 0 {
		t.Fatal("refused input changed the map")
	}
	m.SetLimits(codec.Limits{})
	if _, err := m.MergeBinary(state); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	// A version counting beyond MaxSeq is refused as malformed.
	var big vclock.Clock
	big.Set("a", vclock.MaxSeq+1)
	bb, _ := big.MarshalBinary()
	if _, err := m.DeltaSinceBinary(bb); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("version beyond MaxSeq: %v, want ErrMalformed", err)
	}
	if err := m.CollectBinary([][]byte{bb}); !errors.Is(err, codec.ErrMalformed) {
		t.Fatalf("collect with a version beyond MaxSeq: %v, want ErrMalformed", err)
	}
}

// Replicas that end Equal have equal fingerprints, whatever reached them
// in whatever order; a decoded copy has its original's fingerprint; the
// fingerprint kept incrementally equals the one recomputed from scratch.
func TestLWWMapFingerprint(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := newSim(t, rapid.Bool().Draw(t, "collect"))
		s.run()
		for _, r := range append(append([]*Map[string, int]{}, s.reps...), s.snapshots...) {
			checkFingerprint(t, r)
		}
		a, b := drawState(t, s, "a"), drawState(t, s, "b")
		ab := merged(a, b)
		checkFingerprint(t, ab)
		checkFingerprint(t, a.DeltaSince(b.Version()))
		s.settle()
		for i, r := range s.reps {
			checkFingerprint(t, r)
			if !equivalent(r, s.reps[0]) {
				t.Fatalf("replicas 0 and %d differ after settling", i)
			}
			if r.Fingerprint() != s.reps[0].Fingerprint() {
				t.Fatalf("replicas 0 and %d hold the same content with fingerprints %#x and %#x", i, s.reps[0].Fingerprint(), r.Fingerprint())
			}
			data, err := r.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			c := &Map[string, int]{}
			if err := c.UnmarshalBinary(data); err != nil || c.Fingerprint() != r.Fingerprint() {
				t.Fatalf("decoded copy: %v, fingerprint %#x, want %#x", err, c.Fingerprint(), r.Fingerprint())
			}
		}
		// A difference in content changes it.
		r := s.reps[0].Clone()
		fp := r.Fingerprint()
		r.Put("a", 1<<40)
		if r.Fingerprint() == fp {
			t.Fatal("a put left the fingerprint unchanged")
		}
	})
}
