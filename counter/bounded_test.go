package counter

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/activeactive/crdt/codec"
	"github.com/activeactive/crdt/vclock"
	"pgregory.net/rapid"
)

// must returns a function that fails t on an error and returns the op.
func must(t testing.TB) func(BoundedOp, error) BoundedOp {
	return func(op BoundedOp, err error) BoundedOp {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
}

// Stock arrives at one replica, is spread by transfers, and is sold where
// the rights are; a sale beyond the rights held fails and says who holds
// rights.
func TestBoundedEscrow(t *testing.T) {
	a, b := NewBounded("a", 0), NewBounded("b", 0)
	if err := b.Apply(must(t)(a.Inc(10))); err != nil {
		t.Fatal(err)
	}
	if a.Value() != 10 || b.Value() != 10 || a.Rights("a") != 10 || b.Rights("b") != 0 {
		t.Fatalf("after stock of 10: a=%d b=%d, rights a=%d b=%d", a.Value(), b.Value(), a.Rights("a"), b.Rights("b"))
	}
	_, err := b.Dec(1)
	if !errors.Is(err, ErrInsufficientRights) || !strings.Contains(err.Error(), "a holds 10") {
		t.Fatalf("b selling without rights: %v, want ErrInsufficientRights naming a's 10", err)
	}
	if b.Value() != 10 {
		t.Fatalf("a refused sale changed b's value to %d", b.Value())
	}
	tr := must(t)(a.Transfer("b", 4))
	if a.Value() != 10 || a.Rights("a") != 6 {
		t.Fatalf("after giving 4: value %d, a's rights %d", a.Value(), a.Rights("a"))
	}
	if err := b.Apply(tr); err != nil {
		t.Fatal(err)
	}
	sale := must(t)(b.Dec(3)) // takes up the 4 first
	if b.Value() != 7 || b.Rights("b") != 1 {
		t.Fatalf("b after selling 3: value %d, rights %d", b.Value(), b.Rights("b"))
	}
	if err := a.Apply(sale); err != nil {
		t.Fatal(err)
	}
	if a.Value() != 7 || !a.Equal(b) || a.Fingerprint() != b.Fingerprint() {
		t.Fatalf("a=%d b=%d, equal %v", a.Value(), b.Value(), a.Equal(b))
	}
	if _, err := a.Transfer("a", 1); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("a transfer to itself: %v", err)
	}
	if _, err := (&Bounded{}).Dec(1); !errors.Is(err, ErrNoReplica) {
		t.Fatalf("Dec on the zero Bounded: %v", err)
	}
}

// Regression: the error of a sale beyond the rights held, and Holders,
// left out the rights in transit (given, not taken up yet), so a replica
// that knew all the stock was given to b said that no replica held any.
// Rights given to a retired writer, which takes nothing up, are left out.
func TestBoundedShortCountsRightsInTransit(t *testing.T) {
	a, c := NewBounded("a", 0), NewBounded("c", 0)
	must(t)(a.Inc(7))
	must(t)(a.Transfer("b", 5))
	must(t)(a.Transfer(vclock.Retired("d"), 2))
	c.Merge(a)
	_, err := c.Dec(1)
	if !errors.Is(err, ErrInsufficientRights) {
		t.Fatalf("c selling without rights: %v", err)
	}
	if want := `b holds 5 (5 of them given to it, not taken up yet)`; !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "no other replica") {
		t.Fatalf("c selling without rights: %v, want it to say %q", err, want)
	}
	if got, want := c.Holders(), []Rights{{Replica: "b", Total: 5}}; !slices.Equal(got, want) {
		t.Fatalf("holders %v, want %v", got, want)
	}
	if c.Value() != 7 {
		t.Fatalf("value %d, want 7", c.Value())
	}
}

// A peer may only send its own entry, and no entry that spends rights its
// replica never held: such ops are refused and change nothing.
func TestBoundedRefusesForgedEntries(t *testing.T) {
	a := NewBounded("a", 0)
	_ = must(t)(a.Inc(5))
	before, _ := a.MarshalBinary()
	forged, _ := BoundedOp{Replica: "a", P: 5, N: 5}.MarshalBinary()
	if _, err := a.ApplyBinaryFrom(forged, "b"); !errors.Is(err, vclock.ErrForeignWrite) {
		t.Fatalf("b sending a's entry: %v", err)
	}
	for name, op := range map[string]BoundedOp{
		"spends more than it has": {Replica: "b", P: 1, N: 2},
		"gives more than it has":  {Replica: "b", Out: []Rights{{"a", 3}}},
		"gives to itself":         {Replica: "b", P: 3, Out: []Rights{{"b", 1}}},
		"unsorted":                {Replica: "b", P: 9, Out: []Rights{{"c", 1}, {"a", 1}}},
		"zero total":              {Replica: "b", P: 9, Out: []Rights{{"a", 0}}},
		"past the bound":          {Replica: "b", P: MaxBoundedTotal + 1},
		"sums past the bound":     {Replica: "b", P: MaxBoundedTotal, In: []Rights{{"a", MaxBoundedTotal}}},
	} {
		if err := a.Apply(op); !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: Apply = %v, want ErrInvalidOp", name, err)
		}
	}
	// Two entries of b, each valid, that together would spend what b never
	// held (no real history makes them): the second is refused.
	if err := a.Apply(BoundedOp{Replica: "b", In: []Rights{{"a", 5}}, N: 5}); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(BoundedOp{Replica: "b", In: []Rights{{"a", 5}}, Out: []Rights{{"c", 5}}}); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("a joined entry spending twice: %v", err)
	}
	if a.Value() < a.Floor() {
		t.Fatalf("value %d below the floor", a.Value())
	}
	after, _ := a.MarshalBinary()
	if bytes.Equal(before, after) {
		t.Fatal("the valid entry of b was not taken")
	}
}

// The property of an escrow: three replicas sell stock concurrently, ops
// lost, duplicated, reordered, with partitions; at no time does any replica
// show a value below the floor, the successful sales never exceed the
// stock, and once everything is delivered all agree on stock minus sales.
func TestBoundedNeverBelowFloor(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		floor := rapid.Int64Range(-5, 5).Draw(t, "floor")
		ids := []vclock.ReplicaID{"a", "b", "c"}
		rs := map[vclock.ReplicaID]*Bounded{}
		// heard[y][x] is the last request of x that y's hook reported.
		heard := map[vclock.ReplicaID]map[vclock.ReplicaID]uint64{}
		for _, id := range ids {
			rs[id] = NewBounded(id, floor)
			heard[id] = map[vclock.ReplicaID]uint64{}
			rs[id].SetRequestHook(func(q RightsRequest) { heard[id][q.Replica] = q.Rights })
		}
		type msg struct {
			to vclock.ReplicaID
			op []byte
		}
		var net []msg
		cut := map[vclock.ReplicaID]bool{}
		var stock, sold uint64
		send := func(from vclock.ReplicaID, op BoundedOp) {
			b, err := op.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			for _, to := range ids {
				if to != from && !cut[from] && !cut[to] {
					net = append(net, msg{to, b})
				}
			}
		}
		check := func() {
			for _, id := range ids {
				if v := rs[id].Value(); v < floor {
					t.Fatalf("%s shows %d, below the floor %d", id, v, floor)
				}
				checkBoundedFingerprint(t, string(id), rs[id])
			}
			if sold > stock {
				t.Fatalf("sold %d of a stock of %d", sold, stock)
			}
			// An open request only grows through an op or a merge, which
			// tells the hook: none is open beyond what the hook heard.
			for _, y := range ids {
				for _, q := range rs[y].Requests() {
					if q.Rights > heard[y][q.Replica] {
						t.Fatalf("%s has an open request of %s for %d, its hook heard %d", y, q.Replica, q.Rights, heard[y][q.Replica])
					}
				}
			}
		}
		pick := rapid.SampledFrom(ids)
		for range rapid.IntRange(1, 120).Draw(t, "steps") {
			id := pick.Draw(t, "replica")
			r := rs[id]
			switch rapid.IntRange(0, 8).Draw(t, "action") {
			case 0:
				n := rapid.Uint64Range(0, 10).Draw(t, "stock")
				op, err := r.Inc(n)
				if err != nil {
					t.Fatal(err)
				}
				stock += n
				send(id, op)
			case 1, 2:
				n := rapid.Uint64Range(0, 4).Draw(t, "sell")
				op, err := r.Dec(n)
				if errors.Is(err, ErrInsufficientRights) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				sold += n
				send(id, op)
			case 3:
				to := pick.Draw(t, "to")
				if to == id {
					continue
				}
				op, err := r.Transfer(to, rapid.Uint64Range(0, 5).Draw(t, "give"))
				if errors.Is(err, ErrInsufficientRights) {
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				send(id, op)
			case 4, 5:
				if len(net) == 0 {
					continue
				}
				k := rapid.IntRange(0, len(net)-1).Draw(t, "deliver")
				m := net[k]
				if rapid.Bool().Draw(t, "keep") { // a duplicate stays queued
					net = append(net[:k:k], net[k+1:]...)
				}
				if _, err := rs[m.to].ApplyBinaryFrom(m.op, pickName(m.op)); err != nil {
					t.Fatalf("%s refused a real op: %v", m.to, err)
				}
			case 6:
				cut[id] = !cut[id]
			case 7:
				from := pick.Draw(t, "from")
				if from == id {
					continue
				}
				op, err := r.Request(from, rapid.Uint64Range(0, 5).Draw(t, "ask"))
				if err != nil {
					t.Fatal(err)
				}
				send(id, op)
			case 8: // answer the first open request as far as the rights go
				qs := r.Requests()
				if len(qs) == 0 {
					continue
				}
				op, err := r.Transfer(qs[0].Replica, min(qs[0].Rights, r.Rights(id)))
				if err != nil {
					t.Fatal(err)
				}
				send(id, op)
			}
			check()
		}
		// Everything is delivered: states merge both ways.
		for _, x := range ids {
			for _, y := range ids {
				st, err := rs[y].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := rs[x].MergeBinary(st); err != nil {
					t.Fatal(err)
				}
				check()
			}
		}
		want := floor + int64(stock) - int64(sold)
		for _, id := range ids {
			if v := rs[id].Value(); v != want || !rs[id].Equal(rs[ids[0]]) {
				t.Fatalf("%s ends at %d, want %d", id, v, want)
			}
		}
	})
}

// pickName returns the replica whose entry an encoded op carries.
func pickName(b []byte) vclock.ReplicaID {
	var op BoundedOp
	if err := op.UnmarshalBinary(b); err != nil {
		return ""
	}
	return op.Replica
}

func sampleBounded() *Bounded {
	a := NewBounded("us-east-1", 0)
	_, _ = a.Inc(100)
	_, _ = a.Transfer("eu-west-1", 30)
	_, _ = a.Dec(7)
	_ = a.Apply(BoundedOp{Replica: "eu-west-1", In: []Rights{{"us-east-1", 30}}, N: 12})
	return a
}

func TestBoundedGoldenAndRoundTrip(t *testing.T) {
	a := sampleBounded()
	for _, tc := range []struct {
		file string
		got  func() ([]byte, error)
	}{
		{"bounded.golden", a.MarshalBinary},
		{"bounded-op.golden", BoundedOp{Replica: "eu-west-1", P: 1, N: 12, In: []Rights{{"us-east-1", 30}}}.MarshalBinary},
	} {
		got, err := tc.got()
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s changed:\n got % x\nwant % x", tc.file, got, want)
		}
	}
	if a.Value() != 81 {
		t.Fatalf("sample value %d, want 100-7-12", a.Value())
	}
	st, _ := a.MarshalBinary()
	c := NewBounded("us-east-1", 0)
	if err := c.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	if !c.Equal(a) || c.Value() != a.Value() || c.Rights("us-east-1") != 63 {
		t.Fatalf("round trip: value %d rights %d", c.Value(), c.Rights("us-east-1"))
	}
	// Every truncation is refused.
	for n := range len(st) {
		var de *codec.DecodeError
		if err := NewBounded("x", 0).UnmarshalBinary(st[:n]); !errors.As(err, &de) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// A state of another floor is not merged.
	if _, err := NewBounded("x", 1).MergeBinary(st); err == nil {
		t.Fatal("merged a state of another floor")
	}
}

func FuzzBoundedDecodeCost(f *testing.F) {
	st, _ := sampleBounded().MarshalBinary()
	op, _ := BoundedOp{Replica: "b", P: 3, Out: []Rights{{"a", 2}}}.MarshalBinary()
	asking, _ := BoundedOp{Replica: "b", P: 3, Ask: []Rights{{"a", 2}, {"c", 1}}}.MarshalBinary()
	f.Add(st)
	f.Add(op)
	f.Add(asking)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkCost(t, data, func() {
			b := sampleBounded()
			if _, err := b.MergeBinary(data); err == nil && b.Value() < b.Floor() {
				t.Fatalf("a merged state took the value to %d", b.Value())
			}
			if _, err := b.ApplyBinary(data); err == nil && b.Value() < b.Floor() {
				t.Fatalf("an applied op took the value to %d", b.Value())
			}
		})
	})
}

func BenchmarkBoundedDec(b *testing.B) {
	c := NewBounded("us-east-1", 0)
	for i := range 3 {
		_ = c.Apply(BoundedOp{Replica: vclock.ReplicaID(fmt.Sprintf("r%d", i)), P: 1000})
	}
	if _, err := c.Inc(MaxBoundedTotal / 2); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Dec(1); err != nil {
			b.Fatal(err)
		}
	}
}

// A replica short of rights asks a peer for some; the peer's hook hears the
// request once, however often the op arrives, and a transfer answers it.
func TestBoundedRequest(t *testing.T) {
	a, b := NewBounded("a", 0), NewBounded("b", 0)
	var heard []RightsRequest
	a.SetRequestHook(func(q RightsRequest) { heard = append(heard, q) })
	if err := b.Apply(must(t)(a.Inc(10))); err != nil {
		t.Fatal(err)
	}
	ask := must(t)(b.Request("a", 4))
	if slices.Equal(ask.Ask, nil) || ask.Ask[0] != (Rights{"a", 4}) {
		t.Fatalf("request op carries %v, want a:4", ask.Ask)
	}
	for range 2 {
		if err := a.Apply(ask); err != nil {
			t.Fatal(err)
		}
	}
	want := []RightsRequest{{Replica: "b", Rights: 4}}
	if !slices.Equal(heard, want) || !slices.Equal(a.Requests(), want) {
		t.Fatalf("a heard %v and holds %v, want %v once", heard, a.Requests(), want)
	}
	// Asking again for as much changes nothing and is not heard again.
	if again := must(t)(b.Request("a", 4)); !slices.Equal(again.Ask, ask.Ask) {
		t.Fatalf("a repeated request changed the entry: %v", again.Ask)
	}
	// A transfer of 3 answers the request as far as it goes.
	tr := must(t)(a.Transfer("b", 3))
	if got := a.Requests(); !slices.Equal(got, []RightsRequest{{"b", 1}}) {
		t.Fatalf("after giving 3 of 4, a holds requests %v, want b:1", got)
	}
	if err := b.Apply(tr); err != nil {
		t.Fatal(err)
	}
	// b asks for 2 more than it was given: 5 in all, 2 open.
	if err := a.Apply(must(t)(b.Request("a", 2))); err != nil {
		t.Fatal(err)
	}
	if got := a.Requests(); !slices.Equal(got, []RightsRequest{{"b", 2}}) || heard[len(heard)-1] != (RightsRequest{"b", 2}) {
		t.Fatalf("a holds %v and last heard %v, want b:2", got, heard[len(heard)-1])
	}
	// Requests never move rights or change the value.
	if a.Value() != 10 || b.Value() != 10 || a.Rights("a") != 7 {
		t.Fatalf("values %d and %d, a's rights %d", a.Value(), b.Value(), a.Rights("a"))
	}
	for _, from := range []vclock.ReplicaID{"", "b"} {
		if _, err := b.Request(from, 1); !errors.Is(err, ErrInvalidOp) {
			t.Fatalf("b asking %q: %v, want ErrInvalidOp", from, err)
		}
	}
	// The request survives encoding, and its one form has six fields.
	st, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	c := NewBounded("a", 0)
	if err := c.UnmarshalBinary(st); err != nil {
		t.Fatal(err)
	}
	if !c.Equal(b) || c.Fingerprint() != b.Fingerprint() || !slices.Equal(c.Requests(), []RightsRequest{{"b", 2}}) {
		t.Fatalf("decoded requests %v", c.Requests())
	}
	bad, err := BoundedOp{Replica: "b", P: 1}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite the entry's array header from 5 fields to 6 with an empty
	// list of requests: a second form of the same entry.
	i := bytes.LastIndexByte(bad, 0x95)
	forged := append(append(slices.Clone(bad[:i]), 0x96), bad[i+1:]...)
	forged = append(forged, 0x90)
	var op BoundedOp
	if err := op.UnmarshalBinary(forged); err == nil || !strings.Contains(err.Error(), "empty list of requests") {
		t.Fatalf("an entry with an empty request list: %v, want refused as such", err)
	}
}

// Regression: a replica that sent two replicas two entries of its own,
// each valid alone, whose join spends rights it never held (twins), left
// them different for good: a merge left out an entry whose join with the
// one held was invalid, so each kept the one it met first. A merge now
// keeps the same one of the two everywhere, and counts the equivocation;
// rights the other gave and a receiver took up stay with the receiver.
func TestBoundedTwinsConverge(t *testing.T) {
	gives := BoundedOp{Replica: "evil", P: 10, Out: []Rights{{Replica: "a", Total: 10}}}
	sells := BoundedOp{Replica: "evil", P: 10, N: 10}
	a, b, c := NewBounded("a", 0), NewBounded("b", 0), NewBounded("c", 0)
	if err := a.Apply(gives); err != nil {
		t.Fatal(err)
	}
	must(t)(a.Dec(4)) // takes up evil's 10, sells 4
	if err := b.Apply(sells); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(sells); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(gives); !errors.Is(err, ErrInvalidOp) {
		t.Fatalf("an op of a twin: %v, want ErrInvalidOp", err)
	}
	// b meets a's state, a meets b's, c meets a's after b's (and b's
	// again): every order ends with one entry of evil.
	a0 := a.Clone()
	a.Merge(b)
	b.Merge(a0)
	c.Merge(b)
	c.Merge(a0)
	for _, x := range []*Bounded{b, c} {
		if !a.Equal(x) || a.Fingerprint() != x.Fingerprint() || a.Value() != x.Value() {
			t.Fatalf("after the merges: %v (value %d) and %v (value %d)", a.Holders(), a.Value(), x.Holders(), x.Value())
		}
	}
	// The one kept is the same whichever the replica met first.
	want := BoundedOp{Replica: "evil", P: 10, N: 10}
	if (&bEntry{id: "evil", p: 10, out: gives.Out}).later(&bEntry{id: "evil", p: 10, n: 10}) {
		want = gives
	}
	if got := a.e["evil"].op(); got.P != want.P || got.N != want.N || !slices.Equal(got.Out, want.Out) {
		t.Fatalf("kept %+v, want %+v", got, want)
	}
	// a keeps the 6 rights it took up and did not sell, whichever is kept.
	if a.Rights("a") != 6 || a.Value() < a.Floor() {
		t.Fatalf("a's rights %d, value %d", a.Rights("a"), a.Value())
	}
	for name, x := range map[string]*Bounded{"a": a, "b": b, "c": c} {
		if x.Equivocations() != 1 {
			t.Fatalf("%s counts %d equivocations, want 1", name, x.Equivocations())
		}
	}
	// A state holding a twin of the counter's own entry does not replace
	// it: what a did stays in its entry.
	mine := a.e["a"].op()
	forged := NewBounded("", 0)
	if err := forged.Apply(BoundedOp{Replica: "a", In: []Rights{{Replica: "evil", Total: 10}}, Out: []Rights{{Replica: "x", Total: 10}}}); err != nil {
		t.Fatal(err)
	}
	a.Merge(forged)
	if got := a.e["a"].op(); got.N != mine.N || len(got.Out) != 0 || a.Equivocations() != 2 {
		t.Fatalf("a's own entry %+v after a forged twin, was %+v; %d equivocations", got, mine, a.Equivocations())
	}
}

// TestBoundedTwinsConvergeProperty: a replica makes two histories under
// one identity, from a common start, and its ops reach three replicas in
// any mix and order, while those replicas sell what they took up and
// merge each other's states at random. Once they exchange states until
// nothing changes, they hold the same state, at or above the floor.
func TestBoundedTwinsConvergeProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ids := []vclock.ReplicaID{"a", "b", "c"}
		evil := NewBounded("evil", 0)
		var ops []BoundedOp
		mustR(t)(evil.Inc(rapid.Uint64Range(1, 6).Draw(t, "stock")))
		// change makes a change of e, mostly spending its rights.
		change := func(e *Bounded, label string) {
			switch rapid.IntRange(0, 4).Draw(t, label) {
			case 0:
				ops = append(ops, mustR(t)(e.Inc(rapid.Uint64Range(1, 3).Draw(t, label+" inc"))))
			case 1, 2:
				to := rapid.SampledFrom(ids).Draw(t, label+" to")
				if op, err := e.Transfer(to, rapid.Uint64Range(1, 5).Draw(t, label+" give")); err == nil {
					ops = append(ops, op)
				}
			case 3, 4:
				if op, err := e.Dec(rapid.Uint64Range(1, 5).Draw(t, label+" sell")); err == nil {
					ops = append(ops, op)
				}
			}
		}
		twin := evil.Clone()
		for range rapid.IntRange(1, 4).Draw(t, "first") {
			change(evil, "first")
		}
		for range rapid.IntRange(1, 4).Draw(t, "second") {
			change(twin, "second")
		}
		ops = append(ops, evil.e["evil"].op(), twin.e["evil"].op())
		rs := make([]*Bounded, len(ids))
		for i, id := range ids {
			rs[i] = NewBounded(id, 0)
		}
		// Each history's last entry reaches a replica of its own.
		_ = rs[0].Apply(ops[len(ops)-2])
		_ = rs[1].Apply(ops[len(ops)-1])
		for range rapid.IntRange(0, 30).Draw(t, "steps") {
			i := rapid.IntRange(0, len(rs)-1).Draw(t, "replica")
			switch rapid.IntRange(0, 2).Draw(t, "action") {
			case 0:
				if len(ops) > 0 {
					_ = rs[i].Apply(ops[rapid.IntRange(0, len(ops)-1).Draw(t, "op")]) // a twin is refused
				}
			case 1:
				_, _ = rs[i].Dec(rapid.Uint64Range(1, 3).Draw(t, "sell"))
			case 2:
				rs[i].Merge(rs[rapid.IntRange(0, len(rs)-1).Draw(t, "from")])
			}
		}
		for round := 0; ; round++ {
			changed := false
			for _, x := range rs {
				for _, y := range rs {
					if x.merge(y) {
						changed = true
					}
				}
			}
			if !changed {
				break
			}
			if round == 20 {
				t.Fatal("states still change after 20 rounds of exchanges")
			}
		}
		for i, x := range rs {
			if !x.Equal(rs[0]) || x.Value() != rs[0].Value() || x.Value() < x.Floor() {
				t.Fatalf("replica %d: %v (value %d), replica 0: %v (value %d)", i, x.Holders(), x.Value(), rs[0].Holders(), rs[0].Value())
			}
		}
	})
}
