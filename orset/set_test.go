package orset

import (
	"errors"
	"slices"
	"testing"

	"github.com/activeactive/crdt/vclock"
)

func apply(t *testing.T, s *Set[string], ops ...Op[string]) {
	t.Helper()
	for _, op := range ops {
		if err := s.Apply(op); err != nil {
			t.Fatalf("applying %v: %v", op, err)
		}
	}
}

func TestAddRemoveContains(t *testing.T) {
	s := New[string]("a")
	if s.Contains("x") || s.Len() != 0 {
		t.Fatal("new set not empty")
	}
	s.Add("x")
	s.Add("y")
	s.Add("x")
	if !s.Contains("x") || !s.Contains("y") || s.Len() != 2 {
		t.Fatalf("after adds: %v", sorted(s))
	}
	s.Remove("x")
	if s.Contains("x") || s.Len() != 1 || !slices.Equal(sorted(s), []string{"y"}) {
		t.Fatalf("after remove: %v", sorted(s))
	}
}

// TestConcurrentAddSurvivesRemove: A adds x, B (which has seen that add)
// removes x while A adds x again. The second add is new to B's remove, so
// x stays at both.
func TestConcurrentAddSurvivesRemove(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	apply(t, b, a.Add("x"))
	rm := b.Remove("x")
	add := a.Add("x")
	apply(t, a, rm)
	apply(t, b, add)
	for _, s := range []*Set[string]{a, b} {
		if !s.Contains("x") {
			t.Fatalf("%s lost x to a concurrent remove", s.ID())
		}
	}
	requireEqual(t, a, b, "replicas")
}

// TestAddWinsAgainstRemoveOfUnseenAdd: B removes x (which it holds from
// its own add) while A adds x for the first time: A's add survives.
func TestAddWinsAgainstRemoveOfUnseenAdd(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	bAdd := b.Add("x")
	aAdd := a.Add("x")
	rm := b.Remove("x")
	apply(t, a, bAdd, rm)
	apply(t, b, aAdd)
	if !a.Contains("x") || !b.Contains("x") {
		t.Fatalf("x lost: a %v, b %v", sorted(a), sorted(b))
	}
	requireEqual(t, a, b, "replicas")
}

// TestRemoveBeforeTheAddItObserved: C receives B's remove of x before A's
// add of x, which B had seen. The remove still wins: the add's dot is in
// C's context by the time the add arrives.
func TestRemoveBeforeTheAddItObserved(t *testing.T) {
	a, b, c := New[string]("a"), New[string]("b"), New[string]("c")
	add := a.Add("x")
	apply(t, b, add)
	rm := b.Remove("x")
	apply(t, c, rm)
	if c.Contains("x") {
		t.Fatal("remove of an absent element added it")
	}
	apply(t, c, add)
	if c.Contains("x") {
		t.Fatal("a late add beat the remove that had observed it")
	}
	apply(t, a, rm)
	requireEqual(t, c, a, "c and a")
	requireEqual(t, c, b, "c and b")
	// By state, in either order, too.
	d := New[string]("d")
	d.Merge(b.DeltaSince(d.Version()))
	if d.Contains("x") {
		t.Fatal("x present after merging the remover's delta")
	}
}

func TestReAddAfterRemove(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	ops := []Op[string]{a.Add("x"), a.Remove("x"), a.Add("x")}
	if !a.Contains("x") {
		t.Fatal("re-add did not add")
	}
	// In order, reversed, and by state.
	apply(t, b, ops...)
	requireEqual(t, b, a, "in order")
	r := New[string]("r")
	apply(t, r, ops[2], ops[1], ops[0])
	requireEqual(t, r, a, "reversed")
	m := New[string]("m")
	m.Merge(a)
	requireEqual(t, m, a, "merged")
	// A re-add after a remove by another replica.
	rm := b.Remove("x")
	apply(t, a, rm)
	if a.Contains("x") {
		t.Fatal("b's remove did not remove")
	}
	apply(t, b, a.Add("x"))
	if !b.Contains("x") {
		t.Fatal("re-add after b's remove lost")
	}
}

func TestRemoveAbsentIsNoop(t *testing.T) {
	s := New[string]("a")
	v := s.Version()
	op := s.Remove("x")
	if !op.IsNoop() || !op.IsRemove() || op.Elem() != "x" || op.Dot().Valid() {
		t.Fatalf("remove of an absent element returned %v", op)
	}
	if !s.Version().Equal(v) {
		t.Fatal("a no-op remove advanced the version")
	}
	o := New[string]("b")
	o.Add("x")
	before := o.Clone()
	if changed, err := o.ApplyBinary(mustMarshal(t, op)); err != nil || changed {
		t.Fatalf("applying a no-op: changed %v, %v", changed, err)
	}
	requireEqual(t, o, before, "no-op")
}

func TestApplyRefusesInvalidOps(t *testing.T) {
	a1 := vclock.Dot{Replica: "a", Seq: 1}
	bad := map[string]Op[string]{
		"zero op":              {},
		"empty replica":        {kind: opAdd, elem: "x", dot: vclock.Dot{Seq: 1}},
		"zero seq":             {kind: opAdd, elem: "x", dot: vclock.Dot{Replica: "a"}},
		"remove without dots":  {kind: opRemove, elem: "x", dot: a1},
		"dropped zero seq":     {kind: opRemove, elem: "x", dot: vclock.Dot{Replica: "a", Seq: 2}, dropped: []vclock.Dot{{Replica: "b"}}},
		"dropped empty id":     {kind: opAdd, elem: "x", dot: a1, dropped: []vclock.Dot{{Seq: 3}}},
		"drops its own dot":    {kind: opRemove, elem: "x", dot: a1, dropped: []vclock.Dot{a1}},
		"drops a later dot":    {kind: opAdd, elem: "x", dot: a1, dropped: []vclock.Dot{{Replica: "a", Seq: 2}}},
		"unknown kind":         {kind: 9, elem: "x", dot: a1},
		"remove with zero dot": {kind: opRemove, elem: "x", dropped: []vclock.Dot{a1}},
	}
	for name, op := range bad {
		s := New[string]("s")
		s.Add("x")
		before := s.Clone()
		if err := s.Apply(op); !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: Apply returned %v", name, err)
		}
		if _, err := op.MarshalBinary(); !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: MarshalBinary returned %v", name, err)
		}
		if !s.Equal(before) || len(s.k.Records()) != len(before.k.Records()) {
			t.Errorf("%s: the set changed", name)
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	add := a.Add("x")
	rm := a.Remove("x")
	for range 3 {
		apply(t, b, add, rm, add)
	}
	requireEqual(t, b, a, "after repeats")
}

func TestApplyBinaryReportsChanges(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	add := mustMarshal(t, a.Add("x"))
	rm := mustMarshal(t, a.Remove("x"))
	for i, c := range []struct {
		op   []byte
		want bool
	}{{add, true}, {add, false}, {rm, true}, {rm, false}, {add, false}} {
		if got, err := b.ApplyBinary(c.op); err != nil || got != c.want {
			t.Fatalf("step %d: changed %v, %v; want %v", i, got, err, c.want)
		}
	}
	// Merging reports changes of the elements too.
	c := New[string]("c")
	if changed, err := c.MergeBinary(mustMarshal(t, b)); err != nil || changed {
		t.Fatalf("merging a state with no elements: %v, %v", changed, err)
	}
	a.Add("y")
	if changed, err := c.MergeBinary(mustMarshal(t, a)); err != nil || !changed {
		t.Fatalf("merging a state with y: %v, %v", changed, err)
	}
	if changed, err := c.MergeBinary(mustMarshal(t, a)); err != nil || changed {
		t.Fatalf("merging it again: %v, %v", changed, err)
	}
}

func TestZeroSet(t *testing.T) {
	var s Set[string]
	if s.Len() != 0 || s.Contains("x") || s.ID() != "" || !s.Version().IsZero() {
		t.Fatal("zero set not empty")
	}
	for range s.All() {
		t.Fatal("zero set yields elements")
	}
	a := New[string]("a")
	apply(t, &s, a.Add("x"))
	if !s.Contains("x") {
		t.Fatal("zero set did not take an op")
	}
	s.Merge(a)
	s.Merge(nil)
	requireEqual(t, &s, a, "zero set after merge")
	var u Set[string]
	if err := u.UnmarshalBinary(mustMarshal(t, a)); err != nil || !u.Equal(a) {
		t.Fatalf("zero set did not decode: %v", err)
	}
	for name, f := range map[string]func(){"Add": func() { s.Add("y") }, "Remove": func() { s.Remove("x") }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on the zero set did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestNewPanicsOnEmptyID(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New(\"\") did not panic")
		}
	}()
	New[string]("")
}

func TestCloneIsIndependent(t *testing.T) {
	a := New[string]("a")
	a.Add("x")
	b := New[string]("b")
	apply(t, b, b.Add("x")) // x has two dots at the merge below
	a.Merge(b)
	c := a.Clone()
	if !c.Equal(a) || c.ID() != "a" {
		t.Fatal("clone differs")
	}
	a.Remove("x")
	a.Add("y")
	if !c.Contains("x") || c.Contains("y") || len(c.k.Dots("x")) != 2 {
		t.Fatal("mutating the original changed the clone")
	}
}

func TestEqual(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	if !a.Equal(b) || !a.Equal(nil) {
		t.Fatal("empty sets differ")
	}
	a.Add("x")
	b.Add("x")
	if a.Equal(b) || a.Equal(nil) {
		t.Fatal("sets with independent adds are Equal")
	}
	a.Merge(b)
	b.Merge(a)
	if !a.Equal(b) {
		t.Fatal("merged sets differ")
	}
	var nilSet *Set[string]
	if !nilSet.Equal(New[string]("c")) || nilSet.Equal(a) {
		t.Fatal("nil set comparisons wrong")
	}
}

func TestAllStopsEarly(t *testing.T) {
	s := New[int]("a")
	for i := range 10 {
		s.Add(i)
	}
	n := 0
	for range s.All() {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("iterated %d", n)
	}
}

func TestVersionCountsAddsAndRemoves(t *testing.T) {
	s := New[string]("a")
	s.Add("x")
	s.Add("y")
	s.Remove("x")
	s.Remove("x") // no-op
	if got := s.Version().Get("a"); got != 3 {
		t.Fatalf("version counts %d events of a, want 3", got)
	}
}

func TestCollectBinary(t *testing.T) {
	a, b := New[string]("a"), New[string]("b")
	a.Add("x")
	a.Remove("x")
	if n := len(a.k.Records()); n != 1 {
		t.Fatalf("%d records after a remove", n)
	}
	vb := mustMarshal(t, b.Version())
	if err := a.CollectBinary([][]byte{vb}); err != nil || len(a.k.Records()) != 1 {
		t.Fatalf("collected a record b has not seen: %v", err)
	}
	if err := a.CollectBinary([][]byte{{0x01}}); err == nil {
		t.Fatal("bad version accepted")
	}
	b.Merge(a)
	if err := a.CollectBinary([][]byte{mustMarshal(t, b.Version())}); err != nil || len(a.k.Records()) != 0 {
		t.Fatalf("record every replica has seen kept: %v", err)
	}
}

func TestOpAccessors(t *testing.T) {
	s := New[string]("a")
	add := s.Add("x")
	rm := s.Remove("x")
	if add.IsRemove() || add.IsNoop() || add.Elem() != "x" || add.Dot() != (vclock.Dot{Replica: "a", Seq: 1}) {
		t.Fatalf("add op: %v", add)
	}
	if !rm.IsRemove() || rm.IsNoop() || rm.Dot() != (vclock.Dot{Replica: "a", Seq: 2}) {
		t.Fatalf("remove op: %v", rm)
	}
	for _, c := range []struct {
		op   Op[string]
		want string
	}{{add, "add(x)@a:1"}, {rm, "remove(x)@a:2"}, {s.Remove("x"), "remove(x): no-op"}, {Op[string]{}, "invalid op"}} {
		if got := c.op.String(); got != c.want {
			t.Errorf("String() = %q, want %q", got, c.want)
		}
	}
}
