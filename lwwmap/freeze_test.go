package lwwmap

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// TestFreezeChunks: for a peer a few writes behind, a large map's delta
// fits, and FreezeChunks copies nothing (it returns nil, and the engine
// sends the delta whole); for a new peer, or one far behind, it returns a
// cut of the map as it was, which runs (under -race) while the map is
// written, and merges into what ChunksBinary's parts at that moment merge
// into.
func TestFreezeChunks(t *testing.T) {
	var at atomic.Int64
	at.Store(1_800_000_000_000_000_000)
	src := clock.WithSource(func() int64 { return at.Add(int64(time.Microsecond)) })
	clk := clock.New(src)
	m := New[string, string]("a", clk)
	for i := range 2000 {
		m.Put(fmt.Sprintf("key-%04d", i), "value")
		if i%10 == 0 {
			m.Expire(fmt.Sprintf("key-%04d", i), time.Hour)
		}
	}
	near := m.Version()
	nb, err := near.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m.Put("key-0001", "again")
	const budget = 4096
	if m.FreezeChunks(nb, budget) != nil {
		t.Fatal("a delta of one write: FreezeChunks made a cut")
	}
	if m.FreezeChunks([]byte{0xc1}, budget) != nil {
		t.Fatal("a malformed version: FreezeChunks made a cut (ChunksBinary tells the error)")
	}
	var far vclock.Clock
	far.Advance("a", 10)
	fb, err := far.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	for i, version := range [][]byte{nil, fb} {
		parts, _, err := m.ChunksBinary(version, budget)
		if err != nil || len(parts) < 2 {
			t.Fatalf("%d parts: %v", len(parts), err)
		}
		cut := m.FreezeChunks(version, budget)
		if cut == nil {
			t.Fatal("FreezeChunks made no cut of a large state")
		}
		var frozen [][]byte
		var wg sync.WaitGroup
		wg.Go(func() { frozen, _, err = cut() })
		later := fmt.Sprintf("written during cut %d", i)
		for j := range 200 {
			m.Put(fmt.Sprintf("key-%04d", j), later)
			m.Delete(fmt.Sprintf("key-%04d", 1000+j))
		}
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		into := func(ps [][]byte) *Map[string, string] {
			r := New[string, string]("b", clock.New(src))
			for _, p := range ps {
				if _, err := r.MergeChunkBinary(p); err != nil {
					t.Fatal(err)
				}
			}
			return r
		}
		got, want := into(frozen), into(parts)
		if !got.Equal(want) || got.Fingerprint() != want.Fingerprint() {
			t.Fatalf("the frozen cut merges into %d keys (fingerprint %x), the parts at that moment into %d (%x)", got.Len(), got.Fingerprint(), want.Len(), want.Fingerprint())
		}
		for _, v := range got.All() {
			if v == later {
				t.Fatal("the frozen cut holds a write made after it")
			}
		}
	}
}
