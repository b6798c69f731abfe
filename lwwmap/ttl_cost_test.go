package lwwmap

import (
	"runtime"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
)

// ttlWorkOf decodes the state b and merges it into m, and returns how
// many expire and persist writes the two steps looked at.
func ttlWorkOf(t *testing.T, m *Map[string, string], b []byte) int {
	t.Helper()
	o, err := decodeState[string, string](b, codec.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	work := o.ttlWork + m.ttlWork
	m.Merge(o)
	return o.ttlWork + m.ttlWork - work
}

// TestManyExpiriesOfOneKeyLinear: a key holds every expire write made
// concurrently, one per replica that expired it; decoding and merging a
// state that holds n of them must look at each a bounded number of
// times, not at every other one each time (n² for the state). The same
// for n drop records of the key, which name the expire writes their
// writers overwrote, merged into a map that holds those writes.
func TestManyExpiriesOfOneKeyLinear(t *testing.T) {
	const n = 2000
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	base := New[string, string]("src", clk)
	base.Put("k", "v")
	firsts, seconds := make([]*Map[string, string], n), make([]*Map[string, string], n)
	for i := range n {
		x := New[string, string](vclock.Writer("w", uint64(i+1)), clk)
		x.Merge(base)
		x.Expire("k", time.Hour)
		firsts[i] = x.Clone()
		x.Expire("k", 2*time.Hour) // overwrites x's first: a drop record
		seconds[i] = x
	}
	old, src := mergeAll(firsts), mergeAll(seconds) // old holds each writer's first expire
	if len(src.ttl["k"]) != n || len(src.drops) != n || len(old.ttl["k"]) != n {
		t.Fatalf("%d expire writes, %d drop records; %d expire writes at the old map", len(src.ttl["k"]), len(src.drops), len(old.ttl["k"]))
	}
	b, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	bound := 16*n + 64
	me := New[string, string]("me", clk)
	if work := ttlWorkOf(t, me, b); work > bound {
		t.Errorf("state of %d expire writes of one key, merged into an empty map: looked at %d, more than %d", n, work, bound)
	}
	if work := ttlWorkOf(t, me, b); work > bound {
		t.Errorf("state of %d expire writes of one key, merged again: looked at %d, more than %d", n, work, bound)
	}
	if work := ttlWorkOf(t, old, b); work > bound {
		t.Errorf("state of %d drop records of one key, merged into a map holding what they drop: looked at %d, more than %d", n, work, bound)
	}
	if !me.Equal(src) || !old.Equal(src) {
		t.Fatal("the merged maps differ from the state merged in")
	}
	if d, ok := old.TTL("k"); !ok || d != 2*time.Hour {
		t.Fatalf("k expires in %v (%v), want 2h", d, ok)
	}
}

// mergeAll merges the maps ms, two by two, into the first.
func mergeAll(ms []*Map[string, string]) *Map[string, string] {
	for len(ms) > 1 {
		for i := 0; i+1 < len(ms); i += 2 {
			ms[i].Merge(ms[i+1])
		}
		for i := 1; 2*i < len(ms); i++ {
			ms[i] = ms[2*i]
		}
		ms = ms[:(len(ms)+1)/2]
	}
	return ms[0]
}

// TestManyExpireOpsOfOneKeyLinear: n replicas expire one key
// concurrently, and a replica applies their n ops one at a time, as the
// engine delivers them; then each replica expires the key again, over
// its own first expire, and those n ops arrive one at a time too. Each
// op must cost a bounded amount of work and memory, not a copy or a walk
// of every expire write the key holds (n² for the n ops).
func TestManyExpireOpsOfOneKeyLinear(t *testing.T) {
	const n = 2000
	clk := clock.New(clock.WithSource(func() int64 { return start }))
	base := New[string, string]("src", clk)
	base.Put("k", "v")
	var firsts, seconds [][]byte
	for i := range n {
		x := New[string, string](vclock.Writer("w", uint64(i+1)), clk)
		x.Merge(base)
		b, err := x.Expire("k", time.Duration(i+1)*time.Hour).MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		firsts = append(firsts, b)
		if b, err = x.Expire("k", time.Duration(n+i+1)*time.Hour).MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		seconds = append(seconds, b)
	}
	me := New[string, string]("me", clk)
	me.Merge(base)
	me.makeTTLOrder() // as a merge that looked for overwritten writes left it
	for _, round := range []struct {
		what string
		ops  [][]byte
	}{{"first expires", firsts}, {"expires over them", seconds}} {
		var before, after runtime.MemStats
		work := me.ttlWork
		runtime.ReadMemStats(&before)
		for _, b := range round.ops {
			if _, err := me.ApplyBinary(b); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		if got, bound := me.ttlWork-work, 16*n+64; got > bound {
			t.Errorf("%d ops of %s, one at a time: looked at %d expire writes, more than %d", n, round.what, got, bound)
		}
		if got, bound := after.TotalAlloc-before.TotalAlloc, uint64(2048*n+1<<20); got > bound {
			t.Errorf("%d ops of %s, one at a time: allocated %d bytes, more than %d", n, round.what, got, bound)
		}
		if len(me.ttl["k"]) != n {
			t.Fatalf("after the %s: %d expire writes, want %d", round.what, len(me.ttl["k"]), n)
		}
	}
	if d, ok := me.TTL("k"); !ok || d != 2*n*time.Hour {
		t.Fatalf("k expires in %v (%v), want %v", d, ok, 2*n*time.Hour)
	}
}

// TestIndexedTTLWritesKeepTheLaws runs the law harness and the
// simulation of replicas with times to live with every key's expire and
// persist writes indexed, and compared by Equal through a table of their
// dots, as only keys with many are otherwise (see ttl_index.go,
// equalTTLWork): the index must give what a walk of the writes gives.
func TestIndexedTTLWritesKeepTheLaws(t *testing.T) {
	defer func(n, w int) { ttlIndexed, ttlEqualWalk = n, w }(ttlIndexed, ttlEqualWalk)
	ttlIndexed, ttlEqualWalk = 1, 0
	t.Run("laws", TestMapTTLHarnessLaws)
	t.Run("replicas", TestTTLReplicasConvergeToTheModel)
	t.Run("parts", TestTTLPartsMergeLikeTheWhole)
}
