package dotkernel

import (
	"fmt"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt/vclock"
)

// TestRingAgainstSlice runs random pushes (under a cap that may pass a
// chunk's length), discards of the oldest, filters, decoded appends and
// clones on a ring and on a plain slice of (record, id) pairs, and
// compares them after every step: the order, the records whole, the ids,
// find, and the number of slots against the cap rounded up to whole
// chunks. The records drop one dot (of their own replica or another, in
// the ring's table or new to it, packing or not) or several, so that
// both forms of a slot, and the compaction of the table of replicas,
// are taken.
func TestRingAgainstSlice(t *testing.T) {
	type held struct {
		seq uint64
		id  uint64
		rec Record[string]
	}
	rapid.Check(t, func(t *rapid.T) {
		var r ring[string]
		var model []held
		var next uint64
		reps := rapid.IntRange(1, 40).Draw(t, "replicas")
		record := func(seq uint64) Record[string] {
			rep := func(label string) vclock.ReplicaID {
				return vclock.ReplicaID(fmt.Sprintf("r%d", rapid.IntRange(0, reps-1).Draw(t, label)))
			}
			d := vclock.Dot{Replica: rep("rep"), Seq: seq}
			if rapid.IntRange(0, 9).Draw(t, "huge") == 0 {
				d.Seq = maxPackSeq + seq
			}
			var dropped []vclock.Dot
			switch rapid.IntRange(0, 9).Draw(t, "drops") {
			case 0:
				dropped = []vclock.Dot{{Replica: "a", Seq: 1}, {Replica: "b", Seq: 2}}
			case 1:
				dropped = []vclock.Dot{{Replica: rep("drop"), Seq: maxPackSeq + 1}}
			case 2, 3, 4:
				dropped = []vclock.Dot{{Replica: d.Replica, Seq: rapid.Uint64Range(1, 1000).Draw(t, "seq")}}
			default:
				dropped = []vclock.Dot{{Replica: rep("drop"), Seq: rapid.Uint64Range(1, 1000).Draw(t, "seq")}}
			}
			return Record[string]{Dot: d, Key: fmt.Sprint("k", seq), Dropped: dropped}
		}
		limit := rapid.SampledFrom([]int{1, 5, 100, chunkLen, chunkLen + 1, 3*chunkLen - 7}).Draw(t, "limit")
		decoding := rapid.Bool().Draw(t, "decoding")
		if decoding { // a decoded ring first, as long as it is
			for range rapid.IntRange(0, 3*chunkLen).Draw(t, "decoded") {
				next++
				x := record(next)
				r.appendDecoded(x)
				model = append(model, held{next, next - 1, x})
			}
		}
		for step := range rapid.IntRange(0, 1500).Draw(t, "steps") {
			switch op := rapid.IntRange(0, 19).Draw(t, "op"); {
			case op < 14: // a push, discarding first as the kernel does
				if len(model)+1-limit == 1 && r.full() && rapid.Bool().Draw(t, "rotate") {
					d, p, id := r.rotate()
					if d != model[0].rec.Dot {
						t.Fatalf("step %d: rotated out %v, want %v", step, d, model[0].rec.Dot)
					}
					next++
					x := record(next)
					r.set(p, id, x.Dot, x.Key, x.Dropped)
					if id != next-1 {
						t.Fatalf("step %d: rotate returned id %d, want %d", step, id, next-1)
					}
					model = append(model[1:], held{next, id, x})
					break
				}
				for len(model)+1 > limit {
					if d := r.dropOldest(); d != model[0].rec.Dot {
						t.Fatalf("step %d: dropped %v, want %v", step, d, model[0].rec.Dot)
					}
					model = model[1:]
				}
				next++
				x := record(next)
				id := r.push(x.Dot, x.Key, x.Dropped, limit)
				if id != next-1 {
					t.Fatalf("step %d: push returned id %d, want %d", step, id, next-1)
				}
				model = append(model, held{next, id, x})
			case op < 16:
				if len(model) > 0 {
					r.dropOldest()
					model = model[1:]
				}
			case op < 18:
				odd := rapid.Bool().Draw(t, "odd")
				r.filter(func(d vclock.Dot) bool { return d.Seq%2 == 1 == odd })
				kept := model[:0]
				for _, h := range model {
					if h.rec.Dot.Seq%2 == 1 == odd {
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
			all := r.slice()
			for i, h := range model {
				if got := r.at(i); !equalRecord(got, h.rec) || !equalRecord(all[i], h.rec) || r.idAt(i) != h.id {
					t.Fatalf("step %d: record %d is %v (%v) id %d, want %v id %d", step, i, got, all[i], r.idAt(i), h.rec, h.id)
				}
				if at, ok := r.find(h.id); !ok || at != i {
					t.Fatalf("step %d: find(%d) = %d, %v; want %d", step, h.id, at, ok, i)
				}
			}
			if len(r.reps) > max(r.repMax, 16)+2 {
				t.Fatalf("step %d: %d replicas in the table, past %d", step, len(r.reps), max(r.repMax, 16))
			}
			if len(r.wide) > len(model) {
				t.Fatalf("step %d: %d wide records for %d records", step, len(r.wide), len(model))
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

func equalRecord(a, b Record[string]) bool {
	return a.Dot == b.Dot && a.Key == b.Key && slices.Equal(a.Dropped, b.Dropped)
}
