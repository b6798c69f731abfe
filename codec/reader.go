package codec

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Limits bound what a [Reader] accepts, so that a hostile or corrupt input
// cannot make a decoder allocate more than a small multiple of its own
// length, nor more than the limits say.
type Limits struct {
	// MaxBytes is the largest message accepted, in bytes.
	MaxBytes int
	// MaxItems is the largest element count accepted in any one array or
	// map, and the largest replica table.
	MaxItems int
	// MaxDepth is the deepest nesting accepted inside one generic value
	// (a user type encoded through msgpack). Values above 10000 are taken
	// as 10000, so that no input can exhaust the stack.
	MaxDepth int
}

// maxDepthCap bounds Limits.MaxDepth: checking and decoding a value recurses
// once per level of nesting.
const maxDepthCap = 10000

// DefaultLimits returns the limits used when none are given: 64 MiB
// messages, 16 Mi items per collection, values nested 32 deep.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 64 << 20, MaxItems: 16 << 20, MaxDepth: 32}
}

func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxItems <= 0 {
		l.MaxItems = d.MaxItems
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepthCap)
	return l
}

// Reader decodes one message written by a [Writer]. Its methods never panic
// and never allocate more than the input's size justifies: an array header
// that claims more elements than bytes remain is refused.
//
// Errors are sticky: after the first problem every method returns a zero
// value, and [Reader.Err] reports the problem as a [*DecodeError]. A decoder
// can therefore read a whole structure and check Err once, as long as it
// checks Err before trusting what it read.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	buf     []byte
	off     int
	kind    Kind
	version int
	ids     []string
	lim     Limits
	err     *DecodeError
}

// NewReader checks the header of msg (format version, kind) against want
// and reads the replica table. Zero fields of lim take their defaults. It
// returns a Reader positioned at the start of the body; if the header is
// bad, the Reader's Err is already set.
//
// A compressed message ([KindCompressed]) holding a message of kind want
// is read as that message: NewReader checks it and decompresses it within
// lim (see [Compressor]), and the Reader reads the plain message, to which
// the offsets of its errors then refer ([Reader.Message] returns it).
func NewReader(msg []byte, want Kind, lim Limits) *Reader {
	lim = lim.orDefault()
	if want != KindCompressed && IsCompressed(msg) {
		plain, _, err := decompress(msg, want, true, lim)
		if err != nil {
			return &Reader{buf: msg, kind: want, lim: lim, err: err}
		}
		return newReader(plain, want, lim)
	}
	return newReader(msg, want, lim)
}

// newReader is NewReader for a message read as it is.
func newReader(msg []byte, want Kind, lim Limits) *Reader {
	r := &Reader{buf: msg, kind: want, lim: lim}
	if len(msg) > r.lim.MaxBytes {
		r.failf(ErrLimit, "message of %d bytes exceeds the limit of %d", len(msg), r.lim.MaxBytes)
		return r
	}
	if isShort(msg) {
		r.readShortHeader(want)
		return r
	}
	v := r.canonicalUint("format version")
	if r.err != nil {
		return r
	}
	if v == 0 || v > Version {
		r.off = 0
		r.failf(ErrVersion, "format version %d, this reader knows 1 to %d", v, Version)
		return r
	}
	r.version = int(v)
	start := r.off
	k := r.canonicalUint("message kind")
	if r.err == nil && k != uint64(want) {
		r.off = start
		if k <= math.MaxUint8 {
			r.failf(ErrKind, "message holds %v", Kind(k))
		} else {
			r.failf(ErrKind, "message kind %d", k)
		}
		return r
	}
	if n := newestVersion(want); r.err == nil && v > n {
		r.off = 0
		r.failf(ErrVersion, "format version %d, %v is written in 1 to %d", v, want, n)
		return r
	}
	at := r.off
	r.readReplicaTable()
	if hasShortForm(v, want) {
		r.checkLongTable(at, len(r.ids) == 1 && len(r.ids[0]) <= shortLen, false)
	}
	return r
}

// readShortHeader reads a short header (see [Writer]) of a message read as
// kind want.
func (r *Reader) readShortHeader(want Kind) {
	h := r.buf[0]
	if k := shortKind(h); k != want {
		r.failf(ErrKind, "message holds %v", k)
		return
	}
	r.version = shortVersion
	r.off = 1
	n := int(h & shortLen)
	if n == 0 {
		r.off = 0
		r.failf(ErrMalformed, "short header with a reference to an omitted replica ID")
		return
	}
	if id := r.take(n); r.err == nil {
		r.ids = []string{string(id)}
	}
}

// checkLongTable refuses the long header of a message of a kind and
// version written with a short header when its table allows (see
// [Writer]): one whose table, at byte at, is one ID of 1 to 31 bytes
// (fits), or a reference (ref).
func (r *Reader) checkLongTable(at int, fits, ref bool) {
	switch {
	case r.err != nil:
	case ref:
		r.notCanonical(at, "reference in a long header, written short")
	case fits:
		r.notCanonical(at, "replica table of one short ID in a long header, written short")
	}
}

// readReplicaTable reads the table of replica IDs. A table of one ID is
// written as a bare string, any other as an array of strings. The table is
// held to the one form the Writer writes: shortest headers, no empty or
// repeated ID.
func (r *Reader) readReplicaTable() {
	if r.err != nil {
		return
	}
	if r.off < len(r.buf) && isStr(r.buf[r.off]) {
		id := r.replicaID()
		if r.err == nil {
			r.ids = []string{id}
		}
		return
	}
	at := r.off
	n := r.CanonicalArrayLen(1)
	if r.err != nil {
		return
	}
	if n == 1 {
		r.notCanonical(at, "replica table of one ID written as an array")
		return
	}
	if n == 0 {
		return
	}
	// The table and the set that finds repeats grow with the IDs actually
	// read, not with the count claimed, so a table cut short or with a
	// repeat costs little.
	r.ids = make([]string, 0, min(n, 64))
	var seen map[string]struct{} // for large tables only
	if n > 8 {
		seen = make(map[string]struct{})
	}
	for range n {
		at := r.off
		id := r.replicaID()
		if r.err != nil {
			r.ids = nil
			return
		}
		dup := false
		if seen != nil {
			_, dup = seen[id]
			seen[id] = struct{}{}
		} else {
			for _, s := range r.ids {
				dup = dup || s == id
			}
		}
		if dup {
			r.off = at
			r.failf(ErrMalformed, "replica %q twice in the replica table", id)
			r.ids = nil
			return
		}
		r.ids = append(r.ids, id)
	}
}

func (r *Reader) replicaID() string {
	at := r.off
	s := r.CanonicalString()
	if r.err == nil && s == "" {
		r.off = at
		r.failf(ErrMalformed, "empty replica ID")
	}
	return s
}

func isStr(b byte) bool { return b&0xe0 == 0xa0 || b == 0xd9 || b == 0xda || b == 0xdb }

// Version returns the format version the message was written with, so a
// decoder can read older layouts.
func (r *Reader) Version() int { return r.version }

// Message returns the message being read: the input given to [NewReader]
// or, if that was compressed, the plain message it holds. The caller must
// not modify it.
func (r *Reader) Message() []byte { return r.buf }

// Kind returns the kind of message being read.
func (r *Reader) Kind() Kind { return r.kind }

// Err returns the first problem met, or nil.
func (r *Reader) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Fail records a problem found by the caller (an invariant of the data type
// broken, say) at the current offset, unless a problem is already recorded.
// It wraps [ErrMalformed].
func (r *Reader) Fail(format string, args ...any) {
	r.failf(ErrMalformed, format, args...)
}

func (r *Reader) failf(class error, format string, args ...any) {
	if r.err != nil {
		return
	}
	r.err = &DecodeError{Kind: r.kind, Offset: r.off, Reason: fmt.Sprintf(format, args...), Err: class}
}

// Remaining returns the number of bytes not yet read.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Done checks that the whole input was read, recording a problem if bytes
// are left over, and returns [Reader.Err].
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.buf) {
		r.failf(ErrMalformed, "%d unexpected bytes after the message", len(r.buf)-r.off)
	}
	return r.Err()
}

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.lim }

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.failf(ErrTruncated, "need %d bytes, %d left", n, len(r.buf)-r.off)
		return nil
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b
}

func (r *Reader) peek() (byte, bool) {
	if r.err != nil {
		return 0, false
	}
	if r.off >= len(r.buf) {
		r.failf(ErrTruncated, "need 1 byte, 0 left")
		return 0, false
	}
	return r.buf[r.off], true
}

func (r *Reader) byte1() byte {
	b := r.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (r *Reader) be(n int) uint64 {
	b := r.take(n)
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *Reader) typeErr(want string, at int, c byte) {
	r.off = at
	r.failf(ErrMalformed, "expected %s, found msgpack type byte %#02x", want, c)
}

// Replica reads a replica ID written by [Writer.Replica].
func (r *Reader) Replica() string {
	at := r.off
	return r.replicaAt(at, r.Uint())
}

// replicaAt returns the replica of index i, read from byte at.
func (r *Reader) replicaAt(at int, i uint64) string {
	if r.err != nil {
		return ""
	}
	if i >= uint64(len(r.ids)) {
		r.off = at
		r.failf(ErrMalformed, "replica index %d, table has %d entries", i, len(r.ids))
		return ""
	}
	return r.ids[i]
}

// Replicas returns the message's replica table. The caller must not modify
// it.
func (r *Reader) Replicas() []string { return r.ids }

// Uint reads an unsigned integer written in any msgpack integer form; a
// negative value is malformed.
func (r *Reader) Uint() uint64 {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0
	}
	r.off++
	switch {
	case c <= 0x7f:
		return uint64(c)
	case c == 0xcc:
		return r.be(1)
	case c == 0xcd:
		return r.be(2)
	case c == 0xce:
		return r.be(4)
	case c == 0xcf:
		return r.be(8)
	case c == 0xd0, c == 0xd1, c == 0xd2, c == 0xd3:
		r.off = at
		i := r.Int()
		if r.err == nil && i < 0 {
			r.off = at
			r.failf(ErrMalformed, "expected an unsigned integer, found %d", i)
			return 0
		}
		return uint64(i)
	}
	r.typeErr("an unsigned integer", at, c)
	return 0
}

// Int reads a signed integer written in any msgpack integer form; an
// unsigned value above the int64 range is malformed.
func (r *Reader) Int() int64 {
	at := r.off
	c, ok := r.peek()
	if !ok {
		return 0
	}
	r.off++
	switch {
	case c <= 0x7f:
		return int64(c)
	case c >= 0xe0:
		return int64(int8(c))
	case c == 0xd0:
		return int64(int8(r.be(1)))
	case c == 0xd1:
		return int64(int16(r.be(2)))
	case c == 0xd2:
		return int64(int32(r.be(4)))
	case c == 0xd3:
		return int64(r.be(8))
	case c == 0xcc, c == 0xcd, c == 0xce, c == 0xcf:
		r.off = at
		u := r.Uint()
		if r.err == nil && u > math.MaxInt64 {
			r.off = at
			r.failf(ErrMalformed, "integer %d overflows int64", u)
			return 0
		}
		return int64(u)
	}
	r.typeErr("an integer", at, c)
	return 0
}

// Bool reads a boolean.
func (r *Reader) Bool() bool {
	at := r.off
	c := r.byte1()
	switch {
	case r.err != nil:
		return false
	case c == 0xc3:
		return true
	case c == 0xc2:
		return false
	}
	r.typeErr("a boolean", at, c)
	return false
}

// IsNil reports whether the next value is msgpack nil, and if so consumes
// it.
func (r *Reader) IsNil() bool {
	c, ok := r.peek()
	if ok && c == 0xc0 {
		r.off++
		return true
	}
	return false
}

// IsFalse reads a false, if one comes next, and reports whether it did.
func (r *Reader) IsFalse() bool {
	c, ok := r.peek()
	if ok && c == 0xc2 {
		r.off++
		return true
	}
	return false
}

// Float reads a float written as float32 or float64.
func (r *Reader) Float() float64 {
	at := r.off
	c := r.byte1()
	switch {
	case r.err != nil:
		return 0
	case c == 0xca:
		return float64(math.Float32frombits(uint32(r.be(4))))
	case c == 0xcb:
		return math.Float64frombits(r.be(8))
	}
	r.typeErr("a float", at, c)
	return 0
}

// String reads a string.
//
// The name makes a *Reader a [fmt.Stringer] whose String consumes input:
// printing a Reader with the fmt package reads from it. Print [Reader.Err]
// instead.
func (r *Reader) String() string { return string(r.stringBytes()) }

// stringBytes reads a string and returns its bytes, a sub-slice of the
// input.
func (r *Reader) stringBytes() []byte {
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return nil
	}
	var n int
	switch {
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	case c == 0xd9:
		n = int(r.be(1))
	case c == 0xda:
		n = int(r.be(2))
	case c == 0xdb:
		n = int(r.be(4))
	default:
		r.typeErr("a string", at, c)
		return nil
	}
	return r.take(n)
}

// Binary reads a byte slice written as msgpack bin (or str). The result is a
// fresh copy.
func (r *Reader) Binary() []byte {
	b := r.BinaryBytes()
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// BinaryBytes reads a byte slice like [Reader.Binary] but returns it
// without copying: a sub-slice of the input, which the caller must not
// modify, or nil on error.
func (r *Reader) BinaryBytes() []byte {
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return nil
	}
	var n int
	switch {
	case c == 0xc4, c == 0xd9:
		n = int(r.be(1))
	case c == 0xc5, c == 0xda:
		n = int(r.be(2))
	case c == 0xc6, c == 0xdb:
		n = int(r.be(4))
	case c&0xe0 == 0xa0:
		n = int(c & 0x1f)
	default:
		r.typeErr("binary data", at, c)
		return nil
	}
	return r.take(n)
}

// ArrayLen reads an array header and returns its length, refusing a length
// greater than the bytes left (every element takes at least one byte) or
// than [Limits.MaxItems].
func (r *Reader) ArrayLen() int {
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return 0
	}
	var n uint64
	switch {
	case c&0xf0 == 0x90:
		n = uint64(c & 0x0f)
	case c == 0xdc:
		n = r.be(2)
	case c == 0xdd:
		n = r.be(4)
	default:
		r.typeErr("an array", at, c)
		return 0
	}
	return r.count(at, n, 1)
}

// MapLen reads a map header and returns its number of pairs, with the same
// checks as [Reader.ArrayLen].
func (r *Reader) MapLen() int {
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return 0
	}
	var n uint64
	switch {
	case c&0xf0 == 0x80:
		n = uint64(c & 0x0f)
	case c == 0xde:
		n = r.be(2)
	case c == 0xdf:
		n = r.be(4)
	default:
		r.typeErr("a map", at, c)
		return 0
	}
	return r.count(at, n, 2)
}

// count checks a collection length n, each item taking at least per bytes.
func (r *Reader) count(at int, n uint64, per int) int {
	if r.err != nil {
		return 0
	}
	if n > uint64(r.lim.MaxItems) {
		r.off = at
		r.failf(ErrLimit, "collection of %d items exceeds the limit of %d", n, r.lim.MaxItems)
		return 0
	}
	if n*uint64(per) > uint64(len(r.buf)-r.off) {
		r.off = at
		r.failf(ErrTruncated, "collection of %d items, only %d bytes left", n, len(r.buf)-r.off)
		return 0
	}
	return int(n)
}

// Count reads an array header like [Reader.ArrayLen], and also requires at
// least minBytes bytes left per element, for decoders that know each
// element's smallest encoding.
func (r *Reader) Count(minBytes int) int {
	at := r.off
	n := r.ArrayLen()
	if n > 0 && minBytes > 1 && n*minBytes > len(r.buf)-r.off {
		r.off = at
		r.failf(ErrTruncated, "array of %d items of at least %d bytes, only %d bytes left", n, minBytes, len(r.buf)-r.off)
		return 0
	}
	return n
}

// RawValue reads one complete msgpack value of any type and returns its
// bytes (a sub-slice of the input), checking its structure: lengths within
// the input, nesting within [Limits.MaxDepth].
func (r *Reader) RawValue() []byte {
	if r.err != nil {
		return nil
	}
	start := r.off
	r.skip(0)
	if r.err != nil {
		return nil
	}
	return r.buf[start:r.off]
}

// skip consumes one msgpack value.
func (r *Reader) skip(depth int) {
	if depth > r.lim.MaxDepth {
		r.failf(ErrLimit, "value nested deeper than %d", r.lim.MaxDepth)
		return
	}
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return
	}
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
	case c&0xe0 == 0xa0:
		r.take(int(c & 0x1f))
	case c&0xf0 == 0x90:
		r.skipN(at, uint64(c&0x0f), 1, depth)
	case c&0xf0 == 0x80:
		r.skipN(at, uint64(c&0x0f), 2, depth)
	case c == 0xcc, c == 0xd0:
		r.take(1)
	case c == 0xcd, c == 0xd1:
		r.take(2)
	case c == 0xce, c == 0xd2, c == 0xca:
		r.take(4)
	case c == 0xcf, c == 0xd3, c == 0xcb:
		r.take(8)
	case c == 0xc4, c == 0xd9:
		r.take(int(r.be(1)))
	case c == 0xc5, c == 0xda:
		r.take(int(r.be(2)))
	case c == 0xc6, c == 0xdb:
		r.take(int(r.be(4)))
	case c == 0xdc:
		r.skipN(at, r.be(2), 1, depth)
	case c == 0xdd:
		r.skipN(at, r.be(4), 1, depth)
	case c == 0xde:
		r.skipN(at, r.be(2), 2, depth)
	case c == 0xdf:
		r.skipN(at, r.be(4), 2, depth)
	case c == 0xd4:
		r.take(1 + 1)
	case c == 0xd5:
		r.take(1 + 2)
	case c == 0xd6:
		r.take(1 + 4)
	case c == 0xd7:
		r.take(1 + 8)
	case c == 0xd8:
		r.take(1 + 16)
	case c == 0xc7:
		r.take(1 + int(r.be(1)))
	case c == 0xc8:
		r.take(1 + int(r.be(2)))
	case c == 0xc9:
		r.take(1 + int(r.be(4)))
	default: // 0xc1 is never used
		r.typeErr("a msgpack value", at, c)
	}
}

func (r *Reader) skipN(at int, n uint64, per int, depth int) {
	n = uint64(r.count(at, n, per))
	for i := uint64(0); i < n*uint64(per) && r.err == nil; i++ {
		r.skip(depth + 1)
	}
}
