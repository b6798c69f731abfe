package ormap

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

// The conflict tables of Redis Active-Active hashes, replayed on two
// replicas A and B that exchange ops (or states) only when the table says
// they sync.

func mustApply(t *testing.T, m interface{ Apply(Op) error }, ops ...Op) {
	t.Helper()
	for _, op := range ops {
		if err := m.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRedisHashFieldUpdateVersusDelete: A sets a field while B, which
// had seen the key, deletes it concurrently: the update survives, and
// the fields B deleted that A did not touch are gone.
func TestRedisHashFieldUpdateVersusDelete(t *testing.T) {
	type hash = Map[string, *Register[string]]
	a, b := New[string, *Map[string, *Register[string]]]("A"), New[string, *Map[string, *Register[string]]]("B")
	setup := []Op{a.At("user").At("name").Set("ann"), a.At("user").At("city").Set("paris")}
	mustApply(t, b, setup...)

	upd := a.At("user").At("city").Set("rome") // t2 at A
	del := b.Delete("user")                    // t2 at B, concurrent
	mustApply(t, a, del)
	mustApply(t, b, upd)

	for name, m := range map[string]*Map[string, *hash]{"A": a, "B": b} {
		u, ok := m.Get("user")
		if !ok {
			t.Fatalf("%s: the key is gone; the concurrent update must keep it", name)
		}
		if got := u.At("city").Values(); !slices.Equal(got, []string{"rome"}) {
			t.Errorf("%s: city = %q, want [rome]", name, got)
		}
		if u.Has("name") {
			t.Errorf("%s: name survived a delete that had seen it", name)
		}
		if u.Len() != 1 {
			t.Errorf("%s: %d fields, want 1", name, u.Len())
		}
	}
	if !a.Equal(b) {
		t.Fatal("replicas differ")
	}
}

// TestRedisCounterConcurrentIncrements: HINCRBY of one field at both
// replicas at once: the increments add up.
func TestRedisCounterConcurrentIncrements(t *testing.T) {
	a, b := New[string, *Counter]("A"), New[string, *Counter]("B")
	x, y := a.At("views").Add(10), b.At("views").Add(-3)
	z := a.At("views").Add(5)
	mustApply(t, b, x, z)
	mustApply(t, a, y)
	for name, m := range map[string]*Map[string, *Counter]{"A": a, "B": b} {
		if got := m.At("views").Value(); got != 12 {
			t.Errorf("%s: views = %d, want 12", name, got)
		}
	}
}

// TestRedisCounterDeleteVersusIncrement: the field holds 10 at both;
// A increments it by 5 while B deletes it: the delete resets what B had
// seen, the concurrent increment survives alone: 5 at both, and the key
// is present.
func TestRedisCounterDeleteVersusIncrement(t *testing.T) {
	a, b := New[string, *Counter]("A"), New[string, *Counter]("B")
	mustApply(t, b, a.At("stock").Add(7), a.At("stock").Add(3))
	if b.At("stock").Value() != 10 {
		t.Fatal("setup")
	}
	inc := a.At("stock").Add(5)
	del := b.Delete("stock")
	mustApply(t, a, del)
	mustApply(t, b, inc)
	for name, m := range map[string]*Map[string, *Counter]{"A": a, "B": b} {
		c, ok := m.Get("stock")
		if !ok || c.Value() != 5 {
			t.Errorf("%s: stock = %d (present %v), want 5", name, c.Value(), ok)
		}
	}
	// A later delete that has seen everything empties it.
	mustApply(t, b, a.Delete("stock"))
	if a.Has("stock") || b.Has("stock") || a.Len() != 0 {
		t.Error("a delete that saw every increment left the key")
	}
}

// TestDeleteVersusConcurrentSetAdd: reset-remove on a nested set: a
// delete of the key keeps only the elements added concurrently.
func TestDeleteVersusConcurrentSetAdd(t *testing.T) {
	a, b := New[string, *Set[string]]("A"), New[string, *Set[string]]("B")
	mustApply(t, b, a.At("tags").Add("red"), a.At("tags").Add("blue"))
	add := a.At("tags").Add("green")
	readd := a.At("tags").Add("red") // re-add: a new dot B has not seen
	del := b.Delete("tags")
	a.Merge(b.DeltaSince(a.Version()))
	mustApply(t, b, add, readd)
	for name, m := range map[string]*Map[string, *Set[string]]{"A": a, "B": b} {
		got := slices.Sorted(m.At("tags").All())
		if !slices.Equal(got, []string{"green", "red"}) {
			t.Errorf("%s: tags = %q, want [green red]", name, got)
		}
	}
	_ = del
}

// TestRegisterSiblingsAndOverwrite: concurrent writes are siblings; a
// write that has seen them replaces both.
func TestRegisterSiblingsAndOverwrite(t *testing.T) {
	a, b := New[int, *Register[string]]("A"), New[int, *Register[string]]("B")
	x, y := a.At(1).Set("x"), b.At(1).Set("y")
	mustApply(t, a, y)
	mustApply(t, b, x)
	if got := a.At(1).Values(); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("siblings = %q", got)
	}
	mustApply(t, b, a.At(1).Set("z"))
	if got := b.At(1).Values(); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("after overwrite = %q", got)
	}
}

// TestDeleteLateArrivingWrite: a delete that arrives before the write it
// observed still drops it.
func TestDeleteLateArrivingWrite(t *testing.T) {
	a, b, c := New[string, *Counter]("A"), New[string, *Counter]("B"), New[string, *Counter]("C")
	w := a.At("k").Add(4)
	mustApply(t, b, w)
	del := b.Delete("k")
	mustApply(t, c, del, w, w)
	if c.Has("k") || c.Len() != 0 {
		t.Fatal("a write observed by a delete survived")
	}
	mustApply(t, a, del)
	if !a.Equal(c) || a.Fingerprint() != c.Fingerprint() {
		t.Fatal("replicas differ")
	}
}

func TestCounterOverflow(t *testing.T) {
	m := New[string, *Counter]("A")
	mustApply(t, New[string, *Counter]("x"), m.At("k").Add(math.MaxInt64))
	op := m.At("k").Add(1)
	if !errors.Is(op.Err(), ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", op.Err())
	}
	if m.At("k").Value() != math.MaxInt64 {
		t.Fatal("a refused add changed the value")
	}
	if _, err := op.MarshalBinary(); !errors.Is(err, ErrOverflow) {
		t.Fatal("a failed op encoded")
	}
	// Concurrent adds can pass the range together: the value saturates.
	o := New[string, *Counter]("B")
	mustApply(t, m, o.At("k").Add(5))
	if got := m.At("k").Value(); got != math.MaxInt64 {
		t.Fatalf("value = %d, want saturation at MaxInt64", got)
	}
	mustApply(t, m, o.At("k").Add(math.MinInt64))
	if got := m.At("k").Value(); got != 4 { // MaxInt64 + 5 + MinInt64
		t.Fatalf("value = %d after coming back into range", got)
	}
}

func TestNoopsAndInvalidOps(t *testing.T) {
	m := New[string, *Counter]("A")
	if op := m.Delete("absent"); !op.IsNoop() {
		t.Fatal("delete of an absent key is not a no-op")
	}
	if op := m.At("k").Add(0); !op.IsNoop() {
		t.Fatal("Add(0) is not a no-op")
	}
	if err := m.Apply(Op{}); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("zero op: %v", err)
	}
	bad := m.At("k").Add(1)
	bad.dropped = []vclock.Dot{{Replica: "A", Seq: 9}}
	n := New[string, *Counter]("B")
	if err := n.Apply(bad); !errors.Is(err, ErrInvalidOp) || n.Len() != 0 {
		t.Fatalf("an op dropping its own later dot: %v", err)
	}
	// An op of a map of another shape.
	other := New[string, *Set[string]]("C").At("k").Add("e")
	if err := n.Apply(other); !errors.Is(err, ErrInvalidOp) || n.Len() != 0 {
		t.Fatalf("an op of another map type: %v", err)
	}
}

func TestZeroMap(t *testing.T) {
	var z Map[string, *Counter]
	if z.Len() != 0 || z.Has("k") || z.At("k").Value() != 0 {
		t.Fatal("zero map not empty")
	}
	a := New[string, *Counter]("A")
	mustApply(t, &z, a.At("k").Add(2))
	if z.At("k").Value() != 2 {
		t.Fatal("zero map did not take an op")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("mutating the zero map did not panic")
		}
	}()
	z.At("k").Add(1)
}

func TestNestedStateMethodsPanic(t *testing.T) {
	m := New[string, *Map[string, *Counter]]("A")
	defer func() {
		if recover() == nil {
			t.Fatal("Clone of a nested map did not panic")
		}
	}()
	m.At("x").Clone()
}

// TestZeroMapConcurrentReaders: readers of a zero Map write nothing, so
// they may run together (run with -race).
func TestZeroMapConcurrentReaders(t *testing.T) {
	var z Map[string, *Map[string, *Counter]]
	done := make(chan bool)
	for range 2 {
		go func() {
			_ = z.Len() + int(z.At("a").At("b").Value())
			_, _ = z.MarshalBinary()
			_ = z.Version()
			_ = z.Clone()
			done <- z.Equal(nil)
		}()
	}
	for range 2 {
		if !<-done {
			t.Fatal("a zero map is not equal to nil")
		}
	}
	// A view taken before the first write sees it.
	v := z.At("a").At("b")
	a := New[string, *Map[string, *Counter]]("a")
	mustApply(t, &z, a.At("a").At("b").Add(3))
	if v.Value() != 3 {
		t.Fatal("a view of the zero map missed its first write")
	}
}

// TestManyKeysAndElements goes past the few children a node keeps in a
// slice, both ways, and checks the readers and the index against the
// store at each step.
func TestManyKeysAndElements(t *testing.T) {
	m := New[int, *Set[int]]("a")
	want := map[int]map[int]bool{}
	check := func() {
		t.Helper()
		got := map[int]map[int]bool{}
		for k, s := range m.All() {
			got[k] = map[int]bool{}
			for e := range s.All() {
				got[k][e] = true
			}
			if s.Len() != len(got[k]) {
				t.Fatalf("key %d: Len %d, %d elements", k, s.Len(), len(got[k]))
			}
		}
		if !reflect.DeepEqual(got, want) || m.Len() != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		checkIndex(m.s, mapValue(m.s))
	}
	for k := range 20 {
		want[k] = map[int]bool{}
		for e := range k + 1 {
			m.At(k).Add(e)
			want[k][e] = true
		}
	}
	check()
	for k := 0; k < 20; k += 2 {
		m.Delete(k)
		delete(want, k)
	}
	for k := 1; k < 20; k += 4 {
		for e := range k {
			m.At(k).Remove(e)
			delete(want[k], e)
		}
	}
	check()
	for k := range 20 {
		m.Delete(k)
	}
	want = map[int]map[int]bool{}
	check()
}

// TestCounterOverflowEveryWayIn: Add skips looking the value up while the
// increments the map has taken in, in magnitude, cannot reach the range
// of an int64. A counter near the limit that came in by a merge, a
// decoded state, a clone or a delta is still caught, and adds that are
// fine once the bound is passed are still taken.
func TestCounterOverflowEveryWayIn(t *testing.T) {
	src := New[string, *Counter]("B")
	src.At("big").Add(math.MaxInt64 - 1)
	src.At("small").Add(3)
	b, err := src.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ways := map[string]func() *Map[string, *Counter]{
		"merge": func() *Map[string, *Counter] {
			m := New[string, *Counter]("A")
			m.At("mine").Add(1)
			m.Merge(src)
			return m
		},
		"decode": func() *Map[string, *Counter] {
			m := New[string, *Counter]("A")
			if err := m.UnmarshalBinary(b); err != nil {
				t.Fatal(err)
			}
			return m
		},
		"clone": func() *Map[string, *Counter] {
			m := New[string, *Counter]("A")
			m.Merge(src)
			return m.Clone()
		},
		"delta": func() *Map[string, *Counter] {
			m := New[string, *Counter]("A")
			m.At("mine").Add(1)
			m.Merge(src.DeltaSince(m.Version()))
			return m
		},
	}
	for name, build := range ways {
		t.Run(name, func(t *testing.T) {
			m := build()
			m.SetWriter("A")
			if err := m.At("big").Add(1).Err(); err != nil {
				t.Fatalf("MaxInt64-1 + 1: %v", err)
			}
			if err := m.At("big").Add(1).Err(); !errors.Is(err, ErrOverflow) {
				t.Fatalf("MaxInt64 + 1: err = %v, want ErrOverflow", err)
			}
			if err := m.At("big").Add(math.MinInt64).Err(); err != nil { // to -1
				t.Fatalf("MaxInt64 + MinInt64: %v", err)
			}
			if err := m.At("big").Add(math.MinInt64).Err(); !errors.Is(err, ErrOverflow) {
				t.Fatalf("-1 + MinInt64: err = %v, want ErrOverflow", err)
			}
			// Far from the limit, a key is fine however large the bound.
			if err := m.At("small").Add(40).Err(); err != nil || m.At("small").Value() != 43 {
				t.Fatalf("small: %v, value %d", err, m.At("small").Value())
			}
		})
	}
	// Deleting the large increments leaves the bound high: adds are still
	// judged by the value.
	m := New[string, *Counter]("A")
	m.At("k").Add(math.MaxInt64)
	m.Delete("k")
	if err := m.At("k").Add(math.MaxInt64).Err(); err != nil || m.At("k").Value() != math.MaxInt64 {
		t.Fatalf("after a delete: %v, value %d", err, m.At("k").Value())
	}
	if err := m.At("k").Add(1).Err(); !errors.Is(err, ErrOverflow) {
		t.Fatalf("err = %v, want ErrOverflow", err)
	}
}

// TestFingerprintMatchesScan: the fingerprint kept up to date by writes,
// deletes and merges is the one computed afresh from the store.
func TestFingerprintMatchesScan(t *testing.T) {
	a, b := New[string, *Counter]("A"), New[string, *Counter]("B")
	for i := range 50 {
		k := fmt.Sprint("k", i%7)
		a.At(k).Add(int64(i))
		b.At(k).Add(1)
		if i%5 == 0 {
			b.Delete(k)
		}
	}
	a.Merge(b)
	a.Delete("k3")
	for _, m := range []*Map[string, *Counter]{a, b, a.Clone(), a.DeltaSince(b.Version())} {
		// (Reset leaves, which the map leaves out, are scanned too.)
		if got, want := m.Fingerprint(), m.s.k.ScanFingerprint()-m.s.resetFP; got != want || m.s.k.Fingerprint() != m.s.k.ScanFingerprint() {
			t.Fatalf("fingerprint %x, scanned %x", got, want)
		}
	}
}
