package codec_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/activeactive/crdt/codec"
)

// refMessage writes a message whose replica table is ids, and whose body
// names each of them once.
func refMessage(t testing.TB, ids ...string) []byte {
	t.Helper()
	w := codec.NewWriter(codec.KindSetAdd, 0)
	w.String("elem")
	for _, id := range ids {
		w.Replica(id)
	}
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOmitReplicaBytes(t *testing.T) {
	// A table of one is a bare string: version 1, kind 0x31, "ab", then
	// the body "elem" and index 0. The reference is msgpack nil.
	msg := refMessage(t, "ab")
	if want := []byte{0x01, 0x31, 0xa2, 'a', 'b', 0xa4, 'e', 'l', 'e', 'm', 0x00}; !bytes.Equal(msg, want) {
		t.Fatalf("message % x, want % x", msg, want)
	}
	got, ok := codec.OmitReplica(nil, msg, "ab")
	if want := []byte{0x01, 0x31, 0xc0, 0xa4, 'e', 'l', 'e', 'm', 0x00}; !ok || !bytes.Equal(got, want) {
		t.Fatalf("OmitReplica = % x, %v; want % x", got, ok, want)
	}
	// A table of three is an array (0x93); the second entry is left out.
	msg = refMessage(t, "x", "ab", "y")
	got, ok = codec.OmitReplica([]byte{0xff}, msg, "ab")
	want := []byte{0xff, 0x01, 0x31, 0x93, 0xa1, 'x', 0xc0, 0xa1, 'y', 0xa4, 'e', 'l', 'e', 'm', 0x00, 0x01, 0x02}
	if !ok || !bytes.Equal(got, want) {
		t.Fatalf("OmitReplica = % x, %v; want % x", got, ok, want)
	}
}

func TestRestoreReplicaRoundTrip(t *testing.T) {
	for _, ids := range [][]string{{"ab"}, {"ab", "c"}, {"c", "ab"}, {"x", "ab", "y"}} {
		msg := refMessage(t, ids...)
		short, ok := codec.OmitReplica(nil, msg, "ab")
		if !ok || len(short) != len(msg)-len("ab") {
			t.Fatalf("%q: OmitReplica = % x, %v", ids, short, ok)
		}
		// Left as it is, the short form is refused by every Reader.
		if err := codec.NewReader(short, codec.KindSetAdd, codec.Limits{}).Err(); !errors.Is(err, codec.ErrMalformed) {
			t.Fatalf("%q: a Reader read a table holding a reference: %v", ids, err)
		}
		whole, err := codec.RestoreReplica(nil, short, "ab", codec.Limits{})
		if err != nil || !bytes.Equal(whole, msg) {
			t.Fatalf("%q: RestoreReplica = % x, %v; want % x", ids, whole, err, msg)
		}
	}
}

func TestOmitReplicaLeavesOthers(t *testing.T) {
	for name, msg := range map[string][]byte{
		"not in the table": refMessage(t, "a", "b"),
		"empty table":      {0x01, 0x32, 0x90, 0xa1, 'x'},
		"not a message":    {0xff, 0x00},
		"future version":   {codec.Version + 1, 0x31, 0xa2, 'a', 'b'},
		"cut in the table": {0x01, 0x31, 0xa2, 'a'},
		"empty":            nil,
	} {
		if got, ok := codec.OmitReplica(nil, msg, "ab"); ok || len(got) != 0 {
			t.Errorf("%s: OmitReplica = % x, %v; want nothing, false", name, got, ok)
		}
	}
	if _, ok := codec.OmitReplica(nil, refMessage(t, "ab"), ""); ok {
		t.Error("OmitReplica left out an empty ID")
	}
}

func TestRestoreReplicaRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		msg  []byte
		id   string
		want error
	}{
		"no reference":            {refMessage(t, "ab"), "ab", codec.ErrMalformed},
		"ID beside its reference": {[]byte{0x01, 0x31, 0x92, 0xa2, 'a', 'b', 0xc0, 0x00}, "ab", codec.ErrMalformed},
		"two references":          {[]byte{0x01, 0x31, 0x92, 0xc0, 0xc0, 0x00}, "ab", codec.ErrMalformed},
		"table of one as array":   {[]byte{0x01, 0x31, 0x91, 0xc0, 0x00}, "ab", codec.ErrMalformed},
		"empty ID":                {[]byte{0x01, 0x31, 0xc0, 0x00}, "", codec.ErrMalformed},
		"empty entry":             {[]byte{0x01, 0x31, 0x92, 0xc0, 0xa0, 0x00}, "ab", codec.ErrMalformed},
		"future version":          {[]byte{codec.Version + 1, 0x31, 0xc0, 0x00}, "ab", codec.ErrVersion},
		"version 0":               {[]byte{0x00, 0x31, 0xc0, 0x00}, "ab", codec.ErrVersion},
		"kind out of range":       {[]byte{0x01, 0xcd, 0x01, 0x00, 0xc0}, "ab", codec.ErrKind},
		"cut before table":        {[]byte{0x01, 0x31}, "ab", codec.ErrTruncated},
		"table longer than input": {[]byte{0x01, 0x31, 0xdc, 0xff, 0xff, 0xc0}, "ab", codec.ErrTruncated},
		"too long":                {append([]byte{0x01, 0x31, 0xc0}, make([]byte, 100)...), "ab", codec.ErrLimit},
	} {
		_, err := codec.RestoreReplica(nil, c.msg, c.id, codec.Limits{MaxBytes: 64})
		var de *codec.DecodeError
		if !errors.As(err, &de) || !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want a *codec.DecodeError wrapping %v", name, err, c.want)
		}
	}
}

// FuzzRestoreReplica: no input panics; an input RestoreReplica accepts
// becomes a message with no reference, whose table OmitReplica can cut
// again to the same bytes.
func FuzzRestoreReplica(f *testing.F) {
	for _, ids := range [][]string{{"ab"}, {"x", "ab", "y"}} {
		short, _ := codec.OmitReplica(nil, refMessage(f, ids...), "ab")
		f.Add(short, "ab")
	}
	f.Add([]byte{0x01, 0x31, 0x92, 0xc0, 0xc0}, "ab")
	// Short headers of format version 3: a reference, restored short or
	// long, and an ID where the reference should be.
	f.Add([]byte{0x40, 0x08, 0x01}, "r1")
	f.Add([]byte{0x60, 0x08, 0x01}, "a-replica-id-of-more-than-31-bytes")
	f.Add([]byte{0x42, 'r', '1', 0x08}, "r1")
	f.Add([]byte{0x03, 0x41, 0xc0, 0x08}, "r1")
	f.Fuzz(func(t *testing.T, msg []byte, id string) {
		whole, err := codec.RestoreReplica(nil, msg, id, codec.Limits{MaxItems: 1 << 10})
		if err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *codec.DecodeError", err)
			}
			return
		}
		// At most a string header of 5 bytes for the reference's byte,
		// and the kind of a long header for a short one.
		if len(whole) > len(msg)+len(id)+6 {
			t.Fatalf("%d bytes restored from %d", len(whole), len(msg))
		}
		again, ok := codec.OmitReplica(nil, whole, id)
		if !ok || !bytes.Equal(again, msg) {
			t.Fatalf("OmitReplica(RestoreReplica(% x)) = % x, %v", msg, again, ok)
		}
	})
}

func TestWriterSetVersion(t *testing.T) {
	w := codec.NewWriter(codec.KindMapPut, 0)
	w.SetVersion(2)
	w.Uint(7)
	b, err := w.Bytes()
	if err != nil || !bytes.Equal(b, []byte{0x02, 0x41, 0x90, 0x07}) {
		t.Fatalf("Bytes = % x, %v; want 02 41 90 07", b, err)
	}
	r := codec.NewReader(b, codec.KindMapPut, codec.Limits{})
	if r.Version() != 2 || r.Uint() != 7 || r.Done() != nil {
		t.Fatalf("read back version %d: %v", r.Version(), r.Err())
	}
	// A kind version 2 left alone was never written in it: refused both
	// ways.
	set := codec.NewWriter(codec.KindSet, 0)
	set.SetVersion(2)
	if _, err := set.Bytes(); err == nil {
		t.Error("an OR-Set state written in version 2")
	}
	if err := codec.NewReader([]byte{0x02, 0x30, 0x90}, codec.KindSet, codec.Limits{}).Err(); !errors.Is(err, codec.ErrVersion) {
		t.Errorf("an OR-Set state of version 2 read: %v", err)
	}
	if _, err := codec.RestoreReplica(nil, []byte{0x02, 0x31, 0xc0}, "a", codec.Limits{}); !errors.Is(err, codec.ErrVersion) {
		t.Errorf("an OR-Set op of version 2 restored: %v", err)
	}
	// A user's kind may be written in any version up to Version.
	user := codec.NewWriter(codec.KindUser, 0)
	user.SetVersion(codec.Version)
	if b, err := user.Bytes(); err != nil || codec.NewReader(b, codec.KindUser, codec.Limits{}).Err() != nil {
		t.Errorf("a user's kind in version %d: %v", codec.Version, err)
	}
	for _, v := range []int{0, codec.Version + 1} {
		w := codec.NewWriter(codec.KindMapPut, 0)
		w.SetVersion(v)
		var ee *codec.EncodeError
		if _, err := w.Bytes(); !errors.As(err, &ee) {
			t.Errorf("SetVersion(%d): %v, want an *codec.EncodeError", v, err)
		}
	}
}
