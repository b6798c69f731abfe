package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
)

// Writer builds one message: the format version, the message kind, a table
// of the replica IDs the message mentions (each written once), then the body
// written through the Writer's methods in msgpack.
//
// The header is the version, the kind and the table, each in msgpack (the
// table as a bare string if it holds one ID, else an array of them); or,
// in format version 3, for the kinds KindMapPut and KindMapDelete with a
// table of one ID of 1 to 31 bytes, one byte: 0x40 plus 0x20 for a
// delete plus the ID's length, then the ID's bytes (the short header).
//
// The body is written after room left for the header, into one buffer,
// so that [Writer.Bytes] puts the header in front of it and returns that
// buffer without copying the body, whenever the header fits the room (it
// does when the table's IDs take no more than about 40 bytes, or when they
// were declared with [Writer.Table] before the body). Otherwise Bytes
// copies the body once.
//
// The zero Writer is not usable; create one with [NewWriter]. A Writer is not
// safe for concurrent use. Once [Writer.Bytes] has been called, the Writer
// must not be used again.
type Writer struct {
	kind    Kind
	version uint64 // written in the header; 1 unless SetVersion says otherwise
	ids     []string
	idx     map[string]uint64 // built once ids grows past a few entries
	body    []byte            // head bytes of room for the header, then the body
	head    int
	err     error
}

// headRoom is the room NewWriter leaves for the header: the version and
// kind, and a replica table of one or two typical IDs.
const headRoom = 48

// NewWriter starts a message of the given kind. sizeHint, if positive, is the
// expected size of the body in bytes: the body is written into one buffer
// of that size, which grows (by copying) only if the body outgrows it.
func NewWriter(kind Kind, sizeHint int) *Writer {
	if sizeHint < 16 {
		sizeHint = 16
	}
	return &Writer{kind: kind, version: 1, body: make([]byte, headRoom, headRoom+sizeHint), head: headRoom}
}

// SetVersion makes the Writer write format version v in the message's
// header instead of 1, for a kind whose layout changed in version v (see
// [Version]); the caller then writes the body in that layout. A v outside
// 1 to the newest version of the Writer's kind (Version for a user's
// kind) is recorded with [Writer.Fail].
func (w *Writer) SetVersion(v int) {
	if n := newestVersion(w.kind); v < 1 || uint64(v) > n {
		w.Fail(fmt.Errorf("format version %d, %v is written in 1 to %d", v, w.kind, n))
		return
	}
	w.version = uint64(v)
}

// Grow makes room for n more bytes of body, so that writing them does not
// grow the buffer again: an encoder that can bound its output calls it
// once, with the bound, and the message is then built in one buffer of
// that size.
func (w *Writer) Grow(n int) {
	if n > 0 {
		w.body = slices.Grow(w.body, n)
	}
}

// Room returns the buffer's free capacity after the body written so far
// (see [Writer.Grow]): an encoder may write encoded values there and then
// add them to the body with [Writer.Commit], or use the bytes as scratch
// space while it writes. Any other write to w may overwrite them.
func (w *Writer) Room() []byte { return w.body[len(w.body):cap(w.body)] }

// Commit adds the first n bytes of [Writer.Room] to the body, as written
// there. An n outside the room is recorded with [Writer.Fail].
func (w *Writer) Commit(n int) {
	if n < 0 || n > cap(w.body)-len(w.body) {
		w.Fail(fmt.Errorf("commit of %d bytes with %d of room", n, cap(w.body)-len(w.body)))
		return
	}
	w.body = w.body[:len(w.body)+n]
}

// Len returns the number of body bytes written so far.
func (w *Writer) Len() int { return len(w.body) - w.head }

// Table adds ids, in order, to the message's replica table, as if each
// had been written with [Writer.Replica], but writes nothing in the body:
// the encoding of a table fixed in advance (a message whose table lists
// exactly the replicas of its causal context, say), or of a replica the
// body names without a reference. IDs already in the table are left where
// they are. Called before anything is written in the body, it also makes
// room for the header in front of the body, so that [Writer.Bytes] copies
// nothing.
func (w *Writer) Table(ids ...string) {
	for _, id := range ids {
		if id == "" {
			w.Fail(errors.New("empty replica ID"))
			return
		}
		w.replicaIndex(id)
	}
	if len(w.body) != w.head {
		return
	}
	n := w.headerLen()
	if n <= w.head {
		return
	}
	w.body = make([]byte, n, n+cap(w.body)-w.head)
	w.head = n
}

// short reports whether the header is written in its short form: format
// version 3 of an LWW-map op whose table is one ID of at most 31 bytes.
func (w *Writer) short() bool {
	return hasShortForm(w.version, w.kind) && len(w.ids) == 1 && len(w.ids[0]) <= shortLen
}

// headerLen returns the length of the header: version, kind and table.
func (w *Writer) headerLen() int {
	if w.short() {
		return 1 + len(w.ids[0])
	}
	n := headLen(uintHead(w.version)) + headLen(uintHead(uint64(w.kind)))
	if len(w.ids) != 1 {
		n += headLen(arrayHead(len(w.ids)))
	}
	for _, id := range w.ids {
		n += headLen(strHead(len(id))) + len(id)
	}
	return n
}

// appendHeader appends the header to b.
func (w *Writer) appendHeader(b []byte) []byte {
	if w.short() {
		return appendShortHeader(b, w.kind, w.ids[0])
	}
	b = appendUint(b, w.version)
	b = appendUint(b, uint64(w.kind))
	if len(w.ids) == 1 {
		return appendString(b, w.ids[0])
	}
	b = appendArrayHeader(b, len(w.ids))
	for _, id := range w.ids {
		b = appendString(b, id)
	}
	return b
}

// appendShortHeader appends the short header of a message of kind k
// (KindMapPut or KindMapDelete) whose table is id, of at most 31 bytes;
// an empty id makes the header of a reference.
func appendShortHeader(b []byte, k Kind, id string) []byte {
	h := byte(shortMin) | byte(len(id))
	if k == KindMapDelete {
		h |= shortDelete
	}
	return append(append(b, h), id...)
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
	h := w.headerLen()
	if h <= w.head {
		at := w.head - h
		w.appendHeader(w.body[at:at]) // fills the room in front of the body
		return w.body[at:], nil
	}
	out := make([]byte, 0, h+w.Len())
	out = w.appendHeader(out)
	return append(out, w.body[w.head:]...), nil
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

// Uvarint writes an unsigned integer as an unsigned LEB128 varint, as
// [binary.AppendUvarint] does: seven bits a byte, lowest first, each byte
// but the last with its top bit set; 1 to 10 bytes. It is not msgpack:
// only for layouts that say so, read back with [Reader.CanonicalUvarint].
func (w *Writer) Uvarint(u uint64) { w.body = binary.AppendUvarint(w.body, u) }

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

// UintString writes an unsigned integer and then a string: the bytes of
// [Writer.Uint] of u followed by those of [Writer.String] of s, in one
// step, for an encoder that writes many such pairs (a dot's step and its
// key). The common case, u below 128 and s shorter than 32 bytes, takes
// two header bytes and one copy.
func (w *Writer) UintString(u uint64, s string) {
	if u < 0x80 && len(s) < 32 {
		w.body = append(append(w.body, byte(u), 0xa0|byte(len(s))), s...)
		return
	}
	w.Uint(u)
	w.String(s)
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
