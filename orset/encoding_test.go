package orset

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares data, byte for byte, with testdata/name.hex (the bytes in
// hex), or rewrites the file with -update. It returns the bytes the file
// holds, for the caller to decode and check against values it states
// itself.
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

// goldenState builds a small state with two replicas, a remove, a
// re-add and a pair of concurrent adds of one element.
func goldenState(t *testing.T) *Set[string] {
	east, west := New[string]("us-east-1"), New[string]("eu-west-1")
	west.Add("apple")
	apply(t, west, east.Add("apple"), east.Add("banana"), east.Add("cherry"))
	east.Remove("banana")
	west.Add("date")
	east.Merge(west)
	return east
}

func TestGoldenState(t *testing.T) {
	b := golden(t, "state", mustMarshal(t, goldenState(t)))
	var s Set[string]
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	// east made adds 1-3 and remove 4; west added apple (1), took east's
	// three adds and added date (2); the merge keeps both concurrent dots
	// of apple.
	if got := sorted(&s); !slices.Equal(got, []string{"apple", "cherry", "date"}) {
		t.Fatalf("elements %v", got)
	}
	want := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 4, "eu-west-1": 2})
	if v := s.Version(); !v.Equal(want) {
		t.Fatalf("version %v, want %v", v, want)
	}
	if got := s.k.Dots("apple"); len(got) != 2 {
		t.Fatalf("apple supported by %v, want one dot of each replica", got)
	}
}

func TestGoldenOps(t *testing.T) {
	s := New[string]("us-east-1")
	b := golden(t, "add", mustMarshal(t, s.Add("apple")))
	var add Op[string]
	if err := add.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if add.IsRemove() || add.Elem() != "apple" || add.Dot() != (vclock.Dot{Replica: "us-east-1", Seq: 1}) {
		t.Fatalf("add decoded as %v", add)
	}

	west := New[string]("eu-west-1")
	apply(t, s, west.Add("apple"))
	b = golden(t, "remove", mustMarshal(t, s.Remove("apple")))
	var rm Op[string]
	if err := rm.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	wantDropped := []vclock.Dot{{Replica: "eu-west-1", Seq: 1}, {Replica: "us-east-1", Seq: 1}}
	if !rm.IsRemove() || rm.Elem() != "apple" || rm.Dot() != (vclock.Dot{Replica: "us-east-1", Seq: 2}) || !slices.Equal(rm.dropped, wantDropped) {
		t.Fatalf("remove decoded as %v dropping %v", rm, rm.dropped)
	}

	b = golden(t, "noop", mustMarshal(t, s.Remove("apple")))
	var noop Op[string]
	if err := noop.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !noop.IsNoop() || noop.Elem() != "apple" {
		t.Fatalf("no-op decoded as %v", noop)
	}
}

// TestOpBytesByHand derives the bytes of ops from the format description.
func TestOpBytesByHand(t *testing.T) {
	s := New[string]("us-east-1")
	add := mustMarshal(t, s.Add("key-000000"))
	want := append([]byte{0x01, byte(codec.KindSetAdd), 0xa9}, "us-east-1"...)
	want = append(want, 0xaa)
	want = append(want, "key-000000"...)
	want = append(want, 0x01) // seq 1; nothing dropped
	if !bytes.Equal(add, want) {
		t.Fatalf("add:\n got % x\nwant % x", add, want)
	}
	if len(add) > 24 {
		t.Fatalf("one add of a 10-byte key takes %d bytes, budget 24", len(add))
	}

	rm := mustMarshal(t, s.Remove("key-000000"))
	want = append([]byte{0x01, byte(codec.KindSetRemove), 0xa9}, "us-east-1"...)
	want = append(want, 0xaa)
	want = append(want, "key-000000"...)
	want = append(want, 0x02, 0x92, 0x00, 0x01) // seq 2; dropped [us-east-1:1]
	if !bytes.Equal(rm, want) {
		t.Fatalf("remove:\n got % x\nwant % x", rm, want)
	}

	noop := mustMarshal(t, s.Remove("key-000000"))
	want = append([]byte{0x01, byte(codec.KindSetRemove), 0x90, 0xaa}, "key-000000"...)
	if !bytes.Equal(noop, want) {
		t.Fatalf("no-op:\n got % x\nwant % x", noop, want)
	}
}

func keys100k() []string {
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = keyOf(i)
	}
	return keys
}

// TestStateSizeBudget holds the full state of 100,000 elements added at
// one replica to 1.15 times the bytes of the bare keys in msgpack.
func TestStateSizeBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100,000-element set")
	}
	keys := keys100k()
	s := New[string]("us-east-1")
	for _, k := range keys {
		s.Add(k)
	}
	ours := mustMarshal(t, s)
	bare, err := msgpack.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	ratio := float64(len(ours)) / float64(len(bare))
	t.Logf("state %d bytes, bare keys %d bytes, ratio %.4f", len(ours), len(bare), ratio)
	if ratio > 1.15 {
		t.Fatalf("state takes %.4f times the bare keys, budget 1.15", ratio)
	}
	// Each element costs its key plus one byte of sequence step.
	if want := len(bare) - 5 + len(keys) + 40; len(ours) > want {
		t.Fatalf("state %d bytes, more than %d", len(ours), want)
	}
}

// badInputs returns the ways to spoil msg: every truncation, a future
// format version, a byte flipped at every offset.
func badInputs(msg []byte) map[string][]byte {
	out := map[string][]byte{}
	for n := range len(msg) {
		out[fmt.Sprintf("truncated to %d", n)] = msg[:n]
	}
	future := slices.Clone(msg)
	future[0] = codec.Version + 1
	out["future version"] = future
	out["trailing byte"] = append(slices.Clone(msg), 0x00)
	return out
}

func corruptions(msg []byte) map[string][]byte {
	out := map[string][]byte{}
	for i := range msg {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			b := slices.Clone(msg)
			b[i] ^= x
			out[fmt.Sprintf("byte %d ^ %#x", i, x)] = b
		}
	}
	return out
}

func requireDecodeError(t *testing.T, what string, err error) {
	t.Helper()
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("%s: error %v (%T), want a *codec.DecodeError", what, err, err)
	}
}

func TestBadStateInput(t *testing.T) {
	state := mustMarshal(t, goldenState(t))
	target := func() *Set[string] {
		s := New[string]("t")
		s.Add("kept")
		s.Remove("kept")
		s.Add("mine")
		return s
	}
	check := func(name string, b []byte, mustFail bool) {
		t.Helper()
		s, before := target(), target()
		errU := s.UnmarshalBinary(b)
		_, errM := s.MergeBinary(b)
		if errU == nil || errM == nil {
			if mustFail {
				t.Fatalf("%s: accepted", name)
			}
			// A corruption that decodes is another valid state, whose
			// encoding is exactly these bytes.
			if errU != nil || errM != nil {
				t.Fatalf("%s: UnmarshalBinary said %v, MergeBinary said %v", name, errU, errM)
			}
			var d Set[string]
			if err := d.UnmarshalBinary(b); err != nil || !bytes.Equal(mustMarshal(t, &d), b) {
				t.Fatalf("%s: decoded but re-encodes differently", name)
			}
			return
		}
		requireDecodeError(t, name+" (UnmarshalBinary)", errU)
		requireDecodeError(t, name+" (MergeBinary)", errM)
		if !s.Equal(before) || len(s.k.Records()) != len(before.k.Records()) {
			t.Fatalf("%s: the set changed", name)
		}
	}
	for name, b := range badInputs(state) {
		check(name, b, true)
	}
	for name, b := range corruptions(state) {
		check(name, b, false)
	}
	// An op is not a state, nor a version.
	op := mustMarshal(t, New[string]("a").Add("x"))
	s := target()
	_, err := s.MergeBinary(op)
	requireDecodeError(t, "op as state", err)
	if !errors.Is(err, codec.ErrKind) {
		t.Fatalf("op as state: %v, want ErrKind", err)
	}
	if _, err := s.DeltaSinceBinary(state); !errors.Is(err, codec.ErrKind) {
		t.Fatalf("state as version: %v, want ErrKind", err)
	}
	if _, err := s.DeltaSinceBinary(nil); err == nil {
		t.Fatal("empty version accepted")
	}
}

func TestBadOpInput(t *testing.T) {
	a := New[string]("us-east-1")
	b := New[string]("eu-west-1")
	apply(t, a, b.Add("x"))
	ops := map[string][]byte{
		"add":    mustMarshal(t, a.Add("y")),
		"re-add": mustMarshal(t, a.Add("x")),
		"remove": mustMarshal(t, a.Remove("x")),
		"no-op":  mustMarshal(t, a.Remove("x")),
	}
	target := func() *Set[string] {
		s := New[string]("t")
		s.Add("y")
		return s
	}
	for kind, op := range ops {
		check := func(name string, bad []byte, mustFail bool) {
			t.Helper()
			s, before := target(), target()
			var o Op[string]
			errU := o.UnmarshalBinary(bad)
			_, errA := s.ApplyBinary(bad)
			if errU == nil || errA == nil {
				if mustFail {
					t.Fatalf("%s %s: accepted", kind, name)
				}
				if errU != nil || errA != nil && !errors.Is(errA, ErrInvalidOp) {
					t.Fatalf("%s %s: UnmarshalBinary said %v, ApplyBinary said %v", kind, name, errU, errA)
				}
				if !bytes.Equal(mustMarshal(t, o), bad) {
					t.Fatalf("%s %s: decoded but re-encodes differently", kind, name)
				}
				return
			}
			requireDecodeError(t, kind+" "+name, errU)
			requireDecodeError(t, kind+" "+name, errA)
			if o.kind != opInvalid {
				t.Fatalf("%s %s: UnmarshalBinary changed the op on error", kind, name)
			}
			if !s.Equal(before) {
				t.Fatalf("%s %s: the set changed", kind, name)
			}
		}
		for name, bad := range badInputs(op) {
			check(name, bad, true)
		}
		for name, bad := range corruptions(op) {
			check(name, bad, false)
		}
	}
	// A state is not an op.
	var o Op[string]
	err := o.UnmarshalBinary(mustMarshal(t, a))
	requireDecodeError(t, "state as op", err)
	if !errors.Is(err, codec.ErrKind) {
		t.Fatalf("state as op: %v, want ErrKind", err)
	}
}

// TestDecodeRefusesNonCanonicalOps checks hand-made ops that carry a
// meaning but are not in the one form the encoder writes.
func TestDecodeRefusesNonCanonicalOps(t *testing.T) {
	head := func(kind codec.Kind, table ...byte) []byte {
		return append([]byte{0x01, byte(kind)}, table...)
	}
	us := append([]byte{0xa2}, "us"...)
	eu := append([]byte{0xa2}, "eu"...)
	cases := map[string][]byte{
		"long string header": append(head(codec.KindSetAdd, us...), 0xd9, 0x01, 'x', 0x01),
		"long integer":       append(head(codec.KindSetAdd, us...), 0xa1, 'x', 0xcc, 0x01),
		"empty dropped":      append(head(codec.KindSetAdd, us...), 0xa1, 'x', 0x02, 0x90),
		"unsorted dropped":   append(append(append(head(codec.KindSetRemove, 0x92), eu...), us...), 0xa1, 'x', 0x05, 0x94, 0x01, 0x02, 0x00, 0x01),
		"unused replica":     append(append(append(head(codec.KindSetAdd, 0x92), us...), eu...), 0xa1, 'x', 0x01),
		"zero seq":           append(head(codec.KindSetAdd, us...), 0xa1, 'x', 0x00),
		"remove w/o dropped": append(head(codec.KindSetRemove, us...), 0xa1, 'x', 0x02),
		"no-op with table":   append(head(codec.KindSetRemove, us...), 0xa1, 'x'),
		"add without table":  append(head(codec.KindSetAdd, 0x90), 0xa1, 'x'),
		"odd dropped":        append(head(codec.KindSetRemove, us...), 0xa1, 'x', 0x02, 0x91, 0x00),
	}
	for name, b := range cases {
		var o Op[string]
		if err := o.UnmarshalBinary(b); err == nil {
			t.Errorf("%s: accepted as %v", name, o)
		}
	}
}

func TestElementsOfEveryFastType(t *testing.T) {
	roundTrip := func(name string, s interface {
		MarshalBinary() ([]byte, error)
		UnmarshalBinary([]byte) error
	}, fresh interface {
		MarshalBinary() ([]byte, error)
		UnmarshalBinary([]byte) error
	}) {
		b := mustMarshal(t, s)
		if err := fresh.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(mustMarshal(t, fresh), b) {
			t.Fatalf("%s: round trip changed the bytes", name)
		}
	}
	bs := New[bool]("a")
	bs.Add(true)
	bs.Add(false)
	roundTrip("bool", bs, &Set[bool]{})
	is := New[int]("a")
	for _, v := range []int{-1 << 40, -200, -5, 0, 5, 200, 1 << 40} {
		is.Add(v)
	}
	roundTrip("int", is, &Set[int]{})
	us := New[uint16]("a")
	us.Add(0)
	us.Add(65535)
	roundTrip("uint16", us, &Set[uint16]{})
	fs := New[float64]("a")
	fs.Add(1.5)
	roundTrip("float64", fs, &Set[float64]{})
	// A non-shortest integer element is refused.
	long := []byte{0x01, byte(codec.KindSetAdd), 0xa1, 'a', 0xcd, 0x00, 0x05, 0x01}
	var o Op[int]
	if err := o.UnmarshalBinary(long); err == nil {
		t.Fatal("non-shortest integer element accepted")
	}
}

func TestVersionBinary(t *testing.T) {
	s := New[string]("a")
	s.Add("x")
	b, err := s.VersionBinary()
	if err != nil {
		t.Fatal(err)
	}
	var v vclock.Clock
	if err := v.UnmarshalBinary(b); err != nil || !v.Equal(vclock.Of(map[crdt.ReplicaID]uint64{"a": 1})) {
		t.Fatalf("version %v, %v", v, err)
	}
}
