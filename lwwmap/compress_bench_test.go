package lwwmap

import (
	"bytes"
	"compress/flate"
	"fmt"
	"maps"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
)

// BenchmarkCompressScale encodes the state of maps of 10k, 100k and 1M
// keys written by one replica and compresses it (codec.Compressor), then
// decodes the compressed state (and, beside it, the plain one); beside
// them, the floor: msgpack of the bare keys and values as a Go map, then
// DEFLATE at the same level. It reports the time and CPU time per element
// and the compressed bytes per element.
func BenchmarkCompressScale(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		keys, vals := benchData(n)
		m := New[string, string]("us-east-1", clock.New())
		for i := range keys {
			m.Put(keys[i], vals[i])
		}
		bare := maps.Collect(m.All())
		var c codec.Compressor
		b.Run(fmt.Sprintf("encode/%d", n), func(b *testing.B) {
			var out []byte
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				plain, err := m.MarshalBinary()
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
		plain, err := m.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		z, _ := c.Compress(plain)
		for _, form := range []struct {
			name string
			data []byte
		}{{"decode", z}, {"decode-plain", plain}} {
			b.Run(fmt.Sprintf("%s/%d", form.name, n), func(b *testing.B) {
				b.ReportAllocs()
				cpu := startCPU()
				for b.Loop() {
					var t Map[string, string]
					if err := t.UnmarshalBinary(form.data); err != nil {
						b.Fatal(err)
					}
				}
				perElement(b, cpu, n)
			})
		}
		b.Run(fmt.Sprintf("floor-msgpack-deflate/%d", n), func(b *testing.B) {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
			b.ReportAllocs()
			cpu := startCPU()
			for b.Loop() {
				data, err := msgpack.Marshal(bare)
				if err != nil {
					b.Fatal(err)
				}
				buf.Reset()
				fw.Reset(&buf)
				_, _ = fw.Write(data)
				_ = fw.Close()
			}
			perElement(b, cpu, n)
			b.ReportMetric(float64(buf.Len())/float64(n), "B/elem")
		})
	}
}
