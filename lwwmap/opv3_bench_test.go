package lwwmap

import (
	"fmt"
	"testing"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// opBenchOps returns 1,000 typical ops: puts of a writer of a live
// system, sequence numbers in the thousands, logical parts, whole
// milliseconds and not, every fifth one over another writer's (a base).
func opBenchOps() []Op[string, string] {
	ops := make([]Op[string, string], 1000)
	for i := range ops {
		op := Op[string, string]{
			dot: vclock.Dot{Replica: "us-east-1@2", Seq: uint64(4000 + i)},
			ts:  clock.Timestamp{Wall: start + int64(i)*1e6, Logical: uint32(i % 4)},
			key: fmt.Sprintf("user:%06d", i), value: "some value",
		}
		if i%3 == 0 {
			op.ts.Wall += 777
		}
		if i%5 == 0 {
			op.base = clock.Timestamp{Wall: op.ts.Wall - 3e6, Logical: 1}
		}
		ops[i] = op
	}
	return ops
}

// BenchmarkOpCodec encodes and decodes 1,000 typical ops in the layouts
// of versions 2 and 3; it reports the bytes per op.
func BenchmarkOpCodec(b *testing.B) {
	ops := opBenchOps()
	for _, c := range []struct {
		name string
		enc  func(Op[string, string]) ([]byte, error)
	}{{"v2", Op[string, string].marshalV2}, {"v3", Op[string, string].MarshalBinary}} {
		enc := make([][]byte, len(ops))
		size := 0
		for i, op := range ops {
			enc[i], _ = c.enc(op)
			size += len(enc[i])
		}
		b.Run(c.name+"/encode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, op := range ops {
					if _, err := c.enc(op); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(size)/float64(len(ops)), "B/op-encoded")
		})
		b.Run(c.name+"/decode", func(b *testing.B) {
			b.ReportAllocs()
			var op Op[string, string]
			for b.Loop() {
				for i, data := range enc {
					if err := op.UnmarshalBinary(data); err != nil || op != ops[i] {
						b.Fatalf("%v: %+v", err, op)
					}
				}
			}
		})
	}
}
