package lwwmap

import (
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/vclock"
)

// TestTTLPartsSplitConcurrentExpires checks that a key's concurrent expire
// writes in force, too many for one part together, go in parts of their
// own that merge into what the whole merges into. They went in one part,
// whatever its size, and cutting failed with "an entry larger than a
// part" (seed 8059611501190577319 of TestTTLPartsMergeLikeTheWhole: four
// writers' expires of one key, parts of 120 bytes).
func TestTTLPartsSplitConcurrentExpires(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).UnixNano()
	src := func() int64 { return at }
	var all []*Map[string, string]
	for i := range 6 {
		m := New[string, string](vclock.ReplicaID(fmt.Sprintf("r%d", i)), clock.New(clock.WithSource(src)))
		if i == 0 {
			m.Put("b", "five")
		}
		all = append(all, m)
	}
	for _, m := range all[1:] {
		if _, err := m.MergeBinary(mustState(t, all[0])); err != nil {
			t.Fatal(err)
		}
	}
	for i, m := range all {
		m.Expire("b", time.Duration(i+1)*time.Hour) // concurrent: none has seen another's
	}
	from := all[0]
	for _, m := range all[1:] {
		if _, err := from.MergeBinary(mustState(t, m)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(from.ttl["b"]); n != len(all) {
		t.Fatalf("%d expire writes in force, want %d", n, len(all))
	}
	whole := mustState(t, from)
	const limit = 120
	if len(whole) <= limit {
		t.Fatalf("the whole takes %d bytes, within the limit of %d: nothing to cut", len(whole), limit)
	}
	to := New[string, string]("r9", clock.New(clock.WithSource(src)))
	want := to.Clone()
	if _, err := want.MergeBinary(whole); err != nil {
		t.Fatal(err)
	}
	parts, _, err := from.ChunksBinary(nil, limit)
	if errors.Is(err, errPartTooLarge) {
		t.Fatalf("cutting into parts of %d bytes: %v", limit, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ttlParts := 0
	for i, p := range parts {
		if len(p) > limit {
			t.Fatalf("part %d takes %d bytes, over %d", i, len(p), limit)
		}
		if p[0] == partTTL {
			ttlParts++
		}
		if _, err := to.MergeChunkBinary(p); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	if ttlParts < 2 {
		t.Fatalf("the expire writes went in %d part(s)", ttlParts)
	}
	if !maps.Equal(contents(to), contents(want)) || !to.equalTTL(want) || !to.ctx.Equal(&want.ctx) {
		t.Fatalf("parts give %s %s\nthe whole gives %s %s", dump(to), ttlDump(to), dump(want), ttlDump(want))
	}
	got, gok := to.TTL("b")
	w, wok := want.TTL("b")
	if got != w || gok != wok || !wok {
		t.Fatalf("TTL of b after the parts: %v %v, after the whole: %v %v", got, gok, w, wok)
	}
}
