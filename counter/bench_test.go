package counter

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

var benchIDs = []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1"}

// threeG returns a G counting for us-east-1 with all three replicas present.
func threeG() *G {
	g := NewG("us-east-1")
	for i, id := range benchIDs {
		g.Apply(GOp{Replica: id, Count: uint64(i + 1)})
	}
	return g
}

func threePN() *PN {
	c := NewPN("us-east-1")
	for i, id := range benchIDs {
		c.Apply(PNOp{Replica: id, P: uint64(i + 1), N: 1})
	}
	return c
}

func BenchmarkGInc(b *testing.B) {
	g := threeG()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Inc(1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNAdd(b *testing.B) {
	c := threePN()
	b.ReportAllocs()
	d := int64(1)
	for b.Loop() {
		if _, err := c.Add(d); err != nil {
			b.Fatal(err)
		}
		d = -d
	}
}

// Floors: the same increment on a plain Go map, and on a vclock.Clock
// (Get then Set), the representation a G could have used.
func BenchmarkFloorMapInc(b *testing.B) {
	m := map[crdt.ReplicaID]uint64{}
	for i, id := range benchIDs {
		m[id] = uint64(i + 1)
	}
	b.ReportAllocs()
	for b.Loop() {
		m["us-east-1"]++
	}
}

func BenchmarkFloorVclockInc(b *testing.B) {
	var c vclock.Clock
	for i, id := range benchIDs {
		c.Set(id, uint64(i+1))
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Set("us-east-1", c.Get("us-east-1")+1)
	}
}

// The merges raise every entry each time: the source's totals are bumped
// in place before each merge (a few ns of the figure).
func BenchmarkGMerge3(b *testing.B) {
	g, o := threeG(), threeG()
	b.ReportAllocs()
	for b.Loop() {
		for k := range o.e {
			o.e[k].n++
		}
		g.Merge(o)
	}
	if !g.Equal(o) {
		b.Fatal("merge did not raise the entries")
	}
}

func BenchmarkPNMerge3(b *testing.B) {
	c, o := threePN(), threePN()
	b.ReportAllocs()
	for b.Loop() {
		for k := range o.e {
			o.e[k].p++
			o.e[k].n++
		}
		c.Merge(o)
	}
	if !c.Equal(o) {
		b.Fatal("merge did not raise the entries")
	}
}

// Floor: vclock.Clock's own merge of three entries.
func BenchmarkFloorVclockMerge3(b *testing.B) {
	var c, o vclock.Clock
	for i, id := range benchIDs {
		c.Set(id, uint64(i+1))
		o.Set(id, uint64(i+1))
	}
	b.ReportAllocs()
	n := uint64(10)
	for b.Loop() {
		o.Set("us-east-1", n)
		n++
		c.Merge(o)
	}
}

func BenchmarkGApply(b *testing.B) {
	g := threeG()
	op := GOp{Replica: "eu-west-1", Count: 10}
	b.ReportAllocs()
	for b.Loop() {
		op.Count++
		if err := g.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNApply(b *testing.B) {
	c := threePN()
	op := PNOp{Replica: "eu-west-1", P: 10, N: 10}
	b.ReportAllocs()
	for b.Loop() {
		op.P++
		if err := c.Apply(op); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGApplyBinary(b *testing.B) {
	g := threeG()
	data, err := GOp{Replica: "eu-west-1", Count: 1000}.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.ApplyBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNApplyBinary(b *testing.B) {
	c := threePN()
	data, err := PNOp{Replica: "eu-west-1", P: 1000, N: 20}.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.ApplyBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

// Encoding benchmarks report the encoded size. Totals are of a realistic
// magnitude (a few million), replica IDs are AWS region names.
func realisticG() *G {
	g := NewG("us-east-1")
	for i, id := range benchIDs {
		g.Apply(GOp{Replica: id, Count: uint64(3_000_000 + i)})
	}
	return g
}

func realisticPN() *PN {
	c := NewPN("us-east-1")
	for i, id := range benchIDs {
		c.Apply(PNOp{Replica: id, P: uint64(3_000_000 + i), N: uint64(40_000 + i)})
	}
	return c
}

func BenchmarkGMarshal3(b *testing.B) {
	g := realisticG()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		data, err := g.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "bytes/state")
}

func BenchmarkPNMarshal3(b *testing.B) {
	c := realisticPN()
	var n int
	b.ReportAllocs()
	for b.Loop() {
		data, err := c.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "bytes/state")
}

func BenchmarkGMergeBinary3(b *testing.B) {
	g := realisticG()
	data, _ := realisticG().MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.MergeBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPNMergeBinary3(b *testing.B) {
	c := realisticPN()
	data, _ := realisticPN().MarshalBinary()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.MergeBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGOpMarshal(b *testing.B) {
	op := GOp{Replica: "us-east-1", Count: 3_000_000}
	var n int
	b.ReportAllocs()
	for b.Loop() {
		data, err := op.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "bytes/op")
}

func BenchmarkPNOpMarshal(b *testing.B) {
	op := PNOp{Replica: "us-east-1", P: 3_000_000, N: 40_000}
	var n int
	b.ReportAllocs()
	for b.Loop() {
		data, err := op.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		n = len(data)
	}
	b.ReportMetric(float64(n), "bytes/op")
}

func BenchmarkGDeltaSince3(b *testing.B) {
	g := realisticG()
	v := g.Version()
	v.Set("us-east-1", 1) // the peer lacks one replica's news
	b.ReportAllocs()
	for b.Loop() {
		if d := g.DeltaSince(v); len(d.e) != 1 {
			b.Fatal(len(d.e))
		}
	}
}
