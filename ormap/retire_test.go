package ormap_test

import (
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/activeactive/crdt/ormap"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

type carts = ormap.Map[string, *ormap.Map[string, *ormap.Counter]]

// cartValues reads every cart's items and counts.
func cartValues(m *carts) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for k, cart := range m.All() {
		items := map[string]int64{}
		for item, c := range cart.All() {
			items[item] = c.Value()
		}
		out[k] = items
	}
	return out
}

// drawCarts runs random adds, deletes and merges on replicas writing as
// a!1, a!2 and b!1, and returns them.
func drawCarts(t *rapid.T) []*carts {
	ids := []vclock.ReplicaID{vclock.Writer("a", 1), vclock.Writer("a", 2), vclock.Writer("b", 1)}
	rs := make([]*carts, len(ids))
	for i, id := range ids {
		rs[i] = ormap.New[string, *ormap.Map[string, *ormap.Counter]](id)
	}
	for range rapid.IntRange(0, 30).Draw(t, "steps") {
		i := rapid.IntRange(0, len(rs)-1).Draw(t, "replica")
		user := fmt.Sprintf("u%d", rapid.IntRange(0, 2).Draw(t, "user"))
		switch rapid.IntRange(0, 4).Draw(t, "action") {
		case 0, 1:
			item := fmt.Sprintf("i%d", rapid.IntRange(0, 2).Draw(t, "item"))
			rs[i].At(user).At(item).Add(int64(rapid.IntRange(-3, 3).Draw(t, "n")))
		case 2:
			rs[i].At(user).Delete(fmt.Sprintf("i%d", rapid.IntRange(0, 2).Draw(t, "item")))
		case 3:
			rs[i].Delete(user)
		case 4:
			rs[i].Merge(rs[rapid.IntRange(0, len(rs)-1).Draw(t, "from")])
		}
	}
	return rs
}

// Retiring is a renaming: it keeps every value, and retiring two maps and
// merging them gives what merging and retiring gives, also after a second
// retirement of the name's other run; dots above Final stay the writer's.
func TestRetireIsARenaming(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs := drawCarts(t)
		x, y := rs[2].Clone(), rs[rapid.IntRange(0, 1).Draw(t, "y")].Clone()
		first := vclock.Retirement{From: vclock.Writer("a", 1), To: vclock.Retired("a"), Final: rapid.Uint64Range(0, 40).Draw(t, "final1")}
		second := vclock.Retirement{From: vclock.Writer("a", 2), To: vclock.Retired("a"), Base: first.Final, Final: rapid.Uint64Range(0, 40).Draw(t, "final2")}
		xy := x.Clone()
		xy.Merge(y)
		for _, r := range []vclock.Retirement{first, second} {
			before := cartValues(x)
			for _, m := range []*carts{x, y, xy} {
				if err := m.Retire(r); err != nil {
					if errors.Is(err, vclock.ErrRetirement) && (m == y) {
						// y writes as the retired writer: it must change
						// writers first, as the engine does.
						m.SetWriter(vclock.Writer("a", 9))
						if err := m.Retire(r); err != nil {
							t.Fatal(err)
						}
						continue
					}
					t.Fatal(err)
				}
			}
			if got := cartValues(x); !maps.EqualFunc(got, before, maps.Equal) {
				t.Fatalf("retiring %s changed the values: %v, was %v", r.From, got, before)
			}
			joined := x.Clone()
			joined.Merge(y)
			if !joined.Equal(xy) || joined.Fingerprint() != xy.Fingerprint() {
				t.Fatalf("retire(x ⊔ y) differs from retire(x) ⊔ retire(y) after retiring %s", r.From)
			}
			if v := xy.Version(); v.Get(r.From) != 0 && r.Final > 0 {
				t.Fatalf("version %v still names %s", v, r.From)
			}
		}
		// The renamed maps go on: a new run writes, and they converge.
		x.SetWriter(vclock.Writer("a", 3))
		x.At("u0").At("i0").Add(5)
		y.Merge(x)
		x.Merge(y)
		if !x.Equal(y) {
			t.Fatal("renamed maps did not converge after new writes")
		}
	})
}

// A map restored from a retired map's encoding, told of the retirements
// by Renamed, merges as the retired map does (and so does a clone): with
// a writer that went on past Final, the chains it continued stay one.
func TestRenamedRestoresRetirements(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		rs := drawCarts(t)
		x, y := rs[2].Clone(), rs[rapid.IntRange(0, 1).Draw(t, "y")].Clone()
		y.SetWriter(vclock.Writer("a", 9))
		first := vclock.Retirement{From: vclock.Writer("a", 1), To: vclock.Retired("a"), Final: rapid.Uint64Range(0, 40).Draw(t, "final1")}
		second := vclock.Retirement{From: vclock.Writer("a", 2), To: vclock.Retired("a"), Base: first.Final, Final: rapid.Uint64Range(0, 40).Draw(t, "final2")}
		for _, r := range []vclock.Retirement{first, second} {
			for _, m := range []*carts{x, y} {
				if err := m.Retire(r); err != nil {
					t.Fatal(err)
				}
			}
		}
		b, err := x.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		restored := ormap.New[string, *ormap.Map[string, *ormap.Counter]](vclock.Writer("b", 1))
		if err := restored.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		for _, r := range []vclock.Retirement{first, second, first} { // a repeat changes nothing
			if err := restored.Renamed(r); err != nil {
				t.Fatal(err)
			}
		}
		want := x.Clone()
		want.Merge(y)
		for _, m := range []*carts{restored, x.Clone()} {
			m.Merge(y)
			if !m.Equal(want) || m.Fingerprint() != want.Fingerprint() || !maps.EqualFunc(cartValues(m), cartValues(want), maps.Equal) {
				t.Fatalf("merged %v, want %v", cartValues(m), cartValues(want))
			}
		}
	})
}

func TestRenamedRefusesAnInvalidRetirement(t *testing.T) {
	m := ormap.New[string, *ormap.Counter](vclock.Writer("b", 1))
	if err := m.Renamed(vclock.Retirement{From: vclock.Writer("a", 2), To: vclock.Retired("b"), Final: 5}); !errors.Is(err, vclock.ErrRetirement) {
		t.Fatalf("Renamed of another name's retired writer = %v, want ErrRetirement", err)
	}
}

func TestRetireRefusedChangesNothing(t *testing.T) {
	m := ormap.New[string, *ormap.Map[string, *ormap.Counter]](vclock.Writer("a", 1))
	m.At("ann").At("apple").Add(2)
	before := m.Clone()
	for _, r := range []vclock.Retirement{
		{From: vclock.Writer("a", 1), To: vclock.Retired("a"), Final: 5}, // its own writer
		{From: "a", To: vclock.Retired("a"), Final: 5},                   // no epoch
		{From: vclock.Writer("a", 2), To: vclock.Retired("b"), Final: 5}, // another name
	} {
		if err := m.Retire(r); !errors.Is(err, vclock.ErrRetirement) {
			t.Fatalf("Retire(%+v) = %v, want ErrRetirement", r, err)
		}
		if !m.Equal(before) || m.Fingerprint() != before.Fingerprint() {
			t.Fatalf("a refused retirement changed the map")
		}
	}
}

// A writer the group retires while it still writes (a second process under
// its name) may go on with a counter's chain past Final: its next
// increment replaces a leaf that the others have renamed meanwhile. The
// drop of that leaf must reach them under its new name, by state and by
// delta, or the replica that kept the renamed leaf counts both.
func TestRetiredWhileIncrementingConverges(t *testing.T) {
	w := vclock.Writer("a", 1)
	value := func(m *ormap.Map[string, *ormap.Counter]) int64 {
		c, _ := m.Get("k")
		return c.Value()
	}
	for _, byDelta := range []bool{false, true} {
		p := ormap.New[string, *ormap.Counter](w)
		for range 5 {
			p.At("k").Add(1)
		}
		x := p.Clone()
		x.SetWriter(vclock.Writer("b", 1))
		p.At("k").Add(1) // (a!1, 6), past the Final the group agrees below
		r := vclock.Retirement{From: w, To: vclock.Retired("a"), Final: 5}
		p.SetWriter(vclock.Writer("a", 2)) // as the engine does for its own writer
		for _, m := range []*ormap.Map[string, *ormap.Counter]{p, x} {
			if err := m.Retire(r); err != nil {
				t.Fatal(err)
			}
		}
		if byDelta {
			x.Merge(p.DeltaSince(x.Version()))
		} else {
			x.Merge(p)
		}
		p.Merge(x)
		if value(x) != 6 || value(p) != 6 || !x.Equal(p) || x.Fingerprint() != p.Fingerprint() {
			t.Fatalf("by delta %v: values %d and %d, equal %v; want 6 at both", byDelta, value(x), value(p), x.Equal(p))
		}
	}
}

// A delete that saw a writer's increments, renamed with them when the
// writer is retired, still subtracts them from the leaf the writer made
// past Final without having seen the delete: the counter holds only the
// increment no delete saw, at both replicas.
func TestRetiredWhileIncrementingDeleteStillSubtracts(t *testing.T) {
	w := vclock.Writer("a", 1)
	p := ormap.New[string, *ormap.Counter](w)
	for range 5 {
		p.At("k").Add(1)
	}
	x := p.Clone()
	x.SetWriter(vclock.Writer("b", 1))
	x.Delete("k")    // saw (a!1, 1) to (a!1, 5)
	p.At("k").Add(1) // (a!1, 6), concurrent with the delete, past Final
	r := vclock.Retirement{From: w, To: vclock.Retired("a"), Final: 5}
	p.SetWriter(vclock.Writer("a", 2))
	for _, m := range []*ormap.Map[string, *ormap.Counter]{p, x} {
		if err := m.Retire(r); err != nil {
			t.Fatal(err)
		}
	}
	x.Merge(p)
	p.Merge(x)
	for name, m := range map[string]*ormap.Map[string, *ormap.Counter]{"p": p, "x": x} {
		c, ok := m.Get("k")
		if !ok {
			t.Fatalf("%s lost the key, which an increment the delete did not see keeps", name)
		}
		if v := c.Value(); v != 1 {
			t.Fatalf("%s counts %d, want 1: the increment the delete did not see", name, v)
		}
	}
	if !x.Equal(p) {
		t.Fatal("the replicas differ")
	}
}
