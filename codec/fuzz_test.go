package codec_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/codec"
)

// FuzzReader drives the Reader's primitives over fuzzed input, in an order
// the fuzzer also picks. No input may panic; an error is always a
// *DecodeError and is sticky; a value read without error, written again by
// the Writer, reads back the same.
func FuzzReader(f *testing.F) {
	f.Add(allMessage(f), []byte{0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 7, 8, 0, 0, 9, 6, 2, 10, 10})
	f.Add(append(append([]byte{}, emptyHeader...), 0xdd, 0xff, 0xff, 0xff, 0xff), []byte{8, 9, 10, 11})
	f.Add([]byte{0x01, 0x60, 0xa1, 0x61, 0x00, 0x91, 0xc0}, []byte{0, 8, 4})
	// Short headers of format version 3, and varints (op 0xff).
	f.Add([]byte{0x42, 'r', '1', 0x88, 0x01, 0xff, 0x7f, 0xa1, 'k', 0x05}, []byte{0xff, 0xff, 6, 1})
	f.Add([]byte{0x60, 0x08, 0x80, 0x00}, []byte{0xff, 0xff})
	f.Add([]byte{0x03, 0x42, 0xd9, 0x20, 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y',
		'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 'y', 0x08}, []byte{0xff})
	f.Fuzz(func(t *testing.T, msg, ops []byte) {
		kind := codec.KindEngine
		switch {
		case len(msg) > 0 && msg[0] >= 0x40 && msg[0] <= 0x5f:
			kind = codec.KindMapPut // a short header
		case len(msg) > 0 && msg[0] >= 0x60 && msg[0] <= 0x7f:
			kind = codec.KindMapDelete
		case len(msg) > 1:
			kind = codec.Kind(msg[1]) // usually the message's own kind
		}
		r := codec.NewReader(msg, kind, codec.Limits{MaxItems: 1 << 10, MaxDepth: 8})
		w := codec.NewWriter(codec.KindUser, 0)
		var reads []func(*codec.Reader) bool // re-reads of what was read, for the copy
		for _, op := range ops {
			before := r.Remaining()
			ok := r.Err() == nil
			if op == 0xff {
				u := r.CanonicalUvarint()
				if r.Err() == nil {
					w.Uvarint(u)
					reads = append(reads, func(r *codec.Reader) bool { return r.CanonicalUvarint() == u })
				}
				continue
			}
			switch op % 12 {
			case 0:
				id := r.Replica()
				if r.Err() == nil {
					w.Replica(id)
					reads = append(reads, func(r *codec.Reader) bool { return r.Replica() == id })
				}
			case 1:
				u := r.Uint()
				if r.Err() == nil {
					w.Uint(u)
					reads = append(reads, func(r *codec.Reader) bool { return r.Uint() == u })
				}
			case 2:
				i := r.Int()
				if r.Err() == nil {
					w.Int(i)
					reads = append(reads, func(r *codec.Reader) bool { return r.Int() == i })
				}
			case 3:
				b := r.Bool()
				if r.Err() == nil {
					w.Bool(b)
					reads = append(reads, func(r *codec.Reader) bool { return r.Bool() == b })
				}
			case 4:
				if r.IsNil() {
					w.Nil()
					reads = append(reads, func(r *codec.Reader) bool { return r.IsNil() })
				}
			case 5:
				x := r.Float()
				if r.Err() == nil {
					w.Float(x)
					reads = append(reads, func(r *codec.Reader) bool {
						return math.Float64bits(r.Float()) == math.Float64bits(x)
					})
				}
			case 6:
				s := r.String()
				if r.Err() == nil {
					w.String(s)
					reads = append(reads, func(r *codec.Reader) bool { return r.String() == s })
				}
			case 7:
				b := r.Binary()
				if r.Err() == nil {
					w.Binary(b)
					reads = append(reads, func(r *codec.Reader) bool { return bytes.Equal(r.Binary(), b) })
				}
			case 8:
				n := r.ArrayLen()
				if r.Err() == nil {
					reads = append(reads, header(w, n, 1, (*codec.Reader).ArrayLen))
				}
			case 9:
				n := r.MapLen()
				if r.Err() == nil {
					reads = append(reads, header(w, n, 2, (*codec.Reader).MapLen))
				}
			case 10:
				raw := r.RawValue()
				if r.Err() == nil {
					w.Raw(raw)
					reads = append(reads, func(r *codec.Reader) bool { return bytes.Equal(r.RawValue(), raw) })
				}
			case 11:
				n := r.Count(int(op>>4) + 1)
				if r.Err() == nil {
					reads = append(reads, header(w, n, 1, (*codec.Reader).ArrayLen))
				}
			}
			if !ok && r.Remaining() != before {
				t.Fatalf("op %d moved after an error", op)
			}
			if r.Remaining() < 0 || r.Remaining() > len(msg) {
				t.Fatalf("Remaining() = %d of %d", r.Remaining(), len(msg))
			}
		}
		if err := r.Done(); err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Offset < 0 || de.Offset > len(msg) {
				t.Fatalf("error offset %d outside the input of %d bytes", de.Offset, len(msg))
			}
		}
		copyMsg, err := w.Bytes()
		if err != nil {
			t.Fatalf("writing back what was read: %v", err)
		}
		cr := codec.NewReader(copyMsg, codec.KindUser, codec.Limits{})
		for i, read := range reads {
			if !read(cr) {
				t.Fatalf("value %d did not read back from the copy: %v", i, cr.Err())
			}
		}
		if err := cr.Err(); err != nil {
			t.Fatalf("copy: %v", err)
		}
	})
}

// header writes a collection header of n items of per values each to the
// copy, followed by nils standing for the items (which the fuzzed ops may
// or may not read), and returns the matching read of the copy.
func header(w *codec.Writer, n, per int, read func(*codec.Reader) int) func(*codec.Reader) bool {
	if per == 1 {
		w.Array(n)
	} else {
		w.Map(n)
	}
	for range n * per {
		w.Nil()
	}
	return func(r *codec.Reader) bool {
		if read(r) != n {
			return false
		}
		for range n * per {
			if !r.IsNil() {
				return false
			}
		}
		return true
	}
}

// FuzzRawValue checks that whatever RawValue accepts is exactly one
// complete msgpack value, which msgpack itself can skip and decode without
// panicking.
func FuzzRawValue(f *testing.F) {
	for _, v := range []any{nil, 1, -200, "s", []byte{1}, []any{1, []any{"x"}}, map[string]any{"a": 1.5}, item{Title: "t"}} {
		f.Add(mustMarshal(f, v))
	}
	f.Add([]byte{0xd6, 0xff, 0, 0, 0, 1}) // msgpack's timestamp extension
	f.Add([]byte{0xc7, 0x01, 0x05, 0x00}) // an unknown extension
	f.Fuzz(func(t *testing.T, data []byte) {
		r := readerFor(data, codec.Limits{MaxDepth: 16})
		raw := r.RawValue()
		if r.Err() != nil {
			if raw != nil {
				t.Fatalf("RawValue returned %x with an error", raw)
			}
			return
		}
		if !bytes.Equal(raw, data[:len(raw)]) || len(raw) == 0 {
			t.Fatalf("RawValue returned %x, not a prefix of %x", raw, data)
		}
		br := bytes.NewReader(raw)
		if err := msgpack.NewDecoder(br).Skip(); err != nil || br.Len() != 0 {
			t.Fatalf("msgpack skips %x with %v, %d bytes left over", raw, err, br.Len())
		}
		var v any
		_ = msgpack.Unmarshal(raw, &v) // may refuse (an unknown extension), must not panic
		// GetValue on the same bytes agrees: a value or a DecodeError.
		r = readerFor(data, codec.Limits{MaxDepth: 16})
		codec.GetValue[any](r)
		if err := r.Err(); err != nil {
			var de *codec.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("GetValue error %v is not a *DecodeError", err)
			}
		} else if r.Remaining() != len(data)-len(raw) {
			t.Fatalf("GetValue consumed %d bytes, RawValue %d", len(data)-r.Remaining(), len(raw))
		}
	})
}

type fuzzRecord struct {
	Name  string         `msgpack:"name"`
	N     int32          `msgpack:"n"`
	Tags  []string       `msgpack:"tags"`
	Attrs map[string]any `msgpack:"attrs"`
	Next  *fuzzRecord    `msgpack:"next"`
}

// FuzzGetValue reads fuzzed bytes as a string, an int64 and a struct: no
// panic, errors are *DecodeError, and whatever decodes writes back to bytes
// that decode to the same value.
func FuzzGetValue(f *testing.F) {
	f.Add(mustMarshal(f, "hello"))
	f.Add(mustMarshal(f, int64(-1<<40)))
	f.Add(mustMarshal(f, fuzzRecord{Name: "a", N: 3, Tags: []string{"x"}, Next: &fuzzRecord{Name: "b"}}))
	f.Add([]byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzValue[string](t, data)
		fuzzValue[int64](t, data)
		fuzzValue[fuzzRecord](t, data)
	})
}

func fuzzValue[T any](t *testing.T, data []byte) {
	r := readerFor(data, codec.Limits{MaxItems: 1 << 10, MaxDepth: 16})
	v := codec.GetValue[T](r)
	if err := r.Err(); err != nil {
		var de *codec.DecodeError
		if !errors.As(err, &de) {
			t.Fatalf("%T: error %v is not a *DecodeError", v, err)
		}
		var zero T
		if !cmp.Equal(v, zero) {
			t.Fatalf("%T: returned %v with an error", v, v)
		}
		return
	}
	w := codec.NewWriter(testKind, 0)
	codec.PutValue(w, v)
	out, err := w.Bytes()
	if err != nil {
		t.Fatalf("%T: writing back %v: %v", v, v, err)
	}
	r2 := codec.NewReader(out, testKind, codec.Limits{})
	v2 := codec.GetValue[T](r2)
	if err := r2.Done(); err != nil || !cmp.Equal(v, v2, cmp.Comparer(sameAny)) {
		t.Fatalf("%T: %v wrote back as %x, read as %v, %v", v, v, out, v2, err)
	}
}

// sameAny compares decoded generic values, where NaN equals NaN.
func sameAny(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) || a == b }
