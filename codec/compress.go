package codec

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"
)

// The compressed form.
//
// Any message can travel compressed, as a message of kind [KindCompressed]
// that holds the original (the plain message) in two steps:
//
//  1. Columns. The plain message's msgpack values are walked in order, one
//     type byte at a time, and their bytes split into three columns: the
//     structure (every type byte and what follows it in the header:
//     integers, floats, lengths, extension types), the text (the bytes of
//     every string), and the opaque bytes (the contents of bin and ext
//     values). Each string is written in the text column as the length of
//     the prefix it shares with the string before it, or with the one
//     before that, times two, plus one if with the latter (an unsigned
//     varint), then its remaining bytes; its length is in the structure
//     column. A state's elements are written in runs by writer, each
//     sequence number as its step from the previous, so the structure
//     column of a set is mostly one short pattern repeated, and keys
//     written in order share most of their bytes with the key before (a
//     map's, with the key before the value before).
//  2. DEFLATE (RFC 1951, package compress/flate, at its best speed) of the
//     three columns laid end to end.
//
// The compressed message is a message like any other: the format version,
// [KindCompressed] and an empty replica table, then the body:
//
//	kind        the plain message's kind
//	plain       the plain message's length in bytes
//	structure   the length of the structure column
//	text        the length of the text column
//	opaque      the length of the opaque column
//	data        bin: the DEFLATE stream of the columns
//
// [NewReader] reads a compressed message as the plain message it holds,
// so every decoder built on it reads both forms. A compressed message is
// untrusted input like any other: the plain message it claims may be no
// longer than the [Limits] allow, nor longer than [MaxRatio] times the
// compressed message; the columns may take no more than twice the plain
// message; and the decompressed bytes must rebuild exactly a plain message
// of the length claimed, or the message is refused whole. The work is
// linear in the plain message, and so at most MaxRatio times the input.
//
// A compressed message never holds another one.

// KindCompressed is the kind of a compressed message: any other message,
// compressed (see [Compressor]).
const KindCompressed Kind = 0x70

// MaxRatio is the most a compressed message may expand: a reader refuses
// one whose plain message claims more than MaxRatio times its own length,
// and a [Compressor] never writes one, keeping the plain message instead.
//
// DEFLATE alone expands at most about 1032 times; a state of keys written
// in order compresses hundreds of times (a 100,000-element set of keys
// key-%06d: 1.2 MB to about 3 KB), so the bound is set just above what
// DEFLATE can do, and the columns may not add to it. What a compressed
// message of n bytes costs to read is bounded by the cost of a plain
// message of MaxRatio·n bytes, and by [Limits.MaxBytes].
const MaxRatio = 1024

// compressHead bounds the bytes a compressed message takes beside the
// DEFLATE stream: version, kind, table, five integers of up to 9 bytes and
// the bin header.
const compressHead = 3 + 5*9 + 5

// A Compressor writes the compressed form of messages. It keeps its
// buffers (up to 4 MiB of them) and its DEFLATE state from one
// message to the next, so that a host compressing many messages allocates
// for them once.
//
// The zero Compressor is ready to use. A Compressor is not safe for
// concurrent use.
type Compressor struct {
	fw      *flate.Writer
	s, t, o []byte // the columns
	z       bytes.Buffer
}

// Compress returns the compressed form of msg, a complete message written
// by a [Writer], and true; or msg itself and false when compressing does
// not pay: when the compressed form would not be smaller, when msg would
// expand more than [MaxRatio] times (a reader would refuse it), when msg is
// already compressed, or when it is not a sequence of msgpack values.
// The result does not alias the Compressor's buffers.
func (c *Compressor) Compress(msg []byte) ([]byte, bool) {
	if len(msg) < compressHead {
		return msg, false
	}
	kind, ok := headerKind(msg)
	if !ok || kind == KindCompressed {
		return msg, false
	}
	c.s, c.t, c.o, ok = splitColumns(msg, c.s[:0], c.t[:0], c.o[:0])
	if !ok {
		return msg, false
	}
	c.z.Reset()
	if c.fw == nil {
		// flate.BestSpeed: on the states of 100,000 elements of
		// BENCHMARKS.md, level 6 (the default) made them 7–32% smaller (a
		// set of keys in order: 2.2 KB against 3.3 KB; a map: 149 KB
		// against 182 KB) for 2.5–7 times the time, and the engine
		// compresses under its lock.
		fw, err := flate.NewWriter(&c.z, flate.BestSpeed)
		if err != nil {
			return msg, false
		}
		c.fw = fw
	} else {
		c.fw.Reset(&c.z)
	}
	for _, col := range [][]byte{c.s, c.t, c.o} {
		if _, err := c.fw.Write(col); err != nil {
			return msg, false
		}
	}
	if err := c.fw.Close(); err != nil {
		return msg, false
	}
	defer c.release()
	z := c.z.Bytes()
	if len(z)+compressHead >= len(msg) {
		return msg, false
	}
	w := NewWriter(KindCompressed, len(z)+compressHead)
	w.Uint(uint64(kind))
	w.Uint(uint64(len(msg)))
	w.Uint(uint64(len(c.s)))
	w.Uint(uint64(len(c.t)))
	w.Uint(uint64(len(c.o)))
	w.Binary(z)
	out, err := w.Bytes()
	if err != nil || len(out) >= len(msg) || len(msg) > MaxRatio*len(out) {
		return msg, false
	}
	return out, true
}

// keptBuffers is the most a Compressor keeps of its buffers between
// messages: the columns of a larger message are let go once it is
// compressed, so that a host that compressed a large state once does not
// hold its size for good.
const keptBuffers = 4 << 20

func (c *Compressor) release() {
	if cap(c.s)+cap(c.t)+cap(c.o)+c.z.Cap() > keptBuffers {
		c.s, c.t, c.o = nil, nil, nil
		c.z = bytes.Buffer{}
	}
}

// Compress returns the compressed form of msg, as [Compressor.Compress]
// does, with a Compressor of its own.
func Compress(msg []byte) ([]byte, bool) {
	var c Compressor
	return c.Compress(msg)
}

// IsCompressed reports whether msg starts as a compressed message does:
// a format version, [KindCompressed] and an empty replica table (the bytes
// 01 70 90 in format version 1). It may still be a damaged one.
func IsCompressed(msg []byte) bool {
	return len(msg) >= 3 && msg[0] >= 1 && msg[0] <= Version && Kind(msg[1]) == KindCompressed && msg[2] == 0x90
}

// Decompress returns the plain message a compressed message holds, checked
// as [NewReader] checks it, within lim; any other message it returns as it
// is. An error is a [*DecodeError] of kind [KindCompressed]. The result
// is checked to rebuild a sequence of msgpack values of the length
// claimed, but not decoded: its own decoder checks it.
func Decompress(msg []byte, lim Limits) ([]byte, error) {
	if !IsCompressed(msg) {
		return msg, nil
	}
	plain, _, err := decompress(msg, 0, false, lim.orDefault())
	if err != nil {
		return nil, err
	}
	return plain, nil
}

// decompress checks the compressed message msg and returns the plain
// message it holds and its kind. If check, the plain message must be of
// kind want, and a message of another kind is refused before anything is
// decompressed. Problems are reported as decoding errors of kind want (or
// of KindCompressed if not check), wrapping the class of the problem.
func decompress(msg []byte, want Kind, check bool, lim Limits) ([]byte, Kind, *DecodeError) {
	r := newReader(msg, KindCompressed, lim)
	errKind := KindCompressed
	if check {
		errKind = want
	}
	fail := func(at int, class error, format string, args ...any) *DecodeError {
		return &DecodeError{Kind: errKind, Offset: at, Reason: "compressed message: " + fmt.Sprintf(format, args...), Err: class}
	}
	if r.err != nil {
		e := *r.err
		e.Kind = errKind
		return nil, 0, &e
	}
	if len(r.ids) != 0 {
		return nil, 0, fail(0, ErrMalformed, "replica table of %d IDs, want none", len(r.ids))
	}
	at := r.off
	k := r.canonicalUint("kind of the plain message")
	if r.err == nil && (k > 0xff || Kind(k) == KindCompressed) {
		return nil, 0, fail(at, ErrMalformed, "holds kind %d", k)
	}
	if r.err == nil && check && Kind(k) != want {
		return nil, 0, fail(at, ErrKind, "holds %v", Kind(k))
	}
	at = r.off
	plain := r.canonicalUint("plain length")
	var cols [3]uint64
	for i := range cols {
		cols[i] = r.canonicalUint("column length")
	}
	zAt := r.off
	z := r.binaryBytes()
	if r.err == nil && r.off != len(r.buf) {
		r.failf(ErrMalformed, "%d unexpected bytes after the message", len(r.buf)-r.off)
	}
	if r.err != nil {
		e := *r.err
		e.Kind = errKind
		e.Reason = "compressed message: " + e.Reason
		return nil, 0, &e
	}
	switch {
	case plain < 2:
		return nil, 0, fail(at, ErrMalformed, "plain message of %d bytes", plain)
	case plain > uint64(lim.MaxBytes):
		return nil, 0, fail(at, ErrLimit, "plain message of %d bytes exceeds the limit of %d", plain, lim.MaxBytes)
	case plain > MaxRatio*uint64(len(msg)):
		return nil, 0, fail(at, ErrLimit, "plain message of %d bytes, over %d times the %d bytes of the compressed one", plain, MaxRatio, len(msg))
	case cols[0] > 2*plain || cols[1] > 2*plain || cols[2] > 2*plain || cols[0]+cols[1]+cols[2] > 2*plain:
		return nil, 0, fail(at, ErrMalformed, "columns of %d, %d and %d bytes for a plain message of %d", cols[0], cols[1], cols[2], plain)
	}
	// The columns are read into one buffer of the length claimed, at most
	// twice the plain message's, itself bounded above.
	colBytes := make([]byte, cols[0]+cols[1]+cols[2])
	src := bytes.NewReader(z)
	fr := flate.NewReader(src)
	if n, err := io.ReadFull(fr, colBytes); err != nil {
		return nil, 0, fail(zAt, ErrMalformed, "DEFLATE stream yields %d bytes of columns, %d claimed: %v", n, len(colBytes), err)
	}
	var one [1]byte
	if n, err := fr.Read(one[:]); n != 0 || err != io.EOF {
		return nil, 0, fail(zAt, ErrMalformed, "DEFLATE stream yields more than the %d bytes of columns claimed", len(colBytes))
	}
	if src.Len() != 0 {
		return nil, 0, fail(len(msg)-src.Len(), ErrMalformed, "%d bytes after the DEFLATE stream", src.Len())
	}
	s, rest := colBytes[:cols[0]], colBytes[cols[0]:]
	t, o := rest[:cols[1]], rest[cols[1]:]
	out, why := joinColumns(s, t, o, int(plain))
	if why != "" {
		return nil, 0, fail(zAt, ErrMalformed, "%s", why)
	}
	if got, ok := headerKind(out); !ok || got != Kind(k) {
		// The plain message's own header is checked by its reader; this
		// only keeps the kind outside and inside in agreement.
		return nil, 0, fail(zAt, ErrMalformed, "the plain message is not of the kind the compressed one names")
	}
	return out, Kind(k), nil
}

// headerKind returns the kind a message's header names, read as the Writer
// writes it: a short header, or the version as a positive fixint and the
// kind as a positive fixint or a uint8.
func headerKind(msg []byte) (Kind, bool) {
	switch {
	case isShort(msg):
		return shortKind(msg[0]), true
	case len(msg) >= 2 && msg[0] <= 0x7f && msg[1] <= 0x7f:
		return Kind(msg[1]), true
	case len(msg) >= 3 && msg[0] <= 0x7f && msg[1] == 0xcc && msg[2] > 0x7f:
		return Kind(msg[2]), true
	}
	return 0, false
}

// binaryBytes reads msgpack bin and returns its bytes, a sub-slice of the
// input, only with the shortest header.
func (r *Reader) binaryBytes() []byte {
	at := r.off
	c := r.byte1()
	if r.err != nil {
		return nil
	}
	var n int
	switch c {
	case 0xc4:
		n = int(r.be(1))
	case 0xc5:
		n = int(r.be(2))
	case 0xc6:
		n = int(r.be(4))
	default:
		r.typeErr("binary data", at, c)
		return nil
	}
	if r.err == nil && c != binHead(n) {
		r.notCanonical(at, "byte slice of %d bytes not written with its shortest header", n)
		return nil
	}
	return r.take(n)
}

// The msgpack forms, as the columns see them: what follows a type byte in
// the structure column, and what its content is.
const (
	contentNone   = iota
	contentString // the bytes of a string, in the text column
	contentOpaque // the bytes of a bin or ext value, in the opaque column
)

// form describes the msgpack form whose first byte is c: the bytes that
// follow it in its header (lenBytes of them a big-endian length, the last
// of them when more), and where its content goes. ok is false for 0xc1,
// which msgpack never uses.
func form(c byte) (head, lenBytes, content int, ok bool) {
	switch {
	case c <= 0x9f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		return 0, 0, contentNone, true
	case c <= 0xbf: // fixstr
		return 0, 0, contentString, true
	}
	switch c {
	case 0xc4, 0xc5, 0xc6: // bin
		n := 1 << (c - 0xc4)
		return n, n, contentOpaque, true
	case 0xc7, 0xc8, 0xc9: // ext: length, then type
		n := 1 << (c - 0xc7)
		return n + 1, n, contentOpaque, true
	case 0xca, 0xd2, 0xce:
		return 4, 0, contentNone, true
	case 0xcb, 0xcf, 0xd3:
		return 8, 0, contentNone, true
	case 0xcc, 0xd0:
		return 1, 0, contentNone, true
	case 0xcd, 0xd1:
		return 2, 0, contentNone, true
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext: type, then 1 to 16 bytes
		return 1 + 1<<(c-0xd4), 0, contentNone, true
	case 0xd9, 0xda, 0xdb: // str
		n := 1 << (c - 0xd9)
		return n, n, contentString, true
	case 0xdc, 0xde:
		return 2, 0, contentNone, true
	case 0xdd, 0xdf:
		return 4, 0, contentNone, true
	}
	return 0, 0, contentNone, false
}

// contentLen returns the length a header carries: c's first byte for a
// fixstr, else the big-endian lenBytes bytes that follow the type byte.
func contentLen(c byte, head []byte, lenBytes int) uint64 {
	switch lenBytes {
	case 0:
		return uint64(c & 0x1f) // fixstr; other forms without a length have no content
	case 1:
		return uint64(head[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(head))
	}
	return uint64(binary.BigEndian.Uint32(head))
}

// splitColumns appends the columns of msg to s, t and o. ok is false if
// msg is not a sequence of complete msgpack values.
func splitColumns(msg, s, t, o []byte) (_, _, _ []byte, ok bool) {
	var prev [2][]byte // the string before, and the one before it
	run := 0           // msg[run:i] goes to the structure column as it is
	for i := 0; i < len(msg); {
		c := msg[i]
		if c <= 0x9f || c >= 0xe0 { // fixints, fixmaps, fixarrays: one byte
			i++
			continue
		}
		head, lenBytes, content, ok := form(c)
		if !ok || head > len(msg)-i-1 {
			return s, t, o, false
		}
		i += 1 + head
		if content == contentNone {
			continue
		}
		s = append(s, msg[run:i]...)
		n := contentLen(c, msg[i-head:i], lenBytes)
		if n > uint64(len(msg)-i) {
			return s, t, o, false
		}
		b := msg[i : i+int(n)]
		i += int(n)
		run = i
		if content == contentOpaque {
			o = append(o, b...)
			continue
		}
		p, sel := sharedPrefix(b, prev[0]), uint64(0)
		if q := sharedPrefix(b, prev[1]); q > p {
			p, sel = q, 1
		}
		t = binary.AppendUvarint(t, uint64(p)<<1|sel)
		t = append(t, b[p:]...)
		prev[0], prev[1] = b, prev[0]
	}
	return append(s, msg[run:]...), t, o, true
}

// sharedPrefix returns the length of the longest common prefix of a and b.
func sharedPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// joinColumns rebuilds the plain message of plain bytes from its columns,
// or says why they do not make one. It never writes more than plain bytes,
// and reads each column once.
func joinColumns(s, t, o []byte, plain int) ([]byte, string) {
	out := make([]byte, 0, plain)
	var prev [2][]byte // the string before, and the one before it, in out
	for i := 0; i < len(s); {
		c := s[i]
		head, lenBytes, content, ok := form(c)
		if !ok {
			return nil, fmt.Sprintf("type byte %#02x in the structure column", c)
		}
		if head > len(s)-i-1 {
			return nil, "structure column ends inside a header"
		}
		if 1+head > plain-len(out) {
			return nil, fmt.Sprintf("columns rebuild more than the %d bytes claimed", plain)
		}
		out = append(out, s[i:i+1+head]...)
		i += 1 + head
		if content == contentNone {
			continue
		}
		n := contentLen(c, s[i-head:i], lenBytes)
		if n > uint64(plain-len(out)) {
			return nil, fmt.Sprintf("columns rebuild more than the %d bytes claimed", plain)
		}
		if content == contentOpaque {
			if n > uint64(len(o)) {
				return nil, "opaque column too short"
			}
			out = append(out, o[:n]...)
			o = o[n:]
			continue
		}
		ps, k := binary.Uvarint(t)
		if k <= 0 {
			return nil, "text column ends inside a shared-prefix length"
		}
		t = t[k:]
		p, from := ps>>1, prev[ps&1]
		if p > n || p > uint64(len(from)) {
			return nil, fmt.Sprintf("string of %d bytes sharing %d with one of %d", n, p, len(from))
		}
		if n-p > uint64(len(t)) {
			return nil, "text column too short"
		}
		start := len(out)
		out = append(out, from[:p]...)
		out = append(out, t[:n-p]...)
		t = t[n-p:]
		prev[0], prev[1] = out[start:], prev[0]
	}
	switch {
	case len(t) != 0 || len(o) != 0:
		return nil, fmt.Sprintf("%d bytes of text and %d opaque bytes left over", len(t), len(o))
	case len(out) != plain:
		return nil, fmt.Sprintf("columns rebuild %d bytes, %d claimed", len(out), plain)
	}
	return out, ""
}
