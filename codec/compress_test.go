package codec_test

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/internal/costcheck"
)

// keysMessage is a message of kind KindUser from replica us-east-1: an
// array of n keys key-000000, key-000001…, then the bytes de ad.
func keysMessage(t testing.TB, n int) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindUser, 0)
	w.Table("us-east-1")
	w.Array(n)
	for i := range n {
		w.String(fmt.Sprintf("key-%06d", i))
	}
	w.Binary([]byte{0xde, 0xad})
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// inflate returns the bytes of a DEFLATE stream.
func inflate(t testing.TB, z []byte) []byte {
	t.Helper()
	b, err := io.ReadAll(flate.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deflate returns a DEFLATE stream of the columns laid end to end.
func deflate(t testing.TB, cols ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cols {
		if _, err := fw.Write(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// frame builds a compressed message by hand: the header, the five
// integers and the DEFLATE stream, each as given.
func frame(t testing.TB, kind codec.Kind, plain, s, tx, o uint64, z []byte) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindCompressed, 0)
	w.Uint(uint64(kind))
	w.Uint(plain)
	w.Uint(s)
	w.Uint(tx)
	w.Uint(o)
	w.Binary(z)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCompressGolden pins the compressed form of a message of 40 keys.
// The DEFLATE stream is the compressor's business, but what it holds is
// not: the test inflates it and checks the three columns against the
// bytes derived by hand below, and checks the header byte by byte.
func TestCompressGolden(t *testing.T) {
	msg := keysMessage(t, 40)
	// The plain message: 01 cc 80 a9 "us-east-1" (13 bytes), the array
	// header dc 00 28 (3), 40 keys of aa + 10 bytes (440), c4 02 de ad
	// (4): 460 bytes.
	if len(msg) != 460 {
		t.Fatalf("plain message of %d bytes, want 460", len(msg))
	}
	z, ok := codec.Compress(msg)
	if !ok {
		t.Fatal("not compressed")
	}
	path := filepath.Join("testdata", "compressed.golden")
	if *update {
		if err := os.WriteFile(path, z, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(z, want) {
		t.Fatalf("%s changed:\n got %x\nwant %x", path, z, want)
	}

	// The structure column: the header's bytes but the replica's (01,
	// cc 80, a9), the array header, one aa per key, the bin header c4 02.
	s := []byte{0x01, 0xcc, 0x80, 0xa9, 0xdc, 0x00, 0x28}
	s = append(s, bytes.Repeat([]byte{0xaa}, 40)...)
	s = append(s, 0xc4, 0x02)
	// The text column: "us-east-1" shares nothing (00); key-000000 shares
	// nothing with it (00 then its 10 bytes); each next key shares 9
	// bytes with the one before (9·2 = 12, and its last digit), except
	// key-000010, -20 and -30, which share 8 with the key before and no
	// more with the one before that (8·2 = 10, and two digits).
	tx := append([]byte{0x00}, "us-east-1"...)
	tx = append(tx, 0x00)
	tx = append(tx, "key-000000"...)
	for i := 1; i < 40; i++ {
		if i%10 == 0 {
			tx = append(tx, 0x10, byte('0'+i/10), '0')
		} else {
			tx = append(tx, 0x12, byte('0'+i%10))
		}
	}
	o := []byte{0xde, 0xad}
	if len(s) != 49 || len(tx) != 102 {
		t.Fatalf("columns of %d and %d bytes, derived 49 and 102", len(s), len(tx))
	}

	// The header: version 1, kind 70, an empty table 90, the plain kind
	// 80 (cc 80), the plain length 460 (cd 01 cc), the column lengths
	// 49 (31), 102 (66) and 2 (02), then the bin header of the stream.
	head := []byte{0x01, 0x70, 0x90, 0xcc, 0x80, 0xcd, 0x01, 0xcc, 0x31, 0x66, 0x02, 0xc4}
	if !bytes.HasPrefix(want, head) {
		t.Fatalf("header % x, want % x", want[:min(len(want), len(head))], head)
	}
	n := int(want[len(head)])
	if len(want) != len(head)+1+n {
		t.Fatalf("stream of %d bytes in a message of %d", n, len(want))
	}
	cols := inflate(t, want[len(head)+1:])
	if got := append(append(append([]byte{}, s...), tx...), o...); !bytes.Equal(cols, got) {
		t.Fatalf("columns\n % x\nwant\n % x", cols, got)
	}

	plain, err := codec.Decompress(want, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, msg) {
		t.Fatalf("decompressed % x\nwant % x", plain, msg)
	}
}

// TestNewReaderReadsCompressed reads a compressed message with the reader
// of the kind it holds, and finds what the plain message holds.
func TestNewReaderReadsCompressed(t *testing.T) {
	msg := keysMessage(t, 100)
	z, ok := codec.Compress(msg)
	if !ok || len(z) >= len(msg)/4 {
		t.Fatalf("compressed %v to %d bytes of %d", ok, len(z), len(msg))
	}
	r := codec.NewReader(z, codec.KindUser, codec.Limits{})
	if got := r.Replicas(); len(got) != 1 || got[0] != "us-east-1" {
		t.Fatalf("replica table %q", got)
	}
	n := r.ArrayLen()
	for i := range n {
		if s := r.String(); s != fmt.Sprintf("key-%06d", i) {
			t.Fatalf("key %d is %q", i, s)
		}
	}
	if b := r.Binary(); !bytes.Equal(b, []byte{0xde, 0xad}) || n != 100 {
		t.Fatalf("%d keys, then % x", n, b)
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Message(), msg) {
		t.Fatal("Message is not the plain message")
	}
	// Read as another kind, it is refused before anything is inflated.
	r = codec.NewReader(z, codec.KindSet, codec.Limits{})
	if err := r.Err(); !errors.Is(err, codec.ErrKind) || !strings.Contains(err.Error(), "compressed message: holds user kind 0x80") {
		t.Fatalf("read as an OR-Set: %v", err)
	}
	// Compressing again, or compressing what does not pay, gives the
	// message back.
	if again, ok := codec.Compress(z); ok || !bytes.Equal(again, z) {
		t.Fatal("a compressed message was compressed again")
	}
	small := keysMessage(t, 1)
	if out, ok := codec.Compress(small); ok || !bytes.Equal(out, small) {
		t.Fatalf("a message of %d bytes compressed to %d", len(small), len(out))
	}
	if out, err := codec.Decompress(small, codec.Limits{}); err != nil || !bytes.Equal(out, small) {
		t.Fatalf("Decompress of a plain message: %v", err)
	}
}

// TestDecompressRefuses feeds the reader compressed messages broken in
// every way it checks, and expects each refused whole, with the class of
// problem.
func TestDecompressRefuses(t *testing.T) {
	msg := keysMessage(t, 40)
	good, ok := codec.Compress(msg)
	if !ok {
		t.Fatal("not compressed")
	}
	// The columns of msg, as TestCompressGolden derives them.
	var s, tx []byte
	{
		head := 12 // bytes of good before its stream
		cols := inflate(t, good[head+1:])
		s, tx = cols[:49], cols[49:151]
	}
	o := []byte{0xde, 0xad}
	z := deflate(t, s, tx, o)
	if got := frame(t, codec.KindUser, 460, 49, 102, 2, z); !bytes.Equal(inflate(t, got[13:]), inflate(t, good[13:])) {
		t.Fatal("the hand-built frame does not hold the same columns")
	}
	badPrefix := append([]byte{}, tx...)
	badPrefix[10] = 0x20 // key-000000 would share 32 bytes with "us-east-1"
	notKind := append([]byte{}, s...)
	notKind[1], notKind[2] = 0x81, 0x30 // the plain message would be of kind 0x81
	cases := []struct {
		name  string
		msg   []byte
		lim   codec.Limits
		class error
	}{
		{"plain over the limit", good, codec.Limits{MaxBytes: 400}, codec.ErrLimit},
		{"plain over the ratio", frame(t, codec.KindUser, 460*codec.MaxRatio, 49, 102, 2, z), codec.Limits{}, codec.ErrLimit},
		{"columns over twice the plain", frame(t, codec.KindUser, 460, 49, 1000, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"stream shorter than the columns", frame(t, codec.KindUser, 460, 49, 110, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"stream longer than the columns", frame(t, codec.KindUser, 460, 49, 100, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"bytes after the stream", frame(t, codec.KindUser, 460, 49, 102, 2, append(append([]byte{}, z...), 0)), codec.Limits{}, codec.ErrMalformed},
		{"stream cut short", frame(t, codec.KindUser, 460, 49, 102, 2, z[:len(z)/2]), codec.Limits{}, codec.ErrMalformed},
		{"not DEFLATE", frame(t, codec.KindUser, 460, 49, 102, 2, []byte{0xff, 0xff, 0xff}), codec.Limits{}, codec.ErrMalformed},
		{"columns rebuild less", frame(t, codec.KindUser, 461, 49, 102, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"columns rebuild more", frame(t, codec.KindUser, 459, 49, 102, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"prefix longer than the string before", frame(t, codec.KindUser, 460, 49, 102, 2, deflate(t, s, badPrefix, o)), codec.Limits{}, codec.ErrMalformed},
		{"text left over", frame(t, codec.KindUser, 460, 49, 103, 2, deflate(t, s, tx, []byte{0}, o)), codec.Limits{}, codec.ErrMalformed},
		{"plain of another kind", frame(t, codec.KindUser, 460, 49, 102, 2, deflate(t, notKind, tx, o)), codec.Limits{}, codec.ErrMalformed},
		{"holds a compressed message", frame(t, codec.KindCompressed, 460, 49, 102, 2, z), codec.Limits{}, codec.ErrMalformed},
		{"trailing bytes", append(append([]byte{}, good...), 0xc0), codec.Limits{}, codec.ErrMalformed},
		{"cut short", good[:len(good)-3], codec.Limits{}, codec.ErrTruncated},
		{"stream as a string", append(append([]byte{}, good[:11]...), append([]byte{0xd9}, good[12:]...)...), codec.Limits{}, codec.ErrMalformed},
	}
	// A message of kind 70 with a replica table is not taken for a
	// compressed one (IsCompressed looks for 01 70 90): it is returned as
	// it is, and a reader of another kind refuses it for its kind.
	withTable := append([]byte{0x01, 0x70, 0xa1, 'a'}, good[3:]...)
	if out, err := codec.Decompress(withTable, codec.Limits{}); err != nil || !bytes.Equal(out, withTable) {
		t.Fatalf("Decompress of a kind-70 message with a table: %v", err)
	}
	if err := codec.NewReader(withTable, codec.KindUser, codec.Limits{}).Err(); !errors.Is(err, codec.ErrKind) {
		t.Fatalf("read as a user kind: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Every reader: Decompress, and NewReader of the kind held.
			_, err := codec.Decompress(c.msg, c.lim)
			r := codec.NewReader(c.msg, codec.KindUser, c.lim)
			for _, err := range []error{err, r.Err()} {
				var de *codec.DecodeError
				if !errors.As(err, &de) || !errors.Is(err, c.class) {
					t.Fatalf("got %v, want a *DecodeError wrapping %v", err, c.class)
				}
				if !strings.Contains(err.Error(), "compressed message") {
					t.Fatalf("%v does not say the message was compressed", err)
				}
			}
		})
	}
}

// TestCompressKeepsPlainBeyondRatio: a message that would expand more
// than MaxRatio times is kept plain, as a reader would refuse it.
func TestCompressKeepsPlainBeyondRatio(t *testing.T) {
	w := codec.NewWriter(codec.KindUser, 0)
	long := strings.Repeat("x", 60000)
	for range 100 {
		w.String(long) // each the one before: 6 bytes of columns
	}
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := codec.Compress(msg); ok || !bytes.Equal(out, msg) {
		t.Fatalf("compressed %d bytes to %d, a ratio over %d", len(msg), len(out), codec.MaxRatio)
	}
}

// genMessage draws a message of random msgpack values, strings from a
// small alphabet so that neighbours share prefixes.
func genMessage(t *rapid.T) []byte {
	w := codec.NewWriter(codec.KindUser, 0)
	for _, id := range rapid.SliceOfNDistinct(rapid.StringMatching(`[a-c]{1,3}`), 0, 3, rapid.ID).Draw(t, "table") {
		w.Table(id)
	}
	str := rapid.StringMatching(`(key-[0-9]{0,3}){0,3}`)
	for range rapid.IntRange(0, 60).Draw(t, "values") {
		switch rapid.IntRange(0, 9).Draw(t, "type") {
		case 0:
			w.Uint(rapid.Uint64().Draw(t, "u"))
		case 1:
			w.Int(rapid.Int64().Draw(t, "i"))
		case 2:
			w.String(str.Draw(t, "s"))
		case 3:
			w.String(strings.Repeat(str.Draw(t, "s"), rapid.IntRange(0, 300).Draw(t, "times")))
		case 4:
			w.Binary(rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "bin"))
		case 5:
			w.Array(rapid.IntRange(0, 70000).Draw(t, "array"))
		case 6:
			w.Map(rapid.IntRange(0, 20).Draw(t, "map"))
		case 7:
			w.Float(rapid.Float64().Draw(t, "f"))
		case 8:
			w.Bool(rapid.Bool().Draw(t, "b"))
		default:
			// An extension value as msgpack writes a user type's: fixext
			// or ext with its type byte.
			n := rapid.SampledFrom([]int{1, 2, 4, 8, 16, 3, 300}).Draw(t, "ext")
			switch n {
			case 1, 2, 4, 8, 16:
				w.Raw(append([]byte{map[int]byte{1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}[n], 5}, make([]byte, n)...))
			case 3:
				w.Raw([]byte{0xc7, 3, 5, 1, 2, 3})
			default:
				w.Raw(append([]byte{0xc8, 0x01, 0x2c, 5}, make([]byte, 300)...))
			}
		}
	}
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestCompressRoundTrip: any message, compressed, decompresses to itself,
// byte for byte, and is smaller; one that is not compressed is returned
// as it is.
func TestCompressRoundTrip(t *testing.T) {
	var c codec.Compressor // reused, as a host does
	compressed := 0
	rapid.Check(t, func(t *rapid.T) {
		msg := genMessage(t)
		z, ok := c.Compress(msg)
		if !ok {
			if !bytes.Equal(z, msg) {
				t.Fatal("a message not compressed came back changed")
			}
			return
		}
		compressed++
		if len(z) >= len(msg) || !codec.IsCompressed(z) {
			t.Fatalf("compressed %d bytes to %d", len(msg), len(z))
		}
		plain, err := codec.Decompress(z, codec.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(plain, msg) {
			t.Fatalf("decompressed\n% x\nwant\n% x", plain, msg)
		}
		if r := codec.NewReader(z, codec.KindUser, codec.Limits{}); r.Err() != nil || !bytes.Equal(r.Message(), msg) {
			t.Fatalf("NewReader: %v", r.Err())
		}
	})
	if compressed == 0 {
		t.Fatal("no message was compressed")
	}
}

// seedCompressed adds compressed messages to a fuzz corpus.
func seedCompressed(f *testing.F) {
	msg := keysMessage(f, 40)
	z, _ := codec.Compress(msg)
	f.Add(z)
	f.Add(msg)
	big, _ := codec.Compress(keysMessage(f, 3000))
	f.Add(big)
	f.Add(frame(f, codec.KindUser, 460, 49, 102, 2, []byte{0x01, 0x00, 0x00, 0xff, 0xff}))
}

// FuzzDecompress reads any input as a compressed message. No input may
// panic; an error is a *DecodeError; a message accepted decompresses to
// at most the limit and MaxRatio times its length, and compressing that
// plain message again gives one that decompresses to it. Any input,
// compressed, decompresses to itself.
func FuzzDecompress(f *testing.F) {
	seedCompressed(f)
	lim := codec.Limits{MaxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		plain, err := codec.Decompress(data, lim)
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
		} else if codec.IsCompressed(data) {
			if len(plain) > lim.MaxBytes || len(plain) > codec.MaxRatio*len(data) {
				t.Fatalf("%d bytes decompressed to %d", len(data), len(plain))
			}
			if z, ok := codec.Compress(plain); ok {
				back, err := codec.Decompress(z, lim)
				if err != nil || !bytes.Equal(back, plain) {
					t.Fatalf("recompressed: %v", err)
				}
			}
		}
		if z, ok := codec.Compress(data); ok {
			back, err := codec.Decompress(z, codec.Limits{})
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("compressed input: %v", err)
			}
		}
	})
}

// FuzzDecompressCost holds decompression, on any input, to the bounds of
// package costcheck, the input weighing as the plain message it claims
// (costcheck.Weight). The fixed allowance is the DEFLATE reader's state.
func FuzzDecompressCost(f *testing.F) {
	seedCompressed(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		costcheck.Check(t, "Decompress", costcheck.Weight(data), 128<<10, func() { _, _ = codec.Decompress(data, codec.Limits{}) })
		costcheck.Check(t, "NewReader", costcheck.Weight(data), 128<<10, func() { _ = codec.NewReader(data, codec.KindUser, codec.Limits{}) })
	})
}

// TestCompressTextSharesWithTheStringBeforeLast: in a map's state keys
// and values alternate, so a key shares its prefix with the key before
// the value before it. The text column, derived by hand below, says so.
func TestCompressTextSharesWithTheStringBeforeLast(t *testing.T) {
	w := codec.NewWriter(codec.KindUser, 0)
	w.Array(40)
	for i := range 20 {
		w.String(fmt.Sprintf("key-%02d", i))
		w.String(fmt.Sprintf("val-%02d", i))
	}
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	z, ok := codec.Compress(msg)
	if !ok {
		t.Fatal("not compressed")
	}
	// Header 01 cc 80 90, then dc 00 28: 7 bytes before the stream's
	// columns start; the structure column is those 7 and 40 a6.
	cols := inflate(t, z[bytes.IndexByte(z, 0xc4)+2:])
	// key-00 and val-00 share nothing (00, then 6 bytes each). Then
	// key-i shares nothing with val-(i-1) before it, but 5 bytes with
	// key-(i-1), 4 when i ends a run of ten: 5·2+1 = 0b then its last
	// byte, or 4·2+1 = 09 then its last two; and so does val-i.
	tx := []byte{0x00}
	tx = append(tx, "key-00"...)
	tx = append(tx, 0x00)
	tx = append(tx, "val-00"...)
	for i := 1; i < 20; i++ {
		for range 2 {
			if i%10 == 0 {
				tx = append(tx, 0x09, byte('0'+i/10), '0')
			} else {
				tx = append(tx, 0x0b, byte('0'+i%10))
			}
		}
	}
	if len(cols) != 7+40+len(tx) || !bytes.Equal(cols[47:], tx) {
		t.Fatalf("text column\n% x\nwant\n% x", cols[min(47, len(cols)):], tx)
	}
	if back, err := codec.Decompress(z, codec.Limits{}); err != nil || !bytes.Equal(back, msg) {
		t.Fatalf("decompressed: %v", err)
	}
}
