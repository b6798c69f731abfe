package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/codec"
)

// opMessage writes a message of kind k in format version v whose table is
// ids, with a body of the varint 9 and the string "k".
func opMessage(t testing.TB, k codec.Kind, v int, ids ...string) []byte {
	t.Helper()
	w := codec.NewWriter(k, 0)
	w.SetVersion(v)
	w.Table(ids...)
	w.Uvarint(9)
	w.String("k")
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// opBody is the body opMessage writes.
var opBody = []byte{0x09, 0xa1, 'k'}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestShortHeaderBytes(t *testing.T) {
	id31, id32 := strings.Repeat("x", 31), strings.Repeat("y", 32)
	for name, c := range map[string]struct {
		kind codec.Kind
		v    int
		ids  []string
		want []byte
	}{
		// 0x40, plus 0x20 for a delete, plus the ID's length; the ID's
		// bytes, raw.
		"put":               {codec.KindMapPut, 3, []string{"r1"}, cat([]byte{0x42, 'r', '1'}, opBody)},
		"delete":            {codec.KindMapDelete, 3, []string{"r1"}, cat([]byte{0x62, 'r', '1'}, opBody)},
		"ID of 1 byte":      {codec.KindMapPut, 3, []string{"a"}, cat([]byte{0x41, 'a'}, opBody)},
		"ID of 31 bytes":    {codec.KindMapDelete, 3, []string{id31}, cat([]byte{0x7f}, []byte(id31), opBody)},
		"ID of 32 bytes":    {codec.KindMapPut, 3, []string{id32}, cat([]byte{0x03, 0x41, 0xd9, 32}, []byte(id32), opBody)},
		"two IDs":           {codec.KindMapPut, 3, []string{"a", "b"}, cat([]byte{0x03, 0x41, 0x92, 0xa1, 'a', 0xa1, 'b'}, opBody)},
		"no ID":             {codec.KindMapDelete, 3, nil, cat([]byte{0x03, 0x42, 0x90}, opBody)},
		"version 2":         {codec.KindMapPut, 2, []string{"r1"}, cat([]byte{0x02, 0x41, 0xa2, 'r', '1'}, opBody)},
		"another user kind": {codec.KindUser, 3, []string{"r1"}, cat([]byte{0x03, 0xcc, 0x80, 0xa2, 'r', '1'}, opBody)},
	} {
		t.Run(name, func(t *testing.T) {
			msg := opMessage(t, c.kind, c.v, c.ids...)
			if !bytes.Equal(msg, c.want) {
				t.Fatalf("message % x, want % x", msg, c.want)
			}
			// A reader of version 2 reads the format version as a
			// msgpack integer: for a short header, a positive fixint
			// from 64 to 127, which it refuses.
			var v uint64
			if err := msgpack.Unmarshal(msg[:1], &v); err != nil {
				t.Fatal(err)
			}
			if short := c.v == 3 && len(c.ids) == 1 && len(c.ids[0]) <= 31 && c.kind < codec.KindUser; short != (v >= 64 && v <= 127) {
				t.Fatalf("first byte %#x read as version %d by msgpack", msg[0], v)
			}
			r := codec.NewReader(msg, c.kind, codec.Limits{})
			if r.Version() != c.v || !equalIDs(r.Replicas(), c.ids) || r.CanonicalUvarint() != 9 || r.CanonicalString() != "k" || r.Done() != nil {
				t.Fatalf("read back version %d, table %q: %v", r.Version(), r.Replicas(), r.Err())
			}
			var each []string
			if err := codec.EachReplica(msg, func(id []byte) { each = append(each, string(id)) }); err != nil || !equalIDs(each, c.ids) {
				t.Fatalf("EachReplica: %q, %v", each, err)
			}
		})
	}
}

func equalIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestShortHeaderOmitRestore(t *testing.T) {
	id31, id32 := strings.Repeat("x", 31), strings.Repeat("y", 32)
	for name, c := range map[string]struct {
		kind  codec.Kind
		ids   []string
		id    string
		short []byte // what OmitReplica makes
	}{
		"put":            {codec.KindMapPut, []string{"r1"}, "r1", cat([]byte{0x40}, opBody)},
		"delete":         {codec.KindMapDelete, []string{"r1"}, "r1", cat([]byte{0x60}, opBody)},
		"ID of 31 bytes": {codec.KindMapPut, []string{id31}, id31, cat([]byte{0x40}, opBody)},
		// The long header's reference is the short one all the same.
		"ID of 32 bytes": {codec.KindMapDelete, []string{id32}, id32, cat([]byte{0x60}, opBody)},
		// A table of two keeps its array and takes msgpack nil.
		"two IDs": {codec.KindMapPut, []string{"a", "r1"}, "r1", cat([]byte{0x03, 0x41, 0x92, 0xa1, 'a', 0xc0}, opBody)},
	} {
		t.Run(name, func(t *testing.T) {
			msg := opMessage(t, c.kind, 3, c.ids...)
			short, ok := codec.OmitReplica([]byte{0xee}, msg, c.id)
			if !ok || !bytes.Equal(short[1:], c.short) || short[0] != 0xee {
				t.Fatalf("OmitReplica = % x, %v; want ee % x", short, ok, c.short)
			}
			short = short[1:]
			if err := codec.NewReader(short, c.kind, codec.Limits{}).Err(); !errors.Is(err, codec.ErrMalformed) {
				t.Fatalf("a Reader read a reference: %v", err)
			}
			var each []string
			if err := codec.EachReplica(short, func(id []byte) { each = append(each, string(id)) }); err != nil || !equalIDs(each, c.ids[:len(c.ids)-1]) {
				t.Fatalf("EachReplica of the short form: %q, %v", each, err)
			}
			whole, err := codec.RestoreReplica([]byte{0xee}, short, c.id, codec.Limits{})
			if err != nil || !bytes.Equal(whole[1:], msg) {
				t.Fatalf("RestoreReplica = % x, %v; want ee % x", whole, err, msg)
			}
			if _, ok := codec.OmitReplica(nil, msg, c.id+"z"); ok {
				t.Fatal("OmitReplica left out an ID the table does not name")
			}
		})
	}
	// A short reference restored with an ID of 32 bytes or more takes the
	// long header of version 3; with one of 31, the short header.
	for _, id := range []string{id31, id32, strings.Repeat("z", 300)} {
		want := opMessage(t, codec.KindMapPut, 3, id)
		got, err := codec.RestoreReplica(nil, cat([]byte{0x40}, opBody), id, codec.Limits{})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("restored with an ID of %d bytes: % x, %v; want % x", len(id), got, err, want)
		}
	}
}

func TestShortHeaderRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		msg  []byte
		kind codec.Kind
		want error
	}{
		"reference":                     {cat([]byte{0x40}, opBody), codec.KindMapPut, codec.ErrMalformed},
		"cut after the first byte":      {[]byte{0x42}, codec.KindMapPut, codec.ErrTruncated},
		"cut inside the ID":             {[]byte{0x63, 'a', 'b'}, codec.KindMapDelete, codec.ErrTruncated},
		"a delete read as a put":        {cat([]byte{0x61, 'a'}, opBody), codec.KindMapPut, codec.ErrKind},
		"a put read as a delete":        {cat([]byte{0x41, 'a'}, opBody), codec.KindMapDelete, codec.ErrKind},
		"a put read as a clock":         {cat([]byte{0x41, 'a'}, opBody), codec.KindClock, codec.ErrKind},
		"long header, short ID":         {cat([]byte{0x03, 0x41, 0xa1, 'a'}, opBody), codec.KindMapPut, codec.ErrMalformed},
		"long header, ID of 31":         {cat([]byte{0x03, 0x42, 0xbf}, []byte(strings.Repeat("x", 31)), opBody), codec.KindMapDelete, codec.ErrMalformed},
		"long header, ID as str8":       {cat([]byte{0x03, 0x41, 0xd9, 0x01, 'a'}, opBody), codec.KindMapPut, codec.ErrMalformed},
		"long header, reference":        {cat([]byte{0x03, 0x41, 0xc0}, opBody), codec.KindMapPut, codec.ErrMalformed},
		"version 3 of another kind":     {cat([]byte{0x03, 0x50, 0xa1, 'a'}, opBody), codec.KindORMap, codec.ErrVersion},
		"version 4":                     {cat([]byte{0x04, 0x41, 0xa1, 'a'}, opBody), codec.KindMapPut, codec.ErrVersion},
		"long header of version 64":     {cat([]byte{0xcc, 0x40, 0x41, 0xa1, 'a'}, opBody), codec.KindMapPut, codec.ErrMalformed},
		"a table of one ID as an array": {cat([]byte{0x03, 0x41, 0x91, 0xa1, 'a'}, opBody), codec.KindMapPut, codec.ErrMalformed},
	} {
		err := codec.NewReader(c.msg, c.kind, codec.Limits{}).Err()
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want a *codec.DecodeError wrapping %v", name, err, c.want)
		}
	}
	// RestoreReplica and EachReplica refuse what they cannot read.
	for name, c := range map[string]struct {
		msg  []byte
		id   string
		want error
	}{
		"no reference":            {cat([]byte{0x41, 'a'}, opBody), "a", codec.ErrMalformed},
		"empty ID":                {cat([]byte{0x40}, opBody), "", codec.ErrMalformed},
		"long header, reference":  {cat([]byte{0x03, 0x41, 0xc0}, opBody), "a", codec.ErrMalformed},
		"long header, short ID":   {cat([]byte{0x03, 0x41, 0x92, 0xa1, 'a', 0xc0}, opBody), "b", nil},
		"long, ID beside its ref": {cat([]byte{0x03, 0x41, 0x92, 0xa1, 'a', 0xc0}, opBody), "a", codec.ErrMalformed},
		"too long":                {cat([]byte{0x40}, make([]byte, 100)), "a", codec.ErrLimit},
	} {
		_, err := codec.RestoreReplica(nil, c.msg, c.id, codec.Limits{MaxBytes: 64})
		if c.want == nil && err == nil {
			continue
		}
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, c.want) {
			t.Errorf("RestoreReplica, %s: %v, want a *codec.DecodeError wrapping %v", name, err, c.want)
		}
	}
	if err := codec.EachReplica([]byte{0x45, 'a'}, func([]byte) { t.Error("EachReplica named an ID cut short") }); !errors.Is(err, codec.ErrTruncated) {
		t.Errorf("EachReplica of a cut ID: %v", err)
	}
	if err := codec.EachReplica(cat([]byte{0x03, 0x41, 0xa1, 'a'}, opBody), func([]byte) { t.Error("EachReplica named the ID of a refused header") }); !errors.Is(err, codec.ErrMalformed) {
		t.Errorf("EachReplica of a long header that should be short: %v", err)
	}
	if _, ok := codec.OmitReplica(nil, cat([]byte{0x03, 0x41, 0xa1, 'a'}, opBody), "a"); ok {
		t.Error("OmitReplica of a long header that should be short")
	}
	for _, msg := range [][]byte{{0x40}, {0x45, 'a'}, nil} {
		if _, ok := codec.OmitReplica(nil, msg, "a"); ok {
			t.Errorf("OmitReplica of % x", msg)
		}
	}
}

func TestShortHeaderCompression(t *testing.T) {
	// A short header, its raw ID and the varints after it are not msgpack:
	// Compress either declines or writes a message that decompresses to
	// exactly the same bytes, read back through NewReader.
	ids := []string{"r1", "us-east-1", "\xc1\xc1", "\xd9\xff", "\xa5ab", "p", "\x70\x90", strings.Repeat("x", 31), strings.Repeat("y", 40)}
	kept, compressed := 0, 0
	for _, id := range ids {
		for _, k := range []codec.Kind{codec.KindMapPut, codec.KindMapDelete} {
			w := codec.NewWriter(k, 0)
			w.SetVersion(3)
			w.Table(id)
			w.Uvarint(1 << 40)
			w.Uvarint(math.MaxUint64)
			w.String(strings.Repeat("key-", 30))
			w.String(strings.Repeat("key-", 30))
			msg, err := w.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			z, ok := codec.Compress(msg)
			if !ok {
				if !bytes.Equal(z, msg) {
					t.Fatalf("%q: declined, but returned % x", id, z)
				}
				kept++
				continue
			}
			compressed++
			plain, err := codec.Decompress(z, codec.Limits{})
			if err != nil || !bytes.Equal(plain, msg) {
				t.Fatalf("%q: decompressed % x, %v; want % x", id, plain, err, msg)
			}
			r := codec.NewReader(z, k, codec.Limits{})
			if r.Version() != 3 || !equalIDs(r.Replicas(), []string{id}) || r.CanonicalUvarint() != 1<<40 || r.CanonicalUvarint() != math.MaxUint64 {
				t.Fatalf("%q: read back %q: %v", id, r.Replicas(), r.Err())
			}
			r.CanonicalString()
			r.CanonicalString()
			if err := r.Done(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if compressed == 0 {
		t.Fatalf("no message compressed (%d kept)", kept)
	}
	// A message that holds such ops, as bin, compresses as any other.
	w := codec.NewWriter(codec.KindUser, 0)
	w.Array(len(ids))
	for _, id := range ids {
		short, _ := codec.OmitReplica(nil, opMessage(t, codec.KindMapPut, 3, id), id)
		w.Binary(short)
		w.Binary(opMessage(t, codec.KindMapDelete, 3, id))
	}
	msg, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	z, ok := codec.Compress(msg)
	if !ok {
		t.Fatal("a message of ops not compressed")
	}
	if plain, err := codec.Decompress(z, codec.Limits{}); err != nil || !bytes.Equal(plain, msg) {
		t.Fatalf("decompressed % x, %v", plain, err)
	}
}

func TestUvarint(t *testing.T) {
	for _, u := range []uint64{0, 1, 0x7f, 0x80, 0x3fff, 0x4000, 1<<35 - 1, 1 << 56, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		w := codec.NewWriter(codec.KindUser, 0)
		w.Uvarint(u)
		msg, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		// The body is what encoding/binary writes.
		if want := binary.AppendUvarint(nil, u); !bytes.Equal(msg[len(msg)-len(want):], want) || w.Len() != len(want) {
			t.Fatalf("%d: % x", u, msg)
		}
		r := codec.NewReader(msg, codec.KindUser, codec.Limits{})
		if got := r.CanonicalUvarint(); got != u || r.Done() != nil {
			t.Fatalf("%d read back as %d: %v", u, got, r.Err())
		}
	}
	head := []byte{0x01, 0xcc, 0x80, 0x90} // version 1, KindUser, no table
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":                {nil, codec.ErrTruncated},
		"cut":                  {[]byte{0x80}, codec.ErrTruncated},
		"cut after 9":          {bytes.Repeat([]byte{0xff}, 9), codec.ErrTruncated},
		"11 bytes":             {append(bytes.Repeat([]byte{0x80}, 10), 0x00), codec.ErrMalformed},
		"10 bytes, more after": {append(bytes.Repeat([]byte{0xff}, 9), 0x81, 0x00), codec.ErrMalformed},
		"beyond 2^64-1":        {append(bytes.Repeat([]byte{0xff}, 9), 0x02), codec.ErrMalformed},
		"0 in two bytes":       {[]byte{0x80, 0x00}, codec.ErrMalformed},
		"1 in two bytes":       {[]byte{0x81, 0x00}, codec.ErrMalformed},
		"2^63 in 11 bytes":     {append(append(bytes.Repeat([]byte{0x80}, 9), 0x81), 0x00), codec.ErrMalformed},
	} {
		r := codec.NewReader(cat(head, c.b), codec.KindUser, codec.Limits{})
		if got := r.CanonicalUvarint(); got != 0 || !errors.Is(r.Err(), c.want) {
			t.Errorf("%s: %d, %v; want %v", name, got, r.Err(), c.want)
		}
		var de *codec.DecodeError
		if errors.As(r.Err(), &de) && de.Offset != len(head) {
			t.Errorf("%s: at byte %d, want %d", name, de.Offset, len(head))
		}
	}
	// The largest: nine bytes of 0xff and a last byte of 1.
	r := codec.NewReader(cat(head, bytes.Repeat([]byte{0xff}, 9), []byte{0x01}), codec.KindUser, codec.Limits{})
	if got := r.CanonicalUvarint(); got != math.MaxUint64 || r.Done() != nil {
		t.Errorf("2^64-1: %d, %v", got, r.Err())
	}
}
