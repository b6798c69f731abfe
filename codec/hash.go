package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Content fingerprints.
//
// Data types keep an order-independent fingerprint of their content: the
// wrapping sum of a 64-bit hash per live entry, updated as entries come and
// go. The hashes must be the same in every process and on every machine,
// so they are built from the functions below, which have no seed: a
// multiply-xor hash in the manner of FNV-1a (64 bits) over bytes and
// strings, eight bytes at a time (read little-endian whatever the machine),
// and the SplitMix64 finaliser to fold in integers and to spread the bits
// of the result.

// HashSeed is the starting value of a hash built with [HashString],
// [HashBytes] and [HashUint]: the FNV-1a 64-bit offset basis.
const HashSeed uint64 = 14695981039346656037

const fnvPrime = 1099511628211

// HashString folds the bytes of s into h, then its length, so that ("ab",
// "c") and ("a", "bc") hash differently.
func HashString(h uint64, s string) uint64 {
	n := len(s)
	for ; len(s) >= 8; s = s[8:] {
		h = (h ^ binary.LittleEndian.Uint64([]byte(s[:8]))) * fnvPrime
		h ^= h >> 29
	}
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return HashUint(h, uint64(n))
}

// HashBytes is [HashString] for a byte slice: the same bytes give the same
// hash.
func HashBytes(h uint64, b []byte) uint64 {
	n := len(b)
	for ; len(b) >= 8; b = b[8:] {
		h = (h ^ binary.LittleEndian.Uint64(b)) * fnvPrime
		h ^= h >> 29
	}
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return HashUint(h, uint64(n))
}

// HashUint folds u into h. The result depends on the order in which values
// are folded in.
func HashUint(h, u uint64) uint64 {
	// (u+c)·k is a bijection of u (k is odd) that spreads its low bits
	// upwards; Mix then spreads every bit.
	return Mix(h ^ (u+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9)
}

// Mix is the SplitMix64 finaliser: a bijection of uint64 whose every output
// bit depends on every input bit.
func Mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// HashValue folds v into h as [PutValue] would write it: the types PutValue
// writes itself by their value, any other type by its msgpack encoding.
// The error, for a value msgpack cannot encode, is that of [CheckValue].
func HashValue[T any](h uint64, v T) (uint64, error) {
	switch p := any(&v).(type) {
	case *string:
		return HashString(h, *p), nil
	case *[]byte:
		return HashBytes(h, *p), nil
	case *bool:
		if *p {
			return HashUint(h, 1), nil
		}
		return HashUint(h, 0), nil
	case *int:
		return HashUint(h, uint64(*p)), nil
	case *int8:
		return HashUint(h, uint64(*p)), nil
	case *int16:
		return HashUint(h, uint64(*p)), nil
	case *int32:
		return HashUint(h, uint64(*p)), nil
	case *int64:
		return HashUint(h, uint64(*p)), nil
	case *uint:
		return HashUint(h, uint64(*p)), nil
	case *uint8:
		return HashUint(h, uint64(*p)), nil
	case *uint16:
		return HashUint(h, uint64(*p)), nil
	case *uint32:
		return HashUint(h, uint64(*p)), nil
	case *uint64:
		return HashUint(h, *p), nil
	case *float64:
		return HashUint(h, math.Float64bits(*p)), nil
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return h, fmt.Errorf("value of type %T: %w", v, err)
	}
	// msgpack writes a Go map's entries in the order of a range over it,
	// which differs from run to run: a value of a type that can hold a
	// map is hashed with the entries of its maps (and of its structs,
	// which msgpack writes as maps too) in any order. Any other is hashed
	// by its bytes, as it always was.
	if mayHoldMap(reflect.TypeFor[T]()) {
		if c, ok := hashCanonical(h, b); ok {
			return c, nil
		}
	}
	return HashBytes(h, b), nil
}

// holdsMap caches mayHoldMap by type.
var holdsMap sync.Map // reflect.Type → bool

// mayHoldMap reports whether a value of type t can hold a Go map: t is
// one, or holds one in a field or an element, or is or holds an
// interface, which may.
func mayHoldMap(t reflect.Type) bool {
	if v, ok := holdsMap.Load(t); ok {
		return v.(bool)
	}
	r := mayHoldMapOf(t, map[reflect.Type]bool{})
	holdsMap.Store(t, r)
	return r
}

func mayHoldMapOf(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other parts decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Map, reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldMapOf(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if mayHoldMapOf(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// Tags folded into a canonical hash before a map's and an array's
// entries, so that neither hashes as the other or as a scalar.
const (
	tagMap   = 0x6d6170
	tagArray = 0x617272
)

// hashCanonical hashes the msgpack value b, seeded by h, with the entries
// of every map in it summed (a wrapping sum of a hash of each key and its
// value), so that their order does not count; arrays in order; anything
// else by its bytes. It reports false, with no hash, if b holds no map
// (or is not one whole value): then its bytes are its canonical form.
func hashCanonical(h uint64, b []byte) (uint64, bool) {
	d := msgpack.NewDecoder(bytes.NewReader(b))
	sum, hasMap, err := hashNext(h, d)
	if err != nil || !hasMap {
		return 0, false
	}
	if _, err := d.PeekCode(); err == nil {
		return 0, false // more than one value
	}
	return sum, true
}

// hashNext hashes the value d is at, as hashCanonical does, and reports
// whether it held a map.
func hashNext(h uint64, d *msgpack.Decoder) (uint64, bool, error) {
	c, err := d.PeekCode()
	if err != nil {
		return 0, false, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return 0, false, err
		}
		var sum uint64
		for range n {
			k, _, err := hashNext(HashSeed, d)
			if err != nil {
				return 0, false, err
			}
			kv, _, err := hashNext(k, d)
			if err != nil {
				return 0, false, err
			}
			sum += Mix(kv)
		}
		return HashUint(HashUint(HashUint(h, tagMap), uint64(n)), sum), true, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return 0, false, err
		}
		h = HashUint(HashUint(h, tagArray), uint64(n))
		hasMap := false
		for range n {
			var m bool
			if h, m, err = hashNext(h, d); err != nil {
				return 0, false, err
			}
			hasMap = hasMap || m
		}
		return h, hasMap, nil
	}
	raw, err := d.DecodeRaw()
	if err != nil {
		return 0, false, err
	}
	return HashBytes(h, raw), false, nil
}

// CheckValue reports whether [PutValue] can encode v: nil for every value
// of the types PutValue writes itself, else the error msgpack gives for v.
// A mutator calls it before changing anything, so that a value the wire
// format cannot carry never enters a data type's state.
func CheckValue[T any](v T) error {
	switch any(&v).(type) {
	case *string, *[]byte, *bool, *int, *int8, *int16, *int32, *int64,
		*uint, *uint8, *uint16, *uint32, *uint64, *float64:
		return nil
	}
	if _, err := msgpack.Marshal(v); err != nil {
		return fmt.Errorf("value of type %T: %w", v, err)
	}
	return nil
}

// HeldValue is [CheckValue] that also returns v in the form a data type
// holds it in: the form a peer decodes it in. msgpack writes a value held
// in an interface in a form that decodes as another type (an int 5, written
// in one byte, comes back as an int8, which writes itself in two; a struct
// comes back as a map), so a replica that held what it wrote would hash it
// differently from every peer holding the decoded copy: their content
// fingerprints (see [HashValue]) would differ for one write, a divergence
// counted at every exchange of digests, for good. A value whose type can
// hold an interface (an any, a struct with an any field, a slice or a map
// of them) is therefore sent through the encoding and back, at the cost
// of an encoding and a decoding; any other is returned as it is, and a
// value of the types PutValue writes itself costs a type switch. The error,
// for a value msgpack cannot encode or that does not decode as a value of
// its type, leaves v as it is.
func HeldValue[T any](v T) (T, error) {
	switch any(&v).(type) {
	case *string, *[]byte, *bool, *int, *int8, *int16, *int32, *int64,
		*uint, *uint8, *uint16, *uint32, *uint64, *float64:
		return v, nil
	}
	b, err := msgpack.Marshal(v)
	if err != nil {
		return v, fmt.Errorf("value of type %T: %w", v, err)
	}
	if !mayHoldInterface(reflect.TypeFor[T]()) {
		return v, nil
	}
	var c T
	if err := unmarshalSafely(b, &c); err != nil {
		return v, fmt.Errorf("value of type %T does not decode as itself: %w", v, err)
	}
	return c, nil
}

// holdsInterface caches mayHoldInterface by type.
var holdsInterface sync.Map // reflect.Type → bool

// mayHoldInterface reports whether a value of type t can hold an
// interface where msgpack writes it: t is one, or holds one in an
// exported field, an element, a map's key or value, or what a pointer
// points to.
func mayHoldInterface(t reflect.Type) bool {
	if v, ok := holdsInterface.Load(t); ok {
		return v.(bool)
	}
	r := mayHoldInterfaceOf(t, map[reflect.Type]bool{})
	holdsInterface.Store(t, r)
	return r
}

func mayHoldInterfaceOf(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other parts decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Interface:
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return mayHoldInterfaceOf(t.Elem(), seen)
	case reflect.Map:
		return mayHoldInterfaceOf(t.Key(), seen) || mayHoldInterfaceOf(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayHoldInterfaceOf(f.Type, seen) {
				return true
			}
		}
	}
	return false
}
