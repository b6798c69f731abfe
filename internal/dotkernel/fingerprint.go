package dotkernel

import (
	"encoding/binary"
	"math"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// The fingerprint of a kernel is the wrapping sum, over every dot of the
// store, of a 64-bit hash of the dot and the key it supports. A sum does
// not depend on the order dots arrived in, and a dot leaving the store
// subtracts what it added, so the kernel keeps it up to date in constant
// work per dot. It covers the store only: the context, the ghosts, the
// drop records and the indexes are left out (two Equal kernels have the
// same store, and records are collected at different times on different
// replicas). Values are left out too: a value is fixed by its key and dot
// (see the package documentation).
//
// The hashes are FNV-1a over fixed encodings, finished with a fixed
// mixer: the same on every machine and in every process.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvUint(h, u uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], u)
	return fnvBytes(h, b[:])
}

// mix is the finalizer of SplitMix64: it spreads every input bit over the
// whole word, so that sums of hashes do not cancel by accident.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func hashDot(d vclock.Dot) uint64 {
	h := fnvString(fnvOffset, string(d.Replica))
	h ^= 0xff // ends the replica: "a"+"b1" and "ab"+"1" differ
	h *= fnvPrime
	return fnvUint(h, d.Seq)
}

// hashKey hashes a key: directly for the types codec.PutValue writes
// itself and for dots, through its encoding for any other type.
func hashKey[K comparable](key K) uint64 {
	switch x := any(key).(type) {
	case string:
		return fnvString(fnvOffset, x)
	case vclock.Dot:
		return hashDot(x)
	case bool:
		if x {
			return fnvUint(fnvOffset, 1)
		}
		return fnvUint(fnvOffset, 0)
	case int:
		return fnvUint(fnvOffset, uint64(x))
	case int8:
		return fnvUint(fnvOffset, uint64(x))
	case int16:
		return fnvUint(fnvOffset, uint64(x))
	case int32:
		return fnvUint(fnvOffset, uint64(x))
	case int64:
		return fnvUint(fnvOffset, uint64(x))
	case uint:
		return fnvUint(fnvOffset, uint64(x))
	case uint8:
		return fnvUint(fnvOffset, uint64(x))
	case uint16:
		return fnvUint(fnvOffset, uint64(x))
	case uint32:
		return fnvUint(fnvOffset, uint64(x))
	case uint64:
		return fnvUint(fnvOffset, x)
	case float64:
		return fnvUint(fnvOffset, math.Float64bits(x))
	}
	w := codec.NewWriter(codec.KindUser, 16)
	codec.PutValue(w, key)
	b, _ := w.Bytes() // a key that cannot be encoded hashes as nothing
	return fnvBytes(fnvOffset, b)
}

// dotHash is what the dot d supporting key adds to the fingerprint.
func dotHash[K comparable](key K, d vclock.Dot) uint64 {
	return mix(hashKey(key) ^ mix(hashDot(d)))
}

// fpAdd counts the dot d of key into the fingerprint.
func (k *Kernel[K, V]) fpAdd(key K, d vclock.Dot) { k.fp += dotHash(key, d) }

// fpSub takes the dot d of key out of the fingerprint.
func (k *Kernel[K, V]) fpSub(key K, d vclock.Dot) { k.fp -= dotHash(key, d) }

// Fingerprint returns the kernel's fingerprint: an order-independent hash
// of its store, the keys with the dots that support them. Kernels whose
// stores are equal have the same fingerprint whatever order mutations and
// joins arrived in; stores that differ almost surely have different ones.
// It is kept up to date by every change, and costs nothing to read.
func (k *Kernel[K, V]) Fingerprint() uint64 { return k.fp }

// ScanFingerprint computes the fingerprint from the store, for tests
// that check the one kept up to date.
func (k *Kernel[K, V]) ScanFingerprint() uint64 {
	var fp uint64
	for key, e := range k.m.all {
		if e.single() {
			fp += dotHash(key, k.first(e))
			continue
		}
		for _, d := range k.more[key] {
			fp += dotHash(key, d)
		}
	}
	return fp
}
