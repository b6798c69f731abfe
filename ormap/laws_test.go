package ormap

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/activeactive/crdt"
	"github.com/activeactive/crdt/clock"
	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/crdttest"
	"github.com/activeactive/crdt/vclock"
)

// The module's law harness (package crdttest) run on three map types,
// with a naive model of observed-remove over leaves: random ops on up to
// five replicas, delivered late, twice, out of order or not at all, mixed
// with merges of states and deltas, must converge to the model's value.

// lawType builds the harness's description of Map[K, V], given how to
// draw a mutation and how to read the value as a map from a readable key
// path to what is there (see modelValue).
func lawType[K comparable, V Value[V]](name string, mutate func(t *rapid.T, m *Map[K, V]) Op, value func(m *Map[K, V]) map[string]any) crdttest.Type[*Map[K, V], Op] {
	var sh *shape
	{
		m := New[K, V]("probe")
		sh = m.s.sh
	}
	return crdttest.Type[*Map[K, V], Op]{
		Name: name,
		New: func(id crdt.ReplicaID, clk *clock.Clock) *Map[K, V] {
			m := New[K, V](id)
			m.SetClock(clk)
			return m
		},
		Mutate:     mutate,
		Apply:      func(m *Map[K, V], op Op) error { return m.Apply(op) },
		Merge:      func(dst, src *Map[K, V]) { dst.Merge(src) },
		Clone:      (*Map[K, V]).Clone,
		Equal:      func(a, b *Map[K, V]) bool { return a.Equal(b) },
		Version:    func(m *Map[K, V]) vclock.Clock { return m.Version() },
		DeltaSince: func(m *Map[K, V], v vclock.Clock) *Map[K, V] { return m.DeltaSince(v) },
		CollectVersions: func(m *Map[K, V], peers []vclock.Clock) int {
			return m.CollectVersions(peers)
		},
		Chunks: (*Map[K, V]).ChunksBinary,
		MergeChunk: func(m *Map[K, V], part []byte) error {
			_, err := m.MergeChunkBinary(part)
			return err
		},
		MarshalState: func(m *Map[K, V]) ([]byte, error) {
			return m.MarshalBinary()
		},
		UnmarshalState: func(b []byte) (*Map[K, V], error) {
			m := New[K, V]("decoded")
			return m, m.UnmarshalBinary(b)
		},
		MarshalOp:   func(op Op) ([]byte, error) { return op.MarshalBinary() },
		UnmarshalOp: func(b []byte) (Op, error) { return decodeOp(b, sh, crdtLimits) },
		Value:       func(m *Map[K, V]) any { return value(m) },
		Model:       func(h crdttest.History[Op]) any { return modelValue(h, sh) },
	}
}

// readable turns a key path into "a/b/c", each segment decoded by the
// segment in hex.
func readable(sh *shape, p string) string {
	var parts []string
	for range sh.segs {
		seg, rest, ok := nextSeg(p)
		if !ok {
			break
		}
		parts = append(parts, fmt.Sprintf("%x", seg))
		p = rest
	}
	return strings.Join(parts, "/")
}

// modelValue computes the value every replica must show from the history
// alone, knowing nothing of dots or contexts: a write survives unless an
// op that drops it knew of it. A delete or set remove drops the writes
// under its key path; a register write or set add drops the earlier
// writes at its own path (the values it overwrites, the element's earlier
// adds); a counter increment drops nothing. What an op knew of is what
// its replica had seen, plus the writes the ops it had seen dropped
// (their dropping tells the receiver of them), as in orset's model.
func modelValue(h crdttest.History[Op], sh *shape) any {
	covers := func(w, j int) bool {
		ow, oj := h[w].Op, h[j].Op
		// A no-op delete counts as the delete it was meant to be: the
		// model does not trust the map to find what it held.
		if oj.kind != opWrite || ow.kind == opInvalid {
			return false
		}
		if ow.leaf.tag != 0 && !ow.leaf.isReset() {
			// An expiry or persist replaces those of its key; one that
			// was a no-op did nothing.
			return ow.kind == opWrite && oj.leaf.tag != 0 && oj.leaf.path() == ow.leaf.path()
		}
		if ow.kind == opWrite && ow.inc != 0 {
			return false // an increment drops nothing
		}
		if ow.kind == opWrite {
			return oj.leaf.tag == 0 && oj.leaf.path() == ow.leaf.path()
		}
		return strings.HasPrefix(oj.leaf.path(), ow.leaf.path())
	}
	// A counter's increment continues its writer's chain at its path: it
	// holds the chain's total, so a replica that has seen it knows the
	// chain's earlier increments too, however ops were delivered.
	byDot := map[vclock.Dot]int{}
	for i := range h {
		byDot[h[i].Op.dot] = i
	}
	chained := func(p, q int) bool {
		for {
			op := h[p].Op
			if op.kind != opWrite || op.inc == 0 || op.leaf.lg == 0 || len(op.dropped) != 1 {
				return false
			}
			prev, ok := byDot[op.dropped[0]]
			if !ok {
				return false
			}
			if prev == q {
				return true
			}
			p = prev
		}
	}
	knew := make([]map[int]bool, len(h))
	for i := range h {
		k := map[int]bool{}
		for _, p := range h[i].Seen {
			k[p] = true
			for q := range knew[p] {
				if covers(p, q) || chained(p, q) {
					k[q] = true
				}
			}
		}
		knew[i] = k
	}
	out := map[string]any{}
	ttls := map[string][]leaf{} // the surviving expiries and persists of each key path
	for j := range h {
		if h[j].Op.kind != opWrite {
			continue
		}
		dropped := false
		for w := range h {
			if w != j && covers(w, j) && knew[w][j] {
				dropped = true
				break
			}
		}
		if dropped {
			continue
		}
		l := h[j].Op.leaf
		key := readable(sh, l.path())
		if l.tag != 0 {
			ttls[key] = append(ttls[key], l)
			continue
		}
		switch sh.kind {
		case kindCounter:
			n, _ := out[key].(int64)
			out[key] = n + h[j].Op.inc
		case kindRegister:
			vs, _ := out[key].([]string)
			vs = append(vs, fmt.Sprintf("%x", l.val()))
			slices.Sort(vs)
			out[key] = vs
		case kindSet:
			out[key] = true
		}
	}
	// A key's expiry: none if a persist survives, else the latest.
	for key, ls := range ttls {
		if !slices.ContainsFunc(ls, func(l leaf) bool { return l.tag == tagPersist }) {
			at := slices.MaxFunc(ls, func(a, b leaf) int { return a.at().Compare(b.at()) }).at()
			out["expiry "+key] = fmt.Sprintf("%d+%d", at.Wall, at.Logical)
		}
	}
	return out
}

// expiries adds to out the expiry of each key of s that has one, as
// modelValue shows them: read from the store, for keys that hold an
// expiry and no write too; and checks that Map.ExpiresAt, for a present
// key, says the same (expires reads it for a key path).
func expiries(s *state, out map[string]any, expires func(p string) (clock.Timestamp, bool)) map[string]any {
	for p := range s.ttls {
		n := s.ix.lookup(p)
		at, ok := s.expiryOf(n)
		if ok {
			out["expiry "+readable(s.sh, p)] = fmt.Sprintf("%d+%d", at.Wall, at.Logical)
		}
		if n.live > 0 {
			if got, gotOK := expires(p); got != at || gotOK != ok {
				panic(fmt.Sprintf("ExpiresAt %v %v, the store says %v %v", got, gotOK, at, ok))
			}
		}
	}
	return out
}

// lawTTL is how far ahead the law tests' expiries are: the harness's
// clocks never reach them.
const lawTTL = 1000 * time.Hour

// hexSeg is a value's segment in hex, as readable shows it.
func hexSeg[T any](v T) string {
	s, err := encSeg(v)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%x", s)
}

// checkIndex returns the value read through the public API, after
// checking that the index reads the same and that the index is what the
// store holds.
func checkIndex(s *state, api map[string]any) map[string]any {
	if !reflect.DeepEqual(api, mapValue(s)) {
		panic(fmt.Sprintf("the API and the index disagree: %s", cmp.Diff(api, mapValue(s))))
	}
	var fresh node
	for d, l := range s.k.All() {
		fresh.add(l.path(), d, l.inc(), l.tag != 0)
	}
	if !reflect.DeepEqual(indexValue(s, &fresh), mapValue(s)) {
		panic("the index kept by the watcher differs from one built from the store")
	}
	return api
}

// mapValue reads a map's value through the index as modelValue shows it:
// each present leaf path with its counter sum, sorted register values or
// set membership.
func mapValue(s *state) map[string]any { return indexValue(s, &s.ix) }

// indexValue is mapValue read through the index root.
func indexValue(s *state, root *node) map[string]any {
	out := map[string]any{}
	var walk func(n *node, p string)
	walk = func(n *node, p string) {
		if len(n.dots()) > 0 {
			key := readable(s.sh, p)
			switch s.sh.kind {
			case kindCounter:
				out[key] = s.value(n, p)
			case kindRegister:
				var vs []string
				for _, d := range n.dots() {
					l, _ := s.k.Get(d)
					vs = append(vs, fmt.Sprintf("%x", l.val()))
				}
				slices.Sort(vs)
				out[key] = vs
			case kindSet:
				out[key] = true
			}
		}
		n.eachKid(func(q string, c *node) bool {
			walk(c, q)
			return true
		})
	}
	walk(root, "")
	return out
}

var crdtLimits codec.Limits

func counterType() crdttest.Type[*Map[int, *Counter], Op] {
	return lawType("ormap.Map[int, *Counter]",
		func(t *rapid.T, m *Map[int, *Counter]) Op {
			k := rapid.IntRange(0, 3).Draw(t, "key")
			switch rapid.IntRange(0, 5).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				ttl := time.Duration(rapid.IntRange(1, 3).Draw(t, "ttl")) * lawTTL
				return m.Expire(k, ttl)
			case 2:
				return m.Persist(k)
			}
			return m.At(k).Add(rapid.Int64Range(-3, 5).Filter(func(n int64) bool { return n != 0 }).Draw(t, "n"))
		},
		func(m *Map[int, *Counter]) map[string]any {
			out := map[string]any{}
			for k, c := range m.All() {
				out[hexSeg(k)] = c.Value()
			}
			return expiries(m.s, checkIndex(m.s, out), func(p string) (clock.Timestamp, bool) {
				k, _ := decSeg[int](p[1:])
				return m.ExpiresAt(k)
			})
		})
}

func nestedSetType() crdttest.Type[*Map[string, *Map[int, *Set[int]]], Op] {
	return lawType("ormap.Map[string, *Map[int, *Set[int]]]",
		func(t *rapid.T, m *Map[string, *Map[int, *Set[int]]]) Op {
			k := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key")
			k2 := rapid.IntRange(0, 2).Draw(t, "key2")
			e := rapid.IntRange(0, 2).Draw(t, "elem")
			switch rapid.IntRange(0, 6).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				return m.At(k).Delete(k2)
			case 2:
				return m.At(k).At(k2).Remove(e)
			case 3:
				return m.Expire(k, lawTTL)
			case 4:
				if rapid.Bool().Draw(t, "persist") {
					return m.At(k).Persist(k2)
				}
				return m.At(k).Expire(k2, lawTTL)
			}
			return m.At(k).At(k2).Add(e)
		},
		func(m *Map[string, *Map[int, *Set[int]]]) map[string]any {
			out := map[string]any{}
			for k, inner := range m.All() {
				for k2, set := range inner.All() {
					for e := range set.All() {
						if !set.Contains(e) || !inner.Has(k2) || set.Len() == 0 {
							panic("readers disagree")
						}
						out[hexSeg(k)+"/"+hexSeg(k2)+"/"+hexSeg(e)] = true
					}
				}
			}
			return expiries(m.s, checkIndex(m.s, out), func(p string) (clock.Timestamp, bool) {
				seg, rest, _ := nextSeg(p)
				if rest == "" {
					return m.ExpiresAt(seg)
				}
				seg2, _, _ := nextSeg(rest)
				k2, _ := decSeg[int](seg2)
				return m.At(seg).ExpiresAt(k2)
			})
		})
}

func registerType() crdttest.Type[*Map[int, *Register[string]], Op] {
	return lawType("ormap.Map[int, *Register[string]]",
		func(t *rapid.T, m *Map[int, *Register[string]]) Op {
			k := rapid.IntRange(0, 2).Draw(t, "key")
			if rapid.IntRange(0, 3).Draw(t, "what") == 0 {
				return m.Delete(k)
			}
			return m.At(k).Set(rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, "v"))
		},
		func(m *Map[int, *Register[string]]) map[string]any {
			out := map[string]any{}
			for k, r := range m.All() {
				var vs []string
				for _, v := range r.Values() {
					vs = append(vs, hexSeg(v))
				}
				slices.Sort(vs)
				out[hexSeg(k)] = vs
			}
			return checkIndex(m.s, out)
		})
}

func nestedCounterType() crdttest.Type[*Map[string, *Map[string, *Counter]], Op] {
	return lawType("ormap.Map[string, *Map[string, *Counter]]",
		func(t *rapid.T, m *Map[string, *Map[string, *Counter]]) Op {
			k := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "key")
			k2 := rapid.SampledFrom([]string{"x", "y"}).Draw(t, "key2")
			switch rapid.IntRange(0, 5).Draw(t, "what") {
			case 0:
				return m.Delete(k)
			case 1:
				return m.At(k).Delete(k2)
			}
			return m.At(k).At(k2).Add(rapid.Int64Range(1, 4).Draw(t, "n"))
		},
		func(m *Map[string, *Map[string, *Counter]]) map[string]any {
			out := map[string]any{}
			for k, inner := range m.All() {
				for k2, c := range inner.All() {
					out[hexSeg(k)+"/"+hexSeg(k2)] = c.Value()
				}
			}
			return checkIndex(m.s, out)
		})
}

func TestCounterMapLaws(t *testing.T)       { runLaws(t, counterType()) }
func TestNestedCounterMapLaws(t *testing.T) { runLaws(t, nestedCounterType()) }
func TestNestedSetMapLaws(t *testing.T)     { runLaws(t, nestedSetType()) }
func TestRegisterMapLaws(t *testing.T)      { runLaws(t, registerType()) }

// runLaws checks the laws for typ, unless the run is short: they take
// seconds each, tens of seconds under the race detector, and run on one
// goroutine, where the race detector has nothing to find.
func runLaws[S any, O any](t *testing.T, typ crdttest.Type[S, O]) {
	if testing.Short() {
		t.Skip("the laws take seconds, on one goroutine")
	}
	crdttest.Run(t, typ)
}
