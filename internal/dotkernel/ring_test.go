package dotkernel

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestRingAgainstSlice runs random pushes (under a cap that may pass a
// chunk's length), discards of the oldest, filters, decoded appends and
// clones on a ring and on a plain slice of (record, id) pairs, and
// compares them after every step: the order, the ids, find, and the
// number of slots against the cap rounded up to whole chunks.
func TestRingAgainstSlice(t *testing.T) {
	type held struct {
		seq uint64
		id  uint64
	}
	rapid.Check(t, func(t *rapid.T) {
		var r ring[string]
		var model []held
		var next uint64
		limit := rapid.SampledFrom([]int{1, 5, 100, chunkLen, chunkLen + 1, 3*chunkLen - 7}).Draw(t, "limit")
		decoding := rapid.Bool().Draw(t, "decoding")
		if decoding { // a decoded ring first, as long as it is
			for range rapid.IntRange(0, 3*chunkLen).Draw(t, "decoded") {
				next++
				r.appendDecoded(Record[string]{Dot: vclock.Dot{Replica: "a", Seq: next}})
				model = append(model, held{next, next - 1})
			}
		}
		for step := range rapid.IntRange(0, 1500).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 19).Draw(t, "op"); {
			case op < 14: // a push, discarding first as the kernel does
				if len(model)+1-limit == 1 && r.full() && rapid.Bool().Draw(t, "rotate") {
					d, rec, id := r.rotate()
					if d.Seq != model[0].seq {
						t.Fatalf("step %d: rotated out %v, want seq %d", step, d, model[0].seq)
					}
					next++
					*rec = Record[string]{Dot: vclock.Dot{Replica: "a", Seq: next}}
					if id != next-1 {
						t.Fatalf("step %d: rotate returned id %d, want %d", step, id, next-1)
					}
					model = append(model[1:], held{next, id})
					break
				}
				for len(model)+1 > limit {
					if d := r.dropOldest(); d.Seq != model[0].seq {
						t.Fatalf("step %d: dropped %v, want seq %d", step, d, model[0].seq)
					}
					model = model[1:]
				}
				next++
				id := r.push(Record[string]{Dot: vclock.Dot{Replica: "a", Seq: next}}, limit)
				if id != next-1 {
					t.Fatalf("step %d: push returned id %d, want %d", step, id, next-1)
				}
				model = append(model, held{next, id})
			case op < 16:
				if len(model) > 0 {
					r.dropOldest()
					model = model[1:]
				}
			case op < 18:
				odd := rapid.Bool().Draw(t, "odd")
				r.filter(func(x Record[string]) bool { return x.Dot.Seq%2 == 1 == odd })
				kept := model[:0]
				for _, h := range model {
					if h.seq%2 == 1 == odd {
						kept = append(kept, h)
					}
				}
				model = kept
			default:
				r = r.clone()
			}
			if r.len() != len(model) {
				t.Fatalf("step %d: %d records, want %d", step, r.len(), len(model))
			}
			for i, h := range model {
				if got := r.at(i).Dot.Seq; got != h.seq || r.idAt(i) != h.id {
					t.Fatalf("step %d: record %d is seq %d id %d, want seq %d id %d", step, i, got, r.idAt(i), h.seq, h.id)
				}
				if at, ok := r.find(h.id); !ok || at != i {
					t.Fatalf("step %d: find(%d) = %d, %v; want %d", step, h.id, at, ok, i)
				}
			}
			if _, ok := r.find(next + 5); ok {
				t.Fatalf("step %d: found an id never given", step)
			}
			bound := max(limit, len(model))
			if bound > chunkLen {
				bound = (bound + chunkMask) &^ chunkMask
			}
			if !decoding && r.size > bound {
				t.Fatalf("step %d: %d slots for a cap of %d", step, r.size, limit)
			}
		}
	})
}
