package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrKey means a value cannot be a key or an element of a replicated
// type: it holds a floating-point NaN, which is not equal to itself, so
// that a Go map can neither find nor replace an entry keyed by it, and
// every write of it would make another entry; or it is not comparable at
// all (an interface holding a slice, say); or its type holds a pointer or
// a channel, which compares by address, so that the copy a peer decodes
// would be another key with the same bytes.
var ErrKey = errors.New("codec: value cannot be a key")

// CanonicalKey returns k in the one form a key or element of a replicated
// type takes: every floating-point zero it holds, in exported fields,
// array elements and interfaces, made +0. Go's == takes −0 and +0 for
// the same key, but they encode, and so hash, differently: two replicas
// holding "the same" key in its two forms would send different bytes and
// show different fingerprints, and a map whose entry was made with one
// and replaced with the other would hash it with both. It returns an
// error matching [ErrKey], and the zero K, if k holds a NaN or is not
// comparable.
//
// A key that holds interfaces (an any, a struct with an any field) or
// structs with unexported fields is returned as a decoder gives it back
// (see throughWire): a number in an interface as the smallest integer
// type of its value, a struct in an interface as a map, which is not
// comparable and so refused, an unexported field as zero, since msgpack
// does not write it, a time.Time without its monotonic reading and in
// time.Local (the zero Time in UTC). Every replica then holds such a key
// in one form, whoever made it.
//
// A key whose type holds a pointer, an unsafe pointer or a channel where
// msgpack writes it (the type itself, exported fields, array elements)
// is refused: == compares it by address, so that the key made here and
// the copy a peer decodes would be two keys with the same bytes. One in
// an interface is written, and held, as what it points to. A type that
// hides one in an unexported field and encodes itself (netip.Addr, say)
// is taken if its copy decodes as itself.
//
// Strings, integers and booleans cost a type switch; float64 a
// comparison; time.Time a conversion; other types a comparison and, for
// a type that can hold a float, a walk of the value by reflection; a type
// that holds interfaces an encoding and a decoding (two, if it hides a
// pointer in an unexported field).
func CanonicalKey[K comparable](k K) (K, error) {
	var zero K
	switch p := any(&k).(type) {
	case *string, *bool, *int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64:
		return k, nil
	case *float64:
		if math.IsNaN(*p) {
			return zero, fmt.Errorf("%w: NaN", ErrKey)
		}
		if *p == 0 {
			*p = 0
		}
		return k, nil
	case *time.Time:
		*p = canonicalTime(*p)
		return k, nil
	}
	return canonicalOther(k)
}

// canonicalOther is CanonicalKey for the types of no fast path; apart,
// so that only these move k to the heap for reflection.
func canonicalOther[K comparable](k K) (K, error) {
	var zero K
	t := reflect.TypeFor[K]()
	f := keyFormOf(t)
	if f.refused != "" {
		return zero, fmt.Errorf("%w: %s", ErrKey, f.refused)
	}
	if err := selfEqual(k); err != nil {
		return zero, err
	}
	if f.wire {
		c, err := throughWire(k)
		if err != nil {
			return zero, err
		}
		if err := selfEqual(c); err != nil {
			return zero, err
		}
		if f.verify {
			again, err := throughWire(c)
			if err != nil {
				return zero, err
			}
			if same := func(a, b K) bool { return a == b }; !same(c, again) {
				return zero, fmt.Errorf("%w: %v does not decode as itself", ErrKey, k)
			}
		}
		k = c
	}
	if mayHoldFloat(t) {
		zeroFloats(reflect.ValueOf(&k).Elem())
	}
	return k, nil
}

// canonicalTime returns t as msgpack's decoder gives it back: an instant
// in time.Local, without a monotonic reading, or the zero Time in UTC.
// (TestCanonicalKeyTime holds it to the decoder.)
func canonicalTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.Unix(t.Unix(), int64(t.Nanosecond()))
}

// throughWire returns k as a decoder gives it back: a value held in an
// interface decodes as the type its msgpack form names, not as the type
// it was made with (an int 1 comes back as an int8, a struct as a map),
// so a key holding interfaces is held in that form by the replica that
// made it too, or it would differ from the same key at every other
// replica. Integers are written in their shortest form first, so that one
// number is one key whatever its Go type. A value msgpack cannot encode
// (a channel in an interface, say) is returned as it is, for the caller's
// own check to report: no writer sends what it cannot encode.
func throughWire[K any](k K) (K, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(k); err != nil {
		return k, nil
	}
	var c K
	if err := unmarshalSafely(buf.Bytes(), &c); err != nil {
		return k, fmt.Errorf("%w: %v does not decode as itself: %v", ErrKey, k, err)
	}
	return c, nil
}

// keyForm is how CanonicalKey holds keys of one type.
type keyForm struct {
	// wire: sent through the wire (see throughWire).
	wire bool
	// verify: the wire copy is checked to decode as itself, since the
	// type holds pointers or channels where msgpack leaves them to the
	// type's own encoding (unexported fields).
	verify bool
	// refused, if not empty, says why no key of the type can be
	// canonical.
	refused string
}

// keyForms caches keyFormOf by type.
var keyForms sync.Map // reflect.Type → keyForm

var timeType = reflect.TypeFor[time.Time]()

// keyFormOf returns how keys of type t are held.
//
// A pointer, an unsafe pointer or a channel where msgpack encodes it (t
// itself, exported struct fields, array elements) refuses the type: ==
// compares it by address, while a peer decodes a copy that points
// elsewhere, so that one key made here and received from a peer would be
// two keys with the same bytes. (One in an interface is sent through the
// wire, and held as what it points to decodes.)
//
// An interface, or a struct with an unexported field, sends t through the
// wire: msgpack writes an interface's value in a form that decodes as
// another type, and leaves unexported fields out. A time.Time is one of
// those (its fields are unexported), and is held as its decoder gives it
// back, dropping its monotonic reading and its Location. A pointer or a
// channel in an unexported field of a type other than time.Time is left
// to the type's own encoding, if it has one: its wire copy is checked to
// decode as itself.
func keyFormOf(t reflect.Type) keyForm {
	if v, ok := keyForms.Load(t); ok {
		return v.(keyForm)
	}
	var f keyForm
	type place struct {
		t      reflect.Type
		hidden bool
	}
	var walk func(t reflect.Type, hidden bool, seen map[place]bool)
	walk = func(t reflect.Type, hidden bool, seen map[place]bool) {
		if seen[place{t, hidden}] {
			return
		}
		seen[place{t, hidden}] = true
		if t == timeType {
			f.wire = true
			return
		}
		switch t.Kind() {
		case reflect.Interface:
			f.wire = true
		case reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
			if hidden {
				f.verify = true
			} else if f.refused == "" {
				f.refused = fmt.Sprintf("%v holds a %v, which compares by address", t, t.Kind())
			}
		case reflect.Array:
			walk(t.Elem(), hidden, seen)
		case reflect.Struct:
			for i := range t.NumField() {
				fl := t.Field(i)
				if !fl.IsExported() {
					f.wire = true // left out by msgpack
				}
				walk(fl.Type, hidden || !fl.IsExported(), seen)
			}
		}
	}
	walk(t, false, map[place]bool{})
	keyForms.Store(t, f)
	return f
}

// throughWireType reports whether keys of type t are sent through the
// wire by CanonicalKey (see keyFormOf).
func throughWireType(t reflect.Type) bool {
	f := keyFormOf(t)
	return f.wire && f.refused == ""
}

// selfEqual reports why k is not equal to itself, or nil.
func selfEqual[K comparable](k K) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrKey, p)
		}
	}()
	if same := func(a, b K) bool { return a == b }; !same(k, k) {
		return fmt.Errorf("%w: %v holds a NaN", ErrKey, k)
	}
	return nil
}

// holdsFloat caches mayHoldFloat by type.
var holdsFloat sync.Map // reflect.Type → bool

// mayHoldFloat reports whether a value of type t can hold a float or a
// complex number where zeroFloats reaches it.
func mayHoldFloat(t reflect.Type) bool {
	if v, ok := holdsFloat.Load(t); ok {
		return v.(bool)
	}
	r := mayHoldFloatOf(t, map[reflect.Type]bool{})
	holdsFloat.Store(t, r)
	return r
}

func mayHoldFloatOf(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.Interface:
		return true
	case reflect.Array:
		return mayHoldFloatOf(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayHoldFloatOf(f.Type, seen) {
				return true
			}
		}
	}
	return false
}

// zeroFloats makes every floating-point zero v holds +0, where v can be
// set: v itself, the exported fields of a struct, the elements of an
// array, the value an interface holds (replaced by a canonical copy).
// What pointers point to is left alone: it is not the caller's to change.
func zeroFloats(v reflect.Value) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 && v.CanSet() {
			v.SetFloat(0)
		}
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		re, im := real(c), imag(c)
		if (re == 0 || im == 0) && v.CanSet() {
			if re == 0 {
				re = 0
			}
			if im == 0 {
				im = 0
			}
			v.SetComplex(complex(re, im))
		}
	case reflect.Array:
		if mayHoldFloat(v.Type().Elem()) {
			for i := range v.Len() {
				zeroFloats(v.Index(i))
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				zeroFloats(v.Field(i))
			}
		}
	case reflect.Interface:
		if v.IsNil() || !v.CanSet() {
			return
		}
		e := v.Elem()
		if !mayHoldFloat(e.Type()) {
			return
		}
		c := reflect.New(e.Type()).Elem()
		c.Set(e)
		zeroFloats(c)
		v.Set(c)
	}
}

// WireForm returns v as a peer decodes it, if its type holds interfaces
// or structs with unexported fields (and no pointers): a number in an
// interface as the smallest integer type of its value, an unexported
// field zero (see [CanonicalKey]); any other v as it is. It is for the
// keys of types that key by an encoding of their own, so that a value
// made here and the same value decoded from a peer encode alike. An
// error means v does not decode as a value of its type.
func WireForm[T any](v T) (T, error) {
	if !throughWireType(reflect.TypeFor[T]()) {
		return v, nil
	}
	return throughWire(v)
}

// LookupKey returns k in the form to look it up by among keys made
// canonical by [CanonicalKey], and false if no such key can exist (k
// holds a NaN, is not comparable, or its type holds a pointer). Only a
// key holding interfaces or unexported fields (a time.Time among them)
// changes (see CanonicalKey): a map can look up any other as it is, since
// −0 and +0 are equal to ==. Strings, integers, booleans and float64 cost
// a type switch.
func LookupKey[K comparable](k K) (K, bool) {
	switch p := any(&k).(type) {
	case *string, *bool, *int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64, *float64:
		return k, true
	case *time.Time:
		*p = canonicalTime(*p)
		return k, true
	}
	return lookupOther(k)
}

// lookupOther is LookupKey for the types of no fast path.
func lookupOther[K comparable](k K) (K, bool) {
	f := keyFormOf(reflect.TypeFor[K]())
	if f.refused != "" {
		return k, false
	}
	if !f.wire {
		return k, true
	}
	c, err := CanonicalKey(k)
	return c, err == nil
}
