package vclock_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestClockRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := genVV().Draw(t, "m")
		// Counts of every integer width.
		for id := range m {
			m[id] = rapid.SampledFrom([]uint64{1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 1<<32 - 1, 1 << 32, vclock.MaxSeq}).Draw(t, "count")
		}
		c := build(m)
		data, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got vclock.Clock
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("decoding %x: %v", data, err)
		}
		if !got.Equal(c) {
			t.Fatalf("round trip %v -> %v", c, got)
		}
		// Embedded in a message of another kind, after other replicas.
		w := codec.NewWriter(codec.KindUser, 0)
		w.Replica("zz")
		c.Encode(w)
		data, err = w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		r := codec.NewReader(data, codec.KindUser, codec.Limits{})
		if r.Replica() != "zz" {
			t.Fatal("lost the first replica")
		}
		if got := vclock.DecodeClock(r); r.Done() != nil || !got.Equal(c) {
			t.Fatalf("embedded round trip %v -> %v, %v", c, got, r.Err())
		}
	})
}

func TestContextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c, _ := buildCtx(genOps().Draw(t, "ops"))
		if rapid.Bool().Draw(t, "far") {
			c.AddRange("far", 1<<40, 1<<40+3)
			c.AddRange("far", vclock.MaxSeq-1, vclock.MaxSeq)
		}
		data, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got vclock.Context
		if err := got.UnmarshalBinary(data); err != nil {
			t.Fatalf("decoding %x: %v", data, err)
		}
		if !got.Equal(&c) {
			t.Fatalf("round trip %v -> %v", c.String(), got.String())
		}
	})
}

// msg builds a message from hex, spaces allowed, for the hand-made inputs
// below.
func msg(t *testing.T, h string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The messages below are written out by hand from the format: version 1,
// kind (01 clock, 02 context), the replica table (a bare string for one
// replica, else an array), then the body.

func TestClockDecodeCanonical(t *testing.T) {
	// {a:1 b:2}: table ["a","b"], body [0, 1, 1, 2].
	good := msg(t, "01 01 92 a161 a162 94 00 01 01 02")
	var c vclock.Clock
	if err := c.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	if c.String() != "{a:1 b:2}" {
		t.Fatalf("decoded %v", c)
	}
	if again, _ := c.MarshalBinary(); !bytes.Equal(again, good) {
		t.Fatalf("Encode wrote %x, hand-made %x", again, good)
	}
	for name, h := range map[string]string{
		"replicas out of order":       "01 01 92 a161 a162 94 01 01 00 02",
		"replica twice":               "01 01 a161 94 00 01 00 02",
		"zero count":                  "01 01 a161 92 00 00",
		"odd number of fields":        "01 01 a161 93 00 01 00",
		"count not shortest":          "01 01 a161 92 00 cc01",
		"count as signed integer":     "01 01 a161 92 00 d001",
		"index not shortest":          "01 01 a161 92 cc00 01",
		"index outside the table":     "01 01 a161 92 01 01",
		"table not in replica order":  "01 01 92 a162 a161 94 01 01 00 02",
		"unused table entry":          "01 01 92 a161 a162 92 00 01",
		"one-entry table as an array": "01 01 91 a161 92 00 01",
		"duplicate table entry":       "01 01 92 a161 a161 92 00 01",
		"empty replica ID":            "01 01 a0 92 00 01",
		"count not an integer":        "01 01 a161 92 00 c3",
		"trailing bytes":              "01 01 a161 92 00 01 00",
		"truncated":                   "01 01 a161 92 00",
		"wrong kind":                  "01 02 a161 92 00 01",
		"future version":              "02 01 a161 92 00 01",
	} {
		t.Run(name, func(t *testing.T) {
			c := vclock.Of(map[crdt.ReplicaID]uint64{"keep": 1})
			err := c.UnmarshalBinary(msg(t, h))
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("UnmarshalBinary(%s) = %v, want a *codec.DecodeError", h, err)
			}
			if c.String() != "{keep:1}" {
				t.Fatalf("a failed decode changed the clock to %v", c)
			}
		})
	}
}

func TestContextDecodeCanonical(t *testing.T) {
	// {a:1-2,5-6 b:1}: table ["a","b"], body [[0, 2, 5, 6], [1, 1]].
	good := msg(t, "01 02 92 a161 a162 92 94 00 02 05 06 92 01 01")
	var c vclock.Context
	if err := c.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	if c.String() != "{a:1-2,5-6 b:1}" {
		t.Fatalf("decoded %v", c.String())
	}
	if again, _ := c.MarshalBinary(); !bytes.Equal(again, good) {
		t.Fatalf("Encode wrote %x, hand-made %x", again, good)
	}
	for name, h := range map[string]string{
		"replicas out of order":         "01 02 92 a161 a162 92 92 01 01 92 00 01",
		"replica twice":                 "01 02 a161 92 92 00 01 92 00 03",
		"empty entry":                   "01 02 a161 91 92 00 00",
		"entry of one field":            "01 02 a161 91 91 00",
		"entry of three fields":         "01 02 a161 91 93 00 01 05",
		"run touching the count":        "01 02 a161 91 94 00 02 03 04",
		"run overlapping the count":     "01 02 a161 91 94 00 04 03 05",
		"runs out of order":             "01 02 a161 91 96 00 00 08 09 03 04",
		"runs touching":                 "01 02 a161 91 96 00 00 03 04 05 06",
		"runs overlapping":              "01 02 a161 91 96 00 00 03 05 05 06",
		"run upside down":               "01 02 a161 91 94 00 00 06 05",
		"run from zero":                 "01 02 a161 91 94 00 00 00 03",
		"run after the last event":      "01 02 a161 91 94 00 cfffffffffffffffff 05 06",
		"bound not shortest":            "01 02 a161 91 94 00 00 cc05 06",
		"count not shortest":            "01 02 a161 91 92 00 cd0001",
		"entry not an array":            "01 02 a161 91 00",
		"table not in replica order":    "01 02 92 a162 a161 92 92 01 01 92 00 01",
		"unused table entry":            "01 02 92 a161 a162 91 92 00 01",
		"array claims too many entries": "01 02 a161 dd ffffffff 92 00 01",
		"truncated":                     "01 02 a161 91 94 00 02 05",
	} {
		t.Run(name, func(t *testing.T) {
			var c vclock.Context
			c.Add(vclock.Dot{Replica: "keep", Seq: 1})
			err := c.UnmarshalBinary(msg(t, h))
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("UnmarshalBinary(%s) = %v, want a *codec.DecodeError", h, err)
			}
			if c.String() != "{keep:1}" {
				t.Fatalf("a failed decode changed the context to %v", c.String())
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s changed:\n got %x\nwant %x", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	c := vclock.Of(map[crdt.ReplicaID]uint64{"us-east-1": 3, "eu-west-1": 300, "ap-south-1": 70000})
	data, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "clock.golden", data)
	var back vclock.Clock
	if err := back.UnmarshalBinary(data); err != nil || !back.Equal(c) {
		t.Fatalf("golden clock decodes to %v, %v", back, err)
	}

	// A context whose runs arrived out of order: later events first.
	var x vclock.Context
	x.AddRange("us-east-1", 10, 12)
	x.Add(vclock.Dot{Replica: "us-east-1", Seq: 1})
	x.AddRange("us-east-1", 5, 6)
	x.Add(vclock.Dot{Replica: "eu-west-1", Seq: 2})
	x.AddRange("eu-west-1", 1, 1)
	x.Add(vclock.Dot{Replica: "ap-south-1", Seq: 4})
	if x.String() != "{ap-south-1:4 eu-west-1:1-2 us-east-1:1,5-6,10-12}" {
		t.Fatalf("context built as %s", x.String())
	}
	data, err = x.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "context.golden", data)
	var y vclock.Context
	if err := y.UnmarshalBinary(data); err != nil || !y.Equal(&x) {
		t.Fatalf("golden context decodes to %v, %v", y.String(), err)
	}
}

func FuzzDecodeClock(f *testing.F) {
	for _, m := range []map[crdt.ReplicaID]uint64{
		nil, {"a": 1}, {"a": 1, "b": 2}, {"us-east-1": 1 << 40, "eu-west-1": 300},
	} {
		data, err := vclock.Of(m).MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{0x01, 0x01, 0xa1, 0x61, 0x92, 0x00, 0xcc, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var c vclock.Clock
		err := c.UnmarshalBinary(data)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			if !c.IsZero() {
				t.Fatalf("a failed decode changed the clock to %v", c)
			}
			return
		}
		again, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decoded %x as %v, which encodes as %x", data, c, again)
		}
	})
}

func FuzzDecodeContext(f *testing.F) {
	seeds := []func(*vclock.Context){
		func(*vclock.Context) {},
		func(c *vclock.Context) { c.Add(vclock.Dot{Replica: "a", Seq: 1}) },
		func(c *vclock.Context) {
			c.AddRange("a", 1, 2)
			c.AddRange("a", 5, 6)
			c.AddRange("b", 3, 300)
		},
	}
	for _, s := range seeds {
		var c vclock.Context
		s(&c)
		data, err := c.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c vclock.Context
		err := c.UnmarshalBinary(data)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			if !c.IsEmpty() {
				t.Fatalf("a failed decode changed the context to %v", c.String())
			}
			return
		}
		again, err := c.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("decoded %x as %v, which encodes as %x", data, c.String(), again)
		}
		// Whatever decodes is a well-formed context: its runs are maximal.
		var rebuilt vclock.Context
		for r := range c.Ranges() {
			rebuilt.AddRange(r.Replica, r.Lo, r.Hi)
		}
		if !rebuilt.Equal(&c) {
			t.Fatalf("decoded %v is not in its compact form %v", c.String(), rebuilt.String())
		}
	})
}

// TestRegressionPeerPoisonsOwnWrites pins the vclock part of issue 9
// finding 5: a peer that sent a count or a dot of 2⁶⁴-1 made the
// receiver's Next wrap to 0. Decoders now refuse anything above MaxSeq,
// and Next never goes past it.
func TestRegressionPeerPoisonsOwnWrites(t *testing.T) {
	for _, n := range []uint64{vclock.MaxSeq + 1, 1<<64 - 1} {
		var big vclock.Clock
		big.Set("a", n)
		data, err := big.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var c vclock.Clock
		if err := c.UnmarshalBinary(data); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("a clock with count %d: %v, want ErrMalformed", n, err)
		}
		for _, ctx := range []func(*vclock.Context){
			func(c *vclock.Context) { c.AddRange("a", 1, n) },
			func(c *vclock.Context) { c.AddRange("a", 5, n) },
		} {
			var in vclock.Context
			ctx(&in)
			data, err := in.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var got vclock.Context
			if err := got.UnmarshalBinary(data); !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("context %v: %v, want ErrMalformed", in.String(), err)
			}
		}
	}
	var c vclock.Context
	c.AddRange("a", 1, vclock.MaxSeq-1)
	if d := c.Next("a"); d.Seq != vclock.MaxSeq {
		t.Fatalf("Next = %v, want the last sequence number %d", d, uint64(vclock.MaxSeq))
	}
	c.Add(c.Next("a"))
	if d := c.Next("a"); d.Seq != 0 {
		t.Fatalf("Next after MaxSeq = %v, want sequence number 0", d)
	}
}

// TestUnmarshalTotals: a version whose counts are totals (a counter's)
// decodes with counts past MaxSeq, which UnmarshalClock refuses, and a
// truncated one does not.
func TestUnmarshalTotals(t *testing.T) {
	var c vclock.Clock
	c.Set("a", 3)
	c.Set("b", math.MaxUint64)
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vclock.UnmarshalClock(b, codec.Limits{}); err == nil {
		t.Fatal("UnmarshalClock took a count past MaxSeq")
	}
	got, err := vclock.UnmarshalTotals(b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Get("a") != 3 || got.Get("b") != math.MaxUint64 || got.Len() != 2 {
		t.Fatalf("UnmarshalTotals = %v, want %v", got, c)
	}
	if _, err := vclock.UnmarshalTotals(b[:len(b)-1], codec.Limits{}); err == nil {
		t.Fatal("UnmarshalTotals took a truncated version")
	}
}
