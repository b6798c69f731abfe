package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Writer builds one message: the format version, the message kind, a table
// of the replica IDs the message mentions (each written once), then the body
// written through the Writer's methods in msgpack.
//
// The zero Writer is not usable; create one with [NewWriter]. A Writer is not
// safe for concurrent use. Once [Writer.Bytes] has been called, the Writer
// must not be used again.
type Writer struct {
	kind Kind
	ids  []string
	idx  map[string]uint64 // built once ids grows past a few entries
	body []byte
	err  error
}

// NewWriter starts a message of the given kind. sizeHint, if positive, is the
// expected size of the body in bytes.
func NewWriter(kind Kind, sizeHint int) *Writer {
	if sizeHint < 16 {
		sizeHint = 16
	}
	return &Writer{kind: kind, body: make([]byte, 0, sizeHint)}
}

// Kind returns the kind of message being written.
func (w *Writer) Kind() Kind { return w.kind }

// Fail records err as the reason the message cannot be encoded; [Writer.Bytes]
// then returns it as an [*EncodeError]. Only the first failure is kept.
func (w *Writer) Fail(err error) {
	if w.err == nil && err != nil {
		w.err = &EncodeError{Kind: w.kind, Err: err}
	}
}

// Bytes returns the finished message, or the first error recorded by
// [Writer.Fail].
func (w *Writer) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	n := 2 + 5 + len(w.body)
	for _, id := range w.ids {
		n += 5 + len(id)
	}
	out := make([]byte, 0, n)
	out = appendUint(out, Version)
	out = appendUint(out, uint64(w.kind))
	if len(w.ids) == 1 {
		out = appendString(out, w.ids[0])
	} else {
		out = appendArrayHeader(out, len(w.ids))
		for _, id := range w.ids {
			out = appendString(out, id)
		}
	}
	return append(out, w.body...), nil
}

// Replica writes a replica ID as its index in the message's replica table,
// adding it to the table on first use. The empty ID names no replica and is
// recorded with [Writer.Fail], as readers refuse it.
func (w *Writer) Replica(id string) {
	if id == "" {
		w.Fail(errors.New("empty replica ID"))
		return
	}
	w.Uint(w.replicaIndex(id))
}

func (w *Writer) replicaIndex(id string) uint64 {
	if w.idx != nil {
		if i, ok := w.idx[id]; ok {
			return i
		}
	} else {
		for i, s := range w.ids {
			if s == id {
				return uint64(i)
			}
		}
	}
	i := uint64(len(w.ids))
	w.ids = append(w.ids, id)
	if w.idx == nil && len(w.ids) > 8 {
		w.idx = make(map[string]uint64, 16)
		for j, s := range w.ids {
			w.idx[s] = uint64(j)
		}
	} else if w.idx != nil {
		w.idx[id] = i
	}
	return i
}

// Uint writes an unsigned integer in its shortest msgpack form.
func (w *Writer) Uint(u uint64) { w.body = appendUint(w.body, u) }

// Int writes a signed integer in its shortest msgpack form.
func (w *Writer) Int(i int64) { w.body = appendInt(w.body, i) }

// Bool writes a boolean.
func (w *Writer) Bool(b bool) {
	if b {
		w.body = append(w.body, 0xc3)
	} else {
		w.body = append(w.body, 0xc2)
	}
}

// Nil writes msgpack nil.
func (w *Writer) Nil() { w.body = append(w.body, 0xc0) }

// Float writes a float64.
func (w *Writer) Float(f float64) {
	w.body = append(w.body, 0xcb)
	w.body = binary.BigEndian.AppendUint64(w.body, math.Float64bits(f))
}

// String writes a string. A string longer than msgpack can carry (4 GiB)
// is recorded with [Writer.Fail].
func (w *Writer) String(s string) {
	if w.fits("string", len(s)) {
		w.body = appendString(w.body, s)
	}
}

// fits reports whether a length n can be written in a msgpack header, and
// records a failure if not.
func (w *Writer) fits(what string, n int) bool {
	if n < 0 || uint64(n) > math.MaxUint32 {
		w.Fail(fmt.Errorf("%s of length %d does not fit msgpack", what, n))
		return false
	}
	return true
}

// Binary writes a byte slice as msgpack bin. A slice longer than msgpack
// can carry (4 GiB) is recorded with [Writer.Fail].
func (w *Writer) Binary(b []byte) {
	n := len(b)
	if !w.fits("byte slice", n) {
		return
	}
	w.body = appendHead(w.body, binHead(n), uint64(n))
	w.body = append(w.body, b...)
}

// Array writes the header of an array of n values; the caller writes the n
// values next. A negative n, or one above 2³²-1, is recorded with
// [Writer.Fail].
func (w *Writer) Array(n int) {
	if w.fits("array", n) {
		w.body = appendArrayHeader(w.body, n)
	}
}

// Map writes the header of a map of n pairs; the caller writes 2n values
// next, key then value. A negative n, or one above 2³²-1, is recorded with
// [Writer.Fail].
func (w *Writer) Map(n int) {
	if !w.fits("map", n) {
		return
	}
	w.body = appendHead(w.body, mapHead(n), uint64(n))
}

// Raw appends b, which must be exactly one complete msgpack value.
func (w *Writer) Raw(b []byte) { w.body = append(w.body, b...) }

func appendUint(b []byte, u uint64) []byte { return appendHead(b, uintHead(u), u) }

func appendInt(b []byte, i int64) []byte { return appendHead(b, intHead(i), uint64(i)) }

func appendString(b []byte, s string) []byte {
	return append(appendHead(b, strHead(len(s)), uint64(len(s))), s...)
}

func appendArrayHeader(b []byte, n int) []byte {
	return appendHead(b, arrayHead(n), uint64(n))
}
