package ormap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares data, byte for byte, with testdata/name.hex (the bytes
// in hex), or rewrites the file with -update. It returns the bytes the
// file holds, for the caller to decode and check against values it
// states itself.
func golden(t *testing.T, name string, data []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name+".hex")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(data)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the tests with -update to create it)", err)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("%s: encoding changed\n got % x\nwant % x\n(if the change is intended and older messages still decode, run with -update)", path, data, want)
	}
	return want
}

func mustMarshal(t testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func requireDecodeError(t *testing.T, what string, err error) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%s: error %v (%T), want a *codec.DecodeError", what, err, err)
	}
}

type cartMap = Map[string, *Map[string, *Counter]]

// goldenState builds carts at two regions: east adds 2 apples and a pear
// to ann's cart and 1 fig to bob's; west, having seen all that, deletes
// ann's cart while east concurrently adds 1 more apple; then they merge.
func goldenState(t testing.TB) *cartMap {
	east := New[string, *Map[string, *Counter]]("us-east-1")
	west := New[string, *Map[string, *Counter]]("eu-west-1")
	for _, op := range []Op{east.At("ann").At("apple").Add(2), east.At("ann").At("pear").Add(1), east.At("bob").At("fig").Add(1)} {
		if err := west.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	west.Delete("ann")
	east.At("ann").At("apple").Add(1)
	east.Merge(west)
	return east
}

func TestGoldenState(t *testing.T) {
	b := golden(t, "state-chain-norecord", mustMarshal(t, goldenState(t)))
	if b[0] != 2 {
		t.Fatalf("format version %d, want 2: a leaf continues a chain, the delete resets one", b[0])
	}
	var m cartMap
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	// Only the apple added concurrently with the delete is left of ann's
	// cart; bob's fig is untouched.
	if got := m.At("ann").At("apple").Value(); got != 1 || m.At("ann").Len() != 1 {
		t.Fatalf("ann's cart: apple %d, %d items", got, m.At("ann").Len())
	}
	if got := m.At("bob").At("fig").Value(); got != 1 || m.Len() != 2 {
		t.Fatalf("bob's fig %d, %d carts", got, m.Len())
	}
	// east wrote 4 increments, west 1 delete.
	want := vclock.Clock{}
	want.Advance("us-east-1", 4)
	want.Advance("eu-west-1", 1)
	if v := m.Version(); !v.Equal(want) {
		t.Fatalf("version %v, want %v", v, want)
	}
	// The delete's record (it dropped east:1 and east:2) travels with
	// the state; east's third apple, which replaced the leaf of its chain
	// (east:1), has none: its leaf implies the drop.
	if recs := m.s.k.Records(); len(recs) != 1 || len(recs[0].Dropped) != 2 {
		t.Fatalf("records %v", recs)
	}
	// One leaf for the apples (east's chain, holding 3), one for bob's
	// fig, and the delete's reset of ann's cart (it saw 2 of the apples).
	if m.s.k.Len() != 3 || len(m.s.resetDots) != 1 {
		t.Fatalf("%d leaves, %d resets", m.s.k.Len(), len(m.s.resetDots))
	}
	if !m.Equal(goldenState(t)) || m.Fingerprint() != goldenState(t).Fingerprint() {
		t.Fatal("decoded state differs")
	}
}

// TestGoldenStateChainRecorded: the state of goldenState as maps wrote it
// when an increment that continued a chain kept a drop record (the
// record of east's third apple, which dropped east:1, besides the
// delete's) decodes to the same map, encodes to the same bytes, and
// merges with the state written today, both ways, to equal maps.
func TestGoldenStateChainRecorded(t *testing.T) {
	b := readGolden(t, "state-chain")
	m := New[string, *Map[string, *Counter]]("us-east-1")
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if recs := m.s.k.Records(); len(recs) != 2 {
		t.Fatalf("records %v", recs)
	}
	if again := mustMarshal(t, m); !bytes.Equal(again, b) {
		t.Fatalf("the state encodes anew as\n% x\nnot\n% x", again, b)
	}
	now := goldenState(t)
	if !m.Equal(now) || m.Fingerprint() != now.Fingerprint() {
		t.Fatal("decoded state differs from today's")
	}
	a, c := m.Clone(), now.Clone()
	a.Merge(now)
	c.Merge(m)
	if !a.Equal(c) || !a.Equal(now) || a.At("ann").At("apple").Value() != 1 {
		t.Fatal("the states merged differ")
	}
}

// readGolden returns the bytes testdata/name.hex holds.
func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", name+".hex"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenStateV1: the state of goldenState as maps wrote it when a
// counter kept one leaf per increment (format version 1) decodes as it
// did, encodes to the same bytes, and its counters go on.
func TestGoldenStateV1(t *testing.T) {
	b := readGolden(t, "state")
	m := New[string, *Map[string, *Counter]]("us-east-1")
	if err := m.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if got := m.At("ann").At("apple").Value(); got != 1 || m.At("ann").Len() != 1 {
		t.Fatalf("ann's cart: apple %d, %d items", got, m.At("ann").Len())
	}
	if got := m.At("bob").At("fig").Value(); got != 1 || m.Len() != 2 {
		t.Fatalf("bob's fig %d, %d carts", got, m.Len())
	}
	want := vclock.Clock{}
	want.Advance("us-east-1", 4)
	want.Advance("eu-west-1", 1)
	if v := m.Version(); !v.Equal(want) {
		t.Fatalf("version %v, want %v", v, want)
	}
	if recs := m.s.k.Records(); len(recs) != 1 || len(recs[0].Dropped) != 2 {
		t.Fatalf("records %v", recs)
	}
	if again := mustMarshal(t, m); !bytes.Equal(again, b) {
		t.Fatalf("a state of version 1 encodes anew as\n% x\nnot\n% x", again, b)
	}
	// The apple's leaf (east:4) starts a chain: the next increment
	// continues it, and the counter keeps one leaf.
	m.At("ann").At("apple").Add(4)
	if got := m.At("ann").At("apple").Value(); got != 5 || len(m.s.find(appendSeg(appendSeg("", "ann"), "apple")).dots()) != 1 {
		t.Fatalf("apple %d after adding 4", got)
	}
}

// TestOpBytesByHand derives the bytes of ops from the format description
// (see encoding.go): version 1, kind 0x51, the replica table (one string,
// or an array of them), then the op's array.
func TestOpBytesByHand(t *testing.T) {
	east := New[string, *Counter]("us-east-1")
	add := mustMarshal(t, east.At("apple").Add(3))
	want := append([]byte{0x01, 0x51, 0xa9}, "us-east-1"...)
	want = append(want, 0x93, 0x00, 0x01, 0x92, 0xa5) // [replica 0, seq 1, [key "apple"...
	want = append(want, "apple"...)
	want = append(want, 0x03) // ... increment 3]]
	if !bytes.Equal(golden(t, "add", add), want) {
		t.Fatalf("add:\n got % x\nwant % x", add, want)
	}

	west := New[string, *Counter]("eu-west-1")
	if err := east.Apply(west.At("apple").Add(1)); err != nil {
		t.Fatal(err)
	}
	// A delete as maps wrote it when counters kept one leaf per
	// increment, without a reset: version 1, kind 0x51, the table
	// [east, west], then [east, seq 2, nil, then the dropped dots sorted:
	// west:1, east:1]. It still decodes.
	del := readGolden(t, "delete")
	want = append([]byte{0x01, 0x51, 0x92, 0xa9}, "us-east-1"...)
	want = append(want, 0xa9)
	want = append(want, "eu-west-1"...)
	want = append(want, 0x97, 0x00, 0x02, 0xc0, 0x01, 0x01, 0x00, 0x01)
	if !bytes.Equal(del, want) {
		t.Fatalf("delete:\n got % x\nwant % x", del, want)
	}
	// The delete now resets the two counter chains it saw: version 2, the
	// same op with a reset leaf where nil was: [[false, the entries, the
	// key]], each entry [writer, chain start, sequence number less the
	// start, total].
	reset := mustMarshal(t, east.Delete("apple"))
	want = append([]byte{0x02, 0x51, 0x92, 0xa9}, "us-east-1"...)
	want = append(want, 0xa9)
	want = append(want, "eu-west-1"...)
	want = append(want, 0x97, 0x00, 0x02, 0x91, 0x93, 0xc2, 0x92)
	want = append(want, 0x94, 0xa9)
	want = append(want, "eu-west-1"...)
	want = append(want, 0x01, 0x00, 0x01)
	want = append(want, 0x94, 0xa9)
	want = append(want, "us-east-1"...)
	want = append(want, 0x01, 0x00, 0x03, 0xa5)
	want = append(want, "apple"...)
	want = append(want, 0x01, 0x01, 0x00, 0x01)
	if !bytes.Equal(golden(t, "delete-reset", reset), want) {
		t.Fatalf("delete with a reset:\n got % x\nwant % x", reset, want)
	}
	if op, err := New[string, *Counter]("x").DecodeOp(reset); err != nil || !op.IsRemove() || len(op.Dropped()) != 2 || !op.leaf.isReset() {
		t.Fatalf("the delete with a reset decoded as %v, %v", op, err)
	}
	op, err := east.DecodeOp(del)
	if err != nil {
		t.Fatal(err)
	}
	wantDropped := []vclock.Dot{{Replica: "eu-west-1", Seq: 1}, {Replica: "us-east-1", Seq: 1}}
	if !op.IsRemove() || op.Dot() != (vclock.Dot{Replica: "us-east-1", Seq: 2}) || !slices.Equal(op.Dropped(), wantDropped) {
		t.Fatalf("delete decoded as %v dropping %v", op, op.Dropped())
	}

	noop := mustMarshal(t, east.Delete("apple"))
	if want := []byte{0x01, 0x51, 0x90, 0x90}; !bytes.Equal(golden(t, "noop", noop), want) {
		t.Fatalf("no-op: % x", noop)
	}

	// A register write and a set add nested two deep.
	r := New[int, *Register[string]]("r")
	b := mustMarshal(t, r.At(7).Set("hi"))
	want = []byte{0x01, 0x51, 0xa1, 'r', 0x93, 0x00, 0x01, 0x92, 0x07, 0xa2, 'h', 'i'}
	if !bytes.Equal(golden(t, "register", b), want) {
		t.Fatalf("register write:\n got % x\nwant % x", b, want)
	}
	s := New[string, *Map[string, *Set[bool]]]("s")
	b = mustMarshal(t, s.At("a").At("b").Add(true))
	want = []byte{0x01, 0x51, 0xa1, 's', 0x93, 0x00, 0x01, 0x93, 0xa1, 'a', 0xa1, 'b', 0xc3}
	if !bytes.Equal(golden(t, "nested-set", b), want) {
		t.Fatalf("nested set add:\n got % x\nwant % x", b, want)
	}
}

// TestBadInput refuses malformed states and ops whole, with a decode
// error, leaving the map unchanged.
func TestBadInput(t *testing.T) {
	state := mustMarshal(t, goldenState(t))
	target := func() *cartMap {
		m := New[string, *Map[string, *Counter]]("t")
		m.At("x").At("y").Add(1)
		return m
	}
	for i := range len(state) {
		m := target()
		before := m.Clone()
		if _, err := m.MergeBinary(state[:i]); err == nil {
			t.Fatalf("a state cut at %d merged", i)
		} else {
			requireDecodeError(t, "MergeBinary", err)
		}
		if !m.Equal(before) {
			t.Fatalf("a refused state changed the map")
		}
		if _, err := m.HealBinary(state[:i]); err == nil {
			t.Fatalf("a state cut at %d healed", i)
		} else {
			requireDecodeError(t, "HealBinary", err)
		}
		if !m.Equal(before) || m.Fingerprint() != before.Fingerprint() {
			t.Fatalf("a refused state changed the map")
		}
	}
	// A state of another map type: a leaf with a key too few.
	flat := New[string, *Counter]("f")
	flat.At("k").Add(1)
	m := target()
	if _, err := m.MergeBinary(mustMarshal(t, flat)); err == nil {
		t.Fatal("a state of another type merged")
	}
	if _, err := m.HealBinary(mustMarshal(t, flat)); err == nil {
		t.Fatal("a state of another type healed")
	}
	if _, err := m.ApplyBinary(mustMarshal(t, flat.At("k").Add(1))); err == nil {
		t.Fatal("an op of another type applied")
	}
	// An op that is not the sender's.
	op := mustMarshal(t, flat.At("k").Add(1))
	if _, err := New[string, *Counter]("g").ApplyBinaryFrom(op, "someone-else"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("foreign write: %v", err)
	}
	// A delete from a peer dropping a third replica's write unseen here.
	a, b := New[string, *Counter]("a"), New[string, *Counter]("b")
	if err := b.Apply(a.At("k").Add(1)); err != nil {
		t.Fatal(err)
	}
	del := mustMarshal(t, b.Delete("k"))
	if _, err := New[string, *Counter]("c").ApplyBinaryFrom(del, "b"); !errors.Is(err, vclock.ErrUnseen) {
		t.Fatalf("unseen drop: %v", err)
	}
}

// TestLimits: a map refuses input past the limits it was given, whole.
func TestLimits(t *testing.T) {
	state := mustMarshal(t, goldenState(t))
	m := New[string, *Map[string, *Counter]]("t")
	m.SetLimits(codec.Limits{MaxBytes: len(state) - 1})
	if _, err := m.MergeBinary(state); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("a state past MaxBytes: %v", err)
	}
	if _, err := m.HealBinary(state); !errors.Is(err, codec.ErrLimit) {
		t.Fatalf("a state past MaxBytes healed: %v", err)
	}
	if m.Len() != 0 {
		t.Fatal("a refused state changed the map")
	}
	m.SetLimits(codec.Limits{MaxItems: 2})
	if _, err := m.MergeBinary(state); err == nil {
		t.Fatal("a state past MaxItems merged")
	}
	c := m.Clone()
	if _, err := c.MergeBinary(state); err == nil {
		t.Fatal("a clone lost the limits")
	}
	m.SetLimits(codec.Limits{})
	if _, err := m.MergeBinary(state); err != nil {
		t.Fatal(err)
	}
}
