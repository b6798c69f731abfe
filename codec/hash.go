package codec

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/vmihailenco/msgpack/v5"
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
	return HashBytes(h, b), nil
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
