package vclock_test

import (
	"testing"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/vclock"
)

var regions = []crdt.ReplicaID{"ap-south-1", "eu-west-1", "us-east-1"}

func threeRegions(base uint64) vclock.Clock {
	var c vclock.Clock
	for i, id := range regions {
		c.Set(id, base+uint64(i)*7)
	}
	return c
}

func BenchmarkClockMerge(b *testing.B) {
	c, o := threeRegions(100), threeRegions(90)
	o.Set("eu-west-1", 500)
	b.ReportAllocs()
	for b.Loop() {
		c.Merge(o)
	}
}

// BenchmarkMapMerge is the floor: the same join over plain maps.
func BenchmarkMapMerge(b *testing.B) {
	c := map[crdt.ReplicaID]uint64{"ap-south-1": 100, "eu-west-1": 107, "us-east-1": 114}
	o := map[crdt.ReplicaID]uint64{"ap-south-1": 90, "eu-west-1": 500, "us-east-1": 104}
	b.ReportAllocs()
	for b.Loop() {
		for id, n := range o {
			if n > c[id] {
				c[id] = n
			}
		}
	}
}

var sinkOrder vclock.Order

func BenchmarkClockCompare(b *testing.B) {
	c, o := threeRegions(100), threeRegions(100)
	o.Set("eu-west-1", 500)
	b.ReportAllocs()
	for b.Loop() {
		sinkOrder = c.Compare(o)
	}
}

func BenchmarkContextAddInOrder(b *testing.B) {
	var c vclock.Context
	d := vclock.Dot{Replica: "us-east-1"}
	b.ReportAllocs()
	for b.Loop() {
		d.Seq++
		c.Add(d)
	}
}

// BenchmarkMapSetInsert is the floor: recording each dot in a plain set.
func BenchmarkMapSetInsert(b *testing.B) {
	m := map[vclock.Dot]struct{}{}
	d := vclock.Dot{Replica: "us-east-1"}
	b.ReportAllocs()
	for b.Loop() {
		d.Seq++
		m[d] = struct{}{}
	}
}

var sinkBool bool

// contextWithGaps holds 100000 events of each region, every tenth one
// missing, so that lookups search the out-of-order runs.
func contextWithGaps() vclock.Context {
	var c vclock.Context
	for _, id := range regions {
		for seq := uint64(1); seq <= 100000; seq++ {
			if seq%10 != 5 {
				c.Add(vclock.Dot{Replica: id, Seq: seq})
			}
		}
	}
	return c
}

func BenchmarkContextContains(b *testing.B) {
	c := contextWithGaps()
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq = seq*7 + 13
		sinkBool = c.Contains(vclock.Dot{Replica: "eu-west-1", Seq: seq % 100000})
	}
}

// BenchmarkMapSetContains is the floor: the same lookups in a plain set.
func BenchmarkMapSetContains(b *testing.B) {
	m := map[vclock.Dot]struct{}{}
	for _, id := range regions {
		for seq := uint64(1); seq <= 100000; seq++ {
			if seq%10 != 5 {
				m[vclock.Dot{Replica: id, Seq: seq}] = struct{}{}
			}
		}
	}
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq = seq*7 + 13
		_, sinkBool = m[vclock.Dot{Replica: "eu-west-1", Seq: seq % 100000}]
	}
}

// BenchmarkContextMergeInterleaved merges two contexts of 20,000 runs of
// one replica, each run of one context lying between two of the other's:
// the case that was quadratic (1.45 s for 734 KB) before runs were united
// in one pass. The round includes cloning the receiver.
func BenchmarkContextMergeInterleaved(b *testing.B) {
	var odd, even vclock.Context
	for i := range 20000 {
		odd.Add(vclock.Dot{Replica: "a", Seq: uint64(4*i + 3)})
		even.Add(vclock.Dot{Replica: "a", Seq: uint64(4*i + 5)})
	}
	b.ReportAllocs()
	for b.Loop() {
		c := odd.Clone()
		c.Merge(&even)
	}
}
