package codec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrKey means a value cannot be a key or an element of a replicated
// type: it holds a floating-point NaN, which is not equal to itself, so
// that a Go map can neither find nor replace an entry keyed by it, and
// every write of it would make another entry; or it is not comparable at
// all (an interface holding a slice, say).
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
// does not write it. Every replica then holds such a key in one form,
// whoever made it.
//
// Strings, integers and booleans cost a type switch; float64 a
// comparison; other types a comparison and, for a type that can hold a
// float, a walk of the value by reflection; a type that holds interfaces
// an encoding and a decoding.
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
	}
	return canonicalOther(k)
}

// canonicalOther is CanonicalKey for the types of no fast path; apart,
// so that only these move k to the heap for reflection.
func canonicalOther[K comparable](k K) (K, error) {
	var zero K
	if err := selfEqual(k); err != nil {
		return zero, err
	}
	t := reflect.TypeFor[K]()
	if throughWireType(t) {
		c, err := throughWire(k)
		if err != nil {
			return zero, err
		}
		if err := selfEqual(c); err != nil {
			return zero, err
		}
		k = c
	}
	if mayHoldFloat(t) {
		zeroFloats(reflect.ValueOf(&k).Elem())
	}
	return k, nil
}

// throughWire returns k as a decoder gives it back: a value held in an
// interface decodes as the type its msgpack form names, not as the type
// it was made with (an int 1 comes back as an int8, a struct as a map),
// so a key holding interfaces is held in that form by the replica that
// made it too, or it would differ from the same key at every other
// replica. Integers are written in their shortest form first, so that one
// number is one key whatever its Go type. A value msgpack cannot encode
// is returned as it is, for the caller's own check to report.
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

// viaWire caches throughWireType by type.
var viaWire sync.Map // reflect.Type → bool

// throughWireType reports whether keys of type t are sent through the
// wire by CanonicalKey: t holds, where msgpack encodes it (t itself,
// exported struct fields, array elements), an interface or a struct with
// an unexported field (msgpack leaves those out, so two keys that differ
// in one alone decode alike), and no pointer, whose copy through the
// wire would be another key.
func throughWireType(t reflect.Type) bool {
	if v, ok := viaWire.Load(t); ok {
		return v.(bool)
	}
	iface, ptr := false, false
	var walk func(t reflect.Type, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		switch t.Kind() {
		case reflect.Interface:
			iface = true
		case reflect.Pointer, reflect.UnsafePointer, reflect.Chan:
			ptr = true
		case reflect.Array:
			walk(t.Elem(), seen)
		case reflect.Struct:
			for i := range t.NumField() {
				if f := t.Field(i); f.IsExported() {
					walk(f.Type, seen)
				} else {
					iface = true // an unexported field: left out
				}
			}
		}
	}
	walk(t, map[reflect.Type]bool{})
	r := iface && !ptr
	viaWire.Store(t, r)
	return r
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
// holds a NaN, or is not comparable). Only a key holding interfaces or
// unexported fields changes (see CanonicalKey): a map can look up any
// other as it is, since −0 and +0 are equal to ==. Strings, integers, booleans and float64 cost
// a type switch.
func LookupKey[K comparable](k K) (K, bool) {
	switch any(&k).(type) {
	case *string, *bool, *int, *int8, *int16, *int32, *int64, *uint, *uint8, *uint16, *uint32, *uint64, *float64:
		return k, true
	}
	return lookupOther(k)
}

// lookupOther is LookupKey for the types of no fast path.
func lookupOther[K comparable](k K) (K, bool) {
	if !throughWireType(reflect.TypeFor[K]()) {
		return k, true
	}
	c, err := CanonicalKey(k)
	return c, err == nil
}
