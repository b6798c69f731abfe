package crdttest_test

// Small CRDTs written for the harness's own tests: correct ones the harness
// must pass, and variants with one deliberate bug each that it must catch.

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
)

// gset is a grow-only set of small integers. Its merge is set union; its
// op is the element added.
type gset struct{ m map[int]int } // element → 1 (a bag in the broken variant)

func newGSet() *gset { return &gset{m: map[int]int{}} }

func (s *gset) sorted() []int { return slices.Sorted(maps.Keys(s.m)) }

func gsetType() crdttest.Type[*gset, int] {
	return crdttest.Type[*gset, int]{
		Name: "gset",
		New:  func(crdt.ReplicaID, *clock.Clock) *gset { return newGSet() },
		Mutate: func(t *rapid.T, s *gset) int {
			e := rapid.IntRange(0, 9).Draw(t, "elem")
			s.m[e] = 1
			return e
		},
		Apply: func(s *gset, e int) error { s.m[e] = 1; return nil },
		Merge: func(dst, src *gset) {
			for e := range src.m {
				dst.m[e] = 1
			}
		},
		Clone: func(s *gset) *gset { return &gset{m: maps.Clone(s.m)} },
		Equal: func(a, b *gset) bool { return maps.Equal(a.m, b.m) },
		Value: func(s *gset) any { return s.sorted() },
		MarshalState: func(s *gset) ([]byte, error) {
			return json.Marshal(s.m)
		},
		UnmarshalState: func(b []byte) (*gset, error) {
			s := newGSet()
			return s, json.Unmarshal(b, &s.m)
		},
		MarshalOp:   func(e int) ([]byte, error) { return json.Marshal(e) },
		UnmarshalOp: func(b []byte) (int, error) { var e int; return e, json.Unmarshal(b, &e) },
		Model: func(h crdttest.History[int]) any {
			seen := map[int]bool{}
			var out []int
			for _, e := range h {
				if !seen[e.Op] {
					seen[e.Op] = true
					out = append(out, e.Op)
				}
			}
			slices.Sort(out)
			return out
		},
	}
}

// gsetBag counts how often each element was merged in: its merge adds the
// counts, so merging a state with itself changes it.
func gsetBag() crdttest.Type[*gset, int] {
	ty := gsetType()
	ty.Name = "gset with a bag merge"
	ty.Merge = func(dst, src *gset) {
		for e, n := range src.m {
			dst.m[e] += n
		}
	}
	return ty
}

// gsetShallowClone's Clone shares the map with the original.
func gsetShallowClone() crdttest.Type[*gset, int] {
	ty := gsetType()
	ty.Name = "gset with a shallow Clone"
	ty.Clone = func(s *gset) *gset { return &gset{m: s.m} }
	return ty
}

// gsetLossyDecode's decoder drops the greatest element.
func gsetLossyDecode() crdttest.Type[*gset, int] {
	ty := gsetType()
	ty.Name = "gset with a lossy decoder"
	ty.UnmarshalState = func(b []byte) (*gset, error) {
		s := newGSet()
		if err := json.Unmarshal(b, &s.m); err != nil {
			return nil, err
		}
		if es := s.sorted(); len(es) > 0 {
			delete(s.m, es[len(es)-1])
		}
		return s, nil
	}
	return ty
}

// gsetWeakEqual's Equal holds for any two states.
func gsetWeakEqual() crdttest.Type[*gset, int] {
	ty := gsetType()
	ty.Name = "gset with an Equal that always holds"
	ty.Equal = func(a, b *gset) bool { return true }
	return ty
}

// gsetPanics panics when it merges a set of more than two elements.
func gsetPanics() crdttest.Type[*gset, int] {
	ty := gsetType()
	ty.Name = "gset whose merge panics"
	merge := ty.Merge
	ty.Merge = func(dst, src *gset) {
		if len(src.m) > 2 {
			panic("gset: too many elements")
		}
		merge(dst, src)
	}
	return ty
}

// maxReg is a register holding the greatest integer written.
type maxReg struct{ v int }

func maxRegType() crdttest.Type[*maxReg, int] {
	return crdttest.Type[*maxReg, int]{
		Name: "max register",
		New:  func(crdt.ReplicaID, *clock.Clock) *maxReg { return &maxReg{} },
		Mutate: func(t *rapid.T, r *maxReg) int {
			v := rapid.IntRange(0, 20).Draw(t, "v")
			r.v = max(r.v, v)
			return v
		},
		Apply: func(r *maxReg, v int) error { r.v = max(r.v, v); return nil },
		Merge: func(dst, src *maxReg) { dst.v = max(dst.v, src.v) },
		Clone: func(r *maxReg) *maxReg { c := *r; return &c },
		Equal: func(a, b *maxReg) bool { return a.v == b.v },
		Value: func(r *maxReg) any { return r.v },
		Model: func(h crdttest.History[int]) any {
			m := 0
			for _, e := range h {
				m = max(m, e.Op)
			}
			return m
		},
	}
}

// maxRegSrcWins takes the merged-in value whatever it is: idempotent and
// associative, but not commutative.
func maxRegSrcWins() crdttest.Type[*maxReg, int] {
	ty := maxRegType()
	ty.Name = "register whose merge takes the other value"
	ty.Merge = func(dst, src *maxReg) { dst.v = src.v }
	return ty
}

// maxRegRPS joins values by rock-paper-scissors on their class modulo 3
// (max within a class): commutative, idempotent, and merging b twice is
// merging it once, but not associative: (rock⊔paper)⊔scissors is
// scissors, rock⊔(paper⊔scissors) is rock.
func maxRegRPS() crdttest.Type[*maxReg, int] {
	ty := maxRegType()
	ty.Name = "register whose merge is not associative"
	join := func(a, b int) int {
		ca, cb := a%3, b%3
		switch {
		case ca == cb:
			return max(a, b)
		case (ca-cb+3)%3 == 1: // a's class beats b's
			return a
		}
		return b
	}
	ty.Merge = func(dst, src *maxReg) { dst.v = join(dst.v, src.v) }
	ty.Apply = func(r *maxReg, v int) error { r.v = join(r.v, v); return nil }
	return ty
}

// gcounter is a grow-only counter: for each replica, the number of its
// increments and their total. It has a version vector (the increment
// counts) and deltas.
type gcounter struct {
	id crdt.ReplicaID
	e  map[crdt.ReplicaID]gentry
}

type gentry struct {
	Seq   uint64 // increments made by the replica
	Total uint64 // their sum
}

// gop is an increment: replica's Seq-th, of N, bringing its total to Total.
type gop struct {
	Replica crdt.ReplicaID
	Seq     uint64
	N       uint64
	Total   uint64
}

func (c *gcounter) value() uint64 {
	var n uint64
	for _, e := range c.e {
		n += e.Total
	}
	return n
}

func gcounterType() crdttest.Type[*gcounter, gop] {
	return crdttest.Type[*gcounter, gop]{
		Name: "gcounter",
		New: func(id crdt.ReplicaID, _ *clock.Clock) *gcounter {
			return &gcounter{id: id, e: map[crdt.ReplicaID]gentry{}}
		},
		Mutate: func(t *rapid.T, c *gcounter) gop {
			n := rapid.Uint64Range(1, 5).Draw(t, "n")
			e := c.e[c.id]
			e.Seq++
			e.Total += n
			c.e[c.id] = e
			return gop{Replica: c.id, Seq: e.Seq, N: n, Total: e.Total}
		},
		Apply: func(c *gcounter, op gop) error {
			if op.Seq > c.e[op.Replica].Seq {
				c.e[op.Replica] = gentry{op.Seq, op.Total}
			}
			return nil
		},
		Merge: func(dst, src *gcounter) {
			for id, e := range src.e {
				if e.Seq > dst.e[id].Seq {
					dst.e[id] = e
				}
			}
		},
		Clone: func(c *gcounter) *gcounter { return &gcounter{id: c.id, e: maps.Clone(c.e)} },
		Equal: func(a, b *gcounter) bool { return maps.Equal(a.e, b.e) },
		Version: func(c *gcounter) vclock.Clock {
			var v vclock.Clock
			for id, e := range c.e {
				v.Set(id, e.Seq)
			}
			return v
		},
		DeltaSince: func(c *gcounter, v vclock.Clock) *gcounter {
			d := &gcounter{id: c.id, e: map[crdt.ReplicaID]gentry{}}
			for id, e := range c.e {
				if e.Seq > v.Get(id) {
					d.e[id] = e
				}
			}
			return d
		},
		Chunks: func(c *gcounter, version []byte, max int) ([][]byte, int, error) {
			// One part per replica's entry, each a state of its own.
			var v vclock.Clock
			if version != nil {
				var err error
				if v, err = vclock.UnmarshalClock(version, codec.Limits{}); err != nil {
					return nil, 0, err
				}
			}
			var parts [][]byte
			size := 0
			for _, id := range slices.Sorted(maps.Keys(c.e)) {
				if e := c.e[id]; e.Seq > v.Get(id) {
					b, err := json.Marshal(map[crdt.ReplicaID]gentry{id: e})
					if err != nil || len(b) > max {
						return nil, 0, fmt.Errorf("an entry of %d bytes, over %d: %v", len(b), max, err)
					}
					parts = append(parts, b)
					size += len(b)
				}
			}
			if size <= max {
				return nil, 0, nil
			}
			return parts, len(parts), nil
		},
		MergeChunk: func(c *gcounter, part []byte) error {
			var e map[crdt.ReplicaID]gentry
			if err := json.Unmarshal(part, &e); err != nil {
				return err
			}
			for id, x := range e {
				if x.Seq > c.e[id].Seq {
					c.e[id] = x
				}
			}
			return nil
		},
		MarshalOp: func(op gop) ([]byte, error) { return json.Marshal(op) },
		UnmarshalOp: func(b []byte) (gop, error) {
			var op gop
			return op, json.Unmarshal(b, &op)
		},
		Value: func(c *gcounter) any { return c.value() },
		Model: func(h crdttest.History[gop]) any {
			var n uint64
			for _, e := range h {
				n += e.Op.N
			}
			return n
		},
	}
}

// gcounterAdding applies an op by adding its amount: a duplicate counts
// twice.
func gcounterAdding() crdttest.Type[*gcounter, gop] {
	ty := gcounterType()
	ty.Name = "gcounter whose ops add"
	ty.Apply = func(c *gcounter, op gop) error {
		e := c.e[op.Replica]
		c.e[op.Replica] = gentry{max(e.Seq, op.Seq), e.Total + op.N}
		return nil
	}
	return ty
}

// gcounterInOrder applies an op only if it is the next of its replica: an
// op that arrives early is dropped, not kept for later.
func gcounterInOrder() crdttest.Type[*gcounter, gop] {
	ty := gcounterType()
	ty.Name = "gcounter that needs ops in order"
	ty.Apply = func(c *gcounter, op gop) error {
		if op.Seq == c.e[op.Replica].Seq+1 {
			c.e[op.Replica] = gentry{op.Seq, op.Total}
		}
		return nil
	}
	return ty
}

// gcounterOffByOne's deltas leave out the increments of replicas exactly
// one increment ahead of the version asked about.
func gcounterOffByOne() crdttest.Type[*gcounter, gop] {
	ty := gcounterType()
	ty.Name = "gcounter with an off-by-one delta"
	ty.DeltaSince = func(c *gcounter, v vclock.Clock) *gcounter {
		d := &gcounter{id: c.id, e: map[crdt.ReplicaID]gentry{}}
		for id, e := range c.e {
			if e.Seq > v.Get(id)+1 {
				d.e[id] = e
			}
		}
		return d
	}
	return ty
}

// gcounterCountsFirst cuts its parts as the version first (each entry's
// count of increments, with a total of 0), then the totals: a receiver
// that merges the first part claims the increments, and the second no
// longer changes anything.
func gcounterCountsFirst() crdttest.Type[*gcounter, gop] {
	ty := gcounterType()
	ty.Name = "gcounter whose parts send the version first"
	ty.Chunks = func(c *gcounter, _ []byte, max int) ([][]byte, int, error) {
		if len(c.e) < 2 {
			return nil, 0, nil
		}
		counts := map[crdt.ReplicaID]gentry{}
		for id, e := range c.e {
			counts[id] = gentry{Seq: e.Seq}
		}
		a, err := json.Marshal(counts)
		if err != nil {
			return nil, 0, err
		}
		b, err := json.Marshal(c.e)
		if err != nil || len(a) > max || len(b) > max {
			return nil, 0, fmt.Errorf("parts of %d and %d bytes, over %d: %v", len(a), len(b), max, err)
		}
		return [][]byte{a, b}, 1, nil
	}
	return ty
}

// gcounterForgets collects the entries every peer has seen in full, as
// if a count every replica holds were metadata: its Value drops.
func gcounterForgets() crdttest.Type[*gcounter, gop] {
	ty := gcounterType()
	ty.Name = "gcounter whose collection forgets stable counts"
	ty.CollectVersions = func(c *gcounter, peers []vclock.Clock) int {
		n := 0
		for id, e := range c.e {
			stable := true
			for _, v := range peers {
				stable = stable && v.Get(id) >= e.Seq
			}
			if stable {
				delete(c.e, id)
				n++
			}
		}
		return n
	}
	return ty
}

// lww is a last-writer-wins register of small integers on the hybrid
// logical clock: the write with the greater (timestamp, smaller replica ID
// on a tie) wins.
type lww struct {
	clk *clock.Clock
	w   lwwOp // the winning write; the zero lwwOp is no write
}

type lwwOp struct {
	V  int
	TS clock.Timestamp
	ID crdt.ReplicaID
}

// beats reports whether write a wins over b.
func (a lwwOp) beats(b lwwOp) bool {
	if c := a.TS.Compare(b.TS); c != 0 {
		return c > 0
	}
	return a.ID != "" && (b.ID == "" || a.ID < b.ID)
}

type lwwToy struct {
	id  crdt.ReplicaID
	reg lww
	// sees is false in the variant that forgets to tell its clock about
	// remote writes.
	sees bool
	// beats orders writes; the broken tie-break variant replaces it.
	beats func(a, b lwwOp) bool
}

func (r *lwwToy) take(w lwwOp) {
	if r.sees && !w.TS.IsZero() {
		_, _ = r.reg.clk.Update(w.TS)
	}
	if r.beats(w, r.reg.w) {
		r.reg.w = w
	}
}

func lwwType() crdttest.Type[*lwwToy, lwwOp] {
	return crdttest.Type[*lwwToy, lwwOp]{
		Name: "lww register",
		New: func(id crdt.ReplicaID, clk *clock.Clock) *lwwToy {
			return &lwwToy{id: id, reg: lww{clk: clk}, sees: true, beats: lwwOp.beats}
		},
		Mutate: func(t *rapid.T, r *lwwToy) lwwOp {
			w := lwwOp{V: rapid.IntRange(0, 9).Draw(t, "v"), TS: r.reg.clk.Now(), ID: r.id}
			r.reg.w = w
			return w
		},
		Apply: func(r *lwwToy, w lwwOp) error { r.take(w); return nil },
		Merge: func(dst, src *lwwToy) { dst.take(src.reg.w) },
		Clone: func(r *lwwToy) *lwwToy { c := *r; return &c },
		Equal: func(a, b *lwwToy) bool { return a.reg.w == b.reg.w },
		Value: func(r *lwwToy) any {
			if r.reg.w.ID == "" {
				return "unset"
			}
			return r.reg.w.V
		},
		Model: func(h crdttest.History[lwwOp]) any {
			// The writes no other write saw (directly or not), then the
			// greatest of those by (time, smaller replica on a tie).
			// Causally later writes must win whatever the clocks say, so
			// the causal order is taken from the history, not from the
			// timestamps.
			best := h.LastWrite(func(crdttest.Event[lwwOp]) bool { return true })
			if best < 0 {
				return "unset"
			}
			return h[best].Op.V
		},
	}
}

// lwwBlind never updates its clock with remote timestamps, so a write made
// after seeing another can carry a smaller timestamp and lose.
func lwwBlind() crdttest.Type[*lwwToy, lwwOp] {
	ty := lwwType()
	ty.Name = "lww register that does not update its clock"
	newReg := ty.New
	ty.New = func(id crdt.ReplicaID, clk *clock.Clock) *lwwToy {
		r := newReg(id, clk)
		r.sees = false
		return r
	}
	return ty
}

// lwwLargerWins breaks exact timestamp ties in favour of the larger
// replica ID.
func lwwLargerWins() crdttest.Type[*lwwToy, lwwOp] {
	ty := lwwType()
	ty.Name = "lww register where the larger ID wins a tie"
	newReg := ty.New
	ty.New = func(id crdt.ReplicaID, clk *clock.Clock) *lwwToy {
		r := newReg(id, clk)
		r.beats = func(a, b lwwOp) bool {
			if c := a.TS.Compare(b.TS); c != 0 {
				return c > 0
			}
			return a.ID > b.ID
		}
		return r
	}
	return ty
}
