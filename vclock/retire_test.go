package vclock

import (
	"errors"
	"testing"

	"pgregory.net/rapid"
)

// retireModel is a naive context: the set of dots, renamed one by one.
type retireModel map[Dot]bool

func (m retireModel) retire(r Retirement) retireModel {
	out := retireModel{}
	for d := range m {
		out[r.Dot(d)] = true
	}
	return out
}

func drawRetirement(t *rapid.T) Retirement {
	return Retirement{
		From:  Writer("a", rapid.Uint64Range(1, 3).Draw(t, "epoch")),
		To:    Retired("a"),
		Base:  rapid.Uint64Range(0, 12).Draw(t, "base"),
		Final: rapid.Uint64Range(0, 12).Draw(t, "final"),
	}
}

func drawDots(t *rapid.T, label string) retireModel {
	ids := []ReplicaID{Writer("a", 1), Writer("a", 2), Retired("a"), Writer("b", 7)}
	m := retireModel{}
	for _, d := range rapid.SliceOfN(rapid.Custom(func(t *rapid.T) Dot {
		return Dot{Replica: rapid.SampledFrom(ids).Draw(t, "id"), Seq: rapid.Uint64Range(1, 24).Draw(t, "seq")}
	}), 0, 40).Draw(t, label) {
		m[d] = true
	}
	return m
}

func contextOf(m retireModel) Context {
	var c Context
	for d := range m {
		c.Add(d)
	}
	return c
}

// TestContextRetireRenamesEveryDot checks Context.Retire against a set of
// dots renamed one by one, and that retiring commutes with merging: a
// retirement applied on both sides of a merge gives what it gives applied
// after.
func TestContextRetireRenamesEveryDot(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawRetirement(t)
		ma, mb := drawDots(t, "a"), drawDots(t, "b")
		a, b := contextOf(ma), contextOf(mb)

		ra := a.Clone()
		ra.Retire(r)
		want := contextOf(ma.retire(r))
		if !ra.Equal(&want) {
			t.Fatalf("retired %v by %+v: got %v, want %v", a.String(), r, ra.String(), want.String())
		}

		// retire(a ∪ b) = retire(a) ∪ retire(b)
		ab := a.Clone()
		ab.Merge(&b)
		ab.Retire(r)
		rb := b.Clone()
		rb.Retire(r)
		ra.Merge(&rb)
		if !ab.Equal(&ra) {
			t.Fatalf("retire does not commute with merge: %v against %v", ab.String(), ra.String())
		}
		if i, ok := ab.find(r.From); ok && (ab.r[i].max != 0 || ab.r[i].extra[0].lo <= r.Final) && r.Final > 0 {
			t.Fatalf("%v still names %s within %d", ab.String(), r.From, r.Final)
		}
	})
}

// TestClockRetireNeverClaimsMore checks that a version renamed by Retire
// claims no dot the renamed context lacks, and claims the whole renamed
// run when the dots before it were all there.
func TestClockRetireNeverClaimsMore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := drawRetirement(t)
		m := drawDots(t, "dots")
		c := contextOf(m)
		v := c.Version()
		v.Retire(r)
		c.Retire(r)
		for id, n := range v.All() {
			for s := uint64(1); s <= n; s++ {
				if !c.Contains(Dot{Replica: id, Seq: s}) {
					t.Fatalf("version %v claims %s:%d, which the context %v lacks", v, id, s, c.String())
				}
			}
		}
		if v.Get(r.From) != 0 && r.Final > 0 {
			t.Fatalf("version %v still names %s", v, r.From)
		}
		before := contextOf(m)
		if p, n := before.Prefix(r.To), before.Prefix(r.From); p == r.Base && n > 0 {
			if got, want := v.Get(r.To), r.Base+min(n, r.Final); got < want {
				t.Fatalf("version %v claims %d of %s; it held %d of %s and %d of %s, so %d", v, got, r.To, p, r.To, n, r.From, want)
			}
		}
	})
}

func TestRetirementCheck(t *testing.T) {
	for _, good := range []Retirement{
		{From: Writer("a", 5), To: Retired("a"), Base: 10, Final: 3, Heir: Writer("a", 9)},
		{From: Writer("a", 5), To: Retired("a"), Final: 3, Up: 3, UpKnown: true},
		{From: Writer("a", 5), To: Retired("a"), Final: 3, Up: 7}, // not known: not looked at
	} {
		if err := good.Check(); err != nil {
			t.Fatalf("Check(%+v) = %v", good, err)
		}
	}
	for _, bad := range []Retirement{
		{From: "a", To: Retired("a"), Final: 1},
		{From: Retired("a"), To: Retired("a"), Final: 1},
		{From: Writer("a", 5), To: Retired("b"), Final: 1},
		{From: Writer("a", 5), To: Writer("a", 6), Final: 1},
		{From: Writer("a", 5), To: Retired("a"), Base: MaxSeq, Final: 1},
		{From: Writer("a", 5), To: Retired("a"), Final: MaxSeq + 1},
		{From: Writer("a", 5), To: Retired("a"), Final: 1, Heir: Writer("a", 5)},
		{From: Writer("a", 5), To: Retired("a"), Final: 1, Heir: Writer("b", 6)},
		{From: Writer("a", 5), To: Retired("a"), Final: 1, Heir: Retired("a")},
		{From: Writer("a", 5), To: Retired("a"), Final: 1, Up: 2, UpKnown: true},
	} {
		if err := bad.Check(); !errors.Is(err, ErrRetirement) {
			t.Errorf("Check(%+v) = %v, want ErrRetirement", bad, err)
		}
	}
	if !Retired("a").IsRetired() || Writer("a", 1).IsRetired() || ReplicaID("a").IsRetired() {
		t.Fatal("IsRetired")
	}
}
