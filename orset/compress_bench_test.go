package orset

import (
	"bytes"
	"compress/flate"
	"fmt"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/codec"
)

// BenchmarkCompressScale encodes the state of sets of 10k, 100k and 1M
// elements added by one replica and compresses it (codec.Compressor),
// then decodes the compressed state; beside them, the floor: DEFLATE at
// the same level of msgpack of the bare keys. It reports the time and CPU
// time per element and the compressed bytes per element.
func BenchmarkCompressScale(b *testing.B) {
	for _, n := range scales {
		keys := keysN(n)
		s := New[string]("us-east-1")
		for _, k := range keys {
			s.Add(k)
		}
		var c codec.Compressor
		b.Run(fmt.Sprintf("encode/%d", n), func(b *testing.B) {
			var out []byte
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				plain, err := s.MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				var ok bool
				if out, ok = c.Compress(plain); !ok {
					b.Fatal("not compressed")
				}
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(len(out))/float64(n), "B/elem")
			b.ReportMetric(float64(len(out)), "B/state")
		})
		plain, err := s.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		z, _ := c.Compress(plain)
		b.Run(fmt.Sprintf("decode/%d", n), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				var t Set[string]
				if err := t.UnmarshalBinary(z); err != nil {
					b.Fatal(err)
				}
			}
			perElement(b, cpu, n)
		})
		b.Run(fmt.Sprintf("floor-msgpack-deflate/%d", n), func(b *testing.B) {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.DefaultCompression)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				bare, err := msgpack.Marshal(keys)
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				fw.Reset(&buf)
				_, _ = fw.Write(bare)
				_ = fw.Close()
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(buf.Len())/float64(n), "B/elem")
		})
	}
}
