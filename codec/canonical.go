package codec

import (
	"encoding/binary"
	"math"
)

// Canonical forms.
//
// The Writer writes every integer and every header in its shortest form,
// so a message it writes is the one encoding of its content. The Reader's
// plain methods accept every msgpack form, as any msgpack encoder may
// write; its Canonical methods accept only the form the Writer writes, for
// encodings that promise each value exactly one encoding (so that equal
// values have equal bytes).
//
// A form is told by its first byte. The functions below give that byte for
// a value; the Writer writes through them and the Canonical methods check
// against them, so the two cannot disagree.

// uintHead returns the first byte of the shortest encoding of u: u itself
// (positive fixint) up to 0x7f, else the type byte of uint8 to uint64.
func uintHead(u uint64) byte {
	switch {
	case u <= 0x7f:
		return byte(u)
	case u <= math.MaxUint8:
		return 0xcc
	case u <= math.MaxUint16:
		return 0xcd
	case u <= math.MaxUint32:
		return 0xce
	}
	return 0xcf
}

// intHead returns the first byte of the shortest encoding of i: a
// non-negative i is written as an unsigned integer, a negative one as a
// negative fixint down to -32, else as int8 to int64.
func intHead(i int64) byte {
	switch {
	case i >= 0:
		return uintHead(uint64(i))
	case i >= -32:
		return byte(i)
	case i >= math.MinInt8:
		return 0xd0
	case i >= math.MinInt16:
		return 0xd1
	case i >= math.MinInt32:
		return 0xd2
	}
	return 0xd3
}

// strHead returns the first byte of the shortest header of a string of n
// bytes: fixstr, then str8 to str32.
func strHead(n int) byte {
	switch {
	case n < 32:
		return 0xa0 | byte(n)
	case n <= math.MaxUint8:
		return 0xd9
	case n <= math.MaxUint16:
		return 0xda
	}
	return 0xdb
}

// binHead returns the first byte of the shortest header of n bytes of
// binary data: bin8 to bin32.
func binHead(n int) byte {
	switch {
	case n <= math.MaxUint8:
		return 0xc4
	case n <= math.MaxUint16:
		return 0xc5
	}
	return 0xc6
}

// arrayHead returns the first byte of the shortest header of an array of n
// values: fixarray, then array16 or array32.
func arrayHead(n int) byte {
	switch {
	case n < 16:
		return 0x90 | byte(n)
	case n <= math.MaxUint16:
		return 0xdc
	}
	return 0xdd
}

// mapHead returns the first byte of the shortest header of a map of n
// pairs: fixmap, then map16 or map32.
func mapHead(n int) byte {
	switch {
	case n < 16:
		return 0x80 | byte(n)
	case n <= math.MaxUint16:
		return 0xde
	}
	return 0xdf
}

// headLen returns the length of a form whose first byte is h: the byte
// itself and what appendHead writes after it.
func headLen(h byte) int {
	switch h {
	case 0xcc, 0xd0, 0xd9, 0xc4:
		return 2
	case 0xcd, 0xd1, 0xda, 0xc5, 0xdc, 0xde:
		return 3
	case 0xce, 0xd2, 0xdb, 0xc6, 0xdd, 0xdf:
		return 5
	case 0xcf, 0xd3:
		return 9
	}
	return 1
}

// UintLen returns the number of bytes [Writer.Uint] writes for u.
func UintLen(u uint64) int { return headLen(uintHead(u)) }

// StringLen returns the number of bytes [Writer.String] writes for a
// string of n bytes, its header included.
func StringLen(n int) int { return headLen(strHead(n)) + n }

// ArrayLen returns the number of bytes [Writer.Array] writes for an array
// of n values.
func ArrayLen(n int) int { return headLen(arrayHead(n)) }

// appendHead appends the first byte h of a form, then v in the number of
// bytes that form carries after its first byte: none for the fixed forms
// (whose first byte holds the value), else 1, 2, 4 or 8 big-endian bytes.
func appendHead(b []byte, h byte, v uint64) []byte {
	b = append(b, h)
	switch h {
	case 0xcc, 0xd0, 0xd9, 0xc4:
		return append(b, byte(v))
	case 0xcd, 0xd1, 0xda, 0xc5, 0xdc, 0xde:
		return binary.BigEndian.AppendUint16(b, uint16(v))
	case 0xce, 0xd2, 0xdb, 0xc6, 0xdd, 0xdf:
		return binary.BigEndian.AppendUint32(b, uint32(v))
	case 0xcf, 0xd3:
		return binary.BigEndian.AppendUint64(b, v)
	}
	return b
}

// notCanonical records that the value starting at byte at is not in the
// form the Writer writes for it.
func (r *Reader) notCanonical(at int, format string, args ...any) {
	r.off = at
	r.failf(ErrMalformed, format, args...)
}

// CanonicalUint reads an unsigned integer like [Reader.Uint], but only in
// its shortest form, the one [Writer.Uint] writes. Any other form (a wider
// unsigned one, or a signed one) is a problem recorded at the integer's
// first byte, wrapping [ErrMalformed].
func (r *Reader) CanonicalUint() uint64 {
	if off := r.off; off < len(r.buf) && r.buf[off] <= 0x7f && r.err == nil {
		r.off++
		return uint64(r.buf[off])
	}
	return r.canonicalUint("integer")
}

// canonicalUint is [Reader.CanonicalUint], what naming the integer in the
// problem recorded.
func (r *Reader) canonicalUint(what string) uint64 {
	at := r.off
	u := r.Uint()
	if r.err == nil && r.buf[at] != uintHead(u) {
		r.notCanonical(at, "%s %d not in its shortest form", what, u)
		return 0
	}
	return u
}

// CanonicalUvarint reads an unsigned integer written by [Writer.Uvarint]:
// an unsigned LEB128 varint, not msgpack, for layouts that say so. It
// refuses a varint cut short (wrapping [ErrTruncated]), and one of more
// than 10 bytes, beyond 2^64-1, or not in its shortest form (a last byte
// of 0 after the first), wrapping [ErrMalformed]; each is recorded at the
// varint's first byte.
func (r *Reader) CanonicalUvarint() uint64 {
	if r.err != nil {
		return 0
	}
	at := r.off
	if at < len(r.buf) && r.buf[at] < 0x80 {
		r.off++
		return uint64(r.buf[at])
	}
	var u uint64
	for i := 0; ; i++ {
		if at+i >= len(r.buf) {
			r.failf(ErrTruncated, "varint cut after %d bytes", i)
			return 0
		}
		c := r.buf[at+i]
		if i == binary.MaxVarintLen64-1 && c >= 0x80 {
			r.notCanonical(at, "varint of more than %d bytes", binary.MaxVarintLen64)
			return 0
		}
		if i == binary.MaxVarintLen64-1 && c > 1 {
			r.notCanonical(at, "varint beyond 2^64-1")
			return 0
		}
		u |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				r.notCanonical(at, "varint %d not in its shortest form", u)
				return 0
			}
			r.off = at + i + 1
			return u
		}
	}
}

// CanonicalInt reads a signed integer like [Reader.Int], but only in its
// shortest form, the one [Writer.Int] writes (a non-negative value as an
// unsigned integer). Any other form is a problem recorded at the integer's
// first byte, wrapping [ErrMalformed].
func (r *Reader) CanonicalInt() int64 {
	at := r.off
	i := r.Int()
	if r.err == nil && r.buf[at] != intHead(i) {
		r.notCanonical(at, "integer %d not in its shortest form", i)
		return 0
	}
	return i
}

// CanonicalString reads a string like [Reader.String], but only with the
// shortest header for its length, the one [Writer.String] writes. Any other
// header is a problem recorded at its first byte, wrapping [ErrMalformed].
func (r *Reader) CanonicalString() string {
	return string(r.CanonicalStringBytes())
}

// CanonicalStringBytes reads a string like [Reader.CanonicalString] but
// returns its bytes without copying them: a sub-slice of the message, which
// the caller must not modify.
func (r *Reader) CanonicalStringBytes() []byte {
	at := r.off
	b := r.stringBytes()
	if r.err == nil && r.buf[at] != strHead(len(b)) {
		r.notCanonical(at, "header of a string of %d bytes not in its shortest form", len(b))
		return nil
	}
	return b
}

// CanonicalArrayLen reads an array header like [Reader.Count], with the
// same checks (minBytes is the least number of bytes each element takes),
// but only in its shortest form, the one [Writer.Array] writes. Any other
// form is a problem recorded at the header's first byte, wrapping
// [ErrMalformed].
func (r *Reader) CanonicalArrayLen(minBytes int) int {
	at := r.off
	n := r.Count(minBytes)
	if r.err == nil && r.buf[at] != arrayHead(n) {
		r.notCanonical(at, "array header of %d items not in its shortest form", n)
		return 0
	}
	return n
}

// CanonicalReplica reads a replica ID written by [Writer.Replica] like
// [Reader.Replica], but only with its index in the message's replica table
// in its shortest form. Any other form is a problem recorded at the index's
// first byte, wrapping [ErrMalformed].
func (r *Reader) CanonicalReplica() string {
	at := r.off
	return r.replicaAt(at, r.CanonicalUint())
}

// GetCanonicalValue reads a value written by [PutValue] like [GetValue],
// but for the types PutValue writes itself (strings, byte slices,
// booleans, integers, float64) only in the one form PutValue writes:
// shortest integers and headers, float64 rather than float32. Any other
// form is a problem recorded at the value's first byte, wrapping
// [ErrMalformed], and the zero T is returned. Values of other types are
// decoded by msgpack in any form, as by GetValue.
func GetCanonicalValue[T any](r *Reader) T {
	return getValue[T](r, true)
}
