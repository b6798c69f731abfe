package register

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/vclock"
)

// The cost bounds FuzzMVDecodeCost holds every input to.
//
// Allocation: at most 64 bytes per byte of input, plus 256 KB. The
// largest honest cost per byte is the context (a 48-byte entry for each
// replica, which takes 3 bytes or more, doubled while the slice grows)
// and a stored value with its dot (a table slot of a 24-byte key and a
// 16-byte value and word, for at least 5 bytes of input); merging adds
// the receiver's own growth. 64 leaves room for these and fails a decoder
// that allocates for counts the input does not bear out (as it did for
// drop records, 56 times the input) or quadratically. The constant covers
// what every decode allocates once.
//
// Time: no input of up to 64 KB may take more than 50 ms, a hundred times
// what the linear decoders need: it only catches quadratic work.
const (
	mvAllocPerByte = 64
	mvAllocFixed   = 256 << 10
	mvMaxTimed     = 64 << 10
	mvMaxTime      = 50 * time.Millisecond
)

func checkMVCost(t *testing.T, what string, n int, f func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if b := after.TotalAlloc - before.TotalAlloc; b > mvAllocPerByte*uint64(n)+mvAllocFixed {
		t.Fatalf("%s of %d bytes allocated %d bytes, over %d per byte", what, n, b, mvAllocPerByte)
	}
	if n <= mvMaxTimed && took > mvMaxTime*timeFactor {
		t.Fatalf("%s of %d bytes took %v", what, n, took)
	}
}

// FuzzMVDecodeCost holds every decoding method of an MV, on any input, to
// the allocation and time bounds above.
func FuzzMVDecodeCost(f *testing.F) {
	siblings := NewMV[string]("s")
	for i := range 2000 {
		if err := siblings.Apply(MVOp[string]{dot: vclock.Dot{Replica: vclock.ReplicaID(fmt.Sprint("w", i)), Seq: 1}, v: "v"}); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(mustMarshal(f, siblings))
	f.Add(mustMarshal(f, MVOp[string]{dot: vclock.Dot{Replica: "a", Seq: 9}, v: "x", replaced: siblings.dots()}))
	a := NewMV[string]("a")
	f.Add(mustMarshal(f, a.Set("1")))
	f.Add(mustMarshal(f, a))
	f.Add(mustMarshal(f, a.Version()))
	f.Fuzz(func(t *testing.T, data []byte) {
		var m MV[string]
		checkMVCost(t, "UnmarshalBinary", len(data), func() { _ = m.UnmarshalBinary(data) })
		r := NewMV[string]("r")
		r.Set("mine")
		checkMVCost(t, "MergeBinary", len(data), func() { _, _ = r.MergeBinary(data) })
		checkMVCost(t, "ApplyBinary", len(data), func() { _, _ = r.ApplyBinary(data) })
		checkMVCost(t, "ApplyBinaryFrom", len(data), func() { _, _ = r.ApplyBinaryFrom(data, "a") })
		checkMVCost(t, "DeltaSinceBinary", len(data), func() { _, _ = r.DeltaSinceBinary(data) })
	})
}
