package crdt

import (
	"fmt"
	"testing"
)

// BenchmarkSeal measures the checksum every message, snapshot and journal
// record pays (with a copy of the body, as a frame is built), next to
// encoding a message carrying an op of the same size.
func BenchmarkSeal(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10, 1 << 20} {
		body := make([]byte, size)
		b.Run(fmt.Sprintf("crc/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			buf := make([]byte, 0, size+crcSize)
			for b.Loop() {
				buf = seal(append(buf[:0], body...))
			}
			if len(buf) != size+crcSize {
				b.Fatalf("sealed %d bytes into %d", size, len(buf))
			}
		})
		env := &envelope{From: "us-east-1", To: "eu-west-1", Incarnation: 1, FirstSeq: 1,
			Ops: []opEntry{{Object: "todos", Op: body}}}
		b.Run(fmt.Sprintf("encode/%dB", size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := env.encode(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
