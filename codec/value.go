package codec

import (
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
)

// PutValue writes v, a value of a data type's element type. Strings,
// integers, booleans, floats and byte slices take a fast path; any other
// type is encoded with msgpack (struct tags and msgpack's own interfaces
// apply). A value msgpack cannot encode is recorded with [Writer.Fail].
//
// Either way the bytes are plain msgpack, so a named type and its underlying
// type read each other's values: type Status string decodes as a string and
// vice versa, with the same bytes. (msgpack writes a named integer type in
// its full width, a string or int64 fast-path value in its shortest form;
// [GetValue] reads both.)
func PutValue[T any](w *Writer, v T) {
	switch p := any(&v).(type) {
	case *string:
		w.String(*p)
	case *[]byte:
		w.Binary(*p)
	case *bool:
		w.Bool(*p)
	case *int:
		w.Int(int64(*p))
	case *int8:
		w.Int(int64(*p))
	case *int16:
		w.Int(int64(*p))
	case *int32:
		w.Int(int64(*p))
	case *int64:
		w.Int(*p)
	case *uint:
		w.Uint(uint64(*p))
	case *uint8:
		w.Uint(uint64(*p))
	case *uint16:
		w.Uint(uint64(*p))
	case *uint32:
		w.Uint(uint64(*p))
	case *uint64:
		w.Uint(*p)
	case *float64:
		w.Float(*p)
	default:
		putGeneric(w, v)
	}
}

// ValueLen returns the number of bytes [PutValue] writes for v, and true,
// when v is of a type PutValue writes itself (strings, byte slices,
// booleans, integers, float64). For any other type it returns 0 and false:
// msgpack would have to encode v to tell. Encoders use it to size their
// buffer once.
func ValueLen[T any](v T) (int, bool) {
	switch p := any(&v).(type) {
	case *string:
		return headLen(strHead(len(*p))) + len(*p), true
	case *[]byte:
		return headLen(binHead(len(*p))) + len(*p), true
	case *bool:
		return 1, true
	case *int:
		return headLen(intHead(int64(*p))), true
	case *int8:
		return headLen(intHead(int64(*p))), true
	case *int16:
		return headLen(intHead(int64(*p))), true
	case *int32:
		return headLen(intHead(int64(*p))), true
	case *int64:
		return headLen(intHead(*p)), true
	case *uint:
		return headLen(uintHead(uint64(*p))), true
	case *uint8:
		return headLen(uintHead(uint64(*p))), true
	case *uint16:
		return headLen(uintHead(uint64(*p))), true
	case *uint32:
		return headLen(uintHead(uint64(*p))), true
	case *uint64:
		return headLen(uintHead(*p)), true
	case *float64:
		return 9, true
	}
	return 0, false
}

// PutValueOf returns [PutValue] for values of type T, for an encoder that
// writes many: for strings and byte slices the type is looked at once,
// here, rather than once per value.
func PutValueOf[T any]() func(*Writer, T) {
	var probe T
	switch any(&probe).(type) {
	case *string:
		return func(w *Writer, v T) { w.String(*any(&v).(*string)) }
	case *[]byte:
		return func(w *Writer, v T) { w.Binary(*any(&v).(*[]byte)) }
	}
	return PutValue[T]
}

// ValueLenOf returns [ValueLen] for values of type T, for an encoder that
// measures many: for strings and byte slices the type is looked at once,
// here, rather than once per value.
func ValueLenOf[T any]() func(T) (int, bool) {
	var probe T
	switch any(&probe).(type) {
	case *string:
		return func(v T) (int, bool) {
			n := len(*any(&v).(*string))
			return headLen(strHead(n)) + n, true
		}
	case *[]byte:
		return func(v T) (int, bool) {
			n := len(*any(&v).(*[]byte))
			return headLen(binHead(n)) + n, true
		}
	}
	return ValueLen[T]
}

func putGeneric[T any](w *Writer, v T) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		w.Fail(fmt.Errorf("value of type %T: %w", v, err))
		return
	}
	w.Raw(b)
}

// GetValue reads a value written by [PutValue] into a T, in any msgpack
// form. A value that does not fit T (a string for an int, 300 for an int8)
// is recorded as a problem on the Reader, which then returns the zero T.
func GetValue[T any](r *Reader) T {
	return getValue[T](r, false)
}

// getValue is [GetValue], or [GetCanonicalValue] if canon.
func getValue[T any](r *Reader, canon bool) T {
	var v T
	switch p := any(&v).(type) {
	case *string:
		if canon {
			*p = r.CanonicalString()
		} else {
			*p = r.String()
		}
	case *[]byte:
		*p = r.binary(canon)
	case *bool:
		*p = r.Bool()
	case *int:
		*p = int(r.intIn(math.MinInt, math.MaxInt, canon))
	case *int8:
		*p = int8(r.intIn(math.MinInt8, math.MaxInt8, canon))
	case *int16:
		*p = int16(r.intIn(math.MinInt16, math.MaxInt16, canon))
	case *int32:
		*p = int32(r.intIn(math.MinInt32, math.MaxInt32, canon))
	case *int64:
		*p = r.intIn(math.MinInt64, math.MaxInt64, canon)
	case *uint:
		*p = uint(r.uintIn(math.MaxUint, canon))
	case *uint8:
		*p = uint8(r.uintIn(math.MaxUint8, canon))
	case *uint16:
		*p = uint16(r.uintIn(math.MaxUint16, canon))
	case *uint32:
		*p = uint32(r.uintIn(math.MaxUint32, canon))
	case *uint64:
		*p = r.uintIn(math.MaxUint64, canon)
	case *float64:
		*p = r.float(canon)
	default:
		return getGeneric[T](r)
	}
	return v
}

// intIn reads an integer, in its shortest form if canon, and records a
// problem if it is outside [lo, hi].
func (r *Reader) intIn(lo, hi int64, canon bool) int64 {
	at := r.off
	var i int64
	if canon {
		i = r.CanonicalInt()
	} else {
		i = r.Int()
	}
	if r.err == nil && (i < lo || i > hi) {
		r.off = at
		r.failf(ErrMalformed, "integer %d out of range [%d, %d]", i, lo, hi)
		return 0
	}
	return i
}

// uintIn reads an unsigned integer, in its shortest form if canon, and
// records a problem if it is above hi.
func (r *Reader) uintIn(hi uint64, canon bool) uint64 {
	at := r.off
	var u uint64
	if canon {
		u = r.CanonicalUint()
	} else {
		u = r.Uint()
	}
	if r.err == nil && u > hi {
		r.off = at
		r.failf(ErrMalformed, "integer %d out of range [0, %d]", u, hi)
		return 0
	}
	return u
}

// binary reads a byte slice; if canon, only as bin with the shortest
// header, as [Writer.Binary] writes it.
func (r *Reader) binary(canon bool) []byte {
	at := r.off
	b := r.Binary()
	if canon && r.err == nil && r.buf[at] != binHead(len(b)) {
		r.notCanonical(at, "byte slice of %d bytes not written as bin with its shortest header", len(b))
		return nil
	}
	return b
}

// float reads a float; if canon, only a float64, as [Writer.Float] writes
// it.
func (r *Reader) float(canon bool) float64 {
	at := r.off
	f := r.Float()
	if canon && r.err == nil && r.buf[at] != 0xcb {
		r.notCanonical(at, "float %v not written as a float64", f)
		return 0
	}
	return f
}

func getGeneric[T any](r *Reader) (v T) {
	at := r.off
	raw := r.RawValue()
	if r.err != nil {
		return v
	}
	if err := unmarshalSafely(raw, &v); err != nil {
		r.off = at
		r.failf(ErrMalformed, "value of type %T: %v", v, err)
		var zero T
		return zero
	}
	return v
}

// unmarshalSafely runs msgpack on bytes whose structure the Reader has
// already checked; it turns a panic of the underlying decoder (a user type's
// own decoding method, say) into an error, so bad input never takes the host
// down.
func unmarshalSafely(raw []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	return msgpack.Unmarshal(raw, v)
}
