package ormap

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/activeactive/crdt/codec"
)

// A segment is the in-memory form of one key of a key path, of a set
// element, or of a register value: a string that is equal for equal
// values and differs for different ones. Strings are their own segment;
// integers, booleans and float64 take a fixed-width binary form; any
// other type is encoded as a whole codec message of kind codec.KindUser,
// which msgpack makes deterministic for every comparable type.

// encSeg returns the segment of v, or an error if v cannot be encoded.
func encSeg[T any](v T) (string, error) {
	if p, ok := any(&v).(*string); ok {
		// Keys are strings mostly: one comparison, not the switch's
		// search among its cases.
		return *p, nil
	}
	var b [8]byte
	switch p := any(&v).(type) {
	case *string:
		return *p, nil
	case *bool:
		if *p {
			return "\x01", nil
		}
		return "\x00", nil
	case *int:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *int8:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *int16:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *int32:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *int64:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *uint:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *uint8:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *uint16:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *uint32:
		binary.BigEndian.PutUint64(b[:], uint64(*p))
	case *uint64:
		binary.BigEndian.PutUint64(b[:], *p)
	case *float64:
		binary.BigEndian.PutUint64(b[:], math.Float64bits(*p))
	default:
		// A value holding interfaces as a peer decodes it (an int 1 in
		// an any as an int8), so that one value has one segment.
		v, err := codec.WireForm(v)
		if err != nil {
			return "", fmt.Errorf("%w: %T: %w", ErrInvalidOp, v, err)
		}
		w := codec.NewWriter(codec.KindUser, 32)
		codec.PutValue(w, v)
		out, err := w.Bytes()
		if err != nil {
			return "", fmt.Errorf("%w: %T cannot be encoded: %w", ErrInvalidOp, v, err)
		}
		return string(out), nil
	}
	return string(b[:]), nil
}

// decSeg returns the value whose segment is s. It reports false if s is
// no segment of a T (which only a bug could make: segments are made by
// encSeg).
func decSeg[T any](s string) (T, bool) {
	var v T
	u := func() uint64 {
		if len(s) != 8 {
			return 0
		}
		return binary.BigEndian.Uint64([]byte(s))
	}
	switch p := any(&v).(type) {
	case *string:
		*p = s
		return v, true
	case *bool:
		*p = s == "\x01"
		return v, len(s) == 1
	case *int:
		*p = int(u())
	case *int8:
		*p = int8(u())
	case *int16:
		*p = int16(u())
	case *int32:
		*p = int32(u())
	case *int64:
		*p = int64(u())
	case *uint:
		*p = uint(u())
	case *uint8:
		*p = uint8(u())
	case *uint16:
		*p = uint16(u())
	case *uint32:
		*p = uint32(u())
	case *uint64:
		*p = u()
	case *float64:
		*p = math.Float64frombits(u())
	default:
		r := codec.NewReader([]byte(s), codec.KindUser, codec.Limits{})
		v = codec.GetValue[T](r)
		return v, r.Done() == nil
	}
	return v, len(s) == 8
}

// segCodec writes a segment on the wire as the typed value it stands for,
// and reads one back.
type segCodec struct {
	put func(w *codec.Writer, seg string)
	get func(r *codec.Reader) string // "" with r's error set on a problem
	val func(seg string) any         // the value the segment stands for
}

func segCodecOf[T any]() segCodec {
	return segCodec{
		put: func(w *codec.Writer, seg string) {
			v, ok := decSeg[T](seg)
			if !ok {
				w.Fail(fmt.Errorf("ormap: corrupt segment %q", seg))
				return
			}
			codec.PutValue(w, v)
		},
		get: func(r *codec.Reader) string {
			v := codec.GetCanonicalValue[T](r)
			if r.Err() != nil {
				return ""
			}
			s, err := encSeg(v)
			if err != nil {
				r.Fail("value %v cannot be encoded again: %v", v, err)
				return ""
			}
			return s
		},
		val: func(seg string) any {
			v, _ := decSeg[T](seg)
			return v
		},
	}
}

// appendSeg appends the segment s to the key path p: its length as a
// uvarint, then its bytes.
func appendSeg(p, s string) string {
	var b [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(b[:], uint64(len(s)))
	out := make([]byte, 0, len(p)+n+len(s))
	out = append(out, p...)
	out = append(out, b[:n]...)
	out = append(out, s...)
	return string(out)
}

// nextSeg splits the first segment off the key path p. ok is false if p
// is empty or malformed.
func nextSeg(p string) (seg, rest string, ok bool) {
	if p != "" && p[0] < 0x80 { // a segment shorter than 128 bytes
		n := int(p[0]) + 1
		if n > len(p) {
			return "", "", false
		}
		return p[1:n], p[n:], true
	}
	n, k := uvarintString(p)
	if k <= 0 || uint64(len(p)-k) < n {
		return "", "", false
	}
	return p[k : k+int(n)], p[k+int(n):], true
}

func uvarintString(s string) (uint64, int) {
	var x uint64
	var sh uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<sh, i + 1
		}
		x |= uint64(c&0x7f) << sh
		sh += 7
	}
	return 0, 0
}

// topPathBuf is room on the stack for the key path of a key of a
// top-level map, for a look-up that keeps no string.
type topPathBuf [64]byte

// path returns the key path of the top-level key whose segment is seg,
// built in b, or false if it does not fit. The string shares b's bytes:
// it must be used only for look-ups, and kept nowhere.
func (b *topPathBuf) path(seg string) (string, bool) {
	if len(seg) >= 0x80 || len(seg) >= len(b) {
		return "", false
	}
	b[0] = byte(len(seg)) // a uvarint of one byte
	n := 1 + copy(b[1:], seg)
	return unsafe.String(&b[0], n), true
}

// lastSeg returns the segment of the key path p that follows the path
// of its parent, a prefix of p: the key of a child in the index (see
// children).
func lastSeg(p, parent string) string {
	seg, _, _ := nextSeg(p[len(parent):])
	return seg
}

// countSegs returns the number of segments of the key path p, or -1 if p
// is malformed.
func countSegs(p string) int {
	n := 0
	for p != "" {
		_, rest, ok := nextSeg(p)
		if !ok {
			return -1
		}
		p = rest
		n++
	}
	return n
}
